package sqlstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	ledgersql "github.com/ofii/allowances/ledger/sqlstore"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/bank"
	"github.com/ofii/allowances/payments/bank/banksim"
	"github.com/ofii/allowances/payments/sepa"
	paysql "github.com/ofii/allowances/payments/sqlstore"
	"github.com/ofii/allowances/payments/workflow"
	"github.com/ofii/allowances/reconcile"
	"github.com/ofii/allowances/reconcile/sqlstore"
	"github.com/ofii/allowances/transport/kafka"
)

const account = "FR7630001007941234567890185"

var (
	preparer   = payments.Actor{Name: "paul", Roles: []string{payments.RolePreparer}}
	approver   = payments.Actor{Name: "ana", Roles: []string{payments.RoleApprover}}
	controller = payments.Actor{Name: "carla", Roles: []string{payments.RoleController}}
	funding    = decimal.RequireFromString("100000.00")
)

// iban returns a French IBAN with valid check digits for account n.
func iban(n int) string {
	bban := fmt.Sprintf("3000600001%011d00", n)
	s, err := payments.ValidateIBAN("FR00" + bban)
	if err == nil {
		return s
	}
	for c := 2; c < 99; c++ {
		if s, err := payments.ValidateIBAN(fmt.Sprintf("FR%02d%s", c, bban)); err == nil {
			return s
		}
	}
	panic("no IBAN")
}

