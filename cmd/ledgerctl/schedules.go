package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/shopspring/decimal"
	"github.com/spf13/cobra"

	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/payments"
)

func schedulesCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "schedules", Short: "Read the rate schedules: ADA, return aid and reinsertion rates"}
	var on, file string
	show := &cobra.Command{
		Use:   "show",
		Short: "Show the rate schedule versions, or the one in force on a day",
		Long: `Show the versions of the rate schedule, oldest first, or with --on the one in
force on that day: the ADA base daily amount per territory and household size,
the additional amount, the return aid per group and band, and the reinsertion
ceilings.

The schedule is read from --file, else from RATE_SCHEDULE_FILE, else it is the
default one shipped with the service. With -o json the output is a schedule
file (or, with --on, one version) in the form RATE_SCHEDULE_FILE reads.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			day, err := parseDate("--on", on)
			if err != nil {
				return err
			}
			set, from, err := a.schedules(file)
			if err != nil {
				return err
			}
			if !day.IsZero() {
				s, err := set.On(day)
				if err != nil {
					return err
				}
				return a.write(s, func(w io.Writer) error {
					fmt.Fprintf(w, "rate schedule in force on %s, from %s\n\n", day, from)
					return writeSchedule(w, s)
				})
			}
			return a.write(set, func(w io.Writer) error {
				versions := set.Versions()
				fmt.Fprintf(w, "%s of the rate schedule, from %s\n", plural(len(versions), "version"), from)
				for i := range versions {
					fmt.Fprintln(w)
					if err := writeSchedule(w, &versions[i]); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	show.Flags().StringVar(&on, "on", "", "show the version in force on this day (YYYY-MM-DD)")
	show.Flags().StringVar(&file, "file", "", "read this rate schedule file (JSON) instead of RATE_SCHEDULE_FILE or the default")
	cmd.AddCommand(show)
	return cmd
}

// schedules returns the rate schedule read from file, else from
// RATE_SCHEDULE_FILE, else the default one, and says where it came from.
func (a *app) schedules(file string) (*payments.ScheduleSet, string, error) {
	flag := "--file"
	if file == "" {
		c, err := a.config()
		if err != nil {
			return nil, "", err
		}
		if c.RateScheduleFile == "" {
			return payments.DefaultSchedules(), "the default shipped with the service", nil
		}
		file, flag = c.RateScheduleFile, "RATE_SCHEDULE_FILE"
	}
	set, err := payments.LoadScheduleFile(file)
	if err != nil {
		// The message keeps the file's name, which an errs.Error alone
		// would lose when printed.
		code := errs.CodeOf(err)
		if code == errs.Internal {
			code = errs.Invalid
		}
		return nil, "", &errs.Error{Code: code, Field: flag, Message: err.Error()}
	}
	return set, file + " (" + flag + ")", nil
}

// writeSchedule writes one version of the rates as tables.
func writeSchedule(w io.Writer, s *payments.Schedule) error {
	t := cli.NewTable(w)
	t.Row("version", s.Version)
	t.Row("effective from", s.EffectiveFrom.String())
	if s.Source != "" {
		t.Row("source", s.Source)
	}
	if err := t.Flush(); err != nil {
		return err
	}

	territories := s.Territories()
	// metropole first, as in docs/rules.md, then the others.
	if i := slices.Index(territories, payments.DefaultTerritory); i > 0 {
		territories = append([]string{payments.DefaultTerritory}, slices.Delete(territories, i, i+1)...)
	}
	fmt.Fprintf(w, "\nADA daily amount (additional amount once per %s; deductions take at most %s %% of a month's gross)\n",
		s.ADA.AdditionalPer, s.ADA.RecoveryCap.Mul(decimal.NewFromInt(100)).String())
	t = cli.NewTable(w, append([]string{"PERSONS"}, upper(territories)...)...)
	for n := range len(s.ADA.Base[territories[0]]) {
		row := []string{strconv.Itoa(n + 1)}
		for _, tr := range territories {
			row = append(row, cli.Amount(s.ADA.Base[tr][n]))
		}
		t.Row(row...)
	}
	above, additional := []string{"each above 10"}, []string{"additional"}
	for _, tr := range territories {
		above = append(above, "+"+cli.Amount(s.ADA.AboveTen[tr]))
		additional = append(additional, "+"+cli.Amount(s.ADA.Additional[tr]))
	}
	t.Row(above...)
	t.Row(additional...)
	if err := t.Flush(); err != nil {
		return err
	}

	r := s.Return
	fmt.Fprintf(w, "\nreturn aid per person (band 1 before %s after the removal order, band 2 before %s, band 3 after)\n",
		plural(r.BandMonths[0], "month"), plural(r.BandMonths[1], "month"))
	t = cli.NewTable(w, "GROUP", "RATE", "BAND 1", "BAND 2", "BAND 3")
	for _, name := range slices.Sorted(maps.Keys(r.Groups)) {
		g := r.Groups[name]
		t.Row(name, "standard", cli.Amount(g.Standard[0]), cli.Amount(g.Standard[1]), cli.Amount(g.Standard[2]))
		t.Row(name, "increased", cli.Amount(g.Increased[0]), cli.Amount(g.Increased[1]), cli.Amount(g.Increased[2]))
	}
	if err := t.Flush(); err != nil {
		return err
	}
	t = cli.NewTable(w)
	t.Row("child rate", r.ChildRate.String()+" × the adult amount")
	t.Row("travel document", "+"+cli.Amount(r.TravelDocument)+" once per grant")
	if r.Channel != nil {
		t.Row("channel scheme", "at most "+cli.Amount(r.Channel.Standard)+" (standard), "+cli.Amount(r.Channel.Increased)+" (increased) per adult")
	} else {
		t.Row("channel scheme", "none")
	}
	byGroup := map[string][]string{}
	for _, c := range slices.Sorted(maps.Keys(r.Countries)) {
		byGroup[r.Countries[c]] = append(byGroup[r.Countries[c]], c)
	}
	for _, name := range slices.Sorted(maps.Keys(byGroup)) {
		t.Row("group "+name, strings.Join(byGroup[name], " "))
	}
	t.Row("any other country", "group "+r.DefaultGroup)
	if err := t.Flush(); err != nil {
		return err
	}

	ri := s.Reinsertion
	fmt.Fprintf(w, "\nreinsertion ceilings\n")
	t = cli.NewTable(w, "LEVEL", "CEILING")
	t.Row("social, single person", cli.Amount(ri.SocialSingle))
	t.Row("social, couple", cli.Amount(ri.SocialCouple))
	t.Row("social, per minor child", "+"+cli.Amount(ri.SocialPerChild))
	t.Row("employment", cli.Amount(ri.Employment))
	t.Row("business creation", cli.Amount(ri.BusinessCreation))
	return t.Flush()
}

// upper writes names in capitals, for a table's header.
func upper(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.ToUpper(n)
	}
	return out
}
