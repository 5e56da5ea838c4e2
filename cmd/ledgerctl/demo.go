package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/demostaff"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	httptransport "github.com/ofii/allowances/transport/http"
	"github.com/ofii/allowances/transport/kafka"
)

func demoCmd(a *app) *cobra.Command {
	var households int
	var database string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a month of the service on a fresh database and prove its books",
		Long: `Create the database --database anew on the server of DATABASE_URL, then run a
month of the service on it: publish the eligibility events of a few hundred
households to an embedded Kafka broker (a few of them invalid), consume them,
run October's ADA and the grants run, print the batches; then have a
preparer submit them, two people of the budget record and confirm the
year's appropriation of each scheme they pay, and two approvers approve
them (the ledger commits the appropriations and posts the accrual),
release them to an embedded bank simulator as pain.001 files
(payable to payments in transit), apply the bank's pain.002 status reports
(a closed account is rejected and becomes an exception, its payee corrected
and paid again by a reissue batch), print the year's budget, fetch the
bank's camt.053 statement, correct a mistaken fee by a reversal, seal the
books and print the trial balance and verify. It uses the database server itself (DATABASE_URL), not
ledgerd.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if households < 10 || households > 100000 {
				return cli.Usage(fmt.Errorf("--households: must be between 10 and 100000"))
			}
			c, err := a.config()
			if err != nil {
				return err
			}
			dsn, err := demoDatabase(cmd.Context(), c.DatabaseURL, database)
			if err != nil {
				return err
			}
			a.databaseURL, a.cfg.DatabaseURL = dsn, dsn
			d := &demo{a: a, cmd: cmd, n: households, quiet: a.json() || !cli.IsTerminal(a.stderr)}
			d.w = a.stdout
			if a.json() {
				d.w = a.stderr
			}
			if err := d.run(cmd.Context()); err != nil {
				return err
			}
			// The staff commands call a ledgerd: a token for this month only.
			tok, err := httptransport.NewToken()
			if err != nil {
				return err
			}
			fmt.Fprintf(d.w, "\nexplore it: start ledgerd on the demonstration's database, in dev mode, with a token for the staff of the demo\n"+
				"  DATABASE_URL='%s' LEDGER_DEV=true AUTH_TOKENS='demo-staff:preparer+auditor+controller:%s' go run ./cmd/ledgerd\n"+
				"then, from another shell:\n"+
				"  LEDGER_TOKEN='%s' go run ./cmd/ledgerctl beneficiaries show OFII-2026-000007\n"+
				"or open the staff console at http://127.0.0.1:8080/console/ (HTTP_ADDR's port): in dev mode its sign-in page offers the demo staff,\n"+
				"  %s\n", dsn, httptransport.HashToken(tok), tok, demoStaffText())
			return nil
		},
	}
	cmd.Flags().IntVar(&households, "households", 300, "households of the demonstration month")
	cmd.Flags().StringVar(&database, "database", "ledger_demo", "database created anew for the demonstration, on the server of DATABASE_URL")
	return cmd
}

// demoDatabase drops and creates the database name on the server of dsn
// and returns its URL.
func demoDatabase(ctx context.Context, dsn, name string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil || name == "" || strings.ContainsAny(name, `"/?`) {
		return "", cli.Usage(fmt.Errorf("--database: %q is not a database name", name))
	}
	admin := *u
	admin.Path = "/postgres"
	conn, err := pgx.Connect(ctx, admin.String())
	if err != nil {
		return "", fmt.Errorf("connect to create the demonstration database: %w", err)
	}
	defer conn.Close(ctx)
	for _, stmt := range []string{"DROP DATABASE IF EXISTS ", "CREATE DATABASE "} {
		if _, err := conn.Exec(ctx, stmt+pgx.Identifier{name}.Sanitize()); err != nil {
			return "", fmt.Errorf("%s%s: %w", strings.ToLower(stmt), name, err)
		}
	}
	u.Path = "/" + name
	return u.String(), nil
}

// demo is one demonstration month.
type demo struct {
	a     *app
	cmd   *cobra.Command
	n     int
	w     io.Writer
	quiet bool
}

func (d *demo) step(format string, args ...any) { fmt.Fprintf(d.w, "• "+format+"\n", args...) }