type env struct {
	t      *testing.T
	ctx    context.Context
	mu     sync.Mutex
	now    time.Time
	ledger *ledgersql.Store
	runs   *paysql.RunStore
	ap     workflow.Service
	sim    *banksim.Bank
	gw     *bank.HTTPGateway
	rec    recon
	pool   *pgxpool.Pool
	batch  uuid.UUID
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) at(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	e.now = t
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// newEnvApproved is a database with households to be paid for October
// 2026 through the bank simulator, their batch approved, and the ledger
// funded with the bank's opening balance.
func newEnvApproved(t *testing.T, simCfg banksim.Config, households int) *env {
	t.Helper()
	pool, _ := dbtest.MustOpen(t)
	e := &env{t: t, ctx: context.Background(), pool: pool}
	e.at("2026-11-05T07:00:00Z")
	e.ledger = ledgersql.New(pool, ledgersql.WithClock(e.clock))
	if err := ledger.SetUpChart(e.ctx, e.ledger); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ledger.Post(e.ctx, ledger.NewEntry{IdempotencyKey: "funding", EffectiveDate: ledger.NewDate(2026, 11, 1), Description: "funding",
		Lines: []ledger.Line{{Account: ledger.BankMain, Amount: funding}, {Account: ledger.StateFunding, Amount: funding.Neg()}}}); err != nil {
		t.Fatal(err)
	}
	events := paysql.New(pool, paysql.WithClock(e.clock))
	var recs []payments.Record
	for i := 1; i <= households; i++ {
		v, _ := json.Marshal(map[string]any{"event_id": uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "recon-%d", i)), "type": "ada.rights_opened",
			"schema_version": 1, "occurred_at": "2026-10-01T09:00:00Z", "beneficiary_id": fmt.Sprintf("H%d", i),
			"data": map[string]any{"from": "2026-10-01", "adults": 1, "children": i % 3, "accommodated": false,
				"payee": map[string]any{"name": fmt.Sprintf("Household %d", i), "iban": iban(i)}}})
		recs = append(recs, payments.Record{Source: payments.Source{Topic: "eligibility.v1", Offset: int64(i)}, Key: kafka.KeyOf(v), Value: v})
	}
	if _, err := events.Apply(e.ctx, recs); err != nil {
		t.Fatal(err)
	}
	e.runs = paysql.NewRunStore(pool, paysql.WithRunClock(e.clock))
	simCfg.Account, simCfg.OpeningBalance = account, funding
	simCfg.Today = func() ledger.Date { return payments.LegalDay(e.clock()) }
	e.sim = banksim.New(simCfg)
	srv := httptest.NewServer(e.sim)
	t.Cleanup(srv.Close)
	gw, err := bank.NewHTTPGateway(bank.HTTPConfig{BaseURL: srv.URL, Retries: 1}, quiet(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	e.gw = gw
	ap, err := paysql.NewApprovalStore(pool, e.runs, paysql.ApprovalConfig{Debtor: sepa.Party{Name: "OFII", IBAN: account, BIC: "BDFEFRPPCCT"},
		Now: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	e.ap = workflow.New(ap, e.ledger, workflow.DeliveryConfig{Gateway: gw, Now: e.clock, Logger: quiet()})
	e.rec, err = newRecon(pool, e.ledger, sqlstore.Config{Account: account, Now: e.clock, Logger: quiet()}, gw, false)
	if err != nil {
		t.Fatal(err)
	}
	run, err := e.runs.StartADARun(e.ctx, payments.Period{Year: 2026, Month: 10}, payments.TriggerStaff, "marie")
	if err != nil {
		t.Fatal(err)
	}
	e.batch = run.BatchID
	for _, step := range []func() (payments.Batch, error){
		func() (payments.Batch, error) { return e.ap.Submit(e.ctx, run.BatchID, preparer, "") },
		func() (payments.Batch, error) { return e.ap.Approve(e.ctx, run.BatchID, approver, "") },
	} {
		if _, err := step(); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// newEnv is newEnvApproved with the batch released, sent and accepted.
func newEnv(t *testing.T, simCfg banksim.Config, households int) *env {
	t.Helper()
	e := newEnvApproved(t, simCfg, households)
	e.release()
	return e
}

// release releases the batch, sends its files and applies the bank's
// status reports.
func (e *env) release() {
	e.t.Helper()
	if _, err := e.ap.Release(e.ctx, e.batch, approver); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.ap.SendQueued(e.ctx); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.ap.FetchReports(e.ctx); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) balance(account string) decimal.Decimal {
	e.t.Helper()
	b, err := e.ledger.Balance(e.ctx, account, ledger.AsOf{})
	if errs.Is(err, errs.NotFound) {
		return decimal.Zero
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return b.Natural
}

func (e *env) verify() {
	e.t.Helper()
	r, err := e.ledger.Verify(e.ctx)
	if err != nil || !r.OK {
		e.t.Fatalf("verify: %v %+v", err, r.Problems)
	}
}

// statement fetches the bank's statement of a day.
func (e *env) statement(day ledger.Date) []byte {
	e.t.Helper()
	docs, err := e.gw.Statements(e.ctx, account, day)
	if err != nil || len(docs) != 1 {
		e.t.Fatalf("statement of %s: %v %d", day, err, len(docs))
	}
	return docs[0].Bytes
}

func (e *env) report(day ledger.Date) reconcile.Report {
	e.t.Helper()
	r, err := e.rec.Report(e.ctx, account, day)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func wantAmount(t *testing.T, what string, got decimal.Decimal, want decimal.Decimal) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %s, want %s", what, got.StringFixed(2), want.StringFixed(2))
	}
}

func xsdValid(t *testing.T, name string, doc []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "doc.xml")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("xmllint", "--noout", "--schema", filepath.Join("..", "..", "testdata", "xsd", name+".xsd"), path).CombinedOutput()
	if err != nil {
		t.Fatalf("xmllint %s (install libxml2-utils if it is missing): %v\n%s", name, err, out)
	}
}

func TestAMonthEndToEnd(t *testing.T) {
	closed := iban(4)
	e := newEnv(t, banksim.Config{ReturnIBANs: map[string]bool{closed: true}, FeePerFile: decimal.RequireFromString("1.50")}, 6)
	inTransit := e.balance(ledger.PaymentsInTransit)
	if !inTransit.IsPositive() {
		t.Fatalf("nothing in transit: %s", inTransit)
	}
	// The bank books the payments on the execution date, 2026-11-06.
	e.at("2026-11-06T18:00:00Z")
	day := ledger.NewDate(2026, 11, 6)
	doc := e.statement(day)
	xsdValid(t, "camt.053.001.08", doc)
	res, err := e.rec.Import(e.ctx, doc, controller)
	if err != nil {
		t.Fatal(err)
	}
	if res.Replayed || len(res.Statements) != 1 || res.Match.Matched[reconcile.RuleEndToEnd].Count != 6 || res.Match.Matched[reconcile.RuleFee].Count != 1 ||
		res.Match.Unmatched != 0 {
		t.Fatalf("import: %+v", res)
	}
	wantAmount(t, "in transit after the statement", e.balance(ledger.PaymentsInTransit), decimal.Zero)
	wantAmount(t, "fees", e.balance(ledger.ExpenseBankFees), decimal.RequireFromString("1.50"))
	r := e.report(day)
	if !r.Agrees || !r.StatementFound || r.Matched[reconcile.RuleEndToEnd].Count != 6 || r.InTransitTotal.Count != 0 ||
		!strings.Contains(r.Verdict, "agrees") {
		t.Fatalf("report: %+v", r)
	}
	wantAmount(t, "statement closing", r.StatementClosing, funding.Sub(inTransit).Sub(decimal.RequireFromString("1.50")))

	// Importing the same statement again changes nothing.
	again, err := e.rec.Import(e.ctx, doc, controller)
	if err != nil || !again.Replayed {
		t.Fatalf("import again: %v %+v", err, again)
	}
	wantAmount(t, "bank:main after the replay", e.balance(ledger.BankMain), r.StatementClosing)

	// Three business days later the closed account's payment comes back.
	e.at("2026-11-11T18:00:00Z")
	back := ledger.NewDate(2026, 11, 11)
	res, err = e.rec.Import(e.ctx, e.statement(back), controller)
	if err != nil || res.Match.Matched[reconcile.RuleReturn].Count != 1 {
		t.Fatalf("return: %v %+v", err, res)
	}
	r = e.report(back)
	if !r.Agrees || len(r.OpenExceptions) != 1 || r.OpenExceptions[0].Kind != reconcile.ExceptionReturned ||
		!strings.Contains(r.OpenExceptions[0].Reason, "closed") {
		t.Fatalf("report after the return: %+v", r)
	}
	pe, err := e.ap.Exceptions(e.ctx, payments.ExceptionFilter{Status: payments.ExceptionOpen})
	if err != nil || len(pe) != 1 || pe[0].ReasonCode != "AC04" || pe[0].BeneficiaryID != "H4" {
		t.Fatalf("payment exceptions: %v %+v", err, pe)
	}
	wantAmount(t, "payable of H4", e.balance(ledger.SubAccount(ledger.Payable, "H4")), pe[0].Amount)
	e.verify()
}

func TestBatchBookingAndUndo(t *testing.T) {
	e := newEnv(t, banksim.Config{BatchBooking: true}, 5)
	e.at("2026-11-06T18:00:00Z")
	day := ledger.NewDate(2026, 11, 6)
	res, err := e.rec.Import(e.ctx, e.statement(day), controller)
	if err != nil || res.Match.Matched[reconcile.RuleBatch].Count != 1 || res.Match.Unmatched != 0 {
		t.Fatalf("import: %v %+v", err, res)
	}
	wantAmount(t, "in transit", e.balance(ledger.PaymentsInTransit), decimal.Zero)
	ms, err := e.rec.Matches(e.ctx, reconcile.MatchFilter{Rule: reconcile.RuleBatch})
	if err != nil || len(ms) != 1 || len(ms[0].Payments) != 5 {
		t.Fatalf("matches: %v %+v", err, ms)
	}
	if err := e.rec.UndoMatch(e.ctx, ms[0].ID, approver, "wrong"); errs.CodeOf(err) != errs.Forbidden {
		t.Errorf("undo by an approver: %v", err)
	}
	if err := e.rec.UndoMatch(e.ctx, ms[0].ID, controller, ""); errs.CodeOf(err) != errs.Invalid {
		t.Errorf("undo without a reason: %v", err)
	}
	if err := e.rec.UndoMatch(e.ctx, ms[0].ID, controller, "booked to the wrong batch"); err != nil {
		t.Fatal(err)
	}
	if err := e.rec.UndoMatch(e.ctx, ms[0].ID, controller, "again"); errs.CodeOf(err) != errs.Conflict {
		t.Errorf("undo twice: %v", err)
	}
	// The cascade leaves an undone line to people.
	if res, err := e.rec.Match(e.ctx); err != nil || len(res.Matched) != 0 {
		t.Fatalf("the cascade after the undo: %v %+v", err, res)
	}
	r := e.report(day)
	if r.InTransitTotal.Count != 5 || r.Unmatched.Count != 1 || len(r.OpenExceptions) != 1 {
		t.Fatalf("report after the undo: %+v", r)
	}
	wantAmount(t, "in transit after the undo", e.balance(ledger.PaymentsInTransit), r.InTransitTotal.Sum)
	// The controller matches it again by hand, to the batch's payments.
	ids := append([]string(nil), ms[0].Payments...)
	x, err := e.rec.MatchByHand(e.ctx, r.OpenExceptions[0].ID, ids[:4], controller, "the batch")
	if errs.CodeOf(err) != errs.Invalid || !strings.Contains(err.Error(), "add up to") {
		t.Errorf("match by hand to too few payments: %v %+v", err, x)
	}
	x, err = e.rec.MatchByHand(e.ctx, r.OpenExceptions[0].ID, ids, controller, "the batch, checked with the bank")
	if err != nil || x.Status != reconcile.ExceptionResolved {
		t.Fatalf("match by hand: %v %+v", err, x)
	}
	r = e.report(day)
	if !r.Agrees || r.Matched[reconcile.RuleManual].Count != 1 || r.InTransitTotal.Count != 0 {
		t.Fatalf("report after the match by hand: %+v", r)
	}
	e.verify()
}

// camt builds a camt.053.001.08 statement of the account with the entries
// given, each "DBIT|CRDT amount [e2e|- [counterpartyIBAN|- [returnReason]]]".
func camt(id string, day ledger.Date, opening decimal.Decimal, entries ...string) []byte {
	var b strings.Builder
	closing := opening
	var ntry strings.Builder
	for i, en := range entries {
		f := strings.Fields(en)
		amt := decimal.RequireFromString(f[1])
		if f[0] == "DBIT" {
			closing = closing.Sub(amt)
		} else {
			closing = closing.Add(amt)
		}
		refs := "<Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>"
		if len(f) > 2 && f[2] != "-" {
			refs = "<Refs><EndToEndId>" + f[2] + "</EndToEndId></Refs>"
		}
		party, rtr, code := "", "", "ESCT"
		if len(f) > 3 && f[3] != "-" {
			party = "<RltdPties><Cdtr><Pty><Nm>Someone</Nm></Pty></Cdtr><CdtrAcct><Id><IBAN>" + f[3] + "</IBAN></Id></CdtrAcct></RltdPties>"
		}
		if len(f) > 4 {
			rtr, code = "<RtrInf><Rsn><Cd>"+f[4]+"</Cd></Rsn></RtrInf>", "RRTN"
		}
		fmt.Fprintf(&ntry, `<Ntry><NtryRef>%d</NtryRef><Amt Ccy="EUR">%s</Amt><CdtDbtInd>%s</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>%s</Dt></BookgDt><ValDt><Dt>%s</Dt></ValDt><AcctSvcrRef>REF%d</AcctSvcrRef><BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>%s</SubFmlyCd></Fmly></Domn></BkTxCd><NtryDtls><TxDtls>%s<Amt Ccy="EUR">%s</Amt>%s%s</TxDtls></NtryDtls></Ntry>`,
			i+1, amt.StringFixed(2), f[0], day, day, i+1, code, refs, amt.StringFixed(2), party, rtr)
	}
	bal := func(tp string, a decimal.Decimal) string {
		ind := "CRDT"
		if a.IsNegative() {
			ind = "DBIT"
		}
		return fmt.Sprintf(`<Bal><Tp><CdOrPrtry><Cd>%s</Cd></CdOrPrtry></Tp><Amt Ccy="EUR">%s</Amt><CdtDbtInd>%s</CdtDbtInd><Dt><Dt>%s</Dt></Dt></Bal>`,
			tp, a.Abs().StringFixed(2), ind, day)
	}
	fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt><GrpHdr><MsgId>%s</MsgId><CreDtTm>%sT20:00:00Z</CreDtTm></GrpHdr><Stmt><Id>%s</Id><ElctrncSeqNb>1</ElctrncSeqNb><CreDtTm>%sT20:00:00Z</CreDtTm><Acct><Id><IBAN>%s</IBAN></Id><Ccy>EUR</Ccy></Acct>%s%s%s</Stmt></BkToCstmrStmt></Document>`,
		id, day, id, day, account, bal("OPBD", opening), bal("CLBD", closing), ntry.String())
	return []byte(b.String())
}

func TestExceptionsAndSuggestions(t *testing.T) {
	e := newEnv(t, banksim.Config{}, 3)
	lines := map[string]payments.BatchLine{}
	batches, err := e.runs.Batches(e.ctx, payments.BatchFilter{})
	if err != nil || len(batches) != 1 {
		t.Fatal(err)
	}
	page, _, err := e.runs.BatchLines(e.ctx, batches[0].ID, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range page {
		lines[l.BeneficiaryID] = l
	}
	h1, h2 := lines["H1"], lines["H2"]
	day := ledger.NewDate(2026, 11, 6)
	doc := camt("HAND-1", day, funding,
		"DBIT "+h1.Net.StringFixed(2)+" - "+h1.Payee.IBAN, // no EndToEndId: a suggestion
		"DBIT "+h2.Net.StringFixed(2)+" "+h2.ID,           // rule 1
		"DBIT 42.00 - FR7610107001011234567890129",        // nothing fits: unmatched
		"DBIT 7.00 "+lines["H3"].ID,                       // the wrong amount
		"CRDT 5.00",                                       // a credit nobody explains
	)
	xsdValid(t, "camt.053.001.08", doc)
	if _, err := e.rec.Import(e.ctx, doc, preparer); errs.CodeOf(err) != errs.Forbidden {
		t.Errorf("import by a preparer: %v", err)
	}
	res, err := e.rec.Import(e.ctx, doc, controller)
	if err != nil || res.Match.Matched[reconcile.RuleEndToEnd].Count != 1 || res.Match.Unmatched != 4 {
		t.Fatalf("import: %v %+v", err, res)
	}
	open, err := e.rec.Exceptions(e.ctx, reconcile.ExceptionFilter{Status: reconcile.ExceptionOpen})
	if err != nil || len(open) != 4 {
		t.Fatalf("exceptions: %v %+v", err, open)
	}
	kinds := map[reconcile.ExceptionKind]reconcile.Exception{}
	for _, x := range open {
		kinds[x.Kind] = x
	}
	sug, ok := kinds[reconcile.ExceptionSuggestion]
	if !ok || sug.Payment != h1.ID || kinds[reconcile.ExceptionAmountMismatch].Payment != lines["H3"].ID {
		t.Fatalf("exception kinds: %+v", kinds)
	}
	if r := e.report(day); r.Agrees {
		t.Errorf("report agrees with unmatched lines: %+v", r.Verdict)
	}
	if _, err := e.rec.Confirm(e.ctx, sug.ID, controller); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rec.Confirm(e.ctx, sug.ID, controller); errs.CodeOf(err) != errs.Conflict {
		t.Errorf("confirm twice: %v", err)
	}
	// The others go to suspense, with a reason.
	for _, x := range open {
		if x.Kind == reconcile.ExceptionSuggestion {
			continue
		}
		if _, err := e.rec.BookToSuspense(e.ctx, x.ID, controller, ""); errs.CodeOf(err) != errs.Invalid {
			t.Errorf("suspense without a reason: %v", err)
		}
		if _, err := e.rec.BookToSuspense(e.ctx, x.ID, controller, "asked the bank, ticket 1234"); err != nil {
			t.Fatal(err)
		}
	}
	r := e.report(day)
	if !r.Agrees || len(r.OpenExceptions) != 0 || r.Matched[reconcile.RuleSuggestion].Count != 1 || r.Matched[reconcile.RuleSuspense].Count != 3 {
		t.Fatalf("report: %+v", r)
	}
	// What is still in transit is H3's payment, for the sweep to find.
	wantAmount(t, "in transit", e.balance(ledger.PaymentsInTransit), lines["H3"].Net)
	wantAmount(t, "suspense", e.balance(ledger.Suspense), decimal.RequireFromString("44.00").Neg())
	e.at("2026-11-20T08:00:00Z")
	n, err := e.rec.Sweep(e.ctx, ledger.NewDate(2026, 11, 20))
	if err != nil || n != 1 {
		t.Fatalf("sweep: %v %d", err, n)
	}
	if n, _ := e.rec.Sweep(e.ctx, ledger.NewDate(2026, 11, 20)); n != 0 {
		t.Errorf("second sweep opened %d", n)
	}
	e.verify()
}

func TestBadStatementsImportNothing(t *testing.T) {
	e := newEnv(t, banksim.Config{}, 1)
	day := ledger.NewDate(2026, 11, 6)
	good := camt("BAD-1", day, funding, "DBIT 10.00 -")
	for _, tt := range []struct {
		name string
		doc  []byte
		code errs.Code
		text string
	}{
		{"balances do not add up", []byte(strings.Replace(string(good), "99990.00", "99991.00", 1)), errs.Invalid, "closing"},
		{"truncated", good[:len(good)/2], errs.Invalid, "file"},
		{"another account", []byte(strings.Replace(string(good), account, "FR7610107001011234567890129", 1)), errs.Invalid, "holds no statement of the service's account"},
		// The ledger books euros: a statement in Swiss francs is not
		// posted as if its amounts were euros.
		{"another currency", []byte(strings.ReplaceAll(strings.ReplaceAll(string(good), `Ccy="EUR"`, `Ccy="CHF"`), "<Ccy>EUR</Ccy>", "<Ccy>CHF</Ccy>")), errs.Invalid, "is in CHF: the ledger books only EUR"},
		{"empty", []byte("  "), errs.Invalid, "empty"},
		{"not a statement", []byte(`<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"/>`), errs.Invalid, "neither"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.rec.Import(e.ctx, tt.doc, controller)
			if errs.CodeOf(err) != tt.code || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("err = %v, want %s with %q", err, tt.code, tt.text)
			}
			if r := e.report(day); r.StatementFound || r.Lines != 0 {
				t.Errorf("something was imported: %+v", r)
			}
		})
	}
	// A file the bank refused still holds its payments in transit: the
	// report counts them and the sweep finds them.
	if _, err := e.pool.Exec(e.ctx, `UPDATE payment_files SET status = 'refused'`); err != nil {
		t.Fatal(err)
	}
	if r := e.report(day); r.InTransitTotal.Count != 1 || !r.InTransitTotal.Sum.Equal(e.balance(ledger.PaymentsInTransit)) {
		t.Errorf("in transit with the file refused: %+v", r.InTransitTotal)
	}
	if n, err := e.rec.Sweep(e.ctx, ledger.NewDate(2026, 11, 20)); err != nil || n != 1 {
		t.Errorf("sweep: %v %d", err, n)
	}
	e.verify()
}

