package httptransport

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"github.com/go-kit/kit/endpoint"
	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/payments"
)

// Who may see and change the budget.
var (
	// BudgetReaders read the budget of a year.
	BudgetReaders = []Role{RoleApprover, RoleAuditor, RoleAdmin, RoleBudget}
	// BudgetAmenders record and confirm amendments; the store keeps the
	// four-eyes rule (the confirmer is not the recorder).
	BudgetAmenders = []Role{RoleBudget, RoleAdmin}
)

type budgetRequest struct{ Year int }

type budgetResponse struct {
	payments.BudgetReport
	Err error `json:"-"`
}

func (r budgetResponse) Failed() error { return r.Err }

func makeBudgetEndpoint(svc payments.Budgets) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(budgetRequest)
		rep, err := svc.Report(ctx, req.Year)
		if err != nil {
			return budgetResponse{Err: fmt.Errorf("budget of %d: %w", req.Year, err)}, nil
		}
		return budgetResponse{BudgetReport: rep}, nil
	}
}

func decodeBudgetRequest(_ context.Context, r *http.Request) (any, error) {
	q, err := parseQuery(r, "year")
	if err != nil {
		return nil, err
	}
	v := q.str("year")
	year, err := strconv.Atoi(v)
	if err != nil || len(v) != 4 {
		return nil, errs.Field("year", "%q is not a year (2027)", v)
	}
	return budgetRequest{Year: year}, nil
}

// amendmentRequest is an amendment to record.
type amendmentRequest struct{ Amendment payments.Amendment }

type amendmentResponse struct {
	payments.Amendment
	created bool
	Err     error `json:"-"`
}

func (r amendmentResponse) Failed() error { return r.Err }

// StatusCode implements go-kit's StatusCoder.
func (r amendmentResponse) StatusCode() int {
	if r.created {
		return http.StatusCreated
	}
	return http.StatusOK
}

func makeRecordAmendmentEndpoint(svc payments.Budgets) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(amendmentRequest)
		by, err := actorFrom(ctx)
		if err != nil {
			return amendmentResponse{Err: err}, nil
		}
		a, err := svc.Record(ctx, req.Amendment, by)
		if err != nil {
			return amendmentResponse{Err: fmt.Errorf("record amendment: %w", err)}, nil
		}
		return amendmentResponse{Amendment: a, created: true}, nil
	}
}

func decodeRecordAmendmentRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	var b struct {
		Scheme    string `json:"scheme"`
		Year      int    `json:"year"`
		Kind      string `json:"kind"`
		Amount    string `json:"amount"`
		Reference string `json:"reference"`
		Reason    string `json:"reason"`
	}
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	amt, err := decimal.NewFromString(b.Amount)
	if err != nil || len(b.Amount) > 20 {
		return nil, errs.Field("amount", "%q is not an amount in euros (\"1250000.00\")", b.Amount)
	}
	return amendmentRequest{Amendment: payments.Amendment{Scheme: payments.Scheme(b.Scheme), Year: b.Year,
		Kind: payments.AmendmentKind(b.Kind), Amount: amt, Reference: b.Reference, Reason: b.Reason}}, nil
}

type confirmAmendmentRequest struct{ ID uuid.UUID }

func makeConfirmAmendmentEndpoint(svc payments.Budgets) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(confirmAmendmentRequest)
		by, err := actorFrom(ctx)
		if err != nil {
			return amendmentResponse{Err: err}, nil
		}
		a, err := svc.Confirm(ctx, req.ID, by)
		if err != nil {
			return amendmentResponse{Err: fmt.Errorf("confirm amendment %s: %w", req.ID, err)}, nil
		}
		return amendmentResponse{Amendment: a}, nil
	}
}

func decodeConfirmAmendmentRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	s := r.PathValue("id")
	id, err := uuid.Parse(s)
	if err != nil {
		return nil, errs.Field("id", "%q is not an amendment id (a UUID)", s)
	}
	var none struct{}
	if err := decodeOptionalBody(r, &none); err != nil {
		return nil, err
	}
	return confirmAmendmentRequest{ID: id}, nil
}

// budgetRoutes are the routes of the budget: its report and amendments.
func (a *api) budgetRoutes(svc payments.Budgets) []route {
	return []route{
		{pattern: "GET /v1/budget", allow: BudgetReaders, handler: a.server(makeBudgetEndpoint(svc), decodeBudgetRequest)},
		{pattern: "POST /v1/budget/amendments", allow: BudgetAmenders, handler: a.server(makeRecordAmendmentEndpoint(svc), decodeRecordAmendmentRequest)},
		{pattern: "POST /v1/budget/amendments/{id}/confirm", allow: BudgetAmenders, handler: a.server(makeConfirmAmendmentEndpoint(svc), decodeConfirmAmendmentRequest)},
	}
}
