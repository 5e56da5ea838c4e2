package sepa

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
)

// The namespaces of the pain.001 versions.
const (
	nsPain001V09 = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"
	nsPain001V03 = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"
)

// maxCtrlSum bounds the sum of a message's amounts: a CtrlSum has at most
// 18 digits, two of them decimals.
var maxCtrlSum = decimal.New(1, 16)

// Known reports whether v is a version Write and Read handle.
func (v Version) Known() bool { return v == Pain001V09 || v == Pain001V03 }

// namespace returns the XML namespace of v.
func (v Version) namespace() string {
	if v == Pain001V03 {
		return nsPain001V03
	}
	return nsPain001V09
}

// The pain.001 document, in the elements this service writes and reads. One
// set of structs serves both versions: the few differences (ReqdExctnDt a
// bare date or a Dt, BIC or BICFI) are fields of which only one is set.
type (
	p001Document struct {
		XMLName xml.Name
		Xmlns   string    `xml:"xmlns,attr,omitempty"`
		Initn   p001Initn `xml:"CstmrCdtTrfInitn"`
	}
	p001Initn struct {
		GrpHdr p001GrpHdr   `xml:"GrpHdr"`
		PmtInf []p001PmtInf `xml:"PmtInf"`
	}
	p001GrpHdr struct {
		MsgID    string    `xml:"MsgId"`
		CreDtTm  string    `xml:"CreDtTm"`
		NbOfTxs  string    `xml:"NbOfTxs"`
		CtrlSum  string    `xml:"CtrlSum,omitempty"`
		InitgPty p001Party `xml:"InitgPty"`
	}
	p001PmtInf struct {
		PmtInfID    string        `xml:"PmtInfId"`
		PmtMtd      string        `xml:"PmtMtd"`
		BtchBookg   string        `xml:"BtchBookg,omitempty"`
		NbOfTxs     string        `xml:"NbOfTxs,omitempty"`
		CtrlSum     string        `xml:"CtrlSum,omitempty"`
		PmtTpInf    *p001PmtTpInf `xml:"PmtTpInf,omitempty"`
		ReqdExctnDt p001Date      `xml:"ReqdExctnDt"`
		Dbtr        p001Party     `xml:"Dbtr"`
		DbtrAcct    p001Account   `xml:"DbtrAcct"`
		DbtrAgt     p001Agent     `xml:"DbtrAgt"`
		ChrgBr      string        `xml:"ChrgBr,omitempty"`
		CdtTrfTxInf []p001Tx      `xml:"CdtTrfTxInf"`
	}
	p001PmtTpInf struct {
		SvcLvl   *p001Code `xml:"SvcLvl,omitempty"`
		CtgyPurp *p001Code `xml:"CtgyPurp,omitempty"`
	}
	p001Code struct {
		Cd string `xml:"Cd"`
	}
	// p001Date is ReqdExctnDt: a bare date in .03, a Dt (or DtTm) in .09.
	p001Date struct {
		Text string `xml:",chardata"`
		Dt   string `xml:"Dt,omitempty"`
		DtTm string `xml:"DtTm,omitempty"`
	}
	p001Party struct {
		Nm string `xml:"Nm,omitempty"`
	}
	p001Account struct {
		ID struct {
			IBAN string `xml:"IBAN"`
		} `xml:"Id"`
	}
	p001Agent struct {
		FinInstnID struct {
			BICFI string `xml:"BICFI,omitempty"` // .09
			BIC   string `xml:"BIC,omitempty"`   // .03
		} `xml:"FinInstnId"`
	}
	p001Tx struct {
		PmtID struct {
			EndToEndID string `xml:"EndToEndId"`
		} `xml:"PmtId"`
		Amt struct {
			InstdAmt p001Amount `xml:"InstdAmt"`
		} `xml:"Amt"`
		ChrgBr   string      `xml:"ChrgBr,omitempty"`
		CdtrAgt  *p001Agent  `xml:"CdtrAgt,omitempty"`
		Cdtr     p001Party   `xml:"Cdtr"`
		CdtrAcct p001Account `xml:"CdtrAcct"`
		Purp     *p001Code   `xml:"Purp,omitempty"`
		RmtInf   *p001Remitt `xml:"RmtInf,omitempty"`
	}
	p001Amount struct {
		Ccy   string `xml:"Ccy,attr"`
		Value string `xml:",chardata"`
	}
	p001Remitt struct {
		Ustrd []string `xml:"Ustrd"`
	}
)

