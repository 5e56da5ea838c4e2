package reconcile

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/ofii/allowances/payments/sepa"
)

func TestParseFrenchReasons(t *testing.T) {
	fr, err := LoadFrenchReasons("testdata/cfonb_reasons_example.csv")
	if err != nil {
		t.Fatal(err)
	}
	if fr.Len() != 3 || fr.Source() != "testdata/cfonb_reasons_example.csv" {
		t.Fatalf("%d codes from %q, want 3", fr.Len(), fr.Source())
	}
	for code, want := range map[string]FrenchReason{
		"04": {"04", "AC04", "Compte clos (exemple de test)"},
		"06": {"06", "MD07", "Titulaire décédé (exemple de test)"},
		"X9": {"X9", "", "Motif sans équivalent ISO (exemple de test)"},
	} {
		if got, ok := fr.Lookup(code); !ok || got != want {
			t.Errorf("%s: %+v %v, want %+v", code, got, ok, want)
		}
	}
	if _, ok := fr.Lookup("05"); ok {
		t.Error("05 is not in the list")
	}
	if nothing, err := LoadFrenchReasons(""); nothing != nil || err != nil || nothing.Len() != 0 {
		t.Errorf("no file: %v %v", nothing, err)
	}
	if _, ok := (*FrenchReasons)(nil).Lookup("04"); ok {
		t.Error("a nil list holds no code")
	}

	good := []struct{ name, text string }{
		{"no header", "04;AC04;Compte clos\n"},
		{"BOM, CRLF and comments", "\ufeffcode;iso;libellé\r\n# a comment\r\n\r\n04;AC04;Compte clos\r\n  # indented comment\r\n"},
		{"header in capitals", "CODE;ISO;LIBELLE\n04;AC04;Compte clos"},
		{"no ISO code", "X9;;Motif sans équivalent"},
		{"140 characters", "04;AC04;" + strings.Repeat("é", 140)},
		{"spaces around fields", " 04 ; AC04 ; Compte clos "},
	}
	for _, g := range good {
		if fr, err := ParseFrenchReasons(strings.NewReader(g.text), "f.csv"); err != nil || fr.Len() != 1 {
			t.Errorf("%s: %v", g.name, err)
		}
	}

	many := &bytes.Buffer{}
	for range MaxFrenchReasonsLines + 1 {
		many.WriteString("#\n")
	}
	bad := []struct {
		name, text string
		line       int
		field      string
		reason     string
	}{
		{"empty", "", 0, "", "holds no reject code"},
		{"comments only", "code;iso;libellé\n# nothing\n", 0, "", "holds no reject code"},
		{"oversize", strings.Repeat("#", MaxFrenchReasonsBytes+1), 0, "", "larger than"},
		{"too many lines", many.String(), MaxFrenchReasonsLines + 1, "", "more than"},
		{"duplicate", "04;AC04;Compte clos\n06;AC01;Compte erroné\n04;AC06;Compte bloqué\n", 3, "code", "second time (first on line 1)"},
		{"code of one character", "4;AC04;Compte clos", 1, "code", "not a reject code"},
		{"code of three characters", "004;AC04;Compte clos", 1, "code", "not a reject code"},
		{"code in lower case", "a4;AC04;Compte clos", 1, "code", "not a reject code"},
		{"code of non-ASCII letters", "é;AC04;Compte clos", 1, "code", "not a reject code"},
		{"unknown ISO code", "04;AC99;Compte clos", 1, "iso", "not an ISO 20022 reason code"},
		{"ISO code in lower case", "04;ac04;Compte clos", 1, "iso", "not an ISO 20022 reason code"},
		{"empty label", "04;AC04;", 1, "libellé", "is empty"},
		{"label too long", "04;AC04;" + strings.Repeat("x", 141), 1, "libellé", "141 characters"},
		{"tab in the label", "04;AC04;Compte\tclos", 1, "libellé", "control character"},
		{"two fields", "04;AC04", 1, "", "2 fields"},
		{"four fields", "04;AC04;Compte;clos", 1, "", "4 fields"},
		{"a header later", "04;AC04;Compte clos\ncode;iso;libellé", 2, "code", "not a reject code"},
		{"NUL", "04;AC04;Compte\x00clos", 1, "", "NUL"},
		{"binary", "04;AC04;Compte clos\n\xff\xfe\x00\x01", 2, "", "NUL"},
		{"Latin-1", "04;AC04;Compte cl\xf4tur\xe9", 1, "", "not UTF-8"},
		{"a long line", "04;AC04;" + strings.Repeat("x", MaxFrenchReasonsBytes-100), 1, "libellé", "characters, at most"},
	}
	for _, b := range bad {
		fr, err := ParseFrenchReasons(strings.NewReader(b.text), "bank.csv")
		var fe *FrenchReasonsError
		if fr != nil || !errors.As(err, &fe) || fe.File != "bank.csv" || fe.Line != b.line || fe.Field != b.field || !strings.Contains(fe.Reason, b.reason) {
			t.Errorf("%s: %v, %v; want line %d field %q %q", b.name, fr, err, b.line, b.field, b.reason)
		}
	}
	if ex, err := LoadFrenchReasons("../deploy/cfonb-reasons.example.csv"); err != nil || ex.Len() != 3 {
		t.Errorf("the example of deploy/: %v", err)
	}
	if _, err := LoadFrenchReasons("testdata/no-such-file.csv"); err == nil || !strings.Contains(err.Error(), "no-such-file.csv") {
		t.Errorf("a missing file: %v", err)
	}
}

