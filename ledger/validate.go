package ledger

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
)

// Limits on what an entry may hold.
const (
	MaxKeyLength         = 200
	MaxDescriptionLength = 500
	MaxMemoLength        = 200
	MaxMetadataKeys      = 32
	MaxMetadataValue     = 500
	MaxLines             = 1000 // per standard entry; bulk entries have no limit
)

// MaxAmount bounds the magnitude of one posting: DECIMAL(19,2) holds less
// than 10^17.
var MaxAmount = decimal.New(1, 17)

var (
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
	codeRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*(:[A-Za-z0-9][A-Za-z0-9._-]*)*$`)
	metaKeyRE  = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)
)

// ValidateAmount checks one posting amount: non-zero, at most two decimals,
// and within DECIMAL(19,2).
func ValidateAmount(field string, a decimal.Decimal) error {
	if a.IsZero() {
		return errs.Field(field, "must not be zero")
	}
	if !a.Equal(a.Round(2)) {
		return errs.Field(field, "%s has more than two decimals", a.String())
	}
	if a.Abs().GreaterThanOrEqual(MaxAmount) {
		return errs.Field(field, "%s is too large", a.String())
	}
	return nil
}

// ValidateCode checks the shape of an account code.
func ValidateCode(field, code string) error {
	if code == "" {
		return errs.Field(field, "is required")
	}
	if len(code) > 120 || !codeRE.MatchString(code) {
		return errs.Field(field, "%q is not an account code (lowercase words joined by ':', a sub-ledger id last)", code)
	}
	return nil
}

// ValidateLine checks a line's shape; it does not look accounts up.
func ValidateLine(field string, l Line) error {
	if err := ValidateCode(field+".account", l.Account); err != nil {
		return err
	}
	if err := ValidateAmount(field+".amount", l.Amount); err != nil {
		return err
	}
	if l.Currency != "" && !currencyRE.MatchString(l.Currency) {
		return errs.Field(field+".currency", "%q is not an ISO 4217 code", l.Currency)
	}
	if utf8.RuneCountInString(l.Memo) > MaxMemoLength {
		return errs.Field(field+".memo", "is longer than %d characters", MaxMemoLength)
	}
	return nil
}

// validateHeader checks what every kind of entry has.
func validateHeader(key string, date Date, description string, meta map[string]string) error {
	switch {
	case strings.TrimSpace(key) == "":
		return errs.Field("idempotency_key", "is required")
	case len(key) > MaxKeyLength:
		return errs.Field("idempotency_key", "is longer than %d bytes", MaxKeyLength)
	case date.IsZero():
		return errs.Field("effective_date", "is required")
	case date.Time().Year() < 2000 || date.Time().Year() > 2199:
		return errs.Field("effective_date", "%s is outside the years 2000 to 2199", date)
	case strings.TrimSpace(description) == "":
		return errs.Field("description", "is required")
	case utf8.RuneCountInString(description) > MaxDescriptionLength:
		return errs.Field("description", "is longer than %d characters", MaxDescriptionLength)
	case len(meta) > MaxMetadataKeys:
		return errs.Field("metadata", "has more than %d keys", MaxMetadataKeys)
	}
	for k, v := range meta {
		if !metaKeyRE.MatchString(k) {
			return errs.Field("metadata."+k, "is not a key (lowercase letters, digits, '_', '.', '-')")
		}
		if utf8.RuneCountInString(v) > MaxMetadataValue {
			return errs.Field("metadata."+k, "is longer than %d characters", MaxMetadataValue)
		}
	}
	return nil
}

// Validate checks an entry's shape: header fields, two or more lines, each
// amount. Accounts, currencies and the balance are checked by the store,
// which knows the accounts.
func (e NewEntry) Validate() error {
	if err := validateHeader(e.IdempotencyKey, e.EffectiveDate, e.Description, e.Metadata); err != nil {
		return err
	}
	if len(e.Lines) < 2 {
		return errs.Field("lines", "an entry needs at least two postings, got %d", len(e.Lines))
	}
	if len(e.Lines) > MaxLines {
		return errs.Field("lines", "has %d postings, more than %d: post it in bulk", len(e.Lines), MaxLines)
	}
	for i, l := range e.Lines {
		if err := ValidateLine(fmt.Sprintf("lines[%d]", i), l); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks a bulk entry's header.
func (b BulkEntry) Validate() error {
	if err := validateHeader(b.IdempotencyKey, b.EffectiveDate, b.Description, b.Metadata); err != nil {
		return err
	}
	if err := ValidateCode("contra", b.Contra); err != nil {
		return err
	}
	if b.ChunkSize < 0 || b.ChunkSize > 100000 {
		return errs.Field("chunk_size", "must be between 1 and 100000")
	}
	if b.Lines == nil {
		return errs.Field("lines", "is required")
	}
	return nil
}

// Validate checks a reversal request.
func (r Reversal) Validate() error {
	switch {
	case r.EntryID == [16]byte{}:
		return errs.Field("entry_id", "is required")
	case strings.TrimSpace(r.IdempotencyKey) == "":
		return errs.Field("idempotency_key", "is required")
	case len(r.IdempotencyKey) > MaxKeyLength:
		return errs.Field("idempotency_key", "is longer than %d bytes", MaxKeyLength)
	case strings.TrimSpace(r.Reason) == "":
		return errs.Field("reason", "is required")
	case utf8.RuneCountInString(r.Reason) > MaxDescriptionLength:
		return errs.Field("reason", "is longer than %d characters", MaxDescriptionLength)
	}
	return nil
}

// Validate checks a new account.
func (a Account) Validate() error {
	switch {
	case ValidateCode("code", a.Code) != nil:
		return ValidateCode("code", a.Code)
	case strings.TrimSpace(a.Name) == "":
		return errs.Field("name", "is required")
	case !a.Type.Valid():
		return errs.Field("type", "%q is not asset, liability, equity, income or expense", a.Type)
	case !currencyRE.MatchString(a.Currency):
		return errs.Field("currency", "%q is not an ISO 4217 code", a.Currency)
	case a.NormalSide != "" && a.NormalSide != Debit && a.NormalSide != Credit:
		return errs.Field("normal_side", "%q is not debit or credit", a.NormalSide)
	case a.BalanceShards < 0 || a.BalanceShards > 64:
		return errs.Field("balance_shards", "must be between 1 and 64")
	}
	return nil
}