// Validate checks m against the SEPA rules the schemas do not check, and a
// few they do, so that a bank has no reason to refuse the file: a known
// version; MsgId, PmtInfId and every EndToEndId valid identifiers
// (CheckID), the EndToEndIds unique within the message; a creation time; an
// execution date on a TARGET2 business day; names that keep at least one
// character once cleaned (they are cut to 70); the debtor's IBAN and BIC and
// every creditor's IBAN valid; a creditor BIC valid when given; remittance
// text of at most 140 characters once cleaned; category purpose SSBE or
// GOVT; at least one payment and every amount valid (CheckAmount). The
// error is the first fault found and names its field, "payments[3].amount"
// for instance.
func Validate(m Message) error {
	if !m.Version.Known() {
		return errs.Field("version", "%q is not a pain.001 version this service writes (%s or %s)", m.Version, Pain001V09, Pain001V03)
	}
	if err := CheckID("msg_id", m.MsgID); err != nil {
		return err
	}
	if err := checkDateTime("created_at", m.CreatedAt); err != nil {
		return err
	}
	if err := checkName("initiating_party", m.InitiatingParty); err != nil {
		return err
	}
	if err := CheckID("pmt_inf_id", m.PmtInfID); err != nil {
		return err
	}
	if err := checkExecutionDate(m.ExecutionDate); err != nil {
		return err
	}
	if err := checkName("debtor.name", m.Debtor.Name); err != nil {
		return err
	}
	if err := checkIBAN("debtor.iban", m.Debtor.IBAN); err != nil {
		return err
	}
	if err := checkBIC("debtor.bic", m.Debtor.BIC, m.Version); err != nil {
		return err
	}
	switch m.CategoryPurpose {
	case "SSBE", "GOVT":
	case "":
		return errs.Field("category_purpose", "is required (SSBE for social security benefits, or GOVT)")
	default:
		return errs.Field("category_purpose", "%q is neither SSBE nor GOVT", m.CategoryPurpose)
	}
	if len(m.Payments) == 0 {
		return errs.Field("payments", "a message needs at least one payment")
	}
	seen := make(map[string]int, len(m.Payments))
	sum := decimal.Zero
	for i, p := range m.Payments {
		field := fmt.Sprintf("payments[%d]", i)
		if err := checkPayment(field, p, m.Version, false); err != nil {
			return err
		}
		if j, dup := seen[p.EndToEndID]; dup {
			return errs.Field(field+".end_to_end_id", "%q is already the id of payments[%d]: an EndToEndId is unique within a message", p.EndToEndID, j)
		}
		seen[p.EndToEndID] = i
		sum = sum.Add(p.Amount)
	}
	if sum.GreaterThanOrEqual(maxCtrlSum) {
		return errs.Field("payments", "the amounts sum to %s EUR, more than a control sum can hold: split the message", sum.StringFixed(2))
	}
	return nil
}

// CheckPayment checks one payment as a payment file of version v would
// carry it, and more strictly than Validate for the creditor's name: a
// name with a letter of another script than the Latin, or a sign no bank
// takes, is refused rather than written without it (CheckName). A release
// checks every line so before it writes its first file, and holds the
// lines that fail. The error names the field: end_to_end_id, amount,
// creditor.name, creditor.iban, creditor.bic or remittance.
func CheckPayment(p Payment, v Version) error { return checkPayment("", p, v, true) }

