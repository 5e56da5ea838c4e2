package bank

import (
	"context"
	"log/slog"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/sony/gobreaker/v2"
)

// BreakerConfig sets the circuit breaker in front of each bank endpoint.
type BreakerConfig struct {
	// ConsecutiveFailures opens the breaker (default 5).
	ConsecutiveFailures uint32
	// OpenTimeout is how long the breaker stays open before it lets a probe
	// through (default 30s).
	OpenTimeout time.Duration
	// HalfOpenMaxRequests is how many probes may run while half-open; as
	// many successes close the breaker (default 1).
	HalfOpenMaxRequests uint32
}

func (c BreakerConfig) withDefaults() BreakerConfig {
	if c.ConsecutiveFailures == 0 {
		c.ConsecutiveFailures = 5
	}
	if c.OpenTimeout <= 0 {
		c.OpenTimeout = 30 * time.Second
	}
	if c.HalfOpenMaxRequests == 0 {
		c.HalfOpenMaxRequests = 1
	}
	return c
}

// newBreaker returns the breaker of one endpoint. Only a failing bank counts
// against it: a Refusal is a success (the bank answered), and an attempt the
// caller abandoned is not counted at all.
func newBreaker(name string, cfg BreakerConfig, log *slog.Logger) *gobreaker.CircuitBreaker[any] {
	return gobreaker.NewCircuitBreaker[any](gobreaker.Settings{
		Name:        name,
		MaxRequests: cfg.HalfOpenMaxRequests,
		Timeout:     cfg.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= cfg.ConsecutiveFailures
		},
		IsSuccessful: func(err error) bool { return err == nil || isRefusal(err) },
		IsExcluded:   isAbandoned,
		// Called with the breaker's lock held: log only, never call back.
		OnStateChange: func(name string, from, to gobreaker.State) {
			level := slog.LevelInfo
			if to == gobreaker.StateOpen {
				level = slog.LevelWarn
			}
			log.Log(context.Background(), level, "bank breaker state changed",
				"breaker", name, "from", from.String(), "to", to.String())
		},
	})
}

// breakerMiddleware runs each call through cb. An error that comes back
// after the caller's context ended is marked abandoned so that cb ignores it;
// the per-attempt timeout sits inside this middleware, so its expiry is a
// failure of the bank, not an abandon.
func breakerMiddleware(cb *gobreaker.CircuitBreaker[any]) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			return cb.Execute(func() (any, error) {
				response, err := next(ctx, request)
				if err != nil && ctx.Err() != nil {
					err = &abandoned{err}
				}
				return response, err
			})
		}
	}
}
