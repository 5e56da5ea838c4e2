package kafka

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ofii/allowances/internal/errs"
)

// IsTransient reports whether err says that a dependency failed rather than
// the record: the network or the database connection broke, the database is
// shutting down or out of connections, memory or disk, a transaction lost a
// serialization conflict, a call ran out of time, or the error carries
// errs.Unavailable.
// A batch failing with a transient error is offered again, as it is, until
// it succeeds; any other error is blamed on a record (see Consumer).
func IsTransient(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	if errs.Is(err, errs.Unavailable) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return transientSQLState(pgErr.Code)
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	if pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

// transientSQLState reports whether a SQLSTATE says "try again later".
func transientSQLState(code string) bool {
	// Connection exception; insufficient resources, such as a server out
	// of the shared memory of its lock tables while other transactions
	// hold many locks: a dependency's state, never a record's fault.
	if strings.HasPrefix(code, "08") || strings.HasPrefix(code, "53") {
		return true
	}
	switch code {
	case "57P01", // admin shutdown
		"57P02", // crash shutdown
		"57P03", // cannot connect now
		"40001", // serialization failure
		"40P01", // deadlock detected
		"40003": // statement completion unknown (CockroachDB): applying again is safe, events are deduplicated
		return true
	}
	return false
}