// checkPayment checks payment p, its fields named under prefix; strict
// applies CheckName to the creditor's name.
func checkPayment(prefix string, p Payment, v Version, strict bool) error {
	field := func(name string) string {
		if prefix == "" {
			return name
		}
		return prefix + "." + name
	}
	if err := CheckID(field("end_to_end_id"), p.EndToEndID); err != nil {
		return err
	}
	if err := CheckAmount(field("amount"), p.Amount); err != nil {
		return err
	}
	if strict && p.Creditor.Name != "" {
		if err := CheckName(field("creditor.name"), p.Creditor.Name); err != nil {
			return err
		}
	}
	if err := checkName(field("creditor.name"), p.Creditor.Name); err != nil {
		return err
	}
	if err := checkIBAN(field("creditor.iban"), p.Creditor.IBAN); err != nil {
		return err
	}
	if p.Creditor.BIC != "" {
		if err := checkBIC(field("creditor.bic"), p.Creditor.BIC, v); err != nil {
			return err
		}
	}
	if n := utf8.RuneCountInString(Clean(p.Remittance, 0)); n > MaxRemittanceLength {
		return errs.Field(field("remittance"), "has %d characters once transliterated: remittance text has at most %d", n, MaxRemittanceLength)
	}
	return nil
}

// checkName checks that a name keeps at least one character once cleaned.
func checkName(field, name string) error {
	if Clean(name, MaxNameLength) == "" {
		if name == "" {
			return errs.Field(field, "is required")
		}
		return errs.Field(field, "%q has no character the SEPA character set can carry", name)
	}
	return nil
}

// checkExecutionDate checks that d is a TARGET2 business day.
func checkExecutionDate(d ledger.Date) error {
	if d.IsZero() {
		return errs.Field("execution_date", "is required")
	}
	if y := d.Time().Year(); y < 2000 || y > 9999 {
		return errs.Field("execution_date", "%s is outside the years 2000 to 9999", d)
	}
	if why := closedBecause(d); why != "" {
		return errs.Field("execution_date", "%s is %s, when TARGET2 is closed: the next business day is %s", d, why, NextBusinessDay(d))
	}
	return nil
}

// Write validates m (Validate) and writes it as a pain.001 file of m's
// version, or writes nothing when m is invalid. Names and remittance text
// are transliterated by Clean (names cut to 70 characters); NbOfTxs and
// CtrlSum are computed at the group and PmtInf levels; amounts are written
// in euros with exactly two decimals; CreDtTm is written to the second with
// its offset. The payment information block is a SEPA credit transfer
// (PmtTpInf/SvcLvl/Cd SEPA) with the message's category purpose, charges
// shared (ChrgBr SLEV, given once for the block) and purpose BENE on each
// transaction. The same message always gives the same bytes.
func Write(w io.Writer, m Message) error {
	if err := Validate(m); err != nil {
		return fmt.Errorf("write pain.001 %q: %w", m.MsgID, err)
	}
	b, err := marshal(pain001Document(m))
	if err != nil {
		return fmt.Errorf("write pain.001 %s: %w", m.MsgID, err)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write pain.001 %s: %w", m.MsgID, err)
	}
	return nil
}

