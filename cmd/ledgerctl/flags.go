package main

import (
	"time"

	"github.com/google/uuid"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

// parseAsOf reads the value of the flag named flag: a day (YYYY-MM-DD, the
// end of that effective date) or an RFC 3339 time (what the ledger knew
// then). An empty value is "now".
func parseAsOf(flag, s string) (ledger.AsOf, error) {
	if s == "" {
		return ledger.AsOf{}, nil
	}
	if d, err := ledger.ParseDate(s); err == nil {
		return ledger.AsOf{Date: d}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return ledger.AsOf{Time: t}, nil
	}
	return ledger.AsOf{}, errs.Field(flag, "%q is neither a date (YYYY-MM-DD) nor an RFC 3339 time (2006-01-02T15:04:05Z)", s)
}

// parseDate reads the value of the date flag named flag; empty is the zero
// date.
func parseDate(flag, s string) (ledger.Date, error) {
	if s == "" {
		return ledger.Date{}, nil
	}
	d, err := ledger.ParseDate(s)
	if err != nil {
		return d, errs.Field(flag, "%s", err)
	}
	return d, nil
}

// parseEntryID reads an entry id given as the argument named arg.
func parseEntryID(arg, s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil {
		return id, errs.Field(arg, "%q is not an entry id (a UUID such as 0b6c2a4e-5f1d-4c1e-9a7b-3d2f1e0c9b8a)", s)
	}
	return id, nil
}

// shortID is the first eight hex digits of an entry id, enough to tell the
// entries of a statement apart.
func shortID(id uuid.UUID) string { return id.String()[:8] }
