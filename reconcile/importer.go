package reconcile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
)

// Accounts are the service's accounts at the bank, each with the ledger
// account that stands for it: bank:main for the paying account, bank:<name>
// for the others.
type Accounts struct {
	main   string
	others map[string]string // IBAN → bank:<name>
}

// NewAccounts checks the service's accounts: main, the IBAN of the paying
// account, and others, the IBANs of the others with their ledger accounts.
func NewAccounts(main string, others map[string]string) (Accounts, error) {
	iban, err := payments.ValidateIBAN(main)
	if err != nil {
		return Accounts{}, errs.Field("account", "%v", err)
	}
	a := Accounts{main: iban, others: make(map[string]string, len(others))}
	for o, code := range others {
		other, err := payments.ValidateIBAN(o)
		if err != nil {
			return Accounts{}, errs.Field("accounts", "%v", err)
		}
		if !strings.HasPrefix(code, "bank:") || code == ledger.BankMain || other == iban {
			return Accounts{}, errs.Field("accounts", "account %s: its ledger account %q is not bank:<name>, or is bank:main, which is %s's", other, code, iban)
		}
		a.others[other] = code
	}
	return a, nil
}

// Main is the IBAN of the paying account.
func (a Accounts) Main() string { return a.main }

// Others are the IBANs of the other accounts, each with its ledger account.
func (a Accounts) Others() map[string]string { return a.others }

// LedgerAccount returns the ledger account of a statement's account, and
// whether it is one of the service's. A statement names its account by
// IBAN, or in CFONB by the bank, branch and account numbers of a French
// one.
func (a Accounts) LedgerAccount(account string) (string, bool) {
	acc := strings.ReplaceAll(account, " ", "")
	match := func(iban string) bool {
		if strings.EqualFold(acc, iban) {
			return true
		}
		return strings.HasPrefix(iban, "FR") && len(iban) == 27 && acc == iban[4:9]+"-"+iban[9:14]+"-"+iban[14:25]
	}
	if match(a.main) {
		return ledger.BankMain, true
	}
	for iban, code := range a.others {
		if match(iban) {
			return code, true
		}
	}
	return "", false
}

// String names the accounts, for messages: the paying account first.
func (a Accounts) String() string {
	names := []string{a.main}
	for iban := range a.others {
		names = append(names, iban)
	}
	slices.Sort(names[1:])
	return strings.Join(names, ", ")
}

