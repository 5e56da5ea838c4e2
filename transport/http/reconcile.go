package httptransport

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/go-kit/kit/endpoint"
	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/internal/mask"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/reconcile"
)

// DefaultMaxStatementBytes is the body limit of POST /v1/statements when
// Options.MaxStatementBytes is 0: the largest file the statement readers
// accept.
const DefaultMaxStatementBytes = reconcile.DefaultMaxBytes

// Who may do what in the reconciliation. The routes admit these lists;
// the store checks the roles of the actor again.
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

func makeImportEndpoint(svc reconcile.Service) endpoint.Endpoint {
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

type reportRequest struct {
	Account string
	Day     ledger.Date
	CSV     bool
}

// reportResponse is a reconciliation report, written as JSON or, when csv
// is set, as CSV (see encodeReport).
type reportResponse struct {
	reconcile.Report
	csv bool
	Err error `json:"-"`
}

func (r reportResponse) Failed() error { return r.Err }

func makeReportEndpoint(svc reconcile.Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(reportRequest)
		rep, err := svc.Report(ctx, req.Account, req.Day)
		if err != nil {
			return reportResponse{Err: fmt.Errorf("reconciliation report of %s: %w", req.Day, err)}, nil
		}
		rep = reportForJSON(rep)
		maskReconExceptions(ctx, rep.OpenExceptions)
		return reportResponse{Report: rep, csv: req.CSV}, nil
	}
}

// reportForJSON gives the lists and maps of a report that are empty an
// empty value, so that JSON readers see [] and {} rather than null.
func reportForJSON(r reconcile.Report) reconcile.Report {
	if r.Matched == nil {
		r.Matched = map[reconcile.Rule]reconcile.Count{}
	}
	if r.OpenExceptions == nil {
		r.OpenExceptions = []reconcile.Exception{}
	}
	if r.InTransit == nil {
		r.InTransit = []reconcile.AgeBucket{}
	}
	return r
}

// encodeReport writes a report as JSON, or as CSV when it was asked for.
func encodeReport(ctx context.Context, w http.ResponseWriter, response any) error {
	r := response.(reportResponse)
	if r.Err != nil || !r.csv {
		return encodeResponse(ctx, w, response)
	}
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": "reconciliation-" + r.Date.String() + ".csv"}))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	return WriteReportCSV(w, r.Report)
}

// ReportCSVHeader is the header row of a report written as CSV.
var ReportCSVHeader = []string{"account", "date", "section", "item", "count", "amount", "note"}

// WriteReportCSV writes a reconciliation report as CSV: one row per rule
// of the cascade (section "matched", in the order of reconcile.Rules), the
// lines nothing explains yet, the payments in transit by age, the open
// exceptions, then the summary rows: the statement's balances, the
// ledger's, their difference and the verdict. Every row names the account
// and the day, so that the reports of several days can be put together.
func WriteReportCSV(w io.Writer, r reconcile.Report) error {
	cw := csv.NewWriter(w)
	account, day := r.Account, r.Date.String()
	row := func(section, item, count, amount, note string) {
		_ = cw.Write([]string{account, day, section, item, count, amount, note})
	}
	counted := func(section, item string, c reconcile.Count) {
		row(section, item, strconv.Itoa(c.Count), c.Sum.StringFixed(2), "")
	}
	_ = cw.Write(ReportCSVHeader)
	for _, rule := range reconcile.Rules {
		counted("matched", string(rule), r.Matched[rule])
	}
	// A rule the list above does not know yet still shows.
	var others []string
	for rule := range r.Matched {
		if !slices.Contains(reconcile.Rules, rule) {
			others = append(others, string(rule))
		}
	}
	slices.Sort(others)
	for _, rule := range others {
		counted("matched", rule, r.Matched[reconcile.Rule(rule)])
	}
	counted("unmatched", "lines", r.Unmatched)
	for _, b := range r.InTransit {
		counted("in_transit", b.Ages, b.Count)
	}
	counted("in_transit", "total", r.InTransitTotal)
	counted("exceptions", "open", r.OpenTotal)

	balance := func(item string, d decimal.Decimal, found bool) {
		amount := ""
		if found {
			amount = d.StringFixed(2)
		}
		row("summary", item, "", amount, "")
	}
	row("summary", "lines", strconv.Itoa(r.Lines), "", "")
	balance("statement_opening", r.StatementOpening, r.StatementFound)
	balance("statement_closing", r.StatementClosing, r.StatementFound)
	balance("ledger_closing", r.LedgerClosing, true)
	balance("difference", r.Difference, r.StatementFound)
	agrees := "no"
	if r.Agrees {
		agrees = "yes"
	}
	row("summary", "agrees", "", "", agrees)
	row("summary", "verdict", "", "", r.Verdict)
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write the report as CSV: %w", err)
	}
	return nil
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

