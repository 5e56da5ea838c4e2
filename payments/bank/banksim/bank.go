// Package banksim is a bank for tests and demonstrations: the other side of
// payments/bank's HTTP gateway. It takes pain.001 files, answers each with a
// pain.002 status report at once (rejecting the creditor accounts it is told
// to, and those whose IBAN fails its checksum), books the accepted transfers
// into camt.053 statements on the next business day, returns some of them a
// few days later, and can inject latency, errors and outages.
//
// A Bank is an http.Handler: serve it with httptest.NewServer in a test, or
// run cmd/banksim. Its state lives in memory.
package banksim

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // the bank's clock runs in Europe/Paris, wherever it runs

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/mask"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/sepa"
)

// DefaultAccount is the debtor account a Bank keeps when its Config names
// none: a French IBAN that passes the mod-97 check.
const DefaultAccount = "FR7630001007941234567890185"

// Config sets up a Bank.
type Config struct {
	// Token, when set, must come as a bearer token on every request.
	Token string
	// Account is the IBAN of the one account the bank keeps: the debtor of
	// the files it takes and the account of its statements (default
	// DefaultAccount). A file from another debtor is rejected whole (AC02).
	Account string
	// OpeningBalance is the balance of Account before its first statement,
	// that of the bank's date when New is called (ElctrncSeqNb 1); the
	// statements of earlier days are empty lists.
	OpeningBalance decimal.Decimal
	// Today is the bank's clock (default the real date in Europe/Paris).
	// POST /sim/clock and SetToday override it.
	Today func() ledger.Date
	// RejectIBANs are creditor accounts the bank rejects in its pain.002
	// with AC04 (closed account). A creditor IBAN whose mod-97 check fails
	// is rejected with AC01 without being listed.
	RejectIBANs map[string]bool
	// ReturnIBANs are creditor accounts the bank accepts and books, then
	// returns ReturnAfterDays business days later with AC04: a CRDT entry
	// on the statement.
	ReturnIBANs map[string]bool
	// ReturnAfterDays is the delay of a return in business days (default 3).
	ReturnAfterDays int
	// BatchBooking books one DBIT entry per payment information block, with
	// its batch details, instead of one per transaction.
	BatchBooking bool
	// FeePerFile, when positive, is charged as one DBIT entry (ACMT/MDOP/
	// CHRG) on the booking day of every file with an accepted transfer.
	FeePerFile decimal.Decimal
	// Seed seeds the random draws of the ErrorRate fault, so that a test
	// sees the same faults at every run.
	Seed uint64
	// Logger receives the bank's logs (default discarded). IBANs are masked.
	Logger *slog.Logger
}

// Faults are the troubles the bank injects into its /v1 API; its /sim admin
// routes are never affected.
type Faults struct {
	// ErrorRate is the share of requests (0 to 1) answered 503.
	ErrorRate float64 `json:"error_rate"`
	// LoseAnswers makes the requests drawn by ErrorRate be carried out
	// before their answer is replaced by the 503, as when an answer is lost
	// on its way back: a resent file then meets DU01.
	LoseAnswers bool `json:"lose_answers"`
	// Latency delays every answer.
	Latency time.Duration `json:"latency"`
	// Outage answers 503 to every request, or closes the connection
	// without an answer when Drop is set too.
	Outage bool `json:"outage"`
	Drop   bool `json:"drop"`
}

// ReceivedFile is what the bank recorded of one MsgId.
type ReceivedFile struct {
	MsgID      string
	PmtInfID   string
	ReceivedAt time.Time
	// Attempts counts the POSTs of this MsgId that reached the bank and
	// were not cut short by an injected fault, the refused duplicates
	// included: 1 + Duplicates.
	Attempts   int
	Duplicates int
	// GroupStatus is the file's status in its pain.002 (ACCP, PART, RJCT)
	// and GroupReason the reason of a whole-file rejection (AM10...).
	GroupStatus  sepa.Status
	GroupReason  string
	Transactions []ReceivedTx
}

