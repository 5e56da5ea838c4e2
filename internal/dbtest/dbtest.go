// Package dbtest gives tests a real, freshly migrated database on the
// PostgreSQL server named by TEST_DATABASE_URL (default: the local one).
// The tests use it as the service runs in production: as a role that is no
// superuser, may create neither databases nor roles, and owns only its
// database (Role).
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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

// Role is the role the tests' databases belong to and the tests connect
// as: LOGIN, and nothing more.
const Role = "ledger_service"

// MustOpen creates a new database for the test, owned by Role, migrates it
// as Role, and drops it when the test ends. It returns the pool and the
// database's URL, which connects as Role.
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
	if err := createOwned(ctx, name); err != nil {
		tb.Fatalf("create the test database: %v", err)
	}
	u.Path = "/" + name
	u.User = url.User(Role)
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
		dropDatabase(ctx, name)
	})
	return pool, dsn
}

// createOwned creates the database name owned by Role, creating Role first
// when it is missing, as the administrator of TEST_DATABASE_URL.
func createOwned(ctx context.Context, name string) error {
	admin, err := pgx.Connect(ctx, BaseURL())
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	var n int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_catalog.pg_roles WHERE rolname = $1", Role).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		_, err := admin.Exec(ctx, "CREATE ROLE "+pgx.Identifier{Role}.Sanitize()+" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")
		var pgErr *pgconn.PgError
		// Another test process may have created it meanwhile.
		if err != nil && !(errors.As(err, &pgErr) && (pgErr.Code == "42710" || pgErr.Code == "23505")) {
			return fmt.Errorf("create role %s: %w", Role, err)
		}
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" OWNER "+pgx.Identifier{Role}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// dropDatabase drops the database name, as the administrator.
func dropDatabase(ctx context.Context, name string) {
	admin, err := pgx.Connect(ctx, BaseURL())
	if err != nil {
		return
	}
	defer admin.Close(ctx)
	_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
}
