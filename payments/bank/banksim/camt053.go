package banksim

import (
	"encoding/xml"
	"io"
	"time"

	"github.com/shopspring/decimal"
)

// The camt.053.001.08 document, reduced to the elements the simulator
// fills, in the order of the schema.

type camtDocument struct {
	XMLName xml.Name          `xml:"urn:iso:std:iso:20022:tech:xsd:camt.053.001.08 Document"`
	Stmt    camtBkToCstmrStmt `xml:"BkToCstmrStmt"`
}

type camtBkToCstmrStmt struct {
	GrpHdr camtGrpHdr    `xml:"GrpHdr"`
	Stmt   camtStatement `xml:"Stmt"`
}

type camtGrpHdr struct {
	MsgID   string `xml:"MsgId"`
	CreDtTm string `xml:"CreDtTm"`
}

type camtStatement struct {
	ID           string        `xml:"Id"`
	ElctrncSeqNb int           `xml:"ElctrncSeqNb"`
	CreDtTm      string        `xml:"CreDtTm"`
	Acct         camtAccount   `xml:"Acct"`
	Bal          []camtBalance `xml:"Bal"`
	Ntry         []camtEntry   `xml:"Ntry"`
}

type camtAccount struct {
	IBAN string `xml:"Id>IBAN"`
	Ccy  string `xml:"Ccy,omitempty"`
}

type camtBalance struct {
	Cd        string     `xml:"Tp>CdOrPrtry>Cd"`
	Amt       camtAmount `xml:"Amt"`
	CdtDbtInd string     `xml:"CdtDbtInd"`
	Dt        string     `xml:"Dt>Dt"`
}

// camtAmount is an amount in EUR with exactly two decimals.
type camtAmount struct {
	Ccy   string `xml:"Ccy,attr"`
	Value string `xml:",chardata"`
}

func eur(d decimal.Decimal) camtAmount { return camtAmount{Ccy: "EUR", Value: d.StringFixed(2)} }

func eurPtr(d decimal.Decimal) *camtAmount {
	a := eur(d)
	return &a
}

type camtEntry struct {
	Amt         camtAmount     `xml:"Amt"`
	CdtDbtInd   string         `xml:"CdtDbtInd"`
	Sts         string         `xml:"Sts>Cd"`
	BookgDt     string         `xml:"BookgDt>Dt"`
	ValDt       string         `xml:"ValDt>Dt"`
	AcctSvcrRef string         `xml:"AcctSvcrRef"`
	BkTxCd      camtBkTxCd     `xml:"BkTxCd"`
	NtryDtls    *camtEntryDtls `xml:"NtryDtls,omitempty"`
	AddtlInf    string         `xml:"AddtlNtryInf,omitempty"`
}

type camtBkTxCd struct {
	Domn      string `xml:"Domn>Cd"`
	Fmly      string `xml:"Domn>Fmly>Cd"`
	SubFmlyCd string `xml:"Domn>Fmly>SubFmlyCd"`
}

type camtEntryDtls struct {
	Btch   *camtBatch   `xml:"Btch,omitempty"`
	TxDtls []camtTxDtls `xml:"TxDtls"`
}

type camtBatch struct {
	MsgID     string      `xml:"MsgId"`
	PmtInfID  string      `xml:"PmtInfId"`
	NbOfTxs   int         `xml:"NbOfTxs"`
	TtlAmt    *camtAmount `xml:"TtlAmt"`
	CdtDbtInd string      `xml:"CdtDbtInd"`
}

type camtTxDtls struct {
	Refs      camtRefs        `xml:"Refs"`
	Amt       *camtAmount     `xml:"Amt,omitempty"`
	CdtDbtInd string          `xml:"CdtDbtInd,omitempty"`
	RltdPties *camtParties    `xml:"RltdPties,omitempty"`
	RmtInf    *camtRemittance `xml:"RmtInf,omitempty"`
	RtrInf    *camtReturnInfo `xml:"RtrInf,omitempty"`
}

type camtRefs struct {
	MsgID      string `xml:"MsgId,omitempty"`
	PmtInfID   string `xml:"PmtInfId,omitempty"`
	EndToEndID string `xml:"EndToEndId,omitempty"`
}

type camtParties struct {
	Cdtr     string `xml:"Cdtr>Pty>Nm,omitempty"`
	CdtrIBAN string `xml:"CdtrAcct>Id>IBAN,omitempty"`
}

type camtRemittance struct {
	Ustrd string `xml:"Ustrd"`
}

// remittance is the RmtInf of a transfer's text, nil when it has none.
func remittance(s string) *camtRemittance {
	if s == "" {
		return nil
	}
	return &camtRemittance{Ustrd: s}
}

type camtReturnInfo struct {
	Rsn string `xml:"Rsn>Cd"`
}

// writeCamt053 writes doc with its XML declaration.
func writeCamt053(w io.Writer, doc camtDocument) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// isoDateTime writes t as xs:dateTime with its offset.
func isoDateTime(t time.Time) string { return t.Format("2006-01-02T15:04:05-07:00") }
