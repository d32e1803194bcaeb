package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"maps"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The outcomes the hub answers a report with (registry.Outcome), in the order the summary and
// the CSV list them.
var outcomeNames = []string{"stored", "heartbeat", "ignored", "queued"}

// outcomeIndex returns the position of outcome in outcomeNames, or -1.
func outcomeIndex(outcome string) int { return slices.Index(outcomeNames, outcome) }

// hubSample is what one scrape of the hub's /metrics says about the hub.
type hubSample struct {
	RSS        float64            // process_resident_memory_bytes
	HeapInuse  float64            // go_memstats_heap_inuse_bytes
	HeapAlloc  float64            // go_memstats_heap_alloc_bytes
	NextGC     float64            // go_memstats_next_gc_bytes: the heap size that triggers the next GC
	Goroutines float64            // go_goroutines
	Pending    float64            // centralhub_store_pending_writes
	Outcomes   map[string]float64 // centralhub_ingest_reports_total by outcome (absent until counted)
	Rejected   float64            // centralhub_ingest_rejected_total over every reason
}

// parseHubMetrics reads a hub's /metrics (Prometheus text format) into a hubSample, and fails
// when a series it needs is missing, so a renamed metric stops the run instead of fooling it.
func parseHubMetrics(body string) (hubSample, error) {
	s := hubSample{Outcomes: map[string]float64{}}
	plain := map[string]*float64{
		"process_resident_memory_bytes":   &s.RSS,
		"go_memstats_heap_inuse_bytes":    &s.HeapInuse,
		"go_memstats_heap_alloc_bytes":    &s.HeapAlloc,
		"go_memstats_next_gc_bytes":       &s.NextGC,
		"go_goroutines":                   &s.Goroutines,
		"centralhub_store_pending_writes": &s.Pending,
	}
	found := map[string]bool{}
	for line := range strings.Lines(body) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		series, text := line[:i], line[i+1:]
		name, labels, _ := strings.Cut(series, "{")
		dst, isPlain := plain[name]
		if !isPlain && name != "centralhub_ingest_reports_total" && name != "centralhub_ingest_rejected_total" {
			continue
		}
		v, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return s, fmt.Errorf("metrics: %s: %w", series, err)
		}
		found[name] = true
		switch {
		case isPlain:
			*dst = v
		case name == "centralhub_ingest_rejected_total":
			s.Rejected += v
		default:
			outcome, ok := labelValue(labels, "outcome")
			if !ok {
				return s, fmt.Errorf("metrics: %s has no outcome label", series)
			}
			s.Outcomes[outcome] += v
		}
	}
	// The outcomes' series appear with their first report; the rejected reasons are there
	// from the start.
	for _, name := range append(slices.Sorted(maps.Keys(plain)), "centralhub_ingest_rejected_total") {
		if !found[name] {
			return s, fmt.Errorf("metrics: no %s (renamed?)", name)
		}
	}
	return s, nil
}

// labelValue returns the value of label name in a series' labels (`a="x",b="y"}`).
func labelValue(labels, name string) (string, bool) {
	for rest := strings.TrimSuffix(labels, "}"); rest != ""; {
		k, after, ok := strings.Cut(rest, `="`)
		if !ok {
			return "", false
		}
		v, tail, ok := strings.Cut(after, `"`)
		if !ok {
			return "", false
		}
		if strings.TrimSpace(k) == name {
			return v, true
		}
		rest = strings.TrimPrefix(tail, ",")
	}
	return "", false
}

// scrapeHub reads the hub's /metrics with the Authorization value auth.
func scrapeHub(ctx context.Context, c *http.Client, base, auth string) (hubSample, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	body, err := getBody(ctx, c, strings.TrimRight(base, "/")+"/metrics", auth)
	if err != nil {
		return hubSample{}, err
	}
	return parseHubMetrics(string(body))
}

