// Package console is the staff web console that ledgerd serves under
// /console/: server-rendered pages in French, in the State design system
// (DSFR, vendored under static/vendor/dsfr), whose actions go through the
// very same services and four-eyes checks as the staff API, the audit
// trail naming the person signed in. People sign in through the agency's
// OpenID Connect provider (authorization code with PKCE), their groups
// giving the API's roles; in dev mode the demo staff may sign in without
// it. Sessions are rows of the database (console_sessions) that a cookie
// names; every form carries a token bound to its session.
//
// The console depends on the small interfaces below, which list only the
// methods it calls; ledgerd's wiring (internal/server) hands it the
// services the API uses.
package console

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/ofii/allowances/internal/config"
	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/payments"
)

//go:embed templates static
var files embed.FS

// BatchReader reads the batches and their lines (payments.Runs).
type BatchReader interface {
	Batch(ctx context.Context, id uuid.UUID) (payments.Batch, error)
	Batches(ctx context.Context, f payments.BatchFilter) ([]payments.Batch, error)
	BatchLines(ctx context.Context, id uuid.UUID, cursor string, limit int) ([]payments.BatchLine, string, error)
	RecordReads(ctx context.Context, by payments.Actor, reads []payments.Read) error
}

// BatchWorkflow moves batches along the approval workflow
// (payments.Approvals).
type BatchWorkflow interface {
	Submit(ctx context.Context, id uuid.UUID, by payments.Actor, note string) (payments.Batch, error)
	Approve(ctx context.Context, id uuid.UUID, by payments.Actor, note string) (payments.Batch, error)
	ApproveOverriding(ctx context.Context, id uuid.UUID, by payments.Actor, note string, o payments.BudgetOverride) (payments.Batch, error)
	Reject(ctx context.Context, id uuid.UUID, by payments.Actor, reason string) (payments.Batch, error)
	Cancel(ctx context.Context, id uuid.UUID, by payments.Actor, reason string) (payments.Batch, error)
	Release(ctx context.Context, id uuid.UUID, by payments.Actor) (payments.Batch, error)
}

// PaymentFiles reads the payment files and the payment exceptions
// (payments.Approvals).
type PaymentFiles interface {
	Files(ctx context.Context, batch uuid.UUID) ([]payments.PaymentFile, error)
	FileContent(ctx context.Context, msgID string) (payments.PaymentFile, []byte, error)
	FileBeneficiaries(ctx context.Context, msgID string) ([]string, error)
	Exceptions(ctx context.Context, f payments.ExceptionFilter) ([]payments.PaymentException, error)
	RecordReads(ctx context.Context, by payments.Actor, reads []payments.Read) error
}

// PaymentExceptions settle the payments the bank rejected
// (payments.Approvals).
type PaymentExceptions interface {
	CorrectPayee(ctx context.Context, id uuid.UUID, by payments.Actor, p payments.Payee, reason string) (payments.PaymentException, error)
	CloseException(ctx context.Context, id uuid.UUID, by payments.Actor, reason string) (payments.PaymentException, error)
	Reissue(ctx context.Context, by payments.Actor, note string) (payments.Batch, error)
}

// Budget serves the appropriations (payments.Budgets, the API's very
// store) and lists the amendments of a year.
type Budget interface {
	payments.Budgets
	Amendments(ctx context.Context, year int) ([]payments.Amendment, error)
}

// StateItem is one line of the service's state on the "À traiter" page.
type StateItem struct {
	Label  string // in French
	Value  string
	Severe bool // shown as a warning
}

// Options are what the console is built from.
type Options struct {
	Config config.Console
	// Dev is dev mode: the demo staff may sign in, and the session cookie
	// is sent over plain HTTP to a loopback address.
	Dev bool
	// Pool holds the sessions.
	Pool     db.Beginner
	Batches  BatchReader
	Workflow BatchWorkflow
	Files    PaymentFiles
	// Exceptions settle the payments the bank rejected.
	Exceptions PaymentExceptions
	// Audit reads the audit trail.
	Audit AuditTrail
	// Books reads the ledger.
	Books Books
	// DeadLetters reads the invalid eligibility events.
	DeadLetters DeadLetterReader
	// Beneficiaries reads the beneficiaries' timelines.
	Beneficiaries BeneficiaryReader
	// Reconcile imports statements and settles their exceptions.
	Reconcile Reconciliation
	// Budget keeps the appropriations and their amendments.
	Budget Budget
	// BudgetMinMonths is the months of cover below which a scheme's
	// appropriation is marked (BUDGET_MIN_MONTHS).
	BudgetMinMonths int
	// BankAccount is the IBAN whose reconciliation report the console
	// shows (DEBTOR_IBAN).
	BankAccount string
	// State says how the service stands (bank breaker, consumer lag...).
	State  func(ctx context.Context) []StateItem
	Logger *slog.Logger
	// Now is the clock of the sessions and of the budget's current year
	// (time.Now when nil).
	Now func() time.Time
	// HTTPClient reaches the OpenID Connect provider (http.DefaultClient
	// when nil).
	HTTPClient *http.Client
}

// Console serves /console/.
type Console struct {
	opts     Options
	log      *slog.Logger
	sessions *Sessions
	oidc     *oidcClient
	pages    *pages
	mux      *http.ServeMux
}

// New builds the console of opts. With an OpenID Connect issuer, it reads
// the provider's discovery document first, and fails when it cannot.
func New(ctx context.Context, opts Options) (*Console, error) {
	if !opts.Config.Enabled {
		return nil, errors.New("console: not enabled (set CONSOLE_OIDC_ISSUER, or start in dev mode)")
	}
	if opts.Pool == nil || opts.Batches == nil || opts.Workflow == nil || opts.Files == nil || opts.Exceptions == nil || opts.Audit == nil || opts.Reconcile == nil || opts.Beneficiaries == nil || opts.Books == nil || opts.DeadLetters == nil || opts.Budget == nil {
		return nil, errors.New("console: the database and the payment services are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.State == nil {
		opts.State = func(context.Context) []StateItem { return nil }
	}
	c := &Console{opts: opts, log: opts.Logger.With("component", "console"),
		sessions: NewSessions(opts.Pool, opts.Config.IdleTimeout, opts.Config.SessionMax, opts.Now)}
	if opts.Config.OIDC {
		oc, err := newOIDC(ctx, opts.Config, opts.HTTPClient)
		if err != nil {
			return nil, fmt.Errorf("console: OpenID Connect provider %s: %w", opts.Config.Issuer, err)
		}
		c.oidc = oc
	}
	p, err := parsePages()
	if err != nil {
		return nil, fmt.Errorf("console: templates: %w", err)
	}
	c.pages = p
	c.mux = http.NewServeMux()
	static, err := fs.Sub(files, "static")
	if err != nil {
		return nil, err
	}
	c.mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", staticFiles(http.FileServerFS(static))))
	c.routes()
	return c, nil
}

// ServeHTTP serves a request under /console/, with the security headers
// of every answer.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "+
		"connect-src 'self'; manifest-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	c.mux.ServeHTTP(w, r)
}

// staticFiles lets the vendored files be cached for a day.
func staticFiles(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		next.ServeHTTP(w, r)
	})
}
