package reconcile

import (
	"encoding/xml"
	"strconv"
	"strings"
)

// The entries (Ntry) of camt.053 statements and camt.054 notifications
// share one structure, read here into a Line: amount and direction, status,
// dates, bank transaction code, batch information and transaction details.

// readNtry reads the entry whose start element has just been read.
func (c *camtReader) readNtry(r *camtReport) (Line, error) {
	r.lines++
	c.top().idx = r.lines
	l := Line{StatementID: r.st.ID, Index: r.lines}
	hasAmt := false
	err := c.children(func(s xml.StartElement) error {
		var err error
		switch s.Name.Local {
		case "Amt":
			var ccy string
			l.Amount, ccy, err = c.amount(s, "Amount")
			if err == nil {
				err = c.setCurrency(r, s, ccy)
			}
			hasAmt = true
		case "CdtDbtInd":
			l.Direction, err = c.direction(s)
		case "Sts":
			l.Status, err = c.status(s)
		case "BookgDt":
			l.BookingDate, err = c.dateChoice(s, "BookingDate")
		case "ValDt":
			l.ValueDate, err = c.dateChoice(s, "ValueDate")
		case "AcctSvcrRef":
			l.BankRef, err = c.text()
		case "BkTxCd":
			err = c.readBkTxCd(&l)
		case "NtryDtls":
			err = c.readNtryDtls(r, &l)
		case "AddtlNtryInf":
			l.Label, err = c.text()
		default:
			err = c.skip()
		}
		return err
	})
	if err != nil {
		return Line{}, err
	}
	fail := func(field, reason string) (Line, error) {
		return Line{}, &FormatError{Line: c.line(), Element: c.childPath("Ntry", l.Index), Field: field, Reason: reason}
	}
	switch {
	case !hasAmt:
		return fail("Amount", "entry without Amt")
	case l.Direction == "":
		return fail("Direction", "entry without CdtDbtInd")
	case l.Status == "":
		return fail("Status", "entry without Sts")
	}
	l.shareDetails()
	return l, nil
}

func (c *camtReader) readBkTxCd(l *Line) error {
	return c.children(func(s xml.StartElement) error {
		switch s.Name.Local {
		case "Domn":
			return c.children(func(s xml.StartElement) error {
				switch s.Name.Local {
				case "Cd":
					return c.textTo(&l.Domain)
				case "Fmly":
					return c.children(func(s xml.StartElement) error {
						switch s.Name.Local {
						case "Cd":
							return c.textTo(&l.Family)
						case "SubFmlyCd":
							return c.textTo(&l.SubFamily)
						}
						return c.skip()
					})
				}
				return c.skip()
			})
		case "Prtry":
			return c.children(func(s xml.StartElement) error {
				if s.Name.Local == "Cd" {
					return c.textTo(&l.BankCode)
				}
				return c.skip()
			})
		}
		return c.skip()
	})
}

func (c *camtReader) readNtryDtls(r *camtReport, l *Line) error {
	return c.children(func(s xml.StartElement) error {
		switch s.Name.Local {
		case "Btch":
			if l.Batch != nil {
				return c.errorf("Batch", "more than one Btch in an entry")
			}
			var err error
			l.Batch, err = c.readBtch(r)
			return err
		case "TxDtls":
			if len(l.Details) >= MaxEntryDetails {
				return c.errorf("Details", "more than %d TxDtls in an entry", MaxEntryDetails)
			}
			d, err := c.readTxDtls(r, l)
			l.Details = append(l.Details, d)
			return err
		}
		return c.skip()
	})
}

func (c *camtReader) readBtch(r *camtReport) (*BatchInfo, error) {
	b := &BatchInfo{}
	err := c.children(func(s xml.StartElement) error {
		switch s.Name.Local {
		case "MsgId":
			return c.textTo(&b.MsgID)
		case "PmtInfId":
			return c.textTo(&b.PmtInfID)
		case "NbOfTxs":
			v, err := c.text()
			if err != nil {
				return err
			}
			n, perr := strconv.Atoi(v)
			if perr != nil || n < 0 || !isDigits(v) {
				return c.leafErr(s, "Batch.Count", "%s is not a number of transactions", quote(v))
			}
			b.Count = n
			return nil
		case "TtlAmt":
			var ccy string
			var err error
			b.Total, ccy, err = c.amount(s, "Batch.Total")
			if err != nil {
				return err
			}
			return c.setCurrency(r, s, ccy)
		}
		return c.skip()
	})
	return b, err
}

// parties are the related parties of a transaction.
type parties struct {
	dbtrName, dbtrAcct, cdtrName, cdtrAcct string
}

// counterparty returns the other party of a transaction in direction dir
// on account own: the creditor of a debit, the debtor of a credit; the
// other side when the bank leaves that one empty or names us there.
func (p parties) counterparty(dir Direction, own string) (name, acct string) {
	name, acct = p.cdtrName, p.cdtrAcct
	altName, altAcct := p.dbtrName, p.dbtrAcct
	if dir == Credit {
		name, acct, altName, altAcct = altName, altAcct, name, acct
	}
	empty := name == "" && acct == ""
	ours := own != "" && acct == own
	altUsable := (altName != "" || altAcct != "") && (own == "" || altAcct != own)
	if (empty || ours) && altUsable {
		return altName, altAcct
	}
	return name, acct
}

