package sepa

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ofii/allowances/internal/errs"
)

// The namespaces of the pain.002 versions ReadStatusReport reads; it writes
// the first. Version .03 holds the elements the service needs at the same
// places.
const (
	nsPain002V10 = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"
	nsPain002V03 = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"
)

// The pain.002 document, in the elements this service reads and writes.
type (
	p002Document struct {
		XMLName xml.Name
		Xmlns   string     `xml:"xmlns,attr,omitempty"`
		Rpt     p002Report `xml:"CstmrPmtStsRpt"`
	}
	p002Report struct {
		GrpHdr            p002GrpHdr   `xml:"GrpHdr"`
		OrgnlGrpInfAndSts p002OrgnlGrp `xml:"OrgnlGrpInfAndSts"`
		OrgnlPmtInfAndSts []p002PmtInf `xml:"OrgnlPmtInfAndSts"`
	}
	p002GrpHdr struct {
		MsgID   string `xml:"MsgId"`
		CreDtTm string `xml:"CreDtTm"`
	}
	p002OrgnlGrp struct {
		OrgnlMsgID   string       `xml:"OrgnlMsgId"`
		OrgnlMsgNmID string       `xml:"OrgnlMsgNmId"`
		GrpSts       string       `xml:"GrpSts,omitempty"`
		StsRsnInf    []p002Reason `xml:"StsRsnInf"`
	}
	p002PmtInf struct {
		OrgnlPmtInfID string       `xml:"OrgnlPmtInfId"`
		PmtInfSts     string       `xml:"PmtInfSts,omitempty"`
		StsRsnInf     []p002Reason `xml:"StsRsnInf"`
		TxInfAndSts   []p002Tx     `xml:"TxInfAndSts"`
	}
	p002Tx struct {
		OrgnlEndToEndID string       `xml:"OrgnlEndToEndId"`
		TxSts           string       `xml:"TxSts,omitempty"`
		StsRsnInf       []p002Reason `xml:"StsRsnInf"`
	}
	p002Reason struct {
		Rsn *p002ReasonCode `xml:"Rsn,omitempty"`
	}
	p002ReasonCode struct {
		Cd    string `xml:"Cd,omitempty"`
		Prtry string `xml:"Prtry,omitempty"` // read, ignored
	}
)

// The paths of the elements ReadStatusReport names in its errors.
const (
	path002Root  = "Document/CstmrPmtStsRpt"
	path002Hdr   = path002Root + "/GrpHdr"
	path002Group = path002Root + "/OrgnlGrpInfAndSts"
)

// ReadStatusReport reads a pain.002.001.10 payment status report (or one of
// .001.03, whose elements the service needs are the same). It refuses a
// file over MaxFileSize, one that is not well-formed XML, of another
// message, or breaking the rules the service relies on: MsgId, CreDtTm,
// OrgnlMsgId and OrgnlMsgNmId present; every status one of the nine known
// (PART only for a group or a block); every reason code of 1 to 4 letters
// and digits; every OrgnlPmtInfId present and unique; every transaction row
// with its OrgnlEndToEndId. The error names the element,
// "Document/CstmrPmtStsRpt/OrgnlPmtInfAndSts[1]/TxInfAndSts[2]/TxSts" for
// instance (indexes count from 1). Of several reasons the first code is
// kept; proprietary reasons are ignored. Transactions are listed block by
// block, in the file's order.
func ReadStatusReport(r io.Reader) (StatusReport, error) {
	rep, err := read002(r)
	if err != nil {
		return StatusReport{}, fmt.Errorf("read pain.002: %w", err)
	}
	return rep, nil
}

