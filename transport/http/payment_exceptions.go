package httptransport

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/go-kit/kit/endpoint"
	"github.com/google/uuid"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/internal/mask"
	"github.com/ofii/allowances/payments"
)

type listExceptionsRequest struct{ Filter payments.ExceptionFilter }

type listExceptionsResponse struct {
	Exceptions []payments.PaymentException `json:"exceptions"`
	// Next is the after= of the next page, set when this page is full; the
	// next page may be empty.
	Next string `json:"next,omitempty"`
	Err  error  `json:"-"`
}

func (r listExceptionsResponse) Failed() error { return r.Err }

func makeListExceptionsEndpoint(svc readExceptions) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(listExceptionsRequest)
		xs, err := svc.Exceptions(ctx, req.Filter)
		if err != nil {
			return listExceptionsResponse{Err: fmt.Errorf("list payment exceptions: %w", err)}, nil
		}
		resp := listExceptionsResponse{Exceptions: make([]payments.PaymentException, len(xs))}
		see := seesIBANs(ctx)
		reads := make([]payments.Read, len(xs))
		for i, x := range xs {
			reads[i] = exceptionRead(x, see)
			if !see {
				x = MaskException(x)
			}
			resp.Exceptions[i] = x
		}
		if err := recordReads(ctx, svc, reads); err != nil {
			return listExceptionsResponse{Err: fmt.Errorf("list payment exceptions: %w", err)}, nil
		}
		if len(xs) > 0 && len(xs) == req.Filter.Limit {
			resp.Next = xs[len(xs)-1].ID.String()
		}
		return resp, nil
	}
}

// MaskException returns x with the IBANs of its payees masked, as the
// roles that do not pay see it.
func MaskException(x payments.PaymentException) payments.PaymentException {
	x.Payee.IBAN = mask.MaskIBAN(x.Payee.IBAN)
	if x.Corrected != nil {
		c := *x.Corrected
		c.IBAN = mask.MaskIBAN(c.IBAN)
		x.Corrected = &c
	}
	return x
}

// shownException is x as the caller sees it after changing it: in full to
// the roles that pay once the read is recorded, masked otherwise. The
// change is made, and in the audit trail, by then: when the read cannot be
// recorded, the answer shows the IBANs masked rather than fail.
func shownException(ctx context.Context, log payments.ReadLog, x payments.PaymentException) payments.PaymentException {
	if seesIBANs(ctx) && recordReads(ctx, log, []payments.Read{exceptionRead(x, true)}) == nil {
		return x
	}
	return MaskException(x)
}

type correctPayeeRequest struct {
	ID     uuid.UUID
	Payee  payments.Payee
	Reason string
}

// exceptionResponse is one payment exception after a change; only the
// roles that correct payees see their IBANs whole.
type exceptionResponse struct {
	payments.PaymentException
	Err error `json:"-"`
}

func (r exceptionResponse) Failed() error { return r.Err }

func makeCorrectPayeeEndpoint(svc readExceptions) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(correctPayeeRequest)
		by, err := actorFrom(ctx)
		if err != nil {
			return exceptionResponse{Err: err}, nil
		}
		x, err := svc.CorrectPayee(ctx, req.ID, by, req.Payee, req.Reason)
		if err != nil {
			return exceptionResponse{Err: fmt.Errorf("correct the payee of payment exception %s: %w", req.ID, err)}, nil
		}
		return exceptionResponse{PaymentException: shownException(ctx, svc, x)}, nil
	}
}

type closeExceptionRequest struct {
	ID     uuid.UUID
	Reason string
}

func makeCloseExceptionEndpoint(svc readExceptions) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(closeExceptionRequest)
		by, err := actorFrom(ctx)
		if err != nil {
			return exceptionResponse{Err: err}, nil
		}
		x, err := svc.CloseException(ctx, req.ID, by, req.Reason)
		if err != nil {
			return exceptionResponse{Err: fmt.Errorf("close payment exception %s: %w", req.ID, err)}, nil
		}
		return exceptionResponse{PaymentException: shownException(ctx, svc, x)}, nil
	}
}

