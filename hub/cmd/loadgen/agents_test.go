package main

import (
	"context"
	"encoding/csv"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/centralhub/centralhub/hub"
)

// event is one thing a simulated agent did, at virtual time at.
type event struct {
	at     time.Duration // since the start
	kind   actionKind
	boot   int64
	seq    uint64
	fail   bool
	stored bool
	rejoin bool
}

// simulate drives agents from a fake clock for d: each event fires at exactly its due time,
// as the scheduler hands it out, and returns what each agent did.
func simulate(t *testing.T, agents []*simAgent, cfg simConfig, start time.Time, d time.Duration) [][]event {
	t.Helper()
	rnd := rand.New(rand.NewPCG(9, 9))
	s := newScheduler(agents)
	out := make([][]event, len(agents))
	for {
		now := s.next()
		if now.Sub(start) >= d {
			return out
		}
		for a := s.due(now); a != nil; a = s.due(now) {
			act := a.fire(now, cfg, rnd)
			out[a.j] = append(out[a.j], event{at: now.Sub(start), kind: act.kind, boot: act.boot, seq: act.seq, fail: act.failing, stored: act.expectStored, rejoin: act.rejoin})
			s.requeue(a)
		}
	}
}

func TestSimAgentLives(t *testing.T) {
	const iv = 10 * time.Second
	start := time.Unix(1_800_000_000, 0)
	cfg := simConfig{interval: iv, flapEvery: 3, aliveMin: 3, aliveMax: 3, deadFor: 5 * iv, probe: true}
	rnd := rand.New(rand.NewPCG(1, 1))
	offsets := []time.Duration{2 * time.Second, 5 * time.Second, 7 * time.Second}
	roles := []role{roleSteady, roleFlapper, roleDier}
	agents := make([]*simAgent, len(roles))
	for j, r := range roles {
		agents[j] = newSimAgent(j, r, start.Add(offsets[j]), cfg, rnd)
	}
	flapLeft := agents[1].flapLeft
	ev := simulate(t, agents, cfg, start, 200*time.Second)

	t.Run("steady", func(t *testing.T) {
		e := ev[0]
		if len(e) != 20 {
			t.Fatalf("%d events in 200 s at 10 s from 2 s, want 20", len(e))
		}
		for i, x := range e {
			want := event{at: offsets[0] + time.Duration(i)*iv, kind: actSend, boot: start.Add(offsets[0]).UnixNano(), seq: uint64(i + 1), stored: i == 0}
			if x != want {
				t.Fatalf("event %d: %+v, want %+v", i, x, want)
			}
		}
	})

	t.Run("flapper", func(t *testing.T) {
		e := ev[1]
		var changes []uint64
		prev := false
		for i, x := range e {
			if x.kind != actSend || x.seq != uint64(i+1) || x.boot != start.Add(offsets[1]).UnixNano() {
				t.Fatalf("event %d: %+v, want report seq %d of the first boot", i, x, i+1)
			}
			if x.fail != prev {
				changes = append(changes, x.seq)
			}
			if x.stored != (x.seq == 1 || x.fail != prev) {
				t.Fatalf("seq %d: expect stored %v, want it on the first report and on changes", x.seq, x.stored)
			}
			prev = x.fail
		}
		// The first change after flapLeft passing reports, then one every flapEvery reports.
		want := []uint64{}
		for s := uint64(flapLeft) + 1; s <= uint64(len(e)); s += uint64(cfg.flapEvery) {
			want = append(want, s)
		}
		if !slices.Equal(changes, want) {
			t.Fatalf("status changes at seqs %v, want %v (flapLeft %d, every %d)", changes, want, flapLeft, cfg.flapEvery)
		}
	})

	t.Run("dier", func(t *testing.T) {
		e := ev[2]
		t0 := offsets[2]
		boot0, boot1 := start.Add(t0).UnixNano(), start.Add(t0+8*iv).UnixNano()
		want := []event{
			{at: t0, kind: actSend, boot: boot0, seq: 1, stored: true},
			{at: t0 + iv, kind: actSend, boot: boot0, seq: 2},
			{at: t0 + 2*iv, kind: actSend, boot: boot0, seq: 3},
			{at: t0 + 3*iv, kind: actDie},                                                   // silent from here
			{at: t0 + 8*iv - iv/2, kind: actProbe},                                          // half an interval before it rejoins
			{at: t0 + 8*iv, kind: actSend, boot: boot1, seq: 1, stored: true, rejoin: true}, // a new boot, seq from 1
			{at: t0 + 9*iv, kind: actSend, boot: boot1, seq: 2},
			{at: t0 + 10*iv, kind: actSend, boot: boot1, seq: 3},
			{at: t0 + 11*iv, kind: actDie},
			{at: t0 + 16*iv - iv/2, kind: actProbe},
			{at: t0 + 16*iv, kind: actSend, boot: start.Add(t0 + 16*iv).UnixNano(), seq: 1, stored: true, rejoin: true},
			{at: t0 + 17*iv, kind: actSend, boot: start.Add(t0 + 16*iv).UnixNano(), seq: 2},
			{at: t0 + 18*iv, kind: actSend, boot: start.Add(t0 + 16*iv).UnixNano(), seq: 3},
			{at: t0 + 19*iv, kind: actDie},
		}
		if !slices.Equal(e, want) {
			t.Fatalf("dier:\n got %+v\nwant %+v", e, want)
		}
	})
}

