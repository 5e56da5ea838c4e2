package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	paysql "github.com/ofii/allowances/payments/sqlstore"
)

// Step h runs the monthly ADA of RunPeriod over N synthetic households,
// loaded beforehand (and not timed) straight into beneficiaries, ada_facts
// and payees with the rows the eligibility consumer would have written for
// their events. The run reads no events on a first run of a period that
// nothing was paid for, so the events table is left empty.

// RunPeriod is the period of step h's ADA run.
var RunPeriod = payments.PeriodOf(ledger.NewDate(2026, time.October, 1))

// RunStart is when step h's run starts by its clock: the 5th of the month
// after RunPeriod, the scheduler's day, when the period is over.
var RunStart = time.Date(2026, time.November, 5, 8, 0, 0, 0, time.UTC)

// runTables are emptied before each load: the events step's households,
// and the runs and batches of a previous size, would otherwise be in the
// run (and a draft replaced by it removed within its timing).
const runTables = `events, beneficiaries, ada_facts, payees, overpayments, period_payments, recoveries,
	runs, batches, batch_totals, batch_lines`

// Household is a synthetic household of step h: what its events state.
// A zero date means the household has no such event.
type Household struct {
	ID string
	// Opened is the first day of rights, with the household, the
	// accommodation and the territory of the opening.
	Opened           ledger.Date
	Adults, Children int
	Accommodated     bool
	Territory        string
	Payee            payments.Payee
	// Suspended is the first day of a suspension that is not lifted.
	Suspended ledger.Date
	// Changed is the first day of the household NewAdults and NewChildren.
	Changed                ledger.Date
	NewAdults, NewChildren int
	// LastDay is the last day of rights, when they close.
	LastDay ledger.Date

	n int
}

// mixer yields the pseudo-random numbers of one household (SplitMix64), so
// that household i is the same whoever asks for it.
type mixer struct{ s uint64 }

