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
}

func configCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "config",
		Short: "List the settings and the values in effect",
		Long: `List the environment variables the programs read, then the value each has
here. The database password and the token list are not shown. It reads
only this process's environment: it uses neither ledgerd nor the database.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Load checks every value, so that a bad one is reported here.
			if _, err := a.config(); err != nil {
				return err
			}
			settings := effectiveSettings(a)
			return a.write(settings, func(w io.Writer) error {
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