// procRSS returns the resident set of process pid in bytes from /proc/<pid>/status (VmRSS).
func procRSS(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read hub RSS: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				return 0, fmt.Errorf("hub RSS: %w", err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("hub RSS: no VmRSS in /proc/%d/status", pid)
}

// agentsWindow is one sample window of `loadgen agents`: what the generator saw in it and
// what the hub said at its end.
type agentsWindow struct {
	EndSeconds float64 `json:"end_s"` // since the start of the run
	Seconds    float64 `json:"seconds"`
	Sent       uint64  `json:"sent"`
	OK         uint64  `json:"answered_2xx"`
	Stored     uint64  `json:"stored"`
	Heartbeat  uint64  `json:"heartbeat"`
	Non2xx     uint64  `json:"non_2xx"`
	Failed     uint64  `json:"failed"` // no answer
	PerSecond  float64 `json:"reports_per_second"`
	P50MS      float64 `json:"p50_ms"`
	P90MS      float64 `json:"p90_ms"`
	P99MS      float64 `json:"p99_ms"`
	MaxMS      float64 `json:"max_ms"`
	Dead       int64   `json:"agents_dead"`
	// Hub is the scrape of the hub's /metrics at the window's end; nil when it failed.
	Hub *windowHub `json:"hub,omitempty"`
	// ProcRSS is the hub's VmRSS from /proc in bytes; 0 without --hub-pid or when unreadable.
	ProcRSS float64 `json:"proc_rss_bytes,omitempty"`
}

// windowHub is what the generator keeps of one scrape of the hub.
type windowHub struct {
	RSS        float64 `json:"rss_bytes"`
	HeapInuse  float64 `json:"heap_inuse_bytes"`
	HeapAlloc  float64 `json:"heap_alloc_bytes"`
	NextGC     float64 `json:"next_gc_bytes"`
	Goroutines float64 `json:"goroutines"`
	Pending    float64 `json:"pending_writes"`
}

// windowCSVHeader names the columns of agents.csv, one row per window; sizes are in MiB.
var windowCSVHeader = []string{
	"end_s", "seconds", "sent", "answered_2xx", "stored", "heartbeat", "non_2xx", "failed", "reports_per_s",
	"p50_ms", "p90_ms", "p99_ms", "max_ms", "agents_dead",
	"hub_rss_mib", "proc_rss_mib", "heap_inuse_mib", "heap_alloc_mib", "next_gc_mib", "goroutines", "pending_writes",
}

// csvRow renders w in the order of windowCSVHeader; what was not measured is an empty cell.
func (w *agentsWindow) csvRow() []string {
	f := func(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	const mib = 1 << 20
	row := []string{
		f(w.EndSeconds, 1), f(w.Seconds, 3), u(w.Sent), u(w.OK), u(w.Stored), u(w.Heartbeat), u(w.Non2xx), u(w.Failed), f(w.PerSecond, 1),
		f(w.P50MS, 3), f(w.P90MS, 3), f(w.P99MS, 3), f(w.MaxMS, 3), strconv.FormatInt(w.Dead, 10),
		"", "", "", "", "", "", "",
	}
	if h := w.Hub; h != nil {
		row[14], row[16], row[17], row[18], row[19], row[20] = f(h.RSS/mib, 2), f(h.HeapInuse/mib, 2), f(h.HeapAlloc/mib, 2), f(h.NextGC/mib, 2), f(h.Goroutines, 0), f(h.Pending, 0)
	}
	if w.ProcRSS > 0 {
		row[15] = f(w.ProcRSS/mib, 2)
	}
	return row
}

// windowCSV writes the windows of a run as they close.
type windowCSV struct {
	fh *os.File
	w  *csv.Writer
}

func newWindowCSV(path string) (*windowCSV, error) {
	fh, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create window CSV: %w", err)
	}
	c := &windowCSV{fh: fh, w: csv.NewWriter(fh)}
	if err := c.write(windowCSVHeader); err != nil {
		_ = fh.Close()
		return nil, err
	}
	return c, nil
}

// write writes one row and flushes it, so a run that is stopped keeps what it measured.
func (c *windowCSV) write(row []string) error {
	if err := c.w.Write(row); err != nil {
		return fmt.Errorf("write window CSV: %w", err)
	}
	c.w.Flush()
	if err := c.w.Error(); err != nil {
		return fmt.Errorf("write window CSV: %w", err)
	}
	return nil
}

// Close closes the file.
func (c *windowCSV) Close() error {
	if err := c.fh.Close(); err != nil {
		return fmt.Errorf("close window CSV: %w", err)
	}
	return nil
}

// slope fits y = a + b·x by least squares and returns b and the mean of y; ok is false with
// fewer than 3 points or no spread in x.
func slope(xs, ys []float64) (b, mean float64, ok bool) {
	n := float64(len(xs))
	if len(xs) < 3 || len(xs) != len(ys) {
		return 0, 0, false
	}
	var sx, sy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
	}
	mx, my := sx/n, sy/n
	var sxx, sxy float64
	for i := range xs {
		sxx += (xs[i] - mx) * (xs[i] - mx)
		sxy += (xs[i] - mx) * (ys[i] - my)
	}
	if sxx == 0 {
		return 0, my, false
	}
	return sxy / sxx, my, true
}