// OpenFile returns the statement reader of file's format, from its start:
// XML is camt.053 or camt.054 by its namespace, anything else CFONB 120,
// read with opts.
func OpenFile(file io.ReadSeeker, opts Options) (Reader, error) {
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	head := make([]byte, 4096)
	n, err := io.ReadFull(file, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	head = bytes.TrimLeft(head[:n], "\ufeff \t\r\n")
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	if len(head) == 0 {
		return nil, errs.Field("file", "is empty")
	}
	if head[0] != '<' {
		return NewCFONBReader(file, opts), nil
	}
	switch {
	case bytes.Contains(head, []byte("camt.054")):
		return NewCamt054Reader(file, opts), nil
	case bytes.Contains(head, []byte("camt.053")):
		return NewCamt053Reader(file, opts), nil
	}
	return nil, errs.Field("file", "is XML but neither a camt.053 statement nor a camt.054 notification")
}

// FileError turns a reader's error into an invalid input naming where the
// file is wrong, or a file too large.
func FileError(err error) error {
	if errors.Is(err, ErrTooLarge) {
		return errs.E(errs.TooLarge, "%v", err)
	}
	var fe *FormatError
	if errors.As(err, &fe) {
		return errs.Field("file", "%v", err)
	}
	return err
}

// ImportPlan is what to store of a statement file checked whole.
type ImportPlan struct {
	Summary Summary
	// Banks are the ledger accounts of the statements to import, by
	// statement id; the other statements are skipped.
	Banks map[string]string
	// Skipped are the statements of other accounts than the service's.
	Skipped []SkippedStatement
	// skip are the ids of the statements skipped.
	skip map[string]bool
	// Notice is set for a camt.054 notification: its lines are kept for
	// the record, and the booking comes with the camt.053 of the day.
	Notice bool
	// Simulated marks the statements as fetched from the bank simulator of
	// dev mode.
	Simulated bool
	// Options are those the file is read with, again by the store.
	Options Options
}

// PlanImport decides what importing a checked file stores: a bank sends
// one file per customer contract, with every account in it, so the
// statements of the service's accounts are imported, each posted to its
// ledger account, and those of other accounts are skipped, and listed. A
// statement of the service's in another currency than the ledger's, or a
// file of none of the service's statements, imports nothing.
func PlanImport(summary Summary, accounts Accounts, simulated bool) (ImportPlan, error) {
	p := ImportPlan{Summary: summary, Banks: map[string]string{}, skip: map[string]bool{}, Notice: strings.HasPrefix(summary.Format, "camt.054"), Simulated: simulated}
	for _, st := range summary.Statements {
		code, ok := accounts.LedgerAccount(st.Account)
		if !ok {
			p.skip[st.ID] = true
			p.Skipped = append(p.Skipped, SkippedStatement{StmtID: st.ID, Account: st.Account, Date: st.Date, Lines: st.Entries,
				Reason: fmt.Sprintf("account %s is not the service's (%s)", st.Account, accounts)})
			continue
		}
		p.Banks[st.ID] = code
		// The ledger books euros: a statement in another currency would
		// be posted as if its amounts were euros.
		if st.Currency != ledger.Currency {
			return p, errs.Field("file", "statement %s of account %s is in %s: the ledger books only %s, and nothing of the file is imported", st.ID, st.Account, st.Currency, ledger.Currency)
		}
	}
	if len(summary.Statements) > 0 && len(p.skip) == len(summary.Statements) {
		return p, errs.Field("file", "holds no statement of the service's accounts (%s): %d of other accounts, such as %s", accounts, len(p.skip), summary.Statements[0].Account)
	}
	return p, nil
}

// Imports reports whether the plan imports the statement of id.
func (p ImportPlan) Imports(id string) bool { return !p.skip[id] }

// ImportStore stores the statements of a file as planned.
type ImportStore interface {
	// StoreStatements stores the statements plan imports of file (read
	// again from its start), a chunk of lines at a time, running the
	// matching cascade on them, and posts what they owe the ledger. A file
	// or a statement stored before changes nothing; one whose storing was
	// interrupted is finished.
	StoreStatements(ctx context.Context, file io.ReadSeeker, plan ImportPlan, by payments.Actor) (ImportResult, error)
}

// Importer imports statement files: who may, which format, whether the
// file is whole and right, which of its statements are the service's;
// the store stores them and runs the cascade.
type Importer struct {
	Store    ImportStore
	Accounts Accounts
	// Options are the readers' options: the list of French reject codes
	// CFONB returns are translated with.
	Options Options
}

var (
	_ StatementImporter = Importer{}
	_ FetchedImporter   = Importer{}
)

// Import imports a statement file held in memory (ImportFrom).
func (i Importer) Import(ctx context.Context, content []byte, by payments.Actor) (ImportResult, error) {
	return i.ImportFrom(ctx, bytes.NewReader(content), by)
}

// ImportFrom checks a statement file whole, then has the store read it
// again and store its statements: memory stays bounded whatever the
// file's size. A malformed file imports nothing.
func (i Importer) ImportFrom(ctx context.Context, file io.ReadSeeker, by payments.Actor) (ImportResult, error) {
	return i.ImportFetched(ctx, file, by, false)
}

// ImportFetched is ImportFrom, marking the statements it stores simulated
// when simulated is set: they came from the bank simulator.
func (i Importer) ImportFetched(ctx context.Context, file io.ReadSeeker, by payments.Actor, simulated bool) (ImportResult, error) {
	var res ImportResult
	if err := by.Allow("import a statement", payments.RoleController, payments.RoleAdmin, "system"); err != nil {
		return res, err
	}
	// First pass: the whole file is read and checked, nothing written.
	rd, err := OpenFile(file, i.Options)
	if err != nil {
		return res, err
	}
	summary, err := Check(rd)
	if err != nil {
		return res, FileError(err)
	}
	res.Format, res.FileSHA256 = summary.Format, summary.FileSHA256
	plan, err := PlanImport(summary, i.Accounts, simulated)
	plan.Options = i.Options
	res.Skipped = plan.Skipped
	if err != nil {
		return res, err
	}
	return i.Store.StoreStatements(ctx, file, plan, by)
}
