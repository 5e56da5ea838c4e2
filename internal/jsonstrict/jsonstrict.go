// Package jsonstrict is the one strict JSON decoder of the service, for
// request bodies (the HTTP API, the bank simulator) and for files a person
// writes (ledgerctl's entries, the schedules): exactly one JSON value, no
// field the target does not have, text that is UTF-8 with no half of a
// UTF-16 surrogate pair (which encoding/json would silently replace), and
// a bounded size (Read). Every failure is an *errs.Error naming the field
// at fault, or where in the input the mistake is.
package jsonstrict

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

// Read reads all of r, refusing (errs.TooLarge, field "body") more than
// limit bytes.
func Read(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read the JSON input: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, &errs.Error{Code: errs.TooLarge, Field: "body", Message: fmt.Sprintf("larger than the limit of %d bytes", limit)}
	}
	return data, nil
}

// Decode decodes data, a file a person wrote, which must hold exactly one
// JSON value, into v, a non-nil pointer. A failure is an *errs.Error (code
// Invalid) that names the field at fault as a path such as
// "lines[1].amount", or gives the line and column of the mistake, so that
// a person can find it in the file.
func Decode(data []byte, v any) error {
	return decode(data, v, fileStyle{data: data, target: reflect.TypeOf(v).Elem()})
}

// DecodeBody decodes data, the body of a request, which must hold exactly
// one JSON value, into v, a non-nil pointer. A failure is an *errs.Error
// (code Invalid) that names the field at fault, or the field "body" with
// the byte offset of the mistake. A json.Unmarshaler of v may fail with a
// *FieldError to name a path of its own.
func DecodeBody(data []byte, v any) error {
	return decode(data, v, bodyStyle{})
}

// failure is what is wrong with the input as a whole.
type failure int

const (
	notUTF8       failure = iota // a byte that is not UTF-8
	loneSurrogate                // a \uXXXX escape half of a surrogate pair
	empty                        // no value
	cutShort                     // the value ends before it is complete
	badSyntax                    // not JSON
	trailing                     // something after the value
)

// style is how a failure is told: the two kinds of input are read alike,
// their failures are told in the words their readers know.
type style interface {
	// whole is a failure of the input as a whole at offset (-1: none);
	// detail is encoding/json's word on bad syntax.
	whole(f failure, offset int64, detail string) error
	// value is a failure to decode the value into its target.
	value(err error) error
}

func decode(data []byte, v any, s style) error {
	if !utf8.Valid(data) {
		return s.whole(notUTF8, int64(ledger.InvalidUTF8At(data)), "")
	}
	if at := loneSurrogateAt(data); at >= 0 {
		return s.whole(loneSurrogate, int64(at), "")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var syntax *json.SyntaxError
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		return s.whole(empty, -1, "")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return s.whole(cutShort, -1, "")
	case errors.As(err, &syntax):
		// Offset counts the bytes read, the bad one included.
		return s.whole(badSyntax, syntax.Offset-1, strings.TrimPrefix(syntax.Error(), "json: "))
	default:
		return s.value(err)
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		rest := data[end:]
		return s.whole(trailing, end+int64(len(rest)-len(bytes.TrimLeft(rest, " \t\r\n"))), "")
	}
	return nil
}

// fileStyle tells a failure by line and column, and a field by its full
// path, found by walking the input.
type fileStyle struct {
	data   []byte
	target reflect.Type
}

func (f fileStyle) whole(what failure, offset int64, detail string) error {
	line, col := position(f.data, offset)
	switch what {
	case notUTF8:
		return errs.E(errs.Invalid, "the input is not UTF-8 text: the byte at line %d, column %d is not", line, col)
	case loneSurrogate:
		return errs.E(errs.Invalid, "the escape at line %d, column %d is half of a UTF-16 surrogate pair, not a character", line, col)
	case empty:
		return errs.E(errs.Invalid, "the input holds no JSON value")
	case cutShort:
		return errs.E(errs.Invalid, "the JSON value is cut short at the end of the input")
	case trailing:
		return errs.E(errs.Invalid, "unexpected data after the JSON value at line %d, column %d", line, col)
	}
	return errs.E(errs.Invalid, "invalid JSON at line %d, column %d: %s", line, col, detail)
}

