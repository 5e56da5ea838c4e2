package httptransport

import (
	"context"
	"fmt"
	"net/http"

	"github.com/go-kit/kit/endpoint"
	"github.com/google/uuid"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/internal/mask"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
)

// RunStarters may start runs: the preparers, whose batches others approve,
// and the administrators.
var RunStarters = []Role{RolePreparer, RoleAdmin}

type listRunsRequest struct{ Limit int }

type listRunsResponse struct {
	Runs []payments.Run `json:"runs"`
	Err  error          `json:"-"`
}

func (r listRunsResponse) Failed() error { return r.Err }

func makeListRunsEndpoint(svc payments.Runs) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(listRunsRequest)
		runs, err := svc.Runs(ctx, req.Limit)
		if err != nil {
			return listRunsResponse{Err: fmt.Errorf("list runs: %w", err)}, nil
		}
		if runs == nil {
			runs = []payments.Run{}
		}
		return listRunsResponse{Runs: runs}, nil
	}
}

// startRunRequest starts an ADA run for Period, or a grants run up to Day
// (zero: today).
type startRunRequest struct {
	Kind   payments.RunKind
	Period payments.Period
	Day    ledger.Date
}

// startRunResponse is the run, finished: 201 Created when it is done.
type startRunResponse struct {
	payments.Run
	Err error `json:"-"`
}

func (r startRunResponse) Failed() error { return r.Err }

// StatusCode implements go-kit's StatusCoder.
func (r startRunResponse) StatusCode() int { return http.StatusCreated }

// Headers implements go-kit's Headerer: the run's batch.
func (r startRunResponse) Headers() http.Header {
	return http.Header{"Location": {"/v1/batches/" + r.BatchID.String()}}
}

func makeStartRunEndpoint(svc payments.Runs) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(startRunRequest)
		by := "unknown"
		if p, ok := PrincipalFrom(ctx); ok && p.Name != "" {
			by = p.Name
		}
		var run payments.Run
		var err error
		switch req.Kind {
		case payments.RunADA:
			run, err = svc.StartADARun(ctx, req.Period, payments.TriggerStaff, by)
		default:
			run, err = svc.StartGrantsRun(ctx, req.Day, payments.TriggerStaff, by)
		}
		if err != nil {
			if req.Kind == payments.RunADA {
				err = fmt.Errorf("start the ADA run for %s: %w", req.Period, err)
			} else {
				err = fmt.Errorf("start the grants run: %w", err)
			}
			return startRunResponse{Err: err}, nil
		}
		return startRunResponse{Run: run}, nil
	}
}

// cancelRunRequest abandons the run ID, for Reason.
type cancelRunRequest struct {
	ID     uuid.UUID
	Reason string
}

// runResponse is a run, as it stands after a change.
type runResponse struct {
	payments.Run
	Err error `json:"-"`
}

func (r runResponse) Failed() error { return r.Err }

func makeCancelRunEndpoint(svc payments.Runs) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(cancelRunRequest)
		by, err := actorFrom(ctx)
		if err != nil {
			return runResponse{Err: err}, nil
		}
		run, err := svc.CancelRun(ctx, req.ID, by, req.Reason)
		if err != nil {
			return runResponse{Err: fmt.Errorf("cancel run %s: %w", req.ID, err)}, nil
		}
		return runResponse{Run: run}, nil
	}
}

type listBatchesRequest struct{ Filter payments.BatchFilter }

type listBatchesResponse struct {
	Batches []payments.Batch `json:"batches"`
	Err     error            `json:"-"`
}

func (r listBatchesResponse) Failed() error { return r.Err }

func makeListBatchesEndpoint(svc payments.Runs) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(listBatchesRequest)
		bs, err := svc.Batches(ctx, req.Filter)
		if err != nil {
			return listBatchesResponse{Err: fmt.Errorf("list batches: %w", err)}, nil
		}
		if bs == nil {
			bs = []payments.Batch{}
		}
		return listBatchesResponse{Batches: bs}, nil
	}
}

type getBatchRequest struct{ ID uuid.UUID }

type getBatchResponse struct {
	payments.Batch
	Err error `json:"-"`
}

func (r getBatchResponse) Failed() error { return r.Err }

func makeGetBatchEndpoint(svc payments.Runs) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(getBatchRequest)
		b, err := svc.Batch(ctx, req.ID)
		if err != nil {
			return getBatchResponse{Err: fmt.Errorf("get batch %s: %w", req.ID, err)}, nil
		}
		return getBatchResponse{Batch: b}, nil
	}
}

type batchLinesRequest struct {
	ID     uuid.UUID
	Cursor string
	Limit  int
}

type batchLinesResponse struct {
	Lines []payments.BatchLine `json:"lines"`
	// NextCursor is set when the page is full; the next page may be empty.
	NextCursor string `json:"next_cursor,omitempty"`
	Err        error  `json:"-"`
}

func (r batchLinesResponse) Failed() error { return r.Err }

func makeBatchLinesEndpoint(svc payments.Runs) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(batchLinesRequest)
		lines, next, err := svc.BatchLines(ctx, req.ID, req.Cursor, req.Limit)
		if err != nil {
			return batchLinesResponse{Err: fmt.Errorf("lines of batch %s: %w", req.ID, err)}, nil
		}
		if lines == nil {
			lines = []payments.BatchLine{}
		}
		full := seesIBANs(ctx)
		if err := recordReads(ctx, svc, linesRead(req.ID.String(), lines, full)); err != nil {
			return batchLinesResponse{Err: fmt.Errorf("lines of batch %s: %w", req.ID, err)}, nil
		}
		if !full {
			for i := range lines {
				lines[i].Payee.IBAN = mask.MaskIBAN(lines[i].Payee.IBAN)
			}
		}
		return batchLinesResponse{Lines: lines, NextCursor: next}, nil
	}
}

