// Package apiclient calls ledgerd's staff API under /v1 as the person whose
// bearer token it carries. The server alone decides who that person is and
// what they may do; an answer that is not a success becomes an *Error with
// the status and the API's error, so that a command line says what the API
// says.
package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/ofii/allowances/internal/errs"
)

// MaxErrorBytes bounds how much of an error answer is read.
const MaxErrorBytes = 64 << 10

// Client calls one ledgerd. Its zero value is not usable: see New.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
	agent string
}

// New returns a client of the ledgerd at base (its base URL, e.g.
// http://127.0.0.1:8080) sending token. agent names the program in the
// User-Agent header.
func New(base, token, agent string) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http or https URL", base)
	}
	// No overall timeout: a run or an import takes as long as it takes,
	// and the caller's context ends it. Connecting is bounded.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = 0
	return &Client{base: u, token: token, agent: agent, http: &http.Client{Transport: tr}}, nil
}

// Base returns the server's base URL, for messages.
func (c *Client) Base() string { return c.base.String() }

// Error is an answer of the server that is not a success: its status and
// the API's error. It unwraps to the *errs.Error, so that its code decides
// the exit status.
type Error struct {
	Status int
	Err    *errs.Error
}

// Error writes "403 Forbidden: message".
func (e *Error) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), e.Err.Error())
}

// Unwrap returns the API's error.
func (e *Error) Unwrap() error { return e.Err }

// RenameFields returns err with the field the API named replaced by the
// name the caller knows it by (e.g. "period" by "--period"); any other
// error is returned as it is.
func RenameFields(err error, names map[string]string) error {
	var e *Error
	if !errors.As(err, &e) || e.Err.Field == "" {
		return err
	}
	if to, ok := names[e.Err.Field]; ok {
		c := *e.Err
		c.Field = to
		return &Error{Status: e.Status, Err: &c}
	}
	return err
}

// UnreachableError is a request that got no answer: the server could not be
// reached, or the connection was lost before it answered. Sent tells which:
// when true the request may have been carried out.
type UnreachableError struct {
	Server string
	Sent   bool
	Err    error
}

// Error names the server and what happened.
func (e *UnreachableError) Error() string {
	if e.Sent {
		return fmt.Sprintf("the connection to ledgerd at %s was lost before it answered: %v", e.Server, e.Err)
	}
	return fmt.Sprintf("cannot reach ledgerd at %s (set LEDGER_URL or --server): %v", e.Server, e.Err)
}

// Unwrap returns the transport's error.
func (e *UnreachableError) Unwrap() error { return e.Err }

// Get reads path with the query q into out (JSON).
func (c *Client) Get(ctx context.Context, path string, q url.Values, out any) error {
	return c.Do(ctx, http.MethodGet, path, q, "", nil, out)
}

// Post sends body (nil: no body) as JSON to path and reads the answer into
// out (nil: discarded).
func (c *Client) Post(ctx context.Context, path string, q url.Values, body, out any) error {
	if body == nil {
		return c.Do(ctx, http.MethodPost, path, q, "", nil, out)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("encode the request to %s: %w", path, err)
	}
	return c.Do(ctx, http.MethodPost, path, q, "application/json", bytes.NewReader(b), out)
}

// Do sends a request with body of contentType and decodes a JSON answer
// into out; out may also be an io.Writer, which receives the answer's bytes
// as they are.
func (c *Client) Do(ctx context.Context, method, path string, q url.Values, contentType string, body io.Reader, out any) error {
	resp, err := c.send(ctx, method, path, q, contentType, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch o := out.(type) {
	case nil:
		_, err = io.Copy(io.Discard, resp.Body)
	case io.Writer:
		_, err = io.Copy(o, resp.Body)
	default:
		dec := json.NewDecoder(resp.Body)
		dec.UseNumber()
		err = dec.Decode(out)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &UnreachableError{Server: c.Base(), Sent: true, Err: fmt.Errorf("read the answer of %s %s: %w", method, path, err)}
	}
	return nil
}

// send sends the request and returns a successful response, or the error
// the server answered.
func (c *Client) send(ctx context.Context, method, path string, q url.Values, contentType string, body io.Reader) (*http.Response, error) {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.agent)
	// A request written whole may have been carried out, even when no
	// answer came back.
	var sent atomic.Bool
	req = req.WithContext(httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(i httptrace.WroteRequestInfo) { sent.Store(i.Err == nil) },
	}))
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &UnreachableError{Server: c.Base(), Sent: sent.Load(), Err: unwrapURL(err)}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, decodeError(resp)
}

// decodeError reads the API's error of a failed answer.
func decodeError(resp *http.Response) error {
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBytes))
	var body struct {
		Error struct {
			Code    errs.Code `json:"code"`
			Message string    `json:"message"`
			Field   string    `json:"field"`
		} `json:"error"`
	}
	e := &errs.Error{Code: codeOfStatus(resp.StatusCode)}
	if json.Unmarshal(raw, &body) == nil && body.Error.Message != "" {
		// The API's message starts with the field it names: keep it once.
		e.Message, e.Field = body.Error.Message, body.Error.Field
		if e.Field != "" {
			e.Message = strings.TrimPrefix(e.Message, e.Field+": ")
		}
		if body.Error.Code != "" {
			e.Code = body.Error.Code
		}
	} else {
		e.Message = strings.TrimSpace(string(raw))
		if e.Message == "" {
			e.Message = "no reason given"
		}
	}
	return &Error{Status: resp.StatusCode, Err: e}
}

// codeOfStatus is the error code of a status, for an answer without the
// API's error body (a proxy's, say).
func codeOfStatus(status int) errs.Code { return errs.CodeOfHTTPStatus(status) }

// unwrapURL drops the *url.Error around a transport error, whose text
// repeats the method and the whole URL.
func unwrapURL(err error) error {
	var u *url.Error
	if errors.As(err, &u) {
		return u.Err
	}
	return err
}