func (f fileStyle) value(err error) error {
	// The decoder names neither the index of an array element nor the
	// field whose own decoder failed (a date, an amount); find them.
	if path, msg, ok := locate(f.data, f.target, ""); ok {
		if path == "" {
			return errs.E(errs.Invalid, "the input %s", msg)
		}
		return errs.Field(path, "%s", msg)
	}
	return errs.E(errs.Invalid, "%s", strings.TrimPrefix(err.Error(), "json: "))
}

// bodyStyle tells a failure of the whole body in the field "body", with a
// byte offset, and a field by the path encoding/json or a FieldError gives.
type bodyStyle struct{}

func (bodyStyle) whole(what failure, offset int64, _ string) error {
	switch what {
	case notUTF8:
		return errs.Field("body", "is not valid UTF-8 text: the byte at offset %d is not", offset)
	case loneSurrogate:
		return errs.Field("body", "the escape at offset %d is half of a UTF-16 surrogate pair, not a character", offset)
	case empty:
		return errs.Field("body", "empty; a JSON object is expected")
	case cutShort:
		return errs.Field("body", "invalid JSON: it ends before the value is complete")
	case trailing:
		return errs.Field("body", "unexpected data after the JSON value")
	}
	// Counted as encoding/json counts: the bytes read, the bad one included.
	return errs.Field("body", "invalid JSON at offset %d", offset+1)
}

func (bodyStyle) value(err error) error {
	var (
		typ   *json.UnmarshalTypeError
		field *FieldError
	)
	switch {
	case errors.As(err, &field):
		return errs.Field(field.Path, "%s", field.Msg)
	case errors.As(err, &typ):
		path := typ.Field
		if path == "" {
			path = "body"
		}
		return errs.Field(path, "%s", typeMessage(typ))
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if n, err := strconv.Unquote(name); err == nil {
			name = n
		}
		return errs.Field(name, "unknown field")
	}
	return errs.Field("body", "%v", err)
}

// loneSurrogateAt is the offset of the first \uXXXX escape of the JSON
// text b that is a UTF-16 surrogate without its other half, which
// encoding/json would silently replace, or -1. Outside strings a valid
// JSON text has no backslash, so every backslash starts an escape.
func loneSurrogateAt(b []byte) int {
	unit := func(i int) (rune, bool) { // the \uXXXX escape at i
		if i+6 > len(b) || b[i] != '\\' || b[i+1] != 'u' {
			return 0, false
		}
		n, err := strconv.ParseUint(string(b[i+2:i+6]), 16, 16)
		return rune(n), err == nil
	}
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		r, ok := unit(i)
		switch {
		case !ok:
			i++ // a one-character escape, such as \\ or \"
		case r >= 0xD800 && r < 0xDC00:
			if lo, ok := unit(i + 6); ok && lo >= 0xDC00 && lo < 0xE000 {
				i += 11
				continue
			}
			return i
		case r >= 0xDC00 && r < 0xE000:
			return i
		default:
			i += 5
		}
	}
	return -1
}

// The types whose failures typeMessage explains in their own words.
var (
	decimalType = reflect.TypeFor[decimal.Decimal]()
	dateType    = reflect.TypeFor[ledger.Date]()
)

// typeMessage says what a value of the wrong JSON type should have been,
// in a request body's words.
func typeMessage(e *json.UnmarshalTypeError) string {
	switch e.Type {
	case decimalType:
		return e.Value + " is not an amount: digits with at most two decimals after a '.', such as \"125.40\""
	case dateType:
		return "not a date (YYYY-MM-DD)"
	}
	switch e.Type.Kind() {
	case reflect.String:
		return "must be a string, not " + e.Value
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "must be a whole number, not " + e.Value
	case reflect.Float32, reflect.Float64:
		return "must be a number, not " + e.Value
	case reflect.Bool:
		return "must be true or false, not " + e.Value
	case reflect.Slice, reflect.Array:
		return "must be an array, not " + e.Value
	case reflect.Map, reflect.Struct:
		return "must be an object, not " + e.Value
	}
	return fmt.Sprintf("cannot hold a JSON %s", e.Value)
}