// startRunBody is the body of POST /v1/runs.
type startRunBody struct {
	Kind   string   `json:"kind"`
	Period string   `json:"period"`
	Day    jsonDate `json:"day"`
}

func decodeListRunsRequest(_ context.Context, r *http.Request) (any, error) {
	q, err := parseQuery(r, "limit")
	if err != nil {
		return nil, err
	}
	limit, err := q.limit(defaultLimit)
	if err != nil {
		return nil, err
	}
	return listRunsRequest{Limit: limit}, nil
}

func decodeStartRunRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	var b startRunBody
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	if b.Kind == "" {
		return nil, errs.Field("kind", "is required (ada or grants)")
	}
	kind, err := payments.ParseRunKind(b.Kind)
	if err != nil {
		return nil, errs.Field("kind", "%v", err)
	}
	req := startRunRequest{Kind: kind, Day: ledger.Date(b.Day)}
	switch kind {
	case payments.RunADA:
		if b.Period == "" {
			return nil, errs.Field("period", "is required for an ADA run: the month to pay, YYYY-MM")
		}
		if !req.Day.IsZero() {
			return nil, errs.Field("day", "is for a grants run; an ADA run takes a period")
		}
		if req.Period, err = payments.ParsePeriod(b.Period); err != nil {
			return nil, err
		}
	case payments.RunGrants:
		if b.Period != "" {
			return nil, errs.Field("period", "is for an ADA run; a grants run takes a day (default today)")
		}
	}
	return req, nil
}

// decodeCancelRunRequest reads the {id} and the body {"reason"}, which is
// required.
func decodeCancelRunRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	s := r.PathValue("id")
	id, err := uuid.Parse(s)
	if err != nil {
		return nil, errs.Field("id", "%q is not a run id (a UUID)", s)
	}
	var b reasonBody
	if err := decodeOptionalBody(r, &b); err != nil {
		return nil, err
	}
	if err := required("reason", b.Reason, "say why the run is abandoned, for the audit trail"); err != nil {
		return nil, err
	}
	return cancelRunRequest{ID: id, Reason: b.Reason}, nil
}

func decodeListBatchesRequest(_ context.Context, r *http.Request) (any, error) {
	q, err := parseQuery(r, "kind", "period", "status", "limit")
	if err != nil {
		return nil, err
	}
	var f payments.BatchFilter
	if s := q.str("kind"); s != "" {
		if f.Kind, err = payments.ParseRunKind(s); err != nil {
			return nil, errs.Field("kind", "%v", err)
		}
	}
	if s := q.str("period"); s != "" {
		if f.Period, err = payments.ParsePeriod(s); err != nil {
			return nil, err
		}
	}
	f.Status = payments.BatchStatus(q.str("status"))
	if f.Limit, err = q.limit(defaultLimit); err != nil {
		return nil, err
	}
	return listBatchesRequest{Filter: f}, nil
}

// batchID reads the {id} path segment.
func batchID(r *http.Request) (uuid.UUID, error) {
	s := r.PathValue("id")
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.UUID{}, errs.Field("id", "%q is not a batch id (a UUID)", s)
	}
	return id, nil
}

func decodeGetBatchRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	id, err := batchID(r)
	if err != nil {
		return nil, err
	}
	return getBatchRequest{ID: id}, nil
}

func decodeBatchLinesRequest(_ context.Context, r *http.Request) (any, error) {
	q, err := parseQuery(r, "cursor", "limit")
	if err != nil {
		return nil, err
	}
	id, err := batchID(r)
	if err != nil {
		return nil, err
	}
	req := batchLinesRequest{ID: id, Cursor: q.str("cursor")}
	if len(req.Cursor) > payments.LineIDLen {
		return nil, errs.Field("cursor", "is not a line id")
	}
	if req.Limit, err = q.limit(defaultLimit); err != nil {
		return nil, err
	}
	return req, nil
}

// batchRoutes are the routes of the runs and their batches: every role
// reads them; preparers and administrators start runs. A run is computed
// within the request, which answers once it is done: a request cut short
// fails the run, and starting it again is safe. The same roles cancel a
// run left running by a process that stopped.
func (a *api) batchRoutes(svc payments.Runs) []route {
	read := AllRoles()
	return []route{
		{pattern: "GET /v1/runs", allow: read, handler: a.server(makeListRunsEndpoint(svc), decodeListRunsRequest)},
		{pattern: "POST /v1/runs", allow: RunStarters, handler: a.server(makeStartRunEndpoint(svc), decodeStartRunRequest)},
		{pattern: "POST /v1/runs/{id}/cancel", allow: RunStarters, handler: a.server(makeCancelRunEndpoint(svc), decodeCancelRunRequest)},
		{pattern: "GET /v1/batches", allow: read, handler: a.server(makeListBatchesEndpoint(svc), decodeListBatchesRequest)},
		{pattern: "GET /v1/batches/{id}", allow: read, handler: a.server(makeGetBatchEndpoint(svc), decodeGetBatchRequest)},
		{pattern: "GET /v1/batches/{id}/lines", allow: read, handler: a.server(makeBatchLinesEndpoint(svc), decodeBatchLinesRequest)},
	}
}
