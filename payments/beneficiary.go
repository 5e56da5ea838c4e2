package payments

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/mask"
	"github.com/ofii/allowances/ledger"
)

// The state of a beneficiary is kept as the facts its events stated, each
// with the day it takes effect. What applied on a day is read from the facts
// at the time of asking, so it never depends on the order in which events
// arrived, only on the set of distinct events: among the facts of one kind
// that take effect on or before the day, the one with the latest effective
// date wins, ties going to the later occurred_at, then the larger event id.

// Beneficiary is a beneficiary's timeline, as staff read it.
type Beneficiary struct {
	ID            string              `json:"id"`
	FirstSeen     time.Time           `json:"first_seen"`
	Events        int                 `json:"events"`
	Rights        []RightsPeriod      `json:"rights"`
	Household     []HouseholdSpan     `json:"household"`
	Accommodation []AccommodationSpan `json:"accommodation"`
	Territory     []TerritorySpan     `json:"territory"`
	Suspensions   []SuspensionSpan    `json:"suspensions"`
	Payees        []PayeeRecord       `json:"payees"`
	ReturnGrants  []ReturnGrant       `json:"return_grants"`
	Reinsertion   []ReinsertionState  `json:"reinsertion_grants"`
	Overpayments  []OverpaymentRecord `json:"overpayments"`
}

// RightsPeriod is a period of ADA rights; LastDay is zero while it is open.
type RightsPeriod struct {
	From    ledger.Date `json:"from"`
	LastDay ledger.Date `json:"last_day,omitzero"`
	Reason  string      `json:"close_reason,omitempty"`
}

// HouseholdSpan is the composition in force from From until the next span.
type HouseholdSpan struct {
	From     ledger.Date `json:"from"`
	Adults   int         `json:"adults"`
	Children int         `json:"children"`
}

// AccommodationSpan says whether the household is housed from From on.
type AccommodationSpan struct {
	From         ledger.Date `json:"from"`
	Accommodated bool        `json:"accommodated"`
}

// TerritorySpan is the territory from From on.
type TerritorySpan struct {
	From      ledger.Date `json:"from"`
	Territory string      `json:"territory"`
}

// SuspensionSpan is a suspension of ADA: from From up to the day before
// Until (zero while it lasts).
type SuspensionSpan struct {
	From   ledger.Date `json:"from"`
	Until  ledger.Date `json:"until,omitzero"`
	Reason string      `json:"reason,omitempty"`
}

// PayeeRecord is a payee in force from the moment its event occurred.
type PayeeRecord struct {
	Since   time.Time `json:"since"`
	EventID uuid.UUID `json:"event_id"`
	Payee   Payee     `json:"payee"`
}

// ReinsertionState is a reinsertion grant with the release of its tranches.
type ReinsertionState struct {
	ReinsertionGrant
	BeneficiaryID string         `json:"beneficiary_id"`
	Released      []TrancheState `json:"tranche_states"`
}

// TrancheState is one tranche and, once released, the day it was.
type TrancheState struct {
	TrancheID  string          `json:"tranche_id"`
	Amount     decimal.Decimal `json:"amount"`
	ReleasedOn ledger.Date     `json:"released_on,omitzero"`
}

// OverpaymentRecord is an established overpayment.
type OverpaymentRecord struct {
	Overpayment
	EstablishedAt time.Time `json:"established_at"`
	EventID       uuid.UUID `json:"event_id"`
}

// Day is what applied to a beneficiary's ADA on one day.
type Day struct {
	Date         ledger.Date `json:"date"`
	RightsOpen   bool        `json:"rights_open"`
	Suspended    bool        `json:"suspended"`
	Adults       int         `json:"adults"`
	Children     int         `json:"children"`
	Accommodated bool        `json:"accommodated"`
	Territory    string      `json:"territory"`
}

// Covered reports whether ADA is due for the day.
func (d Day) Covered() bool { return d.RightsOpen && !d.Suspended }

// Beneficiaries reads the beneficiaries' state, and records who read it.
type Beneficiaries interface {
	ReadLog
	// Beneficiary returns one beneficiary's timeline.
	Beneficiary(ctx context.Context, id string) (Beneficiary, error)
	// Days returns what applied on each day from from to to, inclusive.
	Days(ctx context.Context, id string, from, to ledger.Date) ([]Day, error)
	// PayeeAt returns the payee in force at t.
	PayeeAt(ctx context.Context, id string, t time.Time) (Payee, error)
	// DeadLetters lists the dead letters, newest first.
	DeadLetters(ctx context.Context, q DeadLetterQuery) ([]DeadLetter, string, error)
	// Unopened lists the beneficiaries whose facts have waited for a rights
	// opening for at least the query's days, longest waiting first.
	Unopened(ctx context.Context, q UnopenedQuery) ([]Unopened, string, error)
}

// Unopened is a beneficiary with facts that wait for a rights opening: a
// change, a payee or an overpayment that arrived before the opening it
// follows, or whose opening never came. Its facts take effect once the
// opening is applied; until then nothing is paid to it.
type Unopened struct {
	ID string `json:"id"`
	// Since is when its first fact waiting for an opening was applied.
	Since     time.Time `json:"unopened_since"`
	FirstSeen time.Time `json:"first_seen"`
	Events    int       `json:"events"`
}

// UnopenedQuery selects the beneficiaries waiting for an opening.
type UnopenedQuery struct {
	// Days is how long the facts have waited at least; 0: the store's
	// setting (ORPHAN_FACTS_DAYS).
	Days   int
	Cursor string
	Limit  int
}

// MaskIBANs hides every IBAN of the timeline but its country, check digits
// and last four characters, for readers who do not pay.
func (b *Beneficiary) MaskIBANs() {
	for i := range b.Payees {
		b.Payees[i].Payee.IBAN = mask.MaskIBAN(b.Payees[i].Payee.IBAN)
	}
	for i := range b.ReturnGrants {
		b.ReturnGrants[i].Payee.IBAN = mask.MaskIBAN(b.ReturnGrants[i].Payee.IBAN)
	}
	for i := range b.Reinsertion {
		b.Reinsertion[i].Payee.IBAN = mask.MaskIBAN(b.Reinsertion[i].Payee.IBAN)
	}
}

// HasIBAN reports whether the timeline holds an IBAN: what a reader who
// pays sees in full.
func (b Beneficiary) HasIBAN() bool {
	for _, p := range b.Payees {
		if p.Payee.IBAN != "" {
			return true
		}
	}
	for _, g := range b.ReturnGrants {
		if g.Payee.IBAN != "" {
			return true
		}
	}
	for _, g := range b.Reinsertion {
		if g.Payee.IBAN != "" {
			return true
		}
	}
	return false
}