// trend judges whether one of the hub's gauges stayed flat after the warm-up.
type trend struct {
	Metric  string  `json:"metric"`
	Samples int     `json:"samples"` // windows after the warm-up with a value
	First   float64 `json:"first"`   // the first such window's value
	Last    float64 `json:"last"`
	Mean    float64 `json:"mean"`
	Min     float64 `json:"min"`
	Max     float64 `json:"max"`
	// SpanSeconds is the time from the first such window's end to the last's.
	SpanSeconds float64 `json:"span_s"`
	// ChangePer10Min is the least-squares slope over those windows × 600 s ÷ their mean: the
	// relative change per 10 minutes the fit says.
	ChangePer10Min float64 `json:"change_per_10min"`
	// Change is what is judged: the fitted relative change per 10 minutes, or over the span
	// when that is shorter (a trend of a few minutes is not extrapolated).
	Change float64 `json:"change"`
	// Limit is the largest Change allowed: growth only, or either way when Symmetric. 0 means
	// the trend is reported and not judged.
	Limit     float64 `json:"limit,omitempty"`
	Symmetric bool    `json:"symmetric,omitempty"`
	Judged    bool    `json:"judged"` // enough windows to fit
	OK        bool    `json:"ok"`
}

// fitTrend fits the values after the warm-up (windows starting at warmup seconds or later)
// of the gauge value picks, where it has one.
func fitTrend(metric string, windows []agentsWindow, warmup float64, value func(*agentsWindow) (float64, bool), limit float64, symmetric bool) trend {
	t := trend{Metric: metric, Limit: limit, Symmetric: symmetric, Min: math.Inf(1), Max: math.Inf(-1)}
	var xs, ys []float64
	for i := range windows {
		w := &windows[i]
		v, ok := value(w)
		if w.EndSeconds-w.Seconds < warmup || !ok {
			continue
		}
		if len(ys) == 0 {
			t.First = v
		}
		t.Last, t.Min, t.Max = v, min(t.Min, v), max(t.Max, v)
		xs, ys = append(xs, w.EndSeconds), append(ys, v)
	}
	t.Samples = len(ys)
	if len(xs) > 1 {
		t.SpanSeconds = xs[len(xs)-1] - xs[0]
	}
	b, mean, ok := slope(xs, ys)
	if !ok || mean == 0 {
		t.Min, t.Max = 0, 0
		t.OK = limit == 0
		return t
	}
	t.Judged, t.Mean = true, mean
	t.ChangePer10Min = b * 600 / mean
	t.Change = b * min(600, t.SpanSeconds) / mean
	switch {
	case limit == 0:
		t.OK = true
	case symmetric:
		t.OK = math.Abs(t.Change) <= limit
	default:
		t.OK = t.Change <= limit
	}
	return t
}