func (c *camtReader) readTxDtls(r *camtReport, l *Line) (TxDetail, error) {
	c.top().idx = len(l.Details) + 1
	var (
		d               TxDetail
		p               parties
		hasAmt          bool
		altAmt, instAmt TxDetail // AmtDtls/TxAmt and InstdAmt, when there is no Amt
		remittance      []string
		rmtLen          int // the bytes of remittance, with the spaces joining them
	)
	err := c.children(func(s xml.StartElement) error {
		var err error
		switch s.Name.Local {
		case "Refs":
			err = c.children(func(s xml.StartElement) error {
				switch s.Name.Local {
				case "MsgId":
					return c.textTo(&d.MsgID)
				case "AcctSvcrRef":
					return c.textTo(&d.BankRef)
				case "PmtInfId":
					return c.textTo(&d.PmtInfID)
				case "EndToEndId":
					return c.textTo(&d.EndToEndID)
				}
				return c.skip()
			})
		case "Amt":
			d.Amount, d.Currency, err = c.amount(s, "Details.Amount")
			hasAmt = true
		case "CdtDbtInd":
			d.Direction, err = c.direction(s)
		case "AmtDtls":
			err = c.children(func(s xml.StartElement) error {
				var into *TxDetail
				switch s.Name.Local {
				case "TxAmt":
					into = &altAmt
				case "InstdAmt":
					into = &instAmt
				default:
					return c.skip()
				}
				return c.children(func(s xml.StartElement) error {
					if s.Name.Local != "Amt" {
						return c.skip()
					}
					var err error
					into.Amount, into.Currency, err = c.amount(s, "Details.Amount")
					return err
				})
			})
		case "RltdPties":
			p, err = c.readParties()
		case "RmtInf":
			err = c.children(func(s xml.StartElement) error {
				if s.Name.Local != "Ustrd" {
					return c.skip()
				}
				v, err := c.text()
				if v != "" {
					remittance = append(remittance, v)
					if rmtLen += len(v) + 1; rmtLen > MaxValueBytes {
						return c.leafErr(s, "Details.Remittance", "the remittance lines of the transaction are longer than %d bytes together", MaxValueBytes)
					}
				}
				return err
			})
		case "RtrInf":
			err = c.children(func(s xml.StartElement) error {
				if s.Name.Local != "Rsn" {
					return c.skip()
				}
				return c.children(func(s xml.StartElement) error {
					if s.Name.Local == "Cd" || s.Name.Local == "Prtry" {
						return c.textTo(&d.ReturnReason)
					}
					return c.skip()
				})
			})
		case "AddtlTxInf":
			d.Info, err = c.text()
		default:
			err = c.skip()
		}
		return err
	})
	if err != nil {
		return d, err
	}
	if !hasAmt {
		if altAmt.Currency == "" {
			altAmt = instAmt
		}
		d.Amount, d.Currency = altAmt.Amount, altAmt.Currency
	}
	if d.Direction == "" {
		d.Direction = l.Direction
	}
	d.Remittance = strings.Join(remittance, " ")
	d.CounterpartyName, d.CounterpartyIBAN = p.counterparty(d.Direction, r.st.Account)
	return d, nil
}

func (c *camtReader) readParties() (parties, error) {
	var p parties
	err := c.children(func(s xml.StartElement) error {
		var err error
		switch s.Name.Local {
		case "Dbtr":
			p.dbtrName, err = c.partyName()
		case "DbtrAcct":
			p.dbtrAcct, err = c.cashAccount()
		case "Cdtr":
			p.cdtrName, err = c.partyName()
		case "CdtrAcct":
			p.cdtrAcct, err = c.cashAccount()
		default:
			err = c.skip()
		}
		return err
	})
	return p, err
}

// partyName reads a party's name: Nm (.001.02), or Pty/Nm (.001.08).
func (c *camtReader) partyName() (string, error) {
	var name string
	err := c.children(func(s xml.StartElement) error {
		switch s.Name.Local {
		case "Nm":
			return c.textTo(&name)
		case "Pty":
			return c.children(func(s xml.StartElement) error {
				if s.Name.Local == "Nm" {
					return c.textTo(&name)
				}
				return c.skip()
			})
		}
		return c.skip()
	})
	return name, err
}

// cashAccount reads a DbtrAcct or CdtrAcct and returns its Id.
func (c *camtReader) cashAccount() (string, error) {
	var id string
	err := c.children(func(s xml.StartElement) error {
		if s.Name.Local != "Id" {
			return c.skip()
		}
		var err error
		id, err = c.accountID()
		return err
	})
	return id, err
}

// shareDetails fills the line's reference fields with the values all its
// details share, then the batch's references.
func (l *Line) shareDetails() {
	if len(l.Details) > 0 {
		l.EndToEndID = shared(l.Details, func(d *TxDetail) string { return d.EndToEndID })
		l.PmtInfID = shared(l.Details, func(d *TxDetail) string { return d.PmtInfID })
		l.MsgID = shared(l.Details, func(d *TxDetail) string { return d.MsgID })
		l.ReturnReason = shared(l.Details, func(d *TxDetail) string { return d.ReturnReason })
		l.CounterpartyName = shared(l.Details, func(d *TxDetail) string { return d.CounterpartyName })
		l.CounterpartyIBAN = shared(l.Details, func(d *TxDetail) string { return d.CounterpartyIBAN })
	}
	if b := l.Batch; b != nil {
		if b.MsgID != "" {
			l.MsgID = b.MsgID
		}
		if b.PmtInfID != "" {
			l.PmtInfID = b.PmtInfID
		}
	}
}

// shared returns the value of f common to all of ds, or "".
func shared(ds []TxDetail, f func(*TxDetail) string) string {
	v := f(&ds[0])
	for i := 1; i < len(ds); i++ {
		if f(&ds[i]) != v {
			return ""
		}
	}
	return v
}
