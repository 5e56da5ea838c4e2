package sqlstore_test

import (
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/errs"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/sqlstore"
)

// cutOffRelease approves November (six lines) and releases it with a fault
// injected in the database: the release stops at the statement failing,
// the batch left 'releasing'.
func cutOffRelease(t *testing.T, e *approvalEnv, trigger string) payments.Batch {
	t.Helper()
	nov := e.november()
	if _, err := e.ap.Submit(e.ctx, nov.ID, paul, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.ap.Approve(e.ctx, nov.ID, ana, ""); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{`CREATE FUNCTION cut_off() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'cut off'; END $$`, trigger} {
		if _, err := e.pool.Exec(e.ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.ap.Release(e.ctx, nov.ID, ana); err == nil || !strings.Contains(err.Error(), "release again") {
		t.Fatalf("release cut off: %v", err)
	}
	if b := e.batch(nov.ID); b.Status != payments.BatchReleasing {
		t.Fatalf("after the interruption: %s", b.Status)
	}
	return nov
}

func TestCancelAReleaseCutOff(t *testing.T) {
	e := newApprovalEnv(t, sqlstore.ApprovalConfig{MaxFileTransactions: 2})
	nov := cutOffRelease(t, e, `CREATE TRIGGER cut_off BEFORE INSERT ON payment_files FOR EACH ROW WHEN (NEW.part > 1) EXECUTE FUNCTION cut_off()`)
	files, _ := e.ap.Files(e.ctx, nov.ID)
	if len(files) != 1 || files[0].Status != payments.FileBuilding {
		t.Fatalf("files after the interruption: %+v", files)
	}
	wantAmount(t, "in transit after one file", e.balance(ledger.PaymentsInTransit), files[0].Total.StringFixed(2))
	if _, err := e.pool.Exec(e.ctx, `DROP TRIGGER cut_off ON payment_files`); err != nil {
		t.Fatal(err)
	}

	// While another process works on the release (it holds its lease), the
	// cancellation is refused, naming it, and changes nothing.
	if _, err := e.pool.Exec(e.ctx, `INSERT INTO leases (name, holder, token, taken_at, renewed_at, expires_at)
		VALUES ($1, 'ledgerd-b:42:0a1b2c3d', gen_random_uuid(), now(), now(), now() + INTERVAL '1 minute')`,
		sqlstore.ReleaseLeaseName(nov.ID)); err != nil {
		t.Fatal(err)
	}
	_, err := e.ap.Cancel(e.ctx, nov.ID, paul, "wrong rates")
	wantCode(t, "cancel while the release is held", err, errs.Conflict, "ledgerd-b:42:0a1b2c3d")
	if b := e.batch(nov.ID); b.Status != payments.BatchReleasing {
		t.Fatalf("after the refused cancellation: %s", b.Status)
	}
	if f, _ := e.ap.Files(e.ctx, nov.ID); f[0].Status != payments.FileBuilding {
		t.Fatalf("file after the refused cancellation: %s", f[0].Status)
	}
	// So is it while the bank sender works.
	if _, err := e.pool.Exec(e.ctx, `UPDATE leases SET name = $1`, sqlstore.SendLeaseName); err != nil {
		t.Fatal(err)
	}
	_, err = e.ap.Cancel(e.ctx, nov.ID, paul, "wrong rates")
	wantCode(t, "cancel while the bank sender works", err, errs.Conflict, "bank sender ledgerd-b:42:0a1b2c3d")
	if _, err := e.pool.Exec(e.ctx, `DELETE FROM leases`); err != nil {
		t.Fatal(err)
	}

	_, err = e.ap.Cancel(e.ctx, nov.ID, paul, " ")
	wantCode(t, "cancel without a reason", err, errs.Invalid, "reason")
	b, err := e.ap.Cancel(e.ctx, nov.ID, paul, "wrong rates")
	if err != nil || b.Status != payments.BatchCancelled || b.Workflow.Reason != "wrong rates" {
		t.Fatalf("cancel: %v %+v", err, b)
	}
	files, _ = e.ap.Files(e.ctx, nov.ID)
	if len(files) != 1 || files[0].Status != payments.FileWithdrawn {
		t.Errorf("files: %+v, want the one written withdrawn", files)
	}
	if n := e.count(`SELECT count(*) FROM payment_files WHERE status IN ('building', 'queued', 'sent')`); n != 0 {
		t.Errorf("%d files left to send", n)
	}
	wantAmount(t, "in transit", e.balance(ledger.PaymentsInTransit), "0")
	wantAmount(t, "payables", e.payables(), "0")
	wantAmount(t, "ADA expense (the accrual reversed)", e.balance(ledger.ExpenseADA), "0")
	for what, sql := range map[string]string{
		"payments recorded":    `SELECT count(*) FROM line_payments WHERE batch_id = $1`,
		"days recorded paid":   `SELECT count(*) FROM period_payments WHERE batch_id = $1`,
		"exceptions left open": `SELECT count(*) FROM payment_exceptions WHERE batch_id = $1 AND status <> 'closed'`,
	} {
		if n := e.count(sql, nov.ID); n != 0 {
			t.Errorf("%d %s, want 0", n, what)
		}
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE action = 'withdraw' AND object_kind = 'file' AND object_id = $1
		AND reason = 'wrong rates' AND actor = $2 AND from_status = 'building'`, files[0].MsgID, paul.Name); n != 1 {
		t.Errorf("%d audit rows of the withdrawal", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE action = 'cancel' AND object_id = $1 AND from_status = 'releasing'
		AND to_status = 'cancelling' AND reason = 'wrong rates'`, nov.ID.String()); n != 1 {
		t.Errorf("%d audit rows of the cancellation", n)
	}
	// Nothing is left to move: release and cancel again are refused.
	_, err = e.ap.Release(e.ctx, nov.ID, ana)
	wantCode(t, "release a cancelled batch", err, errs.Conflict, "cancelled")
	_, err = e.ap.Cancel(e.ctx, nov.ID, paul, "again")
	wantCode(t, "cancel a cancelled batch", err, errs.Conflict, "cancelled")
	e.verify()
}

func TestCancelAReleaseWithAFileSent(t *testing.T) {
	e := newApprovalEnv(t, sqlstore.ApprovalConfig{MaxFileTransactions: 3})
	// The release is cut off once both files are queued, before the batch
	// is released; the sender then sent the first file.
	nov := cutOffRelease(t, e, `CREATE TRIGGER cut_off BEFORE UPDATE ON batches FOR EACH ROW WHEN (NEW.status = 'released') EXECUTE FUNCTION cut_off()`)
	if _, err := e.pool.Exec(e.ctx, `DROP TRIGGER cut_off ON batches`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(e.ctx, `UPDATE payment_files SET status = 'sent', sent_at = now(), attempts = 1 WHERE batch_id = $1 AND part = 1`,
		nov.ID); err != nil {
		t.Fatal(err)
	}
	files, _ := e.ap.Files(e.ctx, nov.ID)
	if len(files) != 2 || files[0].Status != payments.FileSent || files[1].Status != payments.FileQueued {
		t.Fatalf("files before the cancellation: %+v", files)
	}
	sent, unsent := files[0], files[1]
	wantAmount(t, "in transit before", e.balance(ledger.PaymentsInTransit), "2557.40")

	b, err := e.ap.Cancel(e.ctx, nov.ID, paul, "second file to be checked")
	if err != nil || b.Status != payments.BatchReleased {
		t.Fatalf("cancel: %v %+v, want released with the file sent", err, b)
	}
	files, _ = e.ap.Files(e.ctx, nov.ID)
	if files[0].Status != payments.FileSent || files[1].Status != payments.FileWithdrawn {
		t.Errorf("files: %s %s, want sent and withdrawn", files[0].Status, files[1].Status)
	}
	wantAmount(t, "in transit: the file sent", e.balance(ledger.PaymentsInTransit), sent.Total.StringFixed(2))
	wantAmount(t, "payables: the file withdrawn", e.payables(), unsent.Total.StringFixed(2))
	if n := e.count(`SELECT count(*) FROM line_payments WHERE batch_id = $1`, nov.ID); n != sent.Transactions {
		t.Errorf("%d payments recorded, want the %d of the file sent", n, sent.Transactions)
	}
	excs, err := e.ap.Exceptions(e.ctx, payments.ExceptionFilter{Status: payments.ExceptionOpen})
	if err != nil || len(excs) != unsent.Transactions {
		t.Fatalf("exceptions: %v %+v, want the %d payments withdrawn", err, excs, unsent.Transactions)
	}
	total := decimal.Zero
	for _, x := range excs {
		total = total.Add(x.Amount)
		if x.ReasonCode != "CUST" || x.MsgID != unsent.MsgID || !strings.Contains(x.Note, "second file to be checked") {
			t.Errorf("exception %+v", x)
		}
	}
	wantAmount(t, "exceptions", total, unsent.Total.StringFixed(2))
	if n := e.count(`SELECT count(*) FROM audit_events WHERE action = 'released' AND object_id = $1 AND from_status = 'cancelling'
		AND details->>'files_withdrawn' LIKE '%' || $2 || '%'`, nov.ID.String(), unsent.MsgID); n != 1 {
		t.Errorf("%d audit rows saying which file was withdrawn", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_events WHERE action = 'withdraw' AND object_kind = 'file' AND object_id = $1
		AND from_status = 'queued' AND to_status = 'withdrawn'`, unsent.MsgID); n != 1 {
		t.Errorf("%d files withdrawn in the audit trail, want 1", n)
	}
	// Released: the batch moves on as any released batch; it is no longer
	// cancellable.
	_, err = e.ap.Cancel(e.ctx, nov.ID, paul, "again")
	wantCode(t, "cancel a released batch", err, errs.Conflict, "released")
	e.verify()
}
