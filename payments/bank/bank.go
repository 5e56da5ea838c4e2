// Package bank is what the service needs from its bank: submit a payment
// file, read the status reports of a file, and fetch statements. Gateway is
// the interface; the HTTP implementation (client.go) is a set of go-kit
// client endpoints, each behind a sony/gobreaker circuit breaker, a timeout
// and retries with backoff.
package bank

import (
	"context"
	"time"

	"github.com/ofii/allowances/ledger"
)

// File is a payment file as sent: its exact bytes are kept before the first
// attempt, and every retry sends the same bytes.
type File struct {
	MsgID  string
	Format string // pain.001.001.09 or pain.001.001.03
	SHA256 string // hex of Bytes
	Bytes  []byte
}

// Receipt is the bank's answer to a submitted file.
type Receipt struct {
	MsgID string
	// Duplicate is true when the bank already had a file with this MsgId
	// (it answered DU01): a resend after a lost answer, never paid twice.
	Duplicate  bool
	ReceivedAt time.Time
}

// Document is a message the bank makes available: a pain.002 status report
// or a camt.053 statement, with the bank's id for it.
type Document struct {
	ID        string
	CreatedAt time.Time
	Bytes     []byte
}

// Gateway is the bank interface.
type Gateway interface {
	// SubmitFile delivers a payment file. It is idempotent by MsgId: a file
	// the bank already has comes back as a Receipt with Duplicate set.
	SubmitFile(ctx context.Context, f File) (Receipt, error)
	// StatusReports returns every pain.002 report the bank has for the file
	// MsgId, oldest first; none yet is an empty list.
	StatusReports(ctx context.Context, msgID string) ([]Document, error)
	// Statements returns the camt.053 statements of the account (IBAN) for
	// one booking day; none yet is an empty list.
	Statements(ctx context.Context, iban string, day ledger.Date) ([]Document, error)
}
