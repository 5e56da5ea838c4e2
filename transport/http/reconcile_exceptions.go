package httptransport

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"unicode"

	"github.com/go-kit/kit/endpoint"
	"github.com/google/uuid"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/internal/mask"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/reconcile"
)

// MaskReconException returns x with the IBANs its texts may quote (a
// counterparty in the reason or the bank's label) masked, as the roles
// that do not pay see it.
func MaskReconException(x reconcile.Exception) reconcile.Exception {
	x.Reason = mask.MaskIBANsIn(x.Reason)
	x.Label = mask.MaskIBANsIn(x.Label)
	x.Resolution = mask.MaskIBANsIn(x.Resolution)
	return x
}

// MaskMatch returns m with the IBANs its reason may quote masked.
func MaskMatch(m reconcile.Match) reconcile.Match {
	m.Reason = mask.MaskIBANsIn(m.Reason)
	return m
}

// maskReconExceptions masks xs in place unless the caller pays.
func maskReconExceptions(ctx context.Context, xs []reconcile.Exception) {
	if seesIBANs(ctx) {
		return
	}
	for i := range xs {
		xs[i] = MaskReconException(xs[i])
	}
}

// ParseReconStatus reads the status of a reconciliation exception.
func ParseReconStatus(s string) (reconcile.ExceptionStatus, error) {
	switch st := reconcile.ExceptionStatus(s); st {
	case reconcile.ExceptionOpen, reconcile.ExceptionResolved, reconcile.ExceptionClosed:
		return st, nil
	}
	return "", fmt.Errorf("%q is not a status of a reconciliation exception (open, resolved or closed)", s)
}

// reconKinds are the kinds of reconciliation exceptions, in the order
// errors list them.
var reconKinds = []reconcile.ExceptionKind{
	reconcile.ExceptionUnmatched, reconcile.ExceptionAmountMismatch, reconcile.ExceptionDuplicate, reconcile.ExceptionAmbiguous,
	reconcile.ExceptionSuggestion, reconcile.ExceptionReturned, reconcile.ExceptionInTransit,
}

// ParseReconKind reads the kind of a reconciliation exception.
func ParseReconKind(s string) (reconcile.ExceptionKind, error) {
	if k := reconcile.ExceptionKind(s); slices.Contains(reconKinds, k) {
		return k, nil
	}
	names := make([]string, len(reconKinds))
	for i, k := range reconKinds {
		names[i] = string(k)
	}
	return "", fmt.Errorf("%q is not a kind of reconciliation exception (%s)", s, strings.Join(names, ", "))
}

// ParseRule reads the rule of a match.
func ParseRule(s string) (reconcile.Rule, error) {
	if r := reconcile.Rule(s); slices.Contains(reconcile.Rules, r) {
		return r, nil
	}
	names := make([]string, len(reconcile.Rules))
	for i, r := range reconcile.Rules {
		names[i] = string(r)
	}
	return "", fmt.Errorf("%q is not a rule of the reconciliation (%s)", s, strings.Join(names, ", "))
}

// CheckPaymentIDs checks the payments (line ids) a controller matches a
// statement line to, named field in errors: at least one, each a line id,
// none twice.
func CheckPaymentIDs(field string, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, errs.Field(field, "is required: the payments (line ids) that explain the statement line")
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		id = strings.TrimSpace(id)
		at := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case id == "":
			return nil, errs.Field(at, "is empty: a payment's line id is expected")
		case len(id) > payments.LineIDLen:
			return nil, errs.Field(at, "has %d characters: a line id has at most %d", len(id), payments.LineIDLen)
		case strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r > '~' }):
			return nil, errs.Field(at, "%q is not a line id", id)
		case slices.Contains(out[:i], id):
			return nil, errs.Field(at, "%s is given twice", id)
		}
		out[i] = id
	}
	return out, nil
}

