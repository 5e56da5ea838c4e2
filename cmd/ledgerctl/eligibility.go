package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/internal/mask"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	paysql "github.com/ofii/allowances/payments/sqlstore"
	"github.com/ofii/allowances/transport/kafka"
)

// events returns the beneficiaries' store on the database, opening it first.
func (a *app) events(cmd *cobra.Command) (*paysql.Store, error) {
	pool, err := a.connect(cmd.Context(), true)
	if err != nil {
		return nil, err
	}
	return paysql.New(pool), nil
}

func beneficiariesCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "beneficiaries", Short: "Read the beneficiaries' timelines built from the eligibility events"}
	var showIBAN bool
	var days string
	show := &cobra.Command{
		Use:   "show ID",
		Short: "Show a beneficiary's rights, household, accommodation, suspensions, payees, grants and overpayments",
		Long: `Show a beneficiary's timeline. IBANs are masked unless --show-iban is given,
and even then only the staff who pay (preparers and approvers) see them in
full: ledgerd masks them for every other role. With --days FROM:TO
(YYYY-MM-DD:YYYY-MM-DD), also list what applied on each day. It calls
ledgerd (LEDGER_URL) with the caller's token.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var from, to ledger.Date
			if days != "" {
				f, t, ok := strings.Cut(days, ":")
				var err1, err2 error
				from, err1 = ledger.ParseDate(f)
				to, err2 = ledger.ParseDate(t)
				if !ok || err1 != nil || err2 != nil || to.Before(from) {
					return cli.Usage(errs.Field("--days", "%q is not FROM:TO, two dates YYYY-MM-DD in order", days))
				}
			}
			id, err := pathSegment("ID", args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			var b payments.Beneficiary
			if err := a.apiGet(ctx, "/v1/beneficiaries/"+id, nil, &b, nil); err != nil {
				return err
			}
			if !showIBAN {
				b.MaskIBANs()
			}
			var ds []payments.Day
			if days != "" {
				var resp struct {
					Days []payments.Day `json:"days"`
				}
				q := url.Values{"from": {from.String()}, "to": {to.String()}}
				if err := a.apiGet(ctx, "/v1/beneficiaries/"+id+"/days", q, &resp, map[string]string{"from": "--days", "to": "--days"}); err != nil {
					return err
				}
				ds = resp.Days
			}
			view := struct {
				payments.Beneficiary
				Days []payments.Day `json:"days,omitempty"`
			}{b, ds}
			return a.write(view, func(w io.Writer) error { return writeBeneficiary(w, b, ds) })
		},
	}
	show.Flags().BoolVar(&showIBAN, "show-iban", false, "show IBANs in full, when ledgerd shows them to the caller (the staff who pay)")
	show.Flags().StringVar(&days, "days", "", "also list what applied on each day FROM:TO")
	cmd.AddCommand(show, beneficiariesUnopenedCmd(a))
	return cmd
}

func beneficiariesUnopenedCmd(a *app) *cobra.Command {
	var days, limit int
	var cursor string
	cmd := &cobra.Command{
		Use:   "unopened [--days N]",
		Short: "List the beneficiaries whose facts have waited for a rights opening for days",
		Long: `List the beneficiaries whose facts (a change of household, a payee, a
suspension...) have waited for their ADA rights opening for --days days or
more (default: ledgerd's ORPHAN_FACTS_DAYS), longest waiting first: an
opening lost upstream or a wrong beneficiary id, to look into. Such facts
are kept and take effect once the opening arrives. It calls ledgerd
(LEDGER_URL) with the caller's token.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if days < 0 {
				return cli.Usage(errs.Field("--days", "must be 0 (ledgerd's setting) or more"))
			}
			q := url.Values{}
			if days > 0 {
				q.Set("days", strconv.Itoa(days))
			}
			if limit > 0 {
				q.Set("limit", strconv.Itoa(limit))
			}
			if cursor != "" {
				q.Set("cursor", cursor)
			}
			var out struct {
				Beneficiaries []payments.Unopened `json:"beneficiaries"`
				NextCursor    string              `json:"next_cursor,omitempty"`
			}
			if err := a.apiGet(cmd.Context(), "/v1/beneficiaries/unopened", q, &out,
				map[string]string{"days": "--days", "limit": "--limit", "cursor": "--cursor"}); err != nil {
				return err
			}
			if out.Beneficiaries == nil {
				out.Beneficiaries = []payments.Unopened{}
			}
			return a.write(out, func(w io.Writer) error {
				t := cli.NewTable(w, "BENEFICIARY", "WAITING SINCE", "FIRST SEEN", "EVENTS")
				for _, u := range out.Beneficiaries {
					t.Row(u.ID, u.Since.Format(time.RFC3339), u.FirstSeen.Format(time.RFC3339), strconv.Itoa(u.Events))
				}
				if err := t.Flush(); err != nil {
					return err
				}
				if out.NextCursor != "" {
					fmt.Fprintf(w, "\nmore: --cursor %s\n", out.NextCursor)
				}
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&days, "days", 0, "waiting for at least this many days (default: ledgerd's ORPHAN_FACTS_DAYS)")
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many beneficiaries (default 100)")
	cmd.Flags().StringVar(&cursor, "cursor", "", "continue after a previous page")
	return cmd
}

func orDash(d ledger.Date) string {
	if d.IsZero() {
		return "-"
	}
	return d.String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// writeBeneficiary writes the timeline as a few small tables.
func writeBeneficiary(w io.Writer, b payments.Beneficiary, days []payments.Day) error {
	fmt.Fprintf(w, "beneficiary %s: first seen %s, %s\n", b.ID, b.FirstSeen.Format(time.RFC3339), plural(b.Events, "event"))
	section := func(title string, header []string, rows [][]string) error {
		if len(rows) == 0 {
			return nil
		}
		fmt.Fprintf(w, "\n%s\n", title)
		t := cli.NewTable(w, header...)
		for _, r := range rows {
			t.Row(r...)
		}
		return t.Flush()
	}
	var rows [][]string
	for _, r := range b.Rights {
		rows = append(rows, []string{r.From.String(), orDash(r.LastDay), r.Reason})
	}
	if err := section("ADA rights", []string{"FROM", "LAST DAY", "CLOSED BECAUSE"}, rows); err != nil {
		return err
	}
	rows = nil
	for _, h := range b.Household {
		rows = append(rows, []string{h.From.String(), strconv.Itoa(h.Adults), strconv.Itoa(h.Children)})
	}
	if err := section("household", []string{"FROM", "ADULTS", "CHILDREN"}, rows); err != nil {
		return err
	}
	rows = nil
	for _, x := range b.Accommodation {
		rows = append(rows, []string{x.From.String(), yesNo(x.Accommodated)})
	}
	if err := section("accommodation", []string{"FROM", "ACCOMMODATED"}, rows); err != nil {
		return err
	}
	rows = nil
	for _, x := range b.Territory {
		rows = append(rows, []string{x.From.String(), x.Territory})
	}
	if err := section("territory", []string{"FROM", "TERRITORY"}, rows); err != nil {
		return err
	}
	rows = nil
	for _, s := range b.Suspensions {
		rows = append(rows, []string{s.From.String(), orDash(s.Until), s.Reason})
	}
	if err := section("suspensions", []string{"FROM", "UNTIL", "REASON"}, rows); err != nil {
		return err
	}
	rows = nil
	for _, p := range b.Payees {
		rows = append(rows, []string{p.Since.Format(time.RFC3339), p.Payee.Name, p.Payee.IBAN, p.Payee.BIC})
	}
	if err := section("payees", []string{"SINCE", "NAME", "IBAN", "BIC"}, rows); err != nil {
		return err
	}
	rows = nil
	for _, g := range b.ReturnGrants {
		rows = append(rows, []string{g.GrantID, g.Country, strconv.Itoa(g.Adults), strconv.Itoa(g.Children), g.ValidatedOn.String(), g.DepartureDate.String(), g.Payee.IBAN})
	}
	if err := section("return grants", []string{"GRANT", "COUNTRY", "ADULTS", "CHILDREN", "VALIDATED", "DEPARTURE", "PAYEE IBAN"}, rows); err != nil {
		return err
	}
	rows = nil
	for _, g := range b.Reinsertion {
		for _, tr := range g.Released {
			rows = append(rows, []string{g.GrantID, string(g.Level), cli.Amount(g.Amount), tr.TrancheID, cli.Amount(tr.Amount), orDash(tr.ReleasedOn)})
		}
	}
	if err := section("reinsertion grants", []string{"GRANT", "LEVEL", "AMOUNT", "TRANCHE", "TRANCHE AMOUNT", "RELEASED"}, rows); err != nil {
		return err
	}
	rows = nil
	for _, o := range b.Overpayments {
		rows = append(rows, []string{o.OverpaymentID, cli.Amount(o.Amount), yesNo(o.Fraud), o.EstablishedAt.Format(time.RFC3339), o.Reason})
	}
	if err := section("overpayments", []string{"ID", "AMOUNT", "FRAUD", "ESTABLISHED", "REASON"}, rows); err != nil {
		return err
	}
	rows = nil
	for _, d := range days {
		rows = append(rows, []string{d.Date.String(), yesNo(d.RightsOpen), yesNo(d.Suspended), strconv.Itoa(d.Adults), strconv.Itoa(d.Children), yesNo(d.Accommodated), d.Territory, yesNo(d.Covered())})
	}
	return section("days", []string{"DATE", "RIGHTS", "SUSPENDED", "ADULTS", "CHILDREN", "ACCOMMODATED", "TERRITORY", "ADA DUE"}, rows)
}

func eventsCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "events", Short: "Publish eligibility events and read the dead letters"}
	cmd.AddCommand(publishCmd(a), deadLettersCmd(a))
	return cmd
}

