package reconcile

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
)

// OpenLine is a statement line not yet matched, as the exception desk
// sees it.
type OpenLine struct {
	PostedLine
	// Undone is set when a match of the line was undone: its next match
	// is another, of an id of its own.
	Undone bool
}

// PaymentState is a payment (a paid batch line) as a person matching a
// statement line to it sees it.
type PaymentState struct {
	ID       string
	Amount   decimal.Decimal
	Rejected bool // the bank's status report rejected it
	Booked   bool // a statement line booked it already
}

// PersonMatch is a match a person made: a line explained by payments
// (rules manual and suggestion) or booked to suspense, with its entry.
type PersonMatch struct {
	ID       uuid.UUID
	Line     OpenLine
	Rule     Rule
	Payments []PaymentState // none for suspense
	By       string
	Reason   string
	At       time.Time
	Entry    ledger.NewEntry
}

// UndoableMatch is a match as its undoing reads it.
type UndoableMatch struct {
	ID      uuid.UUID
	Rule    Rule
	Line    PostedLine
	Payment string // its payment, when it books or returns one
	Undone  bool   // undone already
	// Posted are the lines of a return's entry, as they were posted.
	Posted []ledger.Line
}

// Undo is the undoing of a match, to write.
type Undo struct {
	Match  UndoableMatch
	By     string
	Reason string
	At     time.Time
	// Entry reverses the match's entry; Why is the reason of the
	// exception its line is open again with.
	Entry ledger.NewEntry
	Why   string
}

// AuditEntry is an event of the audit trail the desk writes.
type AuditEntry struct {
	At                               time.Time
	By                               payments.Actor
	Action, Kind, ObjectID, From, To string
	Reason                           string
	Details                          map[string]any
}

// DeskStore is the store of the exception desk: its reads, its
// transactions, and the entries it owes the ledger.
type DeskStore interface {
	// Exceptions lists the exceptions f selects.
	Exceptions(ctx context.Context, f ExceptionFilter) ([]Exception, error)
	// InTx runs fn in one serializable transaction, run again as a whole
	// when it must be retried: fn is safe to run again.
	InTx(ctx context.Context, fn func(ctx context.Context, tx DeskTx) error) error
	// PostPending posts the entries recorded and not posted yet.
	PostPending(ctx context.Context) error
	// Now is the store's clock.
	Now() time.Time
}

// DeskTx is what the desk reads and writes in one transaction: the work on
// the exceptions, and the undoing of matches.
type DeskTx interface {
	ExceptionTx
	UndoTx
}

// ExceptionTx is what the moves of an exception read and write.
type ExceptionTx interface {
	// LockException reads an exception, locked to the end of the
	// transaction; errs.NotFound when there is none.
	LockException(ctx context.Context, id uuid.UUID) (Exception, error)
	// OpenLine reads an exception's statement line, locked: a conflict
	// when it has none, or when it is matched already.
	OpenLine(ctx context.Context, x Exception) (OpenLine, error)
	// Payments reads those of the payments ids that exist.
	Payments(ctx context.Context, ids []string) ([]PaymentState, error)
	// RecordMatch writes a match a person made: the match, its payments
	// booked, its line matched, its entry to post.
	RecordMatch(ctx context.Context, m PersonMatch) error
	// SetStatus marks an exception resolved or closed, by whom, with what
	// was done.
	SetStatus(ctx context.Context, id uuid.UUID, to ExceptionStatus, resolution, by string, at time.Time) error
	// SetOwner gives an exception an owner.
	SetOwner(ctx context.Context, id uuid.UUID, owner string, at time.Time) error
	// Audit appends to the audit trail.
	Audit(ctx context.Context, e AuditEntry) error
}

// UndoTx is what undoing a match reads and writes.
type UndoTx interface {
	// LockMatch reads a match, locked; errs.NotFound when there is none.
	LockMatch(ctx context.Context, id uuid.UUID) (UndoableMatch, error)
	// RecordUndo writes the undoing of a match: its payments no longer
	// booked (or returned), its entry reversed, its line unmatched again
	// with an exception.
	RecordUndo(ctx context.Context, u Undo) error
	// Audit appends to the audit trail.
	Audit(ctx context.Context, e AuditEntry) error
}

// Desk is the work of controllers on the reconciliation exceptions: who
// may do what, what each move checks, posts and audits; the store writes
// each move in one transaction.
type Desk struct {
	Store DeskStore
}

var _ ExceptionDesk = Desk{}

// MaxMatchPayments is how many payments a person may match one statement
// line to.
const MaxMatchPayments = 10000

// Exceptions lists the exceptions f selects, in the order of their ids.
func (d Desk) Exceptions(ctx context.Context, f ExceptionFilter) ([]Exception, error) {
	return d.Store.Exceptions(ctx, f)
}

