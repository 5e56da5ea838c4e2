// Package bench measures the ledger against the database it runs on: the
// COPY floor of writing postings, bulk posting, single transfers on cold and
// hot accounts, a pgbench-like TPC-B reference, the monthly ADA run of
// synthetic households and the whole month of them (run, approvals and
// release), all in one scratch database on the server of
// DATABASE_URL, so that the ratios between them say how close the ledger
// comes to what the server can do.
package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/migrations"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/ledger/sqlstore"
)

// AccountsMode says how the beneficiary accounts of the bulk entry come to
// exist.
type AccountsMode string

// The ways beneficiary accounts are created.
const (
	// AccountsInsert creates them before the timing with multi-row INSERTs
	// into accounts (and their balance rows).
	AccountsInsert AccountsMode = "insert"
	// AccountsStore leaves them to the store, which creates a sub-ledger
	// account on its first posting; their creation is then timed.
	AccountsStore AccountsMode = "store"
)

// Options configure a run. Zero fields take the values of Defaults.
type Options struct {
	// DatabaseURL names the server; its database is never touched.
	DatabaseURL string `json:"-"`
	// Database is the scratch database, dropped and created at the start.
	Database string `json:"database"`
	// Keep leaves the scratch database in place after the run.
	Keep bool `json:"keep"`
	// Sizes are the line counts of the COPY floor and the bulk entries.
	Sizes []int `json:"sizes"`
	// ChunkSize is the bulk entry's lines per transaction; 0 is the store's
	// default.
	ChunkSize int `json:"chunk_size"`
	// Accounts says who creates the bulk entry's beneficiary accounts.
	Accounts AccountsMode `json:"accounts"`
	// Clients is the number of concurrent clients of the timed steps.
	Clients int `json:"clients"`
	// Duration is the length of each timed step, unless Count is set.
	Duration time.Duration `json:"duration_ns"`
	// Count, when positive, runs each timed step for this many transactions
	// in all instead of for Duration.
	Count int `json:"count,omitempty"`
	// ColdAccounts is the number of accounts the transfers pick from.
	ColdAccounts int `json:"cold_accounts"`
	// Branches, TellersPerBranch and AccountsPerBranch size the TPC-B
	// reference tables.
	Branches          int `json:"branches"`
	TellersPerBranch  int `json:"tellers_per_branch"`
	AccountsPerBranch int `json:"accounts_per_branch"`
	// Seed makes amounts and account picks repeatable.
	Seed uint64 `json:"seed"`
	// Events is the number of eligibility events of the events steps; 0
	// means the default, negative skips them.
	Events int `json:"events"`
	// Households are the household counts of the ADA run step, one run
	// each; nil means the default, an empty list or a negative count skips
	// the step. ChunkSize, when set, is also the run's beneficiaries per
	// transaction.
	Households []int `json:"households"`
	// Statements are the line counts of the reconciliation step, one
	// statement each; nil means the default, an empty list or a negative
	// count skips the step.
	Statements []int `json:"statements"`
	// Backlog is the number of unmatched statement lines beside which the
	// incremental matching step imports a statement of two lines; 0 means
	// DefaultBacklog, negative skips the step.
	Backlog int `json:"backlog"`
	// TxMaxAttempts bounds the store's attempts of a write transaction that
	// loses a serialization conflict; 0 is db.DefaultRetryPolicy's.
	TxMaxAttempts int `json:"tx_max_attempts,omitempty"`
	// Steps are the letters of the steps to run (AllSteps when empty); the
	// COPY floor (a), which the ratios divide by, runs always, and g runs
	// with f.
	Steps string `json:"steps,omitempty"`
	// EventBatch is the consumer's batch size of step f; 0 is the one the
	// service ships with (config.DefaultEventBatch).
	EventBatch int `json:"event_batch,omitempty"`
	// BulkWrite is how the ledger and the reconciliation write rows in
	// bulk, as BULK_WRITE says it: auto, copy or insert; empty is auto.
	// The COPY floor (a) is COPY whatever it says.
	BulkWrite string `json:"bulk_write,omitempty"`
	// AnalyzeBetween has step w ANALYZE the scratch database between its
	// phases, untimed, as autovacuum would have before the staff approve
	// and release; by default the statistics stay as the phases' writes
	// left them.
	AnalyzeBetween bool `json:"analyze_between,omitempty"`
}

