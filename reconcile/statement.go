package reconcile

import (
	"fmt"
	"io"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/ledger"
)

// Formats a statement file can come in, as Statement.Format and
// Summary.Format spell them. camt.053 versions .001.03 to .001.07 and
// camt.054 versions .001.02 to .001.07 are read too and spelled the same way
// ("camt.053.001.05").
const (
	FormatCamt053v02 = "camt.053.001.02"
	FormatCamt053v08 = "camt.053.001.08"
	FormatCamt054v08 = "camt.054.001.08"
	FormatCFONB120   = "cfonb120"
)

// Direction says whether a line took money from the account (a debit) or
// brought money to it (a credit), seen from the account holder.
type Direction string

// The two directions, spelled as camt's CdtDbtInd.
const (
	Debit  Direction = "DBIT"
	Credit Direction = "CRDT"
)

// Entry statuses (camt Sts). Only booked lines move the booked balance, so
// only they count in the balance check; CFONB lines are always booked.
const (
	StatusBooked  = "BOOK"
	StatusPending = "PDNG"
	StatusInfo    = "INFO"
	StatusFuture  = "FUTR"
)

// Statement is one account's statement for one period: a camt.053 Stmt, a
// camt.054 Ntfctn, or a CFONB 120 group from a 01 record to its 07 record.
//
// A Reader's NextStatement returns the statement's header, i.e. what the
// file says before its first line: Entries and FileSHA256 are unset there
// (and, for CFONB, whose 07 record comes after the movements, Closing and
// Date too). The statements of the Summary, returned once the whole file
// has been read and checked, are complete.
type Statement struct {
	// Format is the message format and version, e.g. "camt.053.001.02".
	Format string
	// ID identifies the statement: Stmt/Id or Ntfctn/Id in camt; in CFONB,
	// which has none, the account followed by the opening balance's date
	// ("30004-00550-00012345678-2024-03-01"), the only date known before the
	// lines are read.
	ID string
	// Sequence is the bank's electronic sequence number (ElctrncSeqNb); 0
	// when the file has none, as in CFONB.
	Sequence int64 `json:",omitzero"`
	// Account is the IBAN (or other identifier) of the account in camt; in
	// CFONB the bank, branch and account numbers as
	// "BBBBB-GGGGG-AAAAAAAAAAA".
	Account string
	// Currency is the ISO 4217 code every balance and line of the
	// statement is in.
	Currency string
	// Date is the statement's day: the closing balance's date; for a
	// camt.054 notification, which has no balance, its creation day.
	Date ledger.Date `json:",omitzero"`
	// Opening and Closing are the booked balances before and after the
	// statement's booked lines (camt OPBD, or PRCD when there is no OPBD,
	// and CLBD; CFONB 01 and 07). They are zero for camt.054.
	Opening, Closing Balance
	// Entries is the number of lines of the statement.
	Entries int
	// FileSHA256 is the hex SHA-256 of the whole file the statement came
	// from, so that an import can refuse a file it has seen.
	FileSHA256 string `json:",omitzero"`
}

// Balance is an account balance on a day.
type Balance struct {
	// Amount is signed from the account holder's view: a credit balance
	// is positive, a debit (overdrawn) balance negative.
	Amount decimal.Decimal
	// Date is the day the balance is for.
	Date ledger.Date `json:",omitzero"`
}

