package sqlstore_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	ledgersql "github.com/ofii/allowances/ledger/sqlstore"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/sepa"
	"github.com/ofii/allowances/payments/sqlstore"
	"github.com/ofii/allowances/payments/workflow"
)

// The people of the approval tests: marie.curie starts the runs (runEnv).
var (
	paul   = payments.Actor{Name: "paul.preparer", Roles: []string{payments.RolePreparer}, Address: "10.0.0.1"}
	ana    = payments.Actor{Name: "ana.approver", Roles: []string{payments.RoleApprover}, Address: "10.0.0.2"}
	bob    = payments.Actor{Name: "bob.approver", Roles: []string{payments.RoleApprover}, Address: "10.0.0.3"}
	eve    = payments.Actor{Name: "eve.auditor", Roles: []string{payments.RoleAuditor}}
	marie  = payments.Actor{Name: "marie.curie", Roles: []string{payments.RolePreparer, payments.RoleApprover}}
	paulAp = payments.Actor{Name: "paul.preparer", Roles: []string{payments.RolePreparer, payments.RoleApprover}}
)

// debtor is the service's account in the tests.
var debtor = sepa.Party{Name: "OFII Agence comptable", IBAN: "FR7630001007941234567890185", BIC: "BDFEFRPPCCT"}

type approvalEnv struct {
	*runEnv
	ledger *ledgersql.Store
	store  *sqlstore.ApprovalStore
	ap     workflow.Service // the workflow over store, delivering to no bank
}

