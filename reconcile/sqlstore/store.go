// Package sqlstore is the reconciliation on the database: the statements
// stored, the matching cascade run over them (its rules are reconcile's),
// the postings they owe the ledger (made by reconcile's posting rules) and
// the exceptions controllers resolve through reconcile.Desk.
package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ofii/allowances/internal/audit"
	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/reconcile"
)

// Config configures the reconciliation.
type Config struct {
	// Account is the IBAN of the account bank:main stands for.
	Account string
	// Accounts are the service's other accounts at the bank, by IBAN, each
	// with the ledger account that stands for it ("bank:<name>"): their
	// statements are imported and posted to it. Statements of an account
	// neither Account nor one of these are skipped.
	Accounts map[string]string
	// SuggestionDays is the window, in business days, within which a line
	// of the same amount and payee account is suggested for a payment
	// (default DefaultSuggestionDays).
	SuggestionDays int
	// InTransitDays is how many business days a payment accepted by the
	// bank may stay unbooked before it is an exception (default
	// DefaultInTransitDays).
	InTransitDays int
	// Now is the clock (default time.Now); Logger the log (default
	// slog.Default()).
	Now    func() time.Time
	Logger *slog.Logger
	// Retry is the retry policy of the write transactions (default
	// db.DefaultRetryPolicy).
	Retry db.RetryPolicy
	// ChunkSize is the number of statement lines written per transaction
	// (default 10,000).
	ChunkSize int
	// Insert writes the statement lines and the matches by multi-row
	// INSERTs instead of COPY, which CockroachDB allows only to admins.
	Insert bool
	// FrenchReasons is the list of French reject codes the CFONB 120
	// statements' returns are translated with (CFONB_REASONS_FILE); nil:
	// none is translated.
	FrenchReasons *reconcile.FrenchReasons
}

// The defaults of Config.
const (
	DefaultSuggestionDays = 3
	DefaultInTransitDays  = 5
	DefaultChunkSize      = 10000
)

// Store is the reconciliation on PostgreSQL or CockroachDB.
type Store struct {
	pool     *pgxpool.Pool
	ledger   reconcile.EntryPoster
	cfg      Config
	accounts reconcile.Accounts
	log      *slog.Logger
	// beforePostings, when set, runs after a statement's lines are
	// matched and before its postings are made: the tests stop an import
	// there, as a process that dies would.
	beforePostings func(context.Context) error
}

// The store of the services of reconcile: it serves Matching as it is.
var (
	_ reconcile.ImportStore = (*Store)(nil)
	_ reconcile.Matching    = (*Store)(nil)
	_ reconcile.ReportFacts = (*Store)(nil)
	_ reconcile.DueDays     = (*Store)(nil)
)

