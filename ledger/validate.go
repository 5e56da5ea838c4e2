package ledger

import (
	"fmt"
	"regexp"
	"sort"
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

// MaxBalance bounds the magnitude of a balance and of a posting: the
// DECIMAL(19,2) columns that hold them keep less than 10^17.
var MaxBalance = decimal.New(1, 17)

// MaxAmount bounds the magnitude of one posting: less than ten thousand
// billion. An entry has at most MaxLines lines, so one entry moves a
// balance by less than 10^16, a tenth of MaxBalance; a balance that many
// entries take beyond MaxBalance is refused by the store.
var MaxAmount = decimal.New(1, 13)

var (
	currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)
	codeRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*(:[A-Za-z0-9][A-Za-z0-9._-]*)*$`)
	metaKeyRE  = regexp.MustCompile(`^[a-z][a-z0-9_.-]{0,63}$`)
)

// ValidateAmount checks one posting amount: non-zero, at most two decimals,
// and less than MaxAmount.
func ValidateAmount(field string, a decimal.Decimal) error {
	if a.IsZero() {
		return errs.Field(field, "must not be zero")
	}
	if !a.Equal(a.Round(2)) {
		return errs.Field(field, "%s has more than two decimals", a.String())
	}
	if a.Abs().GreaterThanOrEqual(MaxAmount) {
		return errs.Field(field, "%s is too large: a posting is less than %s", a.String(), MaxAmount.StringFixed(0))
	}
	return nil
}

// amountRE is the one form of an amount given as text: an optional '-',
// digits, and at most two decimals after a '.'.
var amountRE = regexp.MustCompile(`^-?[0-9]+(\.[0-9]{1,2})?$`)

// ParseAmount reads an amount written as a person writes it: "125.40",
// "-3", "0.5". It refuses exponents ("1e3"), more than two decimals,
// thousands separators, a '+', spaces and anything else, naming field.
func ParseAmount(field, s string) (decimal.Decimal, error) {
	if !amountRE.MatchString(s) {
		return decimal.Decimal{}, errs.Field(field, "%q is not an amount: digits with at most two decimals after a '.', such as 125.40", s)
	}
	return decimal.RequireFromString(s), nil
}

// CheckText refuses text that cannot be stored as it was given: bytes that
// are not UTF-8, and the NUL character, which PostgreSQL keeps out of its
// text. field names the text in the error.
func CheckText(field, s string) error {
	if p := textProblem(s); p != "" {
		return errs.Field(field, "%s", p)
	}
	return nil
}

// InvalidUTF8At is the offset of the first byte of b that does not start a
// valid UTF-8 sequence, or -1 when b is UTF-8 text: for messages that point
// at the byte at fault.
func InvalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return -1
}

// textProblem says what makes s unfit to be stored as text, or "".
func textProblem(s string) string {
	switch {
	case !utf8.ValidString(s):
		return "is not valid UTF-8 text"
	case strings.IndexByte(s, 0) >= 0:
		return "holds a NUL character (\\u0000), which text may not hold"
	}
	return ""
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
	if err := CheckText(field+".memo", l.Memo); err != nil {
		return err
	}
	if utf8.RuneCountInString(l.Memo) > MaxMemoLength {
		return errs.Field(field+".memo", "is longer than %d characters", MaxMemoLength)
	}
	return nil
}

// validateHeader checks what every kind of entry has.
func validateHeader(key string, date Date, description, source string, meta map[string]string) error {
	if err := checkTexts("idempotency_key", key, "description", description, "source_ref", source); err != nil {
		return err
	}
	if err := checkMetadata("metadata", meta); err != nil {
		return err
	}
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
	if err := validateHeader(e.IdempotencyKey, e.EffectiveDate, e.Description, e.SourceRef, e.Metadata); err != nil {
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
	return validateFloors(e.Floors, e.Lines)
}

// Validate checks a bulk entry's header.
func (b BulkEntry) Validate() error {
	if err := validateHeader(b.IdempotencyKey, b.EffectiveDate, b.Description, b.SourceRef, b.Metadata); err != nil {
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

// checkTexts applies CheckText to pairs of field name and text.
func checkTexts(pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if err := CheckText(pairs[i], pairs[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// checkMetadata applies CheckText to the keys and values of meta, in key
// order so that the same map always gets the same error. A key at fault is
// named in the message, the field being the map's own: the key itself may
// not be printable.
func checkMetadata(field string, meta map[string]string) error {
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if p := textProblem(k); p != "" {
			return errs.Field(field, "key %q %s", k, p)
		}
		if err := CheckText(field+"."+k, meta[k]); err != nil {
			return err
		}
	}
	return nil
}

// ValidateSealReason checks the reason given for a seal.
func ValidateSealReason(reason string) error {
	if err := CheckText("reason", reason); err != nil {
		return err
	}
	if utf8.RuneCountInString(reason) > MaxDescriptionLength {
		return errs.Field("reason", "is longer than %d characters", MaxDescriptionLength)
	}
	return nil
}

// Validate checks a reversal request.
func (r Reversal) Validate() error {
	if err := checkTexts("idempotency_key", r.IdempotencyKey, "reason", r.Reason); err != nil {
		return err
	}
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
	if err := CheckText("name", a.Name); err != nil {
		return err
	}
	if err := checkMetadata("metadata", a.Metadata); err != nil {
		return err
	}
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
