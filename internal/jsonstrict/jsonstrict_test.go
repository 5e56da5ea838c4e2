package jsonstrict_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/internal/jsonstrict"
)

type line struct {
	Account string `json:"account"`
	Amount  int    `json:"amount"`
}

type doc struct {
	Description string            `json:"description"`
	Metadata    map[string]string `json:"metadata"`
	Lines       []line            `json:"lines"`
}

// check fails unless err is an invalid *errs.Error of field whose message
// holds msg.
func check(t *testing.T, err error, code errs.Code, field, msg string) {
	t.Helper()
	var e *errs.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *errs.Error", err, err)
	}
	if e.Code != code || e.Field != field || !strings.Contains(e.Message, msg) {
		t.Errorf("got code %q field %q message %q; want %q, field %q, message with %q", e.Code, e.Field, e.Message, code, field, msg)
	}
}

func TestDecodeFile(t *testing.T) {
	for _, tc := range []struct {
		name, in, field, msg string
	}{
		{"UnknownField", `{"lines":[{"account":"a"},{"acount":"b"}]}`, "lines[1].acount", "unknown field"},
		{"WrongType", `{"description": 12}`, "description", "must be a string, not a JSON number"},
		{"MetadataValue", `{"metadata":{"programme":303}}`, "metadata.programme", "must be a string"},
		{"ElementType", `{"lines":[{"amount":1},{"amount":"x"}]}`, "lines[1].amount", "must be a whole number"},
		{"Syntax", "{\n  \"description\": \"x\",\n  ]\n}", "", "line 3, column 3"},
		{"CutShort", `{"description": "x"`, "", "cut short"},
		{"Empty", ``, "", "no JSON value"},
		{"Trailing", "{}\n {}", "", "after the JSON value at line 2, column 2"},
		{"NotUTF8", "{\n  \"description\": \"caf\xe9\"\n}", "", "not UTF-8 text: the byte at line 2, column 22"},
		{"LoneSurrogate", `{"description": "\ud83d"}`, "", "line 1, column 18 is half of a UTF-16 surrogate pair"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d doc
			check(t, jsonstrict.Decode([]byte(tc.in), &d), errs.Invalid, tc.field, tc.msg)
		})
	}
}

func TestDecodeBody(t *testing.T) {
	for _, tc := range []struct {
		name, in, field, msg string
	}{
		{"UnknownField", `{"colour":"x"}`, "colour", "unknown field"},
		{"WrongType", `{"description": 12}`, "description", "must be a string, not number"},
		{"NotAnObject", `[1]`, "body", "must be an object, not array"},
		{"Syntax", `{"description": x}`, "body", "invalid JSON at offset 17"},
		{"CutShort", `{"description": "x"`, "body", "invalid JSON: it ends before the value is complete"},
		{"Empty", ``, "body", "empty; a JSON object is expected"},
		{"Trailing", `{} {}`, "body", "unexpected data after the JSON value"},
		{"NotUTF8", "{\"description\": \"caf\xe9\"}", "body", "the byte at offset 20 is not"},
		{"LoneSurrogate", `{"description": "\udc00"}`, "body", "the escape at offset 17 is half of a UTF-16 surrogate pair"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d doc
			check(t, jsonstrict.DecodeBody([]byte(tc.in), &d), errs.Invalid, tc.field, tc.msg)
		})
	}
	t.Run("SurrogatePair", func(t *testing.T) {
		var d doc
		if err := jsonstrict.DecodeBody([]byte(`{"description":"\ud83d\udcb6"}`), &d); err != nil || d.Description != "💶" {
			t.Errorf("got %q, %v", d.Description, err)
		}
	})
}

func TestRead(t *testing.T) {
	if b, err := jsonstrict.Read(strings.NewReader("{}"), 2); err != nil || string(b) != "{}" {
		t.Errorf("at the limit: %q, %v", b, err)
	}
	_, err := jsonstrict.Read(strings.NewReader("{} "), 2)
	check(t, err, errs.TooLarge, "body", "larger than the limit of 2 bytes")
}
