package httptransport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/go-kit/kit/endpoint"
	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/internal/jsonstrict"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
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

// ledgerRoutes are the routes of the ledger: reads open to every role,
// writes to admin only.
func (a *api) ledgerRoutes(svc ledger.Service) []route {
	read := AllRoles()
	admin := []Role{RoleAdmin}
	return []route{
		{pattern: "GET /v1/accounts", allow: read, handler: a.server(makeListAccountsEndpoint(svc), decodeListAccountsRequest)},
		{pattern: "GET /v1/accounts/{code}", allow: read, handler: a.server(makeGetAccountEndpoint(svc), decodeGetAccountRequest)},
		{pattern: "GET /v1/accounts/{code}/balance", allow: read, handler: a.server(a.accountRead(payments.ReadBalance)(makeBalanceEndpoint(svc)), decodeBalanceRequest)},
		{pattern: "GET /v1/accounts/{code}/statement", allow: read, handler: a.server(a.accountRead(payments.ReadStatement)(makeStatementEndpoint(svc)), decodeStatementRequest)},
		{pattern: "GET /v1/entries/{id}", allow: read, handler: a.server(makeGetEntryEndpoint(svc), decodeGetEntryRequest)},
		{pattern: "POST /v1/entries", allow: admin, handler: a.server(makePostEntryEndpoint(svc), decodePostEntryRequest)},
		{pattern: "POST /v1/entries/{id}/reversal", allow: admin, handler: a.server(makeReverseEntryEndpoint(svc), decodeReverseEntryRequest)},
		{pattern: "GET /v1/trial-balance", allow: read, handler: a.server(makeTrialBalanceEndpoint(svc), decodeTrialBalanceRequest)},
		{pattern: "GET /v1/verify", allow: read, handler: a.server(makeVerifyEndpoint(svc), decodeVerifyRequest)},
		{pattern: "POST /v1/seals", allow: admin, handler: a.server(makeSealEndpoint(svc), decodeSealRequest)},
	}
}

// The request bodies of the ledger routes.

// lineBody is a ledger.Line as a request body gives it.
type lineBody struct {
	Account  string      `json:"account"`
	Amount   jsonDecimal `json:"amount"`
	Currency string      `json:"currency"`
	Memo     string      `json:"memo"`
}

// lineList decodes the "lines" array element by element, so that an error
// names the line: "lines[2].amount".
type lineList []ledger.Line

func (l *lineList) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return &jsonstrict.FieldError{Path: "lines", Msg: "must be an array of lines"}
	}
	out := make(lineList, 0, len(raw))
	for i, m := range raw {
		var lb lineBody
		if err := jsonstrict.DecodeBody(m, &lb); err != nil {
			at := fmt.Sprintf("lines[%d]", i)
			var e *errs.Error
			if errors.As(err, &e) && e.Field != "body" {
				return &jsonstrict.FieldError{Path: at + "." + e.Field, Msg: e.Message}
			}
			return &jsonstrict.FieldError{Path: at, Msg: "must be an object with account, amount, currency and memo"}
		}
		out = append(out, ledger.Line{
			Account:  lb.Account,
			Amount:   decimal.Decimal(lb.Amount),
			Currency: lb.Currency,
			Memo:     lb.Memo,
		})
	}
	*l = out
	return nil
}

// entryBody is the body of POST /v1/entries: a ledger.NewEntry.
type entryBody struct {
	IdempotencyKey string            `json:"idempotency_key"`
	EffectiveDate  jsonDate          `json:"effective_date"`
	Description    string            `json:"description"`
	SourceRef      string            `json:"source_ref"`
	Metadata       map[string]string `json:"metadata"`
	Lines          lineList          `json:"lines"`
}

func (b entryBody) newEntry() ledger.NewEntry {
	return ledger.NewEntry{
		IdempotencyKey: b.IdempotencyKey,
		EffectiveDate:  ledger.Date(b.EffectiveDate),
		Description:    b.Description,
		SourceRef:      b.SourceRef,
		Metadata:       b.Metadata,
		Lines:          b.Lines,
	}
}