func newApprovalEnv(t *testing.T, cfg sqlstore.ApprovalConfig) *approvalEnv {
	t.Helper()
	e := &approvalEnv{runEnv: newRunEnv(t)}
	e.ledger = ledgersql.New(e.pool, ledgersql.WithClock(e.clock))
	if err := ledger.SetUpChart(e.ctx, e.ledger); err != nil {
		t.Fatal(err)
	}
	if cfg.Debtor.IBAN == "" {
		cfg.Debtor = debtor
	}
	cfg.Now = e.clock
	store, err := sqlstore.NewApprovalStore(e.pool, e.runs, cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.store = store
	e.ap = workflow.New(store, e.ledger, workflow.DeliveryConfig{Now: e.clock, Logger: quiet()})
	return e
}

// balance is an account's natural balance.
func (e *approvalEnv) balance(account string) decimal.Decimal {
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

// payables is the sum of the payable sub-ledger, credit positive.
func (e *approvalEnv) payables() decimal.Decimal {
	e.t.Helper()
	tb, err := e.ledger.TrialBalance(e.ctx, ledger.AsOf{})
	if err != nil {
		e.t.Fatal(err)
	}
	sum := decimal.Zero
	for _, r := range tb.Rows {
		if strings.HasPrefix(r.Account, ledger.Payable+":") {
			sum = sum.Add(r.Credit).Sub(r.Debit)
		}
	}
	return sum
}

func (e *approvalEnv) batch(id uuid.UUID) payments.Batch {
	e.t.Helper()
	b, err := e.runs.Batch(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

func (e *approvalEnv) verify() {
	e.t.Helper()
	r, err := e.ledger.Verify(e.ctx)
	if err != nil || !r.OK {
		e.t.Fatalf("verify: %v %+v", err, r.Problems)
	}
}

func wantAmount(t *testing.T, what string, got decimal.Decimal, want string) {
	t.Helper()
	if !got.Equal(decimal.RequireFromString(want)) {
		t.Errorf("%s = %s, want %s", what, got.StringFixed(2), want)
	}
}

func wantCode(t *testing.T, what string, err error, code errs.Code, text string) {
	t.Helper()
	if err == nil || errs.CodeOf(err) != code || !strings.Contains(err.Error(), text) {
		t.Errorf("%s: err = %v, want %s containing %q", what, err, code, text)
	}
}

// xsdValid validates an XML document against one of the official schemas.
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

// november runs the worked examples' November: six lines, 2,557.40 gross.
func (e *approvalEnv) november() payments.Batch {
	e.t.Helper()
	workedExamples(e.runEnv)
	workedExamplesNovember(e.runEnv)
	e.at("2026-12-05T07:00:00Z")
	run := e.runADA("2026-11")
	b := e.batch(run.BatchID)
	wantAmount(e.t, "November gross", b.Total.Gross, "2557.40")
	return b
}

func TestApprovalReleaseAndStatusReports(t *testing.T) {
	e := newApprovalEnv(t, sqlstore.ApprovalConfig{SecondApprovalAbove: decimal.RequireFromString("1000.00"), MaxFileTransactions: 4})
	nov := e.november()
	id := nov.ID

	if _, err := e.ap.Submit(e.ctx, id, eve, ""); errs.CodeOf(err) != errs.Forbidden {
		t.Fatalf("submit by an auditor: %v", err)
	}
	b, err := e.ap.Submit(e.ctx, id, paul, "November ADA")
	if err != nil {
		t.Fatal(err)
	}
	if b.Status != payments.BatchPending || b.Workflow.ApprovalsNeeded != 2 || b.Workflow.PreparedBy != paul.Name ||
		b.Workflow.ComputedBy != "marie.curie" || len(b.Workflow.Approvals) != 0 {
		t.Fatalf("submitted: %+v", b)
	}
	if _, err := e.ap.Release(e.ctx, id, ana); errs.CodeOf(err) != errs.Conflict {
		t.Errorf("release before approval: %v", err)
	}

	// Four eyes: each refusal leaves the batch as it was.
	if _, err := e.ap.Approve(e.ctx, id, ana, "checked"); err != nil {
		t.Fatal(err)
	}
	refusals := []struct {
		name string
		by   payments.Actor
		code errs.Code
		text string
	}{
		{"without the approver role", paul, errs.Forbidden, "needs the role approver"},
		{"the preparer", paulAp, errs.Forbidden, "prepared batch"},
		{"whoever computed it", marie, errs.Forbidden, "computed batch"},
		{"the same approver twice", ana, errs.Conflict, "already approved"},
		{"nobody", payments.Actor{Roles: []string{payments.RoleApprover}}, errs.Invalid, "actor"},
	}
	for _, r := range refusals {
		_, err := e.ap.Approve(e.ctx, id, r.by, "")
		wantCode(t, r.name, err, r.code, r.text)
		b := e.batch(id)
		if b.Status != payments.BatchPending || len(b.Workflow.Approvals) != 1 || b.Workflow.Approvals[0].Approver != ana.Name ||
			b.Workflow.ApprovalsMissing != 1 {
			t.Errorf("%s: batch changed: %+v", r.name, b.Workflow)
		}
	}
	wantAmount(t, "expense before the second approval", e.balance(ledger.ExpenseADA), "0")

	b, err = e.ap.Approve(e.ctx, id, bob, "")
	if err != nil {
		t.Fatal(err)
	}
	if b.Status != payments.BatchApproved || len(b.Workflow.Approvals) != 2 || b.ApprovedAt.IsZero() {
		t.Fatalf("approved: %+v", b)
	}
	wantAmount(t, "expense:ada after approval", e.balance(ledger.ExpenseADA), "2557.40")
	wantAmount(t, "payables after approval", e.payables(), "2557.40")
	if _, err := e.ap.Approve(e.ctx, id, payments.Actor{Name: "carl", Roles: []string{payments.RoleApprover}}, ""); errs.CodeOf(err) != errs.Conflict {
		t.Errorf("a third approval: %v", err)
	}

	// Release: two files of 4 and 2 payments.
	e.at("2026-12-05T10:00:00Z") // a Saturday: execution on Monday 7th
	b, err = e.ap.Release(e.ctx, id, ana)
	if err != nil {
		t.Fatal(err)
	}
	if b.Status != payments.BatchReleased || b.Workflow.ReleasedBy != ana.Name || b.Workflow.ExecutionDate.String() != "2026-12-07" {
		t.Fatalf("released: %+v", b)
	}
	wantAmount(t, "payables after release", e.payables(), "0")
	wantAmount(t, "payments in transit after release", e.balance(ledger.PaymentsInTransit), "2557.40")
	files, err := e.ap.Files(e.ctx, id)
	if err != nil || len(files) != 2 || files[0].Transactions != 4 || files[1].Transactions != 2 {
		t.Fatalf("files: %v %+v", err, files)
	}
	if got := files[0].Total.Add(files[1].Total); !got.Equal(decimal.RequireFromString("2557.40")) {
		t.Errorf("files total %s", got)
	}
	lines := e.lines(id)
	var first []byte
	for i, f := range files {
		if f.Status != payments.FileQueued || len(f.MsgID) > 35 || f.PmtInfID == "" {
			t.Errorf("file %d: %+v", i, f)
		}
		_, content, err := e.ap.FileContent(e.ctx, f.MsgID)
		if err != nil {
			t.Fatal(err)
		}
		xsdValid(t, "pain.001.001.09", content)
		m, err := sepa.Read(bytes.NewReader(content))
		if err != nil || m.MsgID != f.MsgID || len(m.Payments) != f.Transactions {
			t.Fatalf("file %s reads back as %v %+v", f.MsgID, err, m)
		}
		if !strings.HasPrefix(m.Payments[0].Remittance, "ADA 2026-11 H") {
			t.Errorf("remittance %q", m.Payments[0].Remittance)
		}
		if i == 0 {
			first = content
		}
	}
	// Releasing again writes nothing new.
	if _, err := e.ap.Release(e.ctx, id, ana); errs.CodeOf(err) != errs.Conflict {
		t.Errorf("second release: %v", err)
	}
	if _, again, _ := e.ap.FileContent(e.ctx, files[0].MsgID); !bytes.Equal(again, first) {
		t.Error("a file changed after release")
	}

	// The bank rejects one payment of the first file.
	m, _ := sepa.Read(bytes.NewReader(first))
	rejected := m.Payments[1]
	rep := sepa.StatusReport{MsgID: "RPT-1", CreatedAt: e.clock(), OriginalMsgID: files[0].MsgID, OriginalMsgNm: "pain.001.001.09",
		GroupStatus: sepa.StatusPART, PaymentInfos: []sepa.PmtInfStatus{{OriginalPmtInfID: files[0].PmtInfID, Status: sepa.StatusPART}}}
	for _, p := range m.Payments {
		st, reason := sepa.StatusACCP, ""
		if p.EndToEndID == rejected.EndToEndID {
			st, reason = sepa.StatusRJCT, "AC04"
		}
		rep.Transactions = append(rep.Transactions, sepa.TxStatus{OriginalEndToEndID: p.EndToEndID, OriginalPmtInfID: files[0].PmtInfID, Status: st, Reason: reason})
	}
	var buf bytes.Buffer
	if err := sepa.WriteStatusReport(&buf, rep); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ap.ApplyReport(e.ctx, buf.Bytes(), paul); errs.CodeOf(err) != errs.Forbidden {
		t.Errorf("a report applied by a preparer: %v", err)
	}
	if _, err := e.ap.ApplyReport(e.ctx, []byte("<Document>"), payments.System); errs.CodeOf(err) != errs.Invalid {
		t.Errorf("a malformed report: %v", err)
	}
	wantAmount(t, "in transit before the report", e.balance(ledger.PaymentsInTransit), "2557.40")
	res, err := e.ap.ApplyReport(e.ctx, buf.Bytes(), payments.Actor{Name: "carla.controller", Roles: []string{payments.RoleController}})
	if err != nil || res.Accepted != 3 || res.Rejected != 1 || res.Replayed {
		t.Fatalf("report: %v %+v", err, res)
	}
	inTransit := decimal.RequireFromString("2557.40").Sub(rejected.Amount)
	var ben string
	for _, l := range lines {
		if l.ID == rejected.EndToEndID {
			ben = l.BeneficiaryID
		}
	}
	wantAmount(t, "in transit after the rejection", e.balance(ledger.PaymentsInTransit), inTransit.StringFixed(2))
	wantAmount(t, "payable of the rejected payee", e.balance(ledger.SubAccount(ledger.Payable, ben)), rejected.Amount.StringFixed(2))
	if res, err := e.ap.ApplyReport(e.ctx, buf.Bytes(), payments.System); err != nil || !res.Replayed {
		t.Errorf("report applied again: %v %+v", err, res)
	}
	wantAmount(t, "in transit after the report again", e.balance(ledger.PaymentsInTransit), inTransit.StringFixed(2))
	excs, err := e.ap.Exceptions(e.ctx, payments.ExceptionFilter{Status: payments.ExceptionOpen})
	if err != nil || len(excs) != 1 {
		t.Fatalf("exceptions: %v %+v", err, excs)
	}
	x := excs[0]
	if x.LineID != rejected.EndToEndID || x.ReasonCode != "AC04" || !strings.Contains(strings.ToLower(x.Reason), "closed") ||
		!x.Amount.Equal(rejected.Amount) || x.BeneficiaryID != ben || x.Action != string(sepa.ActionFixPayee) {
		t.Errorf("exception: %+v", x)
	}
	if b := e.batch(id); b.Status != payments.BatchReleased {
		t.Errorf("batch with a file unanswered: %s", b.Status)
	}
	// The second file accepted as a group.
	rep2 := sepa.StatusReport{MsgID: "RPT-2", CreatedAt: e.clock(), OriginalMsgID: files[1].MsgID, OriginalMsgNm: "pain.001.001.09", GroupStatus: sepa.StatusACCP}
	buf.Reset()
	if err := sepa.WriteStatusReport(&buf, rep2); err != nil {
		t.Fatal(err)
	}
	if res, err := e.ap.ApplyReport(e.ctx, buf.Bytes(), payments.System); err != nil || res.Accepted != 2 {
		t.Fatalf("report 2: %v %+v", err, res)
	}
	if b := e.batch(id); b.Status != payments.BatchPartlyRejected || b.Workflow.ClosedAt.IsZero() {
		t.Errorf("batch after both reports: %s", b.Status)
	}
	// A report of a file never sent is refused.
	rep2.MsgID, rep2.OriginalMsgID = "RPT-3", "OFII-NEVER-SENT"
	buf.Reset()
	_ = sepa.WriteStatusReport(&buf, rep2)
	if _, err := e.ap.ApplyReport(e.ctx, buf.Bytes(), payments.System); errs.CodeOf(err) != errs.Invalid {
		t.Errorf("report of an unknown file: %v", err)
	}

	// The payee is corrected, and a reissue batch pays it again.
	if _, err := e.ap.CorrectPayee(e.ctx, x.ID, paul, payments.Payee{Name: "Amina Diallo", IBAN: x.Payee.IBAN}, "same"); errs.CodeOf(err) != errs.Invalid {
		t.Errorf("correcting to the rejected IBAN: %v", err)
	}
	if _, err := e.ap.CorrectPayee(e.ctx, x.ID, paul, payments.Payee{Name: "Amina Diallo", IBAN: "FR76 3000 6000 0112 3456 7890 180"}, "typo"); errs.CodeOf(err) != errs.Invalid {
		t.Errorf("correcting to an invalid IBAN: %v", err)
	}
	// A NUL is refused, not dropped with the other characters a SEPA name
	// may not hold.
	var fe *errs.Error
	if _, err := e.ap.CorrectPayee(e.ctx, x.ID, paul, payments.Payee{Name: "Amina\x00 Diallo", IBAN: "FR14 2004 1010 0505 0001 3M02 606"}, "typo"); !errors.As(err, &fe) || fe.Code != errs.Invalid || fe.Field != "name" {
		t.Errorf("correcting to a name with a NUL: %v", err)
	}
	if _, err := e.ap.CorrectPayee(e.ctx, x.ID, paul, payments.Payee{Name: "Amina Diallo", IBAN: "FR14 2004 1010 0505 0001 3M02 606"}, "typo\x00"); !errors.As(err, &fe) || fe.Code != errs.Invalid || fe.Field != "reason" {
		t.Errorf("correcting with a reason holding a NUL: %v", err)
	}
	if _, err := e.ap.Reissue(e.ctx, paul, ""); errs.CodeOf(err) != errs.Conflict {
		t.Errorf("reissue with nothing corrected: %v", err)
	}
	x, err = e.ap.CorrectPayee(e.ctx, x.ID, paul, payments.Payee{Name: "Amina Diallo-Traoré", IBAN: "FR14 2004 1010 0505 0001 3M02 606"}, "new account, letter of 2026-12-08")
	if err != nil || x.Status != payments.ExceptionCorrected || x.Corrected == nil || x.Corrected.Name != "Amina Diallo-Traore" {
		t.Fatalf("corrected: %v %+v", err, x)
	}
	p, err := e.events.PayeeAt(e.ctx, ben, e.clock())
	if err != nil || p.IBAN != "FR1420041010050500013M02606" {
		t.Errorf("the beneficiary's payee after the correction: %v %+v", err, p)
	}
	re, err := e.ap.Reissue(e.ctx, paul, "")
	if err != nil || re.Kind != payments.RunReissue || re.Status != payments.BatchDraft || re.Lines != 1 || !re.Total.Net.Equal(rejected.Amount) {
		t.Fatalf("reissue: %v %+v", err, re)
	}
	if _, err := e.ap.Submit(e.ctx, re.ID, paul, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ap.Approve(e.ctx, re.ID, paulAp, ""); errs.CodeOf(err) != errs.Forbidden {
		t.Errorf("the preparer approving the reissue: %v", err)
	}
	if re, err = e.ap.Approve(e.ctx, re.ID, bob, ""); err != nil || re.Status != payments.BatchApproved {
		t.Fatalf("reissue approved: %v %+v", err, re)
	}
	wantAmount(t, "expense:ada after the reissue's approval", e.balance(ledger.ExpenseADA), "2557.40")
	if re, err = e.ap.Release(e.ctx, re.ID, bob); err != nil || re.Status != payments.BatchReleased {
		t.Fatalf("reissue released: %v %+v", err, re)
	}
	wantAmount(t, "payable of the payee after the reissue", e.balance(ledger.SubAccount(ledger.Payable, ben)), "0")
	wantAmount(t, "in transit after the reissue", e.balance(ledger.PaymentsInTransit), "2557.40")
	rf, _ := e.ap.Files(e.ctx, re.ID)
	if len(rf) != 1 {
		t.Fatalf("reissue files: %+v", rf)
	}
	_, content, _ := e.ap.FileContent(e.ctx, rf[0].MsgID)
	xsdValid(t, "pain.001.001.09", content)
	if !bytes.Contains(content, []byte("FR1420041010050500013M02606")) || !bytes.Contains(content, []byte("REEMISSION")) {
		t.Errorf("the reissue file does not pay the corrected account:\n%s", content)
	}
	if excs, _ := e.ap.Exceptions(e.ctx, payments.ExceptionFilter{}); len(excs) != 1 || excs[0].Status != payments.ExceptionReissued {
		t.Errorf("exception after the reissue: %+v", excs)
	}

	// The audit trail tells the story of the batch.
	events, _, err := e.ap.Audit(e.ctx, payments.AuditFilter{ObjectID: id.String()})
	if err != nil {
		t.Fatal(err)
	}
	var story []string
	for _, ev := range events {
		story = append(story, ev.Action+":"+ev.Actor)
	}
	want := "submit:paul.preparer approve:ana.approver approve:bob.approver approved:system release:ana.approver released:system answered:system"
	if got := strings.Join(story, " "); got != want {
		t.Errorf("audit of the batch:\n got %s\nwant %s", got, want)
	}
	if events[1].Address != ana.Address || events[1].From != "pending_approval" || events[1].To != "pending_approval" {
		t.Errorf("first approval event: %+v", events[1])
	}
	page, next, err := e.ap.Audit(e.ctx, payments.AuditFilter{Limit: 2})
	if err != nil || len(page) != 2 || next == "" {
		t.Fatalf("audit page: %v %d %q", err, len(page), next)
	}
	page2, _, err := e.ap.Audit(e.ctx, payments.AuditFilter{Limit: 2, After: next})
	if err != nil || len(page2) != 2 || page2[0].ID == page[1].ID {
		t.Errorf("audit next page: %v %+v", err, page2)
	}
	e.verify()
}

func TestCancelApprovedBatchReversesTheAccrual(t *testing.T) {
	e := newApprovalEnv(t, sqlstore.ApprovalConfig{})
	workedExamples(e.runEnv)
	e.at("2026-11-05T07:00:00Z")
	oct := e.runADA("2026-10")
	if _, err := e.ap.Submit(e.ctx, oct.BatchID, paul, ""); err != nil {
		t.Fatal(err)
	}
	b, err := e.ap.Approve(e.ctx, oct.BatchID, ana, "")
	if err != nil || b.Status != payments.BatchApproved || b.Workflow.ApprovalsNeeded != 1 {
		t.Fatalf("approve: %v %+v", err, b)
	}
	wantAmount(t, "expense", e.balance(ledger.ExpenseADA), "411.80")
	if _, err := e.ap.Cancel(e.ctx, oct.BatchID, paul, " "); errs.CodeOf(err) != errs.Invalid {
		t.Errorf("cancel without a reason: %v", err)
	}
	b, err = e.ap.Cancel(e.ctx, oct.BatchID, paul, "wrong household data")
	if err != nil || b.Status != payments.BatchCancelled || b.Workflow.Reason != "wrong household data" {
		t.Fatalf("cancel: %v %+v", err, b)
	}
	wantAmount(t, "expense after cancel", e.balance(ledger.ExpenseADA), "0")
	wantAmount(t, "payables after cancel", e.payables(), "0")
	if n := e.count(`SELECT count(*) FROM period_payments WHERE batch_id = $1`, oct.BatchID); n != 0 {
		t.Errorf("%d paid periods left by the cancelled batch", n)
	}
	if _, err := e.ap.Release(e.ctx, oct.BatchID, ana); errs.CodeOf(err) != errs.Conflict {
		t.Errorf("release of a cancelled batch: %v", err)
	}
	// The period is paid again in full by the next run.
	e.at("2026-11-06T07:00:00Z")
	again := e.runADA("2026-10")
	amounts(t, e.line(e.lines(again.BatchID), "H1", "2026-10"), "411.80", "0", "411.80")
	e.verify()
}

func TestRejectSendsBackToDraft(t *testing.T) {
	e := newApprovalEnv(t, sqlstore.ApprovalConfig{})
	workedExamples(e.runEnv)
	e.at("2026-11-05T07:00:00Z")
	oct := e.runADA("2026-10")
	if _, err := e.ap.Submit(e.ctx, oct.BatchID, paul, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ap.Submit(e.ctx, oct.BatchID, paul, ""); errs.CodeOf(err) != errs.Conflict {
		t.Errorf("second submission: %v", err)
	}
	if _, err := e.ap.Reject(e.ctx, oct.BatchID, ana, ""); errs.CodeOf(err) != errs.Invalid {
		t.Errorf("reject without a reason: %v", err)
	}
	b, err := e.ap.Reject(e.ctx, oct.BatchID, ana, "the suspension of H1 is missing")
	if err != nil || b.Status != payments.BatchDraft || len(b.Workflow.Approvals) != 0 || b.Workflow.Reason == "" {
		t.Fatalf("reject: %v %+v", err, b)
	}
	wantAmount(t, "expense", e.balance(ledger.ExpenseADA), "0")
	// Submitted again, approved, released: the ledger moves once.
	if _, err := e.ap.Submit(e.ctx, oct.BatchID, paul, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ap.Approve(e.ctx, oct.BatchID, ana, ""); err != nil {
		t.Fatal(err)
	}
	wantAmount(t, "expense", e.balance(ledger.ExpenseADA), "411.80")
	e.verify()
}

func TestApprovalBooksOverpaymentsAndRecoveries(t *testing.T) {
	e := newApprovalEnv(t, sqlstore.ApprovalConfig{})
	e.at("2026-10-03T09:00:00Z")
	e.apply(event(eid("o1"), payments.RightsOpened, "H1", ts("2026-10-03T09:00:00Z"), opened("2026-10-03", 1, 0, false)))
	e.at("2026-10-20T09:00:00Z")
	e.apply(event(eid("o2"), payments.OverpaymentEstablished, "H1", ts("2026-10-20T09:00:00Z"),
		map[string]any{"overpayment_id": "IND-2026-001", "amount": "500.00", "reason": "undeclared income"}))
	e.at("2026-11-05T07:00:00Z")
	oct := e.runADA("2026-10")
	l := e.line(e.lines(oct.BatchID), "H1", "2026-10")
	if !l.Deduction.IsPositive() {
		t.Fatalf("no deduction: %+v", l)
	}
	if _, err := e.ap.Submit(e.ctx, oct.BatchID, paul, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ap.Approve(e.ctx, oct.BatchID, ana, ""); err != nil {
		t.Fatal(err)
	}
	rec := ledger.SubAccount(ledger.OverpaymentReceivable, "H1")
	wantAmount(t, "receivable after approval", e.balance(rec), decimal.RequireFromString("500").Sub(l.Deduction).StringFixed(2))
	wantAmount(t, "payable after approval", e.balance(ledger.SubAccount(ledger.Payable, "H1")), l.Net.StringFixed(2))
	// expense: the gross accrued less the overpayment booked back
	wantAmount(t, "expense after approval", e.balance(ledger.ExpenseADA), l.Gross.Sub(decimal.RequireFromString("500")).StringFixed(2))
	e.verify()
}

func TestConcurrentApprovalsPostOnce(t *testing.T) {
	e := newApprovalEnv(t, sqlstore.ApprovalConfig{SecondApprovalAbove: decimal.RequireFromString("1000.00")})
	nov := e.november()
	if _, err := e.ap.Submit(e.ctx, nov.ID, paul, ""); err != nil {
		t.Fatal(err)
	}
	approvers := []payments.Actor{ana, bob, {Name: "carl", Roles: []string{payments.RoleApprover}}, {Name: "dina", Roles: []string{payments.RoleApprover}}}
	errc := make(chan error, len(approvers))
	for _, a := range approvers {
		go func() {
			_, err := e.ap.Approve(e.ctx, nov.ID, a, "")
			errc <- err
		}()
	}
	ok := 0
	for range approvers {
		err := <-errc
		switch {
		case err == nil:
			ok++
		case errs.CodeOf(err) != errs.Conflict:
			t.Errorf("approval: %v", err)
		}
	}
	b := e.batch(nov.ID)
	if ok < 2 || b.Status != payments.BatchApproved || len(b.Workflow.Approvals) != 2 {
		t.Fatalf("%d approvals succeeded; batch %s with %+v", ok, b.Status, b.Workflow.Approvals)
	}
	wantAmount(t, "expense", e.balance(ledger.ExpenseADA), "2557.40")
	wantAmount(t, "payables", e.payables(), "2557.40")
	if n := e.count(`SELECT count(*) FROM audit_events WHERE object_id = $1 AND action = 'approved'`, nov.ID.String()); n != 1 {
		t.Errorf("%d 'approved' events", n)
	}
	e.verify()
}

func TestInterruptedReleaseResumes(t *testing.T) {
	e := newApprovalEnv(t, sqlstore.ApprovalConfig{MaxFileTransactions: 2})
	nov := e.november()
	if _, err := e.ap.Submit(e.ctx, nov.ID, paul, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ap.Approve(e.ctx, nov.ID, ana, ""); err != nil {
		t.Fatal(err)
	}
	// The release is cut off when it writes its second file (a fault
	// injected in the database, as a crash would): the first file is
	// written and posted, but none is queued for the bank.
	lines := e.lines(nov.ID)
	if len(lines) != 6 {
		t.Fatalf("%d lines", len(lines))
	}
	if _, err := e.pool.Exec(e.ctx, `CREATE FUNCTION cut_off_second_file() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.part > 1 THEN RAISE EXCEPTION 'cut off'; END IF;
			RETURN NEW;
		END $$`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(e.ctx, `CREATE TRIGGER cut_off BEFORE INSERT ON payment_files FOR EACH ROW EXECUTE FUNCTION cut_off_second_file()`); err != nil {
		t.Fatal(err)
	}
	_, err := e.ap.Release(e.ctx, nov.ID, ana)
	if err == nil || !strings.Contains(err.Error(), "release again") {
		t.Fatalf("release cut off: %v", err)
	}
	b := e.batch(nov.ID)
	files, _ := e.ap.Files(e.ctx, nov.ID)
	if b.Status != payments.BatchReleasing || len(files) != 1 || files[0].Status != payments.FileBuilding {
		t.Fatalf("after the interruption: %s %+v (want one file written, none queued)", b.Status, files)
	}
	_, first, _ := e.ap.FileContent(e.ctx, files[0].MsgID)
	wantAmount(t, "in transit after one file", e.balance(ledger.PaymentsInTransit), files[0].Total.StringFixed(2))
	if _, err := e.pool.Exec(e.ctx, `DROP TRIGGER cut_off ON payment_files`); err != nil {
		t.Fatal(err)
	}
	// While another process finishes the release (it holds the lease),
	// a release is refused, naming it; once its lease expired (the process
	// stopped), the next release finishes the batch.
	if _, err := e.pool.Exec(e.ctx, `INSERT INTO leases (name, holder, token, taken_at, renewed_at, expires_at)
		VALUES ($1, 'ledgerd-b:42:0a1b2c3d', gen_random_uuid(), now(), now(), now() + INTERVAL '1 minute')`,
		sqlstore.ReleaseLeaseName(nov.ID)); err != nil {
		t.Fatal(err)
	}
	_, err = e.ap.Release(e.ctx, nov.ID, bob)
	wantCode(t, "release while another process holds its lease", err, errs.Conflict, "ledgerd-b:42:0a1b2c3d")
	if b := e.batch(nov.ID); b.Status != payments.BatchReleasing {
		t.Fatalf("after the refused release: %s", b.Status)
	}
	if _, err := e.pool.Exec(e.ctx, `UPDATE leases SET expires_at = now() - INTERVAL '1 second'`); err != nil {
		t.Fatal(err)
	}
	e.at("2026-12-08T09:00:00Z") // resumed days later: same execution date, same files
	b, err = e.ap.Release(e.ctx, nov.ID, bob)
	if err != nil || b.Status != payments.BatchReleased || b.Workflow.ReleasedBy != ana.Name || b.Workflow.ExecutionDate.String() != "2026-12-07" {
		t.Fatalf("resumed release: %v %+v", err, b)
	}
	files, _ = e.ap.Files(e.ctx, nov.ID)
	if len(files) != 3 {
		t.Fatalf("files: %+v", files)
	}
	if _, again, _ := e.ap.FileContent(e.ctx, files[0].MsgID); !bytes.Equal(again, first) {
		t.Error("the first file was written again")
	}
	wantAmount(t, "in transit", e.balance(ledger.PaymentsInTransit), "2557.40")
	wantAmount(t, "payables", e.payables(), "0")
	if n := e.count(`SELECT count(*) FROM line_payments WHERE batch_id = $1`, nov.ID); n != 6 {
		t.Errorf("%d payments recorded, want 6", n)
	}
	e.verify()
}

func TestReleaseInTheBanksFormat(t *testing.T) {
	e := newApprovalEnv(t, sqlstore.ApprovalConfig{Format: sepa.Pain001V03})
	workedExamples(e.runEnv)
	e.at("2026-11-05T07:00:00Z")
	oct := e.runADA("2026-10")
	if _, err := e.ap.Submit(e.ctx, oct.BatchID, paul, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ap.Approve(e.ctx, oct.BatchID, ana, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ap.Release(e.ctx, oct.BatchID, ana); err != nil {
		t.Fatal(err)
	}
	files, _ := e.ap.Files(e.ctx, oct.BatchID)
	if len(files) != 1 || files[0].Format != string(sepa.Pain001V03) {
		t.Fatalf("files: %+v", files)
	}
	_, content, _ := e.ap.FileContent(e.ctx, files[0].MsgID)
	xsdValid(t, "pain.001.001.03", content)
	if !bytes.Contains(content, []byte("<ReqdExctnDt>2026-11-06</ReqdExctnDt>")) || !bytes.Contains(content, []byte("<Ustrd>ADA 2026-10 H1</Ustrd>")) {
		t.Errorf("pain.001.001.03 file:\n%s", content)
	}
}

func TestRejectedAccountIsHeldUntilCorrected(t *testing.T) {
	e := newApprovalEnv(t, sqlstore.ApprovalConfig{})
	workedExamples(e.runEnv)
	e.at("2026-11-05T07:00:00Z")
	oct := e.runADA("2026-10")
	for _, step := range []func() (payments.Batch, error){
		func() (payments.Batch, error) { return e.ap.Submit(e.ctx, oct.BatchID, paul, "") },
		func() (payments.Batch, error) { return e.ap.Approve(e.ctx, oct.BatchID, ana, "") },
		func() (payments.Batch, error) { return e.ap.Release(e.ctx, oct.BatchID, ana) },
	} {
		if _, err := step(); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := e.ap.Files(e.ctx, oct.BatchID)
	h1 := e.line(e.lines(oct.BatchID), "H1", "2026-10")
	rep := sepa.StatusReport{MsgID: "RPT-OCT", CreatedAt: e.clock(), OriginalMsgID: files[0].MsgID, OriginalMsgNm: "pain.001.001.09",
		GroupStatus: sepa.StatusRJCT, GroupReason: "AC04"}
	var buf bytes.Buffer
	if err := sepa.WriteStatusReport(&buf, rep); err != nil {
		t.Fatal(err)
	}
	if res, err := e.ap.ApplyReport(e.ctx, buf.Bytes(), payments.System); err != nil || res.Rejected != 1 {
		t.Fatalf("report: %v %+v", err, res)
	}

	// November pays every household, H1 still to the closed account: its
	// line is held, the others go to the bank.
	workedExamplesNovember(e.runEnv)
	e.at("2026-12-05T07:00:00Z")
	nov := e.runADA("2026-11")
	if _, err := e.ap.Submit(e.ctx, nov.BatchID, paul, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ap.Approve(e.ctx, nov.BatchID, ana, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ap.Approve(e.ctx, nov.BatchID, bob, ""); err != nil && errs.CodeOf(err) != errs.Conflict {
		t.Fatal(err)
	}
	b, err := e.ap.Release(e.ctx, nov.BatchID, ana)
	if err != nil || b.Status != payments.BatchReleased {
		t.Fatalf("release: %v %+v", err, b)
	}
	novH1 := e.line(e.lines(nov.BatchID), "H1", "2026-11")
	files, _ = e.ap.Files(e.ctx, nov.BatchID)
	if len(files) != 1 || files[0].Transactions != 5 {
		t.Fatalf("November files: %+v", files)
	}
	_, content, _ := e.ap.FileContent(e.ctx, files[0].MsgID)
	if bytes.Contains(content, []byte(novH1.ID)) {
		t.Error("H1's November line went to the bank")
	}
	wantAmount(t, "payable of H1", e.balance(ledger.SubAccount(ledger.Payable, "H1")), h1.Net.Add(novH1.Net).StringFixed(2))
	open, _ := e.ap.Exceptions(e.ctx, payments.ExceptionFilter{Status: payments.ExceptionOpen})
	if len(open) != 2 {
		t.Fatalf("open exceptions: %+v", open)
	}
	// One correction frees both; one reissue batch pays both.
	x, err := e.ap.CorrectPayee(e.ctx, open[0].ID, paul, payments.Payee{Name: "Amina Diallo", IBAN: "FR1420041010050500013M02606"}, "new account")
	if err != nil || x.Status != payments.ExceptionCorrected {
		t.Fatalf("correct: %v %+v", err, x)
	}
	if open, _ := e.ap.Exceptions(e.ctx, payments.ExceptionFilter{Status: payments.ExceptionCorrected}); len(open) != 2 {
		t.Fatalf("corrected exceptions: %+v", open)
	}
	re, err := e.ap.Reissue(e.ctx, paul, "")
	if err != nil || re.Lines != 2 || !re.Total.Net.Equal(h1.Net.Add(novH1.Net)) {
		t.Fatalf("reissue: %v %+v", err, re)
	}
	if _, err := e.ap.Submit(e.ctx, re.ID, paul, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ap.Approve(e.ctx, re.ID, ana, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ap.Release(e.ctx, re.ID, ana); err != nil {
		t.Fatal(err)
	}
	wantAmount(t, "payable of H1 after the reissue", e.balance(ledger.SubAccount(ledger.Payable, "H1")), "0")
	e.verify()
}

// TestUnpayableLinesAreHeldAtRelease: a line the bank could not take (a
// name in another script, kept from before names were checked, or an
// account whose check digits are wrong) is held as a payment exception
// before the first file is written; the rest of the batch is released in
// its files; correcting the payee and reissuing pays it.
func TestUnpayableLinesAreHeldAtRelease(t *testing.T) {
	e := newApprovalEnv(t, sqlstore.ApprovalConfig{MaxFileTransactions: 2})
	nov := e.november()
	lines := e.lines(nov.ID)
	cyrillic, badIBAN := lines[1], lines[4]
	if _, err := e.pool.Exec(e.ctx, `UPDATE batch_lines SET payee_name = 'Иван Петров' WHERE id = $1`, cyrillic.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(e.ctx, `UPDATE batch_lines SET payee_iban = 'FR7630006000011234567890180' WHERE id = $1`, badIBAN.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ap.Submit(e.ctx, nov.ID, paul, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ap.Approve(e.ctx, nov.ID, ana, ""); err != nil {
		t.Fatal(err)
	}
	b, err := e.ap.Release(e.ctx, nov.ID, ana)
	if err != nil || b.Status != payments.BatchReleased {
		t.Fatalf("release: %v, %s", err, b.Status)
	}
	files, _ := e.ap.Files(e.ctx, nov.ID)
	if len(files) != 2 || files[0].Transactions+files[1].Transactions != 4 {
		t.Fatalf("files %+v, want 2 of the 4 payable lines", files)
	}
	for _, f := range files {
		if f.Status != payments.FileQueued {
			t.Errorf("file %s is %s, want queued", f.MsgID, f.Status)
		}
		_, xml, _ := e.ap.FileContent(e.ctx, f.MsgID)
		if bytes.Contains(xml, []byte(cyrillic.ID)) || bytes.Contains(xml, []byte(badIBAN.ID)) {
			t.Errorf("file %s pays a held line", f.MsgID)
		}
	}
	held := cyrillic.Net.Add(badIBAN.Net)
	wantAmount(t, "in transit", e.balance(ledger.PaymentsInTransit), decimal.RequireFromString("2557.40").Sub(held).StringFixed(2))
	wantAmount(t, "payables", e.payables(), held.StringFixed(2))
	for _, c := range []struct {
		line payments.BatchLine
		code string
		note string
	}{{cyrillic, "RR03", "creditor.name: has the letter 'И' at position 1"}, {badIBAN, "AC01", "creditor.iban"}} {
		var code, note string
		if err := e.pool.QueryRow(e.ctx, `SELECT reason_code, note FROM payment_exceptions WHERE line_id = $1 AND status = 'open'`, c.line.ID).
			Scan(&code, &note); err != nil {
			t.Fatalf("exception of line %s: %v", c.line.ID, err)
		}
		if code != c.code || !strings.Contains(note, c.note) || strings.Contains(note, "1234567890180") {
			t.Errorf("line %s held with %s %q, want %s with %q, the IBAN masked", c.line.ID, code, note, c.code, c.note)
		}
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE object_id = $1 AND action = 'hold'`, nov.ID.String()); n != 1 {
		t.Errorf("%d hold events, want 1", n)
	}
	// The name is written in Latin letters, the account corrected; a
	// reissue pays both held lines.
	var nameExc, ibanExc uuid.UUID
	if err := e.pool.QueryRow(e.ctx, `SELECT id FROM payment_exceptions WHERE line_id = $1`, cyrillic.ID).Scan(&nameExc); err != nil {
		t.Fatal(err)
	}
	if err := e.pool.QueryRow(e.ctx, `SELECT id FROM payment_exceptions WHERE line_id = $1`, badIBAN.ID).Scan(&ibanExc); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ap.CorrectPayee(e.ctx, nameExc, paul, payments.Payee{Name: "Ivan Petrov", IBAN: cyrillic.Payee.IBAN}, "name as on the passport"); err != nil {
		t.Fatalf("correcting the name, the account kept: %v", err)
	}
	if _, err := e.ap.CorrectPayee(e.ctx, ibanExc, paul, payments.Payee{Name: badIBAN.Payee.Name, IBAN: "FR7630006000011234567890180"}, "same"); errs.CodeOf(err) != errs.Invalid {
		t.Errorf("correcting to the same wrong account: %v", err)
	}
	if _, err := e.ap.CorrectPayee(e.ctx, ibanExc, paul, payments.Payee{Name: badIBAN.Payee.Name, IBAN: badIBAN.Payee.IBAN}, "check digits"); err != nil {
		t.Fatalf("correcting the account: %v", err)
	}
	re, err := e.ap.Reissue(e.ctx, paul, "")
	if err != nil || re.Lines != 2 || !re.Total.Net.Equal(held) {
		t.Fatalf("reissue: %v %+v", err, re)
	}
	if _, err := e.ap.Submit(e.ctx, re.ID, paul, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ap.Approve(e.ctx, re.ID, ana, ""); err != nil {
		t.Fatal(err)
	}
	if re, err = e.ap.Release(e.ctx, re.ID, ana); err != nil || re.Status != payments.BatchReleased {
		t.Fatalf("reissue released: %v %+v", err, re)
	}
	wantAmount(t, "in transit after the reissue", e.balance(ledger.PaymentsInTransit), "2557.40")
	wantAmount(t, "payables after the reissue", e.payables(), "0")
	e.verify()
}
