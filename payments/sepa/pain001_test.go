package sepa

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

// sampleMessage returns a valid message of version v: three payments, one to
// a creditor whose name has accents, with a BIC.
func sampleMessage(v Version) Message {
	return Message{
		Version:         v,
		MsgID:           "OFII-2026-04-0001",
		CreatedAt:       time.Date(2026, 4, 2, 9, 30, 0, 0, time.FixedZone("CEST", 2*3600)),
		InitiatingParty: "OFII",
		PmtInfID:        "PI-2026-04-0001",
		ExecutionDate:   ledger.NewDate(2026, time.April, 7),
		Debtor: Party{
			Name: "Office français de l'immigration et de l'intégration",
			IBAN: "FR7630006000011234567890189",
			BIC:  "BDFEFRPPCCT",
		},
		CategoryPurpose: "SSBE",
		BatchBooking:    true,
		Payments: []Payment{
			{
				EndToEndID: "ADA-2026-03-000001",
				Amount:     decimal.RequireFromString("412.80"),
				Creditor:   Party{Name: "Zoé Müller-Ağaoğlu", IBAN: "DE89370400440532013000", BIC: "COBADEFFXXX"},
				Remittance: "ADA mars 2026 – dossier 75-123",
			},
			{
				EndToEndID: "ADA-2026-03-000002",
				Amount:     decimal.RequireFromString("1290"),
				Creditor:   Party{Name: "Amadou Diallo", IBAN: "FR7630006000011234567890189"},
				Remittance: "ADA mars 2026",
			},
			{
				EndToEndID: "ADA-2026-03-000003",
				Amount:     decimal.RequireFromString("6.9"),
				Creditor:   Party{Name: "Łukasz Østergård", IBAN: "BE68539007547034"},
			},
		},
	}
}

// cleaned returns m as Read gives it back after Write: names and
// remittance transliterated.
func cleaned(m Message) Message {
	m.InitiatingParty = Clean(m.InitiatingParty, MaxNameLength)
	m.Debtor.Name = Clean(m.Debtor.Name, MaxNameLength)
	ps := make([]Payment, len(m.Payments))
	for i, p := range m.Payments {
		p.Creditor.Name = Clean(p.Creditor.Name, MaxNameLength)
		p.Remittance = Clean(p.Remittance, MaxRemittanceLength)
		ps[i] = p
	}
	m.Payments = ps
	return m
}

// sameMessage reports how got and want differ, comparing times and amounts
// by value.
func sameMessage(got, want Message) string {
	if !got.CreatedAt.Equal(want.CreatedAt) {
		return fmt.Sprintf("CreatedAt %v, want %v", got.CreatedAt, want.CreatedAt)
	}
	got.CreatedAt, want.CreatedAt = time.Time{}, time.Time{}
	if len(got.Payments) != len(want.Payments) {
		return fmt.Sprintf("%d payments, want %d", len(got.Payments), len(want.Payments))
	}
	gp, wp := make([]Payment, len(got.Payments)), make([]Payment, len(want.Payments))
	for i := range gp {
		gp[i], wp[i] = got.Payments[i], want.Payments[i]
		if !gp[i].Amount.Equal(wp[i].Amount) {
			return fmt.Sprintf("payments[%d].Amount %s, want %s", i, gp[i].Amount, wp[i].Amount)
		}
		gp[i].Amount, wp[i].Amount = decimal.Decimal{}, decimal.Decimal{}
	}
	got.Payments, want.Payments = gp, wp
	if !reflect.DeepEqual(got, want) {
		return fmt.Sprintf("\n got %+v\nwant %+v", got, want)
	}
	return ""
}

