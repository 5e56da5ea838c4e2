package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/config"
	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/ledger"
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

// TestApprovalsCLI takes the batch of docs/rules.md §4 through the workflow
// from the shell: marie submits, paul approves and releases, the bank's
// report rejects the payment, marie corrects the payee and makes the
// reissue batch, the auditor reads the trail.
func TestApprovalsCLI(t *testing.T) {
	atRunDay(t)
	pool, dsn := dbtest.MustOpen(t)
	openRights(t, paysql.New(pool), "OFII-2026-000123")
	env := map[string]string{"DATABASE_URL": dsn, "AUTH_TOKENS": staffTokens}
	as := func(token string) map[string]string {
		e := map[string]string{"LEDGER_TOKEN": token}
		for k, v := range env {
			e[k] = v
		}
		return e
	}

	ledgerctlEnv(t, env, "chart").want(t, cli.ExitOK)
	var started struct {
		Batch cliBatch `json:"batch"`
	}
	decodeJSON(t, ledgerctlEnv(t, env, "-o", "json", "runs", "start", "ada", "--period", "2026-10", "--token", marieToken), &started)
	id := started.Batch.ID
	status := func(t *testing.T) string {
		t.Helper()
		var out struct {
			Batch cliWorkflowBatch `json:"batch"`
		}
		decodeJSON(t, ledgerctlEnv(t, env, "-o", "json", "batches", "show", id), &out)
		return out.Batch.Status
	}

	t.Run("MissingToken", func(t *testing.T) {
		for _, args := range [][]string{
			{"batches", "submit", id},
			{"batches", "files", id},
			{"exceptions", "list"},
			{"audit"},
		} {
			r := ledgerctlEnv(t, env, args...)
			r.want(t, cli.ExitUsage)
			if !strings.Contains(r.stderr, "error: --token: to ") || !strings.Contains(r.stderr, "set LEDGER_TOKEN or pass --token") {
				t.Errorf("%v: stderr = %q", args, r.stderr)
			}
		}
		r := ledgerctlEnv(t, env, "batches", "submit", id, "--token", "not-a-token")
		r.want(t, cli.ExitUsage)
		if !strings.Contains(r.stderr, "error: --token: the token is not valid") {
			t.Errorf("stderr = %q", r.stderr)
		}
		r = ledgerctlEnv(t, as("not-a-token"), "batches", "submit", id)
		r.want(t, cli.ExitUsage)
		if !strings.Contains(r.stderr, "error: LEDGER_TOKEN: the token is not valid") {
			t.Errorf("stderr = %q", r.stderr)
		}
		r = ledgerctlEnv(t, map[string]string{"DATABASE_URL": dsn, "LEDGER_TOKEN": marieToken}, "batches", "submit", id)
		r.want(t, cli.ExitUsage)
		if !strings.Contains(r.stderr, "no API tokens are configured") {
			t.Errorf("stderr = %q", r.stderr)
		}
		if s := status(t); s != "draft" {
			t.Errorf("batch is %s after the refusals, want draft", s)
		}
	})

	r := ledgerctlEnv(t, as(marieToken), "batches", "submit", id, "--note", "October, checked")
	r.want(t, cli.ExitOK, id, "pending_approval", "prepared by", "marie", "0 of 1")

	t.Run("Refusals", func(t *testing.T) {
		tests := []struct {
			name   string
			env    map[string]string
			args   []string
			code   int
			stderr string
		}{
			{"PreparerApproves", as(marieToken), []string{"batches", "approve", id}, cli.ExitFailure,
				"error: marie may not approve a batch: that needs the role approver, and marie has preparer"},
			{"AuditorReleases", as(auditorTok), []string{"batches", "release", id}, cli.ExitFailure,
				"error: court-of-audit may not release a batch: that needs the role approver"},
			{"ReleaseBeforeApproval", as(paulToken), []string{"batches", "release", id}, cli.ExitFailure,
				"error: batch " + id + " is pending_approval: only an approved batch can be released"},
			{"RejectWithoutReason", as(paulToken), []string{"batches", "reject", id}, cli.ExitUsage, "error: --reason: is required"},
			{"NoteTooLong", as(paulToken), []string{"batches", "approve", id, "--note", strings.Repeat("x", 501)}, cli.ExitUsage,
				"error: --note: must have at most 500 characters"},
			{"BadID", as(paulToken), []string{"batches", "approve", "nope"}, cli.ExitUsage, `error: ID: "nope" is not a batch id`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := ledgerctlEnv(t, tt.env, tt.args...)
				r.want(t, tt.code)
				if !strings.Contains(r.stderr, tt.stderr) {
					t.Errorf("stderr lacks %q:\n%s", tt.stderr, r.stderr)
				}
				if s := status(t); s != "pending_approval" {
					t.Errorf("batch is %s after the refusal", s)
				}
			})
		}
	})

	var b cliWorkflowBatch
	decodeJSON(t, ledgerctlEnv(t, env, "-o", "json", "batches", "approve", id, "--token", paulToken, "--note", "seen"), &b)
	if b.ID != id || b.Status != "approved" || b.Workflow.PreparedBy != "marie" || b.Workflow.ComputedBy != "marie" ||
		b.Workflow.ApprovalsNeeded != 1 || len(b.Workflow.Approvals) != 1 || b.Workflow.Approvals[0].Approver != "paul" ||
		b.Workflow.Approvals[0].Note != "seen" || !strings.HasPrefix(b.Workflow.Approvals[0].Address, "ledgerctl@") {
		t.Fatalf("approved batch = %+v", b)
	}
	wantCLITotals(t, "total", b.Total, 1, "411.80", "0.00", "411.80")

	ledgerctlEnv(t, as(paulToken), "batches", "release", id).want(t, cli.ExitOK, "released", "released by", "paul")

	var files struct {
		Files []cliFile `json:"files"`
	}
	decodeJSON(t, ledgerctlEnv(t, as(auditorTok), "-o", "json", "batches", "files", id), &files)
	if len(files.Files) != 1 || files.Files[0].Transactions != 1 || files.Files[0].Total != "411.80" || files.Files[0].Status != "queued" {
		t.Fatalf("files = %+v", files.Files)
	}
	f := files.Files[0]
	ledgerctlEnv(t, as(auditorTok), "batches", "files", id).want(t, cli.ExitOK, "MSG ID", f.MsgID, "411.80", "queued")

	t.Run("File", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out.xml")
		ledgerctlEnv(t, as(paulToken), "batches", "file", f.MsgID, "-f", out).want(t, cli.ExitOK, "wrote "+f.MsgID+" to "+out)
		content, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(content)
		if hex.EncodeToString(sum[:]) != f.SHA256 || !bytes.Contains(content, []byte(runsIBAN)) {
			t.Errorf("the file written does not hash to %s or lacks the payee's IBAN", f.SHA256)
		}
		if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("mode of the file written: %v, %v; want 0600", fi.Mode(), err)
		}
		r := ledgerctlEnv(t, as(paulToken), "batches", "file", f.MsgID)
		r.want(t, cli.ExitOK)
		if r.stdout != string(content) {
			t.Errorf("stdout is not the file")
		}
		r = ledgerctlEnv(t, as(auditorTok), "batches", "file", f.MsgID)
		r.want(t, cli.ExitFailure)
		if !strings.Contains(r.stderr, "one of the roles approver, controller, admin") || r.stdout != "" {
			t.Errorf("an auditor reads the file: stdout %d bytes, stderr %q", len(r.stdout), r.stderr)
		}
	})

	// The bank rejects the payment: a closed account.
	var lines struct {
		Lines []cliLine `json:"lines"`
	}
	decodeJSON(t, ledgerctlEnv(t, env, "-o", "json", "batches", "show", id, "--lines"), &lines)
	line := lines.Lines[0].ID
	var report bytes.Buffer
	if err := sepa.WriteStatusReport(&report, sepa.StatusReport{
		MsgID: "BANK-RPT-0001", CreatedAt: time.Date(2026, 11, 7, 9, 0, 0, 0, time.UTC), OriginalMsgID: f.MsgID, OriginalMsgNm: f.Format,
		GroupStatus: sepa.StatusRJCT, PaymentInfos: []sepa.PmtInfStatus{{OriginalPmtInfID: f.PmtInfID}},
		Transactions: []sepa.TxStatus{{OriginalEndToEndID: line, OriginalPmtInfID: f.PmtInfID, Status: sepa.StatusRJCT, Reason: "AC04"}},
	}); err != nil {
		t.Fatal(err)
	}
	reportFile := filepath.Join(t.TempDir(), "pain002.xml")
	if err := os.WriteFile(reportFile, report.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	ledgerctlEnv(t, as(marieToken), "bank", "report", reportFile).want(t, cli.ExitFailure)
	var res struct {
		Replayed bool `json:"replayed"`
		Rejected int  `json:"rejected"`
	}
	decodeJSON(t, ledgerctlEnv(t, as(claireToken), "-o", "json", "bank", "report", reportFile), &res)
	if res.Replayed || res.Rejected != 1 {
		t.Fatalf("report result = %+v", res)
	}
	ledgerctlEnv(t, as(claireToken), "bank", "report", reportFile).want(t, cli.ExitOK, "applied before: nothing changed")

	var excs struct {
		Exceptions []cliException `json:"exceptions"`
	}
	decodeJSON(t, ledgerctlEnv(t, as(auditorTok), "-o", "json", "exceptions", "list", "--status", "open", "--batch", id), &excs)
	if len(excs.Exceptions) != 1 || excs.Exceptions[0].Payee.IBAN != runsMaskedIBAN || excs.Exceptions[0].ReasonCode != "AC04" ||
		excs.Exceptions[0].Amount != "411.80" {
		t.Fatalf("exceptions, as the auditor = %+v", excs.Exceptions)
	}
	decodeJSON(t, ledgerctlEnv(t, as(marieToken), "-o", "json", "exceptions", "list"), &excs)
	if len(excs.Exceptions) != 1 || excs.Exceptions[0].Payee.IBAN != runsIBAN {
		t.Fatalf("exceptions, as the preparer = %+v", excs.Exceptions)
	}
	xid := excs.Exceptions[0].ID
	ledgerctlEnv(t, as(auditorTok), "exceptions", "list").want(t, cli.ExitOK, "EXCEPTION", xid, "AC04", runsMaskedIBAN)

	var x cliException
	decodeJSON(t, ledgerctlEnv(t, as(marieToken), "-o", "json", "exceptions", "correct", xid, "--name", "Amina Diallo", "--iban", newPayeeIBAN,
		"--reason", "new account, letter of 2026-11-20"), &x)
	if x.Status != "corrected" || x.Corrected == nil || x.Corrected.IBAN != newPayeeIBAN {
		t.Fatalf("corrected exception = %+v", x)
	}
	var nb cliWorkflowBatch
	decodeJSON(t, ledgerctlEnv(t, as(marieToken), "-o", "json", "exceptions", "reissue", "--note", "AC04 of October"), &nb)
	if nb.Kind != "reissue" || nb.Status != "draft" || nb.Lines != 1 || nb.ID == id {
		t.Fatalf("reissue batch = %+v", nb)
	}

	t.Run("Audit", func(t *testing.T) {
		r := ledgerctlEnv(t, as(auditorTok), "audit", "--object", id, "--actor", "paul")
		r.want(t, cli.ExitOK, "ACTOR", "approve", "release", "seen")
		if strings.Contains(r.stdout, "submit") {
			t.Errorf("marie's submission listed for --actor paul:\n%s", r.stdout)
		}
		var one, all struct {
			Events []struct {
				Action string `json:"action"`
				Actor  string `json:"actor"`
			} `json:"events"`
			Next string `json:"next"`
		}
		decodeJSON(t, ledgerctlEnv(t, as(opsToken), "-o", "json", "audit"), &one)
		decodeJSON(t, ledgerctlEnv(t, as(auditorTok), "-o", "json", "audit", "--all", "--limit", "2"), &all)
		if len(one.Events) < 6 || len(all.Events) != len(one.Events) || all.Next != "" {
			t.Errorf("%d events in one page, %d by pages of 2 (next %q)", len(one.Events), len(all.Events), all.Next)
		}
		var p struct {
			Events []any  `json:"events"`
			Next   string `json:"next"`
		}
		decodeJSON(t, ledgerctlEnv(t, as(auditorTok), "-o", "json", "audit", "--limit", "2"), &p)
		if len(p.Events) != 2 || p.Next == "" {
			t.Errorf("one page of 2: %d events, next %q", len(p.Events), p.Next)
		}
		ledgerctlEnv(t, as(auditorTok), "audit", "--limit", "2").want(t, cli.ExitOK, "more events follow: add --after ")
		for _, tok := range []string{marieToken, paulToken} {
			r := ledgerctlEnv(t, as(tok), "audit")
			r.want(t, cli.ExitFailure)
			if !strings.Contains(r.stderr, "may not read the audit trail: that needs one of the roles auditor, admin") {
				t.Errorf("stderr = %q", r.stderr)
			}
		}
		out := ledgerctlEnv(t, as(auditorTok), "-o", "json", "audit").stdout
		if strings.Contains(out, newPayeeIBAN) || strings.Contains(out, runsIBAN) {
			t.Errorf("the audit trail shows an IBAN in full")
		}
	})

	t.Run("Bank", func(t *testing.T) {
		var act map[string]int
		decodeJSON(t, ledgerctlEnv(t, as(opsToken), "-o", "json", "bank", "send"), &act)
		if _, ok := act["sent"]; !ok {
			t.Errorf("bank activity = %v", act)
		}
		ledgerctlEnv(t, as(opsToken), "bank", "poll").want(t, cli.ExitOK, "SENT", "REPORTS")
		ledgerctlEnv(t, as(paulToken), "bank", "send").want(t, cli.ExitFailure)
	})
}