func TestTwoEqualCandidatesAreLeftToAPerson(t *testing.T) {
	e := newEnv(t, banksim.Config{}, 4)
	batches, _ := e.runs.Batches(e.ctx, payments.BatchFilter{})
	page, _, _ := e.runs.BatchLines(e.ctx, batches[0].ID, "", 100)
	lines := map[string]payments.BatchLine{}
	for _, l := range page {
		lines[l.BeneficiaryID] = l
	}
	h1, h4 := lines["H1"], lines["H4"]
	if !h1.Net.Equal(h4.Net) {
		t.Fatalf("H1 %s and H4 %s should be paid the same", h1.Net, h4.Net)
	}
	// H4's payee is H1's account: two payments fit the line equally.
	if _, err := e.pool.Exec(e.ctx, `UPDATE batch_lines SET payee_iban = $1 WHERE id = $2`, h1.Payee.IBAN, h4.ID); err != nil {
		t.Fatal(err)
	}
	day := ledger.NewDate(2026, 11, 6)
	res, err := e.rec.Import(e.ctx, camt("TWO-1", day, funding, "DBIT "+h1.Net.StringFixed(2)+" - "+h1.Payee.IBAN), controller)
	if err != nil || len(res.Match.Matched) != 0 || res.Match.Unmatched != 1 {
		t.Fatalf("import: %v %+v", err, res)
	}
	open, _ := e.rec.Exceptions(e.ctx, reconcile.ExceptionFilter{Status: reconcile.ExceptionOpen})
	if len(open) != 1 || open[0].Kind != reconcile.ExceptionAmbiguous || !strings.Contains(open[0].Reason, h1.ID) || !strings.Contains(open[0].Reason, h4.ID) {
		t.Fatalf("exceptions: %+v", open)
	}
	if _, err := e.rec.MatchByHand(e.ctx, open[0].ID, []string{h4.ID}, controller, "the bank's advice names H4"); err != nil {
		t.Fatal(err)
	}
	if ms, _ := e.rec.Matches(e.ctx, reconcile.MatchFilter{Payment: h4.ID}); len(ms) != 1 || ms[0].Rule != reconcile.RuleManual {
		t.Errorf("matches of H4: %+v", ms)
	}
	e.verify()
}

