package httptransport

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/ledger/sqlstore"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/sepa"
	paysql "github.com/ofii/allowances/payments/sqlstore"
	"github.com/ofii/allowances/payments/workflow"
)

// The tokens of the people of the approval tests, besides those of the
// batch tests: a second approver, two people who both prepare and approve,
// and a controller.
const (
	anneToken       = "anne-approver-token-0123456789"
	ritaToken       = "rita-preparer-approver-token-0123456789"
	lucieToken      = "lucie-preparer-approver-token-0123456789"
	controllerToken = "claire-controller-token-0123456789"
)

// The account of the service at the bank in these tests.
var testDebtor = sepa.Party{Name: "OFII", IBAN: "FR8930001000640000000000000", BIC: "BDFEFRPPCCT"}

// newApprovalAPI is newBatchAPI with the approval workflow and the
// beneficiaries' timelines; a batch whose
// gross is above secondAbove (zero: the store's default) needs two
// approvers. Runs and approvals share one clock, from 2026-11-05.
func newApprovalAPI(t *testing.T, secondAbove string) *batchAPI {
	t.Helper()
	ctx := context.Background()
	pool, _ := dbtest.MustOpen(t)
	tokens, err := ParseTokens(strings.Join([]string{
		"ops:admin:" + HashToken(adminToken),
		"court-of-audit:auditor:" + HashToken(auditorToken),
		"marie:preparer:" + HashToken(preparerToken),
		"paul:approver:" + HashToken(approverToken),
		"anne:approver:" + HashToken(anneToken),
		"rita:preparer+approver:" + HashToken(ritaToken),
		"lucie:preparer+approver:" + HashToken(lucieToken),
		"claire:controller:" + HashToken(controllerToken),
	}, ";"))
	if err != nil {
		t.Fatalf("parse tokens: %v", err)
	}
	l := sqlstore.New(pool)
	if err := ledger.SetUpChart(ctx, l); err != nil {
		t.Fatalf("set up chart: %v", err)
	}
	clock := ticking(runDay)
	runs := paysql.NewRunStore(pool, paysql.WithRunClock(clock))
	cfg := paysql.ApprovalConfig{Debtor: testDebtor, Now: clock}
	if secondAbove != "" {
		cfg.SecondApprovalAbove = decimal.RequireFromString(secondAbove)
	}
	approvals, err := paysql.NewApprovalStore(pool, runs, cfg)
	if err != nil {
		t.Fatalf("approval store: %v", err)
	}
	events := paysql.New(pool, paysql.WithClock(func() time.Time { return eventsDay }))
	logs := &syncBuffer{}
	h := NewHandler(l, Options{
		Tokens:       tokens,
		Logger:       slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registry:     prometheus.NewRegistry(),
		MaxBodyBytes: testMaxBody, MaxReportBytes: 2 * testMaxBody,
		Beneficiaries: events,
		Runs:          runs,
		Approvals:     withDelivery(approvals, l, clock),
	})
	srv := newServer(t, h)
	t.Cleanup(srv.Close)
	return &batchAPI{testAPI: &testAPI{srv: srv, pool: pool, logs: logs}, events: events}
}

// The JSON of a batch with its workflow, of a payment file and of a payment
// exception, as the API writes them.
type (
	approvalJSON struct {
		Approver string `json:"approver"`
		Address  string `json:"address"`
		Note     string `json:"note"`
		At       string `json:"at"`
	}
	workflowJSON struct {
		ComputedBy      string         `json:"computed_by"`
		PreparedBy      string         `json:"prepared_by"`
		SubmittedAt     string         `json:"submitted_at"`
		ApprovalsNeeded int            `json:"approvals_needed"`
		Approvals       []approvalJSON `json:"approvals"`
		ReleasedBy      string         `json:"released_by"`
		ExecutionDate   string         `json:"execution_date"`
		Reason          string         `json:"reason"`
	}
	wfBatchJSON struct {
		batchJSON
		Workflow workflowJSON `json:"workflow"`
	}
	fileJSON struct {
		MsgID         string `json:"msg_id"`
		BatchID       string `json:"batch_id"`
		Part          int    `json:"part"`
		Format        string `json:"format"`
		PmtInfID      string `json:"pmt_inf_id"`
		ExecutionDate string `json:"execution_date"`
		Transactions  int    `json:"transactions"`
		Total         string `json:"total"`
		SHA256        string `json:"sha256"`
		Status        string `json:"status"`
	}
	payeeJSON struct {
		Name string `json:"name"`
		IBAN string `json:"iban"`
		BIC  string `json:"bic"`
	}
	exceptionJSON struct {
		ID             string     `json:"id"`
		LineID         string     `json:"line_id"`
		BatchID        string     `json:"batch_id"`
		MsgID          string     `json:"msg_id"`
		BeneficiaryID  string     `json:"beneficiary_id"`
		Amount         string     `json:"amount"`
		ReasonCode     string     `json:"reason_code"`
		Status         string     `json:"status"`
		Payee          payeeJSON  `json:"payee"`
		Corrected      *payeeJSON `json:"corrected"`
		CorrectedBy    string     `json:"corrected_by"`
		ReissueBatchID string     `json:"reissue_batch_id"`
	}
	auditJSON struct {
		ID         string         `json:"id"`
		Actor      string         `json:"actor"`
		Roles      []string       `json:"roles"`
		Address    string         `json:"address"`
		Action     string         `json:"action"`
		ObjectKind string         `json:"object_kind"`
		ObjectID   string         `json:"object_id"`
		From       string         `json:"from"`
		To         string         `json:"to"`
		Reason     string         `json:"reason"`
		Details    map[string]any `json:"details"`
		// BeneficiaryID and FieldsInFull are set on the reads of a file.
		BeneficiaryID string   `json:"beneficiary_id"`
		FieldsInFull  []string `json:"fields_in_full"`
	}
	auditPageJSON struct {
		Events []auditJSON `json:"events"`
		Next   string      `json:"next"`
	}
)