// ReceivedTx is one transfer of a received file and the bank's answer.
type ReceivedTx struct {
	EndToEndID string
	Amount     decimal.Decimal
	Accepted   bool
	Reason     string // the reason of a rejection: AC01, AC04...
}

// EndToEndIDs lists the EndToEndIds of the file's transfers in file order.
func (f ReceivedFile) EndToEndIDs() []string {
	ids := make([]string, len(f.Transactions))
	for i, tx := range f.Transactions {
		ids[i] = tx.EndToEndID
	}
	return ids
}

// Bank is a simulated bank. Its methods are safe for concurrent use.
type Bank struct {
	cfg   Config
	log   *slog.Logger
	paris *time.Location
	mux   *http.ServeMux

	mu       sync.Mutex
	rng      *rand.Rand
	faults   Faults
	today    ledger.Date // set by SetToday; zero means cfg.Today
	opened   ledger.Date // the first day the account has a statement
	requests int
	files    map[string]*file
	order    []string // MsgIds in order of receipt
	entries  []entry  // booked and future entries, in order of booking
	reports  int      // pain.002 reports produced, for their ids
	refs     int      // entries booked, for their AcctSvcrRef
}

// file is a received file with its reports.
type file struct {
	ReceivedFile
	reports []document
}

// document is a report or statement as the API lists it.
type document struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	XML       string    `json:"xml"`
}

// entryKind says what an entry books.
type entryKind int

const (
	kindTransfer entryKind = iota // one transfer out
	kindBatch                     // a payment information block out
	kindReturn                    // a transfer coming back
	kindFee                       // the bank's charge for a file
)

// entry is one line of the account: booked on a day, debit or credit.
type entry struct {
	ref      string // AcctSvcrRef
	day      ledger.Date
	kind     entryKind
	credit   bool
	amount   decimal.Decimal // positive
	msgID    string
	pmtInfID string
	txs      []sepa.Payment // the transfers the entry books
	reason   string         // a return's reason
}

// signed is the entry's effect on the balance.
func (e entry) signed() decimal.Decimal {
	if e.credit {
		return e.amount
	}
	return e.amount.Neg()
}

// New returns a bank set up by cfg.
func New(cfg Config) *Bank {
	if cfg.Account == "" {
		cfg.Account = DefaultAccount
	}
	cfg.Account = normalizeIBAN(cfg.Account)
	cfg.RejectIBANs = normalizeSet(cfg.RejectIBANs)
	cfg.ReturnIBANs = normalizeSet(cfg.ReturnIBANs)
	if cfg.ReturnAfterDays <= 0 {
		cfg.ReturnAfterDays = 3
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil { // time/tzdata is embedded: this does not happen
		paris = time.FixedZone("CET", 3600)
	}
	if cfg.Today == nil {
		cfg.Today = func() ledger.Date { return ledger.DateOf(time.Now().In(paris)) }
	}
	b := &Bank{
		cfg:   cfg,
		log:   cfg.Logger,
		paris: paris,
		rng:   rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		files: make(map[string]*file),
	}
	b.opened = cfg.Today()
	b.mux = b.routes()
	return b
}

func normalizeIBAN(s string) string { return strings.ToUpper(strings.ReplaceAll(s, " ", "")) }

func normalizeSet(in map[string]bool) map[string]bool {
	out := make(map[string]bool, len(in))
	for k, v := range in {
		if v {
			out[normalizeIBAN(k)] = true
		}
	}
	return out
}

// SetFaults replaces the faults the bank injects.
func (b *Bank) SetFaults(f Faults) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.faults = f
	b.log.Info("banksim faults set", "error_rate", f.ErrorRate, "lose_answers", f.LoseAnswers,
		"latency", f.Latency, "outage", f.Outage, "drop", f.Drop)
}

