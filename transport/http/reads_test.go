package httptransport

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/ofii/allowances/payments"
)

// reads returns the audit trail's events path selects, read by the
// auditor, every one of them a read.
func (a *batchAPI) reads(t *testing.T, query string) []auditJSON {
	t.Helper()
	var p auditPageJSON
	a.read(t, auditorToken, "/v1/audit?action=read&"+query, &p)
	return p.Events
}

// wantRead checks one read row: who, of which kind and object, whose file
// and which fields in full.
func wantRead(t *testing.T, e auditJSON, actor, role, kind, object, beneficiary string, fields ...string) {
	t.Helper()
	if fields == nil {
		fields = []string{}
	}
	if e.Action != "read" || e.Actor != actor || !slices.Equal(e.Roles, []string{role}) || e.Address == "" ||
		e.ObjectKind != kind || e.ObjectID != object || e.BeneficiaryID != beneficiary ||
		e.FieldsInFull == nil || !slices.Equal(e.FieldsInFull, fields) {
		t.Errorf("read = %+v, want %s (%s) reading %s %s of %q with %v in full", e, actor, role, kind, object, beneficiary, fields)
	}
}

// readRows counts the read rows of the audit trail in the database.
func (a *batchAPI) readRows(t *testing.T) int {
	t.Helper()
	var n int
	if err := a.pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_events WHERE action = 'read'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestWhoReadWhat: every read of a beneficiary's file leaves one row per
// beneficiary shown, naming the reader and the fields shown in full, and
// the auditor finds them by beneficiary.
func TestWhoReadWhat(t *testing.T) {
	a := newApprovalAPI(t, "")
	const amina, karim = "OFII-2026-000123", "OFII-2026-000456"
	a.open(t, household{id: amina, from: "2026-10-03", adults: 1}, household{id: karim, from: "2026-10-10", adults: 2})

	t.Run("TimelineInFull", func(t *testing.T) {
		body := a.call(t, "GET", "/v1/beneficiaries/"+amina, preparerToken, "", http.StatusOK, nil).body
		if !bytes.Contains(body, []byte(testIBAN)) {
			t.Fatalf("a preparer reads the timeline without the IBAN in full:\n%s", body)
		}
		evs := a.reads(t, "beneficiary="+amina)
		if len(evs) != 1 {
			t.Fatalf("reads of %s = %+v, want one", amina, evs)
		}
		wantRead(t, evs[0], "marie", "preparer", payments.ReadTimeline, amina, amina, "iban")
		if evs := a.reads(t, "beneficiary="+karim); len(evs) != 0 {
			t.Errorf("reads of %s, whom nobody read = %+v", karim, evs)
		}
	})

	t.Run("TimelineMasked", func(t *testing.T) {
		body := a.call(t, "GET", "/v1/beneficiaries/"+amina, controllerToken, "", http.StatusOK, nil).body
		if bytes.Contains(body, []byte(testIBAN)) || !bytes.Contains(body, []byte(maskedIBAN)) {
			t.Fatalf("a controller reads the timeline with the IBAN in full:\n%s", body)
		}
		evs := a.reads(t, "beneficiary="+amina+"&actor=claire")
		if len(evs) != 1 {
			t.Fatalf("claire's reads = %+v, want one", evs)
		}
		wantRead(t, evs[0], "claire", "controller", payments.ReadTimeline, amina, amina)
		// A read row says it showed nothing in full: the list is there,
		// empty.
		raw := a.call(t, "GET", "/v1/audit?beneficiary="+amina+"&actor=claire", auditorToken, "", http.StatusOK, nil).body
		if !bytes.Contains(raw, []byte(`"fields_in_full":[]`)) {
			t.Errorf("the masked read does not say it showed nothing in full:\n%s", raw)
		}
	})

	t.Run("Days", func(t *testing.T) {
		a.call(t, "GET", "/v1/beneficiaries/"+karim+"/days?from=2026-10-01&to=2026-10-31", auditorToken, "", http.StatusOK, nil)
		evs := a.reads(t, "beneficiary="+karim)
		if len(evs) != 1 {
			t.Fatalf("reads of %s = %+v, want one", karim, evs)
		}
		wantRead(t, evs[0], "court-of-audit", "auditor", payments.ReadDays, karim, karim)
		if evs[0].Details["from"] != "2026-10-01" || evs[0].Details["to"] != "2026-10-31" {
			t.Errorf("details of the read = %v, want the days asked for", evs[0].Details)
		}
	})

	t.Run("NothingShownNothingRecorded", func(t *testing.T) {
		before := a.readRows(t)
		a.call(t, "GET", "/v1/beneficiaries/OFII-2099-000001", preparerToken, "", http.StatusNotFound, nil)
		a.call(t, "GET", "/v1/beneficiaries/"+amina+"/days?from=2026-10-31&to=2026-10-01", preparerToken, "", http.StatusBadRequest, nil)
		a.call(t, "GET", "/v1/audit?beneficiary="+amina, auditorToken, "", http.StatusOK, nil)
		if n := a.readRows(t); n != before {
			t.Errorf("%d read rows after reads that showed nothing, want %d", n, before)
		}
	})

	var run runJSON
	a.call(t, "POST", "/v1/runs", preparerToken, `{"kind":"ada","period":"2026-10"}`, http.StatusCreated, &run)
	lines := "/v1/batches/" + run.BatchID + "/lines"

	t.Run("BatchLinesInFull", func(t *testing.T) {
		var page linesJSON
		a.read(t, approverToken, lines, &page)
		if len(page.Lines) != 2 || page.Lines[0].Payee.IBAN != testIBAN {
			t.Fatalf("lines = %+v, want two with the IBAN in full", page.Lines)
		}
		evs := a.reads(t, "kind=batch_lines&actor=paul")
		if len(evs) != 2 {
			t.Fatalf("paul's reads of the lines = %+v, want one per beneficiary", evs)
		}
		var whose []string
		for _, e := range evs {
			whose = append(whose, e.BeneficiaryID)
			wantRead(t, e, "paul", "approver", payments.ReadBatchLines, run.BatchID, e.BeneficiaryID, "iban")
			if e.Details["lines"] != float64(1) {
				t.Errorf("details = %v, want one line", e.Details)
			}
		}
		slices.Sort(whose)
		if !slices.Equal(whose, []string{amina, karim}) {
			t.Errorf("beneficiaries recorded = %v, want both", whose)
		}
		// Each is found by beneficiary.
		for _, b := range []string{amina, karim} {
			evs := a.reads(t, "beneficiary="+b+"&kind=batch_lines")
			if len(evs) != 1 || evs[0].Actor != "paul" {
				t.Errorf("reads of the lines of %s = %+v", b, evs)
			}
		}
	})

	t.Run("BatchLinesMaskedPage", func(t *testing.T) {
		var page linesJSON
		a.read(t, adminToken, lines+"?limit=1", &page)
		if len(page.Lines) != 1 || page.Lines[0].Payee.IBAN != maskedIBAN {
			t.Fatalf("lines = %+v, want one masked", page.Lines)
		}
		evs := a.reads(t, "kind=batch_lines&actor=ops")
		if len(evs) != 1 {
			t.Fatalf("ops' reads = %+v, want the one beneficiary of the page", evs)
		}
		wantRead(t, evs[0], "ops", "admin", payments.ReadBatchLines, run.BatchID, page.Lines[0].BeneficiaryID)
	})

	t.Run("AuditFilters", func(t *testing.T) {
		var p auditPageJSON
		a.read(t, auditorToken, "/v1/audit?beneficiary="+amina, &p)
		var kinds []string
		for _, e := range p.Events {
			if e.BeneficiaryID != amina {
				t.Errorf("event of another beneficiary: %+v", e)
			}
			kinds = append(kinds, e.ObjectKind+":"+e.Actor)
		}
		// ops' page of one line was amina's or karim's.
		if len(kinds) < 3 || !slices.Equal(kinds[:3], []string{"timeline:marie", "timeline:claire", "batch_lines:paul"}) {
			t.Errorf("the file of %s was read by %v", amina, kinds)
		}
		a.read(t, auditorToken, "/v1/audit?kind=days", &p)
		if len(p.Events) != 1 || p.Events[0].BeneficiaryID != karim {
			t.Errorf("reads of days = %+v", p.Events)
		}
		a.read(t, auditorToken, "/v1/audit?beneficiary=OFII-2099-000001", &p)
		if len(p.Events) != 0 {
			t.Errorf("reads of a beneficiary nobody read = %+v", p.Events)
		}
	})
}

// TestReadFailsWithoutTheAuditTrail: a read that cannot be recorded shows
// nothing, and says so with 503.
func TestReadFailsWithoutTheAuditTrail(t *testing.T) {
	a := newApprovalAPI(t, "")
	id := a.draft(t, preparerToken)
	ctx := context.Background()
	if _, err := a.pool.Exec(ctx, `ALTER TABLE audit_events RENAME TO audit_events_away`); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/beneficiaries/OFII-2026-000123", "/v1/beneficiaries/OFII-2026-000123/days?from=2026-10-01&to=2026-10-02",
		"/v1/batches/" + id + "/lines", "/v1/dead-letters?beneficiary=OFII-2026-000123"} {
		r := a.do(t, "GET", path, preparerToken, "")
		if strings.HasSuffix(path, "dead-letters?beneficiary=OFII-2026-000123") {
			// No dead letter: nothing to show, nothing to record.
			if r.status != http.StatusOK {
				t.Errorf("GET %s = %d %s, want 200", path, r.status, r.body)
			}
			continue
		}
		if r.status != http.StatusServiceUnavailable || bytes.Contains(r.body, []byte(testIBAN)) || bytes.Contains(r.body, []byte("FR76")) {
			t.Errorf("GET %s without the audit trail = %d %s, want 503 and nothing of the file", path, r.status, r.body)
		}
		if e := errorOf(t, r); e.Code != "unavailable" || !strings.Contains(e.Message, "audit trail") {
			t.Errorf("GET %s: error = %+v", path, e)
		}
	}
	if !strings.Contains(a.logs.String(), "audit_events") {
		t.Errorf("the request log does not say why the read failed:\n%s", a.logs.String())
	}
	if _, err := a.pool.Exec(ctx, `ALTER TABLE audit_events_away RENAME TO audit_events`); err != nil {
		t.Fatal(err)
	}
	r := a.do(t, "GET", "/v1/beneficiaries/OFII-2026-000123", preparerToken, "")
	if r.status != http.StatusOK || !bytes.Contains(r.body, []byte(testIBAN)) {
		t.Errorf("GET with the audit trail back = %d %s", r.status, r.body)
	}
	if n := a.readRows(t); n != 1 {
		t.Errorf("%d read rows, want the one read that was shown", n)
	}
}