func (m *mixer) next() uint64 {
	m.s += 0x9e3779b97f4a7c15
	z := m.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func (m *mixer) intn(n int) int { return int(m.next() % uint64(n)) }

// personsWeights are the percentages of households of 1 to 6 persons.
var personsWeights = []int{40, 18, 16, 12, 8, 6}

// SyntheticHousehold returns household i of step h for seed. The mix:
// 1 to 6 persons (40 % alone, couples and single parents with children),
// 30 % accommodated, 95 % in metropole, 3 % in guyane and 2 % in
// saint-martin; rights opened in the year before RunPeriod, or for 4 %
// within it; 2 % whose rights closed the month before (no line), and,
// drawn each on its own, 5 % suspended, 10 % with a household change and
// 2 % whose rights close, from a day within RunPeriod.
func SyntheticHousehold(seed uint64, i int) Household {
	m := mixer{s: seed<<40 ^ uint64(i)}
	m.next()
	h := Household{ID: householdID(i), n: i}
	persons, x := 1, m.intn(100)
	for k, w := range personsWeights {
		if x < w {
			persons = k + 1
			break
		}
		x -= w
	}
	h.Adults = 1
	if persons > 1 && m.intn(4) != 0 {
		h.Adults = 2
	}
	h.Children = persons - h.Adults
	h.Accommodated = m.intn(100) < 30
	switch t := m.intn(100); {
	case t < 95:
		h.Territory = payments.DefaultTerritory
	case t < 98:
		h.Territory = "guyane"
	default:
		h.Territory = "saint-martin"
	}
	h.Payee = payments.Payee{Name: fmt.Sprintf("Household %d", i), IBAN: frenchIBAN(i)}

	first := RunPeriod.First()
	switch x := m.intn(1000); {
	case x < 20: // closed in the month before
		h.LastDay = first.AddDays(-1 - m.intn(29))
		h.Opened = h.LastDay.AddDays(-30 - m.intn(300))
		return h
	case x < 60: // opened within the period
		h.Opened = first.AddDays(1 + m.intn(24))
	default:
		h.Opened = first.AddDays(-1 - m.intn(365))
	}
	// A day within the period, after the opening, by the 28th.
	within := func() ledger.Date {
		from := first.AddDays(1)
		if h.Opened.After(first) {
			from = h.Opened.AddDays(1)
		}
		return from.AddDays(m.intn(days(from, first.AddDays(27)) + 1))
	}
	if m.intn(100) < 5 {
		h.Suspended = within()
	}
	if m.intn(100) < 10 {
		h.Changed = within()
		h.NewAdults, h.NewChildren = h.Adults, h.Children+1 // a birth or a child joining
		if persons == len(personsWeights) {
			h.NewChildren = h.Children - 1
		}
	}
	if m.intn(100) < 2 {
		h.LastDay = within()
	}
	return h
}

// days returns the number of days from a to b.
func days(a, b ledger.Date) int { return int(b.Time().Sub(a.Time()) / (24 * time.Hour)) }

func householdID(i int) string { return fmt.Sprintf("HH-%08d", i) }

// Day returns what applies to h on d, as its events state it.
func (h Household) Day(d ledger.Date) payments.Day {
	out := payments.Day{Date: d}
	if d.Before(h.Opened) {
		return out
	}
	out.RightsOpen = h.LastDay.IsZero() || !h.LastDay.Before(d)
	out.Adults, out.Children = h.Adults, h.Children
	if !h.Changed.IsZero() && !d.Before(h.Changed) {
		out.Adults, out.Children = h.NewAdults, h.NewChildren
	}
	out.Accommodated, out.Territory = h.Accommodated, h.Territory
	out.Suspended = !h.Suspended.IsZero() && !d.Before(h.Suspended)
	return out
}

// Covered reports whether ADA is due to h for a day of p.
func (h Household) Covered(p payments.Period) bool {
	for d := p.First(); !d.After(p.Last()); d = d.AddDays(1) {
		if h.Day(d).Covered() {
			return true
		}
	}
	return false
}

// frenchIBAN returns a valid French IBAN whose account number is n.
func frenchIBAN(n int) string {
	const bank, branch = 30006, 1
	key := 97 - (89*bank+15*branch+3*n)%97
	bban := fmt.Sprintf("%05d%05d%011d%02d", bank, branch, n, key)
	r := 0
	for _, c := range bban + "FR00" {
		if c >= 'A' && c <= 'Z' {
			r = (r*100 + int(c-'A') + 10) % 97
		} else {
			r = (r*10 + int(c-'0')) % 97
		}
	}
	return fmt.Sprintf("FR%02d%s", 98-r, bban)
}

// synthFact is a row of ada_facts as the store writes it for an event
// (payments/sqlstore, plan.apply): the columns an event does not set are
// nil, NULL.
type synthFact struct {
	id                      uuid.UUID
	kind                    string
	effective               ledger.Date
	occurred                time.Time
	adults, children        any // int64
	accommodated, territory any // bool, string
	reason                  string
}

// eventID is the id of the event of kind of household i.
func eventID(ns uuid.UUID, i int, kind string) uuid.UUID {
	return uuid.NewSHA1(ns, fmt.Appendf(nil, "%d/%s", i, kind))
}

// occurredAt is when an event taking effect on d was sent: that day, or
// the day after for a closure, during office hours.
func occurredAt(d ledger.Date, h Household, kind int) time.Time {
	return d.Time().Add(7*time.Hour + time.Duration((h.n*37+kind*11)%480)*time.Minute)
}

// facts appends the ADA facts of h's events to out: the opening first.
func (h Household) facts(ns uuid.UUID, out []synthFact) []synthFact {
	id := func(kind string) uuid.UUID { return eventID(ns, h.n, kind) }
	out = append(out, synthFact{id: id("opened"), kind: "opened", effective: h.Opened, occurred: occurredAt(h.Opened, h, 0),
		adults: int64(h.Adults), children: int64(h.Children), accommodated: h.Accommodated, territory: h.Territory})
	if !h.Suspended.IsZero() {
		out = append(out, synthFact{id: id("suspended"), kind: "suspended", effective: h.Suspended,
			occurred: occurredAt(h.Suspended, h, 1), reason: "missed appointment"})
	}
	if !h.Changed.IsZero() {
		out = append(out, synthFact{id: id("household"), kind: "household", effective: h.Changed, occurred: occurredAt(h.Changed, h, 2),
			adults: int64(h.NewAdults), children: int64(h.NewChildren)})
	}
	if !h.LastDay.IsZero() {
		out = append(out, synthFact{id: id("closed"), kind: "closed", effective: h.LastDay,
			occurred: occurredAt(h.LastDay.AddDays(1), h, 3), reason: "final decision on the asylum claim"})
	}
	return out
}

// loadHouseholds empties the eligibility, run and batch tables, copies n
// synthetic households in, and returns how many have a covered day in
// RunPeriod.
func (e *env) loadHouseholds(ctx context.Context, n int) (int64, error) {
	if _, err := e.pool.Exec(ctx, `TRUNCATE `+runTables); err != nil {
		return 0, fmt.Errorf("empty the tables: %w", err)
	}
	ns := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "bench-households-%d", e.opts.Seed))
	e.prog.Step(fmt.Sprintf("h loading %d households", n), 3*int64(n))
	defer e.prog.Done()
	var covered int64
	// copyRows copies the rows rowsOf gives for each household.
	copyRows := func(table string, cols []string, base int64, rowsOf func(i int, out [][]any) [][]any) error {
		i, k := 0, 0
		var rows [][]any
		src := pgx.CopyFromFunc(func() ([]any, error) {
			for k == len(rows) {
				if i == n {
					return nil, nil
				}
				if i%10000 == 0 {
					e.prog.Set(base + int64(i))
				}
				rows, k = rowsOf(i, rows[:0]), 0
				i++
			}
			k++
			return rows[k-1], nil
		})
		if _, err := e.pool.CopyFrom(ctx, pgx.Identifier{table}, cols, src); err != nil {
			return fmt.Errorf("copy %s: %w", table, err)
		}
		return nil
	}

	// beneficiaries: first seen when the opening occurred, created when
	// it was applied, a moment later.
	err := copyRows("beneficiaries", []string{"id", "first_seen", "created_at"}, 0, func(i int, out [][]any) [][]any {
		h := SyntheticHousehold(e.opts.Seed, i)
		if h.Covered(RunPeriod) {
			covered++
		}
		at := occurredAt(h.Opened, h, 0)
		return append(out, []any{h.ID, at, at.Add(2 * time.Second)})
	})
	if err != nil {
		return 0, err
	}
	var facts []synthFact
	err = copyRows("ada_facts", []string{"event_id", "beneficiary_id", "kind", "effective", "occurred_at", "adults", "children",
		"accommodated", "territory", "reason"}, int64(n), func(i int, out [][]any) [][]any {
		h := SyntheticHousehold(e.opts.Seed, i)
		facts = h.facts(ns, facts[:0])
		for _, f := range facts {
			out = append(out, []any{f.id, h.ID, f.kind, f.effective.Time(), f.occurred, f.adults, f.children, f.accommodated,
				f.territory, f.reason})
		}
		return out
	})
	if err != nil {
		return 0, err
	}
	// payees: the opening's, in force from when it occurred.
	err = copyRows("payees", []string{"event_id", "beneficiary_id", "since", "name", "iban", "bic"}, 2*int64(n), func(i int, out [][]any) [][]any {
		h := SyntheticHousehold(e.opts.Seed, i)
		return append(out, []any{eventID(ns, i, "opened"), h.ID, occurredAt(h.Opened, h, 0), h.Payee.Name, h.Payee.IBAN, h.Payee.BIC})
	})
	if err != nil {
		return 0, err
	}
	// As autovacuum would have left them: statistics, visibility map and
	// hint bits, so that the run's first reads do not write.
	for _, t := range []string{"beneficiaries", "ada_facts", "payees"} {
		if _, err := e.pool.Exec(ctx, "VACUUM (ANALYZE) "+t); err != nil {
			_, _ = e.pool.Exec(ctx, "ANALYZE "+t)
		}
	}
	return covered, nil
}

