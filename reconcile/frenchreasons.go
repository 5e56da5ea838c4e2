package reconcile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/ofii/allowances/payments/sepa"
)

// Limits of a list of French reject codes: the CFONB's list holds a few
// dozen codes, and a file far beyond is no such list.
const (
	// MaxFrenchReasonsBytes is the largest file of reject codes read.
	MaxFrenchReasonsBytes = 64 << 10
	// MaxFrenchReasonsLines is the most lines of such a file, comments
	// and blank lines included.
	MaxFrenchReasonsLines = 1000
	// MaxFrenchReasonLabel is the longest libellé of a code, in
	// characters.
	MaxFrenchReasonLabel = 140
)

// FrenchReason is what a bank's list says of one of its two-character
// reject codes: the ISO 20022 reason code it stands for, when there is one,
// and its words.
type FrenchReason struct {
	// Code is the French reject code of columns 41-42 of a CFONB 120 04
	// record, two characters 0-9 or A-Z.
	Code string
	// ISO is the ISO 20022 reason code the code stands for (one
	// sepa.IsReasonCode knows), or "" when it has none.
	ISO string
	// Label is the code's libellé, as the bank's list writes it.
	Label string
}

// FrenchReasons is the correspondence between the two-character reject
// codes of the French banks' CFONB 120 statements and ISO 20022 reason
// codes, as the operator copied it from the list their bank gave them (the
// CFONB's "Liste interbancaire des délais et codes motifs de rejet/retour",
// which the service cannot ship). The zero value and nil hold no code.
type FrenchReasons struct {
	source string // the file it was read from, for the messages
	codes  map[string]FrenchReason
}

// Lookup returns what the list says of code, and whether it holds it.
func (f *FrenchReasons) Lookup(code string) (FrenchReason, bool) {
	if f == nil {
		return FrenchReason{}, false
	}
	r, ok := f.codes[code]
	return r, ok
}

// Len returns the number of codes the list holds.
func (f *FrenchReasons) Len() int {
	if f == nil {
		return 0
	}
	return len(f.codes)
}

// Source returns the name of the file the list was read from.
func (f *FrenchReasons) Source() string {
	if f == nil {
		return ""
	}
	return f.source
}

// FrenchReasonsError is a fault of a file of reject codes: the file, the
// line (from 1, 0 for the file as a whole) and the field at fault.
type FrenchReasonsError struct {
	File   string
	Line   int
	Field  string
	Reason string
}

func (e *FrenchReasonsError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ", line %d", e.Line)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, ", field %s", e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// LoadFrenchReasons reads the file of reject codes at path
// (ParseFrenchReasons). An empty path gives nil: no list.
func LoadFrenchReasons(path string) (*FrenchReasons, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, &FrenchReasonsError{File: path, Reason: err.Error()}
	}
	defer f.Close()
	return ParseFrenchReasons(f, path)
}

// ParseFrenchReasons reads a list of French reject codes named name: UTF-8
// text (a byte order mark allowed), one `code;iso;libellé` a line, an
// optional header line `code;iso;libellé`, blank lines and `#` comments.
// The code is two characters 0-9 or A-Z, given once; iso is an ISO 20022
// reason code the service knows (sepa.IsReasonCode) or empty when the code
// has none; the libellé is 1 to MaxFrenchReasonLabel characters. A file of
// more than MaxFrenchReasonsBytes or MaxFrenchReasonsLines, a NUL or
// invalid UTF-8, or any fault of a line is an error naming the file, the
// line and the field: nothing of the file is kept.
func ParseFrenchReasons(r io.Reader, name string) (*FrenchReasons, error) {
	fail := func(line int, field, format string, args ...any) error {
		return &FrenchReasonsError{File: name, Line: line, Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	data, err := io.ReadAll(io.LimitReader(r, MaxFrenchReasonsBytes+1))
	if err != nil {
		return nil, fail(0, "", "%v", err)
	}
	if len(data) > MaxFrenchReasonsBytes {
		return nil, fail(0, "", "larger than %d bytes: a list of reject codes holds a few dozen lines", MaxFrenchReasonsBytes)
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	out := &FrenchReasons{source: name, codes: map[string]FrenchReason{}}
	first := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), MaxFrenchReasonsBytes+1)
	n, started := 0, false // started: a line other than a comment was read
	for sc.Scan() {
		n++
		if n > MaxFrenchReasonsLines {
			return nil, fail(n, "", "more than %d lines", MaxFrenchReasonsLines)
		}
		raw := sc.Bytes()
		if i := bytes.IndexByte(raw, 0); i >= 0 {
			return nil, fail(n, "", "byte 0x00 (NUL) at byte %d: not text", i+1)
		}
		if !utf8.Valid(raw) {
			return nil, fail(n, "", "not UTF-8 text (save the file as UTF-8)")
		}
		line := strings.TrimSpace(strings.TrimSuffix(string(raw), "\r"))
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Split(line, ";")
		if len(fields) != 3 {
			return nil, fail(n, "", "%d fields separated by ';', want 3: code;iso;libellé", len(fields))
		}
		code, iso, label := strings.TrimSpace(fields[0]), strings.TrimSpace(fields[1]), strings.TrimSpace(fields[2])
		header := !started && strings.EqualFold(code, "code") && strings.EqualFold(iso, "iso")
		if started = true; header {
			continue
		}
		if !isFrenchCode(code) {
			return nil, fail(n, "code", "%q is not a reject code of two characters 0-9 or A-Z", code)
		}
		if at, ok := first[code]; ok {
			return nil, fail(n, "code", "%s is given a second time (first on line %d)", code, at)
		}
		if iso != "" && !sepa.IsReasonCode(iso) {
			return nil, fail(n, "iso", "%q is not an ISO 20022 reason code the service knows (leave it empty when the code has none)", iso)
		}
		if label == "" {
			return nil, fail(n, "libellé", "is empty: write the code's words from the bank's list")
		}
		if c := utf8.RuneCountInString(label); c > MaxFrenchReasonLabel {
			return nil, fail(n, "libellé", "%d characters, at most %d", c, MaxFrenchReasonLabel)
		}
		if i := strings.IndexFunc(label, func(r rune) bool { return r < ' ' || r == 0x7f }); i >= 0 {
			return nil, fail(n, "libellé", "a control character at byte %d", i+1)
		}
		first[code] = n
		out.codes[code] = FrenchReason{Code: code, ISO: iso, Label: label}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fail(n+1, "", "line longer than %d bytes", MaxFrenchReasonsBytes)
		}
		return nil, fail(n, "", "%v", err)
	}
	if len(out.codes) == 0 {
		return nil, fail(0, "", "holds no reject code: leave CFONB_REASONS_FILE unset rather than load an empty list")
	}
	return out, nil
}

// isFrenchCode reports whether s is two characters 0-9 or A-Z.
func isFrenchCode(s string) bool {
	if len(s) != 2 {
		return false
	}
	for i := 0; i < 2; i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// bankReason translates the French reject code of a CFONB return through
// the list: the ISO code to act on ("" when the list gives none, or holds
// no such code) and the bank's code in words, for the line's BankReason.
// Without a list it returns "", "": nothing is guessed.
func (f *FrenchReasons) bankReason(code string) (iso, text string) {
	if f == nil || code == "" {
		return "", ""
	}
	r, ok := f.codes[code]
	if !ok {
		return "", code + ": not in the list of the bank's reject codes loaded (" + f.source + ")"
	}
	return r.ISO, code + ": " + r.Label
}
