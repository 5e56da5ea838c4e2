package server_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/shopspring/decimal"

	"github.com/ofii/allowances/internal/config"
	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/internal/lease"
	"github.com/ofii/allowances/internal/server"
	"github.com/ofii/allowances/ledger"
	"github.com/ofii/allowances/payments"
	"github.com/ofii/allowances/payments/bank/banksim"
	"github.com/ofii/allowances/payments/sepa"
	httptransport "github.com/ofii/allowances/transport/http"
	"github.com/ofii/allowances/transport/kafka"
)

// instance is a ledgerd run in the test process, which the test may stop
// before it ends.
type instance struct {
	addrs server.Addrs
	api   client
	stop  func()
}

// startInstance runs the server of cfg until stop is called or the test
// ends.
func startInstance(t *testing.T, cfg config.Config, opts ...server.Option) *instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan server.Addrs, 1)
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	go func() { done <- server.Run(ctx, cfg, log, ready, opts...) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("shutdown: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("the server did not stop")
			}
		})
	}
	t.Cleanup(stop)
	select {
	case a := <-ready:
		return &instance{addrs: a, api: client{t: t, base: "http://" + a.HTTP}, stop: stop}
	case err := <-done:
		t.Fatalf("the server stopped: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not start")
	}
	return nil
}

// sharedEnv is the settings of ledgerd instances sharing the database of
// url, the broker and the bank, outside dev mode.
func sharedEnv(url, broker, bank string) map[string]string {
	return map[string]string{
		"DATABASE_URL": url,
		"HTTP_ADDR":    "127.0.0.1:0",
		"AUTH_TOKENS": "ops:admin:" + httptransport.HashToken(adminToken) + ";pay:preparer:" + httptransport.HashToken(payToken) +
			";appr:approver:" + httptransport.HashToken(approveToken),
		"KAFKA_BROKERS":      broker,
		"BANK_URL":           bank,
		"ADA_RUN_DAY":        "0",
		"BANK_POLL_INTERVAL": "100ms",
		// A killed instance's passes are taken over this long after.
		"LEASE_TTL": "3s",
	}
}

