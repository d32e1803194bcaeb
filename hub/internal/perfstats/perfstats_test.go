package perfstats

import (
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestRecorder(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	r := New(c.now)
	if s := r.Snapshot(); s.Total != 0 || s.P99MS != 0 {
		t.Fatalf("empty: %+v", s)
	}
	// 120 events a second for 60 seconds, each taking 1 ms, and one slow one of 50 ms
	for range 60 {
		for range 120 {
			r.Observe(time.Millisecond)
		}
		c.add(time.Second)
	}
	r.Observe(50 * time.Millisecond)
	s := r.Snapshot()
	if s.Total != 7201 {
		t.Fatalf("total %d", s.Total)
	}
	if s.PerSecond < 118 || s.PerSecond > 122 {
		t.Fatalf("rate %.1f/s, want about 120 (the current second is not counted)", s.PerSecond)
	}
	if s.P50MS != 1 || s.P99MS != 1 || s.MaxMS != 50 {
		t.Fatalf("quantiles %+v", s)
	}
	// a quiet minute later the rate is zero again
	c.add(2 * time.Minute)
	if s := r.Snapshot(); s.PerSecond != 0 {
		t.Fatalf("rate after a quiet minute: %v", s.PerSecond)
	}
}

func TestRecorderConcurrent(t *testing.T) {
	r := New(nil)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				r.Observe(time.Microsecond)
			}
		})
	}
	wg.Wait()
	if s := r.Snapshot(); s.Total != 4000 {
		t.Fatalf("total %d", s.Total)
	}
}