// AllSteps are the letters of every step, in the order they run.
const AllSteps = "abcdefghimvkw"

// has says whether step runs.
func (o *Options) has(step string) bool {
	return step == "a" || o.Steps == "" || strings.Contains(o.Steps, step) || (step == "g" && strings.Contains(o.Steps, "f"))
}

// Defaults returns the options of a full run.
func Defaults() Options {
	return Options{
		Database:          "ledger_bench",
		Sizes:             []int{100_000, 1_000_000},
		Accounts:          AccountsInsert,
		Clients:           8,
		Duration:          10 * time.Second,
		ColdAccounts:      2000,
		Branches:          8,
		TellersPerBranch:  10,
		AccountsPerBranch: 10_000,
		Seed:              1,
		Events:            100_000,
		Households:        []int{100_000, 1_000_000},
		Statements:        []int{100_000, 1_000_000},
	}
}

// Quick changes o into a smoke run: sizes 10,000 and 100,000, 3 s steps,
// ADA runs of 10,000 and 100,000 households.
func (o *Options) Quick() {
	o.Sizes = []int{10_000, 100_000}
	o.Duration = 3 * time.Second
	o.Events = 20_000
	o.Households = []int{10_000, 100_000}
	o.Statements = []int{10_000, 100_000}
}

// statementSizes returns the line counts of the reconciliation steps.
func (o *Options) statementSizes() []int {
	if slices.ContainsFunc(o.Statements, func(n int) bool { return n < 0 }) {
		return nil
	}
	return o.Statements
}

// runHouseholds returns the household counts of the ADA runs to do: none
// when the list is empty or holds a negative count.
func (o *Options) runHouseholds() []int {
	if slices.ContainsFunc(o.Households, func(n int) bool { return n < 0 }) {
		return nil
	}
	return o.Households
}

// Validate fills the zero fields of o with the defaults and checks the
// rest; Run calls it too.
func (o *Options) Validate() error {
	d := Defaults()
	if o.Database == "" {
		o.Database = d.Database
	}
	if len(o.Sizes) == 0 {
		o.Sizes = d.Sizes
	}
	if o.Accounts == "" {
		o.Accounts = d.Accounts
	}
	if o.Clients == 0 {
		o.Clients = d.Clients
	}
	if o.Duration == 0 {
		o.Duration = d.Duration
	}
	if o.ColdAccounts == 0 {
		o.ColdAccounts = d.ColdAccounts
	}
	if o.Branches == 0 {
		o.Branches = d.Branches
	}
	if o.TellersPerBranch == 0 {
		o.TellersPerBranch = d.TellersPerBranch
	}
	if o.AccountsPerBranch == 0 {
		o.AccountsPerBranch = d.AccountsPerBranch
	}
	if o.Seed == 0 {
		o.Seed = d.Seed
	}
	if o.Events == 0 {
		o.Events = d.Events
	}
	if o.Households == nil {
		o.Households = d.Households
	}
	if o.Statements == nil {
		o.Statements = d.Statements
	}
	switch {
	case o.DatabaseURL == "":
		return errors.New("no database URL")
	case o.Accounts != AccountsInsert && o.Accounts != AccountsStore:
		return fmt.Errorf("accounts: %q is not %q or %q", o.Accounts, AccountsInsert, AccountsStore)
	case o.Clients < 1:
		return fmt.Errorf("clients: %d is not a positive number", o.Clients)
	case o.Duration < 0:
		return fmt.Errorf("duration: %s is negative", o.Duration)
	case o.Count < 0:
		return fmt.Errorf("count: %d is negative", o.Count)
	case o.ChunkSize < 0:
		return fmt.Errorf("chunk size: %d is negative", o.ChunkSize)
	case o.TxMaxAttempts < 0:
		return fmt.Errorf("transaction attempts: %d is negative", o.TxMaxAttempts)
	case o.ColdAccounts < 2:
		return fmt.Errorf("cold accounts: %d, need at least 2", o.ColdAccounts)
	case o.Branches < 1 || o.TellersPerBranch < 1 || o.AccountsPerBranch < 1:
		return errors.New("branches, tellers and accounts per branch must be positive")
	}
	for _, n := range o.Sizes {
		if n < 1 {
			return fmt.Errorf("sizes: %d is not a positive number", n)
		}
	}
	for _, c := range o.Steps {
		if !strings.ContainsRune(AllSteps, c) {
			return fmt.Errorf("steps: %q is not one of %s", c, AllSteps)
		}
	}
	if o.EventBatch < 0 {
		return fmt.Errorf("event batch: %d is negative", o.EventBatch)
	}
	switch o.BulkWrite {
	case "", "auto", "copy", "insert":
	default:
		return fmt.Errorf("bulk write: %q is not auto, copy or insert", o.BulkWrite)
	}
	for _, n := range o.runHouseholds() {
		if n < 1 {
			return fmt.Errorf("households: %d is not a positive number (a negative one skips the ADA run)", n)
		}
	}
	return validDatabaseName(o.Database)
}

