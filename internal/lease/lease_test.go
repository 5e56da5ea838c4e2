package lease_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ofii/allowances/internal/dbtest"
	"github.com/ofii/allowances/internal/lease"
)

// TestOneHolderAtATime: a lease is one holder's until it expires or is
// released; then the next takes it, and the former can neither renew nor
// release it.
func TestOneHolderAtATime(t *testing.T) {
	ctx := context.Background()
	pool, _ := dbtest.MustOpen(t)
	a, b := lease.New(pool, "a"), lease.New(pool, "b")
	la, ok, _, err := a.TryAcquire(ctx, "send", 400*time.Millisecond)
	if err != nil || !ok || la.Holder != "a" {
		t.Fatalf("a takes a free lease: %+v %v %v", la, ok, err)
	}
	if _, ok, held, err := b.TryAcquire(ctx, "send", time.Second); err != nil || ok || held.Holder != "a" || held.Expired {
		t.Fatalf("b takes a's lease: ok %v, held %+v, %v", ok, held, err)
	}
	if err := a.Renew(ctx, &la, 400*time.Millisecond); err != nil {
		t.Fatalf("a renews: %v", err)
	}
	time.Sleep(500 * time.Millisecond) // a stops renewing: the lease expires
	lb, ok, _, err := b.TryAcquire(ctx, "send", time.Second)
	if err != nil || !ok || lb.Holder != "b" {
		t.Fatalf("b takes the expired lease: %+v %v %v", lb, ok, err)
	}
	if err := a.Renew(ctx, &la, time.Second); !errors.Is(err, lease.ErrLost) {
		t.Errorf("a renews the lease b took: %v, want ErrLost", err)
	}
	if err := a.Release(ctx, la); !errors.Is(err, lease.ErrLost) {
		t.Errorf("a releases the lease b took: %v, want ErrLost", err)
	}
	if in, err := b.Get(ctx, "send"); err != nil || in.Holder != "b" {
		t.Errorf("after a's attempts the lease is %+v (%v), want b's", in, err)
	}
	if err := b.Release(ctx, lb); err != nil {
		t.Fatal(err)
	}
	if _, ok, _, err := a.TryAcquire(ctx, "send", time.Second); err != nil || !ok {
		t.Errorf("a takes the released lease: %v %v", ok, err)
	}
	if _, _, _, err := a.TryAcquire(ctx, "x", time.Millisecond); err == nil {
		t.Error("a lease of 1ms was taken")
	}
}

// TestRunKeepsTheLease: a job longer than the lease time keeps it by
// renewal, a second job of the same name does not run meanwhile, and a job
// whose lease is taken from it is stopped.
func TestRunKeepsTheLease(t *testing.T) {
	ctx := context.Background()
	pool, _ := dbtest.MustOpen(t)
	a, b := lease.New(pool, "a"), lease.New(pool, "b")
	var running atomic.Int32
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, _, err := a.Run(ctx, "run:ada", 300*time.Millisecond, func(ctx context.Context) error {
			running.Add(1)
			close(started)
			select {
			case <-time.After(time.Second): // over three lease times
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		done <- err
	}()
	<-started
	time.Sleep(500 * time.Millisecond)
	ok, held, err := b.Run(ctx, "run:ada", time.Second, func(context.Context) error { running.Add(1); return nil })
	if err != nil || ok || held.Holder != "a" {
		t.Errorf("b ran while a renewed: ok %v, held %+v, %v", ok, held, err)
	}
	if err := <-done; err != nil {
		t.Errorf("a's job: %v", err)
	}
	if running.Load() != 1 {
		t.Errorf("%d jobs ran, want 1", running.Load())
	}
	if _, err := a.Get(ctx, "run:ada"); err == nil {
		t.Error("the lease is still held after the job")
	}

	// A job whose lease is taken (here: stolen by deleting it, as an
	// expiry and a takeover would) stops with ErrLost.
	_, _, err = a.Run(ctx, "run:grants", 300*time.Millisecond, func(ctx context.Context) error {
		if _, err := pool.Exec(ctx, `UPDATE leases SET holder = 'b', token = gen_random_uuid() WHERE name = 'run:grants'`); err != nil {
			return err
		}
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, lease.ErrLost) {
		t.Errorf("a job that lost its lease: %v, want ErrLost", err)
	}
}
