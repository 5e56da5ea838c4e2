package sepa

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ofii/allowances/internal/errs"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// xsdDir holds the official schemas.
const xsdDir = "../../testdata/xsd"

// mustValidateXSD checks data against the schema xsd (a file name in
// xsdDir) with xmllint, which CI installs.
func mustValidateXSD(t *testing.T, xsd string, data []byte) {
	t.Helper()
	bin, err := exec.LookPath("xmllint")
	if err != nil {
		t.Fatal("xmllint is missing: install libxml2-utils (apt-get install -y libxml2-utils) to validate against the XSDs")
	}
	f := filepath.Join(t.TempDir(), "doc.xml")
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "--noout", "--schema", filepath.Join(xsdDir, xsd), f).CombinedOutput()
	if err != nil {
		t.Fatalf("xmllint against %s: %v\n%s", xsd, err, out)
	}
}

// golden compares got with testdata/name, or rewrites the file under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what was written (go test -update rewrites it); got:\n%s", path, got)
	}
}

// readTestdata returns the bytes of testdata/name.
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fieldOf returns the field an errs.Error in err's chain names, or "" when
// there is none.
func fieldOf(err error) string {
	var e *errs.Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}
