package httptransport

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/internal/mask"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
)

type auditRequest struct{ Filter payments.AuditFilter }

type auditResponse struct {
	Events []payments.AuditEvent `json:"events"`
	// Next is the after= of the next page, set when this page is full.
	Next string `json:"next,omitempty"`
	Err  error  `json:"-"`
}

func (r auditResponse) Failed() error { return r.Err }

func makeAuditEndpoint(svc payments.AuditLog) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(auditRequest)
		events, next, err := svc.Audit(ctx, req.Filter)
		if err != nil {
			return auditResponse{Err: fmt.Errorf("read the audit trail: %w", err)}, nil
		}
		if events == nil {
			events = []payments.AuditEvent{}
		}
		// The readers of the trail do not pay: an IBAN a change recorded
		// (a corrected payee) shows masked.
		for i := range events {
			events[i] = MaskAuditEvent(events[i])
		}
		return auditResponse{Events: events, Next: next}, nil
	}
}

// MaskAuditEvent returns e with every IBAN in its reason and its details
// masked.
func MaskAuditEvent(e payments.AuditEvent) payments.AuditEvent {
	e.Reason = mask.MaskIBANsIn(e.Reason)
	if e.Details != nil {
		d := make(map[string]any, len(e.Details))
		for k, v := range e.Details {
			d[k] = maskValue(v)
		}
		e.Details = d
	}
	return e
}

// maskValue masks the IBANs in the strings of a decoded JSON value.
func maskValue(v any) any {
	switch v := v.(type) {
	case string:
		return mask.MaskIBANsIn(v)
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = maskValue(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = maskValue(x)
		}
		return out
	case []string:
		out := make([]string, len(v))
		for i, x := range v {
			out[i] = mask.MaskIBANsIn(x)
		}
		return out
	}
	return v
}

func decodeAuditRequest(_ context.Context, r *http.Request) (any, error) {
	q, err := parseQuery(r, "object_id", "actor", "action", "kind", "beneficiary", "since", "after", "limit")
	if err != nil {
		return nil, err
	}
	f := payments.AuditFilter{ObjectID: q.str("object_id"), Actor: q.str("actor"), Action: q.str("action"), Kind: q.str("kind"),
		Beneficiary: q.str("beneficiary"), After: q.str("after")}
	if s := q.str("since"); s != "" {
		if f.Since, err = ParseSince(s); err != nil {
			return nil, errs.Field("since", "%v", err)
		}
	}
	if f.Limit, err = q.limit(defaultLimit); err != nil {
		return nil, err
	}
	return auditRequest{Filter: f}, nil
}

// ParseSince reads the start of a time range: an RFC 3339 time, or a day
// (YYYY-MM-DD) for its start in UTC.
func ParseSince(s string) (time.Time, error) {
	// An unescaped '+' of a time zone offset arrives as a space.
	if t, err := time.Parse(time.RFC3339Nano, strings.Replace(s, " ", "+", 1)); err == nil {
		return t, nil
	}
	if d, err := ledger.ParseDate(s); err == nil {
		return d.Time(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time (RFC 3339, 2026-11-05T09:00:00Z) or a day (YYYY-MM-DD)", s)
}
