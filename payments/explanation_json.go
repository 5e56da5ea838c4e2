package payments

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/ledger"
)

// AppendJSON appends e as json.Marshal writes it, byte for byte, without
// reflection: a run writes one explanation a line, and at national scale
// encoding/json's reflective path is a large share of its work. An
// explanation with a return aid computation (grants, not the ADA) is left
// to json.Marshal.
func (e Explanation) AppendJSON(b []byte) ([]byte, error) {
	if e.Return != nil {
		out, err := json.Marshal(e)
		return append(b, out...), err
	}
	b = append(b, `{"text":`...)
	b = appendJSONString(b, e.Text)
	if len(e.Segments) > 0 {
		b = append(b, `,"segments":[`...)
		for i, s := range e.Segments {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"from":`...)
			b = appendJSONDate(b, s.From)
			b = append(b, `,"to":`...)
			b = appendJSONDate(b, s.To)
			b = append(b, `,"days":`...)
			b = strconv.AppendInt(b, int64(s.Days), 10)
			b = append(b, `,"daily":`...)
			b = appendJSONAmount(b, s.Daily)
			b = append(b, `,"amount":`...)
			b = appendJSONAmount(b, s.Amount)
			b = append(b, `,"why":`...)
			b = appendJSONString(b, s.Why)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if e.Due != nil {
		b = append(b, `,"due":`...)
		b = appendJSONAmount(b, *e.Due)
	}
	if e.Paid != nil {
		b = append(b, `,"paid":`...)
		b = appendJSONAmount(b, *e.Paid)
	}
	if e.Recovery != "" {
		b = append(b, `,"recovery":`...)
		b = appendJSONString(b, e.Recovery)
	}
	return append(b, '}'), nil
}

// appendJSONAmount appends an amount as lineAmount writes it: "204.00".
func appendJSONAmount(b []byte, d decimal.Decimal) []byte {
	b = append(b, '"')
	b = append(b, d.StringFixed(2)...)
	return append(b, '"')
}

// appendJSONDate appends a date as ledger.Date writes it.
func appendJSONDate(b []byte, d ledger.Date) []byte {
	if d.IsZero() {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = d.Time().AppendFormat(b, "2006-01-02")
	return append(b, '"')
}

const jsonHex = "0123456789abcdef"

// appendJSONString appends s as encoding/json writes a string: HTML
// characters, control characters, U+2028 and U+2029 escaped, invalid UTF-8
// replaced by U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', jsonHex[c>>4], jsonHex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', jsonHex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