// notification turns a camt.053 of camt() into a camt.054 notification of
// the same entries.
func notification(stmt []byte) []byte {
	s := string(stmt)
	s = strings.ReplaceAll(s, "camt.053.001.08", "camt.054.001.08")
	s = strings.ReplaceAll(s, "BkToCstmrStmt", "BkToCstmrDbtCdtNtfctn")
	s = strings.ReplaceAll(s, "<Stmt>", "<Ntfctn>")
	s = strings.ReplaceAll(s, "</Stmt>", "</Ntfctn>")
	for {
		i := strings.Index(s, "<Bal>")
		if i < 0 {
			return []byte(s)
		}
		j := strings.Index(s, "</Bal>")
		s = s[:i] + s[j+len("</Bal>"):]
	}
}

func TestReturnWithAFeeDuplicatesAndNotifications(t *testing.T) {
	e := newEnv(t, banksim.Config{}, 2)
	batches, _ := e.runs.Batches(e.ctx, payments.BatchFilter{})
	page, _, _ := e.runs.BatchLines(e.ctx, batches[0].ID, "", 100)
	lines := map[string]payments.BatchLine{}
	for _, l := range page {
		lines[l.BeneficiaryID] = l
	}
	h1, h2 := lines["H1"], lines["H2"]
	day := ledger.NewDate(2026, 11, 6)
	doc := camt("DUP-1", day, funding, "DBIT "+h1.Net.StringFixed(2)+" "+h1.ID, "DBIT "+h1.Net.StringFixed(2)+" "+h1.ID,
		"DBIT "+h2.Net.StringFixed(2)+" "+h2.ID)
	res, err := e.rec.Import(e.ctx, doc, controller)
	if err != nil || res.Match.Matched[reconcile.RuleEndToEnd].Count != 2 || res.Match.Unmatched != 1 {
		t.Fatalf("import: %v %+v", err, res)
	}
	open, _ := e.rec.Exceptions(e.ctx, reconcile.ExceptionFilter{Status: reconcile.ExceptionOpen})
	if len(open) != 1 || open[0].Kind != reconcile.ExceptionDuplicate || open[0].Payment != h1.ID {
		t.Fatalf("exceptions: %+v", open)
	}
	if _, err := e.rec.BookToSuspense(e.ctx, open[0].ID, controller, "booked twice by the bank, claim 77"); err != nil {
		t.Fatal(err)
	}
	if r := e.report(day); !r.Agrees {
		t.Errorf("report of the duplicate's day: %s", r.Verdict)
	}

	// The bank returns H1's payment, keeping a 2.00 fee; a notification
	// told of it before the statement, and books nothing.
	back := ledger.NewDate(2026, 11, 10)
	fee := decimal.RequireFromString("2.00")
	opening := e.report(day).StatementClosing
	stmt := camt("RET-1", back, opening, "CRDT "+h1.Net.Sub(fee).StringFixed(2)+" "+h1.ID+" - AC04")
	ntf := notification(stmt)
	xsdValid(t, "camt.054.001.08", ntf)
	if res, err := e.rec.Import(e.ctx, ntf, controller); err != nil || len(res.Match.Matched) != 0 || res.Match.Unmatched != 0 {
		t.Fatalf("notification: %v %+v", err, res)
	}
	if r := e.report(back); r.StatementFound || r.Lines != 0 {
		t.Errorf("the notification counts as a statement: %+v", r)
	}
	wantAmount(t, "payable of H1 after the notification", e.balance(ledger.SubAccount(ledger.Payable, "H1")), decimal.Zero)
	res, err = e.rec.Import(e.ctx, stmt, controller)
	if err != nil || res.Match.Matched[reconcile.RuleReturn].Count != 1 {
		t.Fatalf("return: %v %+v", err, res)
	}
	wantAmount(t, "payable of H1", e.balance(ledger.SubAccount(ledger.Payable, "H1")), h1.Net)
	wantAmount(t, "fees kept by the bank", e.balance(ledger.ExpenseBankFees), fee)
	if r := e.report(back); !r.Agrees || r.Matched[reconcile.RuleReturn].Sum.Cmp(h1.Net.Sub(fee)) != 0 {
		t.Errorf("report of the return: %+v", r)
	}
	pe, _ := e.ap.Exceptions(e.ctx, payments.ExceptionFilter{Status: payments.ExceptionOpen})
	if len(pe) != 1 || pe[0].LineID != h1.ID || pe[0].ReasonCode != "AC04" {
		t.Errorf("payment exceptions: %+v", pe)
	}
	e.verify()
}