func TestSimAgentWithoutProbe(t *testing.T) {
	const iv = time.Second
	start := time.Unix(1_800_000_000, 0)
	cfg := simConfig{interval: iv, flapEvery: 1, aliveMin: 1, aliveMax: 1, deadFor: 4 * iv}
	a := newSimAgent(0, roleDier, start, cfg, rand.New(rand.NewPCG(1, 1)))
	ev := simulate(t, []*simAgent{a}, cfg, start, 7*iv)
	kinds := make([]actionKind, len(ev[0]))
	for i, x := range ev[0] {
		kinds[i] = x.kind
	}
	if want := []actionKind{actSend, actDie, actSend, actDie}; !slices.Equal(kinds, want) {
		t.Fatalf("without probes the events are %v, want %v", kinds, want)
	}
	if ev[0][2].at != 5*iv || !ev[0][2].rejoin || ev[0][2].seq != 1 {
		t.Fatalf("rejoin %+v, want seq 1 at 5 s", ev[0][2])
	}
}

func TestSimAgentSkipAndStall(t *testing.T) {
	const iv = 10 * time.Second
	start := time.Unix(1_800_000_000, 0)
	cfg := simConfig{interval: iv, flapEvery: 3, aliveMin: 1, aliveMax: 1, deadFor: time.Minute}
	rnd := rand.New(rand.NewPCG(1, 1))
	a := newSimAgent(0, roleSteady, start, cfg, rnd)
	if act := a.fire(start, cfg, rnd); act.seq != 1 {
		t.Fatalf("first report seq %d", act.seq)
	}
	// Due while the previous report is in flight: skipped, its seq not used.
	a.skip(start.Add(iv), cfg)
	if act := a.fire(start.Add(2*iv), cfg, rnd); act.seq != 2 || a.due != start.Add(3*iv) {
		t.Fatalf("after a skip: seq %d, next due %v; want 2, due %v", act.seq, a.due, start.Add(3*iv))
	}
	// The scheduler stalled for a minute: the agent reports once and goes on from now.
	late := start.Add(3*iv + time.Minute)
	if act := a.fire(late, cfg, rnd); act.seq != 3 || !a.due.Equal(late.Add(iv)) {
		t.Fatalf("after a stall: seq %d, next due %v; want 3, due %v", act.seq, a.due, late.Add(iv))
	}
}

