package bank_test

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments/bank"
	"github.com/ofii/allowances/payments/bank/banksim"
	"github.com/ofii/allowances/payments/sepa"
)

// Creditor accounts of the tests, all passing the mod-97 check.
const (
	ibanGood1   = "FR7630004000031234567890143"
	ibanGood2   = "FR1420041010050500013M02606"
	ibanClosed  = "FR7030002005500000157845Z02" // in RejectIBANs
	ibanReturn  = "FR4910107001180012345678912" // in ReturnIBANs
	ibanTypo    = "FR3130003036200002024489137" // written, then spoilt into ibanBadSum
	ibanBadSum  = "FR3130003036200002024489138" // fails mod 97
	ibanAnother = "FR7617515900000800000000155"
)

// monday is the bank's first day in the tests: Monday 2 November 2026.
var monday = ledger.NewDate(2026, time.November, 2)

func eur(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// newBank starts a banksim on an httptest server whose clock reads monday.
func newBank(t *testing.T, cfg banksim.Config) (*banksim.Bank, *httptest.Server) {
	t.Helper()
	if cfg.Today == nil {
		cfg.Today = func() ledger.Date { return monday }
	}
	if cfg.OpeningBalance.IsZero() {
		cfg.OpeningBalance = eur("10000000.00")
	}
	b := banksim.New(cfg)
	srv := httptest.NewServer(b)
	t.Cleanup(srv.Close)
	return b, srv
}

// newGateway returns a gateway to srv with fast backoff; cfg's BaseURL is
// set to srv's.
func newGateway(t *testing.T, srv *httptest.Server, cfg bank.HTTPConfig, reg prometheus.Registerer) *bank.HTTPGateway {
	t.Helper()
	cfg.BaseURL = srv.URL
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase = time.Millisecond
		cfg.BackoffMax = 4 * time.Millisecond
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	g, err := bank.NewHTTPGateway(cfg, slog.New(slog.NewTextHandler(testWriter{t}, nil)), reg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// testWriter sends the gateway's logs to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func payment(id, iban, amount string) sepa.Payment {
	return sepa.Payment{
		EndToEndID: id,
		Amount:     eur(amount),
		Creditor:   sepa.Party{Name: "Beneficiaire " + id, IBAN: iban},
		Remittance: "ADA 2026-10 " + id,
	}
}

// message is a pain.001 of the OFII's account at the bank, to execute on
// Tuesday 3 November 2026.
func message(msgID string, payments ...sepa.Payment) sepa.Message {
	return sepa.Message{
		Version:         sepa.Pain001V09,
		MsgID:           msgID,
		CreatedAt:       time.Date(2026, time.November, 2, 9, 30, 0, 0, time.UTC),
		InitiatingParty: "OFII",
		PmtInfID:        msgID + "-1",
		ExecutionDate:   ledger.NewDate(2026, time.November, 3),
		Debtor:          sepa.Party{Name: "OFII Agent comptable", IBAN: banksim.DefaultAccount, BIC: "BDFEFRPPCCT"},
		CategoryPurpose: "SSBE",
		Payments:        payments,
	}
}

// file writes m as the gateway sends it.
func file(t *testing.T, m sepa.Message) bank.File {
	t.Helper()
	var buf bytes.Buffer
	if err := sepa.Write(&buf, m); err != nil {
		t.Fatal(err)
	}
	return bank.File{MsgID: m.MsgID, Format: string(m.Version), Bytes: buf.Bytes()}
}

// statement is what the tests read of a camt.053.001.08.
type statement struct {
	ID   string `xml:"BkToCstmrStmt>Stmt>Id"`
	Seq  int    `xml:"BkToCstmrStmt>Stmt>ElctrncSeqNb"`
	IBAN string `xml:"BkToCstmrStmt>Stmt>Acct>Id>IBAN"`
	Bal  []struct {
		Tp  string `xml:"Tp>CdOrPrtry>Cd"`
		Amt string `xml:"Amt"`
		Ind string `xml:"CdtDbtInd"`
	} `xml:"BkToCstmrStmt>Stmt>Bal"`
	Ntry []struct {
		Amt     string `xml:"Amt"`
		Ind     string `xml:"CdtDbtInd"`
		Sts     string `xml:"Sts>Cd"`
		BookgDt string `xml:"BookgDt>Dt"`
		Domn    string `xml:"BkTxCd>Domn>Cd"`
		Fmly    string `xml:"BkTxCd>Domn>Fmly>Cd"`
		SubFmly string `xml:"BkTxCd>Domn>Fmly>SubFmlyCd"`
		TxDtls  []struct {
			MsgID      string `xml:"Refs>MsgId"`
			PmtInfID   string `xml:"Refs>PmtInfId"`
			EndToEndID string `xml:"Refs>EndToEndId"`
			Return     string `xml:"RtrInf>Rsn>Cd"`
		} `xml:"NtryDtls>TxDtls"`
	} `xml:"BkToCstmrStmt>Stmt>Ntry"`
}

// signed returns a balance or entry amount with its sign.
func signed(t *testing.T, amt, ind string) decimal.Decimal {
	t.Helper()
	d := eur(amt)
	if !strings.Contains(amt, ".") || len(amt)-strings.Index(amt, ".") != 3 {
		t.Errorf("amount %q does not have two decimals", amt)
	}
	if ind == "DBIT" {
		return d.Neg()
	}
	return d
}

// statementOn fetches the one statement of the bank's account for day.
func statementOn(t *testing.T, g bank.Gateway, day ledger.Date) statement {
	t.Helper()
	docs, err := g.Statements(context.Background(), banksim.DefaultAccount, day)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 {
		t.Fatalf("statements on %s: %d documents, want 1", day, len(docs))
	}
	var s statement
	if err := xml.Unmarshal(docs[0].Bytes, &s); err != nil {
		t.Fatal(err)
	}
	// OPBD + the entries = CLBD, to the cent.
	if len(s.Bal) != 2 || s.Bal[0].Tp != "OPBD" || s.Bal[1].Tp != "CLBD" {
		t.Fatalf("statement %s: balances %+v, want OPBD then CLBD", s.ID, s.Bal)
	}
	sum := signed(t, s.Bal[0].Amt, s.Bal[0].Ind)
	for _, n := range s.Ntry {
		sum = sum.Add(signed(t, n.Amt, n.Ind))
	}
	if closing := signed(t, s.Bal[1].Amt, s.Bal[1].Ind); !sum.Equal(closing) {
		t.Errorf("statement %s: OPBD + entries = %s, CLBD = %s", s.ID, sum, closing)
	}
	return s
}

// reportOf reads the only pain.002 of msgID.
func reportOf(t *testing.T, g bank.Gateway, msgID string) sepa.StatusReport {
	t.Helper()
	docs, err := g.StatusReports(context.Background(), msgID)
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 {
		t.Fatalf("reports of %s: %d, want 1", msgID, len(docs))
	}
	r, err := sepa.ReadStatusReport(bytes.NewReader(docs[0].Bytes))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func isRefusal(err error, code string) bool {
	var r *bank.Refusal
	return errors.As(err, &r) && r.Code == code
}
