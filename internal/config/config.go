// Package config reads the service's settings from environment variables,
// each with a default that runs the service alone on one machine. Every
// setting is listed in Settings, from which the README's table is kept.
package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/ledger/fec"
)

// Setting describes one environment variable.
type Setting struct {
	Env     string
	Default string
	Doc     string
}

// DefaultKafkaBatchSize is the most eligibility events applied in one
// database transaction unless KAFKA_BATCH_SIZE says otherwise, chosen by
// measurement (ledgerctl bench --steps f --event-batch N, with the database
// server's CPU time per event): while the consumer parses the next batch
// during the transaction of the one before, 2,000 takes about 4 % less of
// the database's CPU per event than 1,000 and 4,000 about 10 %, at the same
// rate against the COPY floor on a busy machine. 2,000 keeps a transaction
// at 4,000 to 8,000 rows, within what CockroachDB handles well.
const DefaultKafkaBatchSize = 2000

// Settings lists every setting the programs read.
var Settings = []Setting{
	{"LEDGER_DEV", "false", "dev mode: without `KAFKA_BROKERS` ledgerd runs an embedded Kafka broker, and without `BANK_URL` an embedded bank simulator that pays nobody; off, a missing `KAFKA_BROKERS` or `BANK_URL` stops the start (`ledgerd --dev` sets it)"},
	{"LEDGER_URL", "http://127.0.0.1:8080", "base URL of the ledgerd that ledgerctl's staff commands call (`--server` overrides it)"},
	{"LEDGER_TOKEN", "", "API token ledgerctl's staff commands send (`--token` overrides it; else the file `ledgerctl/token` of the user's config directory, mode 0600) (a secret: never shown)"},
	{"DATABASE_URL", db.DefaultURL, "CockroachDB or PostgreSQL connection string (pool size: `pool_max_conns=N` in its query string); the database is created if missing"},
	{"TX_MAX_ATTEMPTS", "30", "attempts of a write transaction that loses a serialization conflict before giving up"},
	{"BULK_WRITE", "auto", "how rows are written in bulk (bulk entries, ADA run lines, statement lines, matches): auto (COPY where the database role may, multi-row INSERTs elsewhere, decided at start and logged), copy, or insert"},
	{"AUTO_MIGRATE", "true", "apply pending schema migrations when ledgerd starts"},
	{"HTTP_ADDR", "127.0.0.1:8080", "address of the staff HTTP API, /metrics, /healthz and /readyz"},
	{"HTTP_MAX_BODY_BYTES", "1048576", "largest accepted request body, in bytes"},
	{"AUTH_TOKENS", "", "API tokens, `name:role[+role]:sha256hex[:last-day]` separated by `;` (hash a token with `ledgerctl token hash`; past its last day, UTC, a token gets 401)"},
	{"AUTH_TOKENS_FILE", "", "file of API tokens, one `name:role[+role]:sha256hex[:last-day]` per line, `#` comments"},
	{"LOG_LEVEL", "info", "debug, info, warn or error"},
	{"LOG_FORMAT", "json", "json or text"},
	{"RATE_SCHEDULE_FILE", "", "rate schedule file (JSON) replacing the default one shipped with the service"},
	{"ADA_RUN_DAY", "5", "day of the month on which ledgerd runs the previous month's ADA by itself, once per period (1 to 28; 0: never)"},
	{"LEASE_TTL", "30s", "lease time of a long job (an ADA or grants run, the writing of a release's files, a pass of the bank sender or fetchers): its holder renews it every third of it while the job works; once it expires (the holder stopped or lost the database), another ledgerd or ledgerctl takes the job over (1s to 1h)"},
	{"KAFKA_BROKERS", "", "Kafka brokers, `host:port` separated by `,`; ledgerd does not start without them, except in dev mode, where it runs an embedded broker instead (and the TLS and SASL settings are not used)"},
	{"KAFKA_EMBEDDED_ADDR", "127.0.0.1:9092", "address of the embedded broker of dev mode (loopback only; port 0 picks a free one)"},
	{"KAFKA_EMBEDDED_PARTITIONS", "4", "partitions of each topic of the embedded broker"},
	{"KAFKA_TOPIC", "eligibility.v1", "topic of the eligibility events"},
	{"KAFKA_DLQ_TOPIC", "eligibility.v1.dlq", "dead-letter topic: invalid events with headers `error` and `source-offset`"},
	{"KAFKA_GROUP", "ledgerd", "consumer group of the eligibility consumer"},
	{"KAFKA_BATCH_SIZE", strconv.Itoa(DefaultKafkaBatchSize), "most events applied in one database transaction"},
	{"KAFKA_TLS", "false", "connect to the brokers over TLS"},
	{"KAFKA_TLS_CA_FILE", "", "PEM file of the CAs that sign the brokers' certificates (the system's when unset)"},
	{"KAFKA_TLS_CERT_FILE", "", "PEM client certificate for mutual TLS, with `KAFKA_TLS_KEY_FILE`"},
	{"KAFKA_TLS_KEY_FILE", "", "PEM private key of `KAFKA_TLS_CERT_FILE`"},
	{"KAFKA_SASL_MECHANISM", "none", "none, plain, scram-sha-256 or scram-sha-512"},
	{"KAFKA_SASL_USERNAME", "", "SASL user name"},
	{"KAFKA_SASL_PASSWORD", "", "SASL password (a secret: never logged)"},
	{"APPROVAL_SECOND_ABOVE", "100000.00", "gross total of a batch (EUR) above which a second, distinct approver is needed"},
	{"DEBTOR_NAME", "OFII Agence comptable", "name of the service's account holder in the payment files"},
	{"DEBTOR_IBAN", "FR7630001007941234567890185", "IBAN of the account the allowances are paid from"},
	{"DEBTOR_BIC", "BDFEFRPPCCT", "BIC of the bank holding `DEBTOR_IBAN`"},
	{"BANK_ACCOUNTS", "", "the service's other accounts whose statements are imported, each with its ledger account, `IBAN=bank:<name>` separated by `,` (the ledger accounts are created at start); `DEBTOR_IBAN` is always `bank:main`, and statements of any other account are skipped"},
	{"BANK_URL", "", "base URL of the bank's payment interface; ledgerd does not start without it, except in dev mode, where it runs an embedded bank simulator instead, which pays nobody"},
	{"BANK_EMBEDDED_ADDR", "127.0.0.1:8090", "address of the embedded bank simulator of dev mode (loopback only; port 0 picks a free one)"},
	{"BANK_TOKEN", "", "bearer token of the bank interface (a secret: never logged)"},
	{"BANK_FORMAT", "pain.001.001.09", "payment file version the bank takes: pain.001.001.09 or pain.001.001.03"},
	{"BANK_TIMEOUT", "10s", "time limit of one request to the bank"},
	{"BANK_RETRIES", "3", "attempts of one request to the bank before the file waits for the next pass"},
	{"BANK_BREAKER_FAILURES", "5", "consecutive failures of the bank that open its circuit breaker"},
	{"BANK_BREAKER_OPEN", "30s", "time the breaker stays open before one request tries the bank again"},
	{"BANK_POLL_INTERVAL", "10s", "how often ledgerd sends the queued payment files and fetches the status reports"},
	{"SEAL_INTERVAL", "5m", "how often ledgerd seals the entries posted since the last seal (verify starts from the last seal)"},
	{"PAYMENT_FILE_MAX_TX", "10000", "most payments in one payment file: a larger batch is split into several files"},
	{"BUDGET_CONTROL", "off", "`off`: a scheme and year without an appropriation is approved unchecked; `enforce`: it is refused like an overrun (production should use `enforce`); a batch beyond an appropriation is refused either way"},
	{"BUDGET_MIN_MONTHS", "2", "months of cover of a scheme's appropriation below which the budget alert fires"},
	{"RECON_SUGGESTION_DAYS", "3", "window, in business days, within which a statement line of a payment's amount and payee account is suggested for it"},
	{"RECON_IN_TRANSIT_DAYS", "5", "business days after its execution date a payment may stay off the statements before it is an exception"},
	{"CONSOLE_OIDC_ISSUER", "", "issuer URL of the agency's OpenID Connect provider for the staff console under `/console/`; the console is on when it is set (then every `CONSOLE_OIDC_*` setting and `CONSOLE_ROLE_GROUPS` are required), or in dev mode, where demo staff may sign in; off otherwise, and the log says so"},
	{"CONSOLE_OIDC_CLIENT_ID", "", "client id of the console at the OpenID Connect provider"},
	{"CONSOLE_OIDC_CLIENT_SECRET", "", "client secret of the console at the OpenID Connect provider (a secret: never shown)"},
	{"CONSOLE_OIDC_REDIRECT_URL", "", "the console's callback URL registered at the provider, ending in `/console/auth/callback`"},
	{"CONSOLE_OIDC_GROUPS_CLAIM", "groups", "claim of the ID token that lists the person's groups"},
	{"CONSOLE_ROLE_GROUPS", "", "which groups give which roles, `group=role[+role]` separated by `;` (roles: preparer, approver, controller, auditor, admin, and budget, held beside another); a person of no listed group cannot sign in"},
	{"CONSOLE_IDLE_TIMEOUT", "30m", "a console session unused this long ends (1m to 24h)"},
	{"CONSOLE_SESSION_MAX", "10h", "a console session ends this long after sign-in, used or not (at least `CONSOLE_IDLE_TIMEOUT`, at most 7 days)"},
	{"CONSOLE_CHANGE_SHARE", "0.10", "share by which a household's amount must go up or down from the previous month to be listed on a batch's page (0.10: 10 %)"},
	{"CFONB_REASONS_FILE", "", "file of the French reject codes of the CFONB 120 statements' returns, `code;iso;libellé` a line, made from the list the bank gives (see [CFONB reject codes](#cfonb-reject-codes)); without it a code of columns 41-42 is kept as the bank gave it, untranslated; a fault of the file stops the start"},
	{"ORPHAN_FACTS_DAYS", "7", "days a beneficiary may have facts (changes, payees, overpayments) and no rights opening before it shows in `GET /v1/beneficiaries/unopened`"},
	{"FEC_SIREN", "", "SIREN of the agency (nine digits, checked), the start of the FEC's file name; `GET /v1/exports/fec` answers 503 without it"},
	{"FEC_ACCOUNTS", "", "account numbers of the public-body chart for the FEC over those of the chart (its metadata `gbcp`), `code=number[:label]` separated by `,` (e.g. `bank:main=5151:Banque de France`); a control account's number is its beneficiaries' accounts'"},
}