// adaRun measures (h): the monthly ADA run of RunPeriod over n households,
// with the peak resident memory of the process and the peak Go heap.
func (e *env) adaRun(ctx context.Context, n int) (Result, error) {
	loadStart := time.Now()
	covered, err := e.loadHouseholds(ctx, n)
	if err != nil {
		return Result{}, fmt.Errorf("ADA run N=%d: load: %w", n, err)
	}
	load := time.Since(loadStart)
	e.settle(ctx)

	policy := db.DefaultRetryPolicy
	if e.opts.TxMaxAttempts > 0 {
		policy.MaxAttempts = e.opts.TxMaxAttempts
	}
	var start time.Time
	rs := paysql.NewRunStore(e.pool,
		paysql.WithSchedules(payments.DefaultSchedules()),
		paysql.WithChunkSize(e.opts.ChunkSize),
		paysql.WithRunRetryPolicy(policy),
		paysql.WithRunClock(func() time.Time { return RunStart.Add(time.Since(start)) }),
		paysql.WithProgress(func(r payments.Run) { e.prog.Set(int64(r.Processed)) }))

	e.prog.Step(fmt.Sprintf("h ADA run N=%d", n), int64(n))
	runtime.GC()
	debug.FreeOSMemory()
	exact := resetPeakRSS()
	rss := startRSSSampler(50 * time.Millisecond)
	h := startHeapSampler(20 * time.Millisecond)
	start = time.Now()
	run, err := rs.StartADARun(ctx, RunPeriod, payments.TriggerStaff, "ledgerctl bench")
	took := time.Since(start)
	inuse, sys := h.stop()
	peak := rss.stop()
	e.prog.Done()
	if err != nil {
		return Result{}, fmt.Errorf("ADA run N=%d: %w", n, err)
	}
	how := fmt.Sprintf("VmRSS sampled every %s", rss.every)
	if hwm, ok := procStatus("VmHWM"); exact && ok {
		peak, how = max(peak, hwm), "VmHWM after clear_refs"
	}

	var batchLines, stored int64
	err = e.pool.QueryRow(ctx, `SELECT (SELECT lines FROM batches WHERE id = $1), (SELECT count(*) FROM batch_lines WHERE batch_id = $1)`,
		run.BatchID).Scan(&batchLines, &stored)
	if err != nil {
		return Result{}, fmt.Errorf("ADA run N=%d: count the lines: %w", n, err)
	}
	switch {
	case run.Status != payments.RunDone:
		return Result{}, fmt.Errorf("ADA run N=%d ended %s", n, run.Status)
	case run.Processed != n:
		return Result{}, fmt.Errorf("ADA run N=%d processed %d households", n, run.Processed)
	case int64(run.Lines) != covered || batchLines != covered || stored != covered:
		return Result{}, fmt.Errorf("ADA run N=%d: %d lines (batch %d, stored %d), want one per household with a covered day, %d",
			n, run.Lines, batchLines, stored, covered)
	}
	chunk := e.opts.ChunkSize
	if chunk <= 0 {
		chunk = paysql.DefaultChunkSize
	}
	rssNote := "peak RSS unavailable"
	if peak > 0 {
		rssNote = fmt.Sprintf("peak RSS %.1f MiB (%s)", float64(peak)/(1<<20), how)
	}
	return Result{
		Step: "h", Name: "ADA monthly run", N: int64(n), Seconds: took.Seconds(), Rate: rate(int64(n), took), Unit: "households/s",
		PeakHeapInuse: inuse, PeakHeapSys: sys, PeakRSS: peak, Lines: int64(run.Lines),
		Note: fmt.Sprintf("StartADARun %s over %d households in chunks of %d: %d lines written; %s; households loaded by COPY in %s, not timed",
			RunPeriod, n, chunk, run.Lines, rssNote, load.Round(time.Millisecond)),
	}, nil
}

