package httptransport

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"

	"github.com/go-kit/kit/endpoint"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/reconcile"
)

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

func makeReportEndpoint(svc reconcile.Reporter) endpoint.Endpoint {
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
