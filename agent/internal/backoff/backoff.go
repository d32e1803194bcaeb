// Package backoff computes capped exponential retry delays with full jitter and sleeps them on an
// injectable clock, so retry loops can be tested without waiting.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Defaults for a zero Config.
const (
	DefaultBase = 500 * time.Millisecond
	DefaultCap  = 30 * time.Second
)

// Clock is the time source a Backoff sleeps on.
type Clock interface {
	// After returns a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

type systemClock struct{}

func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// SystemClock is the real clock.
var SystemClock Clock = systemClock{}

// Config tunes a Backoff. Zero fields take the defaults noted beside them.
type Config struct {
	Base  time.Duration       // ceiling of the first delay; default DefaultBase
	Cap   time.Duration       // largest ceiling; default DefaultCap
	Clock Clock               // what Wait sleeps on; default SystemClock
	Rand  func(n int64) int64 // uniform in [0, n); default math/rand/v2.Int64N
}

// Backoff hands out the delays of one retry loop. It is not safe for concurrent use.
type Backoff struct {
	cfg     Config
	attempt int
}

// New returns a Backoff for cfg, with defaults filled in.
func New(cfg Config) *Backoff {
	if cfg.Base <= 0 {
		cfg.Base = DefaultBase
	}
	if cfg.Cap <= 0 {
		cfg.Cap = DefaultCap
	}
	if cfg.Cap < cfg.Base {
		cfg.Cap = cfg.Base
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Int64N
	}
	return &Backoff{cfg: cfg}
}

// Ceiling returns the upper bound of the n-th delay (n from 0): min(Cap, Base·2^n).
func (b *Backoff) Ceiling(n int) time.Duration {
	if n < 0 {
		n = 0
	}
	// Base·2^n > Cap exactly when Base > Cap>>n; checking that way cannot overflow.
	if n >= 63 || b.cfg.Base > b.cfg.Cap>>n {
		return b.cfg.Cap
	}
	return b.cfg.Base << n
}

// Next returns the delay before the next retry, uniform in [0, Ceiling(n)) where n counts the
// calls since the last Reset ("full jitter").
func (b *Backoff) Next() time.Duration {
	ceiling := b.Ceiling(b.attempt)
	if b.attempt < 63 {
		b.attempt++
	}
	d := time.Duration(b.cfg.Rand(int64(ceiling)))
	// Guard against a faulty Rand: the delay stays within [0, ceiling).
	if d < 0 || d >= ceiling {
		d = ceiling - 1
	}
	return d
}

// Reset starts the sequence again from Base, after a success.
func (b *Backoff) Reset() { b.attempt = 0 }

// Wait sleeps for Next() on the clock. It returns ctx.Err() if ctx ends first.
func (b *Backoff) Wait(ctx context.Context) error {
	d := b.Next()
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-b.cfg.Clock.After(d):
		return nil
	}
}