// Secret reports whether the setting's value must never be shown, in logs or
// in `ledgerctl config`.
func (s Setting) Secret() bool {
	return s.Env == "KAFKA_SASL_PASSWORD" || s.Env == "BANK_TOKEN" || s.Env == "LEDGER_TOKEN" || s.Env == "CONSOLE_OIDC_CLIENT_SECRET"
}

// Config holds the settings after parsing.
type Config struct {
	// Dev is dev mode (LEDGER_DEV): the embedded Kafka broker and bank
	// simulator may stand in for missing KAFKA_BROKERS and BANK_URL.
	Dev bool
	// LedgerURL is the base URL of the ledgerd that ledgerctl calls.
	LedgerURL string
	// LedgerToken is the API token ledgerctl sends, when set.
	LedgerToken string

	DatabaseURL   string
	TxMaxAttempts int
	BulkWrite     string // BULK_WRITE: auto, copy or insert
	// BulkInsert is true when bulk rows are written by multi-row INSERTs:
	// BULK_WRITE=insert, or auto once sqlstore.ChooseBulkMethod found that the role may
	// not COPY.
	BulkInsert       bool
	AutoMigrate      bool
	HTTPAddr         string
	HTTPMaxBodyBytes int64
	AuthTokens       string
	AuthTokensFile   string
	LogLevel         string
	LogFormat        string
	RateScheduleFile string // empty: the default schedule
	ADARunDay        int    // 0: no automatic run
	LeaseTTL         time.Duration
	ShutdownTimeout  time.Duration

	KafkaBrokers            []string // empty: run the embedded broker
	KafkaEmbeddedAddr       string
	KafkaEmbeddedPort       int // the port of KafkaEmbeddedAddr
	KafkaEmbeddedPartitions int
	KafkaTopic              string
	KafkaDLQTopic           string
	KafkaGroup              string
	KafkaBatchSize          int
	KafkaTLS                bool
	KafkaTLSCAFile          string
	KafkaTLSCertFile        string
	KafkaTLSKeyFile         string
	KafkaSASLMechanism      string // none, plain, scram-sha-256 or scram-sha-512
	KafkaSASLUsername       string
	KafkaSASLPassword       string

	SecondApprovalAbove decimal.Decimal
	DebtorName          string
	DebtorIBAN          string
	DebtorBIC           string
	// BankAccounts are the service's accounts other than DebtorIBAN
	// (BANK_ACCOUNTS), in the order given.
	BankAccounts        []BankAccount
	BankURL             string // empty: run the embedded bank simulator
	BankEmbeddedAddr    string
	BankToken           string
	BankFormat          string
	BankTimeout         time.Duration
	BankRetries         int
	BankBreakerFailures int
	BankBreakerOpen     time.Duration
	BankPollInterval    time.Duration
	// SealInterval is how often ledgerd seals what was posted since the
	// last seal (SEAL_INTERVAL).
	SealInterval     time.Duration
	PaymentFileMaxTx int
	// BudgetEnforce says that approvals of a scheme and year without an
	// appropriation are refused (BUDGET_CONTROL=enforce).
	BudgetEnforce bool
	// BudgetMinMonths is the months of cover below which the budget alert
	// fires (BUDGET_MIN_MONTHS).
	BudgetMinMonths     int
	ReconSuggestionDays int
	ReconInTransitDays  int
	// CFONBReasonsFile is the path of the list of French reject codes
	// (CFONB_REASONS_FILE), read by reconcile.LoadFrenchReasons at
	// start; empty: none.
	CFONBReasonsFile string
	OrphanFactsDays  int

	// FECSIREN is the agency's SIREN, checked; empty: no FEC export.
	FECSIREN string
	// FECAccounts is FEC_ACCOUNTS as written, checked by fec.ParseMapping.
	FECAccounts string

	// Console holds the settings of the staff console (CONSOLE_*).
	Console Console
}