// reversalBody is the body of POST /v1/entries/{id}/reversal.
type reversalBody struct {
	IdempotencyKey string   `json:"idempotency_key"`
	EffectiveDate  jsonDate `json:"effective_date"`
	Reason         string   `json:"reason"`
}

// sealBody is the body of POST /v1/seals.
type sealBody struct {
	Reason string `json:"reason"`
}

// The request decoders: each reads the path, the query (refusing parameters
// the route does not take) and the body into the endpoint's request, and
// fails with an *errs.Error naming the field at fault.

func decodeListAccountsRequest(_ context.Context, r *http.Request) (any, error) {
	q, err := parseQuery(r, "prefix", "cursor", "limit")
	if err != nil {
		return nil, err
	}
	limit, err := q.limit(defaultLimit)
	if err != nil {
		return nil, err
	}
	return listAccountsRequest{Prefix: q.str("prefix"), Cursor: q.str("cursor"), Limit: limit}, nil
}

func decodeGetAccountRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	return getAccountRequest{Code: r.PathValue("code")}, nil
}

func decodeBalanceRequest(_ context.Context, r *http.Request) (any, error) {
	q, err := parseQuery(r, "as_of")
	if err != nil {
		return nil, err
	}
	at, err := q.asOf()
	if err != nil {
		return nil, err
	}
	return balanceRequest{Code: r.PathValue("code"), AsOf: at}, nil
}

func decodeStatementRequest(_ context.Context, r *http.Request) (any, error) {
	q, err := parseQuery(r, "from", "to", "cursor", "limit")
	if err != nil {
		return nil, err
	}
	sq := ledger.StatementQuery{Account: r.PathValue("code"), Cursor: q.str("cursor")}
	if sq.From, err = q.date("from"); err != nil {
		return nil, err
	}
	if sq.To, err = q.date("to"); err != nil {
		return nil, err
	}
	if !sq.From.IsZero() && !sq.To.IsZero() && sq.To.Before(sq.From) {
		return nil, errs.Field("to", "%s is before from (%s)", sq.To, sq.From)
	}
	if sq.Limit, err = q.limit(defaultLimit); err != nil {
		return nil, err
	}
	return statementRequest{Query: sq}, nil
}

func decodeGetEntryRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	id, err := entryID(r)
	if err != nil {
		return nil, err
	}
	return getEntryRequest{ID: id}, nil
}

func decodePostEntryRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	var b entryBody
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	return postEntryRequest{Entry: b.newEntry()}, nil
}

func decodeReverseEntryRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	id, err := entryID(r)
	if err != nil {
		return nil, err
	}
	var b reversalBody
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	return reverseEntryRequest{Reversal: ledger.Reversal{
		EntryID:        id,
		IdempotencyKey: b.IdempotencyKey,
		EffectiveDate:  ledger.Date(b.EffectiveDate),
		Reason:         b.Reason,
	}}, nil
}

func decodeTrialBalanceRequest(_ context.Context, r *http.Request) (any, error) {
	q, err := parseQuery(r, "as_of")
	if err != nil {
		return nil, err
	}
	at, err := q.asOf()
	if err != nil {
		return nil, err
	}
	return trialBalanceRequest{AsOf: at}, nil
}

func decodeVerifyRequest(_ context.Context, r *http.Request) (any, error) {
	q, err := parseQuery(r, "full")
	if err != nil {
		return nil, err
	}
	var full bool
	switch v := q.str("full"); v {
	case "", "false":
	case "true":
		full = true
	default:
		return nil, errs.Field("full", "%q is not true or false", v)
	}
	return verifyRequest{Full: full}, nil
}

func decodeSealRequest(_ context.Context, r *http.Request) (any, error) {
	if _, err := parseQuery(r); err != nil {
		return nil, err
	}
	var b sealBody
	if err := decodeBody(r, &b); err != nil {
		return nil, err
	}
	return sealRequest(b), nil
}