// read002 reads the report as a stream: the headers whole, each block's
// own elements whole, and its transactions one at a time, each checked and
// kept as a TxStatus only, so that the memory a report takes is that of
// its statuses. The first fault of a block is kept and reported once the
// file is read, after those of the headers, as if the file were read whole
// first: a syntax error anywhere comes before it.
func read002(r io.Reader) (StatusReport, error) {
	var (
		rep      StatusReport
		h        p002GrpHdr
		g        p002OrgnlGrp
		blockErr error
		blocks   int
		seen     = map[string]bool{}
	)
	err := stream(r, MaxElements002, func(d *xml.Decoder, root xml.StartElement) error {
		switch ns := root.Name.Space; {
		case root.Name.Local != "Document":
			name := truncate(root.Name.Local, 40)
			return errs.Field(name, "the root element is %s, not Document", name)
		case ns != nsPain002V10 && ns != nsPain002V03:
			return errs.Field("Document", "the namespace %q is not that of pain.002.001.10 or pain.002.001.03", truncate(ns, 80))
		}
		return children(d, func(s xml.StartElement) error {
			if s.Name.Local != "CstmrPmtStsRpt" {
				return d.Skip()
			}
			return children(d, func(s xml.StartElement) error {
				switch s.Name.Local {
				case "GrpHdr":
					return d.DecodeElement(&h, &s)
				case "OrgnlGrpInfAndSts":
					return d.DecodeElement(&g, &s)
				case "OrgnlPmtInfAndSts":
					blocks++
					before := len(rep.Transactions)
					ps, bad, err := readBlock(d, blocks, seen, &rep.Transactions)
					switch {
					case err != nil:
						return err
					case blockErr != nil:
						rep.Transactions = rep.Transactions[:before]
					case bad != nil:
						blockErr = bad
						rep.Transactions = rep.Transactions[:before]
					default:
						rep.PaymentInfos = append(rep.PaymentInfos, ps)
					}
					return nil
				}
				return d.Skip()
			})
		})
	})
	if err != nil {
		return StatusReport{}, err
	}
	if rep.MsgID, err = readText(path002Hdr+"/MsgId", h.MsgID); err != nil {
		return StatusReport{}, err
	}
	if rep.CreatedAt, err = parseDateTime(path002Hdr+"/CreDtTm", text(h.CreDtTm)); err != nil {
		return StatusReport{}, err
	}
	if rep.OriginalMsgID, err = readText(path002Group+"/OrgnlMsgId", g.OrgnlMsgID); err != nil {
		return StatusReport{}, err
	}
	if rep.OriginalMsgNm, err = readText(path002Group+"/OrgnlMsgNmId", g.OrgnlMsgNmID); err != nil {
		return StatusReport{}, err
	}
	if rep.GroupStatus, err = readStatus(path002Group+"/GrpSts", g.GrpSts, false); err != nil {
		return StatusReport{}, err
	}
	if rep.GroupReason, err = readReasons(path002Group, g.StsRsnInf); err != nil {
		return StatusReport{}, err
	}
	if blockErr != nil {
		return StatusReport{}, blockErr
	}
	return rep, nil
}

// readBlock reads the OrgnlPmtInfAndSts just opened, the i-th, to its end,
// appending its transactions to txs. It returns the block, or in bad the
// first fault of the block: its own elements first, then its transactions
// in order; err is the decoder's failure.
func readBlock(d *xml.Decoder, i int, seen map[string]bool, txs *[]TxStatus) (ps PmtInfStatus, bad, err error) {
	path := fmt.Sprintf("%s/OrgnlPmtInfAndSts[%d]", path002Root, i)
	var (
		pi    p002PmtInf
		txErr error
		j     int
		first = len(*txs)
	)
	err = children(d, func(s xml.StartElement) error {
		switch s.Name.Local {
		case "OrgnlPmtInfId":
			return d.DecodeElement(&pi.OrgnlPmtInfID, &s)
		case "PmtInfSts":
			return d.DecodeElement(&pi.PmtInfSts, &s)
		case "StsRsnInf":
			var r p002Reason
			if err := d.DecodeElement(&r, &s); err != nil {
				return err
			}
			pi.StsRsnInf = append(pi.StsRsnInf, r)
			return nil
		case "TxInfAndSts":
			j++
			var tx p002Tx
			if err := d.DecodeElement(&tx, &s); err != nil {
				return err
			}
			if txErr != nil {
				return nil
			}
			ts, err := readTx(fmt.Sprintf("%s/TxInfAndSts[%d]", path, j), tx)
			if err != nil {
				txErr = err
				*txs = (*txs)[:first]
				return nil
			}
			*txs = append(*txs, ts)
			return nil
		}
		return d.Skip()
	})
	if err != nil {
		return PmtInfStatus{}, nil, err
	}
	if ps.OriginalPmtInfID, bad = readText(path+"/OrgnlPmtInfId", pi.OrgnlPmtInfID); bad != nil {
		return PmtInfStatus{}, bad, nil
	}
	if seen[ps.OriginalPmtInfID] {
		return PmtInfStatus{}, errs.Field(path+"/OrgnlPmtInfId", "%q has a block of its own earlier in the report", ps.OriginalPmtInfID), nil
	}
	seen[ps.OriginalPmtInfID] = true
	if ps.Status, bad = readStatus(path+"/PmtInfSts", pi.PmtInfSts, false); bad != nil {
		return PmtInfStatus{}, bad, nil
	}
	if ps.Reason, bad = readReasons(path, pi.StsRsnInf); bad != nil {
		return PmtInfStatus{}, bad, nil
	}
	if txErr != nil {
		return PmtInfStatus{}, txErr, nil
	}
	for k := first; k < len(*txs); k++ {
		(*txs)[k].OriginalPmtInfID = ps.OriginalPmtInfID
	}
	return ps, nil, nil
}

