package reconcile

import (
	"bytes"
	"errors"
	"regexp"
	"testing"
)

// FuzzReadCamt053 feeds the camt.053 reader arbitrary bytes: it must never
// panic, must refuse with a *FormatError, and what it accepts must balance.
//
// The seeds are the testdata samples without comments and indentation:
// the fuzzer minimizes every new input it finds interesting, which takes
// time in proportion to the input's size.
func FuzzReadCamt053(f *testing.F) {
	for _, name := range []string{"camt053_v02.xml", "camt053_v08.xml", "camt054_v08.xml"} {
		f.Add(compactXML(readTestdata(f, name)))
	}
	v02 := compactXML(readTestdata(f, "camt053_v02.xml"))
	seed, _ := replaceOnce(f, v02, `<Amt Ccy="EUR">350.00</Amt>`, `<Amt Ccy="EUR">350.001</Amt>`)
	f.Add(seed)
	seed, _ = replaceOnce(f, v02, `<Amt Ccy="EUR">148642.00</Amt>`, `<Amt Ccy="EUR">148643.00</Amt>`)
	f.Add(seed)
	f.Add(v02[:len(v02)/2])
	f.Add([]byte(`<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaa">]><Document/>`))
	f.Add([]byte(`<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt><Stmt><Id>x</Id>` +
		`<Acct><Id><IBAN>FR76</IBAN></Id></Acct></Stmt></BkToCstmrStmt></Document>`))

	f.Fuzz(func(t *testing.T, data []byte) {
		checkFuzzed(t, NewCamt053Reader(bytes.NewReader(data), Options{MaxBytes: 1 << 20, MaxDepth: 32}))
	})
}

var (
	xmlComment = regexp.MustCompile(`(?s)<!--.*?-->`)
	xmlIndent  = regexp.MustCompile(`>\s+<`)
)

// compactXML removes the comments and the white space between elements.
func compactXML(b []byte) []byte {
	return xmlIndent.ReplaceAll(xmlComment.ReplaceAll(b, nil), []byte("><"))
}

// checkFuzzed reads a file of arbitrary bytes: a refusal must be a
// *FormatError, and an accepted file must hold what readers promise.
func checkFuzzed(t *testing.T, rd Reader) {
	p, err := readAll(rd)
	if err != nil {
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Fatalf("refused with %T %v, want a *FormatError", err, err)
		}
		return
	}
	checkBalances(t, p)
	if len(p.Summary.FileSHA256) != 64 || len(p.Summary.Statements) == 0 {
		t.Fatalf("accepted with summary %+v", p.Summary)
	}
}
