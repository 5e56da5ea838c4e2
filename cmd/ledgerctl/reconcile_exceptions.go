package main

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"

	"github.com/ofii/allowances/internal/apiclient"
	"github.com/ofii/allowances/internal/cli"
	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/reconcile"
	httptransport "github.com/ofii/allowances/transport/http"
)

// reconExceptionsTable writes reconciliation exceptions, one a row.
func reconExceptionsTable(w io.Writer, xs []reconcile.Exception) error {
	t := cli.NewTable(w, "EXCEPTION", "KIND", "STATUS", "AGE", "AMOUNT", "BOOKED", "DIRECTION", "PAYMENT", "OWNER", "REASON")
	for _, x := range xs {
		booked := ""
		if !x.BookingDate.IsZero() {
			booked = x.BookingDate.String()
		}
		t.Row(x.ID.String(), string(x.Kind), string(x.Status), strconv.Itoa(x.AgeDays), cli.Amount(x.Amount), booked,
			string(x.Direction), x.Payment, x.Owner, x.Reason)
	}
	return t.Flush()
}

// reconExceptionTable writes one reconciliation exception.
func reconExceptionTable(w io.Writer, x reconcile.Exception) error {
	t := cli.NewTable(w)
	t.Row("exception", x.ID.String())
	t.Row("kind", string(x.Kind))
	t.Row("status", string(x.Status))
	if x.Line != nil {
		t.Row("statement line", fmt.Sprintf("%s #%d", x.Line.StatementID, x.Line.Index))
	}
	if !x.BookingDate.IsZero() {
		t.Row("booked", x.BookingDate.String())
	}
	if x.Direction != "" {
		t.Row("direction", string(x.Direction))
	}
	t.Row("amount", cli.Amount(x.Amount))
	if x.Label != "" {
		t.Row("label", x.Label)
	}
	if x.Payment != "" {
		t.Row("payment", x.Payment)
	}
	t.Row("reason", x.Reason)
	if x.Owner != "" {
		t.Row("owner", x.Owner)
	}
	if x.Resolution != "" {
		t.Row("resolution", x.Resolution)
	}
	if x.ResolvedBy != "" {
		t.Row("resolved by", x.ResolvedBy)
	}
	t.Row("age", plural(x.AgeDays, "day"))
	return t.Flush()
}

