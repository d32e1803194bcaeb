package storetest

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/pkg/status"
)

// The history benchmarks' fixture: a week of one instance with 5 checks sampled every 10 s
// (60,480 samples, 302,400 check points), queried the way the history API queries it.

// WeekInstance is the instance the history benchmarks query; FillWeek also writes the same
// week of another service's instance, so a query must filter it out.
var WeekInstance = hub.InstanceKey{Tenant: "default", Service: "orders", Instance: "o1"}

var weekOther = hub.InstanceKey{Tenant: "default", Service: "billing", Instance: "b1"}

// The benchmark instance's checks and each one's usual latency (ms).
var weekChecks = [...]struct {
	name string
	ms   float64
}{{"http", 12}, {"db", 3}, {"cache", 0.6}, {"queue", 5}, {"disk", 1.5}}

const (
	weekInterval  = 10 * time.Second
	weekSpan      = 7 * 24 * time.Hour
	weekPerHour   = int(time.Hour / weekInterval)
	weekPerDay    = 24 * weekPerHour
	WeekSamples   = int(weekSpan / weekInterval) // 60,480 samples, ×5 checks = 302,400 points
	weekWriteSize = 1000                         // samples per write, both instances'
	weekLimit     = 1000                         // the transitions the history API asks for

	// MaxPoints is the most latency points a history answer may hold (the API's bound).
	MaxPoints = 2000
	// WeekPoints are WeekQuery's points: 168 hours × 5 checks, each of 360 samples.
	WeekPoints, WeekPointSamples = 168 * len(weekChecks), weekPerHour
	// RawHourPoints are RawHourQuery's points: 360 samples × 5 checks, one sample each.
	RawHourPoints, RawHourPointSamples = weekPerHour * len(weekChecks), 1
)

// weekStatus is the checks' and the instance's status at sample i of the week (i from 0):
// passing but for a daily 5-minute db outage, a daily 10-minute cache warning, a 30-minute
// http outage on day 3 and a 2-minute one in the last hour.
func weekStatus(i int) (checks [len(weekChecks)]status.Check, inst status.Check) {
	for c := range checks {
		checks[c] = status.Passing
	}
	j := i % weekPerDay
	if j >= 2000 && j < 2030 {
		checks[1] = status.Critical
	}
	if j >= 5000 && j < 5060 {
		checks[2] = status.Warning
	}
	if (i >= 3*weekPerDay+6000 && i < 3*weekPerDay+6180) || (i >= WeekSamples-200 && i < WeekSamples-188) {
		checks[0] = status.Critical
	}
	inst = status.Passing
	for _, c := range checks {
		if c == status.Critical || (c == status.Warning && inst == status.Passing) {
			inst = c
		}
	}
	return checks, inst
}

// weekSeries generates one instance's samples, and its transitions as the registry records
// them, in time order.
type weekSeries struct {
	key   hub.InstanceKey
	shift int // the instance's outages come shift samples later than WeekInstance's
	rnd   *rand.Rand
	last  [len(weekChecks) + 1]status.Check // the checks' and then the instance's last status
}

func (g *weekSeries) add(w *hub.Writes, i int, at time.Time) {
	checks, inst := weekStatus((i + g.shift) % WeekSamples)
	smp := hub.Sample{Key: g.key, At: at, Status: inst, Checks: make([]hub.CheckSample, len(weekChecks))}
	for c, wc := range weekChecks {
		ms := wc.ms * (0.7 + 0.6*g.rnd.Float64())
		switch {
		case checks[c] == status.Critical && c == 0:
			ms = 5000 // the http check's timeout
		case checks[c] != status.Passing:
			ms *= 20
		case g.rnd.IntN(500) == 0:
			ms *= 10 // a spike
		}
		smp.Checks[c] = hub.CheckSample{Name: wc.name, Status: checks[c], LatencyMS: ms}
	}
	w.Samples = append(w.Samples, smp)
	for c := range g.last {
		name, to, out := "", inst, hub.ReasonRegistered
		if c < len(weekChecks) {
			name, to, out = weekChecks[c].name, checks[c], string(checks[c])
		} else if g.last[c] != "" {
			out = "" // the instance follows its checks
		}
		if to != g.last[c] {
			w.Transitions = append(w.Transitions, hub.Transition{Key: g.key, At: at, Check: name, From: g.last[c], To: to, Output: out})
			g.last[c] = to
		}
	}
}