func TestApprovalsCLIUsage(t *testing.T) {
	_, dsn := dbtest.MustOpen(t)
	env := map[string]string{"DATABASE_URL": dsn, "AUTH_TOKENS": staffTokens, "LEDGER_TOKEN": opsToken}
	unknown := "0b0e7b39-4e0a-4a3f-9d3c-1d2a5e8f7a61"
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"SubmitID", []string{"batches", "submit", "nope"}, `error: ID: "nope" is not a batch id (a UUID)`},
		{"CancelNoReason", []string{"batches", "cancel", unknown}, "error: --reason: is required"},
		{"FilesID", []string{"batches", "files", "42"}, `error: ID: "42" is not a batch id`},
		{"FileMsgID", []string{"batches", "file", "a{b}"}, "error: MSGID: has the character '{'"},
		{"ExceptionsStatus", []string{"exceptions", "list", "--status", "pending"}, `error: --status: "pending" is not a status`},
		{"ExceptionsBatch", []string{"exceptions", "list", "--batch", "42"}, `error: --batch: "42" is not a batch id`},
		{"ExceptionsLimit", []string{"exceptions", "list", "--limit", "0"}, "error: --limit: must be between 1 and"},
		{"CorrectIBAN", []string{"exceptions", "correct", unknown, "--name", "A", "--iban", "FR7630006000011234567890188", "--reason", "r"},
			"error: --iban: check digits do not match"},
		{"CorrectMissingReason", []string{"exceptions", "correct", unknown, "--name", "A", "--iban", runsIBAN}, `required flag(s) "reason" not set`},
		{"CloseID", []string{"exceptions", "close", "x", "--reason", "r"}, `error: ID: "x" is not a payment exception id`},
		{"ReportMissingFile", []string{"bank", "report", "testdata/nosuch.xml"}, "error: FILE: "},
		{"ReportNotXML", []string{"bank", "report", "testdata/entry.json"}, "error: report: "},
		{"AuditSince", []string{"audit", "--since", "yesterday"}, `error: --since: "yesterday" is not a time`},
		{"AuditLimit", []string{"audit", "--limit", "5000"}, "error: --limit: must be between 1 and 1000"},
		{"AuditAfter", []string{"audit", "--after", "garbage"}, "error: --after: is not a cursor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ledgerctlEnv(t, env, tt.args...)
			r.want(t, cli.ExitUsage)
			if !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout is not empty:\n%s", r.stdout)
			}
		})
	}
	var events struct {
		Events []any `json:"events"`
	}
	decodeJSON(t, ledgerctlEnv(t, env, "-o", "json", "audit"), &events)
	if len(events.Events) != 0 {
		t.Errorf("refused commands reached the audit trail: %+v", events.Events)
	}
}