// Console holds the settings of the staff console.
type Console struct {
	// Enabled is set when the console is served: CONSOLE_OIDC_ISSUER is
	// set, or dev mode is on.
	Enabled bool
	// OIDC is set when people sign in through the OpenID Connect
	// provider; in dev mode without it, only the demo staff can.
	OIDC         bool
	Issuer       string
	ClientID     string
	ClientSecret string
	RedirectURL  string
	GroupsClaim  string
	// RoleGroups maps a group of the provider to the roles it gives.
	RoleGroups  map[string][]string
	IdleTimeout time.Duration
	SessionMax  time.Duration
	// ChangeShare is the share of change from the previous month above
	// which a household's amount is listed on a batch's page.
	ChangeShare decimal.Decimal
}

// Load reads the settings from the environment through getenv (os.Getenv
// when nil). A malformed value is an error naming the variable.
func Load(getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	get := func(name string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		for _, s := range Settings {
			if s.Env == name {
				return s.Default
			}
		}
		return ""
	}
	var c Config
	var err error
	if c.Dev, err = strconv.ParseBool(get("LEDGER_DEV")); err != nil {
		return c, fmt.Errorf("LEDGER_DEV: %q is not true or false", get("LEDGER_DEV"))
	}
	c.LedgerURL = strings.TrimRight(get("LEDGER_URL"), "/")
	if u, err := url.Parse(c.LedgerURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return c, fmt.Errorf("LEDGER_URL: %q is not an http or https URL", c.LedgerURL)
	}
	c.LedgerToken = get("LEDGER_TOKEN")
	c.DatabaseURL = get("DATABASE_URL")
	if c.TxMaxAttempts, err = positiveInt(get, "TX_MAX_ATTEMPTS"); err != nil {
		return c, err
	}
	switch c.BulkWrite = get("BULK_WRITE"); c.BulkWrite {
	case "auto", "copy":
	case "insert":
		c.BulkInsert = true
	default:
		return c, fmt.Errorf("BULK_WRITE: %q is not auto, copy or insert", c.BulkWrite)
	}
	if c.AutoMigrate, err = strconv.ParseBool(get("AUTO_MIGRATE")); err != nil {
		return c, fmt.Errorf("AUTO_MIGRATE: %q is not true or false", get("AUTO_MIGRATE"))
	}
	c.HTTPAddr = get("HTTP_ADDR")
	n, err := positiveInt(get, "HTTP_MAX_BODY_BYTES")
	if err != nil {
		return c, err
	}
	c.HTTPMaxBodyBytes = int64(n)
	c.AuthTokens = get("AUTH_TOKENS")
	c.AuthTokensFile = get("AUTH_TOKENS_FILE")
	c.LogLevel = get("LOG_LEVEL")
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return c, fmt.Errorf("LOG_LEVEL: %q is not debug, info, warn or error", c.LogLevel)
	}
	c.LogFormat = get("LOG_FORMAT")
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return c, fmt.Errorf("LOG_FORMAT: %q is not json or text", c.LogFormat)
	}
	c.RateScheduleFile = get("RATE_SCHEDULE_FILE")
	if c.ADARunDay, err = strconv.Atoi(get("ADA_RUN_DAY")); err != nil || c.ADARunDay < 0 || c.ADARunDay > 28 {
		return c, fmt.Errorf("ADA_RUN_DAY: %q is not a day between 1 and 28, or 0", get("ADA_RUN_DAY"))
	}
	c.ShutdownTimeout = 20 * time.Second
	if err := loadKafka(get, &c); err != nil {
		return c, err
	}
	if err := loadBank(get, &c); err != nil {
		return c, err
	}
	if err := loadConsole(get, &c); err != nil {
		return c, err
	}
	return c, nil
}