// Result is one measurement.
type Result struct {
	// Step is the measurement's letter: a COPY floor, b bulk posting,
	// c cold transfers, d hot transfers, e TPC-B reference, f eligibility
	// events applied, g bare kafka-go read of the same records, h monthly
	// ADA run, i statement import and match, k hostile files refused with
	// bounded memory, m statement import beside an unmatched backlog,
	// w the whole month (run, approvals, release).
	Step    string  `json:"step"`
	Name    string  `json:"name"`
	N       int64   `json:"n"` // lines or transactions done
	Seconds float64 `json:"seconds"`
	Rate    float64 `json:"rate"`
	Unit    string  `json:"unit"`
	// Errors counts transactions that failed; they are not in N.
	Errors int64 `json:"errors"`
	// P50Ms and P99Ms are latency percentiles of the timed steps.
	P50Ms float64 `json:"p50_ms,omitempty"`
	P99Ms float64 `json:"p99_ms,omitempty"`
	// PeakHeapInuse and PeakHeapSys are the largest Go heap in use and
	// obtained from the system sampled during a bulk entry.
	PeakHeapInuse uint64 `json:"peak_heap_inuse_bytes,omitempty"`
	PeakHeapSys   uint64 `json:"peak_heap_sys_bytes,omitempty"`
	// PeakRSS is the largest resident memory of the process during an ADA
	// run; Lines the lines the run wrote.
	PeakRSS uint64 `json:"peak_rss_bytes,omitempty"`
	Lines   int64  `json:"lines,omitempty"`
	// EntryID is the bulk entry's id.
	EntryID string `json:"entry_id,omitempty"`
	// SealSeconds is, for step b, the time of the seal that follows the
	// entry: ledgerd seals every SEAL_INTERVAL, apart from the posting,
	// so it is not in the step's time but is shown beside it.
	SealSeconds float64 `json:"seal_seconds,omitempty"`
	// Phases are the times of the parts of a step of several (w: run,
	// approval, release); Seconds is their sum.
	Phases []Phase `json:"phases,omitempty"`
	Note   string  `json:"note,omitempty"`
}

