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