// pain001Document builds the document of a valid message.
func pain001Document(m Message) p001Document {
	sum := decimal.Zero
	for _, p := range m.Payments {
		sum = sum.Add(p.Amount)
	}
	count := strconv.Itoa(len(m.Payments))
	ctrl := sum.StringFixed(2)

	pi := p001PmtInf{
		PmtInfID:  m.PmtInfID,
		PmtMtd:    "TRF",
		BtchBookg: strconv.FormatBool(m.BatchBooking),
		NbOfTxs:   count,
		CtrlSum:   ctrl,
		PmtTpInf: &p001PmtTpInf{
			SvcLvl:   &p001Code{Cd: "SEPA"},
			CtgyPurp: &p001Code{Cd: m.CategoryPurpose},
		},
		Dbtr:    p001Party{Nm: Clean(m.Debtor.Name, MaxNameLength)},
		DbtrAgt: agent(m.Version, m.Debtor.BIC),
		ChrgBr:  "SLEV",
	}
	if m.Version == Pain001V03 {
		pi.ReqdExctnDt.Text = m.ExecutionDate.String()
	} else {
		pi.ReqdExctnDt.Dt = m.ExecutionDate.String()
	}
	pi.DbtrAcct.ID.IBAN = m.Debtor.IBAN
	pi.CdtTrfTxInf = make([]p001Tx, len(m.Payments))
	for i, p := range m.Payments {
		tx := &pi.CdtTrfTxInf[i]
		tx.PmtID.EndToEndID = p.EndToEndID
		tx.Amt.InstdAmt = p001Amount{Ccy: "EUR", Value: p.Amount.StringFixed(2)}
		if p.Creditor.BIC != "" {
			a := agent(m.Version, p.Creditor.BIC)
			tx.CdtrAgt = &a
		}
		tx.Cdtr.Nm = Clean(p.Creditor.Name, MaxNameLength)
		tx.CdtrAcct.ID.IBAN = p.Creditor.IBAN
		tx.Purp = &p001Code{Cd: "BENE"}
		if r := Clean(p.Remittance, MaxRemittanceLength); r != "" {
			tx.RmtInf = &p001Remitt{Ustrd: []string{r}}
		}
	}
	return p001Document{
		XMLName: xml.Name{Local: "Document"},
		Xmlns:   m.Version.namespace(),
		Initn: p001Initn{
			GrpHdr: p001GrpHdr{
				MsgID:    m.MsgID,
				CreDtTm:  m.CreatedAt.Format("2006-01-02T15:04:05Z07:00"),
				NbOfTxs:  count,
				CtrlSum:  ctrl,
				InitgPty: p001Party{Nm: Clean(m.InitiatingParty, MaxNameLength)},
			},
			PmtInf: []p001PmtInf{pi},
		},
	}
}

// agent identifies a bank by its BIC in the element of version v.
func agent(v Version, bic string) p001Agent {
	var a p001Agent
	if v == Pain001V03 {
		a.FinInstnID.BIC = bic
	} else {
		a.FinInstnID.BICFI = bic
	}
	return a
}

// marshal writes v as an indented XML document with its declaration.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(xmlHeader)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode XML: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// The paths of the elements Read names in its errors.
const (
	path001Root   = "Document/CstmrCdtTrfInitn"
	path001GrpHdr = path001Root + "/GrpHdr"
	path001PmtInf = path001Root + "/PmtInf"
)

// Read reads a pain.001.001.09 or pain.001.001.03 file with one payment
// information block, as Write writes them; the bank simulator reads what
// the service sends with it. It refuses a file over MaxFileSize, one that
// is not well-formed XML, of another message or version, with several
// payment information blocks, a payment method other than TRF, a service
// level other than SEPA, charges other than SLEV, an amount not in EUR, or
// NbOfTxs or CtrlSum disagreeing with the transactions; the error names the
// element, "Document/CstmrCdtTrfInitn/GrpHdr/CtrlSum" for instance. Read
// does not apply the SEPA rules: call Validate on the message for them.
// Names and texts are returned as written.
func Read(r io.Reader) (Message, error) {
	m, err := read001(r)
	if err != nil {
		return Message{}, fmt.Errorf("read pain.001: %w", err)
	}
	return m, nil
}

