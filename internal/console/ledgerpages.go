package console

import (
	"context"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/internal/mask"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
)

// Books reads the ledger's accounts, balances and statements
// (ledger.Service).
type Books interface {
	Accounts(ctx context.Context, prefix, after string, limit int) ([]ledger.Account, error)
	Balance(ctx context.Context, account string, at ledger.AsOf) (ledger.Balance, error)
	Statement(ctx context.Context, q ledger.StatementQuery) (ledger.Statement, error)
	TrialBalance(ctx context.Context, at ledger.AsOf) (ledger.TrialBalance, error)
}

// DeadLetterReader reads the invalid eligibility events
// (payments.Beneficiaries).
type DeadLetterReader interface {
	DeadLetters(ctx context.Context, q payments.DeadLetterQuery) ([]payments.DeadLetter, string, error)
	RecordReads(ctx context.Context, by payments.Actor, reads []payments.Read) error
}

// maxTrialRows is how many rows of the trial balance the page shows.
const maxTrialRows = 500

// booksData is the "Comptabilité" page.
type booksData struct {
	Trial     ledger.TrialBalance
	Cut       int // rows not shown
	Prefix    string
	Accounts  []ledger.Account
	Code      string
	CodeError string
	Balance   *ledger.Balance
}

// booksPage shows the trial balance now, the accounts of a prefix and the
// balance of one account. The balance of a beneficiary's own account is
// recorded as a read of their file, as the API records it.
func (c *Console) booksPage(w http.ResponseWriter, r *http.Request, s *Session) {
	ctx := r.Context()
	q := r.URL.Query()
	d := booksData{Prefix: strings.TrimSpace(q.Get("prefixe")), Code: strings.TrimSpace(q.Get("compte"))}
	status := http.StatusOK
	tb, err := c.opts.Books.TrialBalance(ctx, ledger.AsOf{})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	if len(tb.Rows) > maxTrialRows {
		d.Cut = len(tb.Rows) - maxTrialRows
		tb.Rows = tb.Rows[:maxTrialRows]
	}
	d.Trial = tb
	if utf8.RuneCountInString(d.Prefix) > 100 {
		d.Prefix = ""
	}
	if d.Accounts, err = c.opts.Books.Accounts(ctx, d.Prefix, "", 100); err != nil {
		c.fail(w, r, s, err)
		return
	}
	if d.Code != "" {
		if utf8.RuneCountInString(d.Code) > 200 {
			d.CodeError = "Ce code de compte est trop long."
		} else if b, err := c.opts.Books.Balance(ctx, d.Code, ledger.AsOf{}); errs.Is(err, errs.NotFound) {
			d.CodeError = "Aucun compte ne porte ce code."
		} else if err != nil {
			c.fail(w, r, s, err)
			return
		} else {
			for _, control := range []string{ledger.OverpaymentReceivable, ledger.Payable} {
				if who, ok := strings.CutPrefix(d.Code, control+":"); ok {
					read := payments.Read{What: payments.ReadBalance, ObjectID: d.Code, Beneficiary: who, Fields: []string{}}
					if err := c.opts.DeadLetters.RecordReads(ctx, actor(s, r), []payments.Read{read}); err != nil {
						c.fail(w, r, s, err)
						return
					}
				}
			}
			d.Balance = &b
		}
		if d.CodeError != "" {
			status = http.StatusBadRequest
		}
	}
	c.render(w, r, s, status, "books", "Comptabilité", d)
}

// deadLettersData is the "Lettres mortes" page.
type deadLettersData struct {
	Letters []payments.DeadLetter
	Next    string
}

// deadLettersPage lists the invalid eligibility events, newest first, their
// reasons and keys with IBANs masked; those naming a beneficiary are
// recorded as reads of their file.
func (c *Console) deadLettersPage(w http.ResponseWriter, r *http.Request, s *Session) {
	ctx := r.Context()
	cursor := r.URL.Query().Get("suite")
	if len(cursor) > 200 {
		cursor = ""
	}
	dls, next, err := c.opts.DeadLetters.DeadLetters(ctx, payments.DeadLetterQuery{Cursor: cursor, Limit: 50})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	var reads []payments.Read
	for i := range dls {
		dls[i].Error, dls[i].Key, dls[i].Value = mask.MaskIBANsIn(dls[i].Error), mask.MaskIBANsIn(dls[i].Key), nil
		if dls[i].Beneficiary != "" {
			reads = append(reads, payments.Read{What: payments.ReadDeadLetter, ObjectID: dls[i].ID.String(), Beneficiary: dls[i].Beneficiary, Fields: []string{}})
		}
	}
	if len(reads) > 0 {
		if err := c.opts.DeadLetters.RecordReads(ctx, actor(s, r), reads); err != nil {
			c.fail(w, r, s, err)
			return
		}
	}
	d := deadLettersData{Letters: dls}
	if next != "" {
		d.Next = "?suite=" + next
	}
	c.render(w, r, s, http.StatusOK, "deadletters", "Lettres mortes", d)
}