func TestWriteGolden(t *testing.T) {
	for _, v := range []Version{Pain001V09, Pain001V03} {
		t.Run(string(v), func(t *testing.T) {
			var buf bytes.Buffer
			if err := Write(&buf, sampleMessage(v)); err != nil {
				t.Fatal(err)
			}
			out := buf.Bytes()
			golden(t, string(v)+".golden.xml", out)
			mustValidateXSD(t, string(v)+".xsd", out)

			s := string(out)
			for _, want := range []string{
				`<?xml version="1.0" encoding="UTF-8"?>`,
				`<Document xmlns="urn:iso:std:iso:20022:tech:xsd:` + string(v) + `">`,
				"<Nm>Zoe Muller-Agaoglu</Nm>",
				"<Nm>Lukasz Ostergard</Nm>",
				"<Nm>Office francais de l&#39;immigration et de l&#39;integration</Nm>", // encoding/xml escapes ' as &#39;
				"<Ustrd>ADA mars 2026 - dossier 75-123</Ustrd>",
				"<CreDtTm>2026-04-02T09:30:00+02:00</CreDtTm>",
				"<NbOfTxs>3</NbOfTxs>",
				"<CtrlSum>1709.70</CtrlSum>",
				`<InstdAmt Ccy="EUR">1290.00</InstdAmt>`,
				`<InstdAmt Ccy="EUR">6.90</InstdAmt>`,
				"<ChrgBr>SLEV</ChrgBr>",
				"<Cd>SEPA</Cd>",
				"<Cd>SSBE</Cd>",
				"<BtchBookg>true</BtchBookg>",
			} {
				if !strings.Contains(s, want) {
					t.Errorf("the file lacks %s", want)
				}
			}
			if n := strings.Count(s, "<NbOfTxs>3</NbOfTxs>"); n != 2 {
				t.Errorf("NbOfTxs 3 written %d times, want at the group and block levels", n)
			}
			if n := strings.Count(s, "<CtrlSum>1709.70</CtrlSum>"); n != 2 {
				t.Errorf("CtrlSum written %d times, want at the group and block levels", n)
			}
			if n := strings.Count(s, "<Cd>BENE</Cd>"); n != 3 {
				t.Errorf("purpose BENE written %d times, want 3", n)
			}
			if v == Pain001V03 {
				if !strings.Contains(s, "<ReqdExctnDt>2026-04-07</ReqdExctnDt>") || strings.Contains(s, "BICFI") {
					t.Error("a .03 file has a bare ReqdExctnDt and BIC elements")
				}
			} else if !strings.Contains(s, "<Dt>2026-04-07</Dt>") || !strings.Contains(s, "<BICFI>BDFEFRPPCCT</BICFI>") {
				t.Error("a .09 file has ReqdExctnDt/Dt and BICFI elements")
			}
		})
	}
}

func TestWriteDeterministic(t *testing.T) {
	var a, b bytes.Buffer
	if err := Write(&a, sampleMessage(Pain001V09)); err != nil {
		t.Fatal(err)
	}
	if err := Write(&b, sampleMessage(Pain001V09)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("the same message gave different bytes")
	}
}

func TestWriteUTCAndGOVT(t *testing.T) {
	m := sampleMessage(Pain001V09)
	m.CreatedAt = time.Date(2026, 4, 2, 7, 30, 0, 123456789, time.UTC)
	m.CategoryPurpose = "GOVT"
	m.BatchBooking = false
	m.Payments = m.Payments[:1]
	var buf bytes.Buffer
	if err := Write(&buf, m); err != nil {
		t.Fatal(err)
	}
	mustValidateXSD(t, "pain.001.001.09.xsd", buf.Bytes())
	for _, want := range []string{"<CreDtTm>2026-04-02T07:30:00Z</CreDtTm>", "<Cd>GOVT</Cd>", "<BtchBookg>false</BtchBookg>", "<CtrlSum>412.80</CtrlSum>"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("the file lacks %s", want)
		}
	}
}