func read001(r io.Reader) (Message, error) {
	var err error
	var doc p001Document
	if err := decode(r, MaxElements001, &doc); err != nil {
		return Message{}, err
	}
	var m Message
	switch ns := doc.XMLName.Space; {
	case doc.XMLName.Local != "Document":
		return Message{}, errs.Field(doc.XMLName.Local, "the root element is %s, not Document", doc.XMLName.Local)
	case ns == nsPain001V09:
		m.Version = Pain001V09
	case ns == nsPain001V03:
		m.Version = Pain001V03
	default:
		return Message{}, errs.Field("Document", "the namespace %q is not that of %s or %s", truncate(ns, 80), Pain001V09, Pain001V03)
	}

	g := doc.Initn.GrpHdr
	if m.MsgID = text(g.MsgID); m.MsgID == "" {
		return Message{}, errs.Field(path001GrpHdr+"/MsgId", "is missing")
	}
	if m.CreatedAt, err = parseDateTime(path001GrpHdr+"/CreDtTm", text(g.CreDtTm)); err != nil {
		return Message{}, err
	}
	m.InitiatingParty = text(g.InitgPty.Nm)

	switch n := len(doc.Initn.PmtInf); {
	case n == 0:
		return Message{}, errs.Field(path001PmtInf, "is missing")
	case n > 1:
		return Message{}, errs.Field(path001PmtInf, "the file has %d payment information blocks: this service reads files of one", n)
	}
	pi := doc.Initn.PmtInf[0]
	if m.PmtInfID = text(pi.PmtInfID); m.PmtInfID == "" {
		return Message{}, errs.Field(path001PmtInf+"/PmtInfId", "is missing")
	}
	if mtd := text(pi.PmtMtd); mtd != "TRF" {
		return Message{}, errs.Field(path001PmtInf+"/PmtMtd", "%q is not TRF, a credit transfer", truncate(mtd, 40))
	}
	switch bb := text(pi.BtchBookg); bb {
	case "true", "1":
		m.BatchBooking = true
	case "false", "0", "":
	default:
		return Message{}, errs.Field(path001PmtInf+"/BtchBookg", "%q is neither true nor false", truncate(bb, 40))
	}
	if tp := pi.PmtTpInf; tp != nil {
		if tp.SvcLvl != nil {
			if cd := text(tp.SvcLvl.Cd); cd != "SEPA" {
				return Message{}, errs.Field(path001PmtInf+"/PmtTpInf/SvcLvl/Cd", "%q is not SEPA", truncate(cd, 40))
			}
		}
		if tp.CtgyPurp != nil {
			m.CategoryPurpose = text(tp.CtgyPurp.Cd)
		}
	}
	if m.ExecutionDate, err = readExecutionDate(m.Version, pi.ReqdExctnDt); err != nil {
		return Message{}, err
	}
	m.Debtor = Party{
		Name: text(pi.Dbtr.Nm),
		IBAN: text(pi.DbtrAcct.ID.IBAN),
		BIC:  bicOf(pi.DbtrAgt),
	}
	if m.Debtor.IBAN == "" {
		return Message{}, errs.Field(path001PmtInf+"/DbtrAcct/Id/IBAN", "is missing")
	}
	if cb := text(pi.ChrgBr); cb != "" && cb != "SLEV" {
		return Message{}, errs.Field(path001PmtInf+"/ChrgBr", "%q is not SLEV, the charges SEPA requires", truncate(cb, 40))
	}
	if len(pi.CdtTrfTxInf) == 0 {
		return Message{}, errs.Field(path001PmtInf+"/CdtTrfTxInf", "is missing")
	}

	sum := decimal.Zero
	m.Payments = make([]Payment, len(pi.CdtTrfTxInf))
	for i, tx := range pi.CdtTrfTxInf {
		path := fmt.Sprintf("%s/CdtTrfTxInf[%d]", path001PmtInf, i+1)
		p := &m.Payments[i]
		if p.EndToEndID = text(tx.PmtID.EndToEndID); p.EndToEndID == "" {
			return Message{}, errs.Field(path+"/PmtId/EndToEndId", "is missing")
		}
		if p.Amount, err = parseDecimal(path+"/Amt/InstdAmt", text(tx.Amt.InstdAmt.Value)); err != nil {
			return Message{}, err
		}
		if ccy := text(tx.Amt.InstdAmt.Ccy); ccy != "EUR" {
			return Message{}, errs.Field(path+"/Amt/InstdAmt/@Ccy", "%q is not EUR", truncate(ccy, 40))
		}
		sum = sum.Add(p.Amount)
		if cb := text(tx.ChrgBr); cb != "" && cb != "SLEV" {
			return Message{}, errs.Field(path+"/ChrgBr", "%q is not SLEV, the charges SEPA requires", truncate(cb, 40))
		}
		p.Creditor = Party{Name: text(tx.Cdtr.Nm), IBAN: text(tx.CdtrAcct.ID.IBAN)}
		if tx.CdtrAgt != nil {
			p.Creditor.BIC = bicOf(*tx.CdtrAgt)
		}
		if p.Creditor.IBAN == "" {
			return Message{}, errs.Field(path+"/CdtrAcct/Id/IBAN", "is missing")
		}
		if tx.RmtInf != nil {
			if n := len(tx.RmtInf.Ustrd); n > 1 {
				return Message{}, errs.Field(path+"/RmtInf/Ustrd", "occurs %d times: SEPA allows one", n)
			} else if n == 1 {
				p.Remittance = text(tx.RmtInf.Ustrd[0])
			}
		}
	}

	n := len(m.Payments)
	if err := checkTotals(path001GrpHdr, g.NbOfTxs, g.CtrlSum, n, sum, true); err != nil {
		return Message{}, err
	}
	if err := checkTotals(path001PmtInf, pi.NbOfTxs, pi.CtrlSum, n, sum, false); err != nil {
		return Message{}, err
	}
	return m, nil
}

