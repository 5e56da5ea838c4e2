package main

import (
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/payments"
	paysql "github.com/ofii/allowances/payments/sqlstore"
	httptransport "github.com/ofii/allowances/transport/http"
)

func auditCmd(a *app) *cobra.Command {
	var object, actor, action, kind, beneficiary, since, after string
	var limit int
	var all bool
	cmd := &cobra.Command{
		Use:   "audit [--object ID] [--actor NAME] [--action ACTION] [--kind KIND] [--beneficiary ID] [--since TIME] [--all]",
		Short: "Read the audit trail: who changed or read what, oldest first",
		Long: `Read the audit trail, oldest first: who moved which batch, payment file or
exception from which status to which, when, from where and why; and who read
a beneficiary's file (action read: the timeline, days, payments), with the
fields shown in full (IN FULL: iban). --beneficiary answers "who looked at
this person's file". One page is shown; the next is read with --after, or
every page with --all. IBANs the trail records show masked. It calls ledgerd
(LEDGER_URL) with the caller's token, which must be an auditor's or an
administrator's.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if since != "" {
				if _, err := httptransport.ParseSince(since); err != nil {
					return cli.Usage(errs.Field("--since", "%v", err))
				}
			}
			if limit < 0 || limit > paysql.MaxListLimit {
				return cli.Usage(errs.Field("--limit", "must be between 1 and %d, or 0 for the default", paysql.MaxListLimit))
			}
			if all && limit == 0 {
				limit = allPageSize
			}
			q := url.Values{}
			for name, v := range map[string]string{"object_id": object, "actor": actor, "action": action, "kind": kind, "beneficiary": beneficiary, "since": since} {
				if v != "" {
					q.Set(name, v)
				}
			}
			if limit != 0 {
				q.Set("limit", strconv.Itoa(limit))
			}
			flags := map[string]string{"object_id": "--object", "actor": "--actor", "action": "--action", "kind": "--kind", "beneficiary": "--beneficiary",
				"since": "--since", "after": "--after", "limit": "--limit"}
			ctx := cmd.Context()
			progress := cli.NewProgress(a.stderr, -1, "reading audit trail", a.json() || !all)
			var out struct {
				Events []payments.AuditEvent `json:"events"`
				Next   string                `json:"next,omitempty"`
			}
			out.Next = after
			for first := true; first || (all && out.Next != ""); first = false {
				progress.Set(int64(len(out.Events)))
				if out.Next != "" {
					q.Set("after", out.Next)
				}
				var page struct {
					Events []payments.AuditEvent `json:"events"`
					Next   string                `json:"next"`
				}
				if err := a.apiGet(ctx, "/v1/audit", q, &page, flags); err != nil {
					progress.Finish()
					return err
				}
				out.Events = append(out.Events, page.Events...)
				out.Next = page.Next
			}
			progress.Finish()
			if out.Events == nil {
				out.Events = []payments.AuditEvent{}
			}
			// ledgerd masks them already; masking again costs nothing.
			for i, e := range out.Events {
				out.Events[i] = httptransport.MaskAuditEvent(e)
			}
			return a.write(out, func(w io.Writer) error { return auditTable(w, out.Events, out.Next) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&object, "object", "", "only the events of this batch, payment file (MsgId) or exception")
	f.StringVar(&actor, "actor", "", "only the events of this person (a token's name, or system)")
	f.StringVar(&action, "action", "", "only events of this action: submit, approve, reject, cancel, release...")
	f.StringVar(&kind, "kind", "", "only the events about this kind of object: batch, exception, timeline, days, batch_lines...")
	f.StringVar(&beneficiary, "beneficiary", "", "only the events about this beneficiary (such as OFII-2026-000123): who read or changed their file")
	f.StringVar(&since, "since", "", "only events at or after this time (RFC 3339) or day (YYYY-MM-DD, UTC)")
	f.StringVar(&after, "after", "", "read the page after the one that printed this cursor")
	f.IntVar(&limit, "limit", 0, "events per page, at most 1000 (default 100, or 1000 with --all)")
	f.BoolVar(&all, "all", false, "read every page")
	return cmd
}

// auditTable writes audit events, one a row, and the cursor of the next
// page.
func auditTable(w io.Writer, events []payments.AuditEvent, next string) error {
	if len(events) == 0 {
		fmt.Fprintln(w, "no audit events")
	} else {
		t := cli.NewTable(w, "AT", "ACTOR", "ADDRESS", "ACTION", "OBJECT", "ID", "BENEFICIARY", "IN FULL", "FROM", "TO", "REASON")
		for _, e := range events {
			inFull := strings.Join(e.FieldsInFull, ",")
			if inFull == "" && e.FieldsInFull != nil {
				inFull = "-" // a read that showed everything masked
			}
			t.Row(e.At.Format(time.RFC3339), e.Actor, e.Address, e.Action, e.ObjectKind, e.ObjectID, e.BeneficiaryID, inFull, e.From, e.To, e.Reason)
		}
		if err := t.Flush(); err != nil {
			return err
		}
	}
	if next != "" {
		_, err := fmt.Fprintf(w, "more events follow: add --after %s, or use --all\n", next)
		return err
	}
	return nil
}