// Ratio compares two measurements against a target. Over several runs,
// Value is the median of the runs' values, Min and Max their range, and
// Pass says whether the median meets the target.
type Ratio struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Target string  `json:"target"` // "<= 2", ">= 1.0"; empty for information
	Pass   bool    `json:"pass"`
	// Info is true for a ratio that is information, with no target.
	Info bool    `json:"info,omitempty"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
	Runs int     `json:"runs"`
	Note string  `json:"note,omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	GOMAXPROCS        int    `json:"gomaxprocs"`
	NumCPU            int    `json:"num_cpu"`
	GoVersion         string `json:"go_version"`
	ServerVersion     string `json:"server_version"`
	DefaultIsolation  string `json:"default_isolation,omitempty"`
	SynchronousCommit string `json:"synchronous_commit,omitempty"`
	SharedBuffers     string `json:"shared_buffers,omitempty"`
	WorkMem           string `json:"work_mem,omitempty"`
	MaxWalSize        string `json:"max_wal_size,omitempty"`
	MaxConns          int32  `json:"pool_max_conns"`
	// BulkWrite is the bulk write method the ledger and the
	// reconciliation used: copy or insert (Options.BulkWrite resolved).
	BulkWrite string `json:"bulk_write"`
}

// Report is the outcome of Run.
type Report struct {
	Started  time.Time `json:"started"`
	Took     float64   `json:"took_seconds"`
	Options  Options   `json:"settings"`
	Machine  Machine   `json:"machine"`
	Results  []Result  `json:"results"`
	Ratios   []Ratio   `json:"ratios"`
	Accounts string    `json:"accounts"` // how the beneficiary accounts were created
	// Runs holds the results of each run when there were several; Results
	// are the first run's, printed as they came.
	Runs [][]Result `json:"runs,omitempty"`
}

// Progress is told how far the long steps are. Run calls it from one
// goroutine at a time.
type Progress interface {
	// Step starts a step of total units; total <= 0 means unknown.
	Step(name string, total int64)
	// Set reports the units done so far in the current step.
	Set(done int64)
	// Done ends the current step.
	Done()
}

type silent struct{}

func (silent) Step(string, int64) {}
func (silent) Set(int64)          {}
func (silent) Done()              {}

// env is what the measurements share.
type env struct {
	opts Options
	pool *pgxpool.Pool
	svc  ledger.Service
	prog Progress
	day  ledger.Date
	// insert says that bulk rows are written by multi-row INSERTs, not
	// COPY (BulkWrite).
	insert bool
}