// Line is one entry of a statement: a camt Ntry or a CFONB 04 record with
// its 05 complements.
//
// The reference fields at the line level (EndToEndID, MsgID, PmtInfID,
// ReturnReason, CounterpartyName, CounterpartyIBAN) hold the value that
// every transaction detail of the entry shares, so that the common
// one-transaction entry can be matched without looking into Details; they
// are empty when the details disagree. MsgID and PmtInfID come from the
// batch information first when the entry has one.
type Line struct {
	// StatementID is the ID of the statement the line belongs to.
	StatementID string
	// Index is the line's position in its statement, from 1.
	Index int
	// Amount is the entry's amount, never negative; Direction gives its
	// sign.
	Amount decimal.Decimal
	// Direction says whether the entry is a debit or a credit.
	Direction Direction
	// Status is BOOK, PDNG, INFO or FUTR (camt Sts); BOOK in CFONB.
	Status string
	// BookingDate and ValueDate are the entry's booking and value days.
	BookingDate ledger.Date `json:",omitzero"`
	ValueDate   ledger.Date `json:",omitzero"`
	// BankRef is the bank's reference of the entry: camt AcctSvcrRef; in
	// CFONB the reference of columns 105-120, or the entry number of
	// columns 82-88 when that is blank.
	BankRef string `json:",omitzero"`
	// Domain, Family and SubFamily are the ISO bank transaction code
	// (BkTxCd/Domn), e.g. PMNT/ICDT/ESCT for a SEPA transfer sent,
	// PMNT/ICDT/RRTN for its return, ACMT/MDOP/CHRG for a fee.
	Domain    string `json:",omitzero"`
	Family    string `json:",omitzero"`
	SubFamily string `json:",omitzero"`
	// BankCode is the bank's own transaction code: camt BkTxCd/Prtry/Cd;
	// in CFONB the interbank operation code of columns 33-34.
	BankCode string `json:",omitzero"`
	// EndToEndID is the end-to-end reference the payment was sent with (on
	// a return, the original payment's); in CFONB, the client reference of
	// an RCN complement.
	EndToEndID string `json:",omitzero"`
	// PmtInfID and MsgID are the payment information block and message
	// the entry books, as the bank reports them.
	PmtInfID string `json:",omitzero"`
	MsgID    string `json:",omitzero"`
	// Batch describes a batch-booked entry, one debit for a whole PmtInf;
	// nil for an entry that books one payment.
	Batch *BatchInfo `json:",omitzero"`
	// ReturnReason is the ISO reason code of a return (RtrInf/Rsn/Cd, e.g.
	// AC04); in CFONB the ISO code the bank wrote in a 05 complement
	// ("MOTIF AC04", see returnReason), else the ISO code the list of
	// French reject codes (Options.FrenchReasons) gives the two-character
	// code of columns 41-42, else that code, which is the CFONB's own.
	ReturnReason string `json:",omitzero"`
	// BankReason is, in CFONB when a list of French reject codes is
	// loaded (Options.FrenchReasons), the bank's own code of columns
	// 41-42 in words: "06: libellé" as the list writes it, or the code
	// and that the list does not hold it. Empty without a list.
	BankReason string `json:",omitzero"`
	// CounterpartyName and CounterpartyIBAN identify the other party: the
	// creditor of a debit, the debtor of a credit (falling back to the
	// other side when the bank names only that one, or names us there).
	// In CFONB the name comes from the NBE (payee) or NPY (payer)
	// complements; there is no IBAN.
	CounterpartyName string `json:",omitzero"`
	CounterpartyIBAN string `json:",omitzero"`
	// Label is the free text of the entry: camt AddtlNtryInf; in CFONB the
	// label of the 04 record followed by those of its LIB complements.
	Label string `json:",omitzero"`
	// Details are the entry's transactions (camt TxDtls), in file order;
	// empty for CFONB and for a batch the bank reports without details.
	Details []TxDetail `json:",omitzero"`
}

// Signed returns the line's amount with the sign of its direction: a credit
// positive, a debit negative.
func (l Line) Signed() decimal.Decimal {
	if l.Direction == Debit {
		return l.Amount.Neg()
	}
	return l.Amount
}

// TxDetail is one transaction booked by an entry (camt TxDtls).
type TxDetail struct {
	// EndToEndID, PmtInfID and MsgID are the references of the payment
	// (Refs); on a return, those of the original payment.
	EndToEndID string `json:",omitzero"`
	PmtInfID   string `json:",omitzero"`
	MsgID      string `json:",omitzero"`
	// BankRef is the bank's reference of the transaction (Refs/AcctSvcrRef).
	BankRef string `json:",omitzero"`
	// Amount and Currency are the transaction's amount: TxDtls/Amt
	// (.001.08), else AmtDtls/TxAmt, else AmtDtls/InstdAmt; zero and ""
	// when the bank gives none. The currency may differ from the
	// statement's for a foreign-exchange payment.
	Amount   decimal.Decimal `json:",omitzero"`
	Currency string          `json:",omitzero"`
	// Direction is the transaction's CdtDbtInd, or the entry's when absent.
	Direction Direction
	// ReturnReason is the return's reason code (RtrInf/Rsn/Cd or Prtry).
	ReturnReason string `json:",omitzero"`
	// CounterpartyName and CounterpartyIBAN identify the other party, as
	// for Line.
	CounterpartyName string `json:",omitzero"`
	CounterpartyIBAN string `json:",omitzero"`
	// Remittance is the unstructured remittance information (RmtInf/Ustrd),
	// several parts joined by a space.
	Remittance string `json:",omitzero"`
	// Info is the transaction's free text (AddtlTxInf).
	Info string `json:",omitzero"`
}

// BatchInfo describes a batch-booked entry (NtryDtls/Btch): one entry for a
// whole payment information block.
type BatchInfo struct {
	// MsgID and PmtInfID identify the message and block the batch books.
	MsgID    string `json:",omitzero"`
	PmtInfID string `json:",omitzero"`
	// Count is the number of transactions (NbOfTxs); 0 when not given.
	Count int `json:",omitzero"`
	// Total is the batch's total amount (TtlAmt); zero when not given.
	Total decimal.Decimal `json:",omitzero"`
}

// Summary describes a whole file once it has been read and checked.
type Summary struct {
	// Format is the file's format, as Statement.Format.
	Format string
	// FileSHA256 is the hex SHA-256 of the file's bytes.
	FileSHA256 string
	// Bytes is the file's size.
	Bytes int64
	// Statements are the file's statements, complete, in file order.
	Statements []Statement
	// Lines is the number of lines of all statements.
	Lines int
}