func (d *demo) run(ctx context.Context) error {
	svc, err := d.a.service(ctx)
	if err != nil {
		return err
	}
	if err := ledger.SetUpChart(ctx, svc); err != nil {
		return err
	}
	d.step("chart of accounts set up: %d accounts", len(ledger.Chart))

	// 1. The eligibility events, through Kafka.
	broker, err := kafka.StartEmbedded(0, 4, "eligibility.v1", "eligibility.v1.dlq")
	if err != nil {
		return err
	}
	defer broker.Close()
	stream := demoEvents(d.n)
	bar := cli.NewProgress(d.a.stderr, int64(stream.count), "publishing", d.quiet)
	sent, err := kafka.Publish(ctx, kafka.PublishConfig{Brokers: []string{broker.Addr()}}, "eligibility.v1",
		bytes.NewReader(stream.lines), func(n int) { bar.Set(int64(n)) })
	bar.Finish()
	if err != nil {
		return err
	}
	d.step("%d eligibility events published to the embedded broker at %s", sent, broker.Addr())
	events, err := d.a.events(d.cmd)
	if err != nil {
		return err
	}
	st, err := consumeAll(ctx, broker.Addr(), events, sent)
	if err != nil {
		return err
	}
	d.step("consumed: %d applied, %d duplicates, %d dead letters (see `ledgerctl events dead-letters`)", st.Applied, st.Duplicates, st.DeadLetters)

	// 2. October's ADA and the grants run.
	runs, err := d.a.runStore(d.cmd, nil)
	if err != nil {
		return err
	}
	ada, err := runs.StartADARun(ctx, payments.Period{Year: 2026, Month: 10}, payments.TriggerStaff, "demo")
	if err != nil {
		return err
	}
	grants, err := runs.StartGrantsRun(ctx, ledger.NewDate(2026, 11, 24), payments.TriggerStaff, "demo")
	if err != nil {
		return err
	}
	fmt.Fprintln(d.w)
	t := cli.NewTable(d.w, "BATCH", "KIND", "PERIOD", "SCHEME", "LINES", "GROSS", "DEDUCTION", "NET")
	var adaBatch payments.Batch
	for _, run := range []payments.Run{ada, grants} {
		b, err := runs.Batch(ctx, run.BatchID)
		if err != nil {
			return err
		}
		if run.Kind == payments.RunADA {
			adaBatch = b
		}
		for _, s := range payments.Schemes {
			if tot, ok := b.Totals[s]; ok {
				t.Row(b.ID.String()[:8], string(b.Kind), b.Period.String(), string(s), fmt.Sprint(tot.Lines),
					cli.Amount(tot.Gross), cli.Amount(tot.Deduction), cli.Amount(tot.Net))
			}
		}
	}
	if err := t.Flush(); err != nil {
		return err
	}
	lines, _, err := runs.BatchLines(ctx, adaBatch.ID, "", 1000)
	if err != nil {
		return err
	}
	fmt.Fprintln(d.w, "\nsome lines of the ADA batch, with their explanation:")
	for _, l := range lines {
		if l.BeneficiaryID == "OFII-2026-000003" || l.BeneficiaryID == "OFII-2026-000007" || l.BeneficiaryID == "OFII-2026-000011" {
			fmt.Fprintf(d.w, "  %s  gross %s  deduction %s  net %s\n    %s\n", l.BeneficiaryID, cli.Amount(l.Gross),
				cli.Amount(l.Deduction), cli.Amount(l.Net), l.Explanation.Text)
		}
	}
	fmt.Fprintln(d.w)

	// 3. Approval, release, the bank's answers and the books.
	grantsBatch, err := runs.Batch(ctx, grants.BatchID)
	if err != nil {
		return err
	}
	return d.pay(ctx, svc, runs, adaBatch, grantsBatch)
}