// TestDeadLettersMasked: the raw value of a dead letter shows its IBANs in
// full to the roles that pay, and each such read is recorded; the others
// see them masked, malformed ones too.
func TestDeadLettersMasked(t *testing.T) {
	a := newApprovalAPI(t, "")
	const amina = "OFII-2026-000123"
	const grouped = "fr76 3000 6000 0112 3456 7890 189"
	// An event of an unknown type, naming amina, and a record that is not
	// JSON and names no one.
	v, err := json.Marshal(map[string]any{"event_id": "5f28203e-bc00-5115-8bf8-691661515244", "type": "ada.teleported", "schema_version": 1,
		"occurred_at": "2026-10-03T09:12:00Z", "beneficiary_id": amina,
		"data": map[string]any{"from": "2026-10-03", "payee": map[string]any{"name": "Amina Diallo", "iban": grouped}}})
	if err != nil {
		t.Fatal(err)
	}
	recs := []payments.Record{
		{Source: payments.Source{Topic: "eligibility.v1", Offset: 1}, Key: []byte(amina), Value: v},
		{Source: payments.Source{Topic: "eligibility.v1", Offset: 2}, Key: []byte("x"), Value: []byte("payee " + testIBAN + " by hand")},
	}
	res, err := a.events.Apply(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Outcome != payments.OutcomeDeadLetter {
			t.Fatalf("record %d: %+v, want a dead letter", i, r)
		}
	}
	type page struct {
		DeadLetters []struct {
			ID          string `json:"id"`
			Beneficiary string `json:"beneficiary_id"`
			Value       string `json:"value"`
		} `json:"dead_letters"`
	}
	for _, tt := range []struct {
		token, actor string
		full         bool
	}{{controllerToken, "claire", false}, {auditorToken, "court-of-audit", false}, {adminToken, "ops", false},
		{preparerToken, "marie", true}, {approverToken, "paul", true}} {
		t.Run(tt.actor, func(t *testing.T) {
			var p page
			a.read(t, tt.token, "/v1/dead-letters", &p)
			if len(p.DeadLetters) != 2 {
				t.Fatalf("dead letters = %+v", p.DeadLetters)
			}
			all := p.DeadLetters[0].Value + p.DeadLetters[1].Value
			shown := strings.Contains(all, grouped) && strings.Contains(all, testIBAN)
			hidden := !strings.Contains(all, grouped) && !strings.Contains(all, testIBAN) && strings.Count(all, maskedIBAN) == 2
			if tt.full && !shown || !tt.full && !hidden {
				t.Errorf("%s reads the dead letters (full %v):\n%s", tt.actor, tt.full, all)
			}
			evs := a.reads(t, "kind=dead_letter&actor="+tt.actor)
			byBen := map[string][]string{}
			for _, e := range evs {
				byBen[e.BeneficiaryID] = e.FieldsInFull
			}
			switch {
			case tt.full && (len(evs) != 2 || !slices.Equal(byBen[amina], []string{"iban"}) || !slices.Equal(byBen[""], []string{"iban"})):
				t.Errorf("%s's reads = %+v, want both dead letters with the IBAN in full", tt.actor, evs)
			case !tt.full && (len(evs) != 1 || evs[0].BeneficiaryID != amina || len(evs[0].FieldsInFull) != 0):
				t.Errorf("%s's reads = %+v, want amina's dead letter, nothing in full", tt.actor, evs)
			}
		})
	}
	evs := a.reads(t, "beneficiary="+amina)
	if len(evs) != 5 {
		t.Errorf("reads of %s's dead letter = %d, want one per reader", amina, len(evs))
	}
}

