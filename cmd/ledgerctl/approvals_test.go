package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ofii/allowances/internal/apiclient"
	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/server"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/bank/banksim"
	"github.com/ofii/allowances/payments/sepa"
	paysql "github.com/ofii/allowances/payments/sqlstore"
	httptransport "github.com/ofii/allowances/transport/http"
)

// The tokens of the staff of the workflow tests.
const (
	marieToken   = "marie-preparer-token-0123456789"
	paulToken    = "paul-approver-token-0123456789"
	auditorTok   = "court-auditor-token-0123456789"
	claireToken  = "claire-controller-token-0123456789"
	opsToken     = "ops-admin-token-0123456789"
	newPayeeIBAN = "FR7610107001011234567890129"
)

// staffTokens is the AUTH_TOKENS of the workflow tests.
var staffTokens = strings.Join([]string{
	"marie:preparer:" + httptransport.HashToken(marieToken),
	"paul:approver:" + httptransport.HashToken(paulToken),
	"court-of-audit:auditor:" + httptransport.HashToken(auditorTok),
	"claire:controller:" + httptransport.HashToken(claireToken),
	"ops:admin:" + httptransport.HashToken(opsToken),
}, ";")

// The JSON of a batch with its workflow, and of a payment file.
type (
	cliWorkflowBatch struct {
		cliBatch
		Workflow struct {
			ComputedBy      string `json:"computed_by"`
			PreparedBy      string `json:"prepared_by"`
			ApprovalsNeeded int    `json:"approvals_needed"`
			Approvals       []struct {
				Approver string `json:"approver"`
				Address  string `json:"address"`
				Note     string `json:"note"`
			} `json:"approvals"`
			ReleasedBy string `json:"released_by"`
			Reason     string `json:"reason"`
		} `json:"workflow"`
	}
	cliFile struct {
		MsgID        string `json:"msg_id"`
		Format       string `json:"format"`
		PmtInfID     string `json:"pmt_inf_id"`
		Transactions int    `json:"transactions"`
		Total        string `json:"total"`
		SHA256       string `json:"sha256"`
		Status       string `json:"status"`
	}
	cliException struct {
		ID         string `json:"id"`
		Status     string `json:"status"`
		ReasonCode string `json:"reason_code"`
		Amount     string `json:"amount"`
		Payee      struct {
			IBAN string `json:"iban"`
		} `json:"payee"`
		Corrected *struct {
			IBAN string `json:"iban"`
		} `json:"corrected"`
	}
)

// runEnv runs ledgerctl with args in the environment env alone, with stdin
// as standard input.
func runEnv(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errOut, func(k string) string { return env[k] })
	return result{code, out.String(), errOut.String()}
}

