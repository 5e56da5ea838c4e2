// Package dbtest gives tests a real, freshly migrated database on the
// PostgreSQL server named by TEST_DATABASE_URL (default: the local one).
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/migrations"
)

// BaseURL is the server tests create their databases on.
func BaseURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://root@127.0.0.1:5432/postgres?sslmode=disable"
}

// MustOpen creates a new database for the test, migrates it, and drops it
// when the test ends. It returns the pool and the database's URL.
func MustOpen(tb testing.TB) (*pgxpool.Pool, string) {
	tb.Helper()
	ctx := context.Background()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "ledger_test_" + hex.EncodeToString(b[:])
	u, err := url.Parse(BaseURL())
	if err != nil {
		tb.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	dsn := u.String()
	pool, err := db.Open(ctx, dsn)
	if err != nil {
		tb.Fatalf("open test database: %v", err)
	}
	if _, err := migrations.Up(ctx, pool, nil); err != nil {
		pool.Close()
		tb.Fatalf("migrate test database: %v", err)
	}
	tb.Cleanup(func() {
		pool.Close()
		admin, err := pgx.Connect(ctx, BaseURL())
		if err != nil {
			return
		}
		defer admin.Close(ctx)
		_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	})
	return pool, dsn
}
