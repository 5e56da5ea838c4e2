package bank

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-kit/kit/endpoint"
	httptransport "github.com/go-kit/kit/transport/http"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ofii/allowances/internal/mask"
	"github.com/ofii/allowances/ledger"
)

// HTTPConfig configures an HTTPGateway.
type HTTPConfig struct {
	// Name names the bank in logs (default "bank"); the breakers are named
	// Name/submit, Name/reports and Name/statements.
	Name string
	// BaseURL is the root of the bank's API: https://bank.example/api.
	BaseURL string
	// Token, when set, is sent as a bearer token.
	Token string
	// Timeout bounds one attempt (default 10s).
	Timeout time.Duration
	// Retries is the number of attempts of one call, the first included
	// (default 3; 1 never retries).
	Retries int
	// BackoffBase is the wait before the first retry, doubled at each next
	// one up to BackoffMax, half of it random (defaults 200ms and 5s).
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// Breaker sets the circuit breaker of each endpoint.
	Breaker BreakerConfig
	// HTTPClient sends the requests (default a client without timeout: the
	// per-attempt Timeout bounds each request).
	HTTPClient *http.Client
}

func (c HTTPConfig) withDefaults() HTTPConfig {
	if c.Name == "" {
		c.Name = "bank"
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.Retries <= 0 {
		c.Retries = 3
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = 200 * time.Millisecond
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 5 * time.Second
	}
	if c.BackoffMax < c.BackoffBase {
		c.BackoffMax = c.BackoffBase
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	c.Breaker = c.Breaker.withDefaults()
	return c
}

// The names of the gateway's endpoints, in metrics and BreakerStates.
const (
	endpointSubmit     = "submit"
	endpointReports    = "reports"
	endpointStatements = "statements"
)

// HTTPGateway is the Gateway of a bank reached over its HTTP API. Each of
// its three calls is a go-kit client endpoint wrapped, from the inside out,
// in a per-attempt timeout, a circuit breaker of its own, and retries with
// backoff.
type HTTPGateway struct {
	log        *slog.Logger
	submit     endpoint.Endpoint
	reports    endpoint.Endpoint
	statements endpoint.Endpoint
	breakers   []namedBreaker
}

var _ Gateway = (*HTTPGateway)(nil)

// NewHTTPGateway returns the gateway of the bank at cfg.BaseURL. Its metrics
// are registered on reg unless reg is nil; log may be nil.
func NewHTTPGateway(cfg HTTPConfig, log *slog.Logger, reg prometheus.Registerer) (*HTTPGateway, error) {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("bank %s: base URL %q is not an http(s) URL", cfg.Name, cfg.BaseURL)
	}
	log = log.With("bank", cfg.Name)
	g := &HTTPGateway{log: log}
	m := newMetrics()

	options := []httptransport.ClientOption{httptransport.SetClient(cfg.HTTPClient)}
	if cfg.Token != "" {
		bearer := "Bearer " + cfg.Token
		options = append(options, httptransport.ClientBefore(func(ctx context.Context, r *http.Request) context.Context {
			r.Header.Set("Authorization", bearer)
			return ctx
		}))
	}
	wrap := func(name string, e endpoint.Endpoint) endpoint.Endpoint {
		cb := newBreaker(cfg.Name+"/"+name, cfg.Breaker, log)
		g.breakers = append(g.breakers, namedBreaker{endpoint: name, cb: cb})
		e = redactURLMiddleware(e)
		e = timeoutMiddleware(cfg.Timeout)(e)
		e = breakerMiddleware(cb)(e)
		e = m.instrumentMiddleware(name)(e)
		return retryMiddleware(cb.Name(), cfg.Retries, backoff{cfg.BackoffBase, cfg.BackoffMax}, log)(e)
	}
	g.submit = wrap(endpointSubmit, httptransport.NewClient(http.MethodPost,
		base.JoinPath("v1", "files"), encodeSubmit, decodeSubmit, options...).Endpoint())
	g.reports = wrap(endpointReports, httptransport.NewClient(http.MethodGet,
		base.JoinPath("v1", "files"), encodeReports, decodeDocuments, options...).Endpoint())
	g.statements = wrap(endpointStatements, httptransport.NewClient(http.MethodGet,
		base.JoinPath("v1", "statements"), encodeStatements, decodeDocuments, options...).Endpoint())

	m.breakers.breakers = g.breakers
	if reg != nil {
		if err := m.register(reg); err != nil {
			return nil, fmt.Errorf("bank %s: register metrics: %w", cfg.Name, err)
		}
	}
	return g, nil
}

// BreakerStates returns the state of each endpoint's breaker ("closed",
// "half-open" or "open") by endpoint: submit, reports, statements.
func (g *HTTPGateway) BreakerStates() map[string]string {
	states := make(map[string]string, len(g.breakers))
	for _, b := range g.breakers {
		states[b.endpoint] = b.cb.State().String()
	}
	return states
}

// SubmitFile sends f's bytes. A bank that already has f.MsgId answers DU01,
// which comes back as a Receipt with Duplicate set. f.SHA256 is computed when
// empty and must match the bytes otherwise.
func (g *HTTPGateway) SubmitFile(ctx context.Context, f File) (Receipt, error) {
	if f.MsgID == "" {
		return Receipt{}, errors.New("submit file: the file has no MsgId")
	}
	if len(f.Bytes) == 0 {
		return Receipt{}, fmt.Errorf("submit file %s: the file is empty", f.MsgID)
	}
	sum := sha256.Sum256(f.Bytes)
	digest := hex.EncodeToString(sum[:])
	if f.SHA256 != "" && !strings.EqualFold(f.SHA256, digest) {
		return Receipt{}, fmt.Errorf("submit file %s: its SHA256 does not match its bytes", f.MsgID)
	}
	f.SHA256 = digest
	response, err := g.submit(ctx, f)
	if err != nil {
		return Receipt{}, fmt.Errorf("submit file %s: %w", f.MsgID, err)
	}
	r := response.(Receipt)
	if r.MsgID == "" {
		r.MsgID = f.MsgID
	}
	if r.MsgID != f.MsgID {
		return Receipt{}, fmt.Errorf("submit file %s: the bank acknowledged MsgId %q", f.MsgID, r.MsgID)
	}
	g.log.Info("bank file submitted", "msg_id", f.MsgID, "bytes", len(f.Bytes), "duplicate", r.Duplicate)
	return r, nil
}

// StatusReports returns the pain.002 reports the bank has for msgID, oldest
// first. An unknown MsgId is a Refusal with code NOTFOUND.
func (g *HTTPGateway) StatusReports(ctx context.Context, msgID string) ([]Document, error) {
	if msgID == "" {
		return nil, errors.New("status reports: no MsgId")
	}
	response, err := g.reports(ctx, reportsRequest{msgID: msgID})
	if err != nil {
		return nil, fmt.Errorf("status reports of %s: %w", msgID, err)
	}
	return response.([]Document), nil
}

// Statements returns the camt.053 statements of iban for day.
func (g *HTTPGateway) Statements(ctx context.Context, iban string, day ledger.Date) ([]Document, error) {
	if iban == "" || day.IsZero() {
		return nil, errors.New("statements: an IBAN and a day are needed")
	}
	response, err := g.statements(ctx, statementsRequest{iban: iban, day: day})
	if err != nil {
		return nil, fmt.Errorf("statements of %s on %s: %w", mask.MaskIBAN(iban), day, err)
	}
	return response.([]Document), nil
}

type reportsRequest struct{ msgID string }

type statementsRequest struct {
	iban string
	day  ledger.Date
}

func encodeSubmit(_ context.Context, r *http.Request, request any) error {
	f := request.(File)
	r.Header.Set("Content-Type", "application/xml")
	r.Header.Set("X-Msg-Id", f.MsgID)
	r.Header.Set("X-Content-Sha256", f.SHA256)
	r.Body = io.NopCloser(bytes.NewReader(f.Bytes))
	r.ContentLength = int64(len(f.Bytes))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(f.Bytes)), nil }
	return nil
}

