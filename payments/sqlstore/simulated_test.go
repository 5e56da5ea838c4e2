package sqlstore_test

import (
	"testing"

	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/sqlstore"
	"github.com/ofii/allowances/payments/workflow"
)

// TestSenderMarksSimulated: a payment file is marked simulated when written
// for the bank simulator and when sent to it, and the sender has the last
// word: a file released where no bank is configured is marked once the
// simulator has it, and one written for the simulator but sent to a bank
// is not.
func TestSenderMarksSimulated(t *testing.T) {
	for _, c := range []struct {
		name           string
		writer, sender bool // Simulated of the store that releases, and of the delivery that sends
	}{
		{"ReleasedWithoutBankSentToSimulator", false, true},
		{"WrittenForSimulatorSentToBank", true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newBankEnv(t)
			store := func(simulated bool) *sqlstore.ApprovalStore {
				s, err := sqlstore.NewApprovalStore(e.pool, e.runs, sqlstore.ApprovalConfig{Debtor: debtor, MaxFileTransactions: 2,
					Simulated: simulated, Now: e.clock})
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			writer := workflow.New(store(c.writer), e.ledger, workflow.DeliveryConfig{Now: e.clock, Logger: quiet()})
			sender := workflow.New(store(c.sender), e.ledger, workflow.DeliveryConfig{Gateway: e.gw, Simulated: c.sender, Now: e.clock,
				Logger: quiet()})
			nov := e.november()
			if _, err := e.ap.Submit(e.ctx, nov.ID, paul, ""); err != nil {
				t.Fatal(err)
			}
			if _, err := e.ap.Approve(e.ctx, nov.ID, ana, ""); err != nil {
				t.Fatal(err)
			}
			if _, err := writer.Release(e.ctx, nov.ID, ana); err != nil {
				t.Fatal(err)
			}
			marks := func(status payments.FileStatus, want bool) {
				t.Helper()
				files, err := e.ap.Files(e.ctx, nov.ID)
				if err != nil {
					t.Fatal(err)
				}
				if len(files) != 3 {
					t.Fatalf("%d files, want 3", len(files))
				}
				for _, f := range files {
					if f.Status != status || f.Simulated != want {
						t.Errorf("file %s: %s, simulated %v; want %s, simulated %v", f.MsgID, f.Status, f.Simulated, status, want)
					}
				}
			}
			marks(payments.FileQueued, c.writer)
			act, err := sender.SendQueued(e.ctx)
			if err != nil || act.Sent != 3 {
				t.Fatalf("send: %+v, %v; want 3 sent", act, err)
			}
			marks(payments.FileSent, c.sender)
			events, _, err := e.ap.Audit(e.ctx, payments.AuditFilter{Action: "send"})
			if err != nil || len(events) != 3 {
				t.Fatalf("%d send events, %v; want 3", len(events), err)
			}
			for _, ev := range events {
				if _, ok := ev.Details["simulated"]; ok != c.sender {
					t.Errorf("send of %s: details %v, simulated said: %v, want %v", ev.ObjectID, ev.Details, ok, c.sender)
				}
			}
		})
	}
}