func TestWriteRejects(t *testing.T) {
	long := strings.Repeat("A", 36)
	tests := []struct {
		name   string
		change func(m *Message)
		field  string
	}{
		{"ErrThreeDecimals", func(m *Message) { m.Payments[1].Amount = decimal.RequireFromString("10.005") }, "payments[1].amount"},
		{"ErrZeroAmount", func(m *Message) { m.Payments[0].Amount = decimal.RequireFromString("0.00") }, "payments[0].amount"},
		{"ErrNegativeAmount", func(m *Message) { m.Payments[0].Amount = decimal.RequireFromString("-1.00") }, "payments[0].amount"},
		{"ErrBillion", func(m *Message) { m.Payments[2].Amount = decimal.New(1, 9) }, "payments[2].amount"},
		{"ErrMsgIDDoubleSlash", func(m *Message) { m.MsgID = "OFII//2026" }, "msg_id"},
		{"ErrMsgIDLeadingSlash", func(m *Message) { m.MsgID = "/OFII-2026" }, "msg_id"},
		{"ErrMsgIDTooLong", func(m *Message) { m.MsgID = long }, "msg_id"},
		{"ErrMsgIDMissing", func(m *Message) { m.MsgID = "" }, "msg_id"},
		{"ErrPmtInfIDTrailingSlash", func(m *Message) { m.PmtInfID = "PI/" }, "pmt_inf_id"},
		{"ErrEndToEndIDTooLong", func(m *Message) { m.Payments[2].EndToEndID = long }, "payments[2].end_to_end_id"},
		{"ErrEndToEndIDAccent", func(m *Message) { m.Payments[0].EndToEndID = "ADA-été" }, "payments[0].end_to_end_id"},
		{"ErrDuplicateEndToEndID", func(m *Message) { m.Payments[2].EndToEndID = m.Payments[0].EndToEndID }, "payments[2].end_to_end_id"},
		{"ErrSaturday", func(m *Message) { m.ExecutionDate = date("2026-04-11") }, "execution_date"},
		{"ErrGoodFriday2027", func(m *Message) { m.ExecutionDate = date("2027-03-26") }, "execution_date"},
		{"ErrEasterMonday2027", func(m *Message) { m.ExecutionDate = date("2027-03-29") }, "execution_date"},
		{"ErrEasterMonday2026", func(m *Message) { m.ExecutionDate = date("2026-04-06") }, "execution_date"},
		{"ErrChristmas", func(m *Message) { m.ExecutionDate = date("2026-12-25") }, "execution_date"},
		{"ErrNoExecutionDate", func(m *Message) { m.ExecutionDate = ledger.Date{} }, "execution_date"},
		{"ErrBadCreditorIBAN", func(m *Message) { m.Payments[1].Creditor.IBAN = "FR7630006000011234567890188" }, "payments[1].creditor.iban"},
		{"ErrNoCreditorIBAN", func(m *Message) { m.Payments[1].Creditor.IBAN = "" }, "payments[1].creditor.iban"},
		{"ErrBadDebtorIBAN", func(m *Message) { m.Debtor.IBAN = "FR76300060000112345678901" }, "debtor.iban"},
		{"ErrNoDebtorBIC", func(m *Message) { m.Debtor.BIC = "" }, "debtor.bic"},
		{"ErrBadCreditorBIC", func(m *Message) { m.Payments[0].Creditor.BIC = "COBA" }, "payments[0].creditor.bic"},
		{"ErrNoCreditorName", func(m *Message) { m.Payments[1].Creditor.Name = "" }, "payments[1].creditor.name"},
		{"ErrUnwritableName", func(m *Message) { m.Payments[1].Creditor.Name = "李小龍" }, "payments[1].creditor.name"},
		{"ErrNoDebtorName", func(m *Message) { m.Debtor.Name = " " }, "debtor.name"},
		{"ErrNoInitiatingParty", func(m *Message) { m.InitiatingParty = "" }, "initiating_party"},
		{"ErrLongRemittance", func(m *Message) { m.Payments[0].Remittance = strings.Repeat("x", 141) }, "payments[0].remittance"},
		{"ErrCategoryPurpose", func(m *Message) { m.CategoryPurpose = "SALA" }, "category_purpose"},
		{"ErrNoCategoryPurpose", func(m *Message) { m.CategoryPurpose = "" }, "category_purpose"},
		{"ErrNoPayments", func(m *Message) { m.Payments = nil }, "payments"},
		{"ErrVersion", func(m *Message) { m.Version = "pain.001.001.12" }, "version"},
		{"ErrNoVersion", func(m *Message) { m.Version = "" }, "version"},
		{"ErrNoCreatedAt", func(m *Message) { m.CreatedAt = time.Time{} }, "created_at"},
	}
	for _, tt := range tests {
		for _, v := range []Version{Pain001V09, Pain001V03} {
			t.Run(tt.name+"/"+string(v), func(t *testing.T) {
				m := sampleMessage(v)
				tt.change(&m)
				var buf bytes.Buffer
				err := Write(&buf, m)
				if err == nil {
					t.Fatal("Write accepted the message")
				}
				if got := fieldOf(err); got != tt.field || !errs.Is(err, errs.Invalid) {
					t.Errorf("Write = %v (field %q), want an invalid error on %s", err, got, tt.field)
				}
				if buf.Len() != 0 {
					t.Errorf("Write wrote %d bytes of an invalid message", buf.Len())
				}
				if verr := Validate(m); fieldOf(verr) != tt.field {
					t.Errorf("Validate = %v, want an error on %s", verr, tt.field)
				}
			})
		}
	}
}

