package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

// fakeClock records the durations it is asked to sleep and fires at once.
type fakeClock struct{ slept []time.Duration }

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.slept = append(c.slept, d)
	ch := make(chan time.Time, 1)
	ch <- time.Time{}
	return ch
}

// neverClock never fires.
type neverClock struct{}

func (neverClock) After(time.Duration) <-chan time.Time { return nil }

func TestCeilingDoublesAndCaps(t *testing.T) {
	b := New(Config{Base: 500 * time.Millisecond, Cap: 30 * time.Second})
	tests := []struct {
		n    int
		want time.Duration
	}{
		{0, 500 * time.Millisecond},
		{1, time.Second},
		{2, 2 * time.Second},
		{5, 16 * time.Second},
		{6, 30 * time.Second}, // 32s capped
		{40, 30 * time.Second},
		{62, 30 * time.Second}, // Base<<62 would overflow
		{1000, 30 * time.Second},
	}
	for _, tt := range tests {
		if got := b.Ceiling(tt.n); got != tt.want {
			t.Errorf("Ceiling(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
}

func TestNextFullJitterBounds(t *testing.T) {
	tests := []struct {
		name string
		rand func(n int64) int64
		want func(ceiling time.Duration) time.Duration
	}{
		{"lowest", func(int64) int64 { return 0 }, func(time.Duration) time.Duration { return 0 }},
		{"highest", func(n int64) int64 { return n - 1 }, func(c time.Duration) time.Duration { return c - 1 }},
		{"middle", func(n int64) int64 { return n / 2 }, func(c time.Duration) time.Duration { return c / 2 }},
		{"faulty rand is clamped", func(n int64) int64 { return n * 3 }, func(c time.Duration) time.Duration { return c - 1 }},
		{"negative rand is clamped", func(int64) int64 { return -5 }, func(c time.Duration) time.Duration { return c - 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked []int64
			b := New(Config{Base: 100 * time.Millisecond, Cap: time.Second, Rand: func(n int64) int64 {
				asked = append(asked, n)
				return tt.rand(n)
			}})
			wantCeilings := []time.Duration{100, 200, 400, 800, 1000, 1000}
			for i, c := range wantCeilings {
				c *= time.Millisecond
				got := b.Next()
				if got != tt.want(c) {
					t.Fatalf("Next #%d = %v, want %v", i, got, tt.want(c))
				}
				if got < 0 || got >= c {
					t.Fatalf("Next #%d = %v outside [0, %v)", i, got, c)
				}
				if time.Duration(asked[i]) != c {
					t.Fatalf("Next #%d asked rand for [0, %v), want [0, %v)", i, time.Duration(asked[i]), c)
				}
			}
			b.Reset()
			b.Next()
			if time.Duration(asked[len(asked)-1]) != 100*time.Millisecond {
				t.Fatalf("after Reset, ceiling = %v, want 100ms", time.Duration(asked[len(asked)-1]))
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	b := New(Config{Rand: func(n int64) int64 { return n - 1 }})
	if got := b.Ceiling(0); got != DefaultBase {
		t.Errorf("Ceiling(0) = %v, want %v", got, DefaultBase)
	}
	if got := b.Ceiling(100); got != DefaultCap {
		t.Errorf("Ceiling(100) = %v, want %v", got, DefaultCap)
	}
	for range 200 { // the attempt counter must not overflow
		if d := b.Next(); d < 0 || d >= DefaultCap {
			t.Fatalf("Next = %v outside [0, %v)", d, DefaultCap)
		}
	}
}

func TestWaitSleepsOnClock(t *testing.T) {
	clock := &fakeClock{}
	b := New(Config{Base: time.Second, Cap: 4 * time.Second, Clock: clock, Rand: func(n int64) int64 { return n - 1 }})
	for range 4 {
		if err := b.Wait(context.Background()); err != nil {
			t.Fatalf("Wait: %v", err)
		}
	}
	want := []time.Duration{time.Second - 1, 2*time.Second - 1, 4*time.Second - 1, 4*time.Second - 1}
	if len(clock.slept) != len(want) {
		t.Fatalf("slept %v, want %v", clock.slept, want)
	}
	for i := range want {
		if clock.slept[i] != want[i] {
			t.Fatalf("slept %v, want %v", clock.slept, want)
		}
	}
}

func TestWaitStopsOnContext(t *testing.T) {
	b := New(Config{Clock: neverClock{}, Rand: func(n int64) int64 { return n - 1 }})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want context.Canceled", err)
	}
}