// steadiness judges whether the p99 of every window after the warm-up stayed within Factor ×
// the median of those windows' p99s.
type steadiness struct {
	Windows     int     `json:"windows"`
	MedianP99MS float64 `json:"median_p99_ms"`
	MaxP99MS    float64 `json:"max_p99_ms"`
	MaxRatio    float64 `json:"max_ratio"` // the worst window's p99 ÷ the median
	Factor      float64 `json:"factor"`
	Over        int     `json:"windows_over"` // windows whose p99 is above Factor × the median
	OK          bool    `json:"ok"`
}

// per says what Change is over: "per 10 min", or the span when shorter.
func (t *trend) per() string {
	if t.SpanSeconds >= 600 {
		return "per 10 min"
	}
	return "over " + (time.Duration(t.SpanSeconds) * time.Second).String()
}

func judgeP99(windows []agentsWindow, warmup, factor float64) steadiness {
	s := steadiness{Factor: factor}
	var p99s []float64
	for i := range windows {
		w := &windows[i]
		if w.EndSeconds-w.Seconds < warmup || w.OK == 0 {
			continue
		}
		p99s = append(p99s, w.P99MS)
	}
	s.Windows = len(p99s)
	if len(p99s) == 0 {
		return s
	}
	s.MaxP99MS = slices.Max(p99s)
	s.MedianP99MS = median(slices.Sorted(slices.Values(p99s)))
	if s.MedianP99MS > 0 {
		s.MaxRatio = s.MaxP99MS / s.MedianP99MS
	}
	for _, p := range p99s {
		if p > factor*s.MedianP99MS {
			s.Over++
		}
	}
	s.OK = s.Over == 0
	return s
}

// lossCheck compares the hub's ingest counters, their rise over the run, with what the
// generator was answered.
type lossCheck struct {
	Generator map[string]uint64 `json:"generator"` // answers per outcome, and "rejected": non-2xx but 401
	Hub       map[string]uint64 `json:"hub"`       // the rise of centralhub_ingest_reports_total per outcome and of centralhub_ingest_rejected_total
	// Unanswered requests (no answer at all) may have reached the hub and been counted there.
	Unanswered  uint64   `json:"unanswered"`
	Equal       bool     `json:"equal"` // every counter equal
	OK          bool     `json:"ok"`    // none lower at the hub, and the excess no more than the unanswered requests
	Differences []string `json:"differences,omitempty"`
}

// compareCounts judges the hub's counts against the generator's. A count lower at the hub is a
// lost report; a higher one is allowed up to the requests that got no answer.
func compareCounts(gen, hub map[string]uint64, unanswered uint64) lossCheck {
	c := lossCheck{Generator: gen, Hub: hub, Unanswered: unanswered, Equal: true}
	var excess uint64
	keys := slices.Sorted(maps.Keys(gen))
	for k := range hub {
		if _, ok := gen[k]; !ok {
			keys = append(keys, k)
		}
	}
	lost := false
	for _, k := range keys {
		g, h := gen[k], hub[k]
		switch {
		case h < g:
			lost = true
			c.Differences = append(c.Differences, fmt.Sprintf("%s: the hub counted %d, the generator was answered %d (%d lost)", k, h, g, g-h))
		case h > g:
			excess += h - g
			c.Differences = append(c.Differences, fmt.Sprintf("%s: the hub counted %d, the generator was answered %d (%d more)", k, h, g, h-g))
		}
	}
	c.Equal = len(c.Differences) == 0
	c.OK = !lost && excess <= unanswered
	if excess > unanswered {
		c.Differences = append(c.Differences, fmt.Sprintf("the hub counted %d reports more than answered, but only %d requests went unanswered", excess, unanswered))
	}
	return c
}
