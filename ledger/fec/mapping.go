package fec

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

// Account is an account of the public-body chart (GBCP) a ledger account
// maps to: its number and its label.
type Account struct {
	Num   string
	Label string
}

// ParseMapping reads the setting FEC_ACCOUNTS: "code=number" or
// "code=number:label" pairs separated by ",", e.g.
// "bank:main=5151:Banque de France,suspense=4718". A code names a ledger
// account of the chart, or a control account whose beneficiaries' accounts
// all map to its number. A number is 2 to 15 digits.
func ParseMapping(spec string) (map[string]Account, error) {
	out := map[string]Account{}
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		code, rest, ok := strings.Cut(part, "=")
		code = strings.TrimSpace(code)
		if !ok || code == "" {
			return nil, fmt.Errorf("%q is not code=number[:label]", part)
		}
		num, label, _ := strings.Cut(strings.TrimSpace(rest), ":")
		if err := checkNum(num); err != nil {
			return nil, fmt.Errorf("%s: %w", code, err)
		}
		if _, dup := out[code]; dup {
			return nil, fmt.Errorf("%s is mapped twice", code)
		}
		out[code] = Account{Num: num, Label: strings.TrimSpace(label)}
	}
	return out, nil
}

func checkNum(num string) error {
	if len(num) < 2 || len(num) > 15 || strings.Trim(num, "0123456789") != "" {
		return fmt.Errorf("%q is not an account number of 2 to 15 digits", num)
	}
	return nil
}

// GBCPKey is the metadata key of a chart account holding its number in the
// public-body chart (see ledger.Chart).
const GBCPKey = "gbcp"

// Mapping turns the ledger's accounts into accounts of the FEC.
type Mapping struct {
	top map[string]Account // by ledger code of an account without parent
}

// NewMapping maps each account of top, the ledger's accounts that have no
// parent (the chart, with its control accounts), to the number overrides
// gives it, else to the number of its metadata "gbcp". An account left
// without a number, or an override naming no such account, is an error
// naming it: the FEC never files a posting under a guessed number.
func NewMapping(top []ledger.Account, overrides map[string]Account) (*Mapping, error) {
	m := &Mapping{top: make(map[string]Account, len(top))}
	var missing []string
	for _, a := range top {
		acc, ok := overrides[a.Code]
		if !ok {
			num := a.Metadata[GBCPKey]
			if num == "" || checkNum(num) != nil {
				missing = append(missing, a.Code)
				continue
			}
			acc = Account{Num: num}
		}
		if acc.Label == "" {
			acc.Label = a.Name
		}
		m.top[a.Code] = acc
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, &errs.Error{Code: errs.Conflict, Field: "FEC_ACCOUNTS", Message: fmt.Sprintf(
			"the ledger account(s) %s map to no account number of the public-body chart: give each a metadata \"gbcp\" or a number in FEC_ACCOUNTS",
			strings.Join(missing, ", "))}
	}
	var unknown []string
	for code := range overrides {
		if _, ok := m.top[code]; !ok {
			unknown = append(unknown, code)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, &errs.Error{Code: errs.Conflict, Field: "FEC_ACCOUNTS", Message: fmt.Sprintf(
			"FEC_ACCOUNTS maps %s, which is no account of the chart without parent", strings.Join(unknown, ", "))}
	}
	return m, nil
}

// Resolve returns the FEC account of a ledger account (its code, name and
// parent): its own for an account of the chart; its control account's for
// a beneficiary's account, with the beneficiary as auxiliary account
// (CompAuxNum, the part of the code after "<control>:", and CompAuxLib, the
// account's name). An account that maps to nothing is an error naming it.
func (m *Mapping) Resolve(code, name, parent string) (acc Account, auxNum, auxLib string, err error) {
	if parent == "" {
		acc, ok := m.top[code]
		if !ok {
			return acc, "", "", &errs.Error{Code: errs.Conflict, Field: "FEC_ACCOUNTS",
				Message: fmt.Sprintf("the ledger account %s maps to no account number of the public-body chart", code)}
		}
		return acc, "", "", nil
	}
	acc, ok := m.top[parent]
	if !ok {
		return acc, "", "", &errs.Error{Code: errs.Conflict, Field: "FEC_ACCOUNTS",
			Message: fmt.Sprintf("the ledger account %s (under %s) maps to no account number of the public-body chart", code, parent)}
	}
	return acc, strings.TrimPrefix(code, parent+":"), name, nil
}
