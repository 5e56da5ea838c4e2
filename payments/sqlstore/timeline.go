package sqlstore

import (
	"bytes"
	"sort"
	"time"

	"github.com/google/uuid"

	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
)

// The kinds of ADA facts (ada_facts.kind).
const (
	kindOpened        = "opened"
	kindClosed        = "closed"
	kindHousehold     = "household"
	kindAccommodation = "accommodation"
	kindSuspended     = "suspended"
	kindResumed       = "resumed"
)

// fact is one row of ada_facts. For a closure, effective is the last day
// of rights.
type fact struct {
	eventID      uuid.UUID
	kind         string
	effective    ledger.Date
	occurred     time.Time
	adults       int
	children     int
	accommodated bool
	territory    string
	reason       string
}

// before orders facts as the rule of payments/beneficiary.go does: by
// effective date, then occurred_at, then event id; of the facts in force
// on a day, the last in this order wins.
func (f *fact) before(g *fact) bool {
	if !sameDay(f.effective, g.effective) {
		return f.effective.Before(g.effective)
	}
	if !f.occurred.Equal(g.occurred) {
		return f.occurred.Before(g.occurred)
	}
	return bytes.Compare(f.eventID[:], g.eventID[:]) < 0
}

// facts are a beneficiary's ADA facts, grouped by what they decide, each
// group in the winning order. An opening counts in every group but the
// closures: it states the household, the accommodation and the territory,
// and it ends a suspension.
type facts struct {
	opened, closed, household, accommodation, suspension []*fact
	// effective are the days every fact takes effect, in order.
	effective []ledger.Date
}

func newFacts(all []fact) *facts {
	fs := &facts{effective: make([]ledger.Date, 0, len(all))}
	for i := range all {
		f := &all[i]
		fs.effective = append(fs.effective, f.effective)
		switch f.kind {
		case kindOpened:
			fs.opened = append(fs.opened, f)
			fs.household = append(fs.household, f)
			fs.accommodation = append(fs.accommodation, f)
			fs.suspension = append(fs.suspension, f)
		case kindClosed:
			fs.closed = append(fs.closed, f)
		case kindHousehold:
			fs.household = append(fs.household, f)
		case kindAccommodation:
			fs.accommodation = append(fs.accommodation, f)
		case kindSuspended, kindResumed:
			fs.suspension = append(fs.suspension, f)
		}
	}
	sort.Slice(fs.effective, func(a, b int) bool { return fs.effective[a].Before(fs.effective[b]) })
	for _, g := range [][]*fact{fs.opened, fs.closed, fs.household, fs.accommodation, fs.suspension} {
		sort.Slice(g, func(a, b int) bool { return g[a].before(g[b]) })
	}
	return fs
}

// winner returns the fact of g in force on d: the last one taking effect on
// or before d, or nil.
func winner(g []*fact, d ledger.Date) *fact {
	i := sort.Search(len(g), func(i int) bool { return g[i].effective.After(d) })
	if i == 0 {
		return nil
	}
	return g[i-1]
}

// firstClosure returns the closure with the earliest last day on or after
// from (the winner among those sharing that day), or nil.
func (fs *facts) firstClosure(from ledger.Date) *fact {
	c := fs.closed
	i := sort.Search(len(c), func(i int) bool { return !c[i].effective.Before(from) })
	if i == len(c) {
		return nil
	}
	for i+1 < len(c) && sameDay(c[i+1].effective, c[i].effective) {
		i++
	}
	return c[i]
}

// day is what applied on d. Rights are open when the latest opening on or
// before d has no closure whose last day falls between it and the day
// before d.
func (fs *facts) day(d ledger.Date) payments.Day {
	out := payments.Day{Date: d}
	if op := winner(fs.opened, d); op != nil {
		c := fs.firstClosure(op.effective)
		out.RightsOpen = c == nil || !c.effective.Before(d)
		out.Territory = op.territory
	}
	if h := winner(fs.household, d); h != nil {
		out.Adults, out.Children = h.adults, h.children
	}
	if a := winner(fs.accommodation, d); a != nil {
		out.Accommodated = a.accommodated
	}
	if s := winner(fs.suspension, d); s != nil {
		out.Suspended = s.kind == kindSuspended
	}
	return out
}

// distinct returns, for each effective date of g, the fact that wins on it.
func distinct(g []*fact) []*fact {
	var out []*fact
	for i, f := range g {
		if i+1 < len(g) && sameDay(g[i+1].effective, f.effective) {
			continue
		}
		out = append(out, f)
	}
	return out
}

// rights returns the periods of rights, consistent with day: an opening
// while rights are open continues the period; a closure ends it on its
// last day.
func (fs *facts) rights() []payments.RightsPeriod {
	openings := distinct(fs.opened)
	out := []payments.RightsPeriod{}
	for i, o := range openings {
		if n := len(out); n == 0 || !out[n-1].LastDay.IsZero() {
			out = append(out, payments.RightsPeriod{From: o.effective})
		}
		c := fs.firstClosure(o.effective)
		if c != nil && (i+1 == len(openings) || c.effective.Before(openings[i+1].effective)) {
			cur := &out[len(out)-1]
			cur.LastDay, cur.Reason = c.effective, c.reason
		}
	}
	return out
}

func (fs *facts) householdSpans() []payments.HouseholdSpan {
	out := []payments.HouseholdSpan{}
	for _, f := range distinct(fs.household) {
		if n := len(out); n > 0 && out[n-1].Adults == f.adults && out[n-1].Children == f.children {
			continue
		}
		out = append(out, payments.HouseholdSpan{From: f.effective, Adults: f.adults, Children: f.children})
	}
	return out
}

func (fs *facts) accommodationSpans() []payments.AccommodationSpan {
	out := []payments.AccommodationSpan{}
	for _, f := range distinct(fs.accommodation) {
		if n := len(out); n > 0 && out[n-1].Accommodated == f.accommodated {
			continue
		}
		out = append(out, payments.AccommodationSpan{From: f.effective, Accommodated: f.accommodated})
	}
	return out
}

func (fs *facts) territorySpans() []payments.TerritorySpan {
	out := []payments.TerritorySpan{}
	for _, f := range distinct(fs.opened) {
		if n := len(out); n > 0 && out[n-1].Territory == f.territory {
			continue
		}
		out = append(out, payments.TerritorySpan{From: f.effective, Territory: f.territory})
	}
	return out
}

// suspensions returns the suspensions, consistent with day: from a
// suspension in force up to the first resumption (or opening) in force
// after it.
func (fs *facts) suspensions() []payments.SuspensionSpan {
	out := []payments.SuspensionSpan{}
	for _, f := range distinct(fs.suspension) {
		open := len(out) > 0 && out[len(out)-1].Until.IsZero()
		switch {
		case f.kind == kindSuspended && !open:
			out = append(out, payments.SuspensionSpan{From: f.effective, Reason: f.reason})
		case f.kind != kindSuspended && open:
			out[len(out)-1].Until = f.effective
		}
	}
	return out
}

func sameDay(a, b ledger.Date) bool { return a.Time().Equal(b.Time()) }