func TestWriteAccepts(t *testing.T) {
	tests := []struct {
		name   string
		change func(m *Message)
	}{
		{"AmountOneCent", func(m *Message) { m.Payments[0].Amount = decimal.RequireFromString("0.01") }},
		{"AmountMax", func(m *Message) { m.Payments[0].Amount = decimal.RequireFromString("999999999.99") }},
		{"AmountTrailingZero", func(m *Message) { m.Payments[0].Amount = decimal.RequireFromString("10.500") }},
		{"LongNameCut", func(m *Message) { m.Payments[0].Creditor.Name = strings.Repeat("Abdelkader ", 10) }},
		{"NoRemittance", func(m *Message) { m.Payments[0].Remittance = "" }},
		{"Remittance140", func(m *Message) { m.Payments[0].Remittance = strings.Repeat("é", 140) }},
		{"ID35", func(m *Message) { m.MsgID = strings.Repeat("9", 35) }},
		{"NoCreditorBIC", func(m *Message) { m.Payments[0].Creditor.BIC = "" }},
		{"Ascension", func(m *Message) { m.ExecutionDate = date("2026-05-14") }},
	}
	for _, tt := range tests {
		for _, v := range []Version{Pain001V09, Pain001V03} {
			t.Run(tt.name+"/"+string(v), func(t *testing.T) {
				m := sampleMessage(v)
				tt.change(&m)
				var buf bytes.Buffer
				if err := Write(&buf, m); err != nil {
					t.Fatal(err)
				}
				mustValidateXSD(t, string(v)+".xsd", buf.Bytes())
				got, err := Read(&buf)
				if err != nil {
					t.Fatal(err)
				}
				if diff := sameMessage(got, cleaned(m)); diff != "" {
					t.Error(diff)
				}
			})
		}
	}
}

func TestReadRoundTrip(t *testing.T) {
	for _, v := range []Version{Pain001V09, Pain001V03} {
		t.Run(string(v), func(t *testing.T) {
			m := sampleMessage(v)
			var buf bytes.Buffer
			if err := Write(&buf, m); err != nil {
				t.Fatal(err)
			}
			got, err := Read(&buf)
			if err != nil {
				t.Fatal(err)
			}
			if diff := sameMessage(got, cleaned(m)); diff != "" {
				t.Error(diff)
			}
			if err := Validate(got); err != nil {
				t.Errorf("the message read back is invalid: %v", err)
			}
		})
	}
}

func TestReadGolden(t *testing.T) {
	for _, v := range []Version{Pain001V09, Pain001V03} {
		got, err := Read(bytes.NewReader(readTestdata(t, string(v)+".golden.xml")))
		if err != nil {
			t.Fatal(err)
		}
		if diff := sameMessage(got, cleaned(sampleMessage(v))); diff != "" {
			t.Errorf("%s: %s", v, diff)
		}
	}
}

