package console

import (
	"context"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/payments"
)

// maxChanges is how many households each list of a batch's changes shows.
const maxChanges = 50

// batchChanges is what changed in a monthly ADA batch since the previous
// month's: households paid now and not then, paid then and not now, and
// those whose amount went up or down by more than CONSOLE_CHANGE_SHARE.
type batchChanges struct {
	Previous payments.Batch
	New      []householdChange
	Closed   []householdChange
	Up       []householdChange
	Down     []householdChange
	Counts   [4]int // of New, Closed, Up, Down before they are cut to maxChanges
	Share    string // "10 %"
}

type householdChange struct {
	BeneficiaryID string
	Before, After decimal.Decimal
}

// paidBatch reports whether a batch's lines count as paid or on their way.
func paidBatch(s payments.BatchStatus) bool {
	switch s {
	case payments.BatchApproved, payments.BatchReleasing, payments.BatchReleased, payments.BatchSettled, payments.BatchPartlyRejected:
		return true
	}
	return false
}

// netByBeneficiary adds up the net of a batch's lines per beneficiary,
// reading at most maxLines lines; partial is set when there were more.
func (c *Console) netByBeneficiary(ctx context.Context, id uuid.UUID) (map[string]decimal.Decimal, bool, error) {
	out := map[string]decimal.Decimal{}
	cursor, n := "", 0
	for {
		page, next, err := c.opts.Batches.BatchLines(ctx, id, cursor, 1000)
		if err != nil {
			return nil, false, err
		}
		for _, l := range page {
			out[l.BeneficiaryID] = out[l.BeneficiaryID].Add(l.Net)
		}
		n += len(page)
		if next == "" {
			return out, false, nil
		}
		if n >= maxLines {
			return out, true, nil
		}
		cursor = next
	}
}

// changesOf compares a monthly ADA batch with the previous month's paid
// one; nil when there is none to compare with.
func (c *Console) changesOf(ctx context.Context, b payments.Batch, now map[string]decimal.Decimal) (*batchChanges, error) {
	if b.Kind != payments.RunADA || b.Period.IsZero() {
		return nil, nil
	}
	prev, err := c.opts.Batches.Batches(ctx, payments.BatchFilter{Kind: payments.RunADA, Period: b.Period.Prev(), Limit: 20})
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(prev, func(p payments.Batch) bool { return paidBatch(p.Status) })
	if i < 0 {
		return nil, nil
	}
	before, _, err := c.netByBeneficiary(ctx, prev[i].ID)
	if err != nil {
		return nil, err
	}
	share := c.opts.Config.ChangeShare
	if share.IsZero() {
		share = decimal.RequireFromString("0.10")
	}
	ch := &batchChanges{Previous: prev[i], Share: strings.Replace(share.Mul(decimal.NewFromInt(100)).String(), ".", ",", 1) + nnbsp + "%"}
	for id, after := range now {
		was, ok := before[id]
		switch {
		case !ok:
			ch.New = append(ch.New, householdChange{id, decimal.Zero, after})
		case was.IsPositive() && after.Sub(was).Abs().GreaterThan(was.Mul(share)):
			if after.GreaterThan(was) {
				ch.Up = append(ch.Up, householdChange{id, was, after})
			} else {
				ch.Down = append(ch.Down, householdChange{id, was, after})
			}
		}
	}
	for id, was := range before {
		if _, ok := now[id]; !ok {
			ch.Closed = append(ch.Closed, householdChange{id, was, decimal.Zero})
		}
	}
	for k, list := range []*[]householdChange{&ch.New, &ch.Closed, &ch.Up, &ch.Down} {
		slices.SortFunc(*list, func(a, b householdChange) int { return strings.Compare(a.BeneficiaryID, b.BeneficiaryID) })
		ch.Counts[k] = len(*list)
		if len(*list) > maxChanges {
			*list = (*list)[:maxChanges]
		}
	}
	return ch, nil
}

// changeReads are the reads of the households the changes show.
func changeReads(batch string, ch *batchChanges) []payments.Read {
	if ch == nil {
		return nil
	}
	var reads []payments.Read
	for _, list := range [][]householdChange{ch.New, ch.Closed, ch.Up, ch.Down} {
		for _, h := range list {
			reads = append(reads, payments.Read{What: payments.ReadBatchLines, ObjectID: batch, Beneficiary: h.BeneficiaryID,
				Fields: []string{}, Details: map[string]any{"via": "console", "changes_since": ch.Previous.ID.String()}})
		}
	}
	return reads
}
