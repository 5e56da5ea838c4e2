package httptransport

import (
	"context"
	"fmt"
	"net/http"

	"github.com/go-kit/kit/endpoint"
	"github.com/google/uuid"

	"github.com/ofii/allowances/ledger"
)

// Page sizes of the listing routes.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// Every response below carries the service's error in Err, as go-kit's
// endpoint.Failer: a business failure (a bad entry, an unknown account) is
// a response, not an endpoint error, so that endpoint middlewares counting
// faults see only real ones. The encoder writes Err as an error response.
//
// A response embedding a ledger type is written as that type writes itself
// (amounts with two decimals, see ledger/json.go); where the ledger type has
// a MarshalJSON method, the response has it too, so a response must add no
// JSON field of its own next to such a type.

// listAccountsRequest selects a page of the chart of accounts.
type listAccountsRequest struct {
	Prefix string
	Cursor string // the last code of the previous page
	Limit  int
}

type listAccountsResponse struct {
	Accounts []ledger.Account `json:"accounts"`
	// NextCursor is set when the page is full; the next page may be empty.
	NextCursor string `json:"next_cursor,omitempty"`
	Err        error  `json:"-"`
}

func (r listAccountsResponse) Failed() error { return r.Err }

func makeListAccountsEndpoint(svc ledger.Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(listAccountsRequest)
		accounts, err := svc.Accounts(ctx, req.Prefix, req.Cursor, req.Limit)
		if err != nil {
			return listAccountsResponse{Err: fmt.Errorf("list accounts: %w", err)}, nil
		}
		resp := listAccountsResponse{Accounts: accounts}
		if resp.Accounts == nil {
			resp.Accounts = []ledger.Account{}
		}
		if len(accounts) == req.Limit {
			resp.NextCursor = accounts[len(accounts)-1].Code
		}
		return resp, nil
	}
}

type getAccountRequest struct {
	Code string
}

type getAccountResponse struct {
	ledger.Account
	Err error `json:"-"`
}

func (r getAccountResponse) Failed() error { return r.Err }

func makeGetAccountEndpoint(svc ledger.Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(getAccountRequest)
		a, err := svc.Account(ctx, req.Code)
		if err != nil {
			return getAccountResponse{Err: fmt.Errorf("get account %s: %w", req.Code, err)}, nil
		}
		return getAccountResponse{Account: a}, nil
	}
}

type balanceRequest struct {
	Code string
	AsOf ledger.AsOf
}

type balanceResponse struct {
	ledger.Balance
	Err error `json:"-"`
}

func (r balanceResponse) Failed() error { return r.Err }

func makeBalanceEndpoint(svc ledger.Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(balanceRequest)
		b, err := svc.Balance(ctx, req.Code, req.AsOf)
		if err != nil {
			return balanceResponse{Err: fmt.Errorf("balance of %s: %w", req.Code, err)}, nil
		}
		return balanceResponse{Balance: b}, nil
	}
}

type statementRequest struct {
	Query ledger.StatementQuery
}

type statementResponse struct {
	ledger.Statement
	Err error `json:"-"`
}

func (r statementResponse) Failed() error { return r.Err }

func makeStatementEndpoint(svc ledger.Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(statementRequest)
		s, err := svc.Statement(ctx, req.Query)
		if err != nil {
			return statementResponse{Err: fmt.Errorf("statement of %s: %w", req.Query.Account, err)}, nil
		}
		if s.Lines == nil {
			s.Lines = []ledger.StatementLine{}
		}
		return statementResponse{Statement: s}, nil
	}
}

type getEntryRequest struct {
	ID uuid.UUID
}

// entryResponse is an entry read, posted or reversed. A write answers 201
// Created, or 200 when it replayed an earlier one with the same key.
type entryResponse struct {
	ledger.Entry
	write bool
	Err   error `json:"-"`
}

func (r entryResponse) Failed() error { return r.Err }

