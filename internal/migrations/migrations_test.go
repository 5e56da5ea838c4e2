package migrations_test

import (
	"context"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

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

// TestEveryMigrationRunsAgain: a migration stopped part-way (as
// CockroachDB, which applies schema changes outside transactions, may leave
// one) is finished by running it again. Every migration is run a second
// time over the schema it made: each statement takes what is there already,
// and the schema ends the same.
func TestEveryMigrationRunsAgain(t *testing.T) {
	pool, _ := dbtest.MustOpen(t)
	ctx := context.Background()
	before := schemaOf(t, pool)
	if _, err := pool.Exec(ctx, "DELETE FROM goose_db_version WHERE version_id > 0"); err != nil {
		t.Fatal(err)
	}
	res, err := migrations.Up(ctx, pool, nil)
	if err != nil {
		t.Fatalf("running the migrations again: %v", err)
	}
	if len(res) == 0 {
		t.Fatal("no migration ran again")
	}
	after := schemaOf(t, pool)
	if !slices.Equal(before, after) {
		t.Errorf("the schema changed when the migrations ran again:\nbefore %v\nafter  %v", before, after)
	}
	var heads int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM seal_head").Scan(&heads); err != nil || heads != 1 {
		t.Errorf("seal_head has %d rows (%v), want 1", heads, err)
	}
}

// schemaOf lists the columns, indexes and constraints of the public schema.
func schemaOf(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '')
		  FROM information_schema.columns WHERE table_schema = 'public'
		UNION ALL
		SELECT 'index ' || indexdef FROM pg_catalog.pg_indexes WHERE schemaname = 'public'
		UNION ALL
		SELECT 'constraint ' || conrelid::regclass::text || ' ' || pg_catalog.pg_get_constraintdef(oid)
		  FROM pg_catalog.pg_constraint WHERE connamespace = 'public'::regnamespace
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 50 {
		t.Fatalf("the schema has %d columns, indexes and constraints: too few to be the service's", len(out))
	}
	return out
}