// consoleRoles are the roles CONSOLE_ROLE_GROUPS may give: the staff API's.
var consoleRoles = []string{"preparer", "approver", "controller", "auditor", "admin", "budget"}

// loadConsole reads the CONSOLE_* settings. The console is on when
// CONSOLE_OIDC_ISSUER is set or in dev mode; with an issuer, every setting
// of the provider is required, so that a console half configured does not
// start.
func loadConsole(get func(string) string, c *Config) error {
	k := &c.Console
	k.Issuer = strings.TrimRight(get("CONSOLE_OIDC_ISSUER"), "/")
	k.ClientID = get("CONSOLE_OIDC_CLIENT_ID")
	k.ClientSecret = get("CONSOLE_OIDC_CLIENT_SECRET")
	k.RedirectURL = get("CONSOLE_OIDC_REDIRECT_URL")
	k.GroupsClaim = get("CONSOLE_OIDC_GROUPS_CLAIM")
	groups := get("CONSOLE_ROLE_GROUPS")
	k.OIDC = k.Issuer != ""
	k.Enabled = k.OIDC || c.Dev
	if !k.OIDC {
		for _, s := range []struct{ name, value string }{{"CONSOLE_OIDC_CLIENT_ID", k.ClientID},
			{"CONSOLE_OIDC_CLIENT_SECRET", k.ClientSecret}, {"CONSOLE_OIDC_REDIRECT_URL", k.RedirectURL}, {"CONSOLE_ROLE_GROUPS", groups}} {
			if s.value != "" {
				return fmt.Errorf("%s: set while CONSOLE_OIDC_ISSUER is not: set the issuer too, or leave the console's settings unset", s.name)
			}
		}
	} else {
		if u, err := url.Parse(k.Issuer); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("CONSOLE_OIDC_ISSUER: %q is not an http or https URL", k.Issuer)
		}
		for _, s := range []struct{ name, value string }{{"CONSOLE_OIDC_CLIENT_ID", k.ClientID},
			{"CONSOLE_OIDC_CLIENT_SECRET", k.ClientSecret}, {"CONSOLE_OIDC_REDIRECT_URL", k.RedirectURL}, {"CONSOLE_ROLE_GROUPS", groups}} {
			if s.value == "" {
				return fmt.Errorf("%s: unset while CONSOLE_OIDC_ISSUER is set: the console cannot sign anyone in without it", s.name)
			}
		}
		u, err := url.Parse(k.RedirectURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || !strings.HasSuffix(u.Path, "/console/auth/callback") {
			return fmt.Errorf("CONSOLE_OIDC_REDIRECT_URL: %q is not an http or https URL ending in /console/auth/callback", k.RedirectURL)
		}
		if k.GroupsClaim == "" {
			return fmt.Errorf("CONSOLE_OIDC_GROUPS_CLAIM: empty")
		}
		if k.RoleGroups, err = ParseRoleGroups(groups); err != nil {
			return fmt.Errorf("CONSOLE_ROLE_GROUPS: %w", err)
		}
	}
	var err error
	if k.IdleTimeout, err = time.ParseDuration(get("CONSOLE_IDLE_TIMEOUT")); err != nil || k.IdleTimeout < time.Minute || k.IdleTimeout > 24*time.Hour {
		return fmt.Errorf("CONSOLE_IDLE_TIMEOUT: %q is not a duration between 1m and 24h (such as 30m)", get("CONSOLE_IDLE_TIMEOUT"))
	}
	if k.SessionMax, err = time.ParseDuration(get("CONSOLE_SESSION_MAX")); err != nil || k.SessionMax < k.IdleTimeout || k.SessionMax > 7*24*time.Hour {
		return fmt.Errorf("CONSOLE_SESSION_MAX: %q is not a duration between CONSOLE_IDLE_TIMEOUT (%s) and 168h (such as 10h)",
			get("CONSOLE_SESSION_MAX"), k.IdleTimeout)
	}
	v := get("CONSOLE_CHANGE_SHARE")
	if k.ChangeShare, err = decimal.NewFromString(v); err != nil || !k.ChangeShare.IsPositive() || k.ChangeShare.GreaterThan(decimal.NewFromInt(10)) {
		return fmt.Errorf("CONSOLE_CHANGE_SHARE: %q is not a share above 0 and at most 10 (such as 0.10)", v)
	}
	return nil
}

