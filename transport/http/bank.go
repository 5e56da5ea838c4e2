package httptransport

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/go-kit/kit/endpoint"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/payments"
)

type applyReportRequest struct{ Content []byte }

type applyReportResponse struct {
	payments.ReportResult
	Err error `json:"-"`
}

func (r applyReportResponse) Failed() error { return r.Err }

func makeApplyReportEndpoint(svc payments.StatusReports) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(applyReportRequest)
		by, err := actorFrom(ctx)
		if err != nil {
			return applyReportResponse{Err: err}, nil
		}
		res, err := svc.ApplyReport(ctx, req.Content, by)
		if err != nil {
			return applyReportResponse{Err: fmt.Errorf("apply status report: %w", err)}, nil
		}
		return applyReportResponse{ReportResult: res}, nil
	}
}

type bankRequest struct{}

type bankActivityResponse struct {
	payments.BankActivity
	Err error `json:"-"`
}

func (r bankActivityResponse) Failed() error { return r.Err }

// makeBankEndpoint serves a manual pass of the outbox sender or of the
// report fetcher, named what in its errors.
func makeBankEndpoint(what string, pass func(context.Context) (payments.BankActivity, error)) endpoint.Endpoint {
	return func(ctx context.Context, _ any) (any, error) {
		act, err := pass(ctx)
		if err != nil {
			return bankActivityResponse{Err: fmt.Errorf("%s: %w", what, err)}, nil
		}
		return bankActivityResponse{BankActivity: act}, nil
	}
}

// decodeApplyReportRequest reads a pain.002 document: the body as it is,
// declared as XML.
func decodeApplyReportRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/xml" && mt != "text/xml") {
		return nil, unsupportedType("%q is not application/xml: the body is a pain.002 status report", ct)
	}
	content, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, bodyError(err)
	}
	if len(strings.TrimSpace(string(content))) == 0 {
		return nil, errs.Field("body", "empty; a pain.002 status report is expected")
	}
	return applyReportRequest{Content: content}, nil
}

func decodeBankRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	var b struct{}
	if err := decodeOptionalBody(r, &b); err != nil {
		return nil, err
	}
	return bankRequest{}, nil
}
