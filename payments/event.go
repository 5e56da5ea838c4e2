package payments

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/ledger"
)

// EventType names a kind of eligibility event (docs/eligibility-events.md).
type EventType string

// The event types of schema version 1.
const (
	RightsOpened           EventType = "ada.rights_opened"
	HouseholdChanged       EventType = "ada.household_changed"
	AccommodationChanged   EventType = "ada.accommodation_changed"
	Suspended              EventType = "ada.suspended"
	Resumed                EventType = "ada.resumed"
	RightsClosed           EventType = "ada.rights_closed"
	PayeeChanged           EventType = "beneficiary.payee_changed"
	ReturnGrantDecided     EventType = "return.grant_decided"
	ReinsertionDecided     EventType = "reinsertion.grant_decided"
	TrancheReleased        EventType = "reinsertion.tranche_released"
	OverpaymentEstablished EventType = "overpayment.established"
)

// EventTypes lists every known type, in the contract's order.
var EventTypes = []EventType{RightsOpened, HouseholdChanged, AccommodationChanged, Suspended, Resumed,
	RightsClosed, PayeeChanged, ReturnGrantDecided, ReinsertionDecided, TrancheReleased, OverpaymentEstablished}

// SchemaVersion is the only schema version this service reads.
const SchemaVersion = 1

// MaxEventBytes is the largest event value accepted.
const MaxEventBytes = 64 << 10

// DefaultTerritory is the territory of a household when its event names none.
const DefaultTerritory = "metropole"

// Event is one eligibility decision about a beneficiary, parsed and valid.
// Exactly one of the typed data fields is set, the one of its Type.
type Event struct {
	ID            uuid.UUID `json:"event_id"`
	Type          EventType `json:"type"`
	SchemaVersion int       `json:"schema_version"`
	OccurredAt    time.Time `json:"occurred_at"`
	BeneficiaryID string    `json:"beneficiary_id"`

	RightsOpened  *RightsOpenedData  `json:"-"`
	Household     *HouseholdData     `json:"-"` // ada.household_changed
	Accommodation *AccommodationData `json:"-"` // ada.accommodation_changed
	Suspension    *SuspensionData    `json:"-"` // ada.suspended and ada.resumed
	RightsClosed  *RightsClosedData  `json:"-"`
	Payee         *Payee             `json:"-"` // beneficiary.payee_changed
	ReturnGrant   *ReturnGrant       `json:"-"`
	Reinsertion   *ReinsertionGrant  `json:"-"`
	Tranche       *TrancheRelease    `json:"-"`
	Overpayment   *Overpayment       `json:"-"`
}

// Payee is who is paid, and where.
type Payee struct {
	Name string `json:"name"`
	IBAN string `json:"iban"`
	BIC  string `json:"bic,omitempty"`
}

// RightsOpenedData opens a period of ADA rights from From.
type RightsOpenedData struct {
	From         ledger.Date `json:"from"`
	Adults       int         `json:"adults"`
	Children     int         `json:"children"`
	Accommodated bool        `json:"accommodated"`
	Territory    string      `json:"territory"`
	Payee        Payee       `json:"payee"`
}

// HouseholdData is the household's composition from From on.
type HouseholdData struct {
	From     ledger.Date `json:"from"`
	Adults   int         `json:"adults"`
	Children int         `json:"children"`
}

// AccommodationData says whether the household is housed from From on.
type AccommodationData struct {
	From         ledger.Date `json:"from"`
	Accommodated bool        `json:"accommodated"`
}

// SuspensionData suspends (ada.suspended) or resumes (ada.resumed) ADA
// from From.
type SuspensionData struct {
	From   ledger.Date `json:"from"`
	Reason string      `json:"reason,omitempty"`
}

// RightsClosedData closes the current period of rights after LastDay.
type RightsClosedData struct {
	LastDay ledger.Date `json:"last_day"`
	Reason  string      `json:"reason,omitempty"`
}

// ReturnGrant is an assisted voluntary return decision.
type ReturnGrant struct {
	GrantID                string      `json:"grant_id"`
	Country                string      `json:"country"`
	Adults                 int         `json:"adults"`
	Children               int         `json:"children"`
	RemovalOrderNotifiedOn ledger.Date `json:"removal_order_notified_on"`
	ValidatedOn            ledger.Date `json:"validated_on"`
	IncreasedRate          bool        `json:"increased_rate"`
	TravelDocument         bool        `json:"travel_document"`
	Scheme                 string      `json:"scheme"` // "standard" (default) or "channel"
	DepartureDate          ledger.Date `json:"departure_date"`
	Payee                  Payee       `json:"payee"`
}

// ReinsertionLevel is the kind of reinsertion aid.
type ReinsertionLevel string

