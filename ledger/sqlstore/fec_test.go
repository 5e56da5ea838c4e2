package sqlstore_test

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/ledger/fec"
	"github.com/ofii/allowances/ledger/sqlstore"
)

// postFECBulk posts a bulk entry of n beneficiaries' lines, as an accrual
// does, and returns the ledger.
func postFECBulk(tb testing.TB, n int) *sqlstore.Store {
	tb.Helper()
	ctx := context.Background()
	pool, _ := dbtest.MustOpen(tb)
	s := sqlstore.New(pool)
	if err := ledger.SetUpChart(ctx, s); err != nil {
		tb.Fatal(err)
	}
	_, err := s.PostBulk(ctx, ledger.BulkEntry{IdempotencyKey: "accrual:fec:ada", EffectiveDate: ledger.NewDate(2026, 11, 5),
		Description: "ADA batch approved", Contra: ledger.ExpenseADA, ContraMemo: "batch",
		Lines: func(yield func(ledger.Line) error) error {
			for i := range n {
				if err := yield(ledger.Line{Account: ledger.SubAccount(ledger.Payable, fmt.Sprintf("B-%07d", i)),
					Amount: decimal.New(-(42000 + int64(i%1000)), -2), Memo: fmt.Sprintf("line-%d", i)}); err != nil {
					return err
				}
			}
			return nil
		}})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// TestFECOfABulkEntry: every line of a bulk entry larger than a page of
// postings is in the file once, under one entry number, and the totals
// balance.
func TestFECOfABulkEntry(t *testing.T) {
	const n = 12001 // three pages of postings and more
	s := postFECBulk(t, n)
	x, err := fec.NewExporter(s, "130003262", "")
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sum, err := x.Export(context.Background(), fec.Period{From: ledger.NewDate(2026, 11, 1), To: ledger.NewDate(2026, 11, 30)},
		func() (io.Writer, error) { return &out, nil })
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")[1:]
	var chunks int
	for _, l := range lines {
		if strings.Split(l, "\t")[4] == "6571" {
			chunks++
		}
	}
	if sum.Entries != 1 || int(sum.Lines) != len(lines) || len(lines) != n+chunks || chunks == 0 || !sum.Debit.Equal(sum.Credit) {
		t.Fatalf("summary %+v, %d lines of which %d on the expense", sum, len(lines), chunks)
	}
	seen := map[string]bool{}
	for _, l := range lines {
		f := strings.Split(l, "\t")
		if f[2] != "1" {
			t.Fatalf("EcritureNum %s", f[2])
		}
		if f[4] == "4411" {
			if seen[f[6]] {
				t.Fatalf("%s twice", f[6])
			}
			seen[f[6]] = true
		}
	}
	if len(seen) != n {
		t.Errorf("%d beneficiaries in the file, want %d", len(seen), n)
	}
}

// BenchmarkFECExport exports a bulk entry of 50,000 lines and reports the
// largest heap in use seen while the file was written (peak_heap_bytes)
// beside its size (file_bytes): the export holds a page of postings at a
// time, not the file, so the first stays far below the second.
func BenchmarkFECExport(b *testing.B) {
	const n = 50000
	s := postFECBulk(b, n)
	x, err := fec.NewExporter(s, "130003262", "")
	if err != nil {
		b.Fatal(err)
	}
	p := fec.Period{From: ledger.NewDate(2026, 11, 1), To: ledger.NewDate(2026, 11, 30)}
	var written, peak int64
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		cw := &countingWriter{}
		if _, err := x.Export(context.Background(), p, func() (io.Writer, error) { return cw, nil }); err != nil {
			b.Fatal(err)
		}
		written, peak = cw.n, max(peak, cw.peak)
	}
	b.StopTimer()
	b.ReportMetric(float64(written), "file_bytes")
	b.ReportMetric(float64(peak), "peak_heap_bytes")
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "lines/s")
}

// countingWriter counts the bytes written and notes the heap in use at
// each write (the export writes by 64 KiB).
type countingWriter struct{ n, peak int64 }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	c.peak = max(c.peak, int64(ms.HeapInuse))
	return len(p), nil
}
