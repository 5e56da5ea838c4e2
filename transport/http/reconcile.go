package httptransport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/go-kit/kit/endpoint"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/reconcile"
)

// DefaultMaxStatementBytes is the body limit of POST /v1/statements when
// Options.MaxStatementBytes is 0: the largest file the statement readers
// accept.
const DefaultMaxStatementBytes = reconcile.DefaultMaxBytes

// Who may do what in the reconciliation. The routes admit these lists;
// the services check the roles of the actor again.
var (
	// StatementImporters import statement files and fetch them from the bank.
	StatementImporters = []Role{RoleController, RoleAdmin}
	// ReconReaders read the reconciliation reports, its exceptions and its
	// matches.
	ReconReaders = []Role{RoleController, RoleAuditor, RoleAdmin}
	// Reconcilers resolve the exceptions (match by hand, confirm, book to
	// suspense, close) and undo matches.
	Reconcilers = []Role{RoleController}
	// ExceptionAssigners give a reconciliation exception an owner.
	ExceptionAssigners = []Role{RoleController, RoleAdmin}
	// ReconOperators run the matching cascade and the in-transit sweep now.
	ReconOperators = []Role{RoleAdmin}
)

// statementTypes are the media types a statement file may be sent as: XML
// for camt.053 and camt.054, text or bytes for CFONB 120. The service tells
// the formats apart by their content.
var statementTypes = []string{"application/xml", "text/xml", "text/plain", "application/octet-stream"}

// StatementFileError turns what the statement readers say about a file into
// an error for people: a *reconcile.FormatError becomes an invalid input
// naming the element (or the CFONB record) at fault, a file over the limit
// is too large. Other errors pass as they are.
func StatementFileError(err error) error {
	var fe *reconcile.FormatError
	if !errors.As(err, &fe) {
		return err
	}
	return formatError(fe)
}

// importError is StatementFileError for the body of POST /v1/statements:
// what the service says of the file ("file", "file: line 12") is said of
// the body.
func importError(err error) error {
	var e *errs.Error
	if errors.As(err, &e) && (e.Field == "file" || strings.HasPrefix(e.Field, "file:")) {
		return &errs.Error{Code: e.Code, Field: "body", Message: e.Message}
	}
	return StatementFileError(err)
}

// formatError is a reader's fault as an invalid input.
func formatError(fe *reconcile.FormatError) error {
	field := fe.Element
	if field == "" {
		field = "body"
	}
	var where []string
	if fe.Line > 0 {
		where = append(where, "line "+strconv.Itoa(fe.Line))
	}
	if fe.Field != "" {
		where = append(where, "field "+fe.Field)
	}
	msg := "malformed statement file"
	if len(where) > 0 {
		msg += " (" + strings.Join(where, ", ") + ")"
	}
	msg += ": " + fe.Reason
	if errors.Is(fe, reconcile.ErrTooLarge) {
		return &errs.Error{Code: errs.TooLarge, Field: field, Message: msg}
	}
	return &errs.Error{Code: errs.Invalid, Field: field, Message: msg}
}

// importRequest is a statement file spooled to a temporary file, which
// the endpoint removes once the service has read it.
type importRequest struct{ File *os.File }

// remove closes and removes the spooled file.
func (r importRequest) remove() {
	_ = r.File.Close()
	_ = os.Remove(r.File.Name())
}

// importResponse is what importing a statement file did: 201 Created, or
// 200 when the same file had been imported before.
type importResponse struct {
	reconcile.ImportResult
	Err error `json:"-"`
}

func (r importResponse) Failed() error { return r.Err }

// StatusCode implements go-kit's StatusCoder.
func (r importResponse) StatusCode() int {
	if r.Replayed {
		return http.StatusOK
	}
	return http.StatusCreated
}

