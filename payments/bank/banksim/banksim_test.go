package banksim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments/sepa"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// Creditor accounts of the tests, all passing the mod-97 check.
const (
	ibanGood1  = "FR7630004000031234567890143"
	ibanGood2  = "FR1420041010050500013M02606"
	ibanClosed = "FR7030002005500000157845Z02"
	ibanReturn = "FR4910107001180012345678912"
)

var (
	monday  = ledger.NewDate(2026, time.November, 2)
	tuesday = monday.AddDays(1)
	friday  = monday.AddDays(4)
)

func amt(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// newTestBank returns a bank whose clock reads monday, and its server.
func newTestBank(t *testing.T, cfg Config) (*Bank, *httptest.Server) {
	t.Helper()
	if cfg.Today == nil {
		cfg.Today = func() ledger.Date { return monday }
	}
	if cfg.OpeningBalance.IsZero() {
		cfg.OpeningBalance = amt("10000000.00")
	}
	b := New(cfg)
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	return b, srv
}

func testMessage(msgID string, payments ...sepa.Payment) sepa.Message {
	return sepa.Message{
		Version:         sepa.Pain001V09,
		MsgID:           msgID,
		CreatedAt:       time.Date(2026, time.November, 2, 9, 30, 0, 0, time.UTC),
		InitiatingParty: "OFII",
		PmtInfID:        msgID + "-1",
		ExecutionDate:   tuesday,
		Debtor:          sepa.Party{Name: "OFII Agent comptable", IBAN: DefaultAccount, BIC: "BDFEFRPPCCT"},
		CategoryPurpose: "SSBE",
		Payments:        payments,
	}
}

func testPayment(id, iban, amount string) sepa.Payment {
	return sepa.Payment{
		EndToEndID: id,
		Amount:     amt(amount),
		Creditor:   sepa.Party{Name: "Beneficiaire " + id, IBAN: iban},
		Remittance: "ADA 2026-10 " + id,
	}
}

func pain001(t *testing.T, m sepa.Message) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := sepa.Write(&buf, m); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// answer is an HTTP answer of the bank.
type answer struct {
	status int
	body   []byte
}

func (a answer) problem(t *testing.T) problem {
	t.Helper()
	var p problem
	if err := json.Unmarshal(a.body, &p); err != nil {
		t.Fatalf("answer %d %s: %v", a.status, a.body, err)
	}
	return p
}

func do(t *testing.T, srv *httptest.Server, method, path, token string, body []byte, header map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, b}
}

// submit POSTs a file as the gateway does.
func submit(t *testing.T, srv *httptest.Server, msgID string, body []byte) answer {
	t.Helper()
	sum := sha256.Sum256(body)
	return do(t, srv, http.MethodPost, "/v1/files", "", body, map[string]string{
		"Content-Type": "application/xml", "X-Msg-Id": msgID, "X-Content-Sha256": hex.EncodeToString(sum[:]),
	})
}

// documents decodes a list of reports or statements.
func documents(t *testing.T, a answer) []document {
	t.Helper()
	if a.status != http.StatusOK {
		t.Fatalf("answer %d %s, want 200", a.status, a.body)
	}
	var docs []document
	if err := json.Unmarshal(a.body, &docs); err != nil {
		t.Fatal(err)
	}
	return docs
}

func statementXML(t *testing.T, srv *httptest.Server, day ledger.Date) []byte {
	t.Helper()
	docs := documents(t, do(t, srv, http.MethodGet, "/v1/statements?iban="+DefaultAccount+"&date="+day.String(), "", nil, nil))
	if len(docs) != 1 {
		t.Fatalf("%d statements on %s, want 1", len(docs), day)
	}
	return []byte(docs[0].XML)
}

func report(t *testing.T, srv *httptest.Server, msgID string) (sepa.StatusReport, []byte) {
	t.Helper()
	docs := documents(t, do(t, srv, http.MethodGet, "/v1/files/"+msgID+"/reports", "", nil, nil))
	if len(docs) != 1 {
		t.Fatalf("%d reports of %s, want 1", len(docs), msgID)
	}
	r, err := sepa.ReadStatusReport(strings.NewReader(docs[0].XML))
	if err != nil {
		t.Fatal(err)
	}
	return r, []byte(docs[0].XML)
}

