// Package db opens the connection pool to CockroachDB or PostgreSQL and runs
// every write transaction through one retry helper.
package db

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	pgxdecimal "github.com/jackc/pgx-shopspring-decimal"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultURL is the database used when DATABASE_URL is not set: the local
// PostgreSQL with trust authentication, database "ledger".
const DefaultURL = "postgres://root@127.0.0.1:5432/ledger?sslmode=disable"

// Open connects a pool to dsn (pool settings such as pool_max_conns go in
// its query string), creating the database first when it does not exist
// (the role must be allowed to). Whether it exists is looked up in the
// catalogue: PostgreSQL refuses a connection to a missing database, but
// CockroachDB accepts it and fails only at the first table. It checks the
// connection before returning.
func Open(ctx context.Context, dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		pgxdecimal.Register(c.TypeMap())
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", err)
	}
	err = pool.Ping(ctx)
	if err == nil {
		exists, err := databaseExists(ctx, pool)
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("connect to %s: %w", Redact(dsn), err)
		}
		if exists {
			return pool, nil
		}
	}
	pool.Close()
	var pgErr *pgconn.PgError
	// 3D000: invalid_catalog_name, the database does not exist.
	if err != nil && (!errors.As(err, &pgErr) || pgErr.Code != "3D000") {
		return nil, fmt.Errorf("connect to %s: %w", Redact(dsn), err)
	}
	if err := CreateDatabase(ctx, dsn); err != nil {
		return nil, err
	}
	pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to %s: %w", Redact(dsn), err)
	}
	return pool, nil
}

// databaseExists looks the pool's current database up in the catalogue.
func databaseExists(ctx context.Context, pool *pgxpool.Pool) (bool, error) {
	var n int
	err := pool.QueryRow(ctx, "SELECT count(*) FROM pg_catalog.pg_database WHERE datname = current_database()").Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look the database up in the catalogue: %w", err)
	}
	return n > 0, nil
}

// CreateDatabase creates the database named in dsn if it is missing, by
// connecting to the "postgres" database of the same server (CockroachDB
// accepts the same statement).
func CreateDatabase(ctx context.Context, dsn string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("parse DATABASE_URL: %w", err)
	}
	name := cfg.Database
	if name == "" {
		return errors.New("DATABASE_URL names no database")
	}
	admin := cfg.Copy()
	admin.Database = "postgres"
	for k := range admin.RuntimeParams {
		if strings.HasPrefix(k, "pool_") { // pgxpool's settings, not the server's
			delete(admin.RuntimeParams, k)
		}
	}
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect to create database %q: %w", name, err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	var pgErr *pgconn.PgError
	if err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "42P04") { // duplicate_database
		return fmt.Errorf("create database %q: %w", name, err)
	}
	return nil
}

// Redact returns dsn with any password replaced, for logs and errors.
func Redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		if strings.Contains(dsn, "password") {
			return "(connection string with a password)"
		}
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// CanCopy reports whether the pool's role may write rows with COPY, the
// fastest way to write them in bulk, by copying no row into table (columns
// cols) in a transaction it rolls back. A refusal for lack of privilege, or
// from a server that does not support it, is false; any other failure is an
// error.
func CanCopy(ctx context.Context, pool *pgxpool.Pool, table string, cols []string) (bool, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("try COPY: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(nil))
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &pgErr) && (pgErr.Code == "42501" || pgErr.Code == "0A000"): // insufficient_privilege, feature_not_supported
		return false, nil
	}
	return false, fmt.Errorf("try COPY into %s: %w", table, err)
}
