package httptransport

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/ledger/fec"
)

// FECReaders may export the FEC.
var FECReaders = []Role{RoleAuditor, RoleAdmin}

// FECExporter writes the Fichier des Écritures Comptables of a period
// (*fec.Exporter).
type FECExporter interface {
	// FileName is the name of the file closing on to.
	FileName(to ledger.Date) string
	// Export checks the chart, then calls open and writes the file to the
	// writer it returns; see fec.Exporter.Export.
	Export(ctx context.Context, p fec.Period, open func() (io.Writer, error)) (fec.Summary, error)
}

// fecWriteWindow is how long one write of the file to the client may take:
// the server's WriteTimeout would cut a long export short, so each write
// pushes the deadline this far instead.
const fecWriteWindow = 2 * time.Minute

// exportRoutes are the routes of the exports. With no exporter (no
// FEC_SIREN), the FEC route answers 503.
func (a *api) exportRoutes(x FECExporter) []route {
	return []route{
		{pattern: "GET /v1/exports/fec", allow: FECReaders, handler: a.serverEncoding(makeFECEndpoint(x), decodeFECRequest, a.encodeFEC)},
	}
}

type fecRequest struct {
	Period fec.Period
}

// fecResponse is an export checked and ready to be written by encodeFEC.
type fecResponse struct {
	x      FECExporter
	period fec.Period
	Err    error
}

func (r fecResponse) Failed() error { return r.Err }

func decodeFECRequest(_ context.Context, r *http.Request) (any, error) {
	q, err := parseQuery(r, "from", "to")
	if err != nil {
		return nil, err
	}
	p, err := fec.ParsePeriod(q.str("from"), q.str("to"))
	if err != nil {
		return nil, err
	}
	return fecRequest{Period: p}, nil
}

func makeFECEndpoint(x FECExporter) endpoint.Endpoint {
	return func(_ context.Context, request any) (any, error) {
		req := request.(fecRequest)
		if x == nil {
			return fecResponse{Err: errs.E(errs.Unavailable, "the FEC export is not configured: set FEC_SIREN")}, nil
		}
		return fecResponse{x: x, period: req.Period}, nil
	}
}

// encodeFEC streams the file: the status and headers go out once the
// chart maps, then each line as it is read. A failure after the first
// byte cuts the response short (the client sees an incomplete transfer,
// never a file that looks whole).
func (a *api) encodeFEC(ctx context.Context, w http.ResponseWriter, response any) error {
	resp := response.(fecResponse)
	if resp.Err != nil {
		encodeError(ctx, resp.Err, w)
		return nil
	}
	rc := http.NewResponseController(w)
	started := false
	sum, err := resp.x.Export(ctx, resp.period, func() (io.Writer, error) {
		h := w.Header()
		h.Set("Content-Type", fec.ContentType)
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": resp.x.FileName(resp.period.To)}))
		h.Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		started = true
		return deadlineWriter{w: w, rc: rc}, nil
	})
	switch {
	case err == nil:
		a.opts.Logger.InfoContext(ctx, "FEC exported", "from", resp.period.From.String(), "to", resp.period.To.String(),
			"lines", sum.Lines, "entries", sum.Entries, "debit", sum.Debit.StringFixed(2), "credit", sum.Credit.StringFixed(2))
		return nil
	case !started:
		encodeError(ctx, err, w)
		return nil
	}
	recordError(ctx, err)
	a.opts.Logger.ErrorContext(ctx, "FEC export cut short", "from", resp.period.From.String(), "to", resp.period.To.String(),
		"lines_written", sum.Lines, "error", err.Error())
	panic(http.ErrAbortHandler)
}

// deadlineWriter pushes the connection's write deadline fecWriteWindow
// ahead of each write.
type deadlineWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (d deadlineWriter) Write(p []byte) (int, error) {
	_ = d.rc.SetWriteDeadline(time.Now().Add(fecWriteWindow))
	n, err := d.w.Write(p)
	if err != nil {
		return n, fmt.Errorf("send the FEC: %w", err)
	}
	return n, nil
}