// TestBeneficiaryAccountsNeedTheAuditTrail: an API over the ledger alone
// records no reads, so it shows no beneficiary's own account.
func TestBeneficiaryAccountsNeedTheAuditTrail(t *testing.T) {
	a := newTestAPI(t, nil)
	for _, path := range []string{"/v1/accounts/payable:OFII-2026-000123/balance", "/v1/accounts/receivable:overpayment:OFII-2026-000123/statement"} {
		r := a.do(t, "GET", path, auditorToken, "")
		if e := errorOf(t, r); r.status != http.StatusServiceUnavailable || e.Code != "unavailable" {
			t.Errorf("GET %s = %d %+v, want 503", path, r.status, e)
		}
	}
	if r := a.do(t, "GET", "/v1/accounts/bank:main/balance", auditorToken, ""); r.status != http.StatusOK {
		t.Errorf("GET the balance of bank:main = %d %s", r.status, r.body)
	}
}

// TestExceptionReadsFailClosed: when reads cannot be recorded, the list of
// payment exceptions and the payment file answer 503; a payee correction,
// made and recorded all the same, answers with the IBANs masked.
func TestExceptionReadsFailClosed(t *testing.T) {
	a := newApprovalAPI(t, "")
	id := a.draft(t, preparerToken)
	base := "/v1/batches/" + id
	a.call(t, "POST", base+"/submit", preparerToken, "", http.StatusOK, nil)
	a.call(t, "POST", base+"/approve", approverToken, "", http.StatusOK, nil)
	a.call(t, "POST", base+"/release", approverToken, "", http.StatusOK, nil)
	var files struct {
		Files []fileJSON `json:"files"`
	}
	a.read(t, auditorToken, base+"/files", &files)
	var page linesJSON
	a.read(t, preparerToken, base+"/lines", &page)
	line := page.Lines[0].ID
	f := files.Files[0]
	if r := a.doXML(t, "/v1/status-reports", controllerToken, "application/xml",
		statusReport(t, "BANK-RPT-0001", f, []string{line}, map[string]string{line: "AC04"})); r.status != http.StatusOK {
		t.Fatalf("status report = %d %s", r.status, r.body)
	}
	var exc struct {
		Exceptions []exceptionJSON `json:"exceptions"`
	}
	a.read(t, auditorToken, "/v1/payment-exceptions", &exc)
	xid := exc.Exceptions[0].ID

	// Reads, and reads alone, can no longer be recorded.
	if _, err := a.pool.Exec(context.Background(), `ALTER TABLE audit_events ADD CONSTRAINT no_reads CHECK (action <> 'read') NOT VALID`); err != nil {
		t.Fatal(err)
	}
	before := a.readRows(t)
	for _, tt := range []struct{ path, token string }{
		{"/v1/payment-exceptions", preparerToken}, {"/v1/payment-exceptions", auditorToken}, {"/v1/files/" + f.MsgID, approverToken},
		{base + "/lines", auditorToken},
	} {
		r := a.do(t, "GET", tt.path, tt.token, "")
		if r.status != http.StatusServiceUnavailable || bytes.Contains(r.body, []byte(testIBAN)) || bytes.Contains(r.body, []byte(maskedIBAN)) {
			t.Errorf("GET %s without reads recorded = %d %s, want 503 and nothing of the file", tt.path, r.status, r.body)
		}
	}
	const newIBAN = "FR7610107001011234567890129"
	var x exceptionJSON
	a.call(t, "POST", "/v1/payment-exceptions/"+xid+"/payee", preparerToken,
		`{"name":"Amina Diallo","iban":"`+newIBAN+`","reason":"new account"}`, http.StatusOK, &x)
	if x.Status != "corrected" || x.Corrected == nil || x.Corrected.IBAN != maskedOf(newIBAN) || x.Payee.IBAN != maskedIBAN {
		t.Errorf("corrected exception shown without its read recorded = %+v, want the IBANs masked", x)
	}
	if n := a.readRows(t); n != before {
		t.Errorf("%d read rows, want %d", n, before)
	}
	var p auditPageJSON
	a.read(t, auditorToken, "/v1/audit?action=correct_payee&object_id="+xid, &p)
	if len(p.Events) != 1 || p.Events[0].Actor != "marie" {
		t.Errorf("the correction's own row = %+v", p.Events)
	}
}