type reissueRequest struct{ Note string }

func makeReissueEndpoint(svc payments.PaymentExceptions) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(reissueRequest)
		by, err := actorFrom(ctx)
		if err != nil {
			return batchResponse{Err: err}, nil
		}
		b, err := svc.Reissue(ctx, by, req.Note)
		if err != nil {
			return batchResponse{Err: fmt.Errorf("reissue the corrected payments: %w", err)}, nil
		}
		return batchResponse{Batch: b, created: true}, nil
	}
}

// exceptionID reads the {id} path segment of a payment exception.
func exceptionID(r *http.Request) (uuid.UUID, error) {
	s := r.PathValue("id")
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.UUID{}, errs.Field("id", "%q is not a payment exception id (a UUID)", s)
	}
	return id, nil
}

// ParseExceptionStatus reads the status of a payment exception.
func ParseExceptionStatus(s string) (payments.ExceptionStatus, error) {
	switch st := payments.ExceptionStatus(s); st {
	case payments.ExceptionOpen, payments.ExceptionCorrected, payments.ExceptionReissued, payments.ExceptionClosed:
		return st, nil
	}
	return "", fmt.Errorf("%q is not a status of a payment exception (open, corrected, reissued or closed)", s)
}

// id reads an optional UUID parameter, the id of what.
func (q query) id(name, what string) (uuid.UUID, error) {
	s := q.str(name)
	if s == "" {
		return uuid.Nil, nil
	}
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.Nil, errs.Field(name, "%q is not %s (a UUID)", s, what)
	}
	return id, nil
}

func decodeListExceptionsRequest(_ context.Context, r *http.Request) (any, error) {
	q, err := parseQuery(r, "status", "batch_id", "after", "limit")
	if err != nil {
		return nil, err
	}
	var f payments.ExceptionFilter
	if s := q.str("status"); s != "" {
		if f.Status, err = ParseExceptionStatus(s); err != nil {
			return nil, errs.Field("status", "%v", err)
		}
	}
	if f.BatchID, err = q.id("batch_id", "a batch id"); err != nil {
		return nil, err
	}
	if f.After, err = q.id("after", "a payment exception id"); err != nil {
		return nil, err
	}
	if f.Limit, err = q.limit(defaultLimit); err != nil {
		return nil, err
	}
	return listExceptionsRequest{Filter: f}, nil
}

func decodeCorrectPayeeRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	id, err := exceptionID(r)
	if err != nil {
		return nil, err
	}
	var b payeeBody
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	if err := required("name", b.Name, "the account holder's name"); err != nil {
		return nil, err
	}
	if err := required("iban", b.IBAN, "the account to pay"); err != nil {
		return nil, err
	}
	iban, err := payments.ValidateIBAN(b.IBAN)
	if err != nil {
		return nil, errs.Field("iban", "%v", err)
	}
	if err := required("reason", b.Reason, "say how the new payee was established"); err != nil {
		return nil, err
	}
	return correctPayeeRequest{ID: id, Payee: payments.Payee{Name: strings.TrimSpace(b.Name), IBAN: iban, BIC: strings.TrimSpace(b.BIC)}, Reason: b.Reason}, nil
}

func decodeCloseExceptionRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	id, err := exceptionID(r)
	if err != nil {
		return nil, err
	}
	var b reasonBody
	if err := decodeOptionalBody(r, &b); err != nil {
		return nil, err
	}
	if err := required("reason", b.Reason, "say why the payment will not be made again"); err != nil {
		return nil, err
	}
	return closeExceptionRequest{ID: id, Reason: b.Reason}, nil
}

func decodeReissueRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	var b noteBody
	if err := decodeOptionalBody(r, &b); err != nil {
		return nil, err
	}
	return reissueRequest(b), nil
}
