// Package transport is the go-kit server side of the service: HTTP endpoints
// (transport/http) and the Kafka consumer (transport/kafka).
//
// transport/http exposes the JSON API under /v1 as go-kit endpoints with
// bearer-token auth and roles (preparer, approver, controller, auditor,
// admin), errors as {"error": {"code": ..., "message": ...}}, and the
// /metrics, /healthz and /readyz routes. transport/kafka consumes the
// eligibility events, applies each one in a single transaction, and sends an
// invalid one to the dead-letter topic with its original bytes and the
// reason.
//
// Dependencies point inward: transport imports the domain packages (ledger,
// payments, reconcile), never the reverse.
package transport
