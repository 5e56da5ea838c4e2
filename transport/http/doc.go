// Package httptransport is the staff HTTP API, go-kit style: each service
// (ledger.go, eligibility.go, batches.go, approvals.go, reconcile.go,
// reads.go) has its endpoints, their request decoders and its routing
// table; transport.go serves every route's endpoint as a kithttp.Server
// behind a chain of endpoint middlewares; the transport itself only
// decodes, encodes and maps errors (errors.go, decode.go).
//
// The endpoint middlewares of a route, outermost first: instrumenting
// (counts and times it, middleware.go), logging (notes its outcome for the
// request log), authenticate (bearer token to Principal, auth.go) and
// authorize (the route's roles), then the route's decoder (run after
// authentication, so that nobody's body is read before they are known).
// At the HTTP level, around them all, the observer (middleware.go) caps
// bodies, gives each request an id, recovers panics, answers 404 and 405,
// and writes one log line per request; readCredentials, a
// kithttp.ServerBefore, reads the Authorization header into the context.
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
