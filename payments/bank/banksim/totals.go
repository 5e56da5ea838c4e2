package banksim

import (
	"bytes"
	"encoding/xml"
	"errors"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"
)

// totals is what the bank reads of a pain.001 that sepa.Read refused, to
// tell a file whose NbOfTxs or CtrlSum disagree with its transactions (which
// it takes and rejects whole with AM18 or AM10, as a bank does) from one it
// cannot read at all (refused with FF01).
type totals struct {
	version  string // pain.001.001.09...
	msgID    string
	pmtInfID string
	reason   string // AM18, AM10, or "" when the totals agree
	txs      []ReceivedTx
}

// readTotals reads the identifiers, totals and transactions of a pain.001
// of one payment information block. It fails when the file lacks any of
// them.
func readTotals(body []byte) (totals, error) {
	var doc struct {
		XMLName xml.Name
		GrpHdr  struct {
			MsgID   string `xml:"MsgId"`
			NbOfTxs string `xml:"NbOfTxs"`
			CtrlSum string `xml:"CtrlSum"`
		} `xml:"CstmrCdtTrfInitn>GrpHdr"`
		PmtInf []struct {
			PmtInfID string `xml:"PmtInfId"`
			NbOfTxs  string `xml:"NbOfTxs"`
			CtrlSum  string `xml:"CtrlSum"`
			Tx       []struct {
				EndToEndID string `xml:"PmtId>EndToEndId"`
				Amount     string `xml:"Amt>InstdAmt"`
			} `xml:"CdtTrfTxInf"`
		} `xml:"CstmrCdtTrfInitn>PmtInf"`
	}
	if err := xml.NewDecoder(bytes.NewReader(body)).Decode(&doc); err != nil {
		return totals{}, err
	}
	if len(doc.PmtInf) != 1 || strings.TrimSpace(doc.GrpHdr.MsgID) == "" {
		return totals{}, errors.New("not a pain.001 of one payment information block")
	}
	pi := doc.PmtInf[0]
	t := totals{
		version:  strings.TrimPrefix(doc.XMLName.Space, "urn:iso:std:iso:20022:tech:xsd:"),
		msgID:    strings.TrimSpace(doc.GrpHdr.MsgID),
		pmtInfID: strings.TrimSpace(pi.PmtInfID),
	}
	sum := decimal.Zero
	for _, tx := range pi.Tx {
		a, err := decimal.NewFromString(strings.TrimSpace(tx.Amount))
		if err != nil {
			return totals{}, err
		}
		sum = sum.Add(a)
		t.txs = append(t.txs, ReceivedTx{EndToEndID: strings.TrimSpace(tx.EndToEndID), Amount: a})
	}
	n := len(pi.Tx)
	countOK := func(s string, required bool) bool {
		s = strings.TrimSpace(s)
		if s == "" {
			return !required
		}
		v, err := strconv.Atoi(s)
		return err == nil && v == n
	}
	sumOK := func(s string) bool {
		s = strings.TrimSpace(s)
		if s == "" {
			return true
		}
		v, err := decimal.NewFromString(s)
		return err == nil && v.Equal(sum)
	}
	switch {
	case !countOK(doc.GrpHdr.NbOfTxs, true) || !countOK(pi.NbOfTxs, false):
		t.reason = "AM18"
	case !sumOK(doc.GrpHdr.CtrlSum) || !sumOK(pi.CtrlSum):
		t.reason = "AM10"
	}
	return t, nil
}
