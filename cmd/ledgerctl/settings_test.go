package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ofii/allowances/internal/cli"
)

// TestConfigSaysDevMode: `ledgerctl config` says first that dev mode is on
// and that the payments go to a simulator that pays nobody, in its table
// and in its JSON, when LEDGER_DEV is true, and says nothing of it
// otherwise.
func TestConfigSaysDevMode(t *testing.T) {
	for _, c := range []struct {
		name      string
		env       map[string]string
		want      []string // in the table's first line, and the JSON's note
		wantNoDev bool
	}{
		{"Off", nil, nil, true},
		{"False", map[string]string{"LEDGER_DEV": "false"}, nil, true},
		{"On", map[string]string{"LEDGER_DEV": "true"}, []string{"DEV MODE is on", "simulator, which pays nobody", "embedded Kafka broker"}, false},
		{"OnWithBank", map[string]string{"LEDGER_DEV": "1", "BANK_URL": "https://bank.example", "KAFKA_BROKERS": "k1:9093"},
			[]string{"DEV MODE is on", "payments go to the bank of BANK_URL"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			env := func(k string) string { return c.env[k] }
			var out, errOut bytes.Buffer
			if code := run(context.Background(), []string{"config"}, strings.NewReader(""), &out, &errOut, env); code != cli.ExitOK {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			first, _, _ := strings.Cut(out.String(), "\n")
			if c.wantNoDev && strings.Contains(out.String(), "DEV MODE") {
				t.Errorf("dev mode is off, yet config says it is on:\n%s", first)
			}
			for _, w := range c.want {
				if !strings.Contains(first, w) {
					t.Errorf("first line %q does not say %q", first, w)
				}
			}
			if c.name == "OnWithBank" && strings.Contains(first, "simulator") {
				t.Errorf("first line %q speaks of a simulator, with BANK_URL and KAFKA_BROKERS set", first)
			}

			out.Reset()
			if code := run(context.Background(), []string{"-o", "json", "config"}, strings.NewReader(""), &out, &errOut, env); code != cli.ExitOK {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			var settings []setting
			if err := json.Unmarshal(out.Bytes(), &settings); err != nil {
				t.Fatalf("%v: %s", err, out.String())
			}
			notes := 0
			for _, s := range settings {
				if s.Note == "" {
					continue
				}
				notes++
				if s.Env != "LEDGER_DEV" || c.wantNoDev {
					t.Errorf("%s has the note %q", s.Env, s.Note)
				}
				for _, w := range c.want {
					if !strings.Contains(s.Note, w) {
						t.Errorf("note %q does not say %q", s.Note, w)
					}
				}
			}
			if want := map[bool]int{true: 0, false: 1}[c.wantNoDev]; notes != want {
				t.Errorf("%d settings with a note, want %d", notes, want)
			}
		})
	}
}