// resolve runs fn on an open exception, for a controller, then marks it
// to (resolved or closed) with what fn did, audits it, and posts what it
// owes the ledger.
func (d Desk) resolve(ctx context.Context, id uuid.UUID, by payments.Actor, action, what string, to ExceptionStatus, reason string,
	fn func(ctx context.Context, tx ExceptionTx, x Exception, now time.Time) (string, error)) (Exception, error) {
	if err := by.Allow(what, payments.RoleController); err != nil {
		return Exception{}, err
	}
	var out Exception
	err := d.Store.InTx(ctx, func(ctx context.Context, tx DeskTx) error {
		x, err := tx.LockException(ctx, id)
		if err != nil {
			return err
		}
		if x.Status != ExceptionOpen {
			return errs.E(errs.Conflict, "reconciliation exception %s is %s already", id, x.Status)
		}
		now := d.Store.Now()
		resolution, err := fn(ctx, tx, x, now)
		if err != nil {
			return err
		}
		if err := tx.SetStatus(ctx, id, to, resolution, by.Name, now); err != nil {
			return err
		}
		if err := tx.Audit(ctx, AuditEntry{At: now, By: by, Action: action, Kind: "recon_exception", ObjectID: id.String(), From: string(x.Status),
			To: string(to), Reason: reason, Details: map[string]any{"kind": string(x.Kind), "resolution": resolution}}); err != nil {
			return err
		}
		out, err = tx.LockException(ctx, id)
		return err
	})
	if err != nil {
		return out, errs.Wrap(err, "%s", what)
	}
	return out, d.Store.PostPending(ctx)
}

// CheckPayments checks the payments (ids) a person matches a debit line
// to, as read (pays): each exists, once, unbooked and not rejected, and
// their amounts add up to the line's.
func CheckPayments(l OpenLine, ids []string, pays []PaymentState) error {
	found := map[string]bool{}
	sum := decimal.Zero
	for _, p := range pays {
		found[p.ID] = true
		switch {
		case p.Booked:
			return errs.Field("payments", "payment %s is booked already", p.ID)
		case p.Rejected:
			return errs.Field("payments", "payment %s was rejected by the bank", p.ID)
		}
		sum = sum.Add(p.Amount)
	}
	for _, id := range ids {
		if !found[id] {
			return errs.Field("payments", "payment %s does not exist", id)
		}
	}
	if len(found) != len(ids) {
		return errs.Field("payments", "a payment is named twice")
	}
	if !sum.Equal(l.Amount) {
		return errs.Field("payments", "the payments add up to %s, the line is of %s", sum.StringFixed(2), l.Amount.StringFixed(2))
	}
	return nil
}

// matchSpace derives a match's id from its line and rule, so that a
// retried transaction makes the same match.
var matchSpace = keySpace

// MatchID is the id of the match of a line by rule: derived from both, so
// that a retried transaction makes the same match, or new when a match of
// the line was undone, for the next is another.
func MatchID(l OpenLine, rule Rule) uuid.UUID {
	if l.Undone {
		return uuid.New()
	}
	return uuid.NewSHA1(matchSpace, fmt.Appendf(nil, "%s/%d/%s/%d", l.Line.StatementID, l.Line.Index, rule, 0))
}

// matchLine matches a line to payments, for a person (rule manual or
// suggestion): the payments must be unbooked, accepted, and add up to the
// line's amount.
func matchLine(ctx context.Context, tx ExceptionTx, l OpenLine, ids []string, rule Rule, by, reason string, now time.Time) (uuid.UUID, error) {
	if l.Direction != Debit {
		return uuid.Nil, errs.Field("payments", "statement line %s is a credit: only a debit books payments", l.Line)
	}
	if len(ids) == 0 || len(ids) > MaxMatchPayments {
		return uuid.Nil, errs.Field("payments", "give 1 to %d payments", MaxMatchPayments)
	}
	pays, err := tx.Payments(ctx, ids)
	if err != nil {
		return uuid.Nil, err
	}
	if err := CheckPayments(l, ids, pays); err != nil {
		return uuid.Nil, err
	}
	id := MatchID(l, rule)
	return id, tx.RecordMatch(ctx, PersonMatch{ID: id, Line: l, Rule: rule, Payments: pays, By: by, Reason: reason, At: now,
		Entry: MatchByPerson(l.PostedLine, rule, id, by)})
}

// MatchByHand explains an exception's statement line by payments whose
// amounts add up to the line's.
func (d Desk) MatchByHand(ctx context.Context, id uuid.UUID, pays []string, by payments.Actor, reason string) (Exception, error) {
	reason, err := payments.CheckReason("reason", reason, true)
	if err != nil {
		return Exception{}, err
	}
	return d.resolve(ctx, id, by, "match", "match a statement line", ExceptionResolved, reason,
		func(ctx context.Context, tx ExceptionTx, x Exception, now time.Time) (string, error) {
			l, err := tx.OpenLine(ctx, x)
			if err != nil {
				return "", err
			}
			m, err := matchLine(ctx, tx, l, pays, RuleManual, by.Name, reason, now)
			return fmt.Sprintf("matched by hand to %s (match %s)", strings.Join(pays, ", "), m), err
		})
}