// Run creates the scratch database, migrates it, sets up the chart and the
// accounts, runs every measurement in order and returns the report. A nil
// progress is silent. Unless opts.Keep, the scratch database is dropped at
// the end, even after an error.
func Run(ctx context.Context, opts Options, progress Progress) (rep Report, err error) {
	if err := opts.Validate(); err != nil {
		return Report{}, err
	}
	if progress == nil {
		progress = silent{}
	}
	rep = Report{Started: time.Now().UTC(), Options: opts}
	dsn, err := scratchURL(opts.DatabaseURL, opts.Database, opts.Clients+4)
	if err != nil {
		return rep, err
	}
	if err := dropDatabase(ctx, opts.DatabaseURL, opts.Database); err != nil {
		return rep, err
	}
	pool, err := openScratch(ctx, dsn)
	if err != nil {
		return rep, err
	}
	defer func() {
		pool.Close()
		if !opts.Keep {
			if derr := dropDatabase(context.WithoutCancel(ctx), opts.DatabaseURL, opts.Database); derr != nil && err == nil {
				err = derr
			}
		}
	}()
	if _, err := migrations.Up(ctx, pool, nil); err != nil {
		return rep, err
	}
	rep.Machine, err = machine(ctx, pool)
	if err != nil {
		return rep, err
	}
	policy := db.DefaultRetryPolicy
	if opts.TxMaxAttempts > 0 {
		policy.MaxAttempts = opts.TxMaxAttempts
	}
	method, err := sqlstore.ChooseBulkMethod(ctx, pool, opts.BulkWrite)
	if err != nil {
		return rep, fmt.Errorf("bulk write: %w", err)
	}
	rep.Machine.BulkWrite = method.String()
	svc := sqlstore.New(pool, sqlstore.WithRetryPolicy(policy), sqlstore.WithBulkMethod(method))
	e := &env{opts: opts, pool: pool, svc: svc, prog: progress, day: ledger.DateOf(time.Now()), insert: method == sqlstore.BulkInsert}
	if err := ledger.SetUpChart(ctx, e.svc); err != nil {
		return rep, err
	}
	rep.Accounts, err = e.createAccounts(ctx)
	if err != nil {
		return rep, err
	}

	add := func(r Result, err error) error {
		if err != nil {
			return err
		}
		rep.Results = append(rep.Results, r)
		return nil
	}
	for _, n := range opts.Sizes {
		if err := add(e.copyFloor(ctx, n)); err != nil {
			return rep, err
		}
	}
	for _, n := range opts.Sizes {
		if !opts.has("b") {
			break
		}
		if err := add(e.bulk(ctx, n)); err != nil {
			return rep, err
		}
	}
	if opts.has("c") {
		if err := add(e.transfers(ctx, false)); err != nil {
			return rep, err
		}
	}
	if opts.has("d") {
		if err := add(e.transfers(ctx, true)); err != nil {
			return rep, err
		}
	}
	if opts.has("e") {
		if err := add(e.tpcb(ctx)); err != nil {
			return rep, err
		}
	}
	if opts.Events > 0 && opts.has("f") {
		rs, err := e.events(ctx, opts.Events)
		if err != nil {
			return rep, fmt.Errorf("events: %w", err)
		}
		rep.Results = append(rep.Results, rs...)
	}
	for _, n := range opts.runHouseholds() {
		if !opts.has("h") {
			break
		}
		if err := add(e.adaRun(ctx, n)); err != nil {
			return rep, err
		}
	}
	for _, n := range opts.statementSizes() {
		if !opts.has("i") {
			break
		}
		if err := add(e.reconcileStep(ctx, n)); err != nil {
			return rep, err
		}
	}
	if opts.has("m") {
		if err := e.incremental(ctx, &rep); err != nil {
			return rep, err
		}
	}
	if opts.has("v") {
		rs, err := e.verifyStep(ctx, slices.Max(opts.Sizes))
		if err != nil {
			return rep, err
		}
		rep.Results = append(rep.Results, rs...)
	}
	if opts.has("k") {
		rep.Results = append(rep.Results, e.hostile()...)
	}
	for _, n := range opts.runHouseholds() {
		if !opts.has("w") {
			break
		}
		if err := add(e.month(ctx, n)); err != nil {
			return rep, err
		}
	}
	rep.Ratios = ratios(rep.Results)
	for i := range rep.Ratios {
		r := &rep.Ratios[i]
		r.Min, r.Max, r.Runs = r.Value, r.Value, 1
		r.Pass, r.Info = judge(r.Target, r.Value)
	}
	rep.Took = time.Since(rep.Started).Seconds()
	return rep, nil
}

// settle flushes dirty pages before a measurement so that one step's
// checkpoint does not land in the next one's timing. It needs a privileged
// role and PostgreSQL; elsewhere it does nothing.
func (e *env) settle(ctx context.Context) {
	_, _ = e.pool.Exec(ctx, "CHECKPOINT")
}

func machine(ctx context.Context, pool *pgxpool.Pool) (Machine, error) {
	m := Machine{
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		NumCPU:     runtime.NumCPU(),
		GoVersion:  runtime.Version(),
		MaxConns:   pool.Config().MaxConns,
	}
	if err := pool.QueryRow(ctx, "SELECT version()").Scan(&m.ServerVersion); err != nil {
		return m, fmt.Errorf("server version: %w", err)
	}
	_ = pool.QueryRow(ctx, "SHOW default_transaction_isolation").Scan(&m.DefaultIsolation)
	_ = pool.QueryRow(ctx, "SHOW synchronous_commit").Scan(&m.SynchronousCommit)
	_ = pool.QueryRow(ctx, "SHOW shared_buffers").Scan(&m.SharedBuffers)
	_ = pool.QueryRow(ctx, "SHOW work_mem").Scan(&m.WorkMem)
	_ = pool.QueryRow(ctx, "SHOW max_wal_size").Scan(&m.MaxWalSize)
	return m, nil
}

