// Package jsonstrict decodes JSON documents written by people: one value,
// no unknown field, UTF-8 only, with errors that name the field or the line
// and column at fault.
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

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

// Decode decodes data, which must hold exactly one JSON value, into
// v, a non-nil pointer. Unknown fields and data after the value are
// rejected. A failure is an errs.Error (code Invalid) that names the field
// at fault as a path such as "lines[1].amount", or gives the line and column
// of a syntax error, so that a person can find the mistake in the file.
// Bytes that are not UTF-8, which encoding/json would silently replace, are
// an error too.
func Decode(data []byte, v any) error {
	if !utf8.Valid(data) {
		line, col := position(data, int64(ledger.InvalidUTF8At(data)))
		return errs.E(errs.Invalid, "the input is not UTF-8 text: the byte at line %d, column %d is not", line, col)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	var syntax *json.SyntaxError
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		return errs.E(errs.Invalid, "the input holds no JSON value")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errs.E(errs.Invalid, "the JSON value is cut short at the end of the input")
	case errors.As(err, &syntax):
		// Offset counts the bytes read, the bad one included.
		line, col := position(data, syntax.Offset-1)
		return errs.E(errs.Invalid, "invalid JSON at line %d, column %d: %s", line, col, strings.TrimPrefix(syntax.Error(), "json: "))
	default:
		// The decoder names neither the index of an array element nor the
		// field whose own decoder failed (a date, an amount); find them.
		if path, msg, ok := locate(data, reflect.TypeOf(v).Elem(), ""); ok {
			if path == "" {
				return errs.E(errs.Invalid, "the input %s", msg)
			}
			return errs.Field(path, "%s", msg)
		}
		return errs.E(errs.Invalid, "%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		rest := data[end:]
		line, col := position(data, end+int64(len(rest)-len(bytes.TrimLeft(rest, " \t\r\n"))))
		return errs.E(errs.Invalid, "unexpected data after the JSON value at line %d, column %d", line, col)
	}
	return nil
}

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