// validate checks doc against an ISO 20022 schema of testdata/xsd.
func validate(t *testing.T, xsd string, doc []byte) {
	t.Helper()
	if _, err := exec.LookPath("xmllint"); err != nil {
		t.Fatal("xmllint is missing: install libxml2-utils (apt-get install libxml2-utils)")
	}
	path := filepath.Join(t.TempDir(), "doc.xml")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	schema := filepath.Join("..", "..", "..", "testdata", "xsd", xsd)
	if out, err := exec.Command("xmllint", "--noout", "--schema", schema, path).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s\n%s", xsd, err, out, doc)
	}
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it):\n%s", path, got)
	}
}

func TestStatement(t *testing.T) {
	for _, batch := range []bool{false, true} {
		name := map[bool]string{false: "PerTransaction", true: "BatchBooking"}[batch]
		t.Run(name, func(t *testing.T) {
			b, srv := newTestBank(t, Config{
				RejectIBANs:  map[string]bool{ibanClosed: true},
				ReturnIBANs:  map[string]bool{ibanReturn: true},
				BatchBooking: batch,
				FeePerFile:   amt("1.50"),
			})
			m := testMessage("OFII-20261102-0001",
				testPayment("E2E-1", ibanGood1, "123.45"),
				testPayment("E2E-2", ibanGood2, "1000"),
				testPayment("E2E-3", ibanClosed, "50.00"),
				testPayment("E2E-4", ibanReturn, "300.10"),
			)
			if a := submit(t, srv, m.MsgID, pain001(t, m)); a.status != http.StatusCreated {
				t.Fatalf("submit: %d %s", a.status, a.body)
			}

			// The day of receipt books nothing; the debits and the fee go on
			// the next business day.
			empty := statementXML(t, srv, monday)
			validate(t, "camt.053.001.08.xsd", empty)
			if bytes.Contains(empty, []byte("<Ntry>")) {
				t.Errorf("entries booked on the day of receipt:\n%s", empty)
			}
			b.SetToday(friday)
			tue := statementXML(t, srv, tuesday)
			validate(t, "camt.053.001.08.xsd", tue)
			golden(t, "statement-"+strings.ToLower(name)+"-2026-11-03.xml", tue)
			fri := statementXML(t, srv, friday)
			validate(t, "camt.053.001.08.xsd", fri)
			for _, s := range []string{"<SubFmlyCd>RRTN</SubFmlyCd>", "<Cd>AC04</Cd>", "<EndToEndId>E2E-4</EndToEndId>", "<CdtDbtInd>CRDT</CdtDbtInd>",
				`<Amt Ccy="EUR">9998574.95</Amt>`, `<Amt Ccy="EUR">9998875.05</Amt>`} {
				if !bytes.Contains(fri, []byte(s)) {
					t.Errorf("Friday's statement lacks %s:\n%s", s, fri)
				}
			}
		})
	}
}

func TestStatement_Requests(t *testing.T) {
	_, srv := newTestBank(t, Config{})
	get := func(query string) answer {
		return do(t, srv, http.MethodGet, "/v1/statements?"+query, "", nil, nil)
	}
	t.Run("UnknownAccountIsNotFound", func(t *testing.T) {
		if a := get("iban=" + ibanGood1 + "&date=2026-11-02"); a.status != 404 || a.problem(t).Code != "NOTFOUND" {
			t.Errorf("answer %d %s", a.status, a.body)
		}
	})
	t.Run("BadDateIsInvalid", func(t *testing.T) {
		if a := get("iban=" + DefaultAccount + "&date=02/11/2026"); a.status != 400 {
			t.Errorf("answer %d %s", a.status, a.body)
		}
	})
	t.Run("NoStatementOnWeekendsBeforeOpeningOrInTheFuture", func(t *testing.T) {
		for _, d := range []string{"2026-11-01", "2026-10-30", "2026-11-03"} {
			if docs := documents(t, get("iban="+DefaultAccount+"&date="+d)); len(docs) != 0 {
				t.Errorf("%s: %d statements, want none", d, len(docs))
			}
		}
	})
	t.Run("SameStatementTwice", func(t *testing.T) {
		a, b := get("iban="+DefaultAccount+"&date=2026-11-02"), get("iban="+DefaultAccount+"&date=2026-11-02")
		if !bytes.Equal(a.body, b.body) {
			t.Error("the statement of a past day changed between two requests")
		}
	})
}