func publishCmd(a *app) *cobra.Command {
	var topic string
	cmd := &cobra.Command{
		Use:   "publish FILE.jsonl",
		Short: "Send eligibility events, one JSON object a line, keyed by beneficiary",
		Long: `Send the events of a JSON Lines file ("-" for standard input) to the
configured Kafka brokers (KAFKA_BROKERS), or to a running ledgerd's embedded
broker at KAFKA_EMBEDDED_ADDR when none are configured. Each record is keyed
by its beneficiary_id so that one beneficiary's events keep their order.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.config()
			if err != nil {
				return err
			}
			var in io.Reader = a.stdin
			var total int64 = -1
			if args[0] != "-" {
				data, err := os.ReadFile(args[0])
				if err != nil {
					return cli.Usage(errs.Field("FILE", "%v", err))
				}
				total = int64(bytes.Count(data, []byte("\n")))
				in = bytes.NewReader(data)
			}
			if topic == "" {
				topic = c.KafkaTopic
			}
			cc := kafka.ConfigFrom(c, c.KafkaEmbeddedAddr)
			progress := cli.NewProgress(a.stderr, total, "publishing", a.json())
			n, err := kafka.Publish(cmd.Context(), cc.Publisher(), topic, bufio.NewReader(in), func(n int) { progress.Set(int64(n)) })
			progress.Finish()
			if err != nil {
				return fmt.Errorf("publish to %s at %s: %w", topic, strings.Join(cc.Brokers, ","), err)
			}
			out := struct {
				Published int      `json:"published"`
				Topic     string   `json:"topic"`
				Brokers   []string `json:"brokers"`
			}{n, topic, cc.Brokers}
			return a.write(out, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "published %s to %s at %s\n", plural(n, "event"), topic, strings.Join(cc.Brokers, ","))
				return err
			})
		},
	}
	cmd.Flags().StringVar(&topic, "topic", "", "topic to publish to (default: KAFKA_TOPIC)")
	return cmd
}

func deadLettersCmd(a *app) *cobra.Command {
	var typ, beneficiary, since, cursor string
	var limit int
	cmd := &cobra.Command{
		Use:   "dead-letters",
		Short: "List the events refused as invalid, newest first, with the reason",
		Long: `List the eligibility events refused as invalid, newest first, with the
reason and the event as received, IBANs masked. It calls ledgerd
(LEDGER_URL) with the caller's token; every role may read them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{"limit": {strconv.Itoa(limit)}}
			if since != "" {
				d, err := ledger.ParseDate(since)
				if err != nil {
					return cli.Usage(errs.Field("--since", "%v", err))
				}
				q.Set("since", d.String())
			}
			if limit < 1 || limit > 1000 {
				return cli.Usage(errs.Field("--limit", "must be between 1 and 1000"))
			}
			for name, v := range map[string]string{"type": typ, "beneficiary": beneficiary, "cursor": cursor} {
				if v != "" {
					q.Set(name, v)
				}
			}
			type view struct {
				payments.DeadLetter
				Value string `json:"value"`
			}
			var out struct {
				DeadLetters []view `json:"dead_letters"`
				NextCursor  string `json:"next_cursor,omitempty"`
			}
			if err := a.apiGet(cmd.Context(), "/v1/dead-letters", q, &out, map[string]string{"type": "--type", "beneficiary": "--beneficiary",
				"since": "--since", "cursor": "--cursor", "limit": "--limit"}); err != nil {
				return err
			}
			if out.DeadLetters == nil {
				out.DeadLetters = []view{}
			}
			// ledgerd masks them already; masking again costs nothing.
			for i := range out.DeadLetters {
				out.DeadLetters[i].Value = mask.MaskIBANsIn(out.DeadLetters[i].Value)
			}
			return a.write(out, func(w io.Writer) error {
				t := cli.NewTable(w, "RECEIVED", "SOURCE", "TYPE", "BENEFICIARY", "ERROR")
				for _, d := range out.DeadLetters {
					t.Row(d.ReceivedAt.Format(time.RFC3339), fmt.Sprintf("%s/%d/%d", d.Source.Topic, d.Source.Partition, d.Source.Offset),
						d.Type, d.Beneficiary, d.Error)
				}
				if err := t.Flush(); err != nil {
					return err
				}
				if out.NextCursor != "" {
					fmt.Fprintf(w, "\nmore: --cursor %s\n", out.NextCursor)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&typ, "type", "", "only this event type")
	cmd.Flags().StringVar(&beneficiary, "beneficiary", "", "only this beneficiary")
	cmd.Flags().StringVar(&since, "since", "", "only those received from this day (YYYY-MM-DD)")
	cmd.Flags().StringVar(&cursor, "cursor", "", "continue after a previous page")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many (1 to 1000)")
	return cmd
}