// ParseRoleGroups reads CONSOLE_ROLE_GROUPS: `group=role[+role]` separated
// by `;`. A group given twice, an empty group or an unknown role is an
// error naming the entry.
func ParseRoleGroups(v string) (map[string][]string, error) {
	out := map[string][]string{}
	for i, item := range strings.Split(v, ";") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		group, roles, ok := strings.Cut(item, "=")
		group = strings.TrimSpace(group)
		if !ok || group == "" {
			return nil, fmt.Errorf("entry %d %q is not group=role[+role]", i+1, strings.TrimSpace(item))
		}
		if _, dup := out[group]; dup {
			return nil, fmt.Errorf("entry %d: the group %q is given twice", i+1, group)
		}
		var list []string
		for _, r := range strings.Split(roles, "+") {
			r = strings.TrimSpace(r)
			known := false
			for _, k := range consoleRoles {
				known = known || k == r
			}
			if !known {
				return nil, fmt.Errorf("entry %d (%s): unknown role %q (want preparer, approver, controller, auditor, admin or budget)", i+1, group, r)
			}
			list = append(list, r)
		}
		out[group] = list
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no group=role entry")
	}
	return out, nil
}

// loadBank reads the approval, debtor and BANK_* settings.
func loadBank(get func(string) string, c *Config) error {
	var err error
	v := get("APPROVAL_SECOND_ABOVE")
	if c.SecondApprovalAbove, err = decimal.NewFromString(v); err != nil || c.SecondApprovalAbove.IsNegative() ||
		!c.SecondApprovalAbove.Equal(c.SecondApprovalAbove.Round(2)) {
		return fmt.Errorf("APPROVAL_SECOND_ABOVE: %q is not an amount in euros with at most two decimals", v)
	}
	c.DebtorName, c.DebtorIBAN, c.DebtorBIC = get("DEBTOR_NAME"), strings.ReplaceAll(get("DEBTOR_IBAN"), " ", ""), get("DEBTOR_BIC")
	if c.BankAccounts, err = parseBankAccounts(get("BANK_ACCOUNTS"), c.DebtorIBAN); err != nil {
		return fmt.Errorf("BANK_ACCOUNTS: %w", err)
	}
	c.BankURL = strings.TrimRight(get("BANK_URL"), "/")
	if c.BankURL != "" {
		u, err := url.Parse(c.BankURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("BANK_URL: %q is not an http or https URL", c.BankURL)
		}
	}
	c.BankEmbeddedAddr = get("BANK_EMBEDDED_ADDR")
	host, port, err := net.SplitHostPort(c.BankEmbeddedAddr)
	if err != nil || !validPort(port, true) || (host != "127.0.0.1" && host != "localhost") {
		return fmt.Errorf("BANK_EMBEDDED_ADDR: %q is not 127.0.0.1:port", c.BankEmbeddedAddr)
	}
	c.BankToken = get("BANK_TOKEN")
	c.BankFormat = get("BANK_FORMAT")
	if c.BankFormat != "pain.001.001.09" && c.BankFormat != "pain.001.001.03" {
		return fmt.Errorf("BANK_FORMAT: %q is not pain.001.001.09 or pain.001.001.03", c.BankFormat)
	}
	for _, d := range []struct {
		name string
		to   *time.Duration
	}{{"BANK_TIMEOUT", &c.BankTimeout}, {"BANK_BREAKER_OPEN", &c.BankBreakerOpen}, {"BANK_POLL_INTERVAL", &c.BankPollInterval},
		{"SEAL_INTERVAL", &c.SealInterval}} {
		v := get(d.name)
		if *d.to, err = time.ParseDuration(v); err != nil || *d.to <= 0 {
			return fmt.Errorf("%s: %q is not a positive duration (such as 10s or 1m)", d.name, v)
		}
	}
	if c.LeaseTTL, err = time.ParseDuration(get("LEASE_TTL")); err != nil || c.LeaseTTL < time.Second || c.LeaseTTL > time.Hour {
		return fmt.Errorf("LEASE_TTL: %q is not a duration between 1s and 1h (such as 30s)", get("LEASE_TTL"))
	}
	for _, n := range []struct {
		name string
		to   *int
	}{{"BANK_RETRIES", &c.BankRetries}, {"BANK_BREAKER_FAILURES", &c.BankBreakerFailures}, {"PAYMENT_FILE_MAX_TX", &c.PaymentFileMaxTx},
		{"RECON_SUGGESTION_DAYS", &c.ReconSuggestionDays}, {"RECON_IN_TRANSIT_DAYS", &c.ReconInTransitDays},
		{"ORPHAN_FACTS_DAYS", &c.OrphanFactsDays}} {
		if *n.to, err = positiveInt(get, n.name); err != nil {
			return err
		}
	}
	if err := loadFEC(get, c); err != nil {
		return err
	}
	c.CFONBReasonsFile = get("CFONB_REASONS_FILE")
	switch v := get("BUDGET_CONTROL"); v {
	case "off":
	case "enforce":
		c.BudgetEnforce = true
	default:
		return fmt.Errorf("BUDGET_CONTROL: %q is not off or enforce", v)
	}
	v = get("BUDGET_MIN_MONTHS")
	if c.BudgetMinMonths, err = strconv.Atoi(v); err != nil || c.BudgetMinMonths < 1 || c.BudgetMinMonths > 12 {
		return fmt.Errorf("BUDGET_MIN_MONTHS: %q is not a number of months from 1 to 12", v)
	}
	if c.PaymentFileMaxTx > 100000 {
		return fmt.Errorf("PAYMENT_FILE_MAX_TX: %d is more than 100000", c.PaymentFileMaxTx)
	}
	return nil
}