// FillWeek writes the week before end (a whole hour) of WeekInstance and of another service's
// instance: a sample of each every 10 s, with their transitions, in writes of 1,000 samples
// (500 of each instance), oldest first, as the registry writes them.
func FillWeek(tb testing.TB, s hub.Store, end time.Time) {
	tb.Helper()
	if !end.Equal(end.Truncate(time.Hour)) {
		tb.Fatalf("FillWeek: end %s is not a whole hour", end)
	}
	start := end.Add(-weekSpan)
	gens := []*weekSeries{
		{key: WeekInstance, rnd: rand.New(rand.NewPCG(1, 1))},
		{key: weekOther, shift: 4321, rnd: rand.New(rand.NewPCG(2, 2))},
	}
	for i := 0; i < WeekSamples; {
		w := hub.Writes{Samples: make([]hub.Sample, 0, weekWriteSize)}
		for ; i < WeekSamples && len(w.Samples) < weekWriteSize; i++ {
			at := start.Add(time.Duration(i) * weekInterval)
			for _, g := range gens {
				g.add(&w, i, at)
			}
		}
		if err := s.WriteInstances(context.Background(), w); err != nil {
			tb.Fatalf("FillWeek: write: %v", err)
		}
	}
}

// WeekQuery is the history API's query of WeekInstance over the 7 days before end: hourly
// steps, served from the roll-ups.
func WeekQuery(end time.Time) hub.HistoryQuery {
	return weekQuery(end.Add(-weekSpan), end, time.Hour)
}

// RawHourQuery is the history API's query of WeekInstance over the hour before end: 10 s
// steps, served from raw samples.
func RawHourQuery(end time.Time) hub.HistoryQuery {
	return weekQuery(end.Add(-time.Hour), end, weekInterval)
}

// weekQuery is the query the history API makes for since..until, the end included.
func weekQuery(since, until time.Time, step time.Duration) hub.HistoryQuery {
	k := WeekInstance
	return hub.HistoryQuery{Tenant: k.Tenant, Service: k.Service, Instance: k.Instance, Since: since,
		Until: until.Add(time.Microsecond), Step: step, Limit: weekLimit}
}

// UptimeWeekQuery is the history API's 7-day uptime query of WeekInstance at end, for
// Availability with hourly roll-ups: the 167 whole hours before end and the (empty) hour from it.
func UptimeWeekQuery(end time.Time) hub.HistoryQuery {
	q := weekQuery(end.Add(-weekSpan).Truncate(time.Hour).Add(time.Hour), end, 0)
	q.Limit = 0
	return q
}

// CheckPoints fails tb unless h holds exactly want latency points (at most MaxPoints) of
// perPoint samples each, ordered by check and then time: a query of another instance's
// samples too, or of the wrong range or step, fails it.
func CheckPoints(tb testing.TB, h hub.History, want, perPoint int) {
	tb.Helper()
	if len(h.Latency) != want || len(h.Latency) > MaxPoints {
		tb.Fatalf("%d latency points, want %d (at most %d)", len(h.Latency), want, MaxPoints)
	}
	for i, p := range h.Latency {
		if p.Samples != int64(perPoint) {
			tb.Fatalf("latency point %d %+v: %d samples, want %d", i, p, p.Samples, perPoint)
		}
		if i > 0 {
			if q := h.Latency[i-1]; q.Check > p.Check || (q.Check == p.Check && !q.At.Before(p.At)) {
				tb.Fatalf("latency points %d and %d out of order: %+v, %+v", i-1, i, q, p)
			}
		}
	}
	if len(h.Transitions) == 0 || h.Truncated {
		tb.Fatalf("%d transitions (truncated %v), want some and all", len(h.Transitions), h.Truncated)
	}
}

// CheckUptimeWeek fails tb unless a is UptimeWeekQuery's answer.
func CheckUptimeWeek(tb testing.TB, a hub.Availability) {
	tb.Helper()
	want := hub.Availability{}
	for i := weekPerHour; i < WeekSamples; i++ { // from the week's second hour on
		_, inst := weekStatus(i)
		want.Samples++
		if inst.Up() {
			want.Up++
		}
	}
	if a != want {
		tb.Fatalf("availability %+v, want %+v", a, want)
	}
}

// BenchQuery times q on s (holding FillWeek's week) and checks the last answer's points.
func BenchQuery(b *testing.B, s hub.Store, q hub.HistoryQuery, points, perPoint int) {
	ctx := context.Background()
	var (
		h   hub.History
		err error
	)
	for b.Loop() {
		if h, err = s.QueryHistory(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	CheckPoints(b, h, points, perPoint)
}

// BenchUptimeWeek times the 7-day uptime of WeekInstance at end on s and checks it.
func BenchUptimeWeek(b *testing.B, s hub.Store, end time.Time) {
	ctx := context.Background()
	q := UptimeWeekQuery(end)
	var (
		a   hub.Availability
		err error
	)
	for b.Loop() {
		if a, err = s.Availability(ctx, q, true); err != nil {
			b.Fatal(err)
		}
	}
	CheckUptimeWeek(b, a)
}