func reconcileExceptionsCmd(a *app) *cobra.Command {
	var status, kind, owner, after string
	var limit int
	cmd := &cobra.Command{
		Use:   "exceptions [--status STATUS] [--kind KIND] [--owner NAME]",
		Short: "List the reconciliation exceptions, oldest first",
		Long: `List, from ledgerd (GET /v1/reconciliation/exceptions), the statement lines
and payments a controller must look at, oldest first: lines no rule
explains, amounts that differ, duplicates, suggestions to confirm, returns,
payments in transit for too long.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			if status != "" {
				if _, err := httptransport.ParseReconStatus(status); err != nil {
					return cli.Usage(errs.Field("--status", "%v", err))
				}
				q.Set("status", status)
			}
			if kind != "" {
				if _, err := httptransport.ParseReconKind(kind); err != nil {
					return cli.Usage(errs.Field("--kind", "%v", err))
				}
				q.Set("kind", kind)
			}
			if o := strings.TrimSpace(owner); o != "" {
				q.Set("owner", o)
			}
			if after != "" {
				id, err := parseID("--after", after, "reconciliation exception")
				if err != nil {
					return err
				}
				q.Set("after", id.String())
			}
			if limit < 1 || limit > 1000 {
				return cli.Usage(errs.Field("--limit", "must be between 1 and 1000"))
			}
			q.Set("limit", strconv.Itoa(limit))
			c, err := a.api()
			if err != nil {
				return err
			}
			var out struct {
				Exceptions []reconcile.Exception `json:"exceptions"`
				Next       string                `json:"next,omitempty"`
			}
			if err := c.Get(cmd.Context(), "/v1/reconciliation/exceptions", q, &out); err != nil {
				return apiclient.RenameFields(err, map[string]string{"status": "--status", "kind": "--kind", "owner": "--owner", "after": "--after", "limit": "--limit"})
			}
			if out.Exceptions == nil {
				out.Exceptions = []reconcile.Exception{}
			}
			xs := out.Exceptions
			return a.write(out, func(w io.Writer) error {
				if len(xs) == 0 {
					_, err := fmt.Fprintln(w, "no reconciliation exceptions")
					return err
				}
				if err := reconExceptionsTable(w, xs); err != nil {
					return err
				}
				if out.Next != "" {
					fmt.Fprintf(w, "\nmore: --after %s\n", out.Next)
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "only exceptions in this status: open, resolved or closed")
	cmd.Flags().StringVar(&kind, "kind", "", "only exceptions of this kind: unmatched, amount_mismatch, duplicate, ambiguous, suggestion, returned, in_transit_too_long")
	cmd.Flags().StringVar(&owner, "owner", "", "only the exceptions assigned to this person")
	cmd.Flags().StringVar(&after, "after", "", "the page after this exception id")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many exceptions")
	return cmd
}

// parseReconExceptionID reads a reconciliation exception id given as the
// argument ID.
func parseReconExceptionID(s string) (uuid.UUID, error) {
	return parseID("ID", s, "reconciliation exception")
}

// moveFields are the names the API gives the inputs of the moves of an
// exception, and the flags and argument ledgerctl takes them as.
var moveFields = map[string]string{"id": "ID", "payments": "--payment", "reason": "--reason", "owner": "--owner"}

// resolveException has ledgerd make one move (match, confirm, suspense,
// close, assign) of the reconciliation exception id, with body (nil: none),
// and writes the exception after it.
func (a *app) resolveException(cmd *cobra.Command, id uuid.UUID, move string, body any) error {
	c, err := a.api()
	if err != nil {
		return err
	}
	var x reconcile.Exception
	if err := c.Post(cmd.Context(), "/v1/reconciliation/exceptions/"+id.String()+"/"+move, nil, body, &x); err != nil {
		return sentNote(paymentFlag(apiclient.RenameFields(err, moveFields)),
			fmt.Sprintf("run 'ledgerctl reconcile exceptions' to see where exception %s stands before trying again", id))
	}
	return a.write(x, func(w io.Writer) error { return reconExceptionTable(w, x) })
}

// paymentFlag names --payment the payment that ledgerd names by its place
// in the list ("payments[1]").
func paymentFlag(err error) error {
	var e *apiclient.Error
	if errors.As(err, &e) && strings.HasPrefix(e.Err.Field, "payments[") {
		return apiclient.RenameFields(err, map[string]string{e.Err.Field: "--payment"})
	}
	return err
}

// reconFlag names --payment the payment a local check names "payments" or
// "payments[1]".
func reconFlag(err error) error {
	var e *errs.Error
	if errors.As(err, &e) && e.Code == errs.Invalid && (e.Field == "payments" || strings.HasPrefix(e.Field, "payments[")) {
		return errs.Field("--payment", "%s", e.Message)
	}
	return err
}

func reconcileMatchCmd(a *app) *cobra.Command {
	var lines []string
	var reason string
	cmd := &cobra.Command{
		Use:   "match ID --payment LINE [--payment LINE...] --reason TEXT",
		Short: "Explain an exception's statement line by payments whose amounts add up to it",
		Long: `Have ledgerd (POST /v1/reconciliation/exceptions/{id}/match) match the
statement line of a reconciliation exception by hand to one or more payments
(their line ids, the EndToEndIds the bank saw), whose amounts must add up to
the line's. The match posts what the bank booked, as a rule of the cascade
would have.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseReconExceptionID(args[0])
			if err != nil {
				return err
			}
			ids, err := httptransport.CheckPaymentIDs("payments", lines)
			if err != nil {
				return cli.Usage(reconFlag(err))
			}
			if strings.TrimSpace(reason) == "" {
				return cli.Usage(errs.Field("--reason", "is required: say how the payments were found to explain the line"))
			}
			return a.resolveException(cmd, id, "match", map[string]any{"payments": ids, "reason": reason})
		},
	}
	cmd.Flags().StringArrayVar(&lines, "payment", nil, "a payment's line id (required; repeat for several)")
	cmd.Flags().StringVar(&reason, "reason", "", "how the payments were found (required)")
	_ = cmd.MarkFlagRequired("payment")
	_ = cmd.MarkFlagRequired("reason")
	return cmd
}

func reconcileConfirmCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "confirm ID",
		Short: "Confirm a suggestion: its statement line is matched to the payment suggested",
		Long: `Have ledgerd (POST /v1/reconciliation/exceptions/{id}/confirm) confirm a
suggestion: its statement line is matched to the payment suggested.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseReconExceptionID(args[0])
			if err != nil {
				return err
			}
			return a.resolveException(cmd, id, "confirm", nil)
		},
	}
}

// reasonMove is a move of an exception that takes a reason.
type reasonMove struct {
	name, short, long, why string
}

var (
	suspenseMove = reasonMove{
		name: "suspense", short: "Book an exception's statement line to suspense, with a reason",
		long: `Have ledgerd (POST /v1/reconciliation/exceptions/{id}/suspense) book the
statement line of a reconciliation exception to suspense, with a reason.`,
		why: "say why the line goes to suspense, for whoever clears it",
	}
	closeMove = reasonMove{
		name: "close", short: "Close a reconciliation exception with a reason, posting nothing",
		long: `Have ledgerd (POST /v1/reconciliation/exceptions/{id}/close) close a
reconciliation exception with a reason, posting nothing.`,
		why: "say why nothing is to be posted",
	}
)

func reconcileReasonCmd(a *app, m reasonMove) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   m.name + " ID --reason TEXT",
		Short: m.short,
		Long:  m.long,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseReconExceptionID(args[0])
			if err != nil {
				return err
			}
			if strings.TrimSpace(reason) == "" {
				return cli.Usage(errs.Field("--reason", "is required: %s", m.why))
			}
			return a.resolveException(cmd, id, m.name, map[string]string{"reason": reason})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (required)")
	_ = cmd.MarkFlagRequired("reason")
	return cmd
}

func reconcileAssignCmd(a *app) *cobra.Command {
	var owner string
	cmd := &cobra.Command{
		Use:   "assign ID --owner NAME",
		Short: "Give a reconciliation exception an owner",
		Long: `Have ledgerd (POST /v1/reconciliation/exceptions/{id}/assign) give a
reconciliation exception an owner.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseReconExceptionID(args[0])
			if err != nil {
				return err
			}
			name, err := httptransport.CheckOwner("--owner", owner)
			if err != nil {
				return cli.Usage(err)
			}
			return a.resolveException(cmd, id, "assign", map[string]string{"owner": name})
		},
	}
	cmd.Flags().StringVar(&owner, "owner", "", "the person who takes it, by the name of their API token (required)")
	_ = cmd.MarkFlagRequired("owner")
	return cmd
}