// Confirm confirms a suggestion: its line is matched to its payment.
func (d Desk) Confirm(ctx context.Context, id uuid.UUID, by payments.Actor) (Exception, error) {
	return d.resolve(ctx, id, by, "confirm", "confirm a suggestion", ExceptionResolved, "",
		func(ctx context.Context, tx ExceptionTx, x Exception, now time.Time) (string, error) {
			if x.Kind != ExceptionSuggestion {
				return "", errs.E(errs.Conflict, "exception %s is %s, not a suggestion", x.ID, x.Kind)
			}
			l, err := tx.OpenLine(ctx, x)
			if err != nil {
				return "", err
			}
			m, err := matchLine(ctx, tx, l, []string{x.Payment}, RuleSuggestion, by.Name, "suggestion confirmed", now)
			return fmt.Sprintf("suggestion confirmed: matched to %s (match %s)", x.Payment, m), err
		})
}

// BookToSuspense books an exception's statement line to suspense
// (reconcile.BookToSuspense).
func (d Desk) BookToSuspense(ctx context.Context, id uuid.UUID, by payments.Actor, reason string) (Exception, error) {
	reason, err := payments.CheckReason("reason", reason, true)
	if err != nil {
		return Exception{}, err
	}
	return d.resolve(ctx, id, by, "suspense", "book a statement line to suspense", ExceptionResolved, reason,
		func(ctx context.Context, tx ExceptionTx, x Exception, now time.Time) (string, error) {
			l, err := tx.OpenLine(ctx, x)
			if err != nil {
				return "", err
			}
			m := MatchID(l, RuleSuspense)
			err = tx.RecordMatch(ctx, PersonMatch{ID: m, Line: l, Rule: RuleSuspense, By: by.Name, Reason: reason, At: now,
				Entry: BookToSuspense(l.PostedLine, m, reason)})
			return fmt.Sprintf("booked to suspense (match %s)", m), err
		})
}

// Close closes an exception with a reason, posting nothing.
func (d Desk) Close(ctx context.Context, id uuid.UUID, by payments.Actor, reason string) (Exception, error) {
	reason, err := payments.CheckReason("reason", reason, true)
	if err != nil {
		return Exception{}, err
	}
	return d.resolve(ctx, id, by, "close", "close a reconciliation exception", ExceptionClosed, reason,
		func(context.Context, ExceptionTx, Exception, time.Time) (string, error) {
			return "closed: " + reason, nil
		})
}

// Assign gives an exception an owner.
func (d Desk) Assign(ctx context.Context, id uuid.UUID, owner string, by payments.Actor) (Exception, error) {
	owner, err := payments.CheckReason("owner", owner, true)
	if err != nil {
		return Exception{}, err
	}
	if err := by.Allow("assign an exception", payments.RoleController, payments.RoleAdmin); err != nil {
		return Exception{}, err
	}
	var out Exception
	err = d.Store.InTx(ctx, func(ctx context.Context, tx DeskTx) error {
		x, err := tx.LockException(ctx, id)
		if err != nil {
			return err
		}
		now := d.Store.Now()
		if err := tx.SetOwner(ctx, id, owner, now); err != nil {
			return err
		}
		if err := tx.Audit(ctx, AuditEntry{At: now, By: by, Action: "assign", Kind: "recon_exception", ObjectID: id.String(), From: x.Owner,
			To: owner}); err != nil {
			return err
		}
		out, err = tx.LockException(ctx, id)
		return err
	})
	return out, errs.Wrap(err, "assign exception %s", id)
}

// UndoMatch takes a match back: its entry is reversed by a new one
// (reconcile.UndoMatch), its payments are unbooked (or no longer
// returned), and its line is unmatched again, with an exception.
func (d Desk) UndoMatch(ctx context.Context, id uuid.UUID, by payments.Actor, reason string) error {
	if err := by.Allow("undo a match", payments.RoleController); err != nil {
		return err
	}
	reason, err := payments.CheckReason("reason", reason, true)
	if err != nil {
		return err
	}
	err = d.Store.InTx(ctx, func(ctx context.Context, tx DeskTx) error {
		m, err := tx.LockMatch(ctx, id)
		if err != nil {
			return err
		}
		if m.Undone {
			return errs.E(errs.Conflict, "match %s was undone already", id)
		}
		now := d.Store.Now()
		effect := m.Posted
		if m.Rule != RuleReturn {
			effect = MatchEffect(m.Rule, m.Line)
		}
		if err := tx.RecordUndo(ctx, Undo{Match: m, By: by.Name, Reason: reason, At: now, Entry: UndoMatch(id, m.Line.Booking, effect, reason),
			Why: fmt.Sprintf("match %s (%s) undone by %s: %s", id, m.Rule, by.Name, reason)}); err != nil {
			return err
		}
		return tx.Audit(ctx, AuditEntry{At: now, By: by, Action: "undo", Kind: "match", ObjectID: id.String(), From: "matched", To: "undone",
			Reason: reason, Details: map[string]any{"rule": string(m.Rule)}})
	})
	if err != nil {
		return errs.Wrap(err, "undo match %s", id)
	}
	return d.Store.PostPending(ctx)
}