func TestReadRejects(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, sampleMessage(Pain001V09)); err != nil {
		t.Fatal(err)
	}
	good := buf.String()
	const (
		grp = "Document/CstmrCdtTrfInitn/GrpHdr"
		pi  = "Document/CstmrCdtTrfInitn/PmtInf"
	)
	tests := []struct {
		name  string
		doc   string
		field string
		code  errs.Code
	}{
		{"ErrGroupCtrlSum", strings.Replace(good, "<CtrlSum>1709.70</CtrlSum>", "<CtrlSum>1709.71</CtrlSum>", 1), grp + "/CtrlSum", errs.Invalid},
		{"ErrBlockCtrlSum", replaceNth(good, "<CtrlSum>1709.70</CtrlSum>", "<CtrlSum>9.70</CtrlSum>", 2), pi + "/CtrlSum", errs.Invalid},
		{"ErrGroupNbOfTxs", strings.Replace(good, "<NbOfTxs>3</NbOfTxs>", "<NbOfTxs>4</NbOfTxs>", 1), grp + "/NbOfTxs", errs.Invalid},
		{"ErrBlockNbOfTxs", replaceNth(good, "<NbOfTxs>3</NbOfTxs>", "<NbOfTxs>2</NbOfTxs>", 2), pi + "/NbOfTxs", errs.Invalid},
		{"ErrNbOfTxsNotANumber", strings.Replace(good, "<NbOfTxs>3</NbOfTxs>", "<NbOfTxs>three</NbOfTxs>", 1), grp + "/NbOfTxs", errs.Invalid},
		{"ErrCurrency", strings.Replace(good, `Ccy="EUR">1290.00`, `Ccy="USD">1290.00`, 1), pi + "/CdtTrfTxInf[2]/Amt/InstdAmt/@Ccy", errs.Invalid},
		{"ErrAmount", strings.Replace(good, ">1290.00<", ">1,290.00<", 1), pi + "/CdtTrfTxInf[2]/Amt/InstdAmt", errs.Invalid},
		{"ErrNoMsgID", strings.Replace(good, "<MsgId>OFII-2026-04-0001</MsgId>", "", 1), grp + "/MsgId", errs.Invalid},
		{"ErrCreDtTm", strings.Replace(good, "2026-04-02T09:30:00+02:00", "02/04/2026 09:30", 1), grp + "/CreDtTm", errs.Invalid},
		{"ErrNoEndToEndID", strings.Replace(good, "<EndToEndId>ADA-2026-03-000003</EndToEndId>", "", 1), pi + "/CdtTrfTxInf[3]/PmtId/EndToEndId", errs.Invalid},
		{"ErrDate", strings.Replace(good, "<Dt>2026-04-07</Dt>", "<Dt>07/04/2026</Dt>", 1), pi + "/ReqdExctnDt/Dt", errs.Invalid},
		{"ErrBareDateIn09", strings.Replace(good, "<Dt>2026-04-07</Dt>", "2026-04-07", 1), pi + "/ReqdExctnDt", errs.Invalid},
		{"ErrPmtMtd", strings.Replace(good, "<PmtMtd>TRF</PmtMtd>", "<PmtMtd>CHK</PmtMtd>", 1), pi + "/PmtMtd", errs.Invalid},
		{"ErrChrgBr", strings.Replace(good, "<ChrgBr>SLEV</ChrgBr>", "<ChrgBr>DEBT</ChrgBr>", 1), pi + "/ChrgBr", errs.Invalid},
		{"ErrSvcLvl", strings.Replace(good, "<Cd>SEPA</Cd>", "<Cd>URGP</Cd>", 1), pi + "/PmtTpInf/SvcLvl/Cd", errs.Invalid},
		{"ErrTwoBlocks", strings.Replace(good, "</PmtInf>", "</PmtInf><PmtInf><PmtInfId>X</PmtInfId></PmtInf>", 1), pi, errs.Invalid},
		{"ErrNamespace", strings.Replace(good, "pain.001.001.09", "pain.001.001.12", 1), "Document", errs.Invalid},
		{"ErrRoot", strings.Replace(strings.Replace(good, "<Document", "<Doc", 1), "</Document>", "</Doc>", 1), "Doc", errs.Invalid},
		{"ErrTruncated", good[:strings.Index(good, "<CdtrAgt>")+len("<CdtrAgt>")], pi + "/CdtTrfTxInf[1]/CdtrAgt", errs.Invalid},
		{"ErrTrailingContent", good + "<Document/>", "", errs.Invalid},
		{"ErrEmpty", "  \n", "", errs.Invalid},
		{"ErrEntity", strings.Replace(good, "<MsgId>OFII-2026-04-0001", "<MsgId>&xxe;", 1), grp + "/MsgId", errs.Invalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tt.doc))
			if err == nil {
				t.Fatal("Read accepted the file")
			}
			if got := fieldOf(err); got != tt.field || !errs.Is(err, tt.code) {
				t.Errorf("Read = %v (field %q), want a %s error on %q", err, got, tt.code, tt.field)
			}
			if !strings.HasPrefix(err.Error(), "read pain.001: ") {
				t.Errorf("the error %q does not say what was being done", err)
			}
		})
	}
}