// Options bound what a reader accepts.
type Options struct {
	// MaxBytes is the largest file accepted; 0 means DefaultMaxBytes.
	MaxBytes int64
	// MaxDepth is the deepest nesting of XML elements accepted, the
	// document element counting as 1; 0 means DefaultMaxDepth.
	MaxDepth int
	// FrenchReasons translates the two-character reject codes of CFONB
	// 120 returns into ISO reason codes and words; nil: none is
	// translated, each kept as the bank gave it.
	FrenchReasons *FrenchReasons
}

// Default limits of Options.
const (
	DefaultMaxBytes = 512 << 20
	DefaultMaxDepth = 64
)

// Fixed limits of the statement readers, far above what the messages allow
// (140 characters for a remittance line, 500 for additional information, a
// few thousand transactions in a batch entry), so that no file, whatever
// its size, makes a reader hold more than a few megabytes at once. A file
// beyond one is refused with the line and element at fault as soon as the
// limit is passed, before the rest of the value is read.
const (
	// MaxValueBytes is the longest text of an element the reader keeps
	// (an identifier, a label, one remittance line), white space
	// included; the remittance lines of one transaction together have the
	// same limit.
	MaxValueBytes = 4 << 10
	// MaxTokenBytes is the longest run of bytes the XML decoder holds at
	// once: a tag with its attributes, a comment, the text between two
	// tags, of an element read or skipped.
	MaxTokenBytes = 64 << 10
	// MaxEntryDetails is the most transaction details (TxDtls) of one
	// entry.
	MaxEntryDetails = 100_000
	// MaxReports is the most statements (Stmt) or notifications (Ntfctn)
	// of one file, or statements (01 records) of a CFONB 120 file.
	MaxReports = 100_000
	// MaxComplements is the most 05 records after one CFONB 04 movement;
	// their LIB texts make one label, of at most about 4 KiB.
	MaxComplements = 64
)

func (o Options) withDefaults() Options {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	return o
}

// Reader reads a statement file one statement and one line at a time, so
// that a file of millions of entries is read in bounded memory. Each
// format has its constructor: NewCamt053Reader, NewCamt054Reader,
// NewCFONBReader.
//
// A reader checks as it goes, and each statement's balance (opening plus
// booked lines equals closing) once its last line has been read. An error
// therefore may come after many lines have been delivered: nothing of a
// malformed file must be imported, so a caller either imports in one
// transaction that it rolls back on any error, or first reads the whole
// file with Check and then imports it with a second reader (see Walk).
// Once a method has returned an error other than io.EOF, every later call
// returns that error.
type Reader interface {
	// NextStatement moves to the next statement and returns its header
	// (see Statement); lines of the current statement that were not read
	// are read and checked first. It returns io.EOF after the last
	// statement, once the whole file has been checked.
	NextStatement() (Statement, error)
	// NextLine returns the next line of the current statement. It returns
	// io.EOF after the statement's last line, once the statement's balance
	// has been checked, and before the first NextStatement.
	NextLine() (Line, error)
	// Summary describes the file; it is complete once NextStatement has
	// returned io.EOF.
	Summary() Summary
}

// Walk reads every statement and line of rd, calling fn with each line and
// the header of its statement, and returns the file's summary. It stops at
// the first error, from rd or from fn. fn may be nil.
//
// Because a file is only known good once it has been read to its end, an
// import either runs Walk inside one database transaction, committed only
// when Walk returns no error, or runs Check on the file first and Walk on it
// again afterwards.
func Walk(rd Reader, fn func(st Statement, line Line) error) (Summary, error) {
	for {
		st, err := rd.NextStatement()
		if err == io.EOF {
			return rd.Summary(), nil
		}
		if err != nil {
			return Summary{}, err
		}
		for {
			line, err := rd.NextLine()
			if err == io.EOF {
				break
			}
			if err != nil {
				return Summary{}, err
			}
			if fn == nil {
				continue
			}
			if err := fn(st, line); err != nil {
				return Summary{}, fmt.Errorf("statement %s line %d: %w", st.ID, line.Index, err)
			}
		}
	}
}

// Check reads and checks the whole file of rd, keeping none of its lines,
// and returns its summary: a caller verifies a file with Check before
// importing it in a second pass.
func Check(rd Reader) (Summary, error) { return Walk(rd, nil) }

// tally sums a statement's booked lines for its balance check.
type tally struct {
	sum decimal.Decimal
}

func (t *tally) add(l Line) {
	if l.Status == StatusBooked {
		t.sum = t.sum.Add(l.Signed())
	}
}

// mismatch returns why opening plus the tallied lines is not closing, or ""
// when the balance holds.
func (t *tally) mismatch(opening, closing decimal.Decimal) string {
	got := opening.Add(t.sum)
	if got.Equal(closing) {
		return ""
	}
	return fmt.Sprintf("balance mismatch: opening %s + booked entries %s = %s, but the closing balance is %s",
		money(opening), money(t.sum), money(got), money(closing))
}

// money writes d with at least two decimals.
func money(d decimal.Decimal) string {
	if d.Exponent() >= -2 {
		return d.StringFixed(2)
	}
	return d.String()
}