func TestSchedulerOrder(t *testing.T) {
	start := time.Unix(1_800_000_000, 0)
	cfg := simConfig{interval: 10 * time.Second, flapEvery: 3, aliveMin: 1, aliveMax: 1}
	rnd := rand.New(rand.NewPCG(1, 1))
	var agents []*simAgent
	for j, off := range []int{7, 3, 9, 1, 5} {
		agents = append(agents, newSimAgent(j, roleSteady, start.Add(time.Duration(off)*time.Second), cfg, rnd))
	}
	s := newScheduler(agents)
	if a := s.due(start); a != nil {
		t.Fatalf("agent %d due before any is", a.j)
	}
	var order []int
	for now := s.next(); now.Before(start.Add(20 * time.Second)); now = s.next() {
		for a := s.due(now); a != nil; a = s.due(now) {
			order = append(order, a.j)
			a.fire(now, cfg, rnd)
			s.requeue(a)
		}
	}
	// Each fired once at its offset and once 10 s later, earliest first.
	if want := []int{3, 1, 4, 0, 2, 3, 1, 4, 0, 2}; !slices.Equal(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}
}

func TestAssignRoles(t *testing.T) {
	roles, err := assignRoles(1000, 0.05, 0.02, 7)
	if err != nil {
		t.Fatal(err)
	}
	n := map[role]int{}
	for _, r := range roles {
		n[r]++
	}
	if n[roleFlapper] != 50 || n[roleDier] != 20 || n[roleSteady] != 930 {
		t.Fatalf("roles %v, want 50 flappers, 20 diers, 930 steady", n)
	}
	again, _ := assignRoles(1000, 0.05, 0.02, 7)
	other, _ := assignRoles(1000, 0.05, 0.02, 8)
	if !slices.Equal(roles, again) || slices.Equal(roles, other) {
		t.Fatal("the roles are not a function of the seed")
	}
	if _, err := assignRoles(10, 0.6, 0.5, 1); err == nil {
		t.Fatal("shares adding up to more than 1 were accepted")
	}
}