func encodeReports(_ context.Context, r *http.Request, request any) error {
	req := request.(reportsRequest)
	r.URL = r.URL.JoinPath(url.PathEscape(req.msgID), "reports")
	r.Header.Set("Accept", "application/json")
	return nil
}

func encodeStatements(_ context.Context, r *http.Request, request any) error {
	req := request.(statementsRequest)
	r.URL.RawQuery = url.Values{"iban": {req.iban}, "date": {req.day.String()}}.Encode()
	r.Header.Set("Accept", "application/json")
	return nil
}

// receiptJSON is the bank's answer to a file it took.
type receiptJSON struct {
	MsgID      string    `json:"msg_id"`
	ReceivedAt time.Time `json:"received_at"`
}

// documentJSON is one report or statement as the bank lists it.
type documentJSON struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	XML       string    `json:"xml"`
}

// problemJSON is the body of the bank's 4xx and 5xx answers.
type problemJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// The most a decoder reads of an answer: documents can be large statements.
const (
	maxDocumentsBytes = 1 << 30
	maxProblemBytes   = 64 << 10
)

func decodeSubmit(_ context.Context, resp *http.Response) (any, error) {
	switch {
	case resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusOK:
		var rj receiptJSON
		if err := json.NewDecoder(io.LimitReader(resp.Body, maxProblemBytes)).Decode(&rj); err != nil {
			return nil, fmt.Errorf("read the bank's receipt: %w", err)
		}
		return Receipt{MsgID: rj.MsgID, ReceivedAt: rj.ReceivedAt}, nil
	case resp.StatusCode == http.StatusConflict:
		err := answerError(resp)
		if r, ok := err.(*Refusal); ok && r.Code == "DU01" {
			return Receipt{Duplicate: true}, nil
		}
		return nil, err
	default:
		return nil, answerError(resp)
	}
}