// replaceNth replaces the n-th occurrence (from 1) of old in s.
func replaceNth(s, old, new string, n int) string {
	i := -1
	for range n {
		j := strings.Index(s[i+1:], old)
		if j < 0 {
			return s
		}
		i += 1 + j
	}
	return s[:i] + new + s[i+len(old):]
}

func TestReadTooLarge(t *testing.T) {
	r := io.MultiReader(strings.NewReader("<Document>"), &comments{})
	_, err := Read(io.LimitReader(r, MaxFileSize+10))
	if !errs.Is(err, errs.TooLarge) {
		t.Fatalf("Read of a file over %d bytes = %v, want a too_large error", MaxFileSize, err)
	}
}

// comments is an endless reader of empty comments, which no limit on
// elements, depth or text stops.
type comments struct{ n int }

func (c *comments) Read(p []byte) (int, error) {
	const s = "<!---->"
	for i := range p {
		p[i] = s[c.n%len(s)]
		c.n++
	}
	return len(p), nil
}

func TestReadIOError(t *testing.T) {
	boom := errors.New("boom")
	_, err := Read(io.MultiReader(strings.NewReader("<Document"), errReader{boom}))
	if !errors.Is(err, boom) || errs.Is(err, errs.Invalid) {
		t.Fatalf("Read = %v, want the reader's error, internal", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func ExampleWrite() {
	m := Message{
		Version:         Pain001V09,
		MsgID:           "OFII-2026-04-0002",
		CreatedAt:       time.Date(2026, 4, 2, 9, 30, 0, 0, time.UTC),
		InitiatingParty: "OFII",
		PmtInfID:        "PI-2026-04-0002",
		ExecutionDate:   NextBusinessDay(ledger.NewDate(2026, time.April, 3)), // Good Friday
		Debtor:          Party{Name: "OFII", IBAN: "FR7630006000011234567890189", BIC: "BDFEFRPPCCT"},
		CategoryPurpose: "SSBE",
		Payments: []Payment{{
			EndToEndID: "ADA-2026-03-000004",
			Amount:     decimal.RequireFromString("250.5"),
			Creditor:   Party{Name: "Noël Ça", IBAN: "BE68539007547034"},
		}},
	}
	var buf bytes.Buffer
	if err := Write(&buf, m); err != nil {
		fmt.Println(err)
		return
	}
	back, _ := Read(&buf)
	fmt.Println(back.ExecutionDate, back.Payments[0].Creditor.Name, back.Payments[0].Amount.StringFixed(2))
	// Output: 2026-04-07 Noel Ca 250.50
}
