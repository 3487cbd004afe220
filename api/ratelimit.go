package api

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/ethox/ethox/auth"
)

// RateLimit is N requests a minute per client, with bursts of up to Burst.
// PerMinute 0 turns the limit off.
type RateLimit struct {
	PerMinute int
	Burst     int
}

// rateLimits holds the mutation limits, keyed by token name or client IP.
type rateLimits struct {
	mutations *keyedLimiter
	runs      *keyedLimiter
}

func newRateLimits(mutations, runs RateLimit) *rateLimits {
	if mutations.PerMinute <= 0 && runs.PerMinute <= 0 {
		return nil
	}
	return &rateLimits{mutations: newKeyedLimiter(mutations), runs: newKeyedLimiter(runs)}
}

// allow charges one mutation per field, and one run per runSimulation, to
// key. Nothing is charged when any limit refuses.
func (l *rateLimits) allow(key string, fields []string) error {
	now := time.Now()
	runs := 0
	for _, f := range fields {
		if runMutations[f] {
			runs++
		}
	}
	var run *rate.Reservation
	if runs > 0 {
		var err error
		if run, err = l.runs.reserve(key, runs, now, "runSimulation"); err != nil {
			return err
		}
	}
	if _, err := l.mutations.reserve(key, len(fields), now, "mutations"); err != nil {
		if run != nil {
			run.CancelAt(now) // the run was not made, so it costs nothing
		}
		return err
	}
	return nil
}

// keyedLimiter is a token bucket (golang.org/x/time/rate) per key. Buckets
// idle long enough to be full again are dropped, so memory stays bounded by
// the clients of the last few minutes.
type keyedLimiter struct {
	limit RateLimit
	mu    sync.Mutex
	m     map[string]*bucket
	swept time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newKeyedLimiter(l RateLimit) *keyedLimiter {
	if l.Burst <= 0 {
		l.Burst = 1
	}
	return &keyedLimiter{limit: l, m: map[string]*bucket{}}
}

// refill is how long an idle bucket takes to be full again.
func (k *keyedLimiter) refill() time.Duration {
	return time.Duration(k.limit.Burst) * time.Minute / time.Duration(k.limit.PerMinute)
}

func (k *keyedLimiter) reserve(key string, n int, now time.Time, what string) (*rate.Reservation, error) {
	if k == nil || k.limit.PerMinute <= 0 {
		return nil, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if now.Sub(k.swept) > time.Minute {
		for key, b := range k.m {
			if now.Sub(b.seen) > k.refill() {
				delete(k.m, key)
			}
		}
		k.swept = now
	}
	b := k.m[key]
	if b == nil {
		b = &bucket{lim: rate.NewLimiter(rate.Every(time.Minute/time.Duration(k.limit.PerMinute)), k.limit.Burst)}
		k.m[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, n)
	if !r.OK() {
		return nil, newRateLimitError(what, k.limit.PerMinute, k.refill())
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return nil, newRateLimitError(what, k.limit.PerMinute, d)
	}
	return r, nil
}

// checker decides whether a token may do what needs a role (auth.Authenticator,
// optionally behind throttledAuth).
type checker interface {
	Check(ctx context.Context, token string, need auth.Role, what string) (*auth.Principal, error)
}

// throttledAuth refuses a client IP that presented too many invalid tokens,
// before looking the next one up: guessing costs a database query each.
type throttledAuth struct {
	a        *auth.Authenticator
	failures *keyedLimiter
}

func throttleAuth(a *auth.Authenticator, failures RateLimit) checker {
	if failures.PerMinute <= 0 {
		return a
	}
	return throttledAuth{a: a, failures: newKeyedLimiter(failures)}
}

func (t throttledAuth) Check(ctx context.Context, token string, need auth.Role, what string) (*auth.Principal, error) {
	if token == "" {
		return t.a.Check(ctx, token, need, what)
	}
	now := time.Now()
	r, err := t.failures.reserve("ip:"+ClientIP(ctx), 1, now, "failed authentications")
	if err != nil {
		return nil, err
	}
	p, err := t.a.Check(ctx, token, need, what)
	if !errors.Is(err, auth.ErrInvalidToken) {
		r.CancelAt(now) // only failures count
	}
	return p, err
}
