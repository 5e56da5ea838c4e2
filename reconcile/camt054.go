package reconcile

import "io"

// camt.054 debit and credit notifications tell of entries as they happen,
// returns among them, before the day's statement. Their Ntfctn has the
// structure of a camt.053 Stmt without balances, and the same Ntry: the
// camt.053 reader reads them.
var camt054Spec = camtSpec{name: "camt.054", msg: "BkToCstmrDbtCdtNtfctn", report: "Ntfctn", balances: false}

// NewCamt054Reader returns a Reader of a camt.054 notification file,
// versions .001.02 to .001.08, holding one or more notifications (Ntfctn),
// each read as a Statement without balances: its Opening and Closing are
// zero, its Date is its creation day, and no balance check applies. The
// entries are checked as in NewCamt053Reader.
func NewCamt054Reader(r io.Reader, opts Options) Reader {
	return newCamtReader(r, opts, camt054Spec)
}