// readTx checks a transaction row at path.
func readTx(path string, tx p002Tx) (TxStatus, error) {
	var ts TxStatus
	var err error
	if ts.OriginalEndToEndID, err = readText(path+"/OrgnlEndToEndId", tx.OrgnlEndToEndID); err != nil {
		return TxStatus{}, err
	}
	if ts.Status, err = readStatus(path+"/TxSts", tx.TxSts, true); err != nil {
		return TxStatus{}, err
	}
	if ts.Reason, err = readReasons(path, tx.StsRsnInf); err != nil {
		return TxStatus{}, err
	}
	return ts, nil
}

// readText reads a required Max35Text element.
func readText(path, s string) (string, error) {
	s = text(s)
	return s, checkText(path, s)
}

// readStatus reads an optional status element; tx says it is a
// transaction's, which cannot be PART.
func readStatus(path, s string, tx bool) (Status, error) {
	st := Status(text(s))
	return st, checkStatus(path, st, tx)
}

// readReasons checks the reason codes of StsRsnInf elements under path and
// returns the first.
func readReasons(path string, rs []p002Reason) (string, error) {
	first := ""
	for i, r := range rs {
		if r.Rsn == nil {
			continue
		}
		cd := text(r.Rsn.Cd)
		if cd == "" {
			continue // a proprietary reason
		}
		if err := checkReason(fmt.Sprintf("%s/StsRsnInf[%d]/Rsn/Cd", path, i+1), cd); err != nil {
			return "", err
		}
		if first == "" {
			first = cd
		}
	}
	return first, nil
}

// checkText checks a required identifier of a report: 1 to 35 characters
// that XML can carry, without white space at either end.
func checkText(field, s string) error {
	switch n := utf8.RuneCountInString(s); {
	case s == "":
		return errs.Field(field, "is missing")
	case n > MaxIDLength:
		return errs.Field(field, "has %d characters: at most %d", n, MaxIDLength)
	case strings.TrimSpace(s) != s:
		return errs.Field(field, "starts or ends with white space")
	}
	for _, r := range s {
		if !isXMLChar(r) {
			return errs.Field(field, "has the character %U, which XML cannot carry", r)
		}
	}
	return nil
}

// isXMLChar reports whether r may appear in an XML 1.0 document.
func isXMLChar(r rune) bool {
	switch {
	case r == utf8.RuneError:
		return false
	case r == '\t' || r == '\n' || r == '\r':
		return true
	case r < 0x20, r >= 0xD800 && r <= 0xDFFF, r == 0xFFFE, r == 0xFFFF:
		return false
	}
	return r <= unicode.MaxRune
}

// checkStatus checks an optional status; tx says it is a transaction's,
// for which PART means nothing.
func checkStatus(field string, s Status, tx bool) error {
	switch {
	case s == "":
		return nil
	case !s.Valid():
		return errs.Field(field, "%q is not a pain.002 status of the external code list (RCVD, PDNG, PRES, BLCK, ACTC, ACCP, ACFC, ACSP, ACPD, ACWC, ACWP, ACSC, ACIS, ACCC, CPUC, PART, PATC, RJCT or CANC)", truncate(string(s), 40))
	case tx && s.Partial():
		return errs.Field(field, "%s is the status of a group or a payment information block, not of a transaction", s)
	}
	return nil
}

// checkReason checks an optional ISO reason code: 1 to 4 capital letters
// and digits.
func checkReason(field, code string) error {
	if len(code) > 4 {
		return errs.Field(field, "%q is not a reason code: a code has 1 to 4 characters", truncate(code, 40))
	}
	for i := range len(code) {
		if !isUpper(code[i]) && !isDigit(code[i]) {
			return errs.Field(field, "%q is not a reason code: a code holds capital letters and digits", truncate(code, 40))
		}
	}
	return nil
}

// validateReport checks what WriteStatusReport needs to write a report
// valid against the schema, and ReadStatusReport to read it back the same.
func validateReport(r StatusReport) error {
	if err := checkText("msg_id", r.MsgID); err != nil {
		return err
	}
	if err := checkDateTime("created_at", r.CreatedAt); err != nil {
		return err
	}
	if err := checkText("original_msg_id", r.OriginalMsgID); err != nil {
		return err
	}
	if err := checkText("original_msg_nm", r.OriginalMsgNm); err != nil {
		return err
	}
	if err := checkStatus("group_status", r.GroupStatus, false); err != nil {
		return err
	}
	if err := checkReason("group_reason", r.GroupReason); err != nil {
		return err
	}
	blocks := make(map[string]bool, len(r.PaymentInfos))
	for i, p := range r.PaymentInfos {
		field := fmt.Sprintf("payment_infos[%d]", i)
		if err := checkText(field+".original_pmt_inf_id", p.OriginalPmtInfID); err != nil {
			return err
		}
		if blocks[p.OriginalPmtInfID] {
			return errs.Field(field+".original_pmt_inf_id", "%q is listed twice", p.OriginalPmtInfID)
		}
		blocks[p.OriginalPmtInfID] = true
		if err := checkStatus(field+".status", p.Status, false); err != nil {
			return err
		}
		if err := checkReason(field+".reason", p.Reason); err != nil {
			return err
		}
	}
	for i, t := range r.Transactions {
		field := fmt.Sprintf("transactions[%d]", i)
		if !blocks[t.OriginalPmtInfID] {
			return errs.Field(field+".original_pmt_inf_id", "%q is not in payment_infos: a transaction is reported within its block", t.OriginalPmtInfID)
		}
		if err := checkText(field+".original_end_to_end_id", t.OriginalEndToEndID); err != nil {
			return err
		}
		if err := checkStatus(field+".status", t.Status, true); err != nil {
			return err
		}
		if err := checkReason(field+".reason", t.Reason); err != nil {
			return err
		}
	}
	return nil
}