func TestSimConfigValidate(t *testing.T) {
	base := simConfig{interval: 10 * time.Second, flapEvery: 3, aliveMin: 6, aliveMax: 30, deadFor: 50 * time.Second}
	for _, tc := range []struct {
		name   string
		change func(*simConfig)
		ok     bool
	}{
		{"default", func(*simConfig) {}, true},
		// Silent for 25 s when the probe asks: stale after 30 s (and the next sweep).
		{"dead for two intervals", func(c *simConfig) { c.deadFor = 20 * time.Second }, false},
		{"dead for stale_after intervals", func(c *simConfig) { c.deadFor = 30 * time.Second }, true},
		{"dead long enough at 1 s", func(c *simConfig) { c.interval, c.deadFor = time.Second, 5*time.Second }, true},
		{"interval below a second", func(c *simConfig) { c.interval = 500 * time.Millisecond }, false},
		{"alive max below min", func(c *simConfig) { c.aliveMax = 2 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.change(&c)
			if err := c.validate(3); (err == nil) != tc.ok {
				t.Fatalf("validate: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// windowsOf returns one window per value at sample seconds apart, the hub's heap in use and
// goroutines given by heap(i) and gor(i), and p99 by p99(i).
func windowsOf(n int, sample float64, heap, gor, p99 func(i int) float64) []agentsWindow {
	ws := make([]agentsWindow, n)
	for i := range ws {
		ws[i] = agentsWindow{EndSeconds: float64(i+1) * sample, Seconds: sample, OK: 100, P99MS: p99(i),
			Hub: &windowHub{HeapInuse: heap(i), Goroutines: gor(i)}}
	}
	return ws
}

func TestFitTrend(t *testing.T) {
	heapOf := func(w *agentsWindow) (float64, bool) {
		if w.Hub == nil {
			return 0, false
		}
		return w.Hub.HeapInuse, true
	}
	saw := func(i int) float64 { return 100e6 + float64(i%5)*10e6 } // a GC sawtooth, flat
	for _, tc := range []struct {
		name      string
		n         int
		heap      func(int) float64
		warmup    float64
		limit     float64
		symmetric bool
		ok        bool
		change    float64 // want, ±0.01
	}{
		// 30 min of 10 s windows; the first 5 min (a steep rise) are warm-up.
		{"flat sawtooth after a warm-up rise", 180, func(i int) float64 {
			if i < 30 {
				return float64(i) * 5e6
			}
			return saw(i)
		}, 300, 0.10, false, true, 0},
		// +20% of the value at the start per 10 min is +14.8% of the mean after the warm-up.
		{"growing 20% per 10 min", 180, func(i int) float64 { return 100e6 * (1 + 0.2*float64(i)*10/600) }, 300, 0.10, false, false, 0.148},
		{"shrinking is fine for the heap", 180, func(i int) float64 { return 200e6 - float64(i)*0.5e6 }, 300, 0.10, false, true, -0.203},
		{"shrinking is not fine for goroutines", 180, func(i int) float64 { return 200 - float64(i)*0.5 }, 300, 0.05, true, false, -0.203},
		// 3 minutes: the change over the 140 s after the warm-up is judged, not extrapolated
		// to 10 minutes (which would be +54%).
		{"short run judged over its span", 18, func(i int) float64 { return 100e6 * (1 + 0.01*float64(i)) }, 30, 0.20, false, true, 0.127},
		{"reported, not judged", 180, func(i int) float64 { return float64(i) * 1e6 }, 300, 0, false, true, 0.0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := windowsOf(tc.n, 10, tc.heap, func(int) float64 { return 0 }, func(int) float64 { return 1 })
			tr := fitTrend("heap", ws, tc.warmup, heapOf, tc.limit, tc.symmetric)
			if !tr.Judged || tr.OK != tc.ok {
				t.Fatalf("judged %v ok %v (change %.3f, per 10 min %.3f), want ok %v", tr.Judged, tr.OK, tr.Change, tr.ChangePer10Min, tc.ok)
			}
			if tc.limit > 0 && math.Abs(tr.Change-tc.change) > 0.01 {
				t.Fatalf("change %.3f, want %.3f", tr.Change, tc.change)
			}
		})
	}
	t.Run("too few windows", func(t *testing.T) {
		ws := windowsOf(4, 10, saw, saw, saw)
		ws[3].Hub = nil
		tr := fitTrend("heap", ws, 10, heapOf, 0.1, false)
		if tr.Judged || tr.OK || tr.Samples != 2 {
			t.Fatalf("two windows after the warm-up: judged %v ok %v samples %d", tr.Judged, tr.OK, tr.Samples)
		}
	})
}

func TestSlope(t *testing.T) {
	b, mean, ok := slope([]float64{1, 2, 3, 4}, []float64{3, 5, 7, 9})
	if !ok || b != 2 || mean != 6 {
		t.Fatalf("slope %v mean %v ok %v, want 2, 6, true", b, mean, ok)
	}
	if _, _, ok := slope([]float64{1, 1, 1}, []float64{1, 2, 3}); ok {
		t.Fatal("no spread in x gave a slope")
	}
}

func TestJudgeP99(t *testing.T) {
	p99 := []float64{50, 5, 6, 4, 5, 7, 5, 16} // the first window is warm-up
	ws := windowsOf(len(p99), 10, func(int) float64 { return 0 }, func(int) float64 { return 0 }, func(i int) float64 { return p99[i] })
	s := judgeP99(ws, 10, 3)
	if s.Windows != 7 || s.MedianP99MS != 5 || s.MaxP99MS != 16 || s.Over != 1 || s.OK || math.Abs(s.MaxRatio-3.2) > 1e-9 {
		t.Fatalf("got %+v; want 7 windows, median 5, max 16 (3.2×), one over 3×", s)
	}
	if s := judgeP99(ws[:7], 10, 3); !s.OK || s.Over != 0 {
		t.Fatalf("without the 16 ms window: %+v, want steady", s)
	}
}

func TestCompareCounts(t *testing.T) {
	gen := map[string]uint64{"stored": 10, "heartbeat": 90, "ignored": 0, "queued": 0, "rejected": 2}
	with := func(k string, v uint64) map[string]uint64 {
		m := map[string]uint64{}
		for kk, vv := range gen {
			m[kk] = vv
		}
		m[k] = v
		return m
	}
	for _, tc := range []struct {
		name       string
		hub        map[string]uint64
		unanswered uint64
		equal, ok  bool
	}{
		{"equal", with("stored", 10), 0, true, true},
		{"one heartbeat lost", with("heartbeat", 89), 0, false, false},
		{"one more at the hub, one unanswered", with("heartbeat", 91), 1, false, true},
		{"two more at the hub, one unanswered", with("heartbeat", 92), 1, false, false},
		{"a rejection lost", with("rejected", 1), 5, false, false},
		{"an outcome only the hub counted", with("surprise", 1), 0, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := compareCounts(gen, tc.hub, tc.unanswered)
			if c.Equal != tc.equal || c.OK != tc.ok {
				t.Fatalf("equal %v ok %v (%v), want %v %v", c.Equal, c.OK, c.Differences, tc.equal, tc.ok)
			}
			if !c.Equal && len(c.Differences) == 0 {
				t.Fatal("a difference without its description")
			}
		})
	}
}

func TestCompareStore(t *testing.T) {
	acks := []ackRecord{
		{J: 0, Boot: 10, Seq: 5},
		{J: 1, Boot: 20, Seq: 1},                                     // a rejoined agent's first report
		{J: 2, Boot: 10, Seq: 7, UncertainBoot: 10, UncertainSeq: 8}, // its last report got no answer
		{J: 3}, // never answered
	}
	in := func(boot int64, seq uint64) hub.Instance { return hub.Instance{Boot: boot, Seq: seq} }
	for _, tc := range []struct {
		name   string
		stored map[int]hub.Instance
		ok     bool
		check  func(agentsStoreCheck) bool
	}{
		{"all at their last answered", map[int]hub.Instance{0: in(10, 5), 1: in(20, 1), 2: in(10, 7)}, true,
			func(c agentsStoreCheck) bool { return c.Acked == 3 && c.AtLastAcked == 3 }},
		{"one at the unanswered report", map[int]hub.Instance{0: in(10, 5), 1: in(20, 1), 2: in(10, 8)}, true,
			func(c agentsStoreCheck) bool { return c.AheadUnanswered == 1 && c.AtLastAcked == 2 }},
		{"a heartbeat behind", map[int]hub.Instance{0: in(10, 4), 1: in(20, 1), 2: in(10, 7)}, false,
			func(c agentsStoreCheck) bool { return c.Behind == 1 && c.lost() }},
		{"the old boot after a rejoin", map[int]hub.Instance{0: in(10, 5), 1: in(10, 30), 2: in(10, 7)}, false,
			func(c agentsStoreCheck) bool { return c.Behind == 1 && c.lost() }},
		{"missing", map[int]hub.Instance{0: in(10, 5), 2: in(10, 7)}, false,
			func(c agentsStoreCheck) bool { return c.Missing == 1 && c.lost() }},
		{"beyond anything sent", map[int]hub.Instance{0: in(10, 6), 1: in(20, 1), 2: in(10, 7)}, false,
			func(c agentsStoreCheck) bool { return c.Beyond == 1 && !c.lost() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := compareStore(acks, tc.stored)
			if c.OK != tc.ok || !tc.check(c) {
				t.Fatalf("got %+v, want ok=%v", c, tc.ok)
			}
			if !c.OK && len(c.Problems) == 0 {
				t.Fatal("a failed check names no problem")
			}
		})
	}
}

const metricsText = `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 42
go_memstats_heap_inuse_bytes 1.5e+07
go_memstats_heap_alloc_bytes 1.2e+07
go_memstats_next_gc_bytes 6.4e+07
process_resident_memory_bytes 5.24288e+07
centralhub_store_pending_writes 3
centralhub_ingest_reports_total{outcome="heartbeat"} 900
centralhub_ingest_reports_total{outcome="stored"} 100
centralhub_ingest_rejected_total{reason="invalid"} 2
centralhub_ingest_rejected_total{reason="rate_limited"} 5
centralhub_ingest_duration_seconds_bucket{le="0.001"} 10
`

func TestParseHubMetrics(t *testing.T) {
	s, err := parseHubMetrics(metricsText)
	if err != nil {
		t.Fatal(err)
	}
	if s.Goroutines != 42 || s.HeapInuse != 15e6 || s.HeapAlloc != 12e6 || s.NextGC != 64e6 || s.RSS != 52428800 || s.Pending != 3 ||
		s.Outcomes["heartbeat"] != 900 || s.Outcomes["stored"] != 100 || len(s.Outcomes) != 2 || s.Rejected != 7 {
		t.Fatalf("got %+v", s)
	}
	for _, name := range []string{"go_goroutines", "centralhub_store_pending_writes", "centralhub_ingest_rejected_total"} {
		var kept []string
		for _, l := range strings.Split(metricsText, "\n") {
			if !strings.HasPrefix(l, name) {
				kept = append(kept, l)
			}
		}
		if _, err := parseHubMetrics(strings.Join(kept, "\n")); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("without %s: %v, want an error naming it", name, err)
		}
	}
	for _, tc := range []struct{ labels, name, want string }{
		{`outcome="stored"}`, "outcome", "stored"},
		{`a="x",outcome="queued"}`, "outcome", "queued"},
		{`a="x"}`, "outcome", ""},
	} {
		if got, _ := labelValue(tc.labels, tc.name); got != tc.want {
			t.Errorf("labelValue(%q, %q) = %q, want %q", tc.labels, tc.name, got, tc.want)
		}
	}
}

func TestWindowsCSV(t *testing.T) {
	ws := []agentsWindow{
		{EndSeconds: 10, Seconds: 10, Sent: 1000, OK: 999, Stored: 12, Heartbeat: 987, Failed: 1, PerSecond: 99.9, P50MS: 1.5, P99MS: 9.25, MaxMS: 30, Dead: 2,
			Hub: &windowHub{RSS: 100 << 20, HeapInuse: 40 << 20, Goroutines: 77}, ProcRSS: 101 << 20},
		{EndSeconds: 20, Seconds: 10, Sent: 1000, OK: 1000}, // the scrape failed, no --hub-pid
	}
	// Through the writer a run uses.
	path := filepath.Join(t.TempDir(), agentsCSVFile)
	c, err := newWindowCSV(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ws {
		if err := c.write(ws[i].csvRow()); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	rows, err := csv.NewReader(fh).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || !slices.Equal(rows[0], windowCSVHeader) {
		t.Fatalf("rows %v", rows)
	}
	col := func(row int, name string) string { return rows[row][slices.Index(windowCSVHeader, name)] }
	for _, c := range []struct {
		row        int
		name, want string
	}{
		{1, "end_s", "10.0"}, {1, "reports_per_s", "99.9"}, {1, "p99_ms", "9.250"}, {1, "hub_rss_mib", "100.00"}, {1, "proc_rss_mib", "101.00"},
		{1, "heap_inuse_mib", "40.00"}, {1, "goroutines", "77"}, {1, "agents_dead", "2"}, {1, "failed", "1"},
		{2, "hub_rss_mib", ""}, {2, "proc_rss_mib", ""}, {2, "goroutines", ""}, {2, "answered_2xx", "1000"},
	} {
		if got := col(c.row, c.name); got != c.want {
			t.Errorf("row %d %s = %q, want %q", c.row, c.name, got, c.want)
		}
	}
}

func TestInstanceStale(t *testing.T) {
	body := []byte(`{"services":[{"name":"svc-000","instances":[
		{"instance":"i-00000","status":"critical","checks":[{"name":"web","status":"passing"},{"name":"hub:heartbeat","status":"critical"}]},
		{"instance":"i-00001","status":"critical","checks":[{"name":"upstream","status":"critical"}]},
		{"instance":"i-00002","status":"passing","checks":[{"name":"web","status":"passing"}]}]}]}`)
	for _, tc := range []struct {
		instance   string
		stale, err bool
	}{{"i-00000", true, false}, {"i-00001", false, false}, {"i-00002", false, false}, {"i-00003", false, true}} {
		stale, err := instanceStale(body, "svc-000", tc.instance)
		if stale != tc.stale || (err != nil) != tc.err {
			t.Errorf("%s: stale %v err %v, want %v, error %v", tc.instance, stale, err, tc.stale, tc.err)
		}
	}
}

// writeAgentsRun writes a run directory holding an agents run's summary under sub (soak or
// agents), judged from 30 windows of 10 s, with p99 of the last window p99last.
func writeAgentsRun(t *testing.T, sub string, agents int, p99last float64) string {
	t.Helper()
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, sub), 0o755))
	must(os.WriteFile(filepath.Join(dir, "machine.txt"), []byte("date=2026-01-02 03:04 UTC\ncommit=abc\nelapsed=6 min (301 s)\nloadavg_start=1 1 1\nloadavg_end=2 2 2\npostgres=15.20\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "commands.txt"), []byte(sub+"-agents\t.bench/bin/loadgen agents --agents "+strconv.Itoa(agents)+"\n"+sub+"-run\t.bench/bin/loadgen agents --agents "+strconv.Itoa(agents)+"\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, sub, "soak.png"), []byte("png"), 0o644))
	s := agentsSummary{Agents: agents, PerService: 100, Services: agents / 100, IntervalSeconds: 10, DurationSeconds: 300, ElapsedSeconds: 300,
		WarmupSeconds: 50, SampleSeconds: 10, Concurrency: 64, FlapShare: 0.05, DieShare: 0.02, Flappers: agents / 20, Diers: agents / 50,
		FlapEvery: 3, AliveMin: 6, AliveMax: 30, DeadForSeconds: 50, StaleAfter: 3, MaxHeapGrowth: 0.1, MaxGoroutineChange: 0.05, P99Factor: 3,
		Sent: 30_000, OK: 30_000, Outcomes: map[string]uint64{"stored": 1_000, "heartbeat": 29_000, "ignored": 0, "queued": 0},
		Deaths: 40, Rejoins: 30, Probes: 30, ProbesStale: 30, ReportsPerSecond: 100,
		Loss:  compareCounts(map[string]uint64{"stored": 1000}, map[string]uint64{"stored": 1000}, 0),
		Store: &agentsStoreCheck{Store: "postgres", Acked: agents, AtLastAcked: agents, OK: true},
		Windows: windowsOf(30, 10, func(int) float64 { return 50 << 20 }, func(int) float64 { return 40 },
			func(i int) float64 {
				if i == 29 {
					return p99last
				}
				return 4
			}),
	}
	s.judge()
	must(writeJSONFile(filepath.Join(dir, sub, agentsSummaryFile), &s))
	return dir
}

// withoutMarked removes from doc the marked sections and their rows of the targets table.
func withoutMarked(t *testing.T, doc string) string {
	t.Helper()
	for _, m := range markedSections {
		if text, ok := m.extract(doc); ok {
			doc = strings.Replace(doc, text, "", 1)
		}
		var kept []string
		for _, l := range strings.Split(doc, "\n") {
			if !strings.HasPrefix(l, "| "+m.prefix) {
				kept = append(kept, l)
			}
		}
		doc = strings.Join(kept, "\n")
	}
	return strings.TrimRight(doc, "\n")
}

func TestDocMarkedSections(t *testing.T) {
	ctx := context.Background()
	ingest := writeIngestRun(t, 10_000, 8_500)
	out := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	read := func() string {
		t.Helper()
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if err := doc(ctx, []string{"--run", ingest, "--out", out}, io.Discard); err != nil {
		t.Fatal(err)
	}
	full := read()
	if !strings.Contains(full, "| soak: 1,000 agents for 30 min on PostgreSQL (make soak) | | not measured | **missing** |") {
		t.Fatalf("a full run without a soak does not say so:\n%s", full)
	}

	// The soak alone: its section and rows, and nothing else, change.
	soak := writeAgentsRun(t, "soak", 1000, 5)
	if err := doc(ctx, []string{"--run", soak, "--out", out, "--only", "soak"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	withSoak := read()
	if withoutMarked(t, withSoak) != withoutMarked(t, full) {
		t.Fatalf("--only soak changed more than its section:\nbefore:\n%s\nafter:\n%s", withoutMarked(t, full), withoutMarked(t, withSoak))
	}
	for _, want := range []string{
		"<!-- loadgen doc: soak -->\n## 8. Soak: 1,000 agents for 5 min on PostgreSQL\n",
		"| soak: no report lost, 1,000 agents × 5 min on PostgreSQL (hub counters = generator counters; store at each last answered report) | equal, none lost | equal (30,000 reports answered); store: 1,000 of 1,000 at their last answered report | met |",
		"| soak: ingest p99 of each 10 s window after the warm-up, 1,000 agents × 5 min on PostgreSQL | ≤ 3× the median window p99 | worst 1.2× (5.00 ms ÷ 4.00 ms) | met |",
		"![Soak: reports/s",
		".bench/bin/loadgen agents --agents 1000",
	} {
		if !strings.Contains(withSoak, want) {
			t.Errorf("the document lacks %q", want)
		}
	}
	if strings.Contains(withSoak, "| soak: 1,000 agents for 30 min") {
		t.Error("the soak's not-measured row survived its measurement")
	}

	// Again, with a p99 spike: replaced, not added.
	soak = writeAgentsRun(t, "soak", 1000, 40)
	if err := doc(ctx, []string{"--run", soak, "--out", out, "--only", "soak"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	again := read()
	if strings.Count(again, "## 8. Soak") != 1 || strings.Count(again, "| soak: ingest p99") != 1 ||
		!strings.Contains(again, "worst 10.0× (40.00 ms ÷ 4.00 ms) | **missed** |") {
		t.Fatalf("a second soak did not replace the first:\n%s", again)
	}

	// The agents part alone goes after the soak; the soak again stays before it.
	agentsRun := writeAgentsRun(t, "agents", 10_000, 5)
	if err := doc(ctx, []string{"--run", agentsRun, "--out", out, "--only", "agents"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := doc(ctx, []string{"--run", soak, "--out", out, "--only", "soak"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	both := read()
	if i, k := strings.Index(both, "## 8. Soak"), strings.Index(both, "## 9. 10,000 agents"); i < 0 || k < i {
		t.Fatalf("sections 8 and 9 at %d and %d", i, k)
	}

	// A full run without a soak carries the soak over as it was, rows and all.
	if err := doc(ctx, []string{"--run", ingest, "--out", out}, io.Discard); err != nil {
		t.Fatal(err)
	}
	carried := read()
	for _, m := range markedSections {
		was, _ := m.extract(both)
		now, ok := m.extract(carried)
		if !ok || now != was {
			t.Errorf("the %s section was not carried over unchanged", m.name)
		}
	}
	if !strings.Contains(carried, "worst 10.0× (40.00 ms ÷ 4.00 ms) | **missed** |") || strings.Contains(carried, "| soak: 1,000 agents for 30 min") {
		t.Errorf("the soak's target rows were not carried over:\n%s", carried)
	}

	if err := doc(ctx, []string{"--run", ingest, "--out", out, "--only", "soak"}, io.Discard); err == nil {
		t.Error("--only soak from a run without a soak succeeded")
	}
	if err := doc(ctx, []string{"--run", soak, "--out", out, "--only", "gossip"}, io.Discard); err == nil {
		t.Error("--only of a section that cannot be rewritten alone succeeded")
	}
}
