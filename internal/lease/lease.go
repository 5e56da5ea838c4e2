// Package lease holds named leases in the database, so that a long job runs
// in one process at a time and is taken over when that process dies: a
// holder renews its lease while it works; a lease not renewed in time
// expires, and the next process to ask takes it. Times are the database's
// (now()), so that the processes' clocks need not agree. There are no
// advisory locks: CockroachDB has none.
package lease

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/ofii/allowances/internal/db"
	"github.com/ofii/allowances/internal/errs"
)

// ErrLost is returned when a lease is renewed or released by a holder that
// no longer holds it: it expired and another took it.
var ErrLost = errors.New("the lease expired and another holder may have taken it")

// Lease is a lease held: its name, who holds it and the token of this
// taking.
type Lease struct {
	Name    string
	Holder  string
	Token   uuid.UUID
	Expires time.Time // when the database lets another take it, unless renewed
}

// Info is where a lease stands, for people and metrics.
type Info struct {
	Name      string    `json:"name"`
	Holder    string    `json:"holder"`
	TakenAt   time.Time `json:"taken_at"`
	RenewedAt time.Time `json:"renewed_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Expired   bool      `json:"expired"`
}

// Store takes, renews and releases leases.
type Store struct {
	pool   db.Beginner
	retry  db.RetryPolicy
	holder string
}

// New returns the leases of the database behind pool, taken in the name of
// holder (empty: this process, as host:pid:random).
func New(pool db.Beginner, holder string) *Store {
	if holder == "" {
		holder = DefaultHolder()
	}
	return &Store{pool: pool, retry: db.DefaultRetryPolicy, holder: holder}
}

// DefaultHolder names this process: host:pid:random, unique across
// restarts.
func DefaultHolder() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), uuid.NewString()[:8])
}

// Holder returns the name leases are taken in.
func (s *Store) Holder() string { return s.holder }

// checkTTL refuses a lease time a renewal could not keep up with.
func checkTTL(ttl time.Duration) error {
	if ttl < 100*time.Millisecond || ttl > 24*time.Hour {
		return errs.Field("ttl", "%s is not between 100ms and 24h", ttl)
	}
	return nil
}

// TryAcquire takes the lease name for ttl when it is free, expired, or
// already this holder's (then it is renewed under a new token). ok is false
// when another holder holds it; then held tells who.
func (s *Store) TryAcquire(ctx context.Context, name string, ttl time.Duration) (l Lease, ok bool, held Info, err error) {
	if err := checkTTL(ttl); err != nil {
		return Lease{}, false, Info{}, err
	}
	tok := uuid.New()
	err = db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
		l, ok, held = Lease{}, false, Info{}
		var exp time.Time
		err := tx.QueryRow(ctx, `
			INSERT INTO leases (name, holder, token, taken_at, renewed_at, expires_at)
			VALUES ($1, $2, $3, now(), now(), now() + $4::INT8 * INTERVAL '1 microsecond')
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, token = excluded.token,
			    taken_at = excluded.taken_at, renewed_at = excluded.renewed_at, expires_at = excluded.expires_at
			WHERE leases.expires_at <= now() OR leases.holder = excluded.holder
			RETURNING expires_at`, name, s.holder, tok, ttl.Microseconds()).Scan(&exp)
		if err == nil {
			l, ok = Lease{Name: name, Holder: s.holder, Token: tok, Expires: exp}, true
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		held, err = get(ctx, tx, name)
		return err
	})
	if err != nil {
		return Lease{}, false, Info{}, fmt.Errorf("take the lease %s: %w", name, err)
	}
	return l, ok, held, nil
}

// Renew extends l by ttl from now, or returns ErrLost when it is no longer
// this taking's.
func (s *Store) Renew(ctx context.Context, l *Lease, ttl time.Duration) error {
	if err := checkTTL(ttl); err != nil {
		return err
	}
	err := db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
		return tx.QueryRow(ctx, `
			UPDATE leases SET renewed_at = now(), expires_at = now() + $3::INT8 * INTERVAL '1 microsecond'
			WHERE name = $1 AND token = $2 AND expires_at > now()
			RETURNING expires_at`, l.Name, l.Token, ttl.Microseconds()).Scan(&l.Expires)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("renew the lease %s: %w", l.Name, ErrLost)
	}
	if err != nil {
		return fmt.Errorf("renew the lease %s: %w", l.Name, err)
	}
	return nil
}

// Release gives l up, so that another may take it at once. Releasing a
// lease that was lost is ErrLost.
func (s *Store) Release(ctx context.Context, l Lease) error {
	var n int64
	err := db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM leases WHERE name = $1 AND token = $2`, l.Name, l.Token)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("release the lease %s: %w", l.Name, err)
	}
	if n == 0 {
		return fmt.Errorf("release the lease %s: %w", l.Name, ErrLost)
	}
	return nil
}

// Get returns where the lease name stands; a lease never taken, or
// released, is not found.
func (s *Store) Get(ctx context.Context, name string) (Info, error) {
	var in Info
	err := db.InTxWith(ctx, s.pool, s.retry, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		in, err = get(ctx, tx, name)
		return err
	})
	return in, err
}

func get(ctx context.Context, tx pgx.Tx, name string) (Info, error) {
	in := Info{Name: name}
	err := tx.QueryRow(ctx, `SELECT holder, taken_at, renewed_at, expires_at, expires_at <= now() FROM leases WHERE name = $1`, name).
		Scan(&in.Holder, &in.TakenAt, &in.RenewedAt, &in.ExpiresAt, &in.Expired)
	if errors.Is(err, pgx.ErrNoRows) {
		return in, errs.E(errs.NotFound, "no lease %s is held", name)
	}
	return in, err
}

// Run takes the lease name for ttl and runs job with a context that ends
// when the lease is lost or ctx is done; it renews the lease meanwhile and
// releases it after. ok is false, and job is not run, when another holder
// holds the lease (held says who). The error is job's, or the lease's
// when it was lost (ErrLost).
func (s *Store) Run(ctx context.Context, name string, ttl time.Duration, job func(ctx context.Context) error) (ok bool, held Info, err error) {
	l, ok, held, err := s.TryAcquire(ctx, name, ttl)
	if err != nil || !ok {
		return false, held, err
	}
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := make(chan struct{})
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		tick := time.NewTicker(ttl / 3)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if err := s.Renew(context.WithoutCancel(ctx), &l, ttl); err != nil {
				cancel(err)
				return
			}
		}
	}()
	// A job that panics stops the renewals as it unwinds, as a process that
	// dies would: the lease then expires and the next holder takes over.
	stopRenewing := sync.OnceFunc(func() {
		close(stop)
		<-renewed
	})
	defer stopRenewing()
	err = job(jctx)
	stopRenewing()
	if cause := context.Cause(jctx); cause != nil && errors.Is(cause, ErrLost) {
		return true, Info{}, fmt.Errorf("%s: %w", name, cause)
	}
	// Released even when the job failed: whoever comes next takes over.
	if rerr := s.Release(context.WithoutCancel(ctx), l); rerr != nil && err == nil && !errors.Is(rerr, ErrLost) {
		err = rerr
	}
	return true, Info{}, err
}