// New returns the reconciliation of the statements of cfg.Account, which
// posts what they owe the ledger to l.
func New(pool *pgxpool.Pool, l reconcile.EntryPoster, cfg Config) (*Store, error) {
	accounts, err := reconcile.NewAccounts(cfg.Account, cfg.Accounts)
	if err != nil {
		return nil, err
	}
	cfg.Account, cfg.Accounts = accounts.Main(), accounts.Others()
	if cfg.SuggestionDays <= 0 {
		cfg.SuggestionDays = DefaultSuggestionDays
	}
	if cfg.InTransitDays <= 0 {
		cfg.InTransitDays = DefaultInTransitDays
	}
	if cfg.ChunkSize <= 0 {
		cfg.ChunkSize = DefaultChunkSize
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Retry.MaxAttempts == 0 {
		cfg.Retry = db.DefaultRetryPolicy
	}
	return &Store{pool: pool, ledger: l, cfg: cfg, accounts: accounts, log: cfg.Logger}, nil
}

// Accounts are the service's accounts whose statements the store keeps.
func (s *Store) Accounts() reconcile.Accounts { return s.accounts }

// ReaderOptions are the options the statement files are read with: the
// list of French reject codes of the store's Config.
func (s *Store) ReaderOptions() reconcile.Options {
	return reconcile.Options{FrenchReasons: s.cfg.FrenchReasons}
}

func (s *Store) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

func (s *Store) tx(ctx context.Context, fn func(context.Context, pgx.Tx) error) error {
	return db.InTxWith(ctx, s.pool, s.cfg.Retry, fn)
}

// posting is an entry the reconciliation owes the ledger, made by a
// posting rule of reconcile, written in the transaction of the match and
// posted after it (recon_postings), with the statement it is of.
type posting struct {
	statement uuid.UUID
	entry     ledger.NewEntry
}

// insertPostings records postings to make, once each by key.
func insertPostings(ctx context.Context, tx pgx.Tx, now time.Time, ps []posting) error {
	for _, p := range ps {
		lines, err := json.Marshal(p.entry.Lines)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO recon_postings (key, effective_date, description, source_ref, statement_id, lines, status, created_at)
			VALUES ($1, $2, $3, $4, $5, $6::JSONB, 'pending', $7) ON CONFLICT (key) DO NOTHING`,
			p.entry.IdempotencyKey, p.entry.EffectiveDate, p.entry.Description, p.entry.SourceRef, p.statement, string(lines), now); err != nil {
			return fmt.Errorf("record posting %s: %w", p.entry.IdempotencyKey, err)
		}
	}
	return nil
}

// postPending posts the postings not yet in the ledger, of the imported
// statements only, and marks them posted. Each is posted once by its key.
func (s *Store) postPending(ctx context.Context) error {
	for {
		type row struct {
			key, desc, ref string
			date           ledger.Date
			lines          []byte
		}
		rows, err := s.pool.Query(ctx, `SELECT p.key, p.description, p.source_ref, p.effective_date, p.lines FROM recon_postings p
			JOIN statements st ON st.id = p.statement_id AND st.status = 'imported'
			WHERE p.status = 'pending' ORDER BY p.created_at, p.key LIMIT 500`)
		if err != nil {
			return fmt.Errorf("read the postings to make: %w", err)
		}
		pending, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			err := r.Scan(&x.key, &x.desc, &x.ref, &x.date, &x.lines)
			return x, err
		})
		if err != nil {
			return fmt.Errorf("read the postings to make: %w", err)
		}
		if len(pending) == 0 {
			return nil
		}
		for _, p := range pending {
			var lines []ledger.Line
			if err := json.Unmarshal(p.lines, &lines); err != nil {
				return fmt.Errorf("posting %s: %w", p.key, err)
			}
			e, err := s.ledger.Post(ctx, ledger.NewEntry{IdempotencyKey: p.key, EffectiveDate: p.date, Description: p.desc,
				SourceRef: p.ref, Lines: lines})
			if err != nil {
				return fmt.Errorf("post %s: %v", p.key, err)
			}
			err = s.tx(ctx, func(ctx context.Context, tx pgx.Tx) error {
				_, err := tx.Exec(ctx, `UPDATE recon_postings SET status = 'posted', entry_id = $2 WHERE key = $1`, p.key, e.ID)
				return err
			})
			if err != nil {
				return fmt.Errorf("posting %s: %w", p.key, err)
			}
		}
	}
}

// auditEvent is an event of the audit trail.
func auditEvent(at time.Time, by payments.Actor, action, kind, id, from, to, reason string, details map[string]any) audit.Event {
	return audit.Event{At: at, By: by, Action: action, Kind: kind, ObjectID: id, From: from, To: to, Reason: reason, Details: details}
}

// writeAudit appends to the audit trail.
func writeAudit(ctx context.Context, tx pgx.Tx, e audit.Event) error { return audit.Write(ctx, tx, e) }

// writeRows writes rows into table: by COPY, or by multi-row INSERTs when
// the store is configured so (CockroachDB lets only admin users COPY).
func (s *Store) writeRows(ctx context.Context, tx pgx.Tx, table string, cols []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	if !s.cfg.Insert {
		for _, row := range rows {
			for i, v := range row {
				row[i] = copyValue(v)
			}
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows))
		return err
	}
	per := max(1, 60000/len(cols)) // PostgreSQL takes at most 65,535 parameters
	for start := 0; start < len(rows); start += per {
		chunk := rows[start:min(start+per, len(rows))]
		var sql strings.Builder
		fmt.Fprintf(&sql, "INSERT INTO %s (%s) VALUES ", pgx.Identifier{table}.Sanitize(), strings.Join(cols, ", "))
		args := make([]any, 0, len(chunk)*len(cols))
		for i, row := range chunk {
			if i > 0 {
				sql.WriteString(", ")
			}
			sql.WriteByte('(')
			for j, v := range row {
				if j > 0 {
					sql.WriteString(", ")
				}
				args = append(args, v)
				fmt.Fprintf(&sql, "$%d", len(args))
			}
			sql.WriteByte(')')
		}
		if _, err := tx.Exec(ctx, sql.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// copyValue is v in the form COPY encodes directly: a uuid.UUID's own
// encoding goes through its text, which the binary COPY parses back for
// every value.
func copyValue(v any) any {
	switch x := v.(type) {
	case uuid.UUID:
		return [16]byte(x)
	case *uuid.UUID:
		if x == nil {
			return nil
		}
		return [16]byte(*x)
	case ledger.Date:
		if x.IsZero() {
			return nil
		}
		return x.Time()
	}
	return v
}
