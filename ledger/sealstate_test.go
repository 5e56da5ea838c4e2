package ledger

import (
	"testing"

	"github.com/shopspring/decimal"
)

// TestBalancesDigest: the digest of a set does not depend on the order its
// rows are added in, a row removed is as if never added, and any change to
// a row changes it.
func TestBalancesDigest(t *testing.T) {
	rows := []struct {
		acct string
		bal  string
		n    int64
	}{{"bank:main", "100.00", 3}, {"payable:B1", "-40.10", 1}, {"payable:B2", "-59.90", 2}}
	var a, b BalancesDigest
	for _, r := range rows {
		a.Add(r.acct, "EUR", decimal.RequireFromString(r.bal), r.n)
	}
	for i := len(rows) - 1; i >= 0; i-- {
		r := rows[i]
		b.Add(r.acct, "EUR", decimal.RequireFromString(r.bal), r.n)
	}
	if !a.Equal(&b) {
		t.Fatal("the order of the rows changes the digest")
	}
	b.Add("payable:B3", "EUR", decimal.RequireFromString("1.00"), 1)
	if a.Equal(&b) {
		t.Fatal("a row more leaves the digest alone")
	}
	b.Remove("payable:B3", "EUR", decimal.RequireFromString("1.00"), 1)
	if !a.Equal(&b) {
		t.Fatal("a row added then removed changes the digest")
	}
	for _, change := range []func(*BalancesDigest){
		func(d *BalancesDigest) { d.Add("bank:main", "EUR", decimal.RequireFromString("100.01"), 3) },
		func(d *BalancesDigest) { d.Add("bank:main", "EUR", decimal.RequireFromString("100.00"), 4) },
		func(d *BalancesDigest) { d.Add("bank:main", "USD", decimal.RequireFromString("100.00"), 3) },
		func(d *BalancesDigest) { d.Add("bank:mai", "EUR", decimal.RequireFromString("100.00"), 3) },
	} {
		c := b
		c.Remove("bank:main", "EUR", decimal.RequireFromString("100.00"), 3)
		change(&c)
		if c.Equal(&a) {
			t.Fatal("a changed row leaves the digest alone")
		}
	}
	enc := a.Bytes()
	back, err := ParseBalancesDigest(enc)
	if err != nil || !back.Equal(&a) {
		t.Fatalf("parse(bytes) = %v", err)
	}
	if _, err := ParseBalancesDigest(enc[:10]); err == nil {
		t.Fatal("a short digest is accepted")
	}
	var zero BalancesDigest
	if d, err := ParseBalancesDigest(nil); err != nil || !d.Equal(&zero) {
		t.Fatal("no bytes is not the empty set")
	}
}

func BenchmarkBalancesDigestAdd(b *testing.B) {
	var d BalancesDigest
	bal := decimal.RequireFromString("-402.17")
	for i := range b.N {
		d.Add("payable:B0001234", "EUR", bal, int64(i))
	}
}
