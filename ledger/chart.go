package ledger

// The codes of the service's own accounts (DESIGN.md, chart of accounts).
// Class numbers of the French public-body chart (GBCP) are kept in each
// account's metadata.
const (
	ExpenseADA              = "expense:ada"
	ExpenseReturn           = "expense:return"
	ExpenseReinsertion      = "expense:reinsertion"
	ExpenseBusinessCreation = "expense:business-creation"
	ExpenseBankFees         = "expense:bank-fees"
	Payable                 = "payable"
	OverpaymentReceivable   = "receivable:overpayment"
	PaymentsInTransit       = "payments-in-transit"
	BankMain                = "bank:main"
	Suspense                = "suspense"
	StateFunding            = "equity:state-funding"
)

// Currency is the currency of the service's books: every account of the
// chart is kept in it, and a bank statement in another is refused.
const Currency = "EUR"

// HotShards is the number of balance rows of an account that every payment
// touches, so that concurrent writers rarely wait for one another.
const HotShards = 16

// Chart is the service's chart of accounts, created by SetUpChart.
var Chart = []Account{
	{Code: StateFunding, Name: "State funding of the allowance programme", Type: Equity, Currency: "EUR", BalanceShards: 1, Metadata: map[string]string{"gbcp": "10"}},
	{Code: BankMain, Name: "Main disbursement account at the bank", Type: Asset, Currency: "EUR", BalanceShards: HotShards, Metadata: map[string]string{"gbcp": "515"}},
	{Code: PaymentsInTransit, Name: "Payments sent to the bank, not yet booked", Type: Liability, Currency: "EUR", BalanceShards: HotShards, Metadata: map[string]string{"gbcp": "4661"}},
	{Code: Suspense, Name: "Bank statement lines awaiting explanation", Type: Liability, Currency: "EUR", BalanceShards: HotShards, Metadata: map[string]string{"gbcp": "471"}},
	{Code: Payable, Name: "Allowances due to beneficiaries", Type: Liability, Currency: "EUR", SubLedger: true, BalanceShards: 1, Metadata: map[string]string{"gbcp": "4411"}},
	{Code: OverpaymentReceivable, Name: "Overpayments to recover from beneficiaries", Type: Asset, Currency: "EUR", SubLedger: true, BalanceShards: 1, Metadata: map[string]string{"gbcp": "4672"}},
	{Code: ExpenseADA, Name: "Asylum seekers' allowance (ADA)", Type: Expense, Currency: "EUR", BalanceShards: HotShards, Metadata: map[string]string{"gbcp": "6571"}},
	{Code: ExpenseReturn, Name: "Return aid", Type: Expense, Currency: "EUR", BalanceShards: HotShards, Metadata: map[string]string{"gbcp": "6572"}},
	{Code: ExpenseReinsertion, Name: "Reinsertion aid", Type: Expense, Currency: "EUR", BalanceShards: HotShards, Metadata: map[string]string{"gbcp": "6573"}},
	{Code: ExpenseBusinessCreation, Name: "Business-creation aid", Type: Expense, Currency: "EUR", BalanceShards: HotShards, Metadata: map[string]string{"gbcp": "6574"}},
	{Code: ExpenseBankFees, Name: "Bank fees", Type: Expense, Currency: "EUR", BalanceShards: HotShards, Metadata: map[string]string{"gbcp": "627"}},
}

// SubAccount returns the code of a beneficiary's account under a control
// account, such as "payable:B-000123".
func SubAccount(control, id string) string { return control + ":" + id }

// BankAccount is the chart's account for one more account of the service
// at the bank, beside bank:main: code is "bank:<name>", iban the account's
// (shown in its name by its last four characters only).
func BankAccount(code, iban string) Account {
	tail := iban
	if len(tail) > 4 {
		tail = tail[len(tail)-4:]
	}
	return Account{Code: code, Name: "Account at the bank ending " + tail, Type: Asset, Currency: Currency, BalanceShards: HotShards,
		Metadata: map[string]string{"gbcp": "515"}}
}