func makeImportEndpoint(svc reconcile.StatementImporter) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(importRequest)
		defer req.remove()
		by, err := actorFrom(ctx)
		if err != nil {
			return importResponse{Err: err}, nil
		}
		res, err := svc.ImportFrom(ctx, req.File, by)
		if err != nil {
			return importResponse{Err: fmt.Errorf("import statement file: %w", importError(err))}, nil
		}
		if res.Statements == nil {
			res.Statements = []reconcile.StatementResult{}
		}
		return importResponse{ImportResult: res}, nil
	}
}

// fetchRequest asks the bank for the statements of a day.
type fetchRequest struct{ Day ledger.Date }

// fetchResponse is what importing the statements of a day the bank sent
// did, one result per file, in the bank's order; none when the bank has no
// statement of the day yet.
type fetchResponse struct {
	Date  ledger.Date              `json:"date"`
	Files []reconcile.ImportResult `json:"files"`
	Err   error                    `json:"-"`
}

func (r fetchResponse) Failed() error { return r.Err }

func makeFetchEndpoint(svc reconcile.StatementFetcher) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(fetchRequest)
		by, err := actorFrom(ctx)
		if err != nil {
			return fetchResponse{Err: err}, nil
		}
		results, err := svc.Fetch(ctx, req.Day, by)
		if err != nil {
			note := ""
			if len(results) > 0 {
				note = fmt.Sprintf(" (%d of its files imported before the failure)", len(results))
			}
			return fetchResponse{Err: fmt.Errorf("fetch the statements of %s%s: %w", req.Day, note, StatementFileError(err))}, nil
		}
		files := make([]reconcile.ImportResult, len(results))
		for i, res := range results {
			if res.Statements == nil {
				res.Statements = []reconcile.StatementResult{}
			}
			files[i] = res
		}
		return fetchResponse{Date: req.Day, Files: files}, nil
	}
}

type runMatchRequest struct{}

type matchResultResponse struct {
	reconcile.MatchResult
	Err error `json:"-"`
}

func (r matchResultResponse) Failed() error { return r.Err }

func makeRunMatchEndpoint(svc reconcile.Matching) endpoint.Endpoint {
	return func(ctx context.Context, _ any) (any, error) {
		res, err := svc.Match(ctx)
		if err != nil {
			return matchResultResponse{Err: fmt.Errorf("run the matching cascade: %w", err)}, nil
		}
		if res.Matched == nil {
			res.Matched = map[reconcile.Rule]reconcile.Count{}
		}
		return matchResultResponse{MatchResult: res}, nil
	}
}

type sweepRequest struct{ Day ledger.Date }

type sweepResponse struct {
	Date   ledger.Date `json:"date"`
	Opened int         `json:"opened"` // exceptions opened for payments in transit too long
	Err    error       `json:"-"`
}

func (r sweepResponse) Failed() error { return r.Err }

func makeSweepEndpoint(svc reconcile.Matching) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(sweepRequest)
		n, err := svc.Sweep(ctx, req.Day)
		if err != nil {
			return sweepResponse{Err: fmt.Errorf("sweep the payments in transit on %s: %w", req.Day, err)}, nil
		}
		return sweepResponse{Date: req.Day, Opened: n}, nil
	}
}

// The bodies of the reconciliation's routes.
type (
	matchByHandBody struct {
		Payments []string `json:"payments"`
		Reason   string   `json:"reason"`
	}
	ownerBody struct {
		Owner string `json:"owner"`
	}
	sweepBody struct {
		Date jsonDate `json:"date"`
	}
	fetchBody struct {
		Date jsonDate `json:"date"`
	}
)

// decodeImportRequest reads a statement file: the body as it is, declared
// as XML (camt) or as text or bytes (CFONB 120).
func decodeImportRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !slices.Contains(statementTypes, mt) {
		return nil, unsupportedType("%q is not a statement file's type: application/xml for camt.053 or camt.054, "+
			"text/plain or application/octet-stream for CFONB 120", ct)
	}
	// A file may be hundreds of megabytes: it waits on disk, not in
	// memory, for the service to read it twice (checked, then stored).
	f, err := os.CreateTemp("", "statement-*")
	if err != nil {
		return nil, fmt.Errorf("spool the statement file: %w", err)
	}
	req := importRequest{File: f}
	n, err := io.Copy(f, r.Body)
	switch {
	case err != nil:
		req.remove()
		return nil, bodyError(err)
	case n == 0:
		req.remove()
		return nil, errs.Field("body", "empty; a statement file (camt.053, camt.054 or CFONB 120) is expected")
	}
	return req, nil
}

func decodeRunMatchRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	var b struct{}
	if err := decodeOptionalBody(r, &b); err != nil {
		return nil, err
	}
	return runMatchRequest{}, nil
}

func decodeFetchRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	var b fetchBody
	if err := decodeOptionalBody(r, &b); err != nil {
		return nil, err
	}
	day := ledger.Date(b.Date)
	if day.IsZero() {
		return nil, errs.Field("date", "is required: the booking day of the statements to fetch, YYYY-MM-DD")
	}
	return fetchRequest{Day: day}, nil
}

func decodeSweepRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	var b sweepBody
	if err := decodeOptionalBody(r, &b); err != nil {
		return nil, err
	}
	day := ledger.Date(b.Date)
	if day.IsZero() {
		return nil, errs.Field("date", "is required: the day to sweep the payments in transit on, YYYY-MM-DD")
	}
	return sweepRequest{Day: day}, nil
}

// reconcileRoutes are the routes of the reconciliation: statement files
// in (sent, or fetched from the bank by ledgerd), reports, exceptions and
// matches out. Each admits the roles of its list above; POST
// /v1/statements alone takes bodies up to Options.MaxStatementBytes.
func (a *api) reconcileRoutes(svc reconcile.Service) []route {
	return []route{
		{pattern: "POST /v1/statements", allow: StatementImporters, maxBody: a.opts.MaxStatementBytes,
			handler: a.server(makeImportEndpoint(svc), decodeImportRequest)},
		{pattern: "POST /v1/statements/fetch", allow: StatementImporters, handler: a.server(makeFetchEndpoint(svc), decodeFetchRequest)},
		{pattern: "GET /v1/reconciliation/report", allow: ReconReaders, handler: a.serverEncoding(makeReportEndpoint(svc), a.decodeReportRequest,
			encodeReport)},
		{pattern: "GET /v1/reconciliation/exceptions", allow: ReconReaders, handler: a.server(makeListReconExceptionsEndpoint(svc), decodeListReconExceptionsRequest)},
		{pattern: "POST /v1/reconciliation/exceptions/{id}/match", allow: Reconcilers, handler: a.server(makeMatchByHandEndpoint(svc), decodeMatchByHandRequest)},
		{pattern: "POST /v1/reconciliation/exceptions/{id}/confirm", allow: Reconcilers, handler: a.server(makeConfirmEndpoint(svc), decodeConfirmRequest)},
		{pattern: "POST /v1/reconciliation/exceptions/{id}/suspense", allow: Reconcilers, handler: a.server(makeSuspenseEndpoint(svc), decodeSuspenseRequest)},
		{pattern: "POST /v1/reconciliation/exceptions/{id}/close", allow: Reconcilers, handler: a.server(makeCloseReconEndpoint(svc), decodeCloseReconRequest)},
		{pattern: "POST /v1/reconciliation/exceptions/{id}/assign", allow: ExceptionAssigners, handler: a.server(makeAssignEndpoint(svc), decodeAssignRequest)},
		{pattern: "GET /v1/reconciliation/matches", allow: ReconReaders, handler: a.server(makeListMatchesEndpoint(svc), decodeListMatchesRequest)},
		{pattern: "POST /v1/reconciliation/matches/{id}/undo", allow: Reconcilers, handler: a.server(makeUndoMatchEndpoint(svc), decodeUndoMatchRequest)},
		{pattern: "POST /v1/reconciliation/match", allow: ReconOperators, handler: a.server(makeRunMatchEndpoint(svc), decodeRunMatchRequest)},
		{pattern: "POST /v1/reconciliation/sweep", allow: ReconOperators, handler: a.server(makeSweepEndpoint(svc), decodeSweepRequest)},
	}
}