// CheckOwner checks the name of the person an exception is assigned to,
// named field in errors: a name as the API tokens carry them.
func CheckOwner(field, owner string) (string, error) {
	owner = strings.TrimSpace(owner)
	switch {
	case owner == "":
		return "", errs.Field(field, "is required: the name of the person who takes the exception")
	case len(owner) > 100:
		return "", errs.Field(field, "must have at most 100 characters")
	case strings.ContainsFunc(owner, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return "", errs.Field(field, "%q contains a space or a control character: a person's name as their API token carries it is expected", owner)
	}
	return owner, nil
}

type listReconExceptionsRequest struct{ Filter reconcile.ExceptionFilter }

type listReconExceptionsResponse struct {
	Exceptions []reconcile.Exception `json:"exceptions"`
	// Next is the after= of the next page, set when this page is full; the
	// next page may be empty.
	Next string `json:"next,omitempty"`
	Err  error  `json:"-"`
}

func (r listReconExceptionsResponse) Failed() error { return r.Err }

func makeListReconExceptionsEndpoint(svc reconcile.ExceptionDesk) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(listReconExceptionsRequest)
		xs, err := svc.Exceptions(ctx, req.Filter)
		if err != nil {
			return listReconExceptionsResponse{Err: fmt.Errorf("list reconciliation exceptions: %w", err)}, nil
		}
		if xs == nil {
			xs = []reconcile.Exception{}
		}
		maskReconExceptions(ctx, xs)
		resp := listReconExceptionsResponse{Exceptions: xs}
		if len(xs) > 0 && len(xs) == req.Filter.Limit {
			resp.Next = xs[len(xs)-1].ID.String()
		}
		return resp, nil
	}
}

// resolveRequest is one move of a reconciliation exception: Payments for
// a match by hand, Text the reason (or the owner of an assignment).
type resolveRequest struct {
	ID       uuid.UUID
	Payments []string
	Text     string
}

// reconExceptionResponse is a reconciliation exception after a move.
type reconExceptionResponse struct {
	reconcile.Exception
	Err error `json:"-"`
}

func (r reconExceptionResponse) Failed() error { return r.Err }

// resolution is one of the moves of an exception.
type resolution func(ctx context.Context, req resolveRequest, by payments.Actor) (reconcile.Exception, error)

// makeResolveEndpoint serves one move, named verb in its errors.
func makeResolveEndpoint(verb string, move resolution) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(resolveRequest)
		by, err := actorFrom(ctx)
		if err != nil {
			return reconExceptionResponse{Err: err}, nil
		}
		x, err := move(ctx, req, by)
		if err != nil {
			return reconExceptionResponse{Err: fmt.Errorf("%s reconciliation exception %s: %w", verb, req.ID, err)}, nil
		}
		if !seesIBANs(ctx) {
			x = MaskReconException(x)
		}
		return reconExceptionResponse{Exception: x}, nil
	}
}

func makeMatchByHandEndpoint(svc reconcile.ExceptionDesk) endpoint.Endpoint {
	return makeResolveEndpoint("match", func(ctx context.Context, req resolveRequest, by payments.Actor) (reconcile.Exception, error) {
		return svc.MatchByHand(ctx, req.ID, req.Payments, by, req.Text)
	})
}

func makeConfirmEndpoint(svc reconcile.ExceptionDesk) endpoint.Endpoint {
	return makeResolveEndpoint("confirm", func(ctx context.Context, req resolveRequest, by payments.Actor) (reconcile.Exception, error) {
		return svc.Confirm(ctx, req.ID, by)
	})
}

func makeSuspenseEndpoint(svc reconcile.ExceptionDesk) endpoint.Endpoint {
	return makeResolveEndpoint("book to suspense", func(ctx context.Context, req resolveRequest, by payments.Actor) (reconcile.Exception, error) {
		return svc.BookToSuspense(ctx, req.ID, by, req.Text)
	})
}