// doXML sends body with a Content-Type.
func (a *batchAPI) doXML(t *testing.T, path, token, contentType string, body []byte) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, a.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := a.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// call sends a request that must answer want, and decodes its JSON into v
// when v is not nil.
func (a *batchAPI) call(t *testing.T, method, path, token, body string, want int, v any) response {
	t.Helper()
	r := a.do(t, method, path, token, body)
	if r.status != want {
		t.Fatalf("%s %s = %d %s, want %d", method, path, r.status, r.body, want)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, r.body)
		}
	}
	return r
}

// draft opens the rights of one household and runs October 2026 with
// token, returning the draft batch's id: 411.80 gross.
func (a *batchAPI) draft(t *testing.T, token string) string {
	t.Helper()
	a.open(t, household{id: "OFII-2026-000123", from: "2026-10-03", adults: 1})
	var run runJSON
	a.call(t, "POST", "/v1/runs", token, `{"kind":"ada","period":"2026-10"}`, http.StatusCreated, &run)
	return run.BatchID
}

func (a *batchAPI) batch(t *testing.T, id string) wfBatchJSON {
	t.Helper()
	var b wfBatchJSON
	a.read(t, auditorToken, "/v1/batches/"+id, &b)
	return b
}

func approvers(b wfBatchJSON) []string {
	var names []string
	for _, ap := range b.Workflow.Approvals {
		names = append(names, ap.Approver)
	}
	return names
}