// loadKafka reads the KAFKA_* settings.
func loadKafka(get func(string) string, c *Config) error {
	var err error
	if v := get("KAFKA_BROKERS"); v != "" {
		for _, b := range strings.Split(v, ",") {
			b = strings.TrimSpace(b)
			if b == "" {
				continue
			}
			if _, port, err := net.SplitHostPort(b); err != nil || !validPort(port, false) {
				return fmt.Errorf("KAFKA_BROKERS: %q is not host:port", b)
			}
			c.KafkaBrokers = append(c.KafkaBrokers, b)
		}
	}
	c.KafkaEmbeddedAddr = get("KAFKA_EMBEDDED_ADDR")
	host, port, err := net.SplitHostPort(c.KafkaEmbeddedAddr)
	if err != nil || !validPort(port, true) {
		return fmt.Errorf("KAFKA_EMBEDDED_ADDR: %q is not host:port", c.KafkaEmbeddedAddr)
	}
	if host != "127.0.0.1" && host != "localhost" {
		return fmt.Errorf("KAFKA_EMBEDDED_ADDR: %q is not on 127.0.0.1, the only address the embedded broker listens on", c.KafkaEmbeddedAddr)
	}
	c.KafkaEmbeddedPort, _ = strconv.Atoi(port)
	if c.KafkaEmbeddedPartitions, err = positiveInt(get, "KAFKA_EMBEDDED_PARTITIONS"); err != nil {
		return err
	}
	c.KafkaTopic = get("KAFKA_TOPIC")
	c.KafkaDLQTopic = get("KAFKA_DLQ_TOPIC")
	for _, t := range []struct{ name, value string }{{"KAFKA_TOPIC", c.KafkaTopic}, {"KAFKA_DLQ_TOPIC", c.KafkaDLQTopic}} {
		if !validTopic(t.value) {
			return fmt.Errorf("%s: %q is not a topic name (1 to 249 characters of a-z A-Z 0-9 . _ -)", t.name, t.value)
		}
	}
	if c.KafkaTopic == c.KafkaDLQTopic {
		return fmt.Errorf("KAFKA_DLQ_TOPIC: %q is also KAFKA_TOPIC", c.KafkaDLQTopic)
	}
	c.KafkaGroup = get("KAFKA_GROUP")
	if c.KafkaBatchSize, err = positiveInt(get, "KAFKA_BATCH_SIZE"); err != nil {
		return err
	}
	if c.KafkaTLS, err = strconv.ParseBool(get("KAFKA_TLS")); err != nil {
		return fmt.Errorf("KAFKA_TLS: %q is not true or false", get("KAFKA_TLS"))
	}
	c.KafkaTLSCAFile = get("KAFKA_TLS_CA_FILE")
	c.KafkaTLSCertFile = get("KAFKA_TLS_CERT_FILE")
	c.KafkaTLSKeyFile = get("KAFKA_TLS_KEY_FILE")
	for _, f := range []struct{ name, value string }{
		{"KAFKA_TLS_CA_FILE", c.KafkaTLSCAFile}, {"KAFKA_TLS_CERT_FILE", c.KafkaTLSCertFile}, {"KAFKA_TLS_KEY_FILE", c.KafkaTLSKeyFile},
	} {
		if f.value != "" && !c.KafkaTLS {
			return fmt.Errorf("%s: set while KAFKA_TLS is false", f.name)
		}
	}
	if (c.KafkaTLSCertFile == "") != (c.KafkaTLSKeyFile == "") {
		if c.KafkaTLSCertFile == "" {
			return fmt.Errorf("KAFKA_TLS_CERT_FILE: unset while KAFKA_TLS_KEY_FILE is set")
		}
		return fmt.Errorf("KAFKA_TLS_KEY_FILE: unset while KAFKA_TLS_CERT_FILE is set")
	}
	c.KafkaSASLMechanism = strings.ToLower(get("KAFKA_SASL_MECHANISM"))
	c.KafkaSASLUsername = get("KAFKA_SASL_USERNAME")
	c.KafkaSASLPassword = get("KAFKA_SASL_PASSWORD")
	switch c.KafkaSASLMechanism {
	case "none":
	case "plain", "scram-sha-256", "scram-sha-512":
		if c.KafkaSASLUsername == "" {
			return fmt.Errorf("KAFKA_SASL_USERNAME: unset while KAFKA_SASL_MECHANISM is %s", c.KafkaSASLMechanism)
		}
		if c.KafkaSASLPassword == "" {
			return fmt.Errorf("KAFKA_SASL_PASSWORD: unset while KAFKA_SASL_MECHANISM is %s", c.KafkaSASLMechanism)
		}
	default:
		return fmt.Errorf("KAFKA_SASL_MECHANISM: %q is not none, plain, scram-sha-256 or scram-sha-512", c.KafkaSASLMechanism)
	}
	return nil
}

