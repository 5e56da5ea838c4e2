package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/migrations"
)

func migrateCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending schema migrations",
		Long: `Apply the schema migrations the database lacks. It uses the database
itself (DATABASE_URL or --database-url), not ledgerd.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			pool, err := a.connect(ctx, false)
			if err != nil {
				return err
			}
			applied, err := migrations.Up(ctx, pool, nil)
			if err != nil {
				return err
			}
			version, err := migrations.Version(ctx, pool)
			if err != nil {
				return fmt.Errorf("read schema version: %w", err)
			}
			out := struct {
				Applied []migrations.Result `json:"applied"`
				Version int64               `json:"version"`
			}{applied, version}
			if out.Applied == nil {
				out.Applied = []migrations.Result{}
			}
			return a.write(out, func(w io.Writer) error {
				if len(applied) == 0 {
					_, err := fmt.Fprintf(w, "schema up to date at version %d\n", version)
					return err
				}
				t := cli.NewTable(w, "VERSION", "MIGRATION", "TOOK")
				for _, r := range applied {
					t.Row(fmt.Sprint(r.Version), r.Name, r.Took)
				}
				if err := t.Flush(); err != nil {
					return err
				}
				_, err := fmt.Fprintf(w, "applied %s; schema at version %d\n", plural(len(applied), "migration"), version)
				return err
			})
		},
	}
}