// StatusCode implements go-kit's StatusCoder.
func (r entryResponse) StatusCode() int {
	if r.write && !r.Replayed {
		return http.StatusCreated
	}
	return http.StatusOK
}

// Headers implements go-kit's Headerer: a write names the entry's URL.
func (r entryResponse) Headers() http.Header {
	if !r.write {
		return nil
	}
	return http.Header{"Location": {"/v1/entries/" + r.ID.String()}}
}

func makeGetEntryEndpoint(svc ledger.Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(getEntryRequest)
		e, err := svc.Entry(ctx, req.ID)
		if err != nil {
			return entryResponse{Err: fmt.Errorf("get entry %s: %w", req.ID, err)}, nil
		}
		return entryResponse{Entry: e}, nil
	}
}

type postEntryRequest struct {
	Entry ledger.NewEntry
}

func makePostEntryEndpoint(svc ledger.Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(postEntryRequest)
		e, err := svc.Post(ctx, req.Entry)
		if err != nil {
			return entryResponse{Err: fmt.Errorf("post entry %q: %w", req.Entry.IdempotencyKey, err)}, nil
		}
		return entryResponse{Entry: e, write: true}, nil
	}
}

type reverseEntryRequest struct {
	Reversal ledger.Reversal
}

func makeReverseEntryEndpoint(svc ledger.Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(reverseEntryRequest)
		e, err := svc.Reverse(ctx, req.Reversal)
		if err != nil {
			return entryResponse{Err: fmt.Errorf("reverse entry %s: %w", req.Reversal.EntryID, err)}, nil
		}
		return entryResponse{Entry: e, write: true}, nil
	}
}

type trialBalanceRequest struct {
	AsOf ledger.AsOf
}

type trialBalanceResponse struct {
	ledger.TrialBalance
	Err error `json:"-"`
}

func (r trialBalanceResponse) Failed() error { return r.Err }

func makeTrialBalanceEndpoint(svc ledger.Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(trialBalanceRequest)
		tb, err := svc.TrialBalance(ctx, req.AsOf)
		if err != nil {
			return trialBalanceResponse{Err: fmt.Errorf("trial balance: %w", err)}, nil
		}
		if tb.Rows == nil {
			tb.Rows = []ledger.TrialBalanceRow{}
		}
		if tb.Totals == nil {
			tb.Totals = map[string]ledger.TrialBalanceSum{}
		}
		return trialBalanceResponse{TrialBalance: tb}, nil
	}
}

// verifyRequest asks for the whole ledger to be read (Full), or only what
// the last seal does not cover.
type verifyRequest struct {
	Full bool
}

type verifyResponse struct {
	ledger.VerifyReport
	Err error `json:"-"`
}

func (r verifyResponse) Failed() error { return r.Err }

func makeVerifyEndpoint(svc ledger.Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(verifyRequest)
		rep, err := svc.VerifyWith(ctx, ledger.VerifyOptions{Full: req.Full})
		if err != nil {
			return verifyResponse{Err: fmt.Errorf("verify: %w", err)}, nil
		}
		if rep.Problems == nil {
			rep.Problems = []ledger.Problem{}
		}
		return verifyResponse{VerifyReport: rep}, nil
	}
}

type sealRequest struct {
	Reason string
}

// sealResponse holds the new seal, or nil when no entry was posted since
// the last one.
type sealResponse struct {
	Seal *ledger.Seal `json:"seal"`
	Err  error        `json:"-"`
}

func (r sealResponse) Failed() error { return r.Err }

// StatusCode implements go-kit's StatusCoder: 201 when a seal was made.
func (r sealResponse) StatusCode() int {
	if r.Seal != nil {
		return http.StatusCreated
	}
	return http.StatusOK
}

func makeSealEndpoint(svc ledger.Service) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req := request.(sealRequest)
		s, err := svc.Seal(ctx, req.Reason)
		if err != nil {
			return sealResponse{Err: fmt.Errorf("seal: %w", err)}, nil
		}
		return sealResponse{Seal: s}, nil
	}
}
