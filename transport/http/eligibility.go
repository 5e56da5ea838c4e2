package httptransport

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/internal/mask"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
)

// PayingRoles see payees' IBANs in full: they prepare and approve what is
// paid. Every other role sees them masked.
var PayingRoles = []Role{RolePreparer, RoleApprover}

// maxDays bounds the days one request may ask for.
const maxDays = 366

// seesIBANs reports whether the caller may see IBANs in full.
func seesIBANs(ctx context.Context) bool {
	p, ok := PrincipalFrom(ctx)
	return ok && p.HasRole(PayingRoles...)
}

type getBeneficiaryRequest struct{ ID string }

type getBeneficiaryResponse struct {
	payments.Beneficiary
	Err error `json:"-"`
}

func (r getBeneficiaryResponse) Failed() error { return r.Err }

func makeGetBeneficiaryEndpoint(svc payments.Beneficiaries) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(getBeneficiaryRequest)
		b, err := svc.Beneficiary(ctx, req.ID)
		if err != nil {
			return getBeneficiaryResponse{Err: fmt.Errorf("get beneficiary %s: %w", req.ID, err)}, nil
		}
		full := seesIBANs(ctx)
		read := payments.Read{What: payments.ReadTimeline, ObjectID: b.ID, Beneficiary: b.ID, Fields: ibanIf(full, b.HasIBAN())}
		if err := recordReads(ctx, svc, []payments.Read{read}); err != nil {
			return getBeneficiaryResponse{Err: fmt.Errorf("get beneficiary %s: %w", req.ID, err)}, nil
		}
		if !full {
			b.MaskIBANs()
		}
		return getBeneficiaryResponse{Beneficiary: b}, nil
	}
}

type beneficiaryDaysRequest struct {
	ID       string
	From, To ledger.Date
}

type beneficiaryDaysResponse struct {
	ID   string         `json:"id"`
	Days []payments.Day `json:"days"`
	Err  error          `json:"-"`
}

func (r beneficiaryDaysResponse) Failed() error { return r.Err }

func makeBeneficiaryDaysEndpoint(svc payments.Beneficiaries) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(beneficiaryDaysRequest)
		days, err := svc.Days(ctx, req.ID, req.From, req.To)
		if err != nil {
			return beneficiaryDaysResponse{Err: fmt.Errorf("days of beneficiary %s: %w", req.ID, err)}, nil
		}
		read := payments.Read{What: payments.ReadDays, ObjectID: req.ID, Beneficiary: req.ID, Fields: []string{},
			Details: map[string]any{"from": req.From.String(), "to": req.To.String()}}
		if err := recordReads(ctx, svc, []payments.Read{read}); err != nil {
			return beneficiaryDaysResponse{Err: fmt.Errorf("days of beneficiary %s: %w", req.ID, err)}, nil
		}
		return beneficiaryDaysResponse{ID: req.ID, Days: days}, nil
	}
}

type listDeadLettersRequest struct{ Query payments.DeadLetterQuery }

// deadLetterView shows a dead letter with its original value as text: in
// full to the roles that pay, who may have to pay from it, IBANs masked
// for the others (see mask.MaskPayload), the rest byte for byte so that it
// still shows what was wrong with it.
type deadLetterView struct {
	payments.DeadLetter
	Value string `json:"value"`
}

type listDeadLettersResponse struct {
	DeadLetters []deadLetterView `json:"dead_letters"`
	NextCursor  string           `json:"next_cursor,omitempty"`
	Err         error            `json:"-"`
}

func (r listDeadLettersResponse) Failed() error { return r.Err }

func makeListDeadLettersEndpoint(svc payments.Beneficiaries) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(listDeadLettersRequest)
		dls, next, err := svc.DeadLetters(ctx, req.Query)
		if err != nil {
			return listDeadLettersResponse{Err: fmt.Errorf("list dead letters: %w", err)}, nil
		}
		full := seesIBANs(ctx)
		resp := listDeadLettersResponse{DeadLetters: make([]deadLetterView, 0, len(dls)), NextCursor: next}
		var reads []payments.Read
		for _, d := range dls {
			raw := string(d.Value)
			masked := mask.MaskPayload(raw)
			value := masked
			if full {
				value = raw
			} else {
				// The reason and the key quote no IBAN, and must not.
				d.Error, d.Key = mask.MaskIBANsIn(d.Error), mask.MaskIBANsIn(d.Key)
			}
			// A dead letter is read from a beneficiary's file when it names
			// them, and recorded whenever it shows an IBAN in full.
			inFull := full && masked != raw
			if d.Beneficiary != "" || inFull {
				reads = append(reads, payments.Read{What: payments.ReadDeadLetter, ObjectID: d.ID.String(), Beneficiary: d.Beneficiary,
					Fields: ibanIf(inFull, true)})
			}
			resp.DeadLetters = append(resp.DeadLetters, deadLetterView{DeadLetter: d, Value: value})
		}
		if err := recordReads(ctx, svc, reads); err != nil {
			return listDeadLettersResponse{Err: fmt.Errorf("list dead letters: %w", err)}, nil
		}
		return resp, nil
	}
}