func reconcileMatchesCmd(a *app) *cobra.Command {
	var statement, payment, rule string
	var limit int
	cmd := &cobra.Command{
		Use:   "matches [--statement ID] [--payment LINE] [--rule RULE]",
		Short: "List the matches that explain statement lines, newest first",
		Long: `List, from ledgerd (GET /v1/reconciliation/matches), the matches that explain
statement lines, newest first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			if statement != "" {
				id, err := uuid.Parse(statement)
				if err != nil {
					return cli.Usage(errs.Field("--statement", "%q is not a statement id (a UUID)", statement))
				}
				q.Set("statement_id", id.String())
			}
			if payment != "" {
				ids, err := httptransport.CheckPaymentIDs("--payment", []string{payment})
				if err != nil {
					return cli.Usage(errs.Field("--payment", "%q is not a payment's line id", payment))
				}
				q.Set("payment", ids[0])
			}
			if rule != "" {
				if _, err := httptransport.ParseRule(rule); err != nil {
					return cli.Usage(errs.Field("--rule", "%v", err))
				}
				q.Set("rule", rule)
			}
			if limit < 1 || limit > 1000 {
				return cli.Usage(errs.Field("--limit", "must be between 1 and 1000"))
			}
			q.Set("limit", strconv.Itoa(limit))
			c, err := a.api()
			if err != nil {
				return err
			}
			var out struct {
				Matches []reconcile.Match `json:"matches"`
			}
			if err := c.Get(cmd.Context(), "/v1/reconciliation/matches", q, &out); err != nil {
				return apiclient.RenameFields(err, map[string]string{"statement_id": "--statement", "payment": "--payment", "rule": "--rule", "limit": "--limit"})
			}
			if out.Matches == nil {
				out.Matches = []reconcile.Match{}
			}
			ms := out.Matches
			return a.write(out, func(w io.Writer) error {
				if len(ms) == 0 {
					_, err := fmt.Fprintln(w, "no matches")
					return err
				}
				t := cli.NewTable(w, "MATCH", "STATEMENT", "LINE", "RULE", "AMOUNT", "PAYMENTS", "BY", "AT", "UNDONE", "REASON")
				for _, m := range ms {
					undone := ""
					if m.UndoneBy != "" {
						undone = "by " + m.UndoneBy + " at " + m.UndoneAt.Format(time.RFC3339)
					}
					t.Row(m.ID.String(), m.Line.StatementID.String(), strconv.Itoa(m.Line.Index), string(m.Rule), cli.Amount(m.Amount),
						strings.Join(m.Payments, " "), m.MatchedBy, m.MatchedAt.Format(time.RFC3339), undone, m.Reason)
				}
				return t.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&statement, "statement", "", "only the matches of this statement (its id, a UUID)")
	cmd.Flags().StringVar(&payment, "payment", "", "only the matches of this payment (its line id)")
	cmd.Flags().StringVar(&rule, "rule", "", "only the matches of this rule: end_to_end, batch, return, suggestion, manual, fee, suspense")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many matches")
	return cmd
}

func reconcileUndoCmd(a *app) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "undo MATCH_ID --reason TEXT",
		Short: "Take a match back: its postings are reversed and its line is open again",
		Long: `Have ledgerd (POST /v1/reconciliation/matches/{id}/undo) take a match back:
its postings are reversed and its statement line is open again, as an
exception.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := uuid.Parse(args[0])
			if err != nil {
				return cli.Usage(errs.Field("MATCH_ID", "%q is not a match id (a UUID)", args[0]))
			}
			if strings.TrimSpace(reason) == "" {
				return cli.Usage(errs.Field("--reason", "is required: say why the match was wrong, for the audit trail"))
			}
			c, err := a.api()
			if err != nil {
				return err
			}
			var out struct {
				ID     uuid.UUID `json:"id"`
				Undone bool      `json:"undone"`
				Reason string    `json:"reason"`
			}
			if err := c.Post(cmd.Context(), "/v1/reconciliation/matches/"+id.String()+"/undo", nil, map[string]string{"reason": reason}, &out); err != nil {
				return sentNote(apiclient.RenameFields(err, map[string]string{"id": "MATCH_ID", "reason": "--reason"}),
					fmt.Sprintf("run 'ledgerctl reconcile matches' to see whether match %s is undone before trying again", id))
			}
			return a.write(out, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "match %s undone: its postings are reversed and its statement line is open again, as an exception\n", out.ID)
				return err
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why the match was wrong (required)")
	_ = cmd.MarkFlagRequired("reason")
	return cmd
}