// readExecutionDate reads ReqdExctnDt: a bare date in .03; a Dt, or a DtTm
// whose date is taken, in .09.
func readExecutionDate(v Version, d p001Date) (ledger.Date, error) {
	path := path001PmtInf + "/ReqdExctnDt"
	var s string
	switch {
	case v == Pain001V03:
		s = text(d.Text)
	case text(d.Dt) != "":
		path += "/Dt"
		s = text(d.Dt)
	case text(d.DtTm) != "":
		t, err := parseDateTime(path+"/DtTm", text(d.DtTm))
		if err != nil {
			return ledger.Date{}, err
		}
		return ledger.DateOf(t), nil
	case text(d.Text) != "":
		return ledger.Date{}, errs.Field(path, "in %s the date is written in a Dt element", v)
	}
	if s == "" {
		return ledger.Date{}, errs.Field(path, "is missing")
	}
	date, err := ledger.ParseDate(s)
	if err != nil {
		return ledger.Date{}, errs.Field(path, "%q is not a date of the form 2006-01-02", truncate(s, 40))
	}
	return date, nil
}

// bicOf returns the BIC of an agent, in BICFI (.09) or BIC (.03).
func bicOf(a p001Agent) string {
	if bic := text(a.FinInstnID.BICFI); bic != "" {
		return bic
	}
	return text(a.FinInstnID.BIC)
}

// checkTotals checks the NbOfTxs and CtrlSum of a group header or payment
// information block at path against the n transactions summing to sum.
// NbOfTxs is required in a group header; both are optional otherwise.
func checkTotals(path, nbOfTxs, ctrlSum string, n int, sum decimal.Decimal, nbRequired bool) error {
	if nb := text(nbOfTxs); nb != "" || nbRequired {
		got, err := parseCount(path+"/NbOfTxs", nb)
		if err != nil {
			return err
		}
		if got != n {
			return errs.Field(path+"/NbOfTxs", "says %d transactions, the file has %d", got, n)
		}
	}
	if cs := text(ctrlSum); cs != "" {
		got, err := parseDecimal(path+"/CtrlSum", cs)
		if err != nil {
			return err
		}
		if !got.Equal(sum) {
			return errs.Field(path+"/CtrlSum", "says %s, the transactions sum to %s", got.String(), sum.StringFixed(2))
		}
	}
	return nil
}
