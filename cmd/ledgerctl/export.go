package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/ofii/allowances/internal/apiclient"
	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger/fec"
)

func exportCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export the books for the tax and audit authorities",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(exportFECCmd(a))
	return cmd
}

func exportFECCmd(a *app) *cobra.Command {
	var from, to, file string
	cmd := &cobra.Command{
		Use:   "fec --from YYYY-MM-DD --to YYYY-MM-DD -f FILE",
		Short: "Write the Fichier des Écritures Comptables of a period",
		Long: `Read from ledgerd (GET /v1/exports/fec, roles auditor and admin) the
Fichier des Écritures Comptables (article A47 A-1 of the Livre des
procédures fiscales) of the days --from to --to (at most 366 days), and
write it to FILE as it comes, showing the lines received on standard error
when it is a terminal. The file is written beside FILE first and renamed
to FILE once whole: a transfer cut short leaves no FILE. The name the
decree gives it is SIRENFECAAAAMMJJ.txt, AAAAMMJJ being --to.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := fec.ParsePeriod(from, to)
			if err != nil {
				var e *errs.Error
				if errors.As(err, &e) {
					err = errs.Field("--"+e.Field, "%s", e.Message)
				}
				return cli.Usage(err)
			}
			if file == "" {
				return cli.Usage(errs.Field("-f", "the file to write is required"))
			}
			c, err := a.api()
			if err != nil {
				return err
			}
			tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".part-*")
			if err != nil {
				return fmt.Errorf("write the FEC: %w", err)
			}
			defer func() { _ = os.Remove(tmp.Name()) }()
			bar := progressbar.NewOptions64(-1,
				progressbar.OptionSetWriter(a.stderr),
				progressbar.OptionSetVisibility(cli.IsTerminal(a.stderr)),
				progressbar.OptionSetDescription("FEC lines"),
				progressbar.OptionShowCount(),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionClearOnFinish(),
			)
			lw := &lineCounter{w: tmp, bar: bar}
			q := url.Values{"from": {p.From.String()}, "to": {p.To.String()}}
			err = c.Do(cmd.Context(), "GET", "/v1/exports/fec", q, "", nil, lw)
			_ = bar.Finish()
			if cerr := tmp.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("write the FEC: %w", cerr)
			}
			if err != nil {
				return apiclient.RenameFields(err, map[string]string{"from": "--from", "to": "--to"})
			}
			if err := os.Rename(tmp.Name(), file); err != nil {
				return fmt.Errorf("write the FEC: %w", err)
			}
			lines := max(lw.lines-1, 0) // the header
			if a.json() {
				return a.write(map[string]any{"file": file, "lines": lines, "bytes": lw.bytes}, nil)
			}
			_, err = fmt.Fprintf(a.stdout, "%s: %d lines (%d bytes), %s to %s\n", file, lines, lw.bytes, p.From, p.To)
			return err
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "first day of the period, YYYY-MM-DD")
	cmd.Flags().StringVar(&to, "to", "", "closing date of the period, YYYY-MM-DD")
	cmd.Flags().StringVarP(&file, "file", "f", "", "the file to write (the decree names it SIRENFECAAAAMMJJ.txt)")
	_ = cmd.MarkFlagRequired("from")
	_ = cmd.MarkFlagRequired("to")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

// lineCounter writes to w and counts the lines and bytes written.
type lineCounter struct {
	w     io.Writer
	bar   *progressbar.ProgressBar
	lines int64
	bytes int64
}

func (l *lineCounter) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	l.bytes += int64(n)
	k := int64(bytes.Count(p[:n], []byte{'\n'}))
	l.lines += k
	_ = l.bar.Add64(k)
	return n, err
}