func TestFetchDueImportsTheEndOfDayStatements(t *testing.T) {
	e := newEnv(t, banksim.Config{}, 2)
	// Monday 2026-11-09: the statement of Friday 11-06, the execution date,
	// is due; the weekend has none.
	e.at("2026-11-09T08:00:00Z")
	res, err := e.rec.FetchDue(e.ctx, ledger.NewDate(2026, 11, 9), payments.System)
	if err != nil || len(res) != 1 || res[0].Statements[0].Date.String() != "2026-11-06" || res[0].Match.Matched[reconcile.RuleEndToEnd].Count != 2 {
		t.Fatalf("fetch due: %v %+v", err, res)
	}
	if r := e.report(ledger.NewDate(2026, 11, 6)); !r.Agrees {
		t.Errorf("report: %s", r.Verdict)
	}
	if res, err := e.rec.FetchDue(e.ctx, ledger.NewDate(2026, 11, 9), payments.System); err != nil || len(res) != 0 {
		t.Errorf("fetch due again: %v %+v", err, res)
	}
	// A match by EndToEndId is listed, undone and made again by hand.
	ms, err := e.rec.Matches(e.ctx, reconcile.MatchFilter{Rule: reconcile.RuleEndToEnd})
	if err != nil || len(ms) != 2 || len(ms[0].Payments) != 1 || ms[0].MatchedBy != "system" {
		t.Fatalf("matches: %v %+v", err, ms)
	}
	pay := ms[0].Payments[0]
	if err := e.rec.UndoMatch(e.ctx, ms[0].ID, controller, "booked to the wrong payment"); err != nil {
		t.Fatal(err)
	}
	after, _ := e.rec.Matches(e.ctx, reconcile.MatchFilter{Payment: pay})
	if len(after) != 1 || after[0].UndoneBy != controller.Name || after[0].ID != ms[0].ID {
		t.Fatalf("the undone match: %+v", after)
	}
	if r := e.report(ledger.NewDate(2026, 11, 6)); r.Agrees || r.InTransitTotal.Count != 1 {
		t.Errorf("report after the undo: %s", r.Verdict)
	}
	open, _ := e.rec.Exceptions(e.ctx, reconcile.ExceptionFilter{Status: reconcile.ExceptionOpen})
	if len(open) != 1 {
		t.Fatalf("exceptions after the undo: %+v", open)
	}
	if _, err := e.rec.MatchByHand(e.ctx, open[0].ID, []string{pay}, controller, "checked: it was the right payment"); err != nil {
		t.Fatal(err)
	}
	if r := e.report(ledger.NewDate(2026, 11, 6)); !r.Agrees {
		t.Errorf("report after the match by hand: %s", r.Verdict)
	}
	// The next day, Monday's statement (empty of payments) is fetched.
	e.at("2026-11-10T08:00:00Z")
	if res, err := e.rec.FetchDue(e.ctx, ledger.NewDate(2026, 11, 10), payments.System); err != nil || len(res) != 1 || res[0].Statements[0].Lines != 0 {
		t.Errorf("fetch due the next day: %v %+v", err, res)
	}
	e.verify()
}