// statusReport writes the pain.002 a bank answers file f with: the
// payments of rejected refused with their codes, the others accepted.
func statusReport(t *testing.T, msgID string, f fileJSON, lines []string, rejected map[string]string) []byte {
	t.Helper()
	r := sepa.StatusReport{MsgID: msgID, CreatedAt: runDay.Add(48 * time.Hour), OriginalMsgID: f.MsgID, OriginalMsgNm: f.Format,
		GroupStatus: sepa.StatusPART, PaymentInfos: []sepa.PmtInfStatus{{OriginalPmtInfID: f.PmtInfID}}}
	for _, l := range lines {
		tx := sepa.TxStatus{OriginalEndToEndID: l, OriginalPmtInfID: f.PmtInfID, Status: sepa.StatusACSC}
		if code, ok := rejected[l]; ok {
			tx.Status, tx.Reason = sepa.StatusRJCT, code
		}
		r.Transactions = append(r.Transactions, tx)
	}
	var b bytes.Buffer
	if err := sepa.WriteStatusReport(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestApprovalWorkflowOverHTTP takes the batch of docs/rules.md §4 from
// draft to a rejected payment paid again: marie prepares, paul approves and
// releases, the bank rejects the payment, marie corrects the payee and makes
// the reissue batch; the auditor reads the trail.
func TestApprovalWorkflowOverHTTP(t *testing.T) {
	a := newApprovalAPI(t, "")
	id := a.draft(t, preparerToken)
	base := "/v1/batches/" + id

	var b wfBatchJSON
	a.call(t, "POST", base+"/submit", preparerToken, `{"note":"October ADA, checked"}`, http.StatusOK, &b)
	if b.ID != id || b.Status != "pending_approval" || b.Workflow.PreparedBy != "marie" || b.Workflow.ComputedBy != "marie" ||
		b.Workflow.ApprovalsNeeded != 1 || len(b.Workflow.Approvals) != 0 || b.Workflow.SubmittedAt == "" {
		t.Fatalf("submitted batch = %+v", b)
	}
	wantTotals(t, "total", b.Total, 1, "411.80", "0.00", "411.80")

	a.call(t, "POST", base+"/approve", approverToken, `{"note":"seen"}`, http.StatusOK, &b)
	if b.Status != "approved" || !slices.Equal(approvers(b), []string{"paul"}) || b.Workflow.Approvals[0].Note != "seen" ||
		b.Workflow.Approvals[0].Address == "" {
		t.Fatalf("approved batch = %+v", b)
	}
	if got := a.batch(t, id); got.Status != "approved" || !slices.Equal(approvers(got), []string{"paul"}) {
		t.Errorf("GET after approval = %+v", got)
	}

	var files struct {
		Files []fileJSON `json:"files"`
	}
	a.read(t, auditorToken, base+"/files", &files)
	if len(files.Files) != 0 {
		t.Fatalf("files before release = %+v", files.Files)
	}

	// An empty body is {}.
	a.call(t, "POST", base+"/release", approverToken, "", http.StatusOK, &b)
	if b.Status != "released" || b.Workflow.ReleasedBy != "paul" || b.Workflow.ExecutionDate == "" {
		t.Fatalf("released batch = %+v", b)
	}
	a.read(t, auditorToken, base+"/files", &files)
	if len(files.Files) != 1 {
		t.Fatalf("files = %+v, want one", files.Files)
	}
	f := files.Files[0]
	if f.BatchID != id || f.Part != 1 || f.Transactions != 1 || f.Total != "411.80" || f.Status != "queued" || len(f.SHA256) != 64 {
		t.Errorf("file = %+v", f)
	}

	t.Run("FileContent", func(t *testing.T) {
		for _, tok := range []string{approverToken, controllerToken, adminToken} {
			r := a.call(t, "GET", "/v1/files/"+f.MsgID, tok, "", http.StatusOK, nil)
			sum := sha256.Sum256(r.body)
			if got := hex.EncodeToString(sum[:]); r.header.Get("X-Content-Sha256") != got || got != f.SHA256 {
				t.Errorf("X-Content-Sha256 %q, body hashes to %s, file says %s", r.header.Get("X-Content-Sha256"), got, f.SHA256)
			}
			if ct := r.header.Get("Content-Type"); ct != "application/xml" {
				t.Errorf("Content-Type = %q", ct)
			}
			if !bytes.Contains(r.body, []byte(f.MsgID)) || !bytes.Contains(r.body, []byte(testIBAN)) || !bytes.Contains(r.body, []byte("411.80")) {
				t.Errorf("the file lacks its MsgId, the payee's IBAN or the amount:\n%s", r.body)
			}
		}
		// The file holds IBANs: the roles that do not handle it are refused.
		for _, tok := range []string{preparerToken, auditorToken} {
			r := a.call(t, "GET", "/v1/files/"+f.MsgID, tok, "", http.StatusForbidden, nil)
			if e := errorOf(t, r); !strings.HasPrefix(e.Message, "this needs one of the roles approver, controller, admin") {
				t.Errorf("message = %q", e.Message)
			}
		}
		a.call(t, "GET", "/v1/files/OFII-20261106-000000000000-001", approverToken, "", http.StatusNotFound, nil)
	})

	t.Run("FileInfo", func(t *testing.T) {
		// What the listing shows of the file, to its readers as to those
		// who only list files: no IBAN in it.
		for _, tok := range []string{preparerToken, auditorToken, approverToken} {
			var info struct {
				File fileJSON `json:"file"`
			}
			r := a.call(t, "GET", "/v1/files/"+f.MsgID+"/info", tok, "", http.StatusOK, &info)
			if info.File != f || bytes.Contains(r.body, []byte(testIBAN)) {
				t.Errorf("info = %+v, want %+v", info.File, f)
			}
		}
		r := a.call(t, "GET", "/v1/files/"+f.MsgID+"/info", "", "", http.StatusUnauthorized, nil)
		if e := errorOf(t, r); e.Code != "unauthorized" {
			t.Errorf("without a token: %+v", e)
		}
		a.call(t, "GET", "/v1/files/OFII-20261106-000000000000-001/info", auditorToken, "", http.StatusNotFound, nil)
		a.call(t, "GET", "/v1/files/"+url.PathEscape("a{b}")+"/info", auditorToken, "", http.StatusBadRequest, nil)
	})

	// The bank rejects the payment: a closed account.
	var page linesJSON
	a.read(t, preparerToken, base+"/lines", &page)
	line := page.Lines[0].ID
	report := statusReport(t, "BANK-RPT-0001", f, []string{line}, map[string]string{line: "AC04"})
	var res struct {
		MsgID         string `json:"msg_id"`
		OriginalMsgID string `json:"original_msg_id"`
		Replayed      bool   `json:"replayed"`
		Accepted      int    `json:"accepted"`
		Rejected      int    `json:"rejected"`
	}
	r := a.doXML(t, "/v1/status-reports", controllerToken, "application/xml", report)
	if r.status != http.StatusOK {
		t.Fatalf("POST /v1/status-reports = %d %s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &res); err != nil || res.MsgID != "BANK-RPT-0001" || res.OriginalMsgID != f.MsgID ||
		res.Replayed || res.Rejected != 1 || res.Accepted != 0 {
		t.Fatalf("report result = %s (%v)", r.body, err)
	}
	r = a.doXML(t, "/v1/status-reports", adminToken, "application/xml; charset=utf-8", report)
	if err := json.Unmarshal(r.body, &res); err != nil || r.status != http.StatusOK || !res.Replayed || res.Rejected != 0 {
		t.Errorf("the same report again = %d %s, want replayed", r.status, r.body)
	}
	if r := a.doXML(t, "/v1/status-reports", approverToken, "application/xml", report); r.status != http.StatusForbidden {
		t.Errorf("an approver applies a report: %d %s, want 403", r.status, r.body)
	}

	var exc struct {
		Exceptions []exceptionJSON `json:"exceptions"`
		Next       string          `json:"next"`
	}
	t.Run("Exceptions", func(t *testing.T) {
		tests := []struct {
			name, token, query string
			want               int
			iban               string
		}{
			{"AuditorSeesMasked", auditorToken, "", 1, maskedIBAN},
			{"AdminSeesMasked", adminToken, "?status=open", 1, maskedIBAN},
			{"PreparerSeesWhole", preparerToken, "?batch_id=" + id, 1, testIBAN},
			{"ApproverSeesWhole", approverToken, "?status=open&limit=1", 1, testIBAN},
			{"OtherStatus", controllerToken, "?status=closed", 0, ""},
			{"OtherBatch", controllerToken, "?batch_id=0b0e7b39-4e0a-4a3f-9d3c-1d2a5e8f7a61", 0, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				a.read(t, tt.token, "/v1/payment-exceptions"+tt.query, &exc)
				if len(exc.Exceptions) != tt.want {
					t.Fatalf("%d exceptions, want %d: %+v", len(exc.Exceptions), tt.want, exc.Exceptions)
				}
				if tt.want == 0 {
					return
				}
				x := exc.Exceptions[0]
				if x.LineID != line || x.BatchID != id || x.MsgID != f.MsgID || x.BeneficiaryID != "OFII-2026-000123" || x.Amount != "411.80" ||
					x.ReasonCode != "AC04" || x.Status != "open" || x.Payee.Name != "Amina Diallo" || x.Payee.IBAN != tt.iban {
					t.Errorf("exception = %+v", x)
				}
				if full := strings.Contains(tt.query, "limit=1"); full != (exc.Next == x.ID) {
					t.Errorf("next = %q on a page of limit %q", exc.Next, tt.query)
				}
			})
		}
	})
	a.read(t, preparerToken, "/v1/payment-exceptions", &exc)
	xid := exc.Exceptions[0].ID

	const newIBAN = "FR7610107001011234567890129"
	t.Run("CorrectAndReissue", func(t *testing.T) {
		var x exceptionJSON
		a.call(t, "POST", "/v1/payment-exceptions/"+xid+"/payee", approverToken,
			`{"name":"Amina Diallo","iban":"`+newIBAN+`","reason":"new account"}`, http.StatusForbidden, nil)
		a.call(t, "POST", "/v1/payment-exceptions/"+xid+"/payee", preparerToken,
			`{"name":"Amina Diallo","iban":"FR76 1010 7001 0112 3456 7890 129","reason":"new account, letter of 2026-11-20"}`, http.StatusOK, &x)
		if x.ID != xid || x.Status != "corrected" || x.Corrected == nil || x.Corrected.IBAN != newIBAN || x.CorrectedBy != "marie" {
			t.Fatalf("corrected exception = %+v", x)
		}
		var nb wfBatchJSON
		r := a.call(t, "POST", "/v1/payment-exceptions/reissue", preparerToken, `{"note":"AC04 of October"}`, http.StatusCreated, &nb)
		if nb.ID == "" || nb.ID == id || nb.Kind != "reissue" || nb.Status != "draft" || nb.Lines != 1 {
			t.Fatalf("reissue batch = %+v", nb)
		}
		if loc := r.header.Get("Location"); loc != "/v1/batches/"+nb.ID {
			t.Errorf("Location = %q", loc)
		}
		wantTotals(t, "reissue total", nb.Total, 1, "411.80", "0.00", "411.80")
		a.read(t, auditorToken, "/v1/payment-exceptions?status=reissued", &exc)
		if len(exc.Exceptions) != 1 || exc.Exceptions[0].ReissueBatchID != nb.ID || exc.Exceptions[0].Corrected == nil ||
			exc.Exceptions[0].Corrected.IBAN != maskedOf(newIBAN) {
			t.Errorf("reissued exceptions = %+v", exc.Exceptions)
		}
		// Nothing left to pay again.
		a.call(t, "POST", "/v1/payment-exceptions/reissue", preparerToken, "", http.StatusConflict, nil)
		// A reissued exception cannot be closed.
		a.call(t, "POST", "/v1/payment-exceptions/"+xid+"/close", approverToken, `{"reason":"paid"}`, http.StatusConflict, nil)
	})

	// Who read the payee's IBAN: the file's readers, and whoever listed or
	// changed the exception, in full or masked.
	t.Run("Reads", func(t *testing.T) {
		const amina = "OFII-2026-000123"
		evs := a.reads(t, "kind=payment_file&object_id="+f.MsgID)
		if len(evs) != 3 {
			t.Fatalf("reads of the file = %+v, want one per reader", evs)
		}
		for i, who := range [][2]string{{"paul", "approver"}, {"claire", "controller"}, {"ops", "admin"}} {
			wantRead(t, evs[i], who[0], who[1], payments.ReadFile, f.MsgID, amina, "iban")
		}
		for _, tt := range []struct {
			actor, role string
			reads       int
			fields      []string
		}{
			{"court-of-audit", "auditor", 2, nil},
			{"ops", "admin", 1, nil},
			{"marie", "preparer", 3, []string{"iban"}}, // two lists and the corrected exception
			{"paul", "approver", 1, []string{"iban"}},
			{"claire", "controller", 0, nil}, // her lists were empty
		} {
			evs := a.reads(t, "kind=payment_exception&actor="+tt.actor)
			if len(evs) != tt.reads {
				t.Errorf("%s's reads of exceptions = %+v, want %d", tt.actor, evs, tt.reads)
			}
			for _, e := range evs {
				wantRead(t, e, tt.actor, tt.role, payments.ReadException, xid, amina, tt.fields...)
			}
		}
		var p auditPageJSON
		a.read(t, auditorToken, "/v1/audit?beneficiary="+amina, &p)
		if len(p.Events) != 3+7+1 { // the file, the exception, the lines marie read
			t.Errorf("%d events of %s's file, want 11: %+v", len(p.Events), amina, p.Events)
		}

		// What was paid to amina is read from her own accounts: the reads
		// are recorded; those of the service's accounts are not.
		a.call(t, "GET", "/v1/accounts/payable:"+amina+"/statement?from=2026-11-01", controllerToken, "", http.StatusOK, nil)
		a.call(t, "GET", "/v1/accounts/receivable:overpayment:"+amina+"/balance", auditorToken, "", http.StatusNotFound, nil)
		a.call(t, "GET", "/v1/accounts/bank:main/balance", auditorToken, "", http.StatusOK, nil)
		a.call(t, "GET", "/v1/accounts/payments-in-transit/statement", auditorToken, "", http.StatusOK, nil)
		evs = a.reads(t, "beneficiary="+amina+"&kind=account_statement")
		if len(evs) != 1 {
			t.Fatalf("reads of %s's statement = %+v, want one", amina, evs)
		}
		wantRead(t, evs[0], "claire", "controller", payments.ReadStatement, "payable:"+amina, amina)
		if evs[0].Details["from"] != "2026-11-01" {
			t.Errorf("details = %v", evs[0].Details)
		}
		if evs := a.reads(t, "kind=account_balance"); len(evs) != 0 {
			t.Errorf("reads of balances = %+v, want none: the only one of a beneficiary's account found nothing", evs)
		}
	})

	t.Run("Bank", func(t *testing.T) {
		var act map[string]int
		a.call(t, "POST", "/v1/bank/send", adminToken, "", http.StatusOK, &act)
		if _, ok := act["sent"]; !ok {
			t.Errorf("bank activity = %v", act)
		}
		a.call(t, "POST", "/v1/bank/poll", adminToken, "{}", http.StatusOK, &act)
		a.call(t, "POST", "/v1/bank/send", approverToken, "", http.StatusForbidden, nil)
	})

	t.Run("Audit", func(t *testing.T) {
		var p auditPageJSON
		a.read(t, auditorToken, "/v1/audit?object_id="+id+"&kind=batch", &p)
		// The people's moves, in order, among those the service made by
		// itself (the end of the approval, of the release...); the reads
		// of the batch's lines are of another kind.
		var actions []string
		for _, e := range p.Events {
			if e.ObjectKind != "batch" || e.ObjectID != id {
				t.Errorf("event of another object: %+v", e)
			}
			if e.Actor == "system" {
				continue
			}
			actions = append(actions, e.Action+":"+e.Actor)
			if e.Action == "approve" && (e.From != "pending_approval" || e.To != "approving" || e.Reason != "seen" || e.Address == "" ||
				!slices.Equal(e.Roles, []string{"approver"})) {
				t.Errorf("approval event = %+v", e)
			}
		}
		if want := []string{"submit:marie", "approve:paul", "release:paul"}; !slices.Equal(actions, want) {
			t.Errorf("events of the batch = %v, want %v", actions, want)
		}
		a.read(t, adminToken, "/v1/audit?actor=marie&action=submit&since="+url.QueryEscape(runDay.Format(time.RFC3339)), &p)
		if len(p.Events) != 1 || p.Events[0].ObjectID != id {
			t.Errorf("marie's submissions = %+v", p.Events)
		}
		a.read(t, adminToken, "/v1/audit?since=2027-01-01", &p)
		if len(p.Events) != 0 {
			t.Errorf("events since 2027 = %+v", p.Events)
		}
		// The trail is read a page at a time, in order, every event once.
		var all []auditJSON
		a.read(t, auditorToken, "/v1/audit", &p)
		all = p.Events
		var paged []auditJSON
		after := ""
		for range 20 {
			path := "/v1/audit?limit=2"
			if after != "" {
				path += "&after=" + url.QueryEscape(after)
			}
			p = auditPageJSON{}
			a.read(t, auditorToken, path, &p)
			paged = append(paged, p.Events...)
			if p.Next == "" {
				break
			}
			after = p.Next
		}
		if len(all) < 6 || len(paged) != len(all) {
			t.Fatalf("%d events by pages of 2, %d at once (want at least 6)", len(paged), len(all))
		}
		for i := range all {
			if all[i].Action != paged[i].Action || all[i].ObjectID != paged[i].ObjectID {
				t.Errorf("event %d: %+v by pages, %+v at once", i, paged[i], all[i])
			}
		}
		// The trail holds IBANs masked, whatever it recorded.
		body := a.call(t, "GET", "/v1/audit", auditorToken, "", http.StatusOK, nil).body
		if bytes.Contains(body, []byte(newIBAN)) || bytes.Contains(body, []byte(testIBAN)) {
			t.Errorf("the audit trail shows an IBAN in full:\n%s", body)
		}
		for _, tok := range []string{preparerToken, approverToken, controllerToken} {
			a.call(t, "GET", "/v1/audit", tok, "", http.StatusForbidden, nil)
		}
	})
}

// maskedOf is how the roles that do not pay see an IBAN.
func maskedOf(iban string) string { return iban[:4] + " **** **** " + iban[len(iban)-4:] }

// TestTwoApprovals: above the threshold, a batch needs two approvers; the
// first approval leaves it pending, and its page says so.
func TestTwoApprovals(t *testing.T) {
	a := newApprovalAPI(t, "100.00")
	id := a.draft(t, preparerToken)
	base := "/v1/batches/" + id

	var b wfBatchJSON
	a.call(t, "POST", base+"/submit", preparerToken, "", http.StatusOK, &b)
	if b.Status != "pending_approval" || b.Workflow.ApprovalsNeeded != 2 {
		t.Fatalf("submitted batch = %+v, want 2 approvals needed", b)
	}
	a.call(t, "POST", base+"/approve", approverToken, "", http.StatusOK, &b)
	if b.Status != "pending_approval" || b.Workflow.ApprovalsNeeded != 2 || !slices.Equal(approvers(b), []string{"paul"}) {
		t.Fatalf("after one approval = %+v", b)
	}
	got := a.batch(t, id)
	if got.Status != "pending_approval" || got.Workflow.ApprovalsNeeded != 2 || !slices.Equal(approvers(got), []string{"paul"}) {
		t.Errorf("page after one approval = %+v, want approvals_needed 2 and paul's approval", got)
	}
	a.call(t, "POST", base+"/approve", anneToken, `{"note":"second"}`, http.StatusOK, &b)
	if b.Status != "approved" || !slices.Equal(approvers(b), []string{"paul", "anne"}) {
		t.Fatalf("after two approvals = %+v", b)
	}
}

// TestFourEyes: rita (preparer and approver) started the run, lucie
// (preparer and approver) submitted it, paul approved once of the two
// approvals needed. Every refusal leaves the batch as it was.
func TestFourEyes(t *testing.T) {
	a := newApprovalAPI(t, "100.00")
	id := a.draft(t, ritaToken)
	base := "/v1/batches/" + id
	a.call(t, "POST", base+"/submit", lucieToken, "", http.StatusOK, nil)
	a.call(t, "POST", base+"/approve", approverToken, "", http.StatusOK, nil)

	tests := []struct {
		name, path, token, body string
		wantStatus              int
		wantMsg                 string // the start of the message
	}{
		{"PreparerApprovesOwnBatch", "/approve", lucieToken, "", 403, "lucie prepared batch " + id + ": another person must approve it"},
		{"RunStarterApproves", "/approve", ritaToken, "", 403, "rita computed batch " + id + " (started its run): another person must approve it"},
		{"ApproverApprovesTwice", "/approve", approverToken, `{"note":"again"}`, 409, "paul has already approved batch " + id},
		{"AuditorApproves", "/approve", auditorToken, "", 403, "this needs the role approver; court-of-audit has auditor"},
		{"AdminApproves", "/approve", adminToken, "", 403, "this needs the role approver; ops has admin"},
		{"PreparerApproves", "/approve", preparerToken, "", 403, "this needs the role approver; marie has preparer"},
		{"ReleaseBeforeApproval", "/release", anneToken, "", 409, "batch " + id + " is pending_approval: only an approved batch can be released"},
		{"PreparerReleases", "/release", preparerToken, "", 403, "this needs the role approver"},
		{"SubmitAgain", "/submit", preparerToken, "", 409, "batch " + id + " is pending_approval: only a draft can be submitted"},
		{"AuditorCancels", "/cancel", auditorToken, `{"reason":"x"}`, 403, "this needs one of the roles preparer, approver, admin"},
		{"PreparerRejects", "/reject", preparerToken, `{"reason":"x"}`, 403, "this needs the role approver"},
		{"NoToken", "/approve", "", "", 401, "a bearer token is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.do(t, http.MethodPost, base+tt.path, tt.token, tt.body)
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d %s, want %d", r.status, r.body, tt.wantStatus)
			}
			if e := errorOf(t, r); !strings.HasPrefix(e.Message, tt.wantMsg) {
				t.Errorf("message = %q, want it to start with %q", e.Message, tt.wantMsg)
			}
			b := a.batch(t, id)
			if b.Status != "pending_approval" || b.Workflow.ApprovalsNeeded != 2 || !slices.Equal(approvers(b), []string{"paul"}) ||
				b.Workflow.PreparedBy != "lucie" || b.Workflow.ComputedBy != "rita" {
				t.Errorf("batch after the refusal = %+v, want pending, paul's approval alone", b)
			}
		})
	}

	var p auditPageJSON
	a.read(t, auditorToken, "/v1/audit?object_id="+id, &p)
	if len(p.Events) != 2 {
		t.Errorf("the refusals reached the audit trail: %+v", p.Events)
	}

	// The second approver completes it; the preparer may still not.
	var b wfBatchJSON
	a.call(t, "POST", base+"/approve", anneToken, "", http.StatusOK, &b)
	if b.Status != "approved" || !slices.Equal(approvers(b), []string{"paul", "anne"}) {
		t.Fatalf("approved batch = %+v", b)
	}
	a.call(t, "POST", base+"/reject", approverToken, `{"reason":"too late"}`, http.StatusConflict, nil)
}

// TestRejectAndCancel: a rejection sends a batch back to draft with its
// reason; a cancellation ends it.
func TestRejectAndCancel(t *testing.T) {
	a := newApprovalAPI(t, "")
	id := a.draft(t, preparerToken)
	base := "/v1/batches/" + id
	var b wfBatchJSON
	a.call(t, "POST", base+"/submit", preparerToken, "", http.StatusOK, nil)
	a.call(t, "POST", base+"/reject", approverToken, `{"reason":"wrong period"}`, http.StatusOK, &b)
	if b.Status != "draft" || b.Workflow.Reason != "wrong period" || len(b.Workflow.Approvals) != 0 {
		t.Fatalf("rejected batch = %+v", b)
	}
	a.call(t, "POST", base+"/cancel", preparerToken, `{"reason":"replaced by a manual payment"}`, http.StatusOK, &b)
	if b.Status != "cancelled" || b.Workflow.Reason != "replaced by a manual payment" {
		t.Fatalf("cancelled batch = %+v", b)
	}
	a.call(t, "POST", base+"/submit", preparerToken, "", http.StatusConflict, nil)
}

// TestCancelAReleasingBatch: a release cut off leaves its batch releasing;
// a cancellation withdraws the file the bank never got and cancels it.
func TestCancelAReleasingBatch(t *testing.T) {
	a := newApprovalAPI(t, "")
	id := a.draft(t, preparerToken)
	base := "/v1/batches/" + id
	a.call(t, "POST", base+"/submit", preparerToken, "", http.StatusOK, nil)
	a.call(t, "POST", base+"/approve", approverToken, "", http.StatusOK, nil)
	for _, sql := range []string{`CREATE FUNCTION cut_off() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'cut off'; END $$`,
		`CREATE TRIGGER cut_off BEFORE UPDATE ON payment_files FOR EACH ROW WHEN (NEW.status = 'queued') EXECUTE FUNCTION cut_off()`} {
		if _, err := a.pool.Exec(context.Background(), sql); err != nil {
			t.Fatal(err)
		}
	}
	a.call(t, "POST", base+"/release", approverToken, "", http.StatusInternalServerError, nil)
	if b := a.batch(t, id); b.Status != "releasing" {
		t.Fatalf("after the release cut off: %s", b.Status)
	}
	var b wfBatchJSON
	a.call(t, "POST", base+"/cancel", preparerToken, `{"reason":"payee list to be checked"}`, http.StatusOK, &b)
	if b.Status != "cancelled" || b.Workflow.Reason != "payee list to be checked" {
		t.Fatalf("cancelled batch = %+v", b)
	}
	var files struct {
		Files []fileJSON `json:"files"`
	}
	a.read(t, auditorToken, base+"/files", &files)
	if len(files.Files) != 1 || files.Files[0].Status != "withdrawn" {
		t.Errorf("files = %+v, want the one written withdrawn", files.Files)
	}
	a.call(t, "POST", base+"/release", approverToken, "", http.StatusConflict, nil)
}

func TestApprovalsBadRequests(t *testing.T) {
	a := newApprovalAPI(t, "")
	id := a.draft(t, preparerToken)
	base := "/v1/batches/" + id
	unknown := "0b0e7b39-4e0a-4a3f-9d3c-1d2a5e8f7a61"
	tests := []struct {
		name       string
		method     string
		path       string
		token      string
		body       string
		wantStatus int
		wantField  string
		wantMsg    string // the start of the message
	}{
		{"UnknownField", "POST", base + "/submit", preparerToken, `{"notes":"x"}`, 400, "notes", "notes: unknown field"},
		{"NoteNotText", "POST", base + "/submit", preparerToken, `{"note":12}`, 400, "note", "note: must be a string"},
		{"TrailingData", "POST", base + "/submit", preparerToken, `{"note":"x"} {}`, 400, "body", "body: unexpected data after the JSON value"},
		{"NotJSON", "POST", base + "/submit", preparerToken, `note=x`, 400, "body", "body: invalid JSON"},
		{"QueryParameter", "POST", base + "/submit?force=1", preparerToken, ``, 400, "force", "force: unknown query parameter"},
		{"NoteTooLong", "POST", base + "/submit", preparerToken, `{"note":"` + strings.Repeat("x", 501) + `"}`, 400, "note", "note: must have at most 500"},
		{"MalformedID", "POST", "/v1/batches/nope/submit", preparerToken, ``, 400, "id", `id: "nope" is not a batch id (a UUID)`},
		{"UnknownBatch", "POST", "/v1/batches/" + unknown + "/submit", preparerToken, ``, 404, "", ""},
		{"RejectWithoutReason", "POST", base + "/reject", approverToken, `{}`, 400, "reason", "reason: is required"},
		{"RejectBlankReason", "POST", base + "/reject", approverToken, `{"reason":"  "}`, 400, "reason", "reason: is required"},
		{"CancelNoBody", "POST", base + "/cancel", preparerToken, ``, 400, "reason", "reason: is required"},
		{"ReleaseWithBody", "POST", base + "/release", approverToken, `{"force":true}`, 400, "force", "force: unknown field"},
		{"ReleaseDraft", "POST", base + "/release", approverToken, ``, 409, "", "batch " + id + " is draft: only an approved batch"},
		{"FilesMalformedID", "GET", "/v1/batches/42/files", auditorToken, ``, 400, "id", `id: "42" is not a batch id`},
		{"FileBadMsgID", "GET", "/v1/files/" + url.PathEscape("a{b}"), approverToken, ``, 400, "msg_id", "msg_id: has the character '{'"},
		{"FileMsgIDTooLong", "GET", "/v1/files/" + strings.Repeat("A", 36), approverToken, ``, 400, "msg_id", "msg_id: has 36 characters"},
		{"ExceptionsLimit", "GET", "/v1/payment-exceptions?limit=0", auditorToken, ``, 400, "limit", "limit: must be between 1 and 1000"},
		{"ExceptionsStatus", "GET", "/v1/payment-exceptions?status=pending", auditorToken, ``, 400, "status", `status: "pending" is not a status`},
		{"ExceptionsBatch", "GET", "/v1/payment-exceptions?batch_id=42", auditorToken, ``, 400, "batch_id", `batch_id: "42" is not a batch id`},
		{"ExceptionsAfter", "GET", "/v1/payment-exceptions?after=x", auditorToken, ``, 400, "after", `after: "x" is not a payment exception id`},
		{"ExceptionsParameter", "GET", "/v1/payment-exceptions?batch=" + id, auditorToken, ``, 400, "batch", "batch: unknown query parameter"},
		{"PayeeBadIBAN", "POST", "/v1/payment-exceptions/" + unknown + "/payee", preparerToken,
			`{"name":"A","iban":"FR7630006000011234567890188","reason":"r"}`, 400, "iban", "iban: check digits do not match"},
		{"PayeeNoName", "POST", "/v1/payment-exceptions/" + unknown + "/payee", preparerToken,
			`{"iban":"` + testIBAN + `","reason":"r"}`, 400, "name", "name: is required"},
		{"PayeeNoReason", "POST", "/v1/payment-exceptions/" + unknown + "/payee", preparerToken,
			`{"name":"A","iban":"` + testIBAN + `"}`, 400, "reason", "reason: is required"},
		{"PayeeUnknownField", "POST", "/v1/payment-exceptions/" + unknown + "/payee", preparerToken,
			`{"name":"A","iban":"` + testIBAN + `","reason":"r","amount":"10"}`, 400, "amount", "amount: unknown field"},
		{"PayeeMalformedID", "POST", "/v1/payment-exceptions/x/payee", preparerToken, `{}`, 400, "id", `id: "x" is not a payment exception id`},
		{"PayeeUnknownException", "POST", "/v1/payment-exceptions/" + unknown + "/payee", preparerToken,
			`{"name":"A","iban":"` + testIBAN + `","reason":"r"}`, 404, "", ""},
		{"CloseNoReason", "POST", "/v1/payment-exceptions/" + unknown + "/close", approverToken, `{"reason":""}`, 400, "reason", "reason: is required"},
		{"ReissueUnknownField", "POST", "/v1/payment-exceptions/reissue", preparerToken, `{"batch":"x"}`, 400, "batch", "batch: unknown field"},
		{"AuditSince", "GET", "/v1/audit?since=yesterday", auditorToken, ``, 400, "since", `since: "yesterday" is not a time`},
		{"AuditLimit", "GET", "/v1/audit?limit=5000", auditorToken, ``, 400, "limit", "limit: must be between 1 and 1000"},
		{"AuditAfter", "GET", "/v1/audit?after=garbage", auditorToken, ``, 400, "after", "after: is not a cursor"},
		{"AuditParameter", "GET", "/v1/audit?object=" + id, auditorToken, ``, 400, "object", "object: unknown query parameter"},
		{"BankBody", "POST", "/v1/bank/send", adminToken, `{"all":true}`, 400, "all", "all: unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := a.do(t, tt.method, tt.path, tt.token, tt.body)
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d %s, want %d", r.status, r.body, tt.wantStatus)
			}
			e := errorOf(t, r)
			if e.Field != tt.wantField {
				t.Errorf("field = %q, want %q (%s)", e.Field, tt.wantField, e.Message)
			}
			if !strings.HasPrefix(e.Message, tt.wantMsg) {
				t.Errorf("message = %q, want it to start with %q", e.Message, tt.wantMsg)
			}
		})
	}

	reports := []struct {
		name, contentType, body string
		wantStatus              int
		wantField, wantMsg      string
	}{
		{"NotXML", "application/json", `{}`, 415, "Content-Type", `Content-Type: "application/json" is not application/xml`},
		{"NoContentType", "", `<Document/>`, 415, "Content-Type", `Content-Type: "" is not application/xml`},
		{"Empty", "application/xml", ``, 400, "body", "body: empty; a pain.002 status report is expected"},
		{"Garbage", "application/xml", `<Document><nope/>`, 400, "report", "report: "},
		{"TooLarge", "application/xml", `<Document>` + strings.Repeat("x", 2*testMaxBody) + `</Document>`, 413, "body", "body: larger than the limit"},
	}
	for _, tt := range reports {
		t.Run("Report"+tt.name, func(t *testing.T) {
			r := a.doXML(t, "/v1/status-reports", controllerToken, tt.contentType, []byte(tt.body))
			if r.status != tt.wantStatus {
				t.Fatalf("status = %d %s, want %d", r.status, r.body, tt.wantStatus)
			}
			e := errorOf(t, r)
			if e.Field != tt.wantField || !strings.HasPrefix(e.Message, tt.wantMsg) {
				t.Errorf("error = %+v, want field %q and a message starting %q", e, tt.wantField, tt.wantMsg)
			}
		})
	}

	// Nothing was applied.
	if b := a.batch(t, id); b.Status != "draft" || b.Workflow.PreparedBy != "" || len(b.Workflow.Approvals) != 0 {
		t.Errorf("batch after the refused requests = %+v", b)
	}
	var p auditPageJSON
	a.read(t, auditorToken, "/v1/audit", &p)
	if len(p.Events) != 0 {
		t.Errorf("refused requests reached the audit trail: %+v", p.Events)
	}
}

// withDelivery is the workflow of store, posting to l, with a delivery to
// no bank: the released files stay queued.
func withDelivery(store *paysql.ApprovalStore, l workflow.Ledger, clock func() time.Time) payments.Approvals {
	return workflow.New(store, l, workflow.DeliveryConfig{Now: clock, Logger: slog.New(slog.DiscardHandler)})
}
