package bank

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/sony/gobreaker/v2"
)

// timeoutMiddleware bounds one attempt. An attempt that runs out of time
// while its caller still waits is a failure of the bank.
func timeoutMiddleware(d time.Duration) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			actx, cancel := context.WithTimeout(ctx, d)
			defer cancel()
			response, err := next(actx, request)
			if err != nil && ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
				err = fmt.Errorf("no answer within %s: %w", d, err)
			}
			return response, err
		}
	}
}

// backoff is the wait before attempt n+1 (n counts from 0): exponential from
// base, capped at max, with half of it random so that clients that failed
// together do not come back together.
type backoff struct {
	base, max time.Duration
}

func (b backoff) wait(n int) time.Duration {
	d := b.base
	for range n {
		d *= 2
		if d >= b.max {
			d = b.max
			break
		}
	}
	if d > b.max {
		d = b.max
	}
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(half+1)
}

// retryMiddleware makes up to attempts calls. It retries only failures of
// the bank (network errors, timeouts, 5xx, 429); a Refusal, the caller's
// cancellation and an open breaker end the call at once. An open breaker or
// the last failure is returned wrapped in ErrUnavailable.
func retryMiddleware(name string, attempts int, b backoff, log *slog.Logger) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			for n := 0; ; n++ {
				response, err := next(ctx, request)
				switch {
				case err == nil:
					return response, nil
				case ctx.Err() != nil:
					if errors.Is(err, ctx.Err()) {
						return nil, err
					}
					return nil, fmt.Errorf("%w: %w", ctx.Err(), err)
				case isRefusal(err):
					return nil, err
				case errors.Is(err, gobreaker.ErrOpenState), errors.Is(err, gobreaker.ErrTooManyRequests):
					return nil, fmt.Errorf("%w: breaker %s: %w", ErrUnavailable, name, err)
				case n+1 >= attempts:
					return nil, fmt.Errorf("%w: %d attempts failed, the last: %w", ErrUnavailable, attempts, err)
				}
				wait := b.wait(n)
				log.Warn("bank call failed, retrying",
					"endpoint", name, "attempt", n+1, "of", attempts, "wait", wait, "err", err)
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return nil, fmt.Errorf("%w (after %d attempts, the last: %v)", ctx.Err(), n+1, err)
				case <-t.C:
				}
			}
		}
	}
}