// TestImportByInsert imports and matches with multi-row INSERTs, as for a
// CockroachDB user who may not COPY: the same outcome.
func TestImportByInsert(t *testing.T) {
	e := newEnv(t, banksim.Config{BatchBooking: true, FeePerFile: decimal.RequireFromString("0.80")}, 4)
	rec, err := newRecon(e.pool, e.ledger, sqlstore.Config{Account: account, Now: e.clock, Logger: quiet(), Insert: true, ChunkSize: 3}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	e.at("2026-11-06T18:00:00Z")
	day := ledger.NewDate(2026, 11, 6)
	res, err := rec.Import(e.ctx, e.statement(day), controller)
	if err != nil || res.Match.Matched[reconcile.RuleBatch].Count != 1 || res.Match.Matched[reconcile.RuleFee].Count != 1 || res.Match.Unmatched != 0 {
		t.Fatalf("import: %v %+v", err, res)
	}
	r, err := rec.Report(e.ctx, account, day)
	if err != nil || !r.Agrees || r.InTransitTotal.Count != 0 {
		t.Fatalf("report: %v %+v", err, r)
	}
	e.verify()
}

// TestReportCountsEveryOpenException: the report lists the oldest open
// exceptions, at most MaxReportExceptions of them, and counts and sums
// every one: its sentence never says 1000 when there are more.
func TestReportCountsEveryOpenException(t *testing.T) {
	e := newEnv(t, banksim.Config{}, 1)
	const n = reconcile.MaxReportExceptions + 5
	if _, err := e.pool.Exec(e.ctx, `INSERT INTO recon_exceptions (id, kind, payment_line, amount, reason, status, created_at, updated_at)
		SELECT gen_random_uuid(), 'in_transit_too_long', 'LINE-' || g::TEXT, 1.25, 'test', 'open', now(), now()
		FROM generate_series(1, $1::INT) AS g`, n); err != nil {
		t.Fatal(err)
	}
	r := e.report(ledger.NewDate(2026, 11, 6))
	if r.OpenTotal.Count != n || !r.OpenTotal.Sum.Equal(decimal.RequireFromString("1256.25")) {
		t.Errorf("open total = %d, %s; want %d, 1256.25", r.OpenTotal.Count, r.OpenTotal.Sum, n)
	}
	if len(r.OpenExceptions) != reconcile.MaxReportExceptions {
		t.Errorf("%d open exceptions listed, want %d", len(r.OpenExceptions), reconcile.MaxReportExceptions)
	}
	if want := fmt.Sprintf("%d open exceptions", n); !strings.Contains(r.Verdict, want) {
		t.Errorf("verdict %q lacks %q", r.Verdict, want)
	}
}

// TestMultiAccountFile: a bank's file holds the statements of every
// account of the contract; those of the service's account are imported,
// the others skipped and listed, not refused.
func TestMultiAccountFile(t *testing.T) {
	e := newEnv(t, banksim.Config{}, 1)
	day := ledger.NewDate(2026, 11, 6)
	doc := string(camt("MULTI-1", day, funding, "DBIT 10.00 -", "DBIT 2.00 -"))
	i, j := strings.Index(doc, "<Stmt>"), strings.Index(doc, "</Stmt>")+len("</Stmt>")
	const other = "FR7610107001011234567890129"
	second := strings.Replace(strings.Replace(doc[i:j], account, other, 1), "<Id>MULTI-1</Id>", "<Id>MULTI-2</Id>", 1)
	doc = doc[:j] + second + doc[j:]
	res, err := e.rec.Import(e.ctx, []byte(doc), controller)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Statements) != 1 || res.Statements[0].StmtID != "MULTI-1" || res.Statements[0].Lines != 2 {
		t.Errorf("imported %+v, want MULTI-1 with its 2 lines", res.Statements)
	}
	if len(res.Skipped) != 1 || res.Skipped[0].StmtID != "MULTI-2" || res.Skipped[0].Account != other || res.Skipped[0].Lines != 2 ||
		!strings.Contains(res.Skipped[0].Reason, "not the service's") {
		t.Errorf("skipped %+v, want MULTI-2 of %s", res.Skipped, other)
	}
	var lines int
	if err := e.pool.QueryRow(e.ctx, `SELECT count(*) FROM statement_lines`).Scan(&lines); err != nil || lines != 2 {
		t.Errorf("%d statement lines stored (%v), want 2: the other account's are not", lines, err)
	}
	if r := e.report(day); !r.StatementFound || r.Lines != 2 {
		t.Errorf("report: found %v, %d lines", r.StatementFound, r.Lines)
	}
	// Imported again: the same answer, nothing stored twice.
	again, err := e.rec.Import(e.ctx, []byte(doc), controller)
	if err != nil || !again.Replayed || len(again.Skipped) != 1 {
		t.Errorf("again: %+v %v", again, err)
	}
	e.verify()
}