// wantErr checks that r failed with code and said msg on standard error,
// with nothing on standard output.
func (r result) wantErr(t *testing.T, code int, msg string) {
	t.Helper()
	r.want(t, code)
	if !strings.Contains(r.stderr, msg) {
		t.Errorf("stderr lacks %q:\n%s", msg, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout is not empty:\n%s", r.stdout)
	}
}

// apiAs is a client of s acting as the holder of token, for the setup and
// the checks that the commands under test do not make themselves.
func apiAs(t *testing.T, s *testLedgerd, token string) *apiclient.Client {
	t.Helper()
	c, err := apiclient.New(s.URL, token, "ledgerctl-test")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// octoberDraft opens the ADA rights of one household (docs/rules.md §4) on
// s's database and has marie run October 2026 through the API: the id of
// the draft batch, 411.80 gross.
func octoberDraft(t *testing.T, s *testLedgerd) string {
	t.Helper()
	ctx := context.Background()
	pool, err := db.Open(ctx, s.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	openRights(t, paysql.New(pool), "OFII-2026-000123")
	var run payments.Run
	if err := apiAs(t, s, marieToken).Post(ctx, "/v1/runs", nil, map[string]string{"kind": "ada", "period": "2026-10"}, &run); err != nil {
		t.Fatalf("start the October run: %v", err)
	}
	if run.Lines != 1 {
		t.Fatalf("October run = %+v, want one line", run)
	}
	return run.BatchID.String()
}

// batchOf reads batch id through the API, as the auditor.
func batchOf(t *testing.T, s *testLedgerd, id string) payments.Batch {
	t.Helper()
	var b payments.Batch
	if err := apiAs(t, s, auditorTok).Get(context.Background(), "/v1/batches/"+id, nil, &b); err != nil {
		t.Fatalf("read batch %s: %v", id, err)
	}
	return b
}

// wantBatch checks that batch id is in status with these approvers.
func wantBatch(t *testing.T, s *testLedgerd, id string, status payments.BatchStatus, approvers ...string) {
	t.Helper()
	b := batchOf(t, s, id)
	var got []string
	for _, ap := range b.Workflow.Approvals {
		got = append(got, ap.Approver)
	}
	if b.Status != status || strings.Join(got, ",") != strings.Join(approvers, ",") {
		t.Errorf("batch %s is %s approved by %v, want %s approved by %v", id, b.Status, got, status, approvers)
	}
}

// auditRows counts the rows of the audit trail, read through the API as
// the auditor.
func auditRows(t *testing.T, s *testLedgerd) int {
	t.Helper()
	n := 0
	q := url.Values{"limit": {"1000"}}
	for {
		var page struct {
			Events []payments.AuditEvent `json:"events"`
			Next   string                `json:"next"`
		}
		if err := apiAs(t, s, auditorTok).Get(context.Background(), "/v1/audit", q, &page); err != nil {
			t.Fatalf("read the audit trail: %v", err)
		}
		n += len(page.Events)
		if page.Next == "" || len(page.Events) == 0 {
			return n
		}
		q.Set("after", page.Next)
	}
}

// rejectingReport is the bank's pain.002 rejecting the one payment of file
// f, line, for a closed account (AC04).
func rejectingReport(t *testing.T, f cliFile, line string) []byte {
	t.Helper()
	var report bytes.Buffer
	if err := sepa.WriteStatusReport(&report, sepa.StatusReport{
		MsgID: "BANK-RPT-0001", CreatedAt: time.Date(2026, 11, 7, 9, 0, 0, 0, time.UTC), OriginalMsgID: f.MsgID, OriginalMsgNm: f.Format,
		GroupStatus: sepa.StatusRJCT, PaymentInfos: []sepa.PmtInfStatus{{OriginalPmtInfID: f.PmtInfID}},
		Transactions: []sepa.TxStatus{{OriginalEndToEndID: line, OriginalPmtInfID: f.PmtInfID, Status: sepa.StatusRJCT, Reason: "AC04"}},
	}); err != nil {
		t.Fatal(err)
	}
	return report.Bytes()
}

// TestApprovalsCLI takes the batch of docs/rules.md §4 through the workflow
// from the shell, against ledgerd: marie submits, paul approves and
// releases, the bank's report rejects the payment, marie corrects the payee
// and makes the reissue batch.
func TestApprovalsCLI(t *testing.T) {
	atRunDay(t)
	s := startLedgerd(t, nil)
	id := octoberDraft(t, s)

	s.as(t, marieToken, "", "batches", "submit", id, "--note", "October, checked").
		want(t, cli.ExitOK, id, "pending_approval", "prepared by", "marie", "0 of 1")

	t.Run("Refusals", func(t *testing.T) {
		tests := []struct {
			name, token string
			args        []string
			code        int
			stderr      string
		}{
			{"PreparerApproves", marieToken, []string{"batches", "approve", id}, cli.ExitFailure,
				"error: 403 Forbidden: this needs the role approver; marie has preparer"},
			{"AuditorReleases", auditorTok, []string{"batches", "release", id}, cli.ExitFailure,
				"error: 403 Forbidden: this needs the role approver; court-of-audit has auditor"},
			{"ReleaseBeforeApproval", paulToken, []string{"batches", "release", id}, cli.ExitFailure,
				"error: 409 Conflict: batch " + id + " is pending_approval: only an approved batch can be released"},
			{"RejectWithoutReason", paulToken, []string{"batches", "reject", id}, cli.ExitUsage, "error: --reason: is required"},
			{"NoteTooLong", paulToken, []string{"batches", "approve", id, "--note", strings.Repeat("x", 501)}, cli.ExitUsage,
				"error: 400 Bad Request: --note: must have at most 500 characters"},
			{"BadID", paulToken, []string{"batches", "approve", "nope"}, cli.ExitUsage, `error: ID: "nope" is not a batch id`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := auditRows(t, s)
				s.as(t, tt.token, "", tt.args...).wantErr(t, tt.code, tt.stderr)
				wantBatch(t, s, id, payments.BatchPending)
				if n := auditRows(t, s); n != before {
					t.Errorf("the audit trail went from %d to %d rows", before, n)
				}
			})
		}
	})

	var b cliWorkflowBatch
	decodeJSON(t, s.as(t, paulToken, "", "-o", "json", "batches", "approve", id, "--note", "seen"), &b)
	if b.ID != id || b.Status != "approved" || b.Workflow.PreparedBy != "marie" || b.Workflow.ComputedBy != "marie" ||
		b.Workflow.ApprovalsNeeded != 1 || len(b.Workflow.Approvals) != 1 || b.Workflow.Approvals[0].Approver != "paul" ||
		b.Workflow.Approvals[0].Note != "seen" || !strings.HasPrefix(b.Workflow.Approvals[0].Address, "127.0.0.1:") {
		t.Fatalf("approved batch = %+v", b)
	}
	wantCLITotals(t, "total", b.Total, 1, "411.80", "0.00", "411.80")

	s.as(t, paulToken, "", "batches", "release", id).want(t, cli.ExitOK, "released", "released by", "paul")
	wantBatch(t, s, id, payments.BatchReleased, "paul")

	var files struct {
		Files []cliFile `json:"files"`
	}
	decodeJSON(t, s.as(t, auditorTok, "", "-o", "json", "batches", "files", id), &files)
	if len(files.Files) != 1 || files.Files[0].Transactions != 1 || files.Files[0].Total != "411.80" || files.Files[0].Status != "queued" ||
		len(files.Files[0].SHA256) != 64 {
		t.Fatalf("files = %+v", files.Files)
	}
	f := files.Files[0]
	s.as(t, auditorTok, "", "batches", "files", id).want(t, cli.ExitOK, "MSG ID", f.MsgID, "411.80", "queued")

	t.Run("File", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out.xml")
		s.as(t, paulToken, "", "batches", "file", f.MsgID, "-f", out).
			want(t, cli.ExitOK, "wrote "+f.MsgID+" to "+out+": 1 transaction, 411.80, sha256 "+f.SHA256)
		content, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(content)
		if hex.EncodeToString(sum[:]) != f.SHA256 || !bytes.Contains(content, []byte(runsIBAN)) || !bytes.Contains(content, []byte("411.80")) {
			t.Errorf("the file written does not hash to %s or lacks the payee's IBAN or the amount", f.SHA256)
		}
		if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("mode of the file written: %v, %v; want 0600", fi.Mode(), err)
		}
		r := s.as(t, claireToken, "", "batches", "file", f.MsgID)
		r.want(t, cli.ExitOK)
		if r.stdout != string(content) {
			t.Errorf("stdout is not the file")
		}
		var withXML struct {
			File cliFile `json:"file"`
			XML  string  `json:"xml"`
		}
		decodeJSON(t, s.as(t, opsToken, "", "-o", "json", "batches", "file", f.MsgID), &withXML)
		if withXML.File != f || withXML.XML != string(content) {
			t.Errorf("-o json: file %+v, %d bytes of XML", withXML.File, len(withXML.XML))
		}
		// The file holds IBANs: an auditor lists it but does not read it,
		// and nothing is written.
		denied := filepath.Join(t.TempDir(), "denied.xml")
		s.as(t, auditorTok, "", "batches", "file", f.MsgID, "-f", denied).
			wantErr(t, cli.ExitFailure, "error: 403 Forbidden: this needs one of the roles approver, controller, admin; court-of-audit has auditor")
		if _, err := os.Stat(denied); !os.IsNotExist(err) {
			t.Errorf("a file was written for the auditor: %v", err)
		}
		s.as(t, paulToken, "", "batches", "file", "OFII-20261106-000000000000-001").wantErr(t, cli.ExitFailure, "error: 404 Not Found: ")
	})

	// The bank rejects the payment: a closed account.
	var lines struct {
		Lines []cliLine `json:"lines"`
	}
	if err := apiAs(t, s, marieToken).Get(context.Background(), "/v1/batches/"+id+"/lines", nil, &lines); err != nil || len(lines.Lines) != 1 {
		t.Fatalf("lines: %+v, %v", lines.Lines, err)
	}
	report := rejectingReport(t, f, lines.Lines[0].ID)
	reportFile := filepath.Join(t.TempDir(), "pain002.xml")
	if err := os.WriteFile(reportFile, report, 0o600); err != nil {
		t.Fatal(err)
	}
	s.as(t, marieToken, "", "bank", "report", reportFile).
		wantErr(t, cli.ExitFailure, "error: 403 Forbidden: this needs one of the roles controller, admin; marie has preparer")
	var res struct {
		MsgID    string `json:"msg_id"`
		Replayed bool   `json:"replayed"`
		Accepted int    `json:"accepted"`
		Rejected int    `json:"rejected"`
	}
	decodeJSON(t, s.as(t, claireToken, "", "-o", "json", "bank", "report", reportFile), &res)
	if res.MsgID != "BANK-RPT-0001" || res.Replayed || res.Rejected != 1 || res.Accepted != 0 {
		t.Fatalf("report result = %+v", res)
	}
	s.as(t, claireToken, "", "bank", "report", reportFile).want(t, cli.ExitOK, "applied before: nothing changed")
	s.as(t, claireToken, string(report), "bank", "report", "-").want(t, cli.ExitOK, "BANK-RPT-0001 was applied before: nothing changed")

	// What the report put back in the payee's payable account, to the cent.
	var bal ledger.Balance
	if err := apiAs(t, s, auditorTok).Get(context.Background(), "/v1/accounts/payable:OFII-2026-000123/balance", nil, &bal); err != nil {
		t.Fatal(err)
	}
	if bal.Natural.StringFixed(2) != "411.80" {
		t.Errorf("payable:OFII-2026-000123 after the rejection: %s, want 411.80", bal.Natural.StringFixed(2))
	}

	// IBANs: the server masks them for the roles that do not pay.
	var excs struct {
		Exceptions []cliException `json:"exceptions"`
		Next       string         `json:"next"`
	}
	decodeJSON(t, s.as(t, auditorTok, "", "-o", "json", "exceptions", "list", "--status", "open", "--batch", id), &excs)
	if len(excs.Exceptions) != 1 || excs.Exceptions[0].Payee.IBAN != runsMaskedIBAN || excs.Exceptions[0].ReasonCode != "AC04" ||
		excs.Exceptions[0].Amount != "411.80" || excs.Exceptions[0].Status != "open" || excs.Next != "" {
		t.Fatalf("exceptions, as the auditor = %+v", excs)
	}
	decodeJSON(t, s.as(t, marieToken, "", "-o", "json", "exceptions", "list"), &excs)
	if len(excs.Exceptions) != 1 || excs.Exceptions[0].Payee.IBAN != runsIBAN {
		t.Fatalf("exceptions, as the preparer = %+v", excs.Exceptions)
	}
	xid := excs.Exceptions[0].ID
	s.as(t, auditorTok, "", "exceptions", "list").want(t, cli.ExitOK, "EXCEPTION", xid, "AC04", runsMaskedIBAN)
	decodeJSON(t, s.as(t, auditorTok, "", "-o", "json", "exceptions", "list", "--limit", "1"), &excs)
	if len(excs.Exceptions) != 1 || excs.Next != xid {
		t.Errorf("a full page of 1: %+v", excs)
	}
	s.as(t, auditorTok, "", "exceptions", "list", "--status", "closed").want(t, cli.ExitOK, "no payment exceptions")

	s.as(t, auditorTok, "", "exceptions", "correct", xid, "--name", "Amina Diallo", "--iban", newPayeeIBAN, "--reason", "r").
		wantErr(t, cli.ExitFailure, "error: 403 Forbidden: this needs one of the roles preparer, admin; court-of-audit has auditor")
	s.as(t, marieToken, "", "exceptions", "correct", xid, "--name", "Amina Diallo", "--iban", runsIBAN, "--reason", "same").
		wantErr(t, cli.ExitUsage, "error: 400 Bad Request: --iban: is the account the bank rejected (AC04)")
	var x cliException
	decodeJSON(t, s.as(t, marieToken, "", "-o", "json", "exceptions", "correct", xid, "--name", "Amina Diallo", "--iban", newPayeeIBAN,
		"--reason", "new account, letter of 2026-11-20"), &x)
	if x.ID != xid || x.Status != "corrected" || x.Corrected == nil || x.Corrected.IBAN != newPayeeIBAN || x.Amount != "411.80" {
		t.Fatalf("corrected exception = %+v", x)
	}
	// The controller does not pay: the corrected IBAN shows masked.
	r := s.as(t, claireToken, "", "exceptions", "list", "--status", "corrected")
	r.want(t, cli.ExitOK, xid, "corrected", "FR76 **** **** 0129")
	if strings.Contains(r.stdout, newPayeeIBAN) {
		t.Errorf("the controller sees the corrected IBAN in full:\n%s", r.stdout)
	}

	var nb cliWorkflowBatch
	decodeJSON(t, s.as(t, marieToken, "", "-o", "json", "exceptions", "reissue", "--note", "AC04 of October"), &nb)
	if nb.Kind != "reissue" || nb.Status != "draft" || nb.Lines != 1 || nb.ID == id || nb.Workflow.ComputedBy != "marie" {
		t.Fatalf("reissue batch = %+v", nb)
	}
	wantCLITotals(t, "reissue total", nb.Total, 1, "411.80", "0.00", "411.80")
	decodeJSON(t, s.as(t, auditorTok, "", "-o", "json", "exceptions", "list", "--status", "reissued"), &excs)
	if len(excs.Exceptions) != 1 || excs.Exceptions[0].ID != xid {
		t.Errorf("reissued exceptions = %+v", excs.Exceptions)
	}
	s.as(t, paulToken, "", "exceptions", "close", xid, "--reason", "paid again").
		wantErr(t, cli.ExitFailure, "error: 409 Conflict: payment exception "+xid+" is reissued: only an open or corrected one can be closed")
	s.as(t, marieToken, "", "exceptions", "reissue").wantErr(t, cli.ExitFailure, "error: 409 Conflict: ")

	// The reissue batch is cancelled: nothing is left to pay twice.
	s.as(t, marieToken, "", "batches", "cancel", nb.ID, "--reason", "paid by cheque").want(t, cli.ExitOK, "cancelled", "paid by cheque")
	wantBatch(t, s, nb.ID, payments.BatchCancelled)
}