// Find returns the result of a step for size n (0 for the timed steps).
func (r Report) Find(step string, n int64) (Result, bool) {
	for _, x := range r.Results {
		if x.Step == step && (n == 0 || x.N == n) {
			return x, true
		}
	}
	return Result{}, false
}

func ratios(rs []Result) []Ratio {
	var out []Ratio
	find := func(step string) (Result, bool) {
		i := slices.IndexFunc(rs, func(r Result) bool { return r.Step == step })
		if i < 0 {
			return Result{}, false
		}
		return rs[i], true
	}
	for _, b := range rs {
		if b.Step != "b" {
			continue
		}
		i := slices.IndexFunc(rs, func(r Result) bool { return r.Step == "a" && r.N == b.N })
		if i < 0 || b.Rate <= 0 {
			continue
		}
		v := rs[i].Rate / b.Rate
		out = append(out, Ratio{
			Name: fmt.Sprintf("b/a N=%d", b.N), Value: v, Target: "<= 2",
			Note: "bulk posting time over COPY time",
		})
		if b.SealSeconds > 0 && rs[i].Seconds > 0 {
			out = append(out, Ratio{
				Name: fmt.Sprintf("b seal/a N=%d", b.N), Value: b.SealSeconds / rs[i].Seconds, Info: true,
				Note: "the seal that follows the bulk entry (ledgerd's periodic seal, not in b) over COPY time",
			})
		}
	}
	c, okc := find("c")
	d, okd := find("d")
	e, oke := find("e")
	if okc && oke {
		v := safeDiv(c.Rate, e.Rate)
		out = append(out, Ratio{Name: "c/e", Value: v, Target: ">= 1.0",
			Note: "cold transfers/s over TPC-B tx/s"})
	}
	if okc && okd {
		v := safeDiv(d.Rate, c.Rate)
		out = append(out, Ratio{Name: "d/c", Value: v, Target: ">= 0.5",
			Note: "hot transfers/s over cold transfers/s"})
	}
	f, okf := find("f")
	g, okg := find("g")
	if okf {
		out = append(out, Ratio{Name: "f events/s", Value: f.Rate, Target: ">= 30000",
			Note: "eligibility events applied per second"})
		if a, ok := find("a"); ok {
			out = append(out, Ratio{Name: "f/a", Value: safeDiv(f.Rate, a.Rate),
				Note: "events applied per second over rows COPied per second (smallest N), in the same run"})
		}
	}
	if okf && okg {
		out = append(out, Ratio{Name: "f/g", Value: safeDiv(f.Rate, g.Rate),
			Note: "applied rate over the bare kafka-go read rate"})
	}
	for _, h := range rs {
		if h.Step != "h" {
			continue
		}
		if i := slices.IndexFunc(rs, func(r Result) bool { return r.Step == "a" && r.N == h.N }); i >= 0 && rs[i].Seconds > 0 {
			v := h.Seconds / rs[i].Seconds
			out = append(out, Ratio{Name: fmt.Sprintf("h/a N=%d", h.N), Value: v, Target: "<= 4",
				Note: "ADA run time for N households over COPY time for N rows"})
		}
	}
	for _, h := range rs {
		if h.Step == "h" && h.PeakRSS > 0 {
			v := float64(h.PeakRSS) / (1 << 20)
			out = append(out, Ratio{Name: fmt.Sprintf("h peak RSS N=%d", h.N), Value: v, Target: "<= 128 MiB",
				Note: "peak resident memory of the process during the ADA run, MiB"})
		}
	}
	for _, x := range rs {
		if x.Step != "i" {
			continue
		}
		if i := slices.IndexFunc(rs, func(r Result) bool { return r.Step == "a" && r.N == x.N }); i >= 0 && rs[i].Seconds > 0 {
			v := x.Seconds / rs[i].Seconds
			out = append(out, Ratio{Name: fmt.Sprintf("i/a N=%d", x.N), Value: v, Target: "<= 2",
				Note: "statement import and match time for N lines over COPY time for N rows"})
		}
		if x.PeakRSS > 0 {
			v := float64(x.PeakRSS) / (1 << 20)
			out = append(out, Ratio{Name: fmt.Sprintf("i peak RSS N=%d", x.N), Value: v, Target: "<= 128 MiB",
				Note: "peak resident memory of the process during the import, MiB"})
		}
	}
	var vfull, vinc *Result
	for i := range rs {
		if rs[i].Step == "v" && vfull == nil {
			vfull = &rs[i]
		} else if rs[i].Step == "v" {
			vinc = &rs[i]
		}
	}
	if vfull != nil && vinc != nil {
		out = append(out, Ratio{Name: "v full/incremental", Value: safeDiv(vfull.Seconds, vinc.Seconds),
			Note: "verify --full time over verify-from-the-last-seal time"})
		if i := slices.IndexFunc(rs, func(r Result) bool { return r.Step == "a" }); i >= 0 {
			a := rs[i]
			out = append(out, Ratio{Name: "v full/a", Value: safeDiv(float64(vfull.N)/vfull.Rate, float64(vfull.N)/a.Rate),
				Note: "verify --full time over the COPY time of as many rows"})
		}
	}
	return append(out, monthRatios(rs)...)
}

