package reconcile_test

import (
	"encoding/json"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/reconcile"
)

// TestAgeBucketJSON: a bucket of payments in transit keeps its ages in
// JSON, and reads back the same.
func TestAgeBucketJSON(t *testing.T) {
	b := reconcile.AgeBucket{Ages: "3-5", Count: reconcile.Count{Count: 2, Sum: decimal.RequireFromString("724.2")}}
	raw, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(raw) != `{"ages":"3-5","count":2,"sum":"724.20"}` {
		t.Errorf("JSON = %s", raw)
	}
	var back reconcile.AgeBucket
	if err := json.Unmarshal(raw, &back); err != nil || back.Ages != "3-5" || back.Count.Count != 2 || !back.Sum.Equal(b.Sum) {
		t.Errorf("read back = %+v (%v)", back, err)
	}
}