func decodeDocuments(_ context.Context, resp *http.Response) (any, error) {
	if resp.StatusCode != http.StatusOK {
		return nil, answerError(resp)
	}
	var list []documentJSON
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxDocumentsBytes)).Decode(&list); err != nil {
		return nil, fmt.Errorf("read the bank's document list: %w", err)
	}
	docs := make([]Document, 0, len(list))
	for _, d := range list {
		docs = append(docs, Document{ID: d.ID, CreatedAt: d.CreatedAt, Bytes: []byte(d.XML)})
	}
	return docs, nil
}

// answerError turns an answer other than success into a Refusal (4xx but
// 429: the bank declined) or a failure (5xx, 429, anything else).
func answerError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxProblemBytes))
	var p problemJSON
	if json.Unmarshal(body, &p) != nil || (p.Code == "" && p.Message == "") {
		p = problemJSON{Message: strings.TrimSpace(string(body))}
	}
	p.Message = mask.MaskIBANsIn(p.Message)
	if len(p.Message) > 500 {
		p.Message = p.Message[:500] + "..."
	}
	if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
		if p.Code == "" {
			p.Code = fmt.Sprintf("HTTP%d", resp.StatusCode)
		}
		return &Refusal{Status: resp.StatusCode, Code: p.Code, Message: p.Message}
	}
	msg := p.Message
	if p.Code != "" {
		msg = strings.TrimSuffix(p.Code+": "+msg, ": ")
	}
	return &failure{status: resp.StatusCode, message: msg}
}

// redactURLMiddleware drops the query from the URL that net/http puts in its
// errors: the statements' query holds an IBAN, which must not reach a log.
func redactURLMiddleware(next endpoint.Endpoint) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		response, err := next(ctx, request)
		if ue, ok := err.(*url.Error); ok {
			if i := strings.IndexByte(ue.URL, '?'); i >= 0 {
				redacted := *ue
				redacted.URL = ue.URL[:i] + "?..."
				err = &redacted
			}
		}
		return response, err
	}
}