// The reinsertion levels.
const (
	LevelSocial           ReinsertionLevel = "social"
	LevelEmployment       ReinsertionLevel = "employment"
	LevelBusinessCreation ReinsertionLevel = "business_creation"
)

// ReinsertionGrant is a reinsertion aid decision, paid in tranches.
type ReinsertionGrant struct {
	GrantID  string           `json:"grant_id"`
	Level    ReinsertionLevel `json:"level"`
	Amount   decimal.Decimal  `json:"amount"`
	Adults   int              `json:"adults,omitempty"`
	Children int              `json:"children,omitempty"`
	Tranches []Tranche        `json:"tranches"`
	Payee    Payee            `json:"payee"`
}

// Tranche is one part of a reinsertion grant.
type Tranche struct {
	TrancheID string          `json:"tranche_id"`
	Amount    decimal.Decimal `json:"amount"`
}

// TrancheRelease makes a tranche payable.
type TrancheRelease struct {
	GrantID    string      `json:"grant_id"`
	TrancheID  string      `json:"tranche_id"`
	ReleasedOn ledger.Date `json:"released_on"`
}

// Overpayment is an amount paid without right, to recover by deductions.
type Overpayment struct {
	OverpaymentID string          `json:"overpayment_id"`
	Amount        decimal.Decimal `json:"amount"`
	Reason        string          `json:"reason,omitempty"`
	Fraud         bool            `json:"fraud"`
}

// Source is where a record came from: topic, partition and offset.
type Source struct {
	Topic     string `json:"topic"`
	Partition int    `json:"partition"`
	Offset    int64  `json:"offset"`
}

// Record is one record as read from the eligibility topic.
type Record struct {
	Source
	Key   []byte
	Value []byte
	// Prepared is what a Preparer made of Value ahead of Apply, for that
	// sink's Apply alone; nil when the record was not prepared.
	Prepared any
}

// Outcome says what applying one record did.
type Outcome string

// The outcomes of a record.
const (
	OutcomeApplied    Outcome = "applied"     // its effects were written
	OutcomeDuplicate  Outcome = "duplicate"   // its event id was seen before: nothing changed
	OutcomeDeadLetter Outcome = "dead_letter" // invalid: recorded as a dead letter, nothing applied
)

// Result is the outcome of one record of a batch.
type Result struct {
	Outcome Outcome
	Type    EventType // when known
	Error   string    // for a dead letter: the reason, naming the field
}

// DeadLetter is an invalid record kept for staff, and to be written to the
// dead-letter topic.
type DeadLetter struct {
	ID          uuid.UUID  `json:"id"`
	Source      Source     `json:"source"`
	Key         string     `json:"key"`
	Value       []byte     `json:"-"`
	Error       string     `json:"error"`
	EventID     *uuid.UUID `json:"event_id,omitempty"`
	Type        string     `json:"type,omitempty"`
	Beneficiary string     `json:"beneficiary_id,omitempty"`
	ReceivedAt  time.Time  `json:"received_at"`
	PublishedAt *time.Time `json:"published_at,omitempty"` // to the dead-letter topic
}

// Preparer is an EventSink that can do ahead of Apply, with no database
// and outside any transaction, the part of a record's work that needs
// neither: parsing it and checking it against the contract. A consumer
// prepares the next batch while the sink applies the one before, so that
// the database does not wait for the parsing.
type Preparer interface {
	// Prepare sets the records' Prepared, which the sink's Apply uses
	// instead of doing that work again. It never fails: a record that does
	// not parse is a dead letter of Apply, as it would be unprepared.
	Prepare(records []Record)
}

// DeadLetterQuery filters the dead letters.
type DeadLetterQuery struct {
	Type        string
	Beneficiary string
	Since       time.Time
	Cursor      string
	Limit       int
}

// ParseEvent is the contract's parser: see parse.go.

// EventSink applies records read from the eligibility topic.
type EventSink interface {
	// Apply parses, validates and applies a batch of records in one
	// transaction: new valid events have their effects written, duplicates
	// change nothing, invalid records are recorded as dead letters. It
	// returns one Result per record, in order. An error means nothing was
	// applied (the database is unreachable, say) and the batch must be
	// offered again.
	Apply(ctx context.Context, records []Record) ([]Result, error)
	// RecordDeadLetter records one record as a dead letter with the given
	// reason, whatever it holds: the consumer's last resort for a record
	// that keeps failing for a reason other than an unreachable database,
	// so that it never blocks its partition.
	RecordDeadLetter(ctx context.Context, r Record, reason string) error
	// UnpublishedDeadLetters returns dead letters not yet written to the
	// dead-letter topic, oldest first.
	UnpublishedDeadLetters(ctx context.Context, limit int) ([]DeadLetter, error)
	// MarkDeadLettersPublished records that the dead letters were written to
	// the dead-letter topic.
	MarkDeadLettersPublished(ctx context.Context, ids []uuid.UUID) error
}
