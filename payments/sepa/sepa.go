// Package sepa reads and writes the ISO 20022 messages the service exchanges
// with its bank: the pain.001 credit transfer initiation it sends (versions
// .001.09 and .001.03, chosen per bank) and the pain.002 payment status
// report the bank answers. It also holds the SEPA rules the schemas do not
// check: the character set, identifiers, amounts and the TARGET2 calendar.
package sepa

import (
	"time"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/ledger"
)

// Version is a pain.001 message version.
type Version string

// The pain.001 versions the writer knows.
const (
	Pain001V09 Version = "pain.001.001.09"
	Pain001V03 Version = "pain.001.001.03"
)

// Party is an account holder: the debtor (the service's own account) or a
// creditor.
type Party struct {
	Name string
	IBAN string
	BIC  string // optional for a creditor
}

// Payment is one credit transfer of a pain.001 message.
type Payment struct {
	EndToEndID string          // ≤35, the batch line's id
	Amount     decimal.Decimal // EUR, 0.01 to 999,999,999.99, two decimals
	Creditor   Party
	Remittance string // unstructured remittance text, ≤140
}

// Message is one pain.001 file: one group header and one payment
// information block (PmtInf) holding every payment.
type Message struct {
	Version         Version
	MsgID           string // ≤35, unique forever
	CreatedAt       time.Time
	InitiatingParty string
	PmtInfID        string // ≤35
	ExecutionDate   ledger.Date
	Debtor          Party
	CategoryPurpose string // SSBE (or GOVT)
	BatchBooking    bool
	Payments        []Payment
}

// Status is the status of a file, a payment information block or a
// transaction in a pain.002 report.
type Status string

// The statuses of pain.002: the codes of ISO 20022's external code list
// ExternalPaymentTransactionStatus1Code, the same in .001.03 and .001.10.
const (
	StatusRCVD Status = "RCVD" // received
	StatusPDNG Status = "PDNG" // pending
	StatusPRES Status = "PRES" // presented
	StatusBLCK Status = "BLCK" // blocked (a sanction screening, say): waits
	StatusACTC Status = "ACTC" // accepted, technical validation
	StatusACCP Status = "ACCP" // accepted, customer profile
	StatusACFC Status = "ACFC" // accepted, funds checked
	StatusACSP Status = "ACSP" // accepted, settlement in process
	StatusACPD Status = "ACPD" // accepted, clearing processed
	StatusACWC Status = "ACWC" // accepted with change
	StatusACWP Status = "ACWP" // accepted without posting
	StatusACSC Status = "ACSC" // accepted, settlement completed (debtor)
	StatusACIS Status = "ACIS" // accepted and cheque issued
	StatusACCC Status = "ACCC" // accepted, settlement completed (creditor)
	StatusCPUC Status = "CPUC" // cash picked up
	StatusPART Status = "PART" // partially accepted: a group's or a block's
	StatusPATC Status = "PATC" // partially accepted, technically correct: likewise
	StatusRJCT Status = "RJCT" // rejected
	StatusCANC Status = "CANC" // cancelled: not paid, as rejected
)

// TxStatus is the status of one transaction in a report.
type TxStatus struct {
	OriginalEndToEndID string
	OriginalPmtInfID   string // the block the row is reported in
	Status             Status // empty when the row gives none: StatusOf then looks at the block and the group
	Reason             string // ISO reason code (AC04...), empty when none
}

// PmtInfStatus is the status of one payment information block.
type PmtInfStatus struct {
	OriginalPmtInfID string
	Status           Status // empty when the report gives none
	Reason           string
}

// StatusReport is a pain.002.001.10 payment status report, flattened:
// every transaction row names the block it was reported in.
type StatusReport struct {
	MsgID         string
	CreatedAt     time.Time
	OriginalMsgID string
	OriginalMsgNm string // pain.001.001.09...
	GroupStatus   Status // empty when the report gives none
	GroupReason   string
	PaymentInfos  []PmtInfStatus
	Transactions  []TxStatus
}