func TestReceive(t *testing.T) {
	good := testMessage("OFII-RCV-1", testPayment("E2E-A", ibanGood1, "10.00"), testPayment("E2E-B", ibanGood2, "20.00"))
	goodXML := pain001(t, good)
	v03 := good
	v03.Version = sepa.Pain001V03
	tests := []struct {
		name       string
		msgID      string
		body       []byte
		status     int
		code       string // of a refusal
		group      sepa.Status
		reason     string
		recorded   bool
		nothingDue bool // no entry is booked
	}{
		{name: "OK", msgID: good.MsgID, body: goodXML, status: 201, group: sepa.StatusACCP, recorded: true},
		{name: "Version03", msgID: good.MsgID, body: pain001(t, v03), status: 201, group: sepa.StatusACCP, recorded: true},
		{name: "GarbageIsFF01", msgID: "X", body: []byte("<Document>no</Document>"), status: 400, code: "FF01"},
		{name: "NotXMLIsFF01", msgID: "X", body: []byte("%PDF-1.4"), status: 400, code: "FF01"},
		{name: "RuleViolationIsFF01", msgID: good.MsgID, status: 400, code: "FF01",
			body: bytes.Replace(goodXML, []byte("<Cd>SSBE</Cd>"), []byte("<Cd>XXXX</Cd>"), 1)},
		{name: "HeaderMsgIdMismatchIsFF01", msgID: "OTHER", body: goodXML, status: 400, code: "FF01"},
		{name: "CtrlSumIsAM10", msgID: good.MsgID, status: 201, group: sepa.StatusRJCT, reason: "AM10", recorded: true, nothingDue: true,
			body: bytes.Replace(goodXML, []byte("<CtrlSum>30.00</CtrlSum>"), []byte("<CtrlSum>31.00</CtrlSum>"), 1)},
		{name: "NbOfTxsIsAM18", msgID: good.MsgID, status: 201, group: sepa.StatusRJCT, reason: "AM18", recorded: true, nothingDue: true,
			body: bytes.Replace(goodXML, []byte("<NbOfTxs>2</NbOfTxs>"), []byte("<NbOfTxs>3</NbOfTxs>"), 1)},
		{name: "OtherDebtorIsAC02", msgID: good.MsgID, status: 201, group: sepa.StatusRJCT, reason: "AC02", recorded: true, nothingDue: true,
			body: bytes.Replace(goodXML, []byte(DefaultAccount), []byte(ibanGood2), 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if bytes.Equal(tt.body, goodXML) != (tt.name == "OK" || tt.name == "HeaderMsgIdMismatchIsFF01") {
				t.Fatal("the tampering did not change the file")
			}
			b, srv := newTestBank(t, Config{})
			a := submit(t, srv, tt.msgID, tt.body)
			if a.status != tt.status {
				t.Fatalf("answer %d %s, want %d", a.status, a.body, tt.status)
			}
			if tt.code != "" && a.problem(t).Code != tt.code {
				t.Errorf("code %s, want %s", a.problem(t).Code, tt.code)
			}
			got := b.Received()
			if !tt.recorded {
				if len(got) != 0 {
					t.Errorf("a refused file was recorded: %+v", got)
				}
				return
			}
			if len(got) != 1 || got[0].GroupStatus != tt.group || got[0].GroupReason != tt.reason || len(got[0].Transactions) != 2 {
				t.Fatalf("recorded %+v, want %s %s", got, tt.group, tt.reason)
			}
			r, x := report(t, srv, good.MsgID)
			validate(t, "pain.002.001.10.xsd", x)
			if r.GroupStatus != tt.group || r.GroupReason != tt.reason {
				t.Errorf("report group %s %s, want %s %s", r.GroupStatus, r.GroupReason, tt.group, tt.reason)
			}
			for _, id := range []string{"E2E-A", "E2E-B"} {
				want := sepa.StatusACCP
				if tt.group == sepa.StatusRJCT {
					want = sepa.StatusRJCT
				}
				if st, reason := r.StatusOf(good.PmtInfID, id); st != want || reason != tt.reason {
					t.Errorf("%s: %s %s, want %s %s", id, st, reason, want, tt.reason)
				}
			}
			b.SetToday(tuesday)
			booked := bytes.Contains(statementXML(t, srv, tuesday), []byte("<Ntry>"))
			if booked == tt.nothingDue {
				t.Errorf("entries booked: %v, want %v", booked, !tt.nothingDue)
			}
			// A resend is a duplicate, whatever the file's fate.
			if a := submit(t, srv, tt.msgID, tt.body); a.status != http.StatusConflict || a.problem(t).Code != "DU01" {
				t.Errorf("resend: %d %s, want 409 DU01", a.status, a.body)
			}
			if f := b.Received()[0]; f.Attempts != 2 || f.Duplicates != 1 {
				t.Errorf("after a resend: %d attempts, %d duplicates", f.Attempts, f.Duplicates)
			}
		})
	}
	t.Run("ChecksumHeaderMismatchIsFF01", func(t *testing.T) {
		b, srv := newTestBank(t, Config{})
		a := do(t, srv, http.MethodPost, "/v1/files", "", goodXML, map[string]string{"X-Content-Sha256": strings.Repeat("0", 64)})
		if a.status != 400 || a.problem(t).Code != "FF01" || len(b.Received()) != 0 {
			t.Errorf("answer %d %s", a.status, a.body)
		}
	})
	t.Run("UnknownFileReportsAreNotFound", func(t *testing.T) {
		_, srv := newTestBank(t, Config{})
		if a := do(t, srv, http.MethodGet, "/v1/files/NOPE/reports", "", nil, nil); a.status != 404 || a.problem(t).Code != "NOTFOUND" {
			t.Errorf("answer %d %s", a.status, a.body)
		}
	})
	t.Run("ExecutionDateLaterThanNextBusinessDay", func(t *testing.T) {
		b, srv := newTestBank(t, Config{})
		m := testMessage("OFII-LATER", testPayment("E2E-L", ibanGood1, "5.00"))
		m.ExecutionDate = friday
		submit(t, srv, m.MsgID, pain001(t, m))
		b.SetToday(friday)
		if bytes.Contains(statementXML(t, srv, tuesday), []byte("<Ntry>")) {
			t.Error("booked before its execution date")
		}
		if !bytes.Contains(statementXML(t, srv, friday), []byte("<EndToEndId>E2E-L</EndToEndId>")) {
			t.Error("not booked on its execution date")
		}
	})
}

