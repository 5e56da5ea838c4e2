package migrations_test

import (
	"context"
	"testing"

	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/internal/migrations"
)

func TestUpIsIdempotent(t *testing.T) {
	pool, _ := dbtest.MustOpen(t)
	ctx := context.Background()
	res, err := migrations.Up(ctx, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 0 {
		t.Fatalf("second Up applied %d migrations, want 0", len(res))
	}
	v, err := migrations.Version(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if v < 1 {
		t.Fatalf("version = %d, want >= 1", v)
	}
}