// resetPeakRSS resets the process's VmHWM to its current VmRSS, and
// reports whether it could.
func resetPeakRSS() bool {
	f, err := os.OpenFile("/proc/self/clear_refs", os.O_WRONLY, 0)
	if err != nil {
		return false
	}
	_, err = f.Write([]byte("5"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err == nil
}

// procStatus returns a field of /proc/self/status given in kB, in bytes.
func procStatus(field string) (uint64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		name, value, ok := bytes.Cut(s.Bytes(), []byte(":"))
		if !ok || string(name) != field {
			continue
		}
		kb, err := strconv.ParseUint(string(bytes.TrimSuffix(bytes.TrimSpace(value), []byte(" kB"))), 10, 64)
		return kb << 10, err == nil
	}
	return 0, false
}

// rssSampler records the largest VmRSS of the process.
type rssSampler struct {
	every time.Duration
	done  chan struct{}
	wg    sync.WaitGroup
	peak  uint64
}

func startRSSSampler(every time.Duration) *rssSampler {
	r := &rssSampler{every: every, done: make(chan struct{})}
	read := func() {
		if v, ok := procStatus("VmRSS"); ok {
			r.peak = max(r.peak, v)
		}
	}
	read()
	r.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-r.done:
				read()
				return
			case <-t.C:
				read()
			}
		}
	})
	return r
}

// stop ends sampling and returns the peak, 0 when VmRSS cannot be read.
func (r *rssSampler) stop() uint64 {
	close(r.done)
	r.wg.Wait()
	return r.peak
}