func TestAuth(t *testing.T) {
	_, srv := newTestBank(t, Config{Token: "s3cret"})
	for _, path := range []string{"/v1/statements?iban=" + DefaultAccount + "&date=2026-11-02", "/sim/files"} {
		if a := do(t, srv, http.MethodGet, path, "", nil, nil); a.status != 401 || a.problem(t).Code != "UNAUTHORIZED" {
			t.Errorf("%s without token: %d %s", path, a.status, a.body)
		}
		if a := do(t, srv, http.MethodGet, path, "wrong", nil, nil); a.status != 401 {
			t.Errorf("%s with a wrong token: %d", path, a.status)
		}
		if a := do(t, srv, http.MethodGet, path, "s3cret", nil, nil); a.status != 200 {
			t.Errorf("%s with the token: %d %s", path, a.status, a.body)
		}
	}
}

func TestFaults(t *testing.T) {
	t.Run("AdminRoutes", func(t *testing.T) {
		b, srv := newTestBank(t, Config{})
		a := do(t, srv, http.MethodPost, "/sim/faults", "", []byte(`{"outage":true,"latency":"1ms"}`), nil)
		if a.status != 200 {
			t.Fatalf("set faults: %d %s", a.status, a.body)
		}
		if a := do(t, srv, http.MethodGet, "/v1/files/X/reports", "", nil, nil); a.status != 503 {
			t.Errorf("during an outage: %d, want 503", a.status)
		}
		if a := do(t, srv, http.MethodGet, "/sim/files", "", nil, nil); a.status != 200 || strings.TrimSpace(string(a.body)) != "[]" {
			t.Errorf("admin route during an outage: %d %s", a.status, a.body)
		}
		if n := b.Requests(); n != 1 {
			t.Errorf("%d requests counted, want 1: admin routes do not count", n)
		}
		for _, bad := range []string{`{"error_rate":2}`, `{"latency":"soon"}`, `{"outage":"yes"}`, `{"unknown":1}`} {
			if a := do(t, srv, http.MethodPost, "/sim/faults", "", []byte(bad), nil); a.status != 400 {
				t.Errorf("faults %s: %d, want 400", bad, a.status)
			}
		}
		do(t, srv, http.MethodPost, "/sim/faults", "", []byte(`{}`), nil)

		if a := do(t, srv, http.MethodPost, "/sim/clock", "", []byte(`{"today":"2026-11-06"}`), nil); a.status != 200 || b.Today() != friday {
			t.Errorf("set clock: %d %s, today %s", a.status, a.body, b.Today())
		}
		m := testMessage("OFII-ADM", testPayment("E2E-X", ibanGood1, "1.00"), testPayment("E2E-Y", ibanClosed, "2.00"))
		b.cfg.RejectIBANs[ibanClosed] = true
		submit(t, srv, m.MsgID, pain001(t, m))
		var files []fileJSON
		if err := json.Unmarshal(do(t, srv, http.MethodGet, "/sim/files", "", nil, nil).body, &files); err != nil {
			t.Fatal(err)
		}
		if len(files) != 1 || files[0].MsgID != m.MsgID || files[0].Transactions != 2 || files[0].Accepted != 1 ||
			files[0].Rejected != 1 || strings.Join(files[0].EndToEndIDs, ",") != "E2E-X,E2E-Y" || files[0].Status != "PART" {
			t.Errorf("files %+v", files)
		}
	})
	t.Run("ErrorRateIsSeeded", func(t *testing.T) {
		run := func() string {
			b, srv := newTestBank(t, Config{Seed: 42})
			b.SetFaults(Faults{ErrorRate: 0.5})
			var s strings.Builder
			for range 40 {
				if do(t, srv, http.MethodGet, "/v1/files/X/reports", "", nil, nil).status == 503 {
					s.WriteByte('F')
				} else {
					s.WriteByte('.')
				}
			}
			return s.String()
		}
		first, second := run(), run()
		if first != second {
			t.Errorf("two banks of one seed drew different faults:\n%s\n%s", first, second)
		}
		if n := strings.Count(first, "F"); n < 10 || n > 30 {
			t.Errorf("%d faults in 40 requests at 50%%: %s", n, first)
		}
	})
	t.Run("DropClosesTheConnection", func(t *testing.T) {
		b, srv := newTestBank(t, Config{})
		b.SetFaults(Faults{Outage: true, Drop: true})
		resp, err := srv.Client().Get(srv.URL + "/v1/files/X/reports")
		if err == nil {
			resp.Body.Close()
			t.Fatalf("answer %d, want a dropped connection", resp.StatusCode)
		}
	})
	t.Run("LostAnswerIsCarriedOut", func(t *testing.T) {
		b, srv := newTestBank(t, Config{})
		b.SetFaults(Faults{ErrorRate: 1, LoseAnswers: true})
		m := testMessage("OFII-LOST", testPayment("E2E-L", ibanGood1, "1.00"))
		if a := submit(t, srv, m.MsgID, pain001(t, m)); a.status != 503 {
			t.Fatalf("answer %d, want 503", a.status)
		}
		if got := b.Received(); len(got) != 1 || got[0].MsgID != m.MsgID {
			t.Errorf("received %+v, want the file whose answer was lost", got)
		}
	})
}

func TestValidIBAN(t *testing.T) {
	for iban, want := range map[string]bool{
		DefaultAccount:                true,
		ibanGood2:                     true,
		"FR7630001007941234567890186": false,
		"FR76":                        false,
	} {
		if got := validIBAN(iban); got != want {
			t.Errorf("validIBAN(%s) = %v, want %v", iban, got, want)
		}
	}
}