func makeListReconExceptionsEndpoint(svc reconcile.Service) endpoint.Endpoint {
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

func makeMatchByHandEndpoint(svc reconcile.Service) endpoint.Endpoint {
	return makeResolveEndpoint("match", func(ctx context.Context, req resolveRequest, by payments.Actor) (reconcile.Exception, error) {
		return svc.MatchByHand(ctx, req.ID, req.Payments, by, req.Text)
	})
}

func makeConfirmEndpoint(svc reconcile.Service) endpoint.Endpoint {
	return makeResolveEndpoint("confirm", func(ctx context.Context, req resolveRequest, by payments.Actor) (reconcile.Exception, error) {
		return svc.Confirm(ctx, req.ID, by)
	})
}

func makeSuspenseEndpoint(svc reconcile.Service) endpoint.Endpoint {
	return makeResolveEndpoint("book to suspense", func(ctx context.Context, req resolveRequest, by payments.Actor) (reconcile.Exception, error) {
		return svc.BookToSuspense(ctx, req.ID, by, req.Text)
	})
}

func makeCloseReconEndpoint(svc reconcile.Service) endpoint.Endpoint {
	return makeResolveEndpoint("close", func(ctx context.Context, req resolveRequest, by payments.Actor) (reconcile.Exception, error) {
		return svc.Close(ctx, req.ID, by, req.Text)
	})
}

func makeAssignEndpoint(svc reconcile.Service) endpoint.Endpoint {
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

func makeListMatchesEndpoint(svc reconcile.Service) endpoint.Endpoint {
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

func makeUndoMatchEndpoint(svc reconcile.Service) endpoint.Endpoint {
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

func makeFetchEndpoint(svc reconcile.Service) endpoint.Endpoint {
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

func makeRunMatchEndpoint(svc reconcile.Service) endpoint.Endpoint {
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

func makeSweepEndpoint(svc reconcile.Service) endpoint.Endpoint {
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

// decodeReportRequest reads ?date= (required), ?account= (default the
// account of the API's options) and ?format= (json or csv).
func (a *api) decodeReportRequest(_ context.Context, r *http.Request) (any, error) {
	q, err := parseQuery(r, "date", "account", "format")
	if err != nil {
		return nil, err
	}
	req := reportRequest{Account: a.opts.BankAccount}
	if q.str("date") == "" {
		return nil, errs.Field("date", "is required: the day to reconcile, YYYY-MM-DD")
	}
	if req.Day, err = q.date("date"); err != nil {
		return nil, err
	}
	if s := q.str("account"); s != "" {
		if req.Account, err = payments.ValidateIBAN(s); err != nil {
			return nil, errs.Field("account", "%v", err)
		}
	}
	if req.Account == "" {
		return nil, errs.Field("account", "is required: no bank account is configured, name one with ?account=IBAN")
	}
	switch f := q.str("format"); f {
	case "", "json":
	case "csv":
		req.CSV = true
	default:
		return nil, errs.Field("format", "%q is not json or csv", f)
	}
	return req, nil
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
