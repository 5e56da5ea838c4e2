package httptransport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-kit/kit/endpoint"
	kithttp "github.com/go-kit/kit/transport/http"
	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/internal/jsonstrict"
	"github.com/ofii/allowances/ledger"
)

// decodeBody reads r's body, one JSON value, into v with the one strict
// decoder (jsonstrict.DecodeBody). It refuses a body declared as anything
// but JSON (415), or not declared at all. Every failure is an *errs.Error
// naming the field or the position at fault. The body's size is capped by
// the observer's http.MaxBytesReader.
func decodeBody(r *http.Request, v any) error {
	ct := r.Header.Get("Content-Type")
	if ct != "" {
		if err := checkJSONType(ct); err != nil {
			return err
		}
	}
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return bodyError(err)
	}
	if ct == "" && len(bytes.TrimSpace(data)) > 0 {
		return unsupportedType("is missing: the body is JSON, declared as application/json")
	}
	return jsonstrict.DecodeBody(data, v)
}

// checkJSONType refuses a Content-Type other than application/json, whose
// only charset may be UTF-8.
func checkJSONType(ct string) error {
	mt, params, err := mime.ParseMediaType(ct)
	switch {
	case err != nil:
		return unsupportedType("%q is not a media type: the body is JSON, declared as application/json", ct)
	case mt != "application/json":
		return unsupportedType("%q is not application/json: the body of this route is JSON", ct)
	case params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8"):
		return unsupportedType("charset %q: JSON bodies are UTF-8", params["charset"])
	}
	return nil
}

// unsupportedType is the error of a body of a type the route does not
// take, which names the Content-Type header.
func unsupportedType(format string, args ...any) error {
	return &errs.Error{Code: errs.Unsupported, Field: "Content-Type", Message: fmt.Sprintf(format, args...)}
}

// bodyError explains a failure to read a body: too large (413), or cut
// short.
func bodyError(err error) error {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return &errs.Error{Code: errs.TooLarge, Field: "body", Message: fmt.Sprintf("larger than the limit of %d bytes", tooLarge.Limit)}
	case errors.Is(err, io.EOF):
		return errs.Field("body", "empty; a JSON object is expected")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errs.Field("body", "invalid JSON: it ends before the value is complete")
	}
	return errs.Field("body", "%v", err)
}

// The types whose failures jsonstrict explains in their own words: a
// failure of jsonDecimal or jsonDate is a *json.UnmarshalTypeError of one
// of them, to which encoding/json adds the field's path.
var (
	decimalType = reflect.TypeFor[decimal.Decimal]()
	dateType    = reflect.TypeFor[ledger.Date]()
)

// jsonDecimal reads an amount given as a JSON string ("125.40") or number
// (125.40) in the one form ledger.ParseAmount reads: no exponent ("1e3"),
// at most two decimals. A failure is a *json.UnmarshalTypeError, to which
// encoding/json adds the field's path.
type jsonDecimal decimal.Decimal

func (d *jsonDecimal) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	s, shown := string(b), string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return &json.UnmarshalTypeError{Value: "string", Type: decimalType}
		}
	}
	v, err := ledger.ParseAmount("amount", s)
	if err != nil {
		return &json.UnmarshalTypeError{Value: shown, Type: decimalType}
	}
	*d = jsonDecimal(v)
	return nil
}

// jsonDate reads a date "YYYY-MM-DD" or null, failing as jsonDecimal does.
type jsonDate ledger.Date

func (d *jsonDate) UnmarshalJSON(b []byte) error {
	var v ledger.Date
	if err := v.UnmarshalJSON(b); err != nil {
		return &json.UnmarshalTypeError{Value: string(b), Type: dateType}
	}
	*d = jsonDate(v)
	return nil
}

// pendingRequest is a request not decoded yet: the route's decoder runs
// inside the endpoint middlewares (decoded), after authentication, so that
// nobody's body is read, nor their mistakes answered, before they are
// known.
type pendingRequest struct {
	r         *http.Request
	dec       kithttp.DecodeRequestFunc
	wildcards []string
}

