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
// Amounts are written as JSON strings with exactly two decimals ("125.40",
// "-3.00", "0.00"): strings, so that no client reads them into a binary
// float, and two decimals, because the ledger keeps euros to the cent and a
// person comparing a response with a bank statement expects "125.40", not
// the "125.4" that decimal.Decimal would write. Request bodies may give an
// amount as a string or a JSON number.
package httptransport