// FieldError is a failure of a json.Unmarshaler whose full path is known,
// such as an element of an array, which encoding/json does not number: the
// error of a request body names Path.
type FieldError struct {
	Path, Msg string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// position returns the line and column, both from 1, of the byte at offset.
func position(data []byte, offset int64) (line, col int) {
	offset = min(max(offset, 0), int64(len(data)))
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	col = len(before) - bytes.LastIndexByte(before, '\n')
	return line, col
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// locate finds the first value of raw that cannot be decoded into a t,
// walking objects and arrays in document order, and returns its path and
// what is wrong with it; the path of the whole document is "".
func locate(raw []byte, t reflect.Type, path string) (string, string, bool) {
	for t.Kind() == reflect.Pointer && !t.Implements(unmarshalerType) {
		t = t.Elem()
	}
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return "", "", false
	}
	leaf := t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType)
	switch {
	case !leaf && t.Kind() == reflect.Struct:
		members, err := objectMembers(raw)
		if err != nil {
			return path, "must be a JSON object", true
		}
		for _, m := range members {
			sub := join(path, m.name)
			f, ok := fieldByName(t, m.name)
			if !ok {
				return sub, "unknown field", true
			}
			if p, msg, ok := locate(m.value, f.Type, sub); ok {
				return p, msg, true
			}
		}
		return "", "", false
	case !leaf && t.Kind() == reflect.Map && t.Key().Kind() == reflect.String:
		members, err := objectMembers(raw)
		if err != nil {
			return path, "must be a JSON object", true
		}
		for _, m := range members {
			if p, msg, ok := locate(m.value, t.Elem(), join(path, m.name)); ok {
				return p, msg, true
			}
		}
		return "", "", false
	case !leaf && (t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8 || t.Kind() == reflect.Array):
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			return path, "must be a JSON array", true
		}
		for i, e := range elems {
			if p, msg, ok := locate(e, t.Elem(), path+"["+strconv.Itoa(i)+"]"); ok {
				return p, msg, true
			}
		}
		return "", "", false
	}
	if err := json.Unmarshal(raw, reflect.New(t).Interface()); err != nil {
		return path, describe(err, t), true
	}
	return "", "", false
}

type member struct {
	name  string
	value json.RawMessage
}

// objectMembers returns the members of a JSON object in document order.
func objectMembers(raw []byte) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not an object")
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, member{name: tok.(string), value: v})
	}
	return out, nil
}

// fieldByName finds the struct field that encoding/json fills from the
// object key name: an exact match of its JSON name first, then a match
// ignoring case, looking into embedded structs.
func fieldByName(t reflect.Type, name string) (reflect.StructField, bool) {
	fields := jsonFields(t)
	if i := slices.IndexFunc(fields, func(f jsonField) bool { return f.name == name }); i >= 0 {
		return fields[i].field, true
	}
	if i := slices.IndexFunc(fields, func(f jsonField) bool { return strings.EqualFold(f.name, name) }); i >= 0 {
		return fields[i].field, true
	}
	return reflect.StructField{}, false
}

type jsonField struct {
	name  string
	field reflect.StructField
}

func jsonFields(t reflect.Type) []jsonField {
	var out []jsonField
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && name == "" && ft.Kind() == reflect.Struct {
			out = append(out, jsonFields(ft)...)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, jsonField{name: name, field: f})
	}
	return out
}

// describe says what is wrong with a value that failed to decode into t.
func describe(err error, t reflect.Type) string {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return fmt.Sprintf("must be %s, not a JSON %s", kindName(t), typ.Value)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "a " + t.String()
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