// WriteStatusReport writes r as a pain.002.001.10 report valid against its
// schema, or nothing when r cannot be written: identifiers of 1 to 35
// characters, known statuses, reason codes of 1 to 4 capitals and digits,
// and every transaction's block in PaymentInfos. Transactions are written
// within their block, blocks in the order of PaymentInfos. The bank
// simulator answers with it.
func WriteStatusReport(w io.Writer, r StatusReport) error {
	if err := validateReport(r); err != nil {
		return fmt.Errorf("write pain.002 %q: %w", r.MsgID, err)
	}
	b, err := marshal(pain002Document(r))
	if err != nil {
		return fmt.Errorf("write pain.002 %s: %w", r.MsgID, err)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write pain.002 %s: %w", r.MsgID, err)
	}
	return nil
}

// pain002Document builds the document of a valid report.
func pain002Document(r StatusReport) p002Document {
	doc := p002Document{
		XMLName: xml.Name{Local: "Document"},
		Xmlns:   nsPain002V10,
		Rpt: p002Report{
			GrpHdr: p002GrpHdr{MsgID: r.MsgID, CreDtTm: formatDateTime(r.CreatedAt)},
			OrgnlGrpInfAndSts: p002OrgnlGrp{
				OrgnlMsgID:   r.OriginalMsgID,
				OrgnlMsgNmID: r.OriginalMsgNm,
				GrpSts:       string(r.GroupStatus),
				StsRsnInf:    reasonsOf(r.GroupReason),
			},
		},
	}
	index := make(map[string]int, len(r.PaymentInfos))
	for i, p := range r.PaymentInfos {
		index[p.OriginalPmtInfID] = i
		doc.Rpt.OrgnlPmtInfAndSts = append(doc.Rpt.OrgnlPmtInfAndSts, p002PmtInf{
			OrgnlPmtInfID: p.OriginalPmtInfID,
			PmtInfSts:     string(p.Status),
			StsRsnInf:     reasonsOf(p.Reason),
		})
	}
	for _, t := range r.Transactions {
		pi := &doc.Rpt.OrgnlPmtInfAndSts[index[t.OriginalPmtInfID]]
		pi.TxInfAndSts = append(pi.TxInfAndSts, p002Tx{
			OrgnlEndToEndID: t.OriginalEndToEndID,
			TxSts:           string(t.Status),
			StsRsnInf:       reasonsOf(t.Reason),
		})
	}
	return doc
}

// reasonsOf gives the StsRsnInf of a reason code: none when it is empty.
func reasonsOf(code string) []p002Reason {
	if code == "" {
		return nil
	}
	return []p002Reason{{Rsn: &p002ReasonCode{Cd: code}}}
}

// StatusOf returns the status of the transaction endToEndID of the payment
// information block pmtInfID according to the report, with its reason code:
// the transaction's own row when it has one with a status (of several, the
// furthest as Advance orders them), else the block's status, else the
// group's. It returns "" when the report says nothing that applies. A
// block's or group's PART says only that some transactions were rejected:
// the rejected ones have rows of their own, and Advance ignores PART.
func (r StatusReport) StatusOf(pmtInfID, endToEndID string) (Status, string) {
	var st Status
	reason := ""
	for _, t := range r.Transactions {
		if t.OriginalPmtInfID != pmtInfID || t.OriginalEndToEndID != endToEndID {
			continue
		}
		if next, changed := Advance(st, t.Status); changed {
			st, reason = next, t.Reason
		}
	}
	if st != "" {
		return st, reason
	}
	for _, p := range r.PaymentInfos {
		if p.OriginalPmtInfID == pmtInfID && p.Status != "" {
			return p.Status, p.Reason
		}
	}
	if r.GroupStatus != "" {
		return r.GroupStatus, r.GroupReason
	}
	return "", ""
}