func makeCloseReconEndpoint(svc reconcile.ExceptionDesk) endpoint.Endpoint {
	return makeResolveEndpoint("close", func(ctx context.Context, req resolveRequest, by payments.Actor) (reconcile.Exception, error) {
		return svc.Close(ctx, req.ID, by, req.Text)
	})
}

func makeAssignEndpoint(svc reconcile.ExceptionDesk) endpoint.Endpoint {
	return makeResolveEndpoint("assign", func(ctx context.Context, req resolveRequest, by payments.Actor) (reconcile.Exception, error) {
		return svc.Assign(ctx, req.ID, req.Text, by)
	})
}

type listMatchesRequest struct{ Filter reconcile.MatchFilter }

type listMatchesResponse struct {
	Matches []reconcile.Match `json:"matches"`
	Err     error             `json:"-"`
}

func (r listMatchesResponse) Failed() error { return r.Err }

func makeListMatchesEndpoint(svc reconcile.Matching) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(listMatchesRequest)
		ms, err := svc.Matches(ctx, req.Filter)
		if err != nil {
			return listMatchesResponse{Err: fmt.Errorf("list matches: %w", err)}, nil
		}
		if ms == nil {
			ms = []reconcile.Match{}
		}
		if !seesIBANs(ctx) {
			for i := range ms {
				ms[i] = MaskMatch(ms[i])
			}
		}
		return listMatchesResponse{Matches: ms}, nil
	}
}

type undoMatchRequest struct {
	ID     uuid.UUID
	Reason string
}

// undoMatchResponse says a match was taken back.
type undoMatchResponse struct {
	ID     uuid.UUID `json:"id"`
	Undone bool      `json:"undone"`
	Reason string    `json:"reason"`
	Err    error     `json:"-"`
}

func (r undoMatchResponse) Failed() error { return r.Err }

func makeUndoMatchEndpoint(svc reconcile.ExceptionDesk) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(undoMatchRequest)
		by, err := actorFrom(ctx)
		if err != nil {
			return undoMatchResponse{Err: err}, nil
		}
		if err := svc.UndoMatch(ctx, req.ID, by, req.Reason); err != nil {
			return undoMatchResponse{Err: fmt.Errorf("undo match %s: %w", req.ID, err)}, nil
		}
		return undoMatchResponse{ID: req.ID, Undone: true, Reason: req.Reason}, nil
	}
}

func decodeListReconExceptionsRequest(_ context.Context, r *http.Request) (any, error) {
	q, err := parseQuery(r, "status", "kind", "owner", "after", "limit")
	if err != nil {
		return nil, err
	}
	f := reconcile.ExceptionFilter{Owner: strings.TrimSpace(q.str("owner"))}
	if s := q.str("status"); s != "" {
		if f.Status, err = ParseReconStatus(s); err != nil {
			return nil, errs.Field("status", "%v", err)
		}
	}
	if s := q.str("kind"); s != "" {
		if f.Kind, err = ParseReconKind(s); err != nil {
			return nil, errs.Field("kind", "%v", err)
		}
	}
	if f.After, err = q.id("after", "a reconciliation exception id"); err != nil {
		return nil, err
	}
	if f.Limit, err = q.limit(defaultLimit); err != nil {
		return nil, err
	}
	return listReconExceptionsRequest{Filter: f}, nil
}

// reconExceptionID reads the {id} path segment of a reconciliation
// exception.
func reconExceptionID(r *http.Request) (uuid.UUID, error) {
	s := r.PathValue("id")
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.UUID{}, errs.Field("id", "%q is not a reconciliation exception id (a UUID)", s)
	}
	return id, nil
}

// decodeResolveTarget reads the {id} of the exception a move is for; the
// route takes no query parameters.
func decodeResolveTarget(r *http.Request) (uuid.UUID, error) {
	if _, err := parseQuery(r); err != nil {
		return uuid.UUID{}, err
	}
	return reconExceptionID(r)
}