// judge says whether v meets target ("<= 2", ">= 0.5", "<= 512 MiB"); an
// empty target is information.
func judge(target string, v float64) (pass, info bool) {
	if target == "" {
		return false, true
	}
	f := strings.Fields(target)
	if len(f) < 2 {
		return false, false
	}
	var lim float64
	if _, err := fmt.Sscanf(f[1], "%g", &lim); err != nil {
		return false, false
	}
	switch f[0] {
	case "<=":
		return v <= lim, false
	case ">=":
		return v >= lim, false
	case "<":
		return v < lim, false
	case ">":
		return v > lim, false
	}
	return false, false
}

// RunMany runs Run runs times, each on a fresh scratch database. The
// report holds the first run's results as they came and every run's in
// Runs; each ratio is the median of the runs', with their range, and passes
// when the median meets its target.
func RunMany(ctx context.Context, opts Options, runs int, progress Progress) (Report, error) {
	if runs < 1 {
		return Report{}, fmt.Errorf("runs: %d is not a positive number", runs)
	}
	var reps []Report
	for range runs {
		r, err := Run(ctx, opts, progress)
		if err != nil {
			return r, err
		}
		reps = append(reps, r)
	}
	out := reps[0]
	if runs == 1 {
		return out, nil
	}
	out.Took = 0
	for _, r := range reps {
		out.Runs = append(out.Runs, r.Results)
		out.Took += r.Took
	}
	out.Ratios = medianRatios(reps)
	return out, nil
}

// medianRatios sums up the ratios of several runs, in the first run's
// order.
func medianRatios(reps []Report) []Ratio {
	var out []Ratio
	for _, first := range reps[0].Ratios {
		var vs []float64
		for _, r := range reps {
			if i := slices.IndexFunc(r.Ratios, func(x Ratio) bool { return x.Name == first.Name }); i >= 0 {
				vs = append(vs, r.Ratios[i].Value)
			}
		}
		slices.Sort(vs)
		m := vs[len(vs)/2]
		if len(vs)%2 == 0 {
			m = (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
		}
		x := first
		x.Value, x.Min, x.Max, x.Runs = m, vs[0], vs[len(vs)-1], len(vs)
		x.Pass, x.Info = judge(x.Target, m)
		out = append(out, x)
	}
	return out
}

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}