// TestApprovalsFourEyes: the CLI asserts no identity. Whoever approves is
// who ledgerd says the token is: a preparer, the approver who submitted the
// batch and a token made up in the caller's own environment are refused
// with the API's answer, and neither the batch nor the audit trail changes;
// the approval that is allowed needs no database on the caller's machine.
func TestApprovalsFourEyes(t *testing.T) {
	atRunDay(t)
	const jeanToken = "jean-preparer-approver-token-0123456789"
	s := startLedgerd(t, map[string]string{"AUTH_TOKENS": staffTokens + ";jean:preparer+approver:" + httptransport.HashToken(jeanToken)})
	id := octoberDraft(t, s)
	s.as(t, jeanToken, "", "batches", "submit", id).want(t, cli.ExitOK, "pending_approval", "prepared by", "jean")

	eve := s.env("eve-token")
	eve["AUTH_TOKENS"] = "eve:approver:" + httptransport.HashToken("eve-token")
	for _, tt := range []struct {
		name   string
		env    map[string]string
		code   int
		stderr string
	}{
		{"Preparer", s.env(marieToken), cli.ExitFailure, "error: 403 Forbidden: this needs the role approver; marie has preparer\n"},
		{"OwnSubmission", s.env(jeanToken), cli.ExitFailure, "error: 403 Forbidden: jean prepared batch " + id + ": another person must approve it\n"},
		{"TokenOfTheCallersEnvironment", eve, cli.ExitFailure, "error: 401 Unauthorized: the bearer token is not valid\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := auditRows(t, s)
			runEnv(t, tt.env, "", "batches", "approve", id, "--note", "looks fine").wantErr(t, tt.code, tt.stderr)
			wantBatch(t, s, id, payments.BatchPending)
			if n := auditRows(t, s); n != before {
				t.Errorf("the audit trail went from %d to %d rows", before, n)
			}
		})
	}

	t.Run("NoDatabaseOnTheCallersMachine", func(t *testing.T) {
		before := auditRows(t, s)
		env := s.env(paulToken)
		env["DATABASE_URL"] = "postgres://root@127.0.0.1:1/nope"
		runEnv(t, env, "", "batches", "approve", id).want(t, cli.ExitOK, "approved", "1 of 1", "paul at ")
		wantBatch(t, s, id, payments.BatchApproved, "paul")
		// The approval and the batch's becoming approved.
		if n := auditRows(t, s); n != before+2 {
			t.Errorf("the audit trail went from %d to %d rows, want 2 more", before, n)
		}
	})
}