func decodeMatchByHandRequest(_ context.Context, r *http.Request) (any, error) {
	id, err := decodeResolveTarget(r)
	if err != nil {
		return nil, err
	}
	var b matchByHandBody
	if err := decodeOptionalBody(r, &b); err != nil {
		return nil, err
	}
	ids, err := CheckPaymentIDs("payments", b.Payments)
	if err != nil {
		return nil, err
	}
	if err := required("reason", b.Reason, "say how the payments were found to explain the line"); err != nil {
		return nil, err
	}
	return resolveRequest{ID: id, Payments: ids, Text: b.Reason}, nil
}

func decodeConfirmRequest(_ context.Context, r *http.Request) (any, error) {
	id, err := decodeResolveTarget(r)
	if err != nil {
		return nil, err
	}
	var b struct{}
	if err := decodeOptionalBody(r, &b); err != nil {
		return nil, err
	}
	return resolveRequest{ID: id}, nil
}

// decodeReasonRequest decodes the exception id of the path and a body
// whose reason is required; why says what the reason is for.
func decodeReasonRequest(why string) func(context.Context, *http.Request) (any, error) {
	return func(_ context.Context, r *http.Request) (any, error) {
		id, err := decodeResolveTarget(r)
		if err != nil {
			return nil, err
		}
		var b reasonBody
		if err := decodeOptionalBody(r, &b); err != nil {
			return nil, err
		}
		if err := required("reason", b.Reason, why); err != nil {
			return nil, err
		}
		return resolveRequest{ID: id, Text: b.Reason}, nil
	}
}

// decodeSuspenseRequest decodes a booking to suspense.
var decodeSuspenseRequest = decodeReasonRequest("say why the line goes to suspense, for whoever clears it")

// decodeCloseReconRequest decodes the closing of an exception.
var decodeCloseReconRequest = decodeReasonRequest("say why nothing is to be posted")

func decodeAssignRequest(_ context.Context, r *http.Request) (any, error) {
	id, err := decodeResolveTarget(r)
	if err != nil {
		return nil, err
	}
	var b ownerBody
	if err := decodeOptionalBody(r, &b); err != nil {
		return nil, err
	}
	owner, err := CheckOwner("owner", b.Owner)
	if err != nil {
		return nil, err
	}
	return resolveRequest{ID: id, Text: owner}, nil
}

func decodeListMatchesRequest(_ context.Context, r *http.Request) (any, error) {
	q, err := parseQuery(r, "statement_id", "payment", "rule", "limit")
	if err != nil {
		return nil, err
	}
	var f reconcile.MatchFilter
	if f.StatementID, err = q.id("statement_id", "a statement id"); err != nil {
		return nil, err
	}
	if s := q.str("payment"); s != "" {
		ids, err := CheckPaymentIDs("payment", []string{s})
		if err != nil {
			return nil, errs.Field("payment", "%q is not a payment's line id", s)
		}
		f.Payment = ids[0]
	}
	if s := q.str("rule"); s != "" {
		if f.Rule, err = ParseRule(s); err != nil {
			return nil, errs.Field("rule", "%v", err)
		}
	}
	if f.Limit, err = q.limit(defaultLimit); err != nil {
		return nil, err
	}
	return listMatchesRequest{Filter: f}, nil
}

func decodeUndoMatchRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	s := r.PathValue("id")
	id, err := uuid.Parse(s)
	if err != nil {
		return nil, errs.Field("id", "%q is not a match id (a UUID)", s)
	}
	var b reasonBody
	if err := decodeOptionalBody(r, &b); err != nil {
		return nil, err
	}
	if err := required("reason", b.Reason, "say why the match was wrong, for the audit trail"); err != nil {
		return nil, err
	}
	return undoMatchRequest{ID: id, Reason: b.Reason}, nil
}
