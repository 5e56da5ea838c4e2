package bench

import (
	"io"
	"strings"
	"testing"

	"github.com/ofii/allowances/payments/sepa"
	"github.com/ofii/allowances/reconcile"
)

// TestHostileFiles checks that the files of step k differ from files the
// readers accept only by what makes them hostile, and that the step finds
// both refused within the bound.
func TestHostileFiles(t *testing.T) {
	if _, err := reconcile.Check(reconcile.NewCamt053Reader(longLabelCamt053(100), reconcile.Options{})); err != nil {
		t.Fatalf("a camt.053 with a label of 100 bytes: %v", err)
	}
	_, err := sepa.ReadStatusReport(nestedPain002(3))
	if err == nil || !strings.Contains(err.Error(), "OrgnlPmtInfAndSts[1]/OrgnlPmtInfId: is missing") {
		t.Fatalf("a pain.002 of three nested blocks = %v, want refused for its missing block id, not for its depth", err)
	}
	g := nestedPain002(1000)
	if b, err := io.ReadAll(g); err != nil || int64(len(b)) != g.size() || g.read != g.size() {
		t.Fatalf("generated %d bytes, read %d, size %d (%v)", len(b), g.read, g.size(), err)
	}

	rs := (&env{prog: silent{}}).hostile()
	if len(rs) != 2 {
		t.Fatalf("%d results, want 2", len(rs))
	}
	for _, r := range rs {
		if r.Errors != 0 || !strings.HasPrefix(r.Note, "refused after") || r.N > 1<<20 {
			t.Errorf("%s: %d errors, %d bytes read: %s", r.Name, r.Errors, r.N, r.Note)
		}
		t.Logf("%s: %d bytes read, peak heap %.1f MiB, peak RSS %.1f MiB, %.3f s: %s", r.Name, r.N,
			float64(r.PeakHeapInuse)/(1<<20), float64(r.PeakRSS)/(1<<20), r.Seconds, r.Note)
	}
}
