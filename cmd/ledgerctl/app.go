package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ofii/allowances/internal/apiclient"
	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/config"
	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/internal/migrations"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/ledger/sqlstore"
)

// app is what the commands share: the standard streams, the global flags,
// and the settings, database pool and ledger service, each opened on first
// use and closed when the command ends.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	outputFlag  string // --output
	databaseURL string // --database-url
	serverFlag  string // --server
	tokenFlag   string // --token
	format      cli.Format
	started     bool // flags parsed and validated: a command's own code runs

	cfg    *config.Config
	log    *slog.Logger
	pool   *pgxpool.Pool
	ledger ledger.Service
	client *apiclient.Client
}

func newApp(stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) *app {
	return &app{
		stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv,
		format: cli.FormatTable,
		log:    slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

// json reports whether the output is JSON rather than a table.
func (a *app) json() bool { return a.format == cli.FormatJSON }

// config returns the settings, loaded from the environment once, with
// --database-url applied. A malformed setting is invalid input.
func (a *app) config() (config.Config, error) {
	if a.cfg != nil {
		return *a.cfg, nil
	}
	c, err := config.Load(a.getenv)
	if err != nil {
		return c, errs.E(errs.Invalid, "settings: %v", err)
	}
	if a.databaseURL != "" {
		c.DatabaseURL = a.databaseURL
	}
	a.cfg = &c
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.LogLevel)) // Load checked it
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "text" {
		a.log = slog.New(slog.NewTextHandler(a.stderr, opts))
	} else {
		a.log = slog.New(slog.NewJSONHandler(a.stderr, opts))
	}
	return c, nil
}

// connect opens the pool on first use; when migrate is set and
// AUTO_MIGRATE is on, it also applies pending migrations.
func (a *app) connect(ctx context.Context, migrate bool) (*pgxpool.Pool, error) {
	if a.pool != nil {
		return a.pool, nil
	}
	c, err := a.config()
	if err != nil {
		return nil, err
	}
	pool, err := db.Open(ctx, c.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if migrate && c.AutoMigrate {
		res, err := migrations.Up(ctx, pool, nil)
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("apply pending migrations (AUTO_MIGRATE is on): %w", err)
		}
		for _, r := range res {
			a.log.Info("applied migration", "version", r.Version, "name", r.Name, "took", r.Took)
		}
	}
	a.pool = pool
	return pool, nil
}

// service returns the ledger service on the database, opening it first.
func (a *app) service(ctx context.Context) (ledger.Service, error) {
	if a.ledger != nil {
		return a.ledger, nil
	}
	pool, err := a.connect(ctx, true)
	if err != nil {
		return nil, err
	}
	policy := db.DefaultRetryPolicy
	policy.MaxAttempts = a.cfg.TxMaxAttempts
	method, err := sqlstore.ChooseBulkMethod(ctx, pool, a.cfg.BulkWrite)
	if err != nil {
		return nil, err
	}
	a.cfg.BulkInsert = method == sqlstore.BulkInsert
	a.log.Info("bulk writes", "method", method.String(), "BULK_WRITE", a.cfg.BulkWrite)
	a.ledger = sqlstore.New(pool, sqlstore.WithRetryPolicy(policy), sqlstore.WithBulkMethod(method))
	return a.ledger, nil
}

// close releases the pool, if one was opened.
func (a *app) close() {
	if a.pool != nil {
		a.pool.Close()
		a.pool = nil
		a.ledger = nil
	}
}

// write writes v as JSON, or calls table to write it for people.
func (a *app) write(v any, table func(w io.Writer) error) error {
	if a.json() {
		return cli.WriteJSON(a.stdout, v)
	}
	return table(a.stdout)
}

// plural writes "1 entry", "2 entries", "0 problems".
func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	if w, ok := strings.CutSuffix(word, "y"); ok {
		return fmt.Sprintf("%d %sies", n, w)
	}
	return fmt.Sprintf("%d %ss", n, word)
}