func validPort(port string, zeroOK bool) bool {
	n, err := strconv.Atoi(port)
	return err == nil && n <= 65535 && (n > 0 || zeroOK && n == 0)
}

// validTopic reports whether name is a legal Kafka topic name.
func validTopic(name string) bool {
	if name == "" || len(name) > 249 || name == "." || name == ".." {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func positiveInt(get func(string) string, name string) (int, error) {
	v := get(name)
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s: %q is not a positive whole number", name, v)
	}
	return n, nil
}

// Table renders Settings as a Markdown table for the README.
func Table() string {
	var b strings.Builder
	b.WriteString("| variable | default | what it sets |\n| --- | --- | --- |\n")
	for _, s := range Settings {
		d := s.Default
		if d == "" {
			d = "(none)"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", s.Env, d, s.Doc)
	}
	return b.String()
}

// CheckServer checks the settings a server needs outside dev mode: without
// KAFKA_BROKERS it would listen to an embedded broker while the real topic
// fills up, and without BANK_URL it would pay through a simulator that pays
// nobody. The error names every missing setting.
func (c Config) CheckServer() error {
	if c.Dev {
		return nil
	}
	var missing []string
	if len(c.KafkaBrokers) == 0 {
		missing = append(missing, "KAFKA_BROKERS is not set: the eligibility events would be read from an embedded broker, not from the agency's Kafka")
	}
	if c.BankURL == "" {
		missing = append(missing, "BANK_URL is not set: payment files would go to an embedded bank simulator that pays nobody")
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%s (set them, or start in dev mode with --dev or LEDGER_DEV=true to use the simulators)", strings.Join(missing, "; "))
}

// BankAccount is an account of the service at the bank and the ledger
// account that stands for it.
type BankAccount struct {
	IBAN   string // without spaces, in capitals
	Ledger string // bank:<name>
}

// parseBankAccounts reads BANK_ACCOUNTS: `IBAN=bank:<name>` separated by
// commas. An IBAN is given once, and is not debtor's (bank:main); a ledger
// account is bank: and a name of lower-case letters, digits and dashes,
// given once, never bank:main.
func parseBankAccounts(v, debtor string) ([]BankAccount, error) {
	var out []BankAccount
	seen := map[string]bool{strings.ToUpper(debtor): true, "bank:main": true}
	for _, item := range strings.Split(v, ",") {
		if strings.TrimSpace(item) == "" {
			continue
		}
		iban, code, ok := strings.Cut(item, "=")
		iban = strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(iban), " ", ""))
		code = strings.TrimSpace(code)
		name, isBank := strings.CutPrefix(code, "bank:")
		switch {
		case !ok:
			return nil, fmt.Errorf("%q is not IBAN=bank:<name>", strings.TrimSpace(item))
		case !validIBAN(iban):
			return nil, fmt.Errorf("%q is not a valid IBAN", iban)
		case !isBank || !validName(name):
			return nil, fmt.Errorf("%q is not a ledger account bank:<name> (lower-case letters, digits and dashes)", code)
		case seen[iban]:
			return nil, fmt.Errorf("account %s is given twice (DEBTOR_IBAN is bank:main)", iban)
		case seen[code]:
			return nil, fmt.Errorf("ledger account %s is given twice (bank:main is DEBTOR_IBAN's)", code)
		}
		seen[iban], seen[code] = true, true
		out = append(out, BankAccount{IBAN: iban, Ledger: code})
	}
	return out, nil
}

// validName reports whether s is a name of 1 to 40 lower-case letters,
// digits and dashes.
func validName(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
			return false
		}
	}
	return true
}

