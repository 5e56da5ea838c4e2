package httptransport

import (
	_ "embed"
	"net/http"
)

// openAPI is the OpenAPI 3.1 description of this API, served at
// GET /v1/openapi.json without a token. docs/openapi.json is a copy of it
// (TestDocsOpenAPIIsTheServedOne), and the package's tests check every
// request and response of theirs against it.
//
//go:embed openapi.json
var openAPI []byte

// serveOpenAPI writes the API's description.
func serveOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(openAPI)
}
