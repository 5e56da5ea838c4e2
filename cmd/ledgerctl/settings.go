package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/config"
	"github.com/ofii/allowances/internal/db"
)

// setting is one setting with the value in effect and where it came from.
type setting struct {
	Env     string `json:"env"`
	Default string `json:"default"`
	Doc     string `json:"doc"`
	Value   string `json:"value"`
	Source  string `json:"source"` // default, environment or flag
	// Note says what the value means, when it needs saying: on LEDGER_DEV
	// in dev mode, where the payments go.
	Note string `json:"note,omitempty"`
}

func configCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "config",
		Short: "List the settings and the values in effect",
		Long: `List the environment variables the programs read, then the value each has
here. The database password and the token list are not shown. In dev mode
(LEDGER_DEV=true) it says so first, and where the payments go. It reads
only this process's environment: it uses neither ledgerd nor the database.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Load checks every value, so that a bad one is reported here.
			c, err := a.config()
			if err != nil {
				return err
			}
			settings := effectiveSettings(a)
			note := devModeNote(c)
			for i := range settings {
				if settings[i].Env == "LEDGER_DEV" {
					settings[i].Note = note
				}
			}
			return a.write(settings, func(w io.Writer) error {
				if note != "" {
					fmt.Fprintf(w, "%s\n\n", note)
				}
				if _, err := io.WriteString(w, config.Table()); err != nil {
					return err
				}
				fmt.Fprintln(w)
				t := cli.NewTable(w, "SETTING", "VALUE", "FROM")
				for _, s := range settings {
					t.Row(s.Env, s.Value, s.Source)
				}
				return t.Flush()
			})
		},
	}
}

// devModeNote says, in dev mode only, that it is on and where the payments
// go: with BANK_URL unset, to the embedded bank simulator, which pays nobody.
func devModeNote(c config.Config) string {
	if !c.Dev {
		return ""
	}
	what := []string{"payments go to the bank of BANK_URL"}
	if c.BankURL == "" {
		what[0] = "payments go to ledgerd's embedded bank simulator, which pays nobody (BANK_URL is not set)"
	}
	if len(c.KafkaBrokers) == 0 {
		what = append(what, "eligibility events are read from ledgerd's embedded Kafka broker (KAFKA_BROKERS is not set)")
	}
	return "DEV MODE is on (LEDGER_DEV): " + strings.Join(what, "; ")
}

// effectiveSettings lists config.Settings with the value each has: the
// environment's, or the default, or the flag's for DATABASE_URL.
func effectiveSettings(a *app) []setting {
	out := make([]setting, 0, len(config.Settings))
	for _, s := range config.Settings {
		e := setting{Env: s.Env, Default: s.Default, Doc: s.Doc, Value: s.Default, Source: "default"}
		if v := strings.TrimSpace(a.getenv(s.Env)); v != "" {
			e.Value, e.Source = v, "environment"
		}
		switch s.Env {
		case "DATABASE_URL":
			if a.databaseURL != "" {
				e.Value, e.Source = a.databaseURL, "flag"
			}
			e.Value = db.Redact(e.Value)
		case "AUTH_TOKENS":
			if e.Value != "" {
				e.Value = "(" + plural(len(strings.Split(strings.Trim(e.Value, ";"), ";")), "token") + ")"
			}
		}
		if s.Secret() && e.Value != "" {
			e.Value = "(set, not shown)"
		}
		out = append(out, e)
	}
	return out
}