// SetToday moves the bank's clock to d; a zero d gives it back to
// Config.Today.
func (b *Bank) SetToday(d ledger.Date) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.today = d
	b.log.Info("banksim clock set", "today", d.String())
}

// Today returns the bank's date.
func (b *Bank) Today() ledger.Date {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.todayLocked()
}

func (b *Bank) todayLocked() ledger.Date {
	if !b.today.IsZero() {
		return b.today
	}
	return b.cfg.Today()
}

// nowLocked is the bank's time: its date with the real time of day in Paris.
func (b *Bank) nowLocked() time.Time {
	now := time.Now().In(b.paris)
	d := b.todayLocked().Time()
	return time.Date(d.Year(), d.Month(), d.Day(), now.Hour(), now.Minute(), now.Second(), 0, b.paris)
}

// Requests returns how many requests reached the bank's API (the /v1
// routes), those answered with an injected fault included.
func (b *Bank) Requests() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.requests
}

// Received returns the files the bank recorded, in order of receipt.
func (b *Bank) Received() []ReceivedFile {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]ReceivedFile, 0, len(b.order))
	for _, id := range b.order {
		f := b.files[id].ReceivedFile
		f.Transactions = slices.Clone(f.Transactions)
		out = append(out, f)
	}
	return out
}

// submitResult is what receiving a file comes to, for the HTTP layer.
type submitResult struct {
	status     int // 201, 400, 409 or 500
	code       string
	message    string
	msgID      string
	receivedAt time.Time
}

