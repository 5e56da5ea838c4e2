package config_test

import (
	"os"
	"strings"
	"testing"

	"github.com/ofii/allowances/internal/config"
)

func TestDefaults(t *testing.T) {
	c, err := config.Load(func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if !c.AutoMigrate || c.HTTPAddr != "127.0.0.1:8080" || c.TxMaxAttempts != 30 || c.HTTPMaxBodyBytes != 1<<20 ||
		c.SecondApprovalAbove.String() != "100000" || c.BankURL != "" || c.BankTimeout.Seconds() != 10 || c.PaymentFileMaxTx != 10000 ||
		c.OrphanFactsDays != 7 {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestBadSettings(t *testing.T) {
	for _, tt := range []struct{ name, value, want string }{
		{"AUTO_MIGRATE", "maybe", "AUTO_MIGRATE"},
		{"BULK_WRITE", "fast", "BULK_WRITE"},
		{"TX_MAX_ATTEMPTS", "0", "TX_MAX_ATTEMPTS"},
		{"HTTP_MAX_BODY_BYTES", "lots", "HTTP_MAX_BODY_BYTES"},
		{"LOG_LEVEL", "loud", "LOG_LEVEL"},
		{"LOG_FORMAT", "xml", "LOG_FORMAT"},
		{"APPROVAL_SECOND_ABOVE", "-1", "APPROVAL_SECOND_ABOVE"},
		{"APPROVAL_SECOND_ABOVE", "1000.005", "APPROVAL_SECOND_ABOVE"},
		{"BANK_URL", "ftp://bank", "BANK_URL"},
		{"BANK_EMBEDDED_ADDR", "0.0.0.0:8090", "BANK_EMBEDDED_ADDR"},
		{"BANK_FORMAT", "pain.001.001.02", "BANK_FORMAT"},
		{"BANK_TIMEOUT", "10", "BANK_TIMEOUT"},
		{"BANK_BREAKER_OPEN", "-1s", "BANK_BREAKER_OPEN"},
		{"BANK_RETRIES", "0", "BANK_RETRIES"},
		{"PAYMENT_FILE_MAX_TX", "100001", "PAYMENT_FILE_MAX_TX"},
		{"RECON_SUGGESTION_DAYS", "0", "RECON_SUGGESTION_DAYS"},
		{"RECON_IN_TRANSIT_DAYS", "soon", "RECON_IN_TRANSIT_DAYS"},
		{"ORPHAN_FACTS_DAYS", "0", "ORPHAN_FACTS_DAYS"},
		{"BANK_ACCOUNTS", "FR7610107001011234567890129", "BANK_ACCOUNTS"},
		{"BANK_ACCOUNTS", "FR7610107001011234567890128=bank:reserve", "BANK_ACCOUNTS"},
		{"BANK_ACCOUNTS", "FR7610107001011234567890129=reserve", "BANK_ACCOUNTS"},
		{"BANK_ACCOUNTS", "FR7610107001011234567890129=bank:Reserve", "BANK_ACCOUNTS"},
		{"BANK_ACCOUNTS", "FR7610107001011234567890129=bank:main", "BANK_ACCOUNTS"},
		{"BANK_ACCOUNTS", "FR7630001007941234567890185=bank:reserve", "BANK_ACCOUNTS"},
		{"BANK_ACCOUNTS", "FR7610107001011234567890129=bank:a,FR7610107001011234567890129=bank:b", "BANK_ACCOUNTS"},
		{"BANK_ACCOUNTS", "FR7610107001011234567890129=bank:a,FR1420041010050500013M02606=bank:a", "BANK_ACCOUNTS"},
		{"CONSOLE_OIDC_ISSUER", "https://id.ofii.test", "CONSOLE_OIDC_CLIENT_ID"},
		{"CONSOLE_OIDC_CLIENT_ID", "console", "CONSOLE_OIDC_CLIENT_ID"},
		{"CONSOLE_ROLE_GROUPS", "a=preparer", "CONSOLE_ROLE_GROUPS"},
		{"CONSOLE_IDLE_TIMEOUT", "10s", "CONSOLE_IDLE_TIMEOUT"},
		{"CONSOLE_SESSION_MAX", "1m", "CONSOLE_SESSION_MAX"},
		{"CONSOLE_CHANGE_SHARE", "0", "CONSOLE_CHANGE_SHARE"},
	} {
		_, err := config.Load(func(k string) string {
			if k == tt.name {
				return tt.value
			}
			return ""
		})
		if err == nil || !strings.HasPrefix(err.Error(), tt.want+":") {
			t.Errorf("%s=%s: err = %v, want one naming %s", tt.name, tt.value, err, tt.want)
		}
	}
}

// TestReadmeListsEverySetting keeps the README's settings table true.
func TestReadmeListsEverySetting(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), config.Table()) {
		t.Fatalf("README.md does not contain the settings table; put this in it:\n%s", config.Table())
	}
}

func TestCFONBReasonsFile(t *testing.T) {
	c, err := config.Load(func(k string) string {
		if k == "CFONB_REASONS_FILE" {
			return " /etc/ledger/cfonb-reasons.csv "
		}
		return ""
	})
	if err != nil || c.CFONBReasonsFile != "/etc/ledger/cfonb-reasons.csv" {
		t.Fatalf("CFONB_REASONS_FILE = %q, %v", c.CFONBReasonsFile, err)
	}
	if c, _ := config.Load(func(string) string { return "" }); c.CFONBReasonsFile != "" {
		t.Errorf("default CFONB_REASONS_FILE = %q, want none", c.CFONBReasonsFile)
	}
}

func TestBankAccounts(t *testing.T) {
	c, err := config.Load(func(k string) string {
		if k == "BANK_ACCOUNTS" {
			return " fr76 1010 7001 0112 3456 7890 129 = bank:reserve , FR1420041010050500013M02606=bank:grants-2 ,"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []config.BankAccount{{IBAN: "FR7610107001011234567890129", Ledger: "bank:reserve"}, {IBAN: "FR1420041010050500013M02606", Ledger: "bank:grants-2"}}
	if len(c.BankAccounts) != 2 || c.BankAccounts[0] != want[0] || c.BankAccounts[1] != want[1] {
		t.Errorf("BankAccounts = %+v, want %+v", c.BankAccounts, want)
	}
	if c, _ := config.Load(func(string) string { return "" }); len(c.BankAccounts) != 0 {
		t.Errorf("no BANK_ACCOUNTS: %+v", c.BankAccounts)
	}
}

// TestConsoleSettings: the console is off unless an issuer is set or dev
// mode is on; with an issuer, every setting of the provider is required,
// and the groups map to the API's roles.
func TestConsoleSettings(t *testing.T) {
	full := map[string]string{
		"CONSOLE_OIDC_ISSUER": "https://id.ofii.test/realms/staff", "CONSOLE_OIDC_CLIENT_ID": "console",
		"CONSOLE_OIDC_CLIENT_SECRET": "s3cret", "CONSOLE_OIDC_REDIRECT_URL": "https://ledger.ofii.test/console/auth/callback",
		"CONSOLE_ROLE_GROUPS": "fin-prep=preparer; fin-appr=approver+preparer;audit=auditor",
	}
	load := func(env map[string]string) (config.Config, error) {
		return config.Load(func(k string) string { return env[k] })
	}
	c, err := load(nil)
	if err != nil || c.Console.Enabled {
		t.Errorf("unset: enabled %v, err %v; want off", c.Console.Enabled, err)
	}
	c, err = load(map[string]string{"LEDGER_DEV": "true"})
	if err != nil || !c.Console.Enabled || c.Console.OIDC {
		t.Errorf("dev mode: %+v, %v; want on without OIDC", c.Console, err)
	}
	c, err = load(full)
	if err != nil || !c.Console.Enabled || !c.Console.OIDC || c.Console.GroupsClaim != "groups" {
		t.Fatalf("full: %+v, %v", c.Console, err)
	}
	if got := c.Console.RoleGroups["fin-appr"]; len(got) != 2 || got[0] != "approver" || got[1] != "preparer" {
		t.Errorf("fin-appr roles %v", got)
	}
	for name := range full {
		if name == "CONSOLE_OIDC_ISSUER" {
			continue
		}
		env := map[string]string{}
		for k, v := range full {
			if k != name {
				env[k] = v
			}
		}
		if _, err := load(env); err == nil || !strings.HasPrefix(err.Error(), name+":") {
			t.Errorf("without %s: %v, want an error naming it", name, err)
		}
	}
	for _, bad := range []struct{ name, value string }{
		{"CONSOLE_ROLE_GROUPS", "fin=boss"}, {"CONSOLE_ROLE_GROUPS", "fin=preparer;fin=approver"}, {"CONSOLE_ROLE_GROUPS", "=preparer"},
		{"CONSOLE_OIDC_REDIRECT_URL", "https://ledger.ofii.test/callback"}, {"CONSOLE_OIDC_ISSUER", "id.ofii.test"},
	} {
		env := map[string]string{}
		for k, v := range full {
			env[k] = v
		}
		env[bad.name] = bad.value
		if _, err := load(env); err == nil || !strings.HasPrefix(err.Error(), bad.name+":") {
			t.Errorf("%s=%s: %v, want an error naming it", bad.name, bad.value, err)
		}
	}
	for _, s := range config.Settings {
		if s.Env == "CONSOLE_OIDC_CLIENT_SECRET" && !s.Secret() {
			t.Error("CONSOLE_OIDC_CLIENT_SECRET is not secret")
		}
	}
}
