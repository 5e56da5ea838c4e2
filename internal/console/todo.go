package console

import (
	"net/http"
	"slices"

	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/reconcile"
	httptransport "github.com/ofii/allowances/transport/http"
)

// todoData is the "À traiter" page: what waits for the person signed in,
// and how the service stands.
type todoData struct {
	ToSubmit   []payments.Batch // drafts, for preparers
	ToApprove  []payments.Batch // pending, for approvers
	ToRelease  []payments.Batch // approved, for approvers
	Exceptions int              // open payment exceptions
	ExcMore    bool
	Refused    []payments.PaymentFile // files the bank refused
	Recon      int                    // open reconciliation exceptions, for controllers
	ReconMore  bool
	State      []StateItem
	Nothing    bool
}

// todoPage shows what waits for the person signed in.
func (c *Console) todoPage(w http.ResponseWriter, r *http.Request, s *Session) {
	ctx := r.Context()
	var d todoData
	list := func(st payments.BatchStatus) []payments.Batch {
		if d.Nothing {
			return nil
		}
		bs, err := c.opts.Batches.Batches(ctx, payments.BatchFilter{Status: st, Limit: 50})
		if err != nil {
			c.fail(w, r, s, err)
			d.Nothing = true
			return nil
		}
		return bs
	}
	if s.Has(roleNames(httptransport.BatchSubmitters)...) {
		d.ToSubmit = list(payments.BatchDraft)
	}
	if s.Has(roleNames(httptransport.BatchApprovers)...) {
		d.ToApprove = list(payments.BatchPending)
		d.ToRelease = list(payments.BatchApproved)
	}
	if d.Nothing {
		return
	}
	if s.Has(roleNames(httptransport.FileListers)...) {
		xs, err := c.opts.Files.Exceptions(ctx, payments.ExceptionFilter{Status: payments.ExceptionOpen, Limit: 100})
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		d.Exceptions, d.ExcMore = len(xs), len(xs) == 100
		// The files the bank refused, among the latest released batches.
		for _, st := range []payments.BatchStatus{payments.BatchReleased, payments.BatchPartlyRejected} {
			bs, err := c.opts.Batches.Batches(ctx, payments.BatchFilter{Status: st, Limit: 20})
			if err != nil {
				c.fail(w, r, s, err)
				return
			}
			for _, b := range bs {
				fs, err := c.opts.Files.Files(ctx, b.ID)
				if err != nil {
					c.fail(w, r, s, err)
					return
				}
				for _, f := range fs {
					if f.Status == payments.FileRefused {
						d.Refused = append(d.Refused, f)
					}
				}
			}
		}
	}
	if s.Has(roleNames(httptransport.Reconcilers)...) {
		xs, err := c.opts.Reconcile.Exceptions(ctx, reconcile.ExceptionFilter{Status: reconcile.ExceptionOpen, Limit: 100})
		if err != nil {
			c.fail(w, r, s, err)
			return
		}
		d.Recon, d.ReconMore = len(xs), len(xs) == 100
	}
	d.State = c.opts.State(ctx)
	d.Nothing = len(d.ToSubmit)+len(d.ToApprove)+len(d.ToRelease)+d.Exceptions+len(d.Refused)+d.Recon == 0
	c.render(w, r, s, http.StatusOK, "todo", "À traiter", d)
}

// roleNames are the names of roles.
func roleNames(roles []httptransport.Role) []string {
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		if !slices.Contains(out, string(r)) {
			out = append(out, string(r))
		}
	}
	return out
}