type listUnopenedRequest struct{ Query payments.UnopenedQuery }

type listUnopenedResponse struct {
	Beneficiaries []payments.Unopened `json:"beneficiaries"`
	NextCursor    string              `json:"next_cursor,omitempty"`
	Err           error               `json:"-"`
}

func (r listUnopenedResponse) Failed() error { return r.Err }

func makeListUnopenedEndpoint(svc payments.Beneficiaries) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(listUnopenedRequest)
		list, next, err := svc.Unopened(ctx, req.Query)
		if err != nil {
			return listUnopenedResponse{Err: fmt.Errorf("list the beneficiaries without a rights opening: %w", err)}, nil
		}
		if list == nil {
			list = []payments.Unopened{}
		}
		return listUnopenedResponse{Beneficiaries: list, NextCursor: next}, nil
	}
}

func decodeGetBeneficiaryRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	return getBeneficiaryRequest{ID: r.PathValue("id")}, nil
}

func decodeBeneficiaryDaysRequest(_ context.Context, r *http.Request) (any, error) {
	q, err := parseQuery(r, "from", "to")
	if err != nil {
		return nil, err
	}
	req := beneficiaryDaysRequest{ID: r.PathValue("id")}
	if req.From, err = q.date("from"); err != nil {
		return nil, err
	}
	if req.To, err = q.date("to"); err != nil {
		return nil, err
	}
	switch {
	case req.From.IsZero():
		return nil, errs.Field("from", "is required")
	case req.To.IsZero():
		return nil, errs.Field("to", "is required")
	case req.To.Before(req.From):
		return nil, errs.Field("to", "%s is before from %s", req.To, req.From)
	case req.To.Time().Sub(req.From.Time()) >= maxDays*24*time.Hour:
		return nil, errs.Field("to", "asks for more than %d days", maxDays)
	}
	return req, nil
}

func decodeListDeadLettersRequest(_ context.Context, r *http.Request) (any, error) {
	q, err := parseQuery(r, "type", "beneficiary", "since", "cursor", "limit")
	if err != nil {
		return nil, err
	}
	req := listDeadLettersRequest{Query: payments.DeadLetterQuery{Type: q.str("type"), Beneficiary: q.str("beneficiary"), Cursor: q.str("cursor")}}
	if req.Query.Limit, err = q.limit(defaultLimit); err != nil {
		return nil, err
	}
	if s := q.str("since"); s != "" {
		if d, err := ledger.ParseDate(s); err == nil {
			req.Query.Since = d.Time()
		} else if t, err := time.Parse(time.RFC3339, s); err == nil {
			req.Query.Since = t
		} else {
			return nil, errs.Field("since", "%q is not a date (YYYY-MM-DD) or a time (RFC 3339)", s)
		}
	}
	return req, nil
}

func decodeListUnopenedRequest(_ context.Context, r *http.Request) (any, error) {
	q, err := parseQuery(r, "days", "cursor", "limit")
	if err != nil {
		return nil, err
	}
	req := listUnopenedRequest{Query: payments.UnopenedQuery{Cursor: q.str("cursor")}}
	if req.Query.Limit, err = q.limit(defaultLimit); err != nil {
		return nil, err
	}
	if s := q.str("days"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxUnopenedDays {
			return nil, errs.Field("days", "must be a whole number between 1 and %d", maxUnopenedDays)
		}
		req.Query.Days = n
	}
	return req, nil
}

// maxUnopenedDays bounds the days of GET /v1/beneficiaries/unopened.
const maxUnopenedDays = 3650

// eligibilityRoutes are the routes over the beneficiaries' state, readable
// by every role.
func (a *api) eligibilityRoutes(svc payments.Beneficiaries) []route {
	read := AllRoles()
	return []route{
		{pattern: "GET /v1/beneficiaries/unopened", allow: read, handler: a.server(makeListUnopenedEndpoint(svc), decodeListUnopenedRequest)},
		{pattern: "GET /v1/beneficiaries/{id}", allow: read, handler: a.server(makeGetBeneficiaryEndpoint(svc), decodeGetBeneficiaryRequest)},
		{pattern: "GET /v1/beneficiaries/{id}/days", allow: read, handler: a.server(makeBeneficiaryDaysEndpoint(svc), decodeBeneficiaryDaysRequest)},
		{pattern: "GET /v1/dead-letters", allow: read, handler: a.server(makeListDeadLettersEndpoint(svc), decodeListDeadLettersRequest)},
	}
}