// validIBAN reports whether s is 15 to 34 capitals and digits, a country
// code and check digits first, that pass the mod-97 check of ISO 7064.
func validIBAN(s string) bool {
	if len(s) < 15 || len(s) > 34 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' {
		return false
	}
	r := 0
	for i := range len(s) {
		c := s[(i+4)%len(s)]
		switch {
		case c >= '0' && c <= '9':
			r = (r*10 + int(c-'0')) % 97
		case c >= 'A' && c <= 'Z':
			r = (r*100 + int(c-'A') + 10) % 97
		default:
			return false
		}
	}
	return r == 1
}

// loadFEC reads the FEC_* settings: a SIREN, when set, is nine digits with
// the right check digit; the account numbers parse.
func loadFEC(get func(string) string, c *Config) error {
	c.FECSIREN, c.FECAccounts = get("FEC_SIREN"), get("FEC_ACCOUNTS")
	if c.FECSIREN != "" {
		if err := fec.CheckSIREN(c.FECSIREN); err != nil {
			return fmt.Errorf("FEC_SIREN: %s", strings.TrimPrefix(err.Error(), "FEC_SIREN: "))
		}
	}
	if _, err := fec.ParseMapping(c.FECAccounts); err != nil {
		return fmt.Errorf("FEC_ACCOUNTS: %w", err)
	}
	return nil
}