// deferDecoding is the kithttp.DecodeRequestFunc of a route of pattern: it
// hands dec and the request to decoded, the innermost middleware.
func deferDecoding(pattern string, dec kithttp.DecodeRequestFunc) kithttp.DecodeRequestFunc {
	var wildcards []string
	for rest := pattern; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			break
		}
		wildcards = append(wildcards, strings.TrimSuffix(rest[i+1:i+j], "..."))
		rest = rest[i+j+1:]
	}
	return func(_ context.Context, r *http.Request) (any, error) {
		return pendingRequest{r: r, dec: dec, wildcards: wildcards}, nil
	}
}

// decoded decodes a pendingRequest and calls e with it. It first refuses a
// path wildcard or a query parameter whose text is not UTF-8 or holds a
// NUL, naming it: what the stores would be asked to look up could not be
// text.
func decoded(e endpoint.Endpoint) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		p, ok := request.(pendingRequest)
		if !ok {
			return e(ctx, request)
		}
		if err := checkURLText(p.r, p.wildcards); err != nil {
			return nil, err
		}
		req, err := p.dec(ctx, p.r)
		if err != nil {
			return nil, err
		}
		return e(ctx, req)
	}
}

func checkURLText(r *http.Request, wildcards []string) error {
	for _, name := range wildcards {
		if err := ledger.CheckText(name, r.PathValue(name)); err != nil {
			return err
		}
	}
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return errs.Field("query", "malformed query string")
	}
	for _, name := range slices.Sorted(maps.Keys(v)) {
		if err := ledger.CheckText("query", name); err != nil {
			return err
		}
		for _, s := range v[name] {
			if err := ledger.CheckText(name, s); err != nil {
				return err
			}
		}
	}
	return nil
}

// query is a request's query string, checked against the parameters a route
// accepts, so that a misspelt parameter is an error rather than ignored.
type query struct{ v url.Values }

func parseQuery(r *http.Request, accepted ...string) (query, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return query{}, errs.Field("query", "malformed query string")
	}
	for name, vals := range v {
		known := false
		for _, a := range accepted {
			known = known || a == name
		}
		if !known {
			if len(accepted) == 0 {
				return query{}, errs.Field(name, "unknown query parameter; this route takes none")
			}
			return query{}, errs.Field(name, "unknown query parameter (want %s)", strings.Join(accepted, ", "))
		}
		if len(vals) > 1 {
			return query{}, errs.Field(name, "given %d times", len(vals))
		}
	}
	return query{v}, nil
}

func (q query) str(name string) string { return q.v.Get(name) }

// limit reads a page size between 1 and maxLimit, def when absent.
func (q query) limit(def int) (int, error) {
	s := q.v.Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxLimit {
		return 0, errs.Field("limit", "must be between 1 and %d", maxLimit)
	}
	return n, nil
}

// date reads an optional date parameter.
func (q query) date(name string) (ledger.Date, error) {
	s := q.v.Get(name)
	if s == "" {
		return ledger.Date{}, nil
	}
	d, err := ledger.ParseDate(s)
	if err != nil {
		return ledger.Date{}, errs.Field(name, "%q is not a date (YYYY-MM-DD)", s)
	}
	return d, nil
}

// asOf reads ?as_of=: a date (the books at the end of that day) or an
// RFC 3339 time (what the ledger knew then); absent means now.
func (q query) asOf() (ledger.AsOf, error) {
	s := q.v.Get("as_of")
	if s == "" {
		return ledger.AsOf{}, nil
	}
	if d, err := ledger.ParseDate(s); err == nil {
		return ledger.AsOf{Date: d}, nil
	}
	// An unescaped '+' of a time zone offset arrives as a space.
	if t, err := time.Parse(time.RFC3339Nano, strings.Replace(s, " ", "+", 1)); err == nil {
		return ledger.AsOf{Time: t}, nil
	}
	return ledger.AsOf{}, errs.Field("as_of", "%q is not a date (YYYY-MM-DD) or a time (RFC 3339)", s)
}

// entryID reads the {id} path segment.
func entryID(r *http.Request) (uuid.UUID, error) {
	s := r.PathValue("id")
	id, err := uuid.Parse(s)
	if err != nil {
		return uuid.UUID{}, errs.Field("id", "%q is not a UUID", s)
	}
	return id, nil
}
