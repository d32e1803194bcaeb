package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/centralhub/centralhub/hub/internal/loadtest"
)

// sender posts reports of a fleet to one hub.
type sender struct {
	url    string // .../api/v1/agent/reports
	client *http.Client
	tokens map[string]string // service → Authorization value

	ok, non2xx, failed atomic.Uint64
	lastErr            atomic.Pointer[string]
}

func newSender(base, tokensPath string, conns int) (*sender, error) {
	toks, err := readAgentTokens(tokensPath)
	if err != nil {
		return nil, err
	}
	return &sender{url: strings.TrimRight(base, "/") + "/api/v1/agent/reports", client: newHTTPClient(conns), tokens: toks}, nil
}

// post sends one report body for service and counts the answer.
func (s *sender) post(ctx context.Context, service string, body []byte) (code int) {
	tok, ok := s.tokens[service]
	if !ok {
		s.fail(fmt.Errorf("no agent token for service %s", service))
		return 0
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		s.fail(err)
		return 0
	}
	req.Header.Set("Authorization", tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			s.fail(err)
		}
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		s.ok.Add(1)
	} else {
		s.non2xx.Add(1)
		s.note(fmt.Errorf("status %d", resp.StatusCode))
	}
	return resp.StatusCode
}

// fail counts a request that got no answer and remembers why.
func (s *sender) fail(err error) {
	s.failed.Add(1)
	s.note(err)
}

func (s *sender) note(err error) {
	msg := err.Error()
	s.lastErr.Store(&msg)
}

func (s *sender) lastError() string {
	if p := s.lastErr.Load(); p != nil {
		return *p
	}
	return ""
}

// register sends every instance of the fleet its first report (all checks passing) and fails
// unless every one is answered 2xx.
func register(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("register")
	url := fs.String("url", "", "hub base URL (required)")
	tokensPath := fs.String("tokens", "", "agent tokens file from `loadgen tokens` (required)")
	seq := fs.Uint64("seq", 1, "seq of the reports")
	conns := fs.Int("concurrency", 32, "concurrent requests")
	f := fleetFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := f.Validate(); err != nil {
		return err
	}
	s, err := newSender(*url, *tokensPath, *conns)
	if err != nil {
		return err
	}
	start := time.Now()
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := range *conns {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(w), 1))
			for j := range jobs {
				body, err := json.Marshal(f.Report(j, *seq, false, rnd, time.Now()))
				if err != nil {
					s.fail(err)
					continue
				}
				s.post(ctx, f.Service(j), body)
			}
		})
	}
	for j := range f.Instances {
		if ctx.Err() != nil {
			break
		}
		jobs <- j
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if n := s.ok.Load(); n != uint64(f.Instances) {
		return fmt.Errorf("%d of %d reports answered 2xx (last error: %s)", n, f.Instances, s.lastError())
	}
	fmt.Fprintf(stdout, "registered %d instances in %s\n", f.Instances, time.Since(start).Round(time.Millisecond))
	return nil
}

// backgroundResult is what `loadgen background` writes to --out.
type backgroundResult struct {
	TargetPerSecond   float64 `json:"target_per_second"`
	DurationSeconds   float64 `json:"duration_seconds"`
	Sent              uint64  `json:"sent"`
	OK                uint64  `json:"ok"`
	Non2xx            uint64  `json:"non_2xx"`
	Failed            uint64  `json:"failed"` // no answer
	Missed            uint64  `json:"missed"` // due but not sent: 200 ms of reports were already waiting
	AchievedPerSecond float64 `json:"achieved_per_second"`
	// Latency of the 2xx answers, from when each report was due by the schedule (not when a
	// connection became free to send it), so a server that stalls is charged for the wait.
	Latency latencyQuantiles `json:"latency_ms"`
	// ChangeLatency is the latency of the reports that changed a check's status alone: the
	// hub answers those once they are fsynced.
	ChangeLatency latencyQuantiles `json:"change_latency_ms"`
	LastError     string           `json:"last_error,omitempty"`
}

// latencyQuantiles are latency percentiles in milliseconds.
type latencyQuantiles struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

func quantiles(ds []time.Duration) latencyQuantiles {
	if len(ds) == 0 {
		return latencyQuantiles{}
	}
	slices.Sort(ds)
	at := func(q float64) float64 { return float64(ds[int(q*float64(len(ds)-1))]) / 1e6 }
	return latencyQuantiles{P50: at(0.50), P90: at(0.90), P99: at(0.99), P999: at(0.999), Max: at(1)}
}