// TestCFONBFrenchReasons reads returns whose reason is only the French
// reject code of columns 41-42 with a list of codes loaded: the list's ISO
// code becomes the reason, the bank's code and libellé are kept; an ISO
// code the bank wrote in a complement still wins; a code not in the list is
// kept as the bank gave it, and said not to be in the list. Without a list
// nothing changes.
func TestCFONBFrenchReasons(t *testing.T) {
	fr, err := LoadFrenchReasons("testdata/cfonb_reasons_example.csv")
	if err != nil {
		t.Fatal(err)
	}
	file := readTestdata(t, "cfonb_returns.txt")
	p, err := readAll(NewCFONBReader(bytes.NewReader(file), Options{FrenchReasons: fr}))
	if err != nil {
		t.Fatal(err)
	}
	lines := p.Statements[0].Lines
	want := []struct{ reason, bank string }{
		{"MS03", ""},
		{"AC04", "04: Compte clos (exemple de test)"}, // MOTIF DE REJET AC04 in a complement, 04 in columns 41-42
		{"MD07", ""},
		{"MD07", "06: Titulaire décédé (exemple de test)"}, // only 06 in columns 41-42
		{"", ""},
		{"", ""},
	}
	for i, w := range want {
		if l := lines[i]; l.ReturnReason != w.reason || l.BankReason != w.bank {
			t.Errorf("line %d: reason %q bank reason %q, want %q %q", i+1, l.ReturnReason, l.BankReason, w.reason, w.bank)
		}
	}

	// Codes not in the list, and one the list gives no ISO code.
	for code, want := range map[string]string{
		"7Z": "7Z: not in the list of the bank's reject codes loaded (testdata/cfonb_reasons_example.csv)",
		"X9": "X9: Motif sans équivalent ISO (exemple de test)",
	} {
		other := bytes.Replace(file, []byte("06050324RETOUR"), []byte(code+"050324RETOUR"), 1)
		p, err := readAll(NewCFONBReader(bytes.NewReader(other), Options{FrenchReasons: fr}))
		if err != nil {
			t.Fatal(err)
		}
		if l := p.Statements[0].Lines[3]; l.ReturnReason != code || l.BankReason != want {
			t.Errorf("%s: reason %q bank reason %q, want %q %q", code, l.ReturnReason, l.BankReason, code, want)
		}
	}

	// Without a list: the code as the bank gave it, no bank reason.
	p, err = readAll(NewCFONBReader(bytes.NewReader(file), Options{}))
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range p.Statements[0].Lines {
		if l.BankReason != "" {
			t.Errorf("line %d: bank reason %q without a list", i+1, l.BankReason)
		}
	}
	if l := p.Statements[0].Lines[3]; l.ReturnReason != "06" {
		t.Errorf("without a list: reason %q, want 06", l.ReturnReason)
	}
}

// FuzzParseFrenchReasons: whatever the file, the parser returns a list of
// valid rows or an error naming the file, never both, never a panic.
func FuzzParseFrenchReasons(f *testing.F) {
	f.Add([]byte("code;iso;libellé\n04;AC04;Compte clos\n"))
	f.Add([]byte("\ufeff# c\r\nX9;;Sans code\r\n"))
	f.Add([]byte("04;AC04;a\n04;AC01;b\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ParseFrenchReasons(bytes.NewReader(b), "f.csv")
		if (fr == nil) == (err == nil) {
			t.Fatalf("list %v and error %v", fr, err)
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.csv") {
				t.Fatalf("error %v does not name the file", err)
			}
			return
		}
		for code, r := range fr.codes {
			if !isFrenchCode(code) || r.Code != code || (r.ISO != "" && !sepa.IsReasonCode(r.ISO)) || r.Label == "" {
				t.Fatalf("row %+v", r)
			}
		}
	})
}