// receive handles one POSTed file: body are its bytes, headerMsgID and
// headerSum the X-Msg-Id and X-Content-Sha256 sent with it.
func (b *Bank) receive(body []byte, headerMsgID, headerSum string) submitResult {
	digest := sha256.Sum256(body)
	if headerSum != "" && !strings.EqualFold(headerSum, hex.EncodeToString(digest[:])) {
		return refuse(headerMsgID, "the file's bytes do not match X-Content-Sha256")
	}
	var (
		rejectAll string // AM18 or AM10: the file is taken and rejected whole
		txs       []ReceivedTx
	)
	msg, err := sepa.Read(bytes.NewReader(body))
	if err != nil {
		t, terr := readTotals(body)
		if terr != nil || t.reason == "" {
			return refuse(headerMsgID, err.Error())
		}
		msg = sepa.Message{Version: sepa.Version(t.version), MsgID: t.msgID, PmtInfID: t.pmtInfID}
		rejectAll, txs = t.reason, t.txs
	} else if err := sepa.Validate(withoutBadCreditors(msg)); err != nil {
		return refuse(headerMsgID, err.Error())
	}
	if headerMsgID != "" && headerMsgID != msg.MsgID {
		return refuse(headerMsgID, fmt.Sprintf("X-Msg-Id %q is not the file's MsgId %q", headerMsgID, msg.MsgID))
	}
	if rejectAll == "" && normalizeIBAN(msg.Debtor.IBAN) != b.cfg.Account {
		rejectAll = "AC02" // not an account of this bank's customer
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if f, ok := b.files[msg.MsgID]; ok {
		f.Attempts++
		f.Duplicates++
		b.log.Info("banksim duplicate file refused", "msg_id", msg.MsgID, "attempts", f.Attempts)
		return submitResult{status: http.StatusConflict, code: "DU01",
			message: fmt.Sprintf("MsgId %s was received on %s", msg.MsgID, f.ReceivedAt.Format(time.RFC3339))}
	}

	now := b.nowLocked()
	f := &file{ReceivedFile: ReceivedFile{
		MsgID: msg.MsgID, PmtInfID: msg.PmtInfID, ReceivedAt: now, Attempts: 1,
	}}
	var accepted []sepa.Payment
	if rejectAll != "" {
		for _, p := range msg.Payments {
			txs = append(txs, ReceivedTx{EndToEndID: p.EndToEndID, Amount: p.Amount})
		}
		for i := range txs {
			txs[i].Reason = rejectAll
		}
		f.GroupStatus, f.GroupReason = sepa.StatusRJCT, rejectAll
	} else {
		for _, p := range msg.Payments {
			tx := ReceivedTx{EndToEndID: p.EndToEndID, Amount: p.Amount, Reason: b.creditorReason(p.Creditor.IBAN)}
			if tx.Accepted = tx.Reason == ""; tx.Accepted {
				accepted = append(accepted, p)
			}
			txs = append(txs, tx)
		}
		f.GroupStatus = statusOf(len(accepted), len(txs))
	}
	f.Transactions = txs

	b.reports++
	report := sepa.StatusReport{
		MsgID:         fmt.Sprintf("PSR%08d", b.reports),
		CreatedAt:     now,
		OriginalMsgID: msg.MsgID,
		OriginalMsgNm: string(msg.Version),
		GroupStatus:   f.GroupStatus,
		GroupReason:   f.GroupReason,
		PaymentInfos: []sepa.PmtInfStatus{{
			OriginalPmtInfID: msg.PmtInfID, Status: f.GroupStatus, Reason: f.GroupReason,
		}},
	}
	if rejectAll == "" { // a file rejected whole has no transaction rows
		for _, tx := range txs {
			st := sepa.StatusACCP
			if !tx.Accepted {
				st = sepa.StatusRJCT
			}
			report.Transactions = append(report.Transactions, sepa.TxStatus{
				OriginalEndToEndID: tx.EndToEndID, OriginalPmtInfID: msg.PmtInfID, Status: st, Reason: tx.Reason,
			})
		}
	}
	var buf bytes.Buffer
	if err := sepa.WriteStatusReport(&buf, report); err != nil {
		// The report is built from a file the bank took: failing to write it
		// is a bug of the simulator, answered as a bank's own failure.
		b.reports--
		b.log.Error("banksim cannot write its status report", "msg_id", msg.MsgID, "err", err)
		return submitResult{status: http.StatusInternalServerError, code: "INTERNAL",
			message: "the bank could not produce its status report"}
	}
	f.reports = append(f.reports, document{ID: report.MsgID, CreatedAt: now, XML: buf.String()})
	b.files[msg.MsgID] = f
	b.order = append(b.order, msg.MsgID)
	if len(accepted) > 0 {
		b.book(msg, accepted, now)
	}
	b.log.Info("banksim file received", "msg_id", msg.MsgID, "transactions", len(txs),
		"accepted", len(accepted), "status", string(f.GroupStatus), "reason", f.GroupReason)
	return submitResult{status: http.StatusCreated, msgID: msg.MsgID, receivedAt: now}
}

// refuse is the answer to a file the bank cannot read or that breaks the
// SEPA rules: 400 FF01, and nothing recorded.
func refuse(msgID, why string) submitResult {
	return submitResult{status: http.StatusBadRequest, code: "FF01", message: mask.MaskIBANsIn(why), msgID: msgID}
}

// withoutBadCreditors returns m with every creditor IBAN that fails its
// checks replaced by a valid one, so that sepa.Validate judges the rest of
// the file: a wrong creditor account is not a format error but a rejected
// transaction (AC01).
func withoutBadCreditors(m sepa.Message) sepa.Message {
	m.Payments = slices.Clone(m.Payments)
	for i, p := range m.Payments {
		if !validIBAN(normalizeIBAN(p.Creditor.IBAN)) {
			m.Payments[i].Creditor.IBAN = DefaultAccount
		}
	}
	return m
}

// creditorReason is the reason the bank rejects a transfer to iban, or ""
// when it accepts it.
func (b *Bank) creditorReason(iban string) string {
	n := normalizeIBAN(iban)
	switch {
	case !validIBAN(n):
		return "AC01"
	case b.cfg.RejectIBANs[n]:
		return "AC04"
	}
	return ""
}

// validIBAN reports whether iban passes the checks of ISO 13616, mod 97
// included.
func validIBAN(iban string) bool {
	_, err := payments.ValidateIBAN(iban)
	return err == nil
}

// statusOf is the status of a group of n transfers of which accepted were.
func statusOf(accepted, n int) sepa.Status {
	switch accepted {
	case n:
		return sepa.StatusACCP
	case 0:
		return sepa.StatusRJCT
	}
	return sepa.StatusPART
}

// book schedules the entries of the accepted transfers of msg, received at
// now: the debits on the execution date or the next business day after
// receipt, whichever is later, the fee with them, and the returns
// ReturnAfterDays business days after the debits.
func (b *Bank) book(msg sepa.Message, accepted []sepa.Payment, now time.Time) {
	day := sepa.AddBusinessDays(ledger.DateOf(now), 1)
	if exec := sepa.NextBusinessDay(msg.ExecutionDate); exec.After(day) {
		day = exec
	}
	if b.cfg.BatchBooking {
		total := decimal.Zero
		for _, p := range accepted {
			total = total.Add(p.Amount)
		}
		b.add(entry{day: day, kind: kindBatch, amount: total, msgID: msg.MsgID, pmtInfID: msg.PmtInfID, txs: accepted})
	} else {
		for _, p := range accepted {
			b.add(entry{day: day, kind: kindTransfer, amount: p.Amount, msgID: msg.MsgID,
				pmtInfID: msg.PmtInfID, txs: []sepa.Payment{p}})
		}
	}
	if b.cfg.FeePerFile.IsPositive() {
		b.add(entry{day: day, kind: kindFee, amount: b.cfg.FeePerFile, msgID: msg.MsgID, pmtInfID: msg.PmtInfID})
	}
	back := sepa.AddBusinessDays(day, b.cfg.ReturnAfterDays)
	for _, p := range accepted {
		if b.cfg.ReturnIBANs[normalizeIBAN(p.Creditor.IBAN)] {
			b.add(entry{day: back, kind: kindReturn, credit: true, amount: p.Amount, msgID: msg.MsgID,
				pmtInfID: msg.PmtInfID, txs: []sepa.Payment{p}, reason: "AC04"})
		}
	}
}

func (b *Bank) add(e entry) {
	b.refs++
	e.ref = fmt.Sprintf("BSIM%s%06d", strings.ReplaceAll(e.day.String(), "-", ""), b.refs)
	b.entries = append(b.entries, e)
}

// statementsOf returns the statements of iban for day: none for another
// account, a day to come, a day before the account opened or a day the bank
// is closed.
func (b *Bank) statementsOf(iban string, day ledger.Date) ([]document, bool, error) {
	if normalizeIBAN(iban) != b.cfg.Account {
		return nil, false, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if day.After(b.todayLocked()) || day.Before(b.opened) || !sepa.IsBusinessDay(day) {
		return []document{}, true, nil
	}
	seq := 0
	for d := b.opened; !d.After(day); d = d.AddDays(1) {
		if sepa.IsBusinessDay(d) {
			seq++
		}
	}
	opening := b.cfg.OpeningBalance
	var entries []entry
	for _, e := range b.entries {
		switch {
		case e.day.Before(day):
			opening = opening.Add(e.signed())
		case !e.day.After(day):
			entries = append(entries, e)
		}
	}
	d := day.Time()
	created := time.Date(d.Year(), d.Month(), d.Day(), 22, 0, 0, 0, b.paris)
	doc := b.statement(day, seq, opening, entries, created)
	var buf bytes.Buffer
	if err := writeCamt053(&buf, doc); err != nil {
		return nil, true, fmt.Errorf("write the statement of %s: %w", day, err)
	}
	return []document{{ID: doc.Stmt.Stmt.ID, CreatedAt: created, XML: buf.String()}}, true, nil
}

// statement builds the camt.053 of one day.
func (b *Bank) statement(day ledger.Date, seq int, opening decimal.Decimal, entries []entry, created time.Time) camtDocument {
	closing := opening
	ntries := make([]camtEntry, 0, len(entries))
	for _, e := range entries {
		closing = closing.Add(e.signed())
		ntries = append(ntries, camtEntryOf(e))
	}
	id := "STMT-" + day.String()
	return camtDocument{Stmt: camtBkToCstmrStmt{
		GrpHdr: camtGrpHdr{MsgID: "CAMT053-" + day.String(), CreDtTm: isoDateTime(created)},
		Stmt: camtStatement{
			ID:           id,
			ElctrncSeqNb: seq,
			CreDtTm:      isoDateTime(created),
			Acct:         camtAccount{IBAN: b.cfg.Account, Ccy: "EUR"},
			Bal: []camtBalance{
				balance("OPBD", opening, day),
				balance("CLBD", closing, day),
			},
			Ntry: ntries,
		},
	}}
}

func balance(code string, amount decimal.Decimal, day ledger.Date) camtBalance {
	ind := "CRDT"
	if amount.IsNegative() {
		ind = "DBIT"
	}
	return camtBalance{Cd: code, Amt: eur(amount.Abs()), CdtDbtInd: ind, Dt: day.String()}
}

func camtEntryOf(e entry) camtEntry {
	ce := camtEntry{
		Amt:         eur(e.amount),
		CdtDbtInd:   "DBIT",
		Sts:         "BOOK",
		BookgDt:     e.day.String(),
		ValDt:       e.day.String(),
		AcctSvcrRef: e.ref,
		BkTxCd:      camtBkTxCd{Domn: "PMNT", Fmly: "ICDT", SubFmlyCd: "ESCT"},
	}
	if e.credit {
		ce.CdtDbtInd = "CRDT"
	}
	refs := func(p sepa.Payment) camtRefs {
		return camtRefs{MsgID: e.msgID, PmtInfID: e.pmtInfID, EndToEndID: p.EndToEndID}
	}
	switch e.kind {
	case kindTransfer, kindReturn:
		p := e.txs[0]
		tx := camtTxDtls{
			Refs: refs(p), Amt: eurPtr(p.Amount), CdtDbtInd: ce.CdtDbtInd,
			RltdPties: &camtParties{Cdtr: p.Creditor.Name, CdtrIBAN: p.Creditor.IBAN},
			RmtInf:    remittance(p.Remittance),
		}
		if e.kind == kindReturn {
			ce.BkTxCd.SubFmlyCd = "RRTN"
			tx.RtrInf = &camtReturnInfo{Rsn: e.reason}
			ce.AddtlInf = "RETOUR VIREMENT " + e.reason
		}
		ce.NtryDtls = &camtEntryDtls{TxDtls: []camtTxDtls{tx}}
	case kindBatch:
		dtls := &camtEntryDtls{Btch: &camtBatch{
			MsgID: e.msgID, PmtInfID: e.pmtInfID, NbOfTxs: len(e.txs), TtlAmt: eurPtr(e.amount), CdtDbtInd: "DBIT",
		}}
		for _, p := range e.txs {
			dtls.TxDtls = append(dtls.TxDtls, camtTxDtls{
				Refs: refs(p), Amt: eurPtr(p.Amount), CdtDbtInd: "DBIT",
				RltdPties: &camtParties{Cdtr: p.Creditor.Name, CdtrIBAN: p.Creditor.IBAN},
				RmtInf:    remittance(p.Remittance),
			})
		}
		ce.NtryDtls = dtls
		ce.AddtlInf = "REMISE VIREMENTS " + e.pmtInfID
	case kindFee:
		ce.BkTxCd = camtBkTxCd{Domn: "ACMT", Fmly: "MDOP", SubFmlyCd: "CHRG"}
		ce.NtryDtls = &camtEntryDtls{TxDtls: []camtTxDtls{{Refs: camtRefs{MsgID: e.msgID, PmtInfID: e.pmtInfID}}}}
		ce.AddtlInf = "FRAIS REMISE " + e.msgID
	}
	return ce
}