// background sends reports round-robin over the fleet at a fixed rate (with rising seqs and
// the share of status changes of loadtest.Flips) until the duration is over or it is stopped.
func background(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("background")
	url := fs.String("url", "", "hub base URL (required)")
	tokensPath := fs.String("tokens", "", "agent tokens file from `loadgen tokens` (required)")
	rate := fs.Float64("rate", 5000, "reports per second")
	duration := fs.Duration("duration", 30*time.Second, "how long to send")
	startSeq := fs.Uint64("start-seq", 2, "seq of each instance's first report")
	share := fs.Float64("flip-share", 0.01, "share of reports that change a check's status")
	conns := fs.Int("concurrency", 64, "concurrent requests (connections)")
	out := fs.String("out", "", "write the result as JSON to this file")
	f := fleetFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := f.Validate(); err != nil {
		return err
	}
	if *rate <= 0 || *conns < 1 {
		return errors.New("--rate and --concurrency must be positive")
	}
	s, err := newSender(*url, *tokensPath, *conns)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()

	type job struct {
		service string
		body    []byte
		due     time.Time
		change  bool
	}
	// Up to 200 ms of reports may wait for a connection, so a short stall of the hub delays
	// them instead of dropping them.
	jobs := make(chan job, max(*conns, int(*rate/5)))
	var wg sync.WaitGroup
	latencies := make([][]time.Duration, *conns)
	changeLatencies := make([][]time.Duration, *conns)
	for i := range *conns {
		wg.Go(func() {
			for jb := range jobs {
				if code := s.post(ctx, jb.service, jb.body); code/100 == 2 {
					d := time.Since(jb.due)
					latencies[i] = append(latencies[i], d)
					if jb.change {
						changeLatencies[i] = append(changeLatencies[i], d)
					}
				}
			}
		})
	}

	// The pacer makes every report (so seqs rise in order per instance) and queues it for the
	// connections; a report that finds the queue full is counted as missed rather than sent late.
	rnd := rand.New(rand.NewPCG(42, 42))
	flips := loadtest.NewFlips(f.Instances, *share)
	var sent, missed uint64
	start := time.Now()
	tick := time.NewTicker(2 * time.Millisecond)
pace:
	for k := uint64(0); ; {
		select {
		case <-ctx.Done():
			break pace
		case now := <-tick.C:
			due := uint64(now.Sub(start).Seconds() * *rate)
			for ; k < due; k++ {
				j := int(k % uint64(f.Instances))
				flipped, _ := flips.Next(j, rnd)
				body, err := json.Marshal(f.Report(j, *startSeq+k/uint64(f.Instances), flipped, rnd, now))
				if err != nil {
					return fmt.Errorf("encode report: %w", err)
				}
				due := start.Add(time.Duration(float64(k) / *rate * float64(time.Second)))
				select {
				case jobs <- job{f.Service(j), body, due, flipped}:
					sent++
				default:
					missed++
				}
			}
		}
	}
	tick.Stop()
	elapsed := time.Since(start)
	close(jobs)
	wg.Wait()

	res := backgroundResult{
		TargetPerSecond: *rate, DurationSeconds: elapsed.Seconds(), Sent: sent, OK: s.ok.Load(),
		Non2xx: s.non2xx.Load(), Failed: s.failed.Load(), Missed: missed, LastError: s.lastError(),
	}
	res.AchievedPerSecond = float64(res.OK) / elapsed.Seconds()
	res.Latency = quantiles(slices.Concat(latencies...))
	res.ChangeLatency = quantiles(slices.Concat(changeLatencies...))
	fmt.Fprintf(stdout, "background: %.0f/s target, %.0f/s answered 2xx over %.1fs (sent %d, non-2xx %d, failed %d, missed %d); latency p50 %.2f ms p99 %.2f ms (status changes: p50 %.2f ms p99 %.2f ms)\n",
		res.TargetPerSecond, res.AchievedPerSecond, res.DurationSeconds, res.Sent, res.Non2xx, res.Failed, res.Missed, res.Latency.P50, res.Latency.P99,
		res.ChangeLatency.P50, res.ChangeLatency.P99)
	if *out != "" {
		return writeJSONFile(*out, res)
	}
	return nil
}
