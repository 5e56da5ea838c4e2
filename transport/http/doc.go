// Package httptransport is the staff HTTP API: go-kit endpoints over
// ledger.Service (endpoint.go), their JSON decoding and encoding and the
// routes (transport.go), bearer-token authentication with roles (auth.go),
// and the request logs, metrics and panic recovery around them
// (middleware.go).
//
// Every route under /v1 needs a bearer token; each route declares the roles
// it admits. Reads are open to every role, writes to admin only, until the
// batch, approval and reconciliation routes bring their own rules.
//
// Errors are written as {"error": {"code": ..., "message": ..., "field": ...}}
// with the status of their code (errs.Code). A fault of ours is "internal
// error" to the caller and logged in full.
//
// Responses are the ledger's types as they write themselves: amounts as
// JSON strings with exactly two decimals ("125.40", "-3.00", "0.00"), and
// an as_of holding only the half that is set ({} means now). The ledger
// package defines that form (ledger/json.go), so that ledgerctl -o json
// writes the same. Request bodies may give an amount as a string or a JSON
// number.
//
// openapi.json describes the API in OpenAPI 3.1 and is served at
// GET /v1/openapi.json (openapi.go); the package's tests hold it to the
// route tables and check every request and answer of theirs against it.
package httptransport
