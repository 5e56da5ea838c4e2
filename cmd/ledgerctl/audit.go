package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/payments"
	paysql "github.com/ofii/allowances/payments/sqlstore"
	httptransport "github.com/ofii/allowances/transport/http"
)

func auditCmd(a *app) *cobra.Command {
	var object, actor, action, since, after string
	var limit int
	var all bool
	cmd := &cobra.Command{
		Use:   "audit [--object ID] [--actor NAME] [--action ACTION] [--since TIME] [--all]",
		Short: "Read the audit trail of the batches, payment files and exceptions, oldest first",
		Long: `Read the audit trail, oldest first: who moved which batch, payment file or
exception from which status to which, when, from where and why. One page is
shown; the next is read with --after, or every page with --all. IBANs the
trail records show masked. Needs the token of an auditor or an administrator.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := payments.AuditFilter{ObjectID: object, Actor: actor, Action: action, After: after, Limit: limit}
			if since != "" {
				t, err := httptransport.ParseSince(since)
				if err != nil {
					return cli.Usage(errs.Field("--since", "%v", err))
				}
				f.Since = t
			}
			if limit < 0 || limit > paysql.MaxListLimit {
				return cli.Usage(errs.Field("--limit", "must be between 1 and %d, or 0 for the default", paysql.MaxListLimit))
			}
			if all && f.Limit == 0 {
				f.Limit = allPageSize
			}
			if _, err := a.actor(tokenOf(cmd), "read the audit trail", httptransport.AuditReaders...); err != nil {
				return err
			}
			s, err := a.approvals(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			progress := cli.NewProgress(a.stderr, -1, "reading audit trail", a.json() || !all)
			events, next, err := s.Audit(ctx, f)
			for err == nil && all && next != "" {
				progress.Set(int64(len(events)))
				f.After = next
				var page []payments.AuditEvent
				if page, next, err = s.Audit(ctx, f); err == nil {
					events = append(events, page...)
				}
			}
			progress.Finish()
			if err != nil {
				return asFlag(fmt.Errorf("read the audit trail: %w", err), "after", "since", "limit")
			}
			out := struct {
				Events []payments.AuditEvent `json:"events"`
				Next   string                `json:"next,omitempty"`
			}{Events: make([]payments.AuditEvent, len(events)), Next: next}
			for i, e := range events {
				out.Events[i] = httptransport.MaskAuditEvent(e)
			}
			return a.write(out, func(w io.Writer) error { return auditTable(w, out.Events, out.Next) })
		},
	}
	f := cmd.Flags()
	f.StringVar(&object, "object", "", "only the events of this batch, payment file (MsgId) or exception")
	f.StringVar(&actor, "actor", "", "only the events of this person (a token's name, or system)")
	f.StringVar(&action, "action", "", "only events of this action: submit, approve, reject, cancel, release...")
	f.StringVar(&since, "since", "", "only events at or after this time (RFC 3339) or day (YYYY-MM-DD, UTC)")
	f.StringVar(&after, "after", "", "read the page after the one that printed this cursor")
	f.IntVar(&limit, "limit", 0, "events per page, at most 1000 (default 100, or 1000 with --all)")
	f.BoolVar(&all, "all", false, "read every page")
	tokenFlag(cmd)
	return cmd
}

// auditTable writes audit events, one a row, and the cursor of the next
// page.
func auditTable(w io.Writer, events []payments.AuditEvent, next string) error {
	if len(events) == 0 {
		fmt.Fprintln(w, "no audit events")
	} else {
		t := cli.NewTable(w, "AT", "ACTOR", "ADDRESS", "ACTION", "OBJECT", "ID", "FROM", "TO", "REASON")
		for _, e := range events {
			t.Row(e.At.Format(time.RFC3339), e.Actor, e.Address, e.Action, e.ObjectKind, e.ObjectID, e.From, e.To, e.Reason)
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
