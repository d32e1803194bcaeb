// Package perfstats keeps cheap, lock-free figures of recent work for the dashboard's metrics
// route: events per second over the last minute and latency quantiles over the last samples.
package perfstats

import (
	"slices"
	"sync/atomic"
	"time"
)

const (
	windowSeconds = 60
	samples       = 2048
)

// Recorder counts events per second and keeps their most recent durations. The zero value is
// not usable; call New. It is safe for concurrent use.
type Recorder struct {
	now     func() time.Time
	buckets [windowSeconds]struct{ sec, n atomic.Int64 }
	ring    [samples]atomic.Int64 // nanoseconds
	next    atomic.Uint64
	total   atomic.Uint64
}

// New returns a Recorder on clock now (time.Now when nil).
func New(now func() time.Time) *Recorder {
	if now == nil {
		now = time.Now
	}
	return &Recorder{now: now}
}

// Observe records one event that took d.
func (r *Recorder) Observe(d time.Duration) {
	sec := r.now().Unix()
	b := &r.buckets[sec%windowSeconds]
	if old := b.sec.Load(); old != sec && b.sec.CompareAndSwap(old, sec) {
		b.n.Store(0)
	}
	b.n.Add(1)
	r.ring[r.next.Add(1)%samples].Store(int64(d))
	r.total.Add(1)
}

// Snapshot is what a Recorder has seen.
type Snapshot struct {
	Total     uint64  `json:"total"`
	PerSecond float64 `json:"per_second_1m"`
	P50MS     float64 `json:"p50_ms"`
	P99MS     float64 `json:"p99_ms"`
	MaxMS     float64 `json:"max_ms"`
}

// Snapshot returns the total, the mean rate over the last full minute, and quantiles over the
// last samples.
func (r *Recorder) Snapshot() Snapshot {
	s := Snapshot{Total: r.total.Load()}
	now := r.now().Unix()
	var n int64
	for i := range r.buckets {
		b := &r.buckets[i]
		if sec := b.sec.Load(); sec < now && sec >= now-windowSeconds {
			n += b.n.Load()
		}
	}
	s.PerSecond = float64(n) / windowSeconds
	count := min(s.Total, samples)
	if count == 0 {
		return s
	}
	ds := make([]int64, 0, count)
	for i := range count {
		ds = append(ds, r.ring[(uint64(i)+1)%samples].Load())
	}
	slices.Sort(ds)
	ms := func(q float64) float64 { return float64(ds[int(q*float64(len(ds)-1))]) / 1e6 }
	s.P50MS, s.P99MS, s.MaxMS = ms(0.50), ms(0.99), ms(1)
	return s
}