// consumeAll runs the eligibility consumer until n records were handled.
func consumeAll(ctx context.Context, broker string, sink payments.EventSink, n int) (kafka.Status, error) {
	c, err := kafka.NewConsumer(kafka.ConsumerConfig{Brokers: []string{broker}, Topic: "eligibility.v1", DLQTopic: "eligibility.v1.dlq",
		GroupID: "demo", BatchSize: 500, MaxWait: 100 * time.Millisecond}, sink, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		return kafka.Status{}, err
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- c.Run(cctx) }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st := c.Status()
		if st.Applied+st.Duplicates+st.DeadLetters >= int64(n) {
			cancel()
			<-done
			return c.Status(), nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			cancel()
			<-done
			return st, fmt.Errorf("consumed %d of %d events in time", st.Applied+st.Duplicates+st.DeadLetters, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// demoStream is the demonstration's eligibility events as JSON Lines.
type demoStream struct {
	lines []byte
	count int
}

// demoEvents writes October's events for n households: rights opened in
// October in a mix of compositions, accommodation and territories, some
// household and accommodation changes, suspensions, closings, a change of
// payee, an overpayment, a return grant and a reinsertion grant with a
// released tranche, and two invalid events.
func demoEvents(n int) demoStream {
	var b bytes.Buffer
	count := 0
	k := 0
	add := func(typ, ben, at, data string) {
		k++
		id := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "demo-%d", k))
		fmt.Fprintf(&b, `{"event_id":%q,"type":%q,"schema_version":1,"occurred_at":%q,"beneficiary_id":%q,"data":%s}`+"\n", id, typ, at, ben, data)
		count++
	}
	payee := func(i int) string {
		return fmt.Sprintf(`{"name":"Household %d","iban":%q}`, i, demoIBAN(i))
	}
	for i := 1; i <= n; i++ {
		ben := fmt.Sprintf("OFII-2026-%06d", i)
		from := 1
		if i%10 == 0 {
			from = 1 + i%20
		}
		territory := "metropole"
		if i%25 == 0 {
			territory = "guyane"
		}
		add("ada.rights_opened", ben, fmt.Sprintf("2026-10-%02dT09:00:00Z", from), fmt.Sprintf(
			`{"from":"2026-10-%02d","adults":%d,"children":%d,"accommodated":%t,"territory":%q,"payee":%s}`,
			from, 1+i%2, i%4, i%3 == 0, territory, payee(i)))
		switch {
		case i%7 == 0:
			add("ada.household_changed", ben, "2026-10-15T10:00:00Z", fmt.Sprintf(`{"from":"2026-10-15","adults":%d,"children":%d}`, 1+i%2, 1+i%4))
		case i%11 == 0:
			add("ada.suspended", ben, "2026-10-10T10:00:00Z", `{"from":"2026-10-10","reason":"missed appointment"}`)
			add("ada.resumed", ben, "2026-10-20T10:00:00Z", `{"from":"2026-10-20"}`)
		case i%13 == 0:
			add("ada.rights_closed", ben, "2026-10-25T10:00:00Z", `{"last_day":"2026-10-25","reason":"final decision notified"}`)
		case i%17 == 0:
			add("ada.accommodation_changed", ben, "2026-10-18T10:00:00Z", `{"from":"2026-10-18","accommodated":true}`)
		}
	}
	add("beneficiary.payee_changed", "OFII-2026-000005", "2026-10-20T10:00:00Z", `{"payee":{"name":"Household 5","iban":"`+demoIBAN(100005)+`"}}`)
	add("overpayment.established", "OFII-2026-000003", "2026-10-02T10:00:00Z", `{"overpayment_id":"IND-2026-0003","amount":"142.00","reason":"undeclared resources"}`)
	add("return.grant_decided", "OFII-2026-R00001", "2026-11-06T10:00:00Z", `{"grant_id":"RET-2026-0001","country":"GE","adults":1,"children":2,`+
		`"removal_order_notified_on":"2026-10-20","validated_on":"2026-11-05","increased_rate":false,"travel_document":true,"departure_date":"2026-11-20","payee":`+payee(900001)+`}`)
	add("reinsertion.grant_decided", "OFII-2026-R00002", "2026-10-30T10:00:00Z", `{"grant_id":"REI-2026-0001","level":"business_creation","amount":"4500.00",`+
		`"tranches":[{"tranche_id":"T1","amount":"2000.00"},{"tranche_id":"T2","amount":"2500.00"}],"payee":`+payee(900002)+`}`)
	add("reinsertion.tranche_released", "OFII-2026-R00002", "2026-11-10T10:00:00Z", `{"grant_id":"REI-2026-0001","tranche_id":"T1","released_on":"2026-11-10"}`)
	// Two invalid events: a mistyped IBAN and the release of an unknown
	// grant's tranche.
	add("ada.rights_opened", "OFII-2026-X00001", "2026-10-05T09:00:00Z", `{"from":"2026-10-05","adults":1,"children":0,"accommodated":false,"payee":{"name":"Typo","iban":"FR7630006000011234567890188"}}`)
	add("reinsertion.tranche_released", "OFII-2026-X00002", "2026-10-06T09:00:00Z", `{"grant_id":"REI-2026-X404","tranche_id":"T1","released_on":"2026-10-06"}`)
	return demoStream{lines: b.Bytes(), count: count}
}

// demoIBAN returns a French IBAN with valid check digits for account i.
func demoIBAN(i int) string {
	bban := fmt.Sprintf("3000600001%011d00", i)
	// ISO 13616: move "FR00" to the end, letters as numbers, 98 − mod 97.
	n, _ := new(big.Int).SetString(bban+"152700", 10)
	check := 98 - new(big.Int).Mod(n, big.NewInt(97)).Int64()
	return fmt.Sprintf("FR%02d%s", check, bban)
}

// demoStaffText lists the staff the console's sign-in page offers in dev
// mode, with their roles.
func demoStaffText() string {
	var parts []string
	for _, p := range demostaff.Staff {
		parts = append(parts, p.Name+" ("+strings.Join(p.Roles, "+")+")")
	}
	return strings.Join(parts, ", ")
}