// TestApprovalsCLIAuth: each command is refused, changing nothing, with a
// token of a role the route does not admit (403) or that ledgerd does not
// know (401); without a token nothing is sent (exit 2), and a ledgerd that
// cannot be reached is named.
func TestApprovalsCLIAuth(t *testing.T) {
	atRunDay(t)
	s := startLedgerd(t, nil)
	id := octoberDraft(t, s)
	s.as(t, marieToken, "", "batches", "submit", id).want(t, cli.ExitOK)
	xid := "0b0e7b39-4e0a-4a3f-9d3c-1d2a5e8f7a61"
	reportFile := filepath.Join(t.TempDir(), "pain002.xml")
	if err := os.WriteFile(reportFile, rejectingReport(t, cliFile{MsgID: "OFII-20261106-000000000000-001", Format: "pain.001.001.09",
		PmtInfID: "OFII-20261106-000000000000-001-P1"}, "L1"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "file.xml")
	commands := []struct {
		args      []string
		wrong     string // a token of a role the route does not admit; "" when every role may
		wrongMsg  string
		stdinNote string
	}{
		{[]string{"batches", "submit", id}, paulToken, "this needs one of the roles preparer, admin; paul has approver", ""},
		{[]string{"batches", "approve", id}, marieToken, "this needs the role approver; marie has preparer", ""},
		{[]string{"batches", "reject", id, "--reason", "no"}, claireToken, "this needs the role approver; claire has controller", ""},
		{[]string{"batches", "cancel", id, "--reason", "no"}, auditorTok, "this needs one of the roles preparer, approver, admin; court-of-audit has auditor", ""},
		{[]string{"batches", "release", id}, opsToken, "this needs the role approver; ops has admin", ""},
		{[]string{"batches", "files", id}, "", "", ""},
		{[]string{"batches", "file", "OFII-20261106-000000000000-001", "-f", out}, marieToken, "this needs one of the roles approver, controller, admin; marie has preparer", ""},
		{[]string{"exceptions", "list"}, "", "", ""},
		{[]string{"exceptions", "correct", xid, "--name", "A", "--iban", newPayeeIBAN, "--reason", "r"}, paulToken, "this needs one of the roles preparer, admin; paul has approver", ""},
		{[]string{"exceptions", "close", xid, "--reason", "r"}, marieToken, "this needs one of the roles approver, admin; marie has preparer", ""},
		{[]string{"exceptions", "reissue"}, claireToken, "this needs one of the roles preparer, admin; claire has controller", ""},
		{[]string{"bank", "send"}, paulToken, "this needs the role admin; paul has approver", ""},
		{[]string{"bank", "poll"}, claireToken, "this needs the role admin; claire has controller", ""},
		{[]string{"bank", "report", reportFile}, marieToken, "this needs one of the roles controller, admin; marie has preparer", ""},
	}
	before := auditRows(t, s)
	for _, c := range commands {
		name := strings.Join(c.args[:2], " ")
		t.Run(name, func(t *testing.T) {
			if c.wrong != "" {
				s.as(t, c.wrong, "", c.args...).wantErr(t, cli.ExitFailure, "error: 403 Forbidden: "+c.wrongMsg+"\n")
			}
			s.as(t, "not-a-token", "", c.args...).wantErr(t, cli.ExitFailure, "error: 401 Unauthorized: the bearer token is not valid\n")
			s.as(t, "", "", c.args...).wantErr(t, cli.ExitUsage, "error: --token: give the API token of the person acting: set LEDGER_TOKEN, pass --token")
			closed := s.env(opsToken)
			closed["LEDGER_URL"] = "http://127.0.0.1:1"
			runEnv(t, closed, "", c.args...).wantErr(t, cli.ExitFailure, "error: cannot reach ledgerd at http://127.0.0.1:1 (set LEDGER_URL or --server)")
			if _, err := os.Stat(out); !os.IsNotExist(err) {
				t.Errorf("%s was written: %v", out, err)
			}
		})
	}
	wantBatch(t, s, id, payments.BatchPending)
	if n := auditRows(t, s); n != before {
		t.Errorf("the audit trail went from %d to %d rows", before, n)
	}
}

// TestApprovalsCLIUsage: a command line or an input that is wrong exits 2,
// naming the flag or argument at fault, whether the CLI or ledgerd finds
// it, and changes nothing.
func TestApprovalsCLIUsage(t *testing.T) {
	s := startLedgerd(t, nil)
	unknown := "0b0e7b39-4e0a-4a3f-9d3c-1d2a5e8f7a61"
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"SubmitID", []string{"batches", "submit", "nope"}, `error: ID: "nope" is not a batch id (a UUID)`},
		{"CancelNoReason", []string{"batches", "cancel", unknown}, "error: --reason: is required"},
		{"CancelBlankReason", []string{"batches", "cancel", unknown, "--reason", "  "}, "error: --reason: is required"},
		{"NoteTooLong", []string{"batches", "submit", unknown, "--note", strings.Repeat("é", 501)},
			"error: 400 Bad Request: --note: must have at most 500 characters"},
		{"FilesID", []string{"batches", "files", "42"}, `error: ID: "42" is not a batch id`},
		{"FileMsgID", []string{"batches", "file", "a{b}"}, "error: MSGID: has the character '{'"},
		{"ExceptionsStatus", []string{"exceptions", "list", "--status", "pending"}, `error: --status: "pending" is not a status`},
		{"ExceptionsBatch", []string{"exceptions", "list", "--batch", "42"}, `error: --batch: "42" is not a batch id`},
		{"ExceptionsAfter", []string{"exceptions", "list", "--after", "x"}, `error: --after: "x" is not a payment exception id`},
		{"ExceptionsLimit", []string{"exceptions", "list", "--limit", "0"}, "error: --limit: must be between 1 and 1000"},
		{"CorrectIBAN", []string{"exceptions", "correct", unknown, "--name", "A", "--iban", "FR7630006000011234567890188", "--reason", "r"},
			"error: --iban: check digits do not match"},
		{"CorrectBIC", []string{"exceptions", "correct", unknown, "--name", "A", "--iban", newPayeeIBAN, "--bic", "X", "--reason", "r"},
			"error: 400 Bad Request: --bic: must be 8 or 11 letters and digits"},
		{"CorrectMissingReason", []string{"exceptions", "correct", unknown, "--name", "A", "--iban", runsIBAN}, `required flag(s) "reason" not set`},
		{"CloseID", []string{"exceptions", "close", "x", "--reason", "r"}, `error: ID: "x" is not a payment exception id`},
		{"ReissueArgs", []string{"exceptions", "reissue", "now"}, `unknown command "now"`},
		{"ReportMissingFile", []string{"bank", "report", "testdata/nosuch.xml"}, "error: FILE: "},
		{"ReportEmpty", []string{"bank", "report", "-"}, "error: FILE: is empty"},
		{"ReportNotXML", []string{"bank", "report", "testdata/entry.json"}, "error: 400 Bad Request: report: "},
		{"BankArgs", []string{"bank", "send", "now"}, `unknown command "now"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.as(t, opsToken, "", tt.args...).wantErr(t, cli.ExitUsage, tt.stderr)
		})
	}
	if n := auditRows(t, s); n != 0 {
		t.Errorf("refused commands wrote %d rows of the audit trail", n)
	}
}

// TestBankCLI: 'bank send' has ledgerd deliver the queued file of a
// released batch to its bank (here the embedded simulator of dev mode,
// which rejects payments to runsIBAN) and 'bank poll' has it fetch the
// bank's answer: the payment becomes an exception, its amount back in the
// payee's payable account. The caller's machine reaches no bank.
func TestBankCLI(t *testing.T) {
	atRunDay(t)
	s := startLedgerd(t, nil, server.WithBankSimulator(func(c *banksim.Config) {
		c.RejectIBANs = map[string]bool{runsIBAN: true}
		c.Today = func() ledger.Date { return ledger.NewDate(2026, 11, 6) }
	}))
	if s.Addrs.Bank == "" {
		t.Fatal("ledgerd runs no bank simulator")
	}
	id := octoberDraft(t, s)
	s.as(t, marieToken, "", "batches", "submit", id).want(t, cli.ExitOK)
	s.as(t, paulToken, "", "batches", "approve", id).want(t, cli.ExitOK)
	s.as(t, paulToken, "", "batches", "release", id).want(t, cli.ExitOK)

	s.as(t, paulToken, "", "bank", "send").wantErr(t, cli.ExitFailure, "error: 403 Forbidden: this needs the role admin; paul has approver")

	// The BANK_URL of the caller's environment plays no part: ledgerd
	// reaches its own bank.
	env := s.env(opsToken)
	env["BANK_URL"] = "http://127.0.0.1:1"
	var act payments.BankActivity
	decodeJSON(t, runEnv(t, env, "", "-o", "json", "bank", "send"), &act)
	if act.Sent != 1 || act.Failed != 0 {
		t.Fatalf("bank send = %+v, want one file sent", act)
	}
	var files struct {
		Files []cliFile `json:"files"`
	}
	decodeJSON(t, s.as(t, auditorTok, "", "-o", "json", "batches", "files", id), &files)
	if len(files.Files) != 1 || files.Files[0].Status != "sent" || files.Files[0].Total != "411.80" {
		t.Fatalf("files after bank send = %+v", files.Files)
	}
	s.as(t, opsToken, "", "bank", "send").want(t, cli.ExitOK, "SENT", "0")

	decodeJSON(t, runEnv(t, env, "", "-o", "json", "bank", "poll"), &act)
	if act.Reports < 1 || act.Rejected != 1 || act.Accepted != 0 {
		t.Errorf("bank poll = %+v, want the report rejecting the payment", act)
	}
	r := s.as(t, opsToken, "", "bank", "poll")
	r.want(t, cli.ExitOK, "REPORTS", "REJECTED")
	if !strings.Contains(r.stdout, strconv.Itoa(0)) {
		t.Errorf("a second poll:\n%s", r.stdout)
	}
	wantBatch(t, s, id, payments.BatchPartlyRejected, "paul")
	s.as(t, auditorTok, "", "exceptions", "list").want(t, cli.ExitOK, "AC04", runsMaskedIBAN, "411.80")
	var bal ledger.Balance
	if err := apiAs(t, s, auditorTok).Get(context.Background(), "/v1/accounts/payable:OFII-2026-000123/balance", nil, &bal); err != nil {
		t.Fatal(err)
	}
	if bal.Natural.StringFixed(2) != "411.80" {
		t.Errorf("payable:OFII-2026-000123 after the rejection: %s, want 411.80", bal.Natural.StringFixed(2))
	}
}

// TestApprovalsCLILostAnswer: when the connection drops after the request
// was sent, ledgerd may have done what was asked; the command says so and
// how to find out, and fails.
func TestApprovalsCLILostAnswer(t *testing.T) {
	env := map[string]string{"LEDGER_URL": hangUpServer(t), "LEDGER_TOKEN": paulToken, "XDG_CONFIG_HOME": t.TempDir()}
	id := "0b0e7b39-4e0a-4a3f-9d3c-1d2a5e8f7a61"
	for _, tt := range []struct {
		args []string
		hint string
	}{
		{[]string{"batches", "approve", id}, "it may have been carried out: 'ledgerctl batches show " + id + "' shows where the batch stands"},
		{[]string{"bank", "send"}, "it may have been carried out: running 'ledgerctl bank send' again is safe"},
		{[]string{"exceptions", "reissue"}, "'ledgerctl exceptions list --status reissued' shows"},
	} {
		r := runEnv(t, env, "", tt.args...)
		r.wantErr(t, cli.ExitFailure, "error: the connection to ledgerd at "+env["LEDGER_URL"]+" was lost before it answered")
		if !strings.Contains(r.stderr, tt.hint) {
			t.Errorf("%v: stderr lacks %q:\n%s", tt.args, tt.hint, r.stderr)
		}
	}
}
