package fec

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

// Posting is one posting of the ledger as the export reads it: the line,
// its entry's header, its account's name and parent, and the match of
// reconciliation that settled it, if any.
type Posting struct {
	EntryID        uuid.UUID
	IdempotencyKey string
	EffectiveDate  ledger.Date
	PostedAt       time.Time
	Description    string
	SourceRef      string
	Line           int64
	Account        string
	AccountName    string
	Parent         string
	Amount         decimal.Decimal // debit positive, credit negative
	Memo           string
	// Match is the reconciliation match that booked the payment of the
	// line (its memo names the payment), on the day MatchDate; nil when
	// none did. The store fills it only for the lines Lettered says may be
	// lettered.
	Match     *uuid.UUID
	MatchDate ledger.Date
}

// Lettered reports whether a posting on account (under parent) of the
// entry of idempotencyKey is lettered when its payment is booked: the
// lines of a beneficiary's payable account in the accrual that owed the
// payment and in the release that paid it, which cancel out once the
// statement books it.
func Lettered(idempotencyKey, parent string) bool {
	return parent == ledger.Payable && letteredSource(idempotencyKey)
}

// Snapshot reads the ledger as it stood at one moment.
type Snapshot interface {
	// TopAccounts returns the accounts without parent: the chart.
	TopAccounts(ctx context.Context) ([]ledger.Account, error)
	// Postings calls fn with every posting of the posted entries whose
	// effective date falls in p, entry after entry in the order of their
	// effective date, posting time and id, and line after line.
	Postings(ctx context.Context, p Period, fn func(Posting) error) error
}

// Source opens snapshots of the ledger.
type Source interface {
	// FECSnapshot calls fn with a snapshot of the ledger that no write
	// changes while fn runs.
	FECSnapshot(ctx context.Context, fn func(Snapshot) error) error
}

// Summary is what an export wrote.
type Summary struct {
	Lines   int64           `json:"lines"`
	Entries int64           `json:"entries"`
	Debit   decimal.Decimal `json:"debit"`
	Credit  decimal.Decimal `json:"credit"`
}

// Exporter writes FECs of the ledger.
type Exporter struct {
	Source Source
	// SIREN is the service's SIREN, the start of the file's name.
	SIREN string
	// Accounts are the numbers set by FEC_ACCOUNTS, over those of the
	// chart's metadata.
	Accounts map[string]Account
}

// NewExporter returns an exporter of src for the SIREN siren (checked) and
// the account numbers of the setting FEC_ACCOUNTS.
func NewExporter(src Source, siren, accounts string) (*Exporter, error) {
	if err := CheckSIREN(siren); err != nil {
		return nil, err
	}
	m, err := ParseMapping(accounts)
	if err != nil {
		return nil, errs.Field("FEC_ACCOUNTS", "%v", err)
	}
	return &Exporter{Source: src, SIREN: siren, Accounts: m}, nil
}

// FileName is the name of the FEC closing on to.
func (x *Exporter) FileName(to ledger.Date) string { return FileName(x.SIREN, to) }

// Export writes the FEC of p: it maps the chart first, and only then calls
// open for the writer of the file, so that an account that maps to
// nothing fails the export before a byte of it is written; then the header
// and one line per posting, as they are read, numbering the entries from 1
// in their order. Everything is read from one snapshot: an entry is in the
// file whole or not at all. An error after open was called leaves the file
// cut short; the caller must not present it as whole.
func (x *Exporter) Export(ctx context.Context, p Period, open func() (io.Writer, error)) (Summary, error) {
	var sum Summary
	err := x.Source.FECSnapshot(ctx, func(snap Snapshot) error {
		top, err := snap.TopAccounts(ctx)
		if err != nil {
			return err
		}
		m, err := NewMapping(top, x.Accounts)
		if err != nil {
			return err
		}
		w, err := open()
		if err != nil {
			return err
		}
		bw := bufio.NewWriterSize(w, 64<<10)
		if _, err := bw.WriteString(Header()); err != nil {
			return fmt.Errorf("write the FEC: %w", err)
		}
		var last uuid.UUID
		buf := make([]byte, 0, 512)
		err = snap.Postings(ctx, p, func(ps Posting) error {
			if ps.EntryID != last {
				last = ps.EntryID
				sum.Entries++
			}
			l, err := lineOf(m, ps, sum.Entries)
			if err != nil {
				return err
			}
			sum.Lines++
			sum.Debit, sum.Credit = sum.Debit.Add(l.Debit), sum.Credit.Add(l.Credit)
			buf = l.AppendTo(buf[:0])
			if _, err := bw.Write(buf); err != nil {
				return fmt.Errorf("write the FEC: %w", err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("write the FEC: %w", err)
		}
		return nil
	})
	return sum, err
}

// lineOf is the FEC line of a posting of the num-th entry.
func lineOf(m *Mapping, p Posting, num int64) (Line, error) {
	acc, auxNum, auxLib, err := m.Resolve(p.Account, p.AccountName, p.Parent)
	if err != nil {
		return Line{}, err
	}
	j := JournalOf(p.IdempotencyKey)
	lib := p.Description
	if p.Memo != "" {
		lib += " - " + p.Memo
	}
	piece := p.SourceRef
	if piece == "" {
		piece = p.IdempotencyKey
	}
	l := Line{
		JournalCode: j.Code, JournalLib: j.Label, EcritureNum: num, EcritureDate: p.EffectiveDate,
		CompteNum: acc.Num, CompteLib: acc.Label, CompAuxNum: auxNum, CompAuxLib: auxLib,
		PieceRef: piece, PieceDate: p.EffectiveDate, EcritureLib: lib,
		Debit: decimal.Zero, Credit: decimal.Zero,
		ValidDate: ledger.DateOf(p.PostedAt.In(legalTime)),
	}
	if p.Amount.IsNegative() {
		l.Credit = p.Amount.Neg()
	} else {
		l.Debit = p.Amount
	}
	if p.Match != nil {
		l.EcritureLet, l.DateLet = Letter(*p.Match), p.MatchDate
	}
	return l, nil
}