func loadConfig(t *testing.T, env map[string]string) config.Config {
	t.Helper()
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// testIBAN returns a French IBAN with valid check digits for account i.
func testIBAN(i int) string {
	bban := fmt.Sprintf("3000600001%011d00", i)
	n, _ := new(big.Int).SetString(bban+"152700", 10) // "FR00" moved to the end, letters as numbers
	return fmt.Sprintf("FR%02d%s", 98-new(big.Int).Mod(n, big.NewInt(97)).Int64(), bban)
}

// eligibility is the status of the eligibility consumer in /readyz.
type eligibility struct {
	Applied    int64 `json:"applied"`
	Duplicates int64 `json:"duplicates"`
	Partitions []struct {
		Partition int `json:"partition"`
	} `json:"partitions"`
}

func (c client) eligibility() eligibility {
	c.t.Helper()
	var r struct {
		Detail struct {
			Eligibility eligibility `json:"eligibility"`
		} `json:"detail"`
	}
	c.do("GET", "/readyz", "", "", "", 200, &r)
	return r.Detail.Eligibility
}

// batchStatus is the status of a batch through the API.
func (c client) batchStatus(id string) string {
	c.t.Helper()
	var b struct {
		Status string `json:"status"`
	}
	c.do("GET", "/v1/batches/"+id, adminToken, "", "", 200, &b)
	return b.Status
}

// payMonth runs October through the API of c: the run, its approval and
// its release. It returns the batch.
func (c client) payMonth() string {
	c.t.Helper()
	var run struct {
		BatchID string `json:"batch_id"`
	}
	c.do("POST", "/v1/runs", payToken, "application/json", `{"kind":"ada","period":"2026-10"}`, 201, &run)
	c.do("POST", "/v1/batches/"+run.BatchID+"/submit", payToken, "application/json", `{}`, 200, nil)
	c.do("POST", "/v1/batches/"+run.BatchID+"/approve", approveToken, "application/json", `{}`, 200, nil)
	c.do("POST", "/v1/batches/"+run.BatchID+"/release", approveToken, "application/json", `{}`, 200, nil)
	return run.BatchID
}

// count runs a query of one integer.
func count(t *testing.T, pool *pgxpool.Pool, query string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// verified checks the ledger through the API of c.
func (c client) verified() {
	c.t.Helper()
	var rep ledger.VerifyReport
	c.do("GET", "/v1/verify", adminToken, "", "", 200, &rep)
	if !rep.OK || len(rep.Problems) > 0 {
		c.t.Errorf("verify: ok %v, problems %v", rep.OK, rep.Problems)
	}
}

// TestTwoInstances runs two ledgerd on one database, one Kafka broker and
// one bank, polling the bank every 100 ms, the bank slow enough for their
// passes to overlap: the consumer group shares the partitions and applies
// every event once; the month run, approved and released through one
// instance is sent to the bank file by file, once each; each status report
// is applied once, the rejections it brings are one exception each; each
// day's statement is imported once and books each payment once; the ledger
// verifies.
func TestTwoInstances(t *testing.T) {
	pool, url := dbtest.MustOpen(t)
	broker, err := kafka.StartEmbedded(0, 4, "eligibility.v1", "eligibility.v1.dlq")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	const households = 40
	rejected := map[string]bool{testIBAN(3): true, testIBAN(17): true}
	bank := banksim.New(banksim.Config{Account: banksim.DefaultAccount, OpeningBalance: decimal.RequireFromString("10000000.00"),
		RejectIBANs: rejected})
	bank.SetFaults(banksim.Faults{Latency: 30 * time.Millisecond})
	bankSrv := httptest.NewServer(bank)
	t.Cleanup(bankSrv.Close)
	env := sharedEnv(url, broker.Addr(), bankSrv.URL)
	env["PAYMENT_FILE_MAX_TX"] = "10"
	cfg := loadConfig(t, env)
	var days atomic.Int64
	now := func() time.Time { return time.Now().AddDate(0, 0, int(days.Load())) }
	a := startInstance(t, cfg, server.WithClock(now))
	b := startInstance(t, cfg, server.WithClock(now))

	// Both consumers join the group and get partitions of their own
	// before the events come.
	kc := &kafkago.Client{Addr: kafkago.TCP(broker.Addr()), Timeout: 5 * time.Second}
	assigned := map[int]int{} // partition: how many members have it
	waitFor(t, "both consumers to share the partitions", func() bool {
		res, err := kc.DescribeGroups(context.Background(), &kafkago.DescribeGroupsRequest{GroupIDs: []string{cfg.KafkaGroup}})
		if err != nil || len(res.Groups) != 1 || res.Groups[0].GroupState != "Stable" || len(res.Groups[0].Members) != 2 {
			return false
		}
		clear(assigned)
		for _, m := range res.Groups[0].Members {
			n := 0
			for _, tp := range m.MemberAssignments.Topics {
				for _, p := range tp.Partitions {
					assigned[p]++
					n++
				}
			}
			if n == 0 {
				return false
			}
		}
		return true
	})
	if len(assigned) != 4 {
		t.Fatalf("partitions assigned: %v, want the 4, each to one member", assigned)
	}
	for p, n := range assigned {
		if n != 1 {
			t.Errorf("partition %d is assigned to %d members", p, n)
		}
	}

	// October: each household's rights open, half of them change later.
	var msgs []kafkago.Message
	for i := range households {
		ben := fmt.Sprintf("OFII-2026-%06d", 500+i)
		v := fmt.Sprintf(`{"event_id":%q,"type":"ada.rights_opened","schema_version":1,"occurred_at":"2026-10-01T08:00:00Z","beneficiary_id":%q,`+
			`"data":{"from":"2026-10-01","adults":%d,"children":%d,"accommodated":false,"territory":"metropole",`+
			`"payee":{"name":"Household %d","iban":%q}}}`, uuid.NewString(), ben, 1+i%2, i%3, i, testIBAN(i))
		msgs = append(msgs, kafkago.Message{Key: kafka.KeyOf([]byte(v)), Value: []byte(v)})
		if i%2 == 0 {
			v := fmt.Sprintf(`{"event_id":%q,"type":"ada.household_changed","schema_version":1,"occurred_at":"2026-10-20T08:00:00Z",`+
				`"beneficiary_id":%q,"data":{"from":"2026-10-15","adults":2,"children":%d}}`, uuid.NewString(), ben, 1+i%3)
			msgs = append(msgs, kafkago.Message{Key: kafka.KeyOf([]byte(v)), Value: []byte(v)})
		}
	}
	w := &kafkago.Writer{Addr: kafkago.TCP(broker.Addr()), Topic: "eligibility.v1", Balancer: &kafkago.Murmur2Balancer{}, BatchTimeout: time.Millisecond}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
	w.Close()
	waitFor(t, "every event to be applied", func() bool {
		return count(t, pool, `SELECT count(*) FROM events`) == int64(len(msgs))
	})
	time.Sleep(300 * time.Millisecond) // a second delivery would show by now
	ea, eb := a.api.eligibility(), b.api.eligibility()
	if ea.Applied+eb.Applied != int64(len(msgs)) || ea.Duplicates+eb.Duplicates != 0 {
		t.Errorf("applied %d + %d, duplicates %d + %d: want the %d events applied once between them",
			ea.Applied, eb.Applied, ea.Duplicates, eb.Duplicates, len(msgs))
	}
	if ea.Applied == 0 || eb.Applied == 0 {
		t.Errorf("applied %d and %d: the group does not share the work", ea.Applied, eb.Applied)
	}
	mine := map[int]bool{}
	for _, p := range ea.Partitions {
		mine[p.Partition] = true
	}
	for _, p := range eb.Partitions {
		if mine[p.Partition] {
			t.Errorf("partition %d was read by both instances", p.Partition)
		}
	}

	// The month, paid through a: 40 payments in 4 files, 2 of them rejected.
	batch := a.api.payMonth()
	waitFor(t, "the bank to answer every file", func() bool {
		return b.api.batchStatus(batch) == string(payments.BatchPartlyRejected)
	})
	time.Sleep(500 * time.Millisecond) // more passes of both: nothing changes
	got := bank.Received()
	if len(got) != 4 {
		t.Fatalf("the bank received %d files, want 4", len(got))
	}
	bankRejected := 0
	for _, f := range got {
		if f.Attempts != 1 || f.Duplicates != 0 {
			t.Errorf("file %s reached the bank %d times (%d duplicates), want once", f.MsgID, f.Attempts, f.Duplicates)
		}
		for _, tx := range f.Transactions {
			if !tx.Accepted {
				bankRejected++
			}
		}
	}
	if bankRejected != 2 {
		t.Errorf("the bank rejected %d payments, want 2", bankRejected)
	}
	for _, c := range []struct {
		what  string
		query string
		want  int64
	}{
		{"files", `SELECT count(*) FROM payment_files WHERE batch_id = $1 AND status IN ('accepted', 'partly_rejected')`, 4},
		{"sendings recorded", `SELECT count(*) FROM audit_events WHERE action = 'send' AND object_kind = 'file'
			AND object_id IN (SELECT msg_id FROM payment_files WHERE batch_id = $1)`, 4},
		{"status reports", `SELECT count(*) FROM status_reports WHERE status = 'applied'
			AND original_msg_id IN (SELECT msg_id FROM payment_files WHERE batch_id = $1)`, 4},
		{"reports applied", `SELECT count(*) FROM audit_events WHERE action = 'status_report'
			AND object_id IN (SELECT msg_id FROM payment_files WHERE batch_id = $1)`, 4},
		{"payment exceptions", `SELECT count(*) FROM payment_exceptions WHERE batch_id = $1`, 2},
		{"rejections reported", `SELECT COALESCE(sum(rejected), 0)::INT8 FROM status_reports
			WHERE original_msg_id IN (SELECT msg_id FROM payment_files WHERE batch_id = $1)`, 2},
	} {
		if n := count(t, pool, c.query, batch); n != c.want {
			t.Errorf("%s: %d, want %d", c.what, n, c.want)
		}
	}
	// Each rejected payment went back to its payee's payable account once.
	for _, i := range []int{3, 17} {
		ben := fmt.Sprintf("OFII-2026-%06d", 500+i)
		var net decimal.Decimal
		if err := pool.QueryRow(context.Background(), `SELECT net FROM batch_lines WHERE batch_id = $1 AND beneficiary_id = $2`,
			batch, ben).Scan(&net); err != nil {
			t.Fatal(err)
		}
		var payable struct {
			Balance string `json:"balance"`
		}
		a.api.do("GET", "/v1/accounts/"+ledger.SubAccount(ledger.Payable, ben)+"/balance", adminToken, "", "", 200, &payable)
		if !net.IsPositive() || payable.Balance != net.Neg().StringFixed(2) { // a credit: owed to the payee
			t.Errorf("%s: payable %s after the rejection of its payment of %s, want the payment back once", ben, payable.Balance, net.StringFixed(2))
		}
	}

	// Two business days after the execution date, the statements of the
	// two days before are due: each is imported once, each payment booked
	// once.
	var exec ledger.Date
	if err := pool.QueryRow(context.Background(), `SELECT min(execution_date) FROM payment_files`).Scan(&exec); err != nil {
		t.Fatal(err)
	}
	today := sepa.AddBusinessDays(exec, 2)
	bank.SetToday(today)
	days.Store(int64(today.Time().Sub(payments.LegalDay(time.Now()).Time()).Hours() / 24))
	waitFor(t, "the statements to book the payments", func() bool {
		return count(t, pool, `SELECT count(*) FROM payment_bookings`) == households-2
	})
	time.Sleep(500 * time.Millisecond)
	stmts := count(t, pool, `SELECT count(*) FROM statements`)
	if d := count(t, pool, `SELECT count(DISTINCT stmt_date) FROM statements WHERE status = 'imported'`); stmts != d || stmts < 2 {
		t.Errorf("%d statements of %d days, want one a day of the 2 due", stmts, d)
	}
	if n := count(t, pool, `SELECT count(*) FROM audit_events WHERE action = 'import' AND object_kind = 'statement'`); n != stmts {
		t.Errorf("%d statement imports recorded, want %d", n, stmts)
	}
	if n := count(t, pool, `SELECT count(*) FROM payment_bookings`); n != households-2 {
		t.Errorf("%d payments booked, want %d", n, households-2)
	}
	if n := count(t, pool, `SELECT count(*) FROM recon_exceptions`); n != 0 {
		t.Errorf("%d reconciliation exceptions, want none", n)
	}
	var inTransit struct {
		Balance string `json:"balance"`
	}
	a.api.do("GET", "/v1/accounts/"+ledger.PaymentsInTransit+"/balance", adminToken, "", "", 200, &inTransit)
	if inTransit.Balance != "0.00" {
		t.Errorf("payments in transit: %s, want 0.00 once every payment is booked or rejected", inTransit.Balance)
	}
	a.api.verified()

	// A pass asked for through the API waits for its lease held by
	// another holder, then runs; while the other keeps it, it is a conflict
	// naming the holder, and does nothing.
	leases := lease.New(pool, "elsewhere:4242:test")
	// An instance's own pass may hold the lease a moment longer (slower
	// under the race detector): wait for it, within bounds.
	hold := func(name string) lease.Lease {
		deadline := time.Now().Add(30 * time.Second)
		for {
			l, ok, _, err := leases.TryAcquire(context.Background(), name, time.Minute)
			if err == nil && ok {
				return l
			}
			if err != nil || time.Now().After(deadline) {
				t.Fatalf("take the lease %s: %v %v", name, ok, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, c := range []struct{ lease, path, body string }{
		{server.LeaseBankReports, "/v1/bank/poll", `{}`},
		{server.LeaseBankStatements, "/v1/statements/fetch", `{"date":"` + exec.String() + `"}`},
	} {
		l := hold(c.lease)
		time.AfterFunc(time.Second, func() { _ = leases.Release(context.Background(), l) })
		began := time.Now()
		b.api.do("POST", c.path, adminToken, "application/json", c.body, 200, nil)
		if time.Since(began) < time.Second {
			t.Errorf("POST %s ran while %s was held elsewhere", c.path, c.lease)
		}
	}
	l := hold(server.LeaseBankSend)
	var problem struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	b.api.do("POST", "/v1/bank/send", adminToken, "application/json", `{}`, 409, &problem)
	if msg := problem.Error.Message; !strings.Contains(msg, "elsewhere:4242:test") || !strings.Contains(msg, server.LeaseBankSend) {
		t.Errorf("POST /v1/bank/send while %s is held elsewhere: %q, want the holder named", server.LeaseBankSend, msg)
	}
	if err := leases.Release(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	if n := count(t, pool, `SELECT count(*) FROM statements`); n != stmts {
		t.Errorf("%d statements after the fetch again, want %d", n, stmts)
	}
	if got := bank.Received(); len(got) != 4 || got[0].Attempts != 1 {
		t.Errorf("the bank has %d files after the passes asked for, want the 4 once", len(got))
	}
}

// TestInstanceStoppedMidSend: an instance stops while the bank holds a
// file it took and has not answered yet, so that the file is at the bank
// and still queued in the database. Another instance finishes: it sends
// the file again, the bank answers DU01, and the file is recorded as sent
// (a duplicate) and accepted, without being paid twice.
func TestInstanceStoppedMidSend(t *testing.T) {
	pool, url := dbtest.MustOpen(t)
	broker, bank, bankSrv, taken := keepsFirstAnswer(t)
	cfg := loadConfig(t, sharedEnv(url, broker.Addr(), bankSrv.URL))

	a := startInstance(t, cfg)
	publishExamples(t, broker.Addr())
	waitFor(t, "the events to be applied", func() bool {
		return a.api.status("/v1/beneficiaries/OFII-2026-000123") == 200
	})
	batch := a.api.payMonth()
	var msgID string
	select {
	case msgID = <-taken:
	case <-time.After(30 * time.Second):
		t.Fatal("no file reached the bank")
	}
	a.stop()
	if n := len(bank.Received()); n != 1 {
		t.Fatalf("the bank has %d files, want 1", n)
	}
	if n := count(t, pool, `SELECT count(*) FROM payment_files WHERE msg_id = $1 AND status = 'queued'`, msgID); n != 1 {
		t.Fatalf("file %s is not queued any more after the stop", msgID)
	}

	b := startInstance(t, cfg)
	waitFor(t, "the other instance to finish", func() bool {
		return b.api.batchStatus(batch) == string(payments.BatchSettled)
	})
	got := bank.Received()
	if len(got) != 1 || got[0].MsgID != msgID || got[0].Attempts != 2 || got[0].Duplicates != 1 {
		t.Fatalf("the bank received %+v, want %s once and its resend refused as a duplicate", got, msgID)
	}
	if n := count(t, pool, `SELECT count(*) FROM payment_files WHERE msg_id = $1 AND status = 'accepted' AND attempts = 1`, msgID); n != 1 {
		t.Errorf("file %s is not accepted after one recorded attempt", msgID)
	}
	if n := count(t, pool, `SELECT count(*) FROM audit_events WHERE action = 'send' AND object_id = $1
		AND details->>'duplicate' = 'true'`, msgID); n != 1 {
		t.Errorf("%d sendings of %s recorded as the bank's duplicate, want 1", n, msgID)
	}
	if n := count(t, pool, `SELECT count(*) FROM status_reports WHERE original_msg_id = $1 AND status = 'applied'`, msgID); n != 1 {
		t.Errorf("%d status reports of %s applied, want 1", n, msgID)
	}
	b.api.verified()
}

// TestLedgerdKilledMidSend runs two ledgerd processes, built from
// cmd/ledgerd, on one database, broker and bank, and kills the one sending
// (SIGKILL) once the bank has taken the file and before its answer comes
// back: the file is at the bank and queued in the database, and the dead
// process holds the lease of the sender. The other takes the lease over
// once it expires, sends the file again, meets DU01 and finishes: the file
// is accepted, at the bank once, and the ledger verifies.
func TestLedgerdKilledMidSend(t *testing.T) {
	if testing.Short() {
		t.Skip("builds ledgerd and waits for a lease to expire")
	}
	bin := filepath.Join(t.TempDir(), "ledgerd")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/ofii/allowances/cmd/ledgerd").CombinedOutput(); err != nil {
		t.Fatalf("build ledgerd: %v\n%s", err, out)
	}
	pool, url := dbtest.MustOpen(t)
	broker, bank, bankSrv, taken := keepsFirstAnswer(t)

	procs := map[int]*exec.Cmd{}
	apis := map[int]client{}
	for range 2 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		env := sharedEnv(url, broker.Addr(), bankSrv.URL)
		env["HTTP_ADDR"], env["LOG_LEVEL"] = addr, "error"
		cmd := exec.Command(bin)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
		})
		api := client{t: t, base: "http://" + addr}
		waitForUntil(t, "ledgerd to start", 60*time.Second, func() bool {
			resp, err := http.Get(api.base + "/readyz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == 200
		})
		procs[cmd.Process.Pid], apis[cmd.Process.Pid] = cmd, api
	}
	var some client
	for _, api := range apis {
		some = api
	}
	publishExamples(t, broker.Addr())
	waitFor(t, "the events to be applied", func() bool {
		return some.status("/v1/beneficiaries/OFII-2026-000123") == 200
	})
	batch := some.payMonth()
	var msgID string
	select {
	case msgID = <-taken:
	case <-time.After(30 * time.Second):
		t.Fatal("no file reached the bank")
	}

	// The sender is the holder of its lease: host:pid:random.
	var holder string
	if err := pool.QueryRow(context.Background(), `SELECT holder FROM leases WHERE name = $1`, server.LeaseBankSend).Scan(&holder); err != nil {
		t.Fatalf("the lease %s: %v", server.LeaseBankSend, err)
	}
	parts := strings.Split(holder, ":")
	pid, _ := strconv.Atoi(parts[len(parts)-2])
	sender := procs[pid]
	if sender == nil {
		t.Fatalf("the lease %s is held by %s, not by one of the two ledgerd", server.LeaseBankSend, holder)
	}
	if err := sender.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = sender.Wait()
	delete(apis, pid)
	var survivor client
	for _, api := range apis {
		survivor = api
	}
	if n := count(t, pool, `SELECT count(*) FROM payment_files WHERE msg_id = $1 AND status = 'queued'`, msgID); n != 1 {
		t.Fatalf("file %s is not queued after the sender's death", msgID)
	}

	waitForUntil(t, "the survivor to finish", 90*time.Second, func() bool {
		return survivor.batchStatus(batch) == string(payments.BatchSettled)
	})
	got := bank.Received()
	if len(got) != 1 || got[0].MsgID != msgID || got[0].Attempts != 2 || got[0].Duplicates != 1 {
		t.Fatalf("the bank received %+v, want %s once and its resend refused as a duplicate", got, msgID)
	}
	if n := count(t, pool, `SELECT count(*) FROM payment_files WHERE msg_id = $1 AND status = 'accepted' AND attempts = 1`, msgID); n != 1 {
		t.Errorf("file %s is not accepted after one recorded attempt", msgID)
	}
	if n := count(t, pool, `SELECT count(*) FROM audit_events WHERE action = 'send' AND object_id = $1
		AND details->>'duplicate' = 'true'`, msgID); n != 1 {
		t.Errorf("%d sendings of %s recorded as the bank's duplicate, want 1", n, msgID)
	}
	survivor.verified()
}

// waitForUntil is waitFor with a limit of its own.
func waitForUntil(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// keepsFirstAnswer starts a broker and a bank that takes the first payment
// file it is sent and never answers for it (the answer waits until the
// sender hangs up or dies); taken receives that file's MsgId.
func keepsFirstAnswer(t *testing.T) (*kafka.Broker, *banksim.Bank, *httptest.Server, <-chan string) {
	t.Helper()
	broker, err := kafka.StartEmbedded(0, 1, "eligibility.v1", "eligibility.v1.dlq")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	bank := banksim.New(banksim.Config{Account: banksim.DefaultAccount, OpeningBalance: decimal.RequireFromString("10000000.00")})
	taken := make(chan string, 1)
	var first atomic.Bool
	bankSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/files" && first.CompareAndSwap(false, true) {
			bank.ServeHTTP(httptest.NewRecorder(), r)
			taken <- r.Header.Get("X-Msg-Id")
			<-r.Context().Done()
			return
		}
		bank.ServeHTTP(w, r)
	}))
	t.Cleanup(bankSrv.Close)
	return broker, bank, bankSrv, taken
}