// TestBankCLI: with BANK_URL, 'bank send' delivers the queued file of a
// released batch and 'bank poll' fetches the bank's answer, which rejects
// the payment to a closed account.
func TestBankCLI(t *testing.T) {
	atRunDay(t)
	pool, dsn := dbtest.MustOpen(t)
	openRights(t, paysql.New(pool), "OFII-2026-000123")
	defaults, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	sim := httptest.NewServer(banksim.New(banksim.Config{Account: defaults.DebtorIBAN, RejectIBANs: map[string]bool{runsIBAN: true},
		Today: func() ledger.Date { return ledger.NewDate(2026, 11, 6) }}))
	t.Cleanup(sim.Close)
	env := map[string]string{"DATABASE_URL": dsn, "AUTH_TOKENS": staffTokens}
	as := func(token string, bankURL string) map[string]string {
		e := map[string]string{"LEDGER_TOKEN": token, "BANK_URL": bankURL}
		for k, v := range env {
			e[k] = v
		}
		return e
	}

	ledgerctlEnv(t, env, "chart").want(t, cli.ExitOK)
	var started struct {
		Batch cliBatch `json:"batch"`
	}
	decodeJSON(t, ledgerctlEnv(t, env, "-o", "json", "runs", "start", "ada", "--period", "2026-10", "--token", marieToken), &started)
	id := started.Batch.ID
	ledgerctlEnv(t, as(marieToken, ""), "batches", "submit", id).want(t, cli.ExitOK)
	ledgerctlEnv(t, as(paulToken, ""), "batches", "approve", id).want(t, cli.ExitOK)
	ledgerctlEnv(t, as(paulToken, ""), "batches", "release", id).want(t, cli.ExitOK)

	// Without BANK_URL, nothing reaches a bank, and the command says so.
	r := ledgerctlEnv(t, as(opsToken, ""), "bank", "send")
	r.want(t, cli.ExitOK, "SENT")
	if !strings.Contains(r.stderr, "BANK_URL is not set") {
		t.Errorf("stderr = %q", r.stderr)
	}

	var act struct {
		Sent, Failed, Reports, Rejected int
	}
	decodeJSON(t, ledgerctlEnv(t, as(opsToken, sim.URL), "-o", "json", "bank", "send"), &act)
	if act.Sent != 1 || act.Failed != 0 {
		t.Fatalf("bank send = %+v, want one file sent", act)
	}
	var files struct {
		Files []cliFile `json:"files"`
	}
	decodeJSON(t, ledgerctlEnv(t, as(auditorTok, ""), "-o", "json", "batches", "files", id), &files)
	if len(files.Files) != 1 || files.Files[0].Status != "sent" {
		t.Fatalf("files after bank send = %+v", files.Files)
	}
	decodeJSON(t, ledgerctlEnv(t, as(opsToken, sim.URL), "-o", "json", "bank", "poll"), &act)
	if act.Reports < 1 || act.Rejected != 1 {
		t.Errorf("bank poll = %+v, want the report rejecting the payment", act)
	}
	ledgerctlEnv(t, as(auditorTok, ""), "exceptions", "list").want(t, cli.ExitOK, "AC04", runsMaskedIBAN)
}
