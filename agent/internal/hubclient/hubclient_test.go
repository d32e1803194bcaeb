package hubclient

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/centralhub/centralhub/agent/internal/backoff"
	"github.com/centralhub/centralhub/agent/internal/hubtest"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

var fastBackoff = backoff.Config{Base: time.Millisecond, Cap: 5 * time.Millisecond}

// newSender builds a sender to urls with fast retries.
func newSender(t *testing.T, urls []string, token TokenSource, tweak func(*SenderConfig)) *Sender {
	t.Helper()
	cfg := SenderConfig{
		URLs: urls, Token: token, UserAgent: "centralhub-agent/test",
		Backoff: fastBackoff, Logger: discard(), Metrics: NewMetrics(prometheus.NewRegistry()),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	s, err := NewSender(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// run runs fn until the test ends (or stop is called) and waits for it to return.
func run(t *testing.T, fn func(context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); fn(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func report(seq uint64) *protocol.Report {
	return &protocol.Report{
		Version: protocol.Version, Tenant: "default", Service: "orders", Instance: "orders-1",
		Boot: 1, Seq: seq, SentAt: time.Now().UTC(), Interval: protocol.Duration(10 * time.Second),
		Config: protocol.ConfigState{Status: protocol.ConfigNone},
	}
}

// transition returns a report whose check status differs from that of seq-1, so no queued
// report supersedes another.
func transition(seq uint64) *protocol.Report {
	r := report(seq)
	st := status.Passing
	if seq%2 == 0 {
		st = status.Critical
	}
	r.Checks = []protocol.CheckResult{{Name: "web", Kind: "http", Status: st}}
	return r
}

func seqs(reps []protocol.Report) []uint64 {
	out := make([]uint64, len(reps))
	for i, r := range reps {
		out[i] = r.Seq
	}
	return out
}

func hasSeq(want uint64) func([]protocol.Report) bool {
	return func(reps []protocol.Report) bool { return slices.Contains(seqs(reps), want) }
}

func TestSenderDeliversWithHeaders(t *testing.T) {
	hub := hubtest.New(t)
	s := newSender(t, []string{hub.URL() + "/"}, StaticToken("s3cret"), nil)
	run(t, s.Run)
	if err := s.Enqueue(report(1)); err != nil {
		t.Fatal(err)
	}
	hub.WaitAccepted(t, "report 1", hasSeq(1))
	req := hub.Requests()[0]
	if req.Token != "s3cret" || req.UserAgent != "centralhub-agent/test" || req.ContentType != "application/json" {
		t.Fatalf("request headers: token=%q ua=%q ct=%q", req.Token, req.UserAgent, req.ContentType)
	}
	waitDelivery(t, s, "ok", func(d Delivery) bool { return d.OK && !d.At.IsZero() && d.Error == "" })
	if v := testutil.ToFloat64(s.metrics.sent.WithLabelValues("ok")); v != 1 {
		t.Fatalf("sent{ok} = %v, want 1", v)
	}
}

func TestSenderRetries(t *testing.T) {
	tests := []struct {
		name    string
		failure int
	}{
		{"503", 503},
		{"500", 500},
		{"429", 429},
		{"404 wrong path", 404},
		{"401 re-reads the token", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub := hubtest.New(t)
			hub.SetResponder(func(n int, _ *hubtest.Request) (int, string) {
				if n < 2 {
					return tt.failure, "try later"
				}
				return 202, ""
			})
			s := newSender(t, []string{hub.URL()}, StaticToken("t"), nil)
			run(t, s.Run)
			s.Enqueue(report(1))
			hub.WaitAccepted(t, "the retried report", hasSeq(1))
			if reqs := hub.Requests(); len(reqs) != 3 {
				t.Fatalf("%d requests, want 2 failures and 1 success", len(reqs))
			}
			if v := testutil.ToFloat64(s.metrics.sent.WithLabelValues("error")); v != 2 {
				t.Fatalf("sent{error} = %v, want 2", v)
			}
		})
	}
}

// waitDelivery polls s.LastDelivery until ok accepts it: the test hub has a request before the
// sender has read and recorded the answer.
func waitDelivery(t *testing.T, s *Sender, want string, ok func(Delivery) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for d := s.LastDelivery(); !ok(d); d = s.LastDelivery() {
		if time.Now().After(deadline) {
			t.Fatalf("LastDelivery = %+v, want %s", d, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSenderDoesNotRetryRejected(t *testing.T) {
	for _, code := range []int{400, 403, 413} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			hub := hubtest.New(t)
			hub.SetResponder(func(_ int, r *hubtest.Request) (int, string) {
				if r.Report.Seq == 1 {
					return code, "bad report"
				}
				return 202, ""
			})
			s := newSender(t, []string{hub.URL()}, StaticToken("t"), nil)
			run(t, s.Run)
			s.Enqueue(report(1))
			hub.WaitRequests(t, 1)
			waitDelivery(t, s, "the rejection", func(d Delivery) bool { return !d.OK && d.Error != "" })
			s.Enqueue(report(2)) // the sender keeps running
			hub.WaitAccepted(t, "report 2", hasSeq(2))
			reqs := hub.Requests()
			if len(reqs) != 2 || reqs[0].Report.Seq != 1 || reqs[1].Report.Seq != 2 {
				t.Fatalf("requests %d, want report 1 once (rejected) and report 2", len(reqs))
			}
			if v := testutil.ToFloat64(s.metrics.sent.WithLabelValues("rejected")); v != 1 {
				t.Fatalf("sent{rejected} = %v, want 1", v)
			}
		})
	}
}

func TestSenderFailsOver(t *testing.T) {
	down := hubtest.New(t)
	down.SetResponder(func(int, *hubtest.Request) (int, string) { return 503, "down" })
	gone := hubtest.New(t)
	gone.Close() // connection refused
	up := hubtest.New(t)
	s := newSender(t, []string{down.URL(), gone.URL(), up.URL()}, StaticToken("t"), nil)
	run(t, s.Run)
	s.Enqueue(report(1))
	up.WaitAccepted(t, "report 1 at the third hub", hasSeq(1))
	if n := len(down.Requests()); n < 1 {
		t.Fatalf("the first hub saw %d requests, want it tried first", n)
	}
	// The sender stays on the hub that works.
	s.Enqueue(report(2))
	up.WaitAccepted(t, "report 2", hasSeq(2))
	if n := len(down.Requests()); n != 1 {
		t.Fatalf("the failed hub saw %d requests, want 1", n)
	}
}

// fakeLiveness is a Liveness whose states the test sets, by base URL; unset URLs are unknown.
type fakeLiveness struct {
	mu     sync.Mutex
	states map[string]HubState
}

func (f *fakeLiveness) set(url string, st HubState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.states == nil {
		f.states = map[string]HubState{}
	}
	f.states[url] = st
}

func (f *fakeLiveness) HubStates(urls []string) []HubState {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]HubState, len(urls))
	for i, u := range urls {
		out[i] = f.states[u]
	}
	return out
}

// TestSenderFailoverWithLiveness: after a failed send the sender goes to the next hub gossip
// knows alive, skipping hubs it knows failed even when they would answer.
func TestSenderFailoverWithLiveness(t *testing.T) {
	down := hubtest.New(t) // alive in gossip, but its store is down
	down.SetResponder(func(int, *hubtest.Request) (int, string) { return 503, "down" })
	failed := hubtest.New(t)  // would accept, but gossip knows it failed: never tried
	unknown := hubtest.New(t) // would accept, but gossip knows nothing of it: after the alive ones
	alive := hubtest.New(t)
	live := &fakeLiveness{}
	live.set(down.URL(), HubAlive)
	live.set(failed.URL(), HubFailed)
	live.set(alive.URL(), HubAlive)
	s := newSender(t, []string{down.URL(), failed.URL(), unknown.URL(), alive.URL()}, StaticToken("t"),
		func(c *SenderConfig) { c.Liveness = live })
	run(t, s.Run)
	s.Enqueue(report(1))
	alive.WaitAccepted(t, "report 1 at the alive hub", hasSeq(1))
	if n := len(down.Requests()); n != 1 {
		t.Fatalf("the hub in use saw %d requests, want 1 (tried first)", n)
	}
	if n, m := len(failed.Requests()), len(unknown.Requests()); n != 0 || m != 0 {
		t.Fatalf("the failed hub saw %d requests and the unknown one %d, want both skipped", n, m)
	}
}

// TestSenderFailoverWithoutAliveHubs: when gossip knows no other hub alive, the sender goes round
// the hubs in order as without gossip, skipping only those it knows failed.
func TestSenderFailoverWithoutAliveHubs(t *testing.T) {
	down := hubtest.New(t)
	down.SetResponder(func(int, *hubtest.Request) (int, string) { return 503, "down" })
	failed := hubtest.New(t)
	up := hubtest.New(t)
	live := &fakeLiveness{}
	live.set(failed.URL(), HubFailed)
	s := newSender(t, []string{down.URL(), failed.URL(), up.URL()}, StaticToken("t"),
		func(c *SenderConfig) { c.Liveness = live })
	run(t, s.Run)
	s.Enqueue(report(1))
	up.WaitAccepted(t, "report 1 at the unknown hub", hasSeq(1))
	if n := len(failed.Requests()); n != 0 {
		t.Fatalf("the failed hub saw %d requests, want 0", n)
	}
}

// TestSenderSwitchesBeforeSending: when gossip says the hub in use failed and another is alive,
// the next report goes straight to the alive one, without a failed attempt first.
func TestSenderSwitchesBeforeSending(t *testing.T) {
	first, second := hubtest.New(t), hubtest.New(t)
	live := &fakeLiveness{}
	live.set(first.URL(), HubAlive)
	live.set(second.URL(), HubAlive)
	s := newSender(t, []string{first.URL(), second.URL()}, StaticToken("t"), func(c *SenderConfig) { c.Liveness = live })
	run(t, s.Run)
	s.Enqueue(transition(1))
	first.WaitAccepted(t, "report 1 at the first hub", hasSeq(1))

	live.set(first.URL(), HubFailed) // the first hub still answers, but gossip says it failed
	s.Enqueue(transition(2))
	second.WaitAccepted(t, "report 2 at the second hub", hasSeq(2))
	if n := len(first.Requests()); n != 1 {
		t.Fatalf("the failed hub saw %d requests, want only report 1", n)
	}
	if v := testutil.ToFloat64(s.metrics.sent.WithLabelValues("error")); v != 0 {
		t.Fatalf("sent{error} = %v, want 0: the switch needs no failed attempt", v)
	}

	// A failed hub with no alive one to switch to is still tried.
	live.set(second.URL(), HubFailed)
	s.Enqueue(transition(3))
	second.WaitAccepted(t, "report 3 at the hub in use", hasSeq(3))
}

// TestSenderFlushSkipsFailedHub: the final flush at stop starts with an alive hub when gossip
// knows the one in use failed.
func TestSenderFlushSkipsFailedHub(t *testing.T) {
	first, second := hubtest.New(t), hubtest.New(t)
	live := &fakeLiveness{}
	live.set(first.URL(), HubFailed)
	live.set(second.URL(), HubAlive)
	s := newSender(t, []string{first.URL(), second.URL()}, StaticToken("t"), func(c *SenderConfig) { c.Liveness = live })
	s.Enqueue(report(1))
	s.flush() // what Run does at stop; the first hub is the one in use
	if got := seqs(second.Accepted()); !slices.Equal(got, []uint64{1}) {
		t.Fatalf("second hub accepted %v, want the flushed report 1", got)
	}
	if n := len(first.Requests()); n != 0 {
		t.Fatalf("the failed hub saw %d requests, want 0", n)
	}
}

// holdFirst makes hub hold its first request until release is called (or the test ends);
// entered is closed when that request arrives. Every answer has status code.
func holdFirst(t *testing.T, hub *hubtest.Hub, code int) (entered <-chan struct{}, release func()) {
	t.Helper()
	in, out := make(chan struct{}), make(chan struct{})
	var once sync.Once
	release = func() { once.Do(func() { close(out) }) }
	t.Cleanup(release)
	hub.SetResponder(func(n int, _ *hubtest.Request) (int, string) {
		if n == 0 {
			close(in)
			<-out
		}
		return code, ""
	})
	return in, release
}

func TestSenderQueueOverflowKeepsNewest(t *testing.T) {
	hub := hubtest.New(t)
	entered, release := holdFirst(t, hub, 202)
	const size = 8
	s := newSender(t, []string{hub.URL()}, StaticToken("t"), func(c *SenderConfig) { c.QueueSize = size })
	run(t, s.Run)
	s.Enqueue(transition(1))
	<-entered // report 1 is in flight and the hub holds it
	const last = 101
	for seq := uint64(2); seq <= last; seq++ {
		s.Enqueue(transition(seq))
	}
	if got := s.queue.len(); got != size {
		t.Fatalf("queue length %d, want %d", got, size)
	}
	if v := testutil.ToFloat64(s.metrics.queueLen); v != size {
		t.Fatalf("queue length gauge %v, want %d", v, size)
	}
	release()
	reps := hub.WaitAccepted(t, "the newest report", hasSeq(last))
	want := []uint64{1}
	for seq := uint64(last - size + 1); seq <= last; seq++ {
		want = append(want, seq)
	}
	if got := seqs(reps); !slices.Equal(got, want) {
		t.Fatalf("delivered seqs %v, want %v (in order, the oldest dropped)", got, want)
	}
	// 101 reports pushed into 8 slots: 93 dropped, report 1 among them while in flight.
	if v := testutil.ToFloat64(s.metrics.dropped); v != last-size {
		t.Fatalf("dropped = %v, want %d", v, last-size)
	}
}

// TestSenderCoalescesHeartbeats: while the hub is away, heartbeats that carry the same
// statuses replace each other, so the hub then gets each transition once and the newest state.
func TestSenderCoalescesHeartbeats(t *testing.T) {
	hub := hubtest.New(t)
	entered, release := holdFirst(t, hub, 200)
	s := newSender(t, []string{hub.URL()}, StaticToken("t"), nil)
	run(t, s.Run)
	s.Enqueue(transition(1)) // in flight, held by the hub
	<-entered
	// passing heartbeats 3, 5, 7; a change to critical at 8; critical heartbeats 10, 12
	for _, seq := range []uint64{3, 5, 7, 8, 10, 12} {
		s.Enqueue(transition(seq))
	}
	if got := s.queue.len(); got != 2 {
		t.Fatalf("queue holds %d reports, want 2 (the last passing and the last critical)", got)
	}
	release()
	reps := hub.WaitAccepted(t, "the newest report", hasSeq(12))
	if got := seqs(reps); !slices.Equal(got, []uint64{1, 7, 12}) {
		t.Fatalf("delivered seqs %v, want [1 7 12]", got)
	}
	if v := testutil.ToFloat64(s.metrics.dropped); v != 0 {
		t.Fatalf("superseded heartbeats counted as dropped: %v", v)
	}
}

func TestFileTokenReReadOnChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("first")
	tok, err := NewFileToken(path, discard())
	if err != nil {
		t.Fatal(err)
	}
	hub := hubtest.New(t)
	s := newSender(t, []string{hub.URL()}, tok, nil)
	run(t, s.Run)
	s.Enqueue(report(1))
	hub.WaitAccepted(t, "report 1", hasSeq(1))
	write("second-token") // a different size, so the stat check alone notices
	s.Enqueue(report(2))
	hub.WaitAccepted(t, "report 2", hasSeq(2))
	reqs := hub.Requests()
	if reqs[0].Token != "first" || reqs[1].Token != "second-token" {
		t.Fatalf("tokens sent %q then %q, want first then second-token", reqs[0].Token, reqs[1].Token)
	}
}

func TestFileTokenForcedReReadAfter401(t *testing.T) {
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("tok-A"), 0o600); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := NewFileToken(path, discard())
	if err != nil {
		t.Fatal(err)
	}
	hub := hubtest.New(t)
	hub.SetResponder(func(_ int, r *hubtest.Request) (int, string) {
		if r.Token != "tok-B" {
			return 401, "token expired"
		}
		return 202, ""
	})
	s := newSender(t, []string{hub.URL()}, tok, nil)
	run(t, s.Run)
	s.Enqueue(report(1))
	hub.WaitRequests(t, 1)
	// Same size and the same modification time: only the refresh after a 401 can see it.
	if err := os.WriteFile(path, []byte("tok-B"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	hub.WaitAccepted(t, "report 1 with the new token", hasSeq(1))
}

func TestFileTokenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := NewFileToken(filepath.Join(dir, "missing"), discard()); err == nil {
		t.Error("missing file: want an error")
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, []byte(" \n"), 0o600)
	if _, err := NewFileToken(empty, discard()); err == nil {
		t.Error("empty file: want an error")
	}
	good := filepath.Join(dir, "good")
	os.WriteFile(good, []byte("abc\n"), 0o600)
	tok, err := NewFileToken(good, discard())
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(good)
	if got, err := tok.Token(false); got != "abc" || err != nil {
		t.Errorf("after the file vanished: %q, %v; want the last token kept", got, err)
	}
}

// stuckClock never lets a backoff wait end.
type stuckClock struct{}

func (stuckClock) After(time.Duration) <-chan time.Time { return nil }

func TestSenderFlushesNewestOnStop(t *testing.T) {
	hub := hubtest.New(t)
	var up atomic.Bool
	hub.SetResponder(func(int, *hubtest.Request) (int, string) {
		if up.Load() {
			return 202, ""
		}
		return 503, "starting"
	})
	s := newSender(t, []string{hub.URL()}, StaticToken("t"), func(c *SenderConfig) {
		c.Backoff = backoff.Config{Clock: stuckClock{}, Rand: func(n int64) int64 { return n - 1 }}
	})
	stop := run(t, s.Run)
	s.Enqueue(report(1))
	hub.WaitRequests(t, 1) // report 1 failed; the sender now waits out its backoff forever
	s.Enqueue(report(2))
	up.Store(true)
	stop()
	if got := seqs(hub.Accepted()); !slices.Equal(got, []uint64{2}) {
		t.Fatalf("flushed seqs %v, want only the newest, 2", got)
	}
}

// fakeChecks is a check runner whose one check the test sets.
type fakeChecks struct {
	mu      sync.Mutex
	status  status.Check
	changed chan struct{}
}

func newFakeChecks() *fakeChecks {
	return &fakeChecks{status: status.Unknown, changed: make(chan struct{}, 1)}
}

func (f *fakeChecks) Results() []protocol.CheckResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	return []protocol.CheckResult{{Name: "web", Kind: "http", Status: f.status, CheckedAt: time.Now().UTC()}}
}

func (f *fakeChecks) Changed() <-chan struct{} { return f.changed }

func (f *fakeChecks) set(s status.Check) {
	f.mu.Lock()
	f.status = s
	f.mu.Unlock()
	select {
	case f.changed <- struct{}{}:
	default:
	}
}

func base(interval time.Duration) protocol.Report {
	return protocol.Report{
		Tenant: "default", Service: "orders", Instance: "orders-1", Address: "127.0.0.1:8080",
		AgentVersion: "test", Runbook: "https://wiki.example/orders", DependsOn: []string{"payments"},
		Interval: protocol.Duration(interval),
	}
}

func TestReporterHeartbeat(t *testing.T) {
	hub := hubtest.New(t)
	s := newSender(t, []string{hub.URL()}, StaticToken("t"), nil)
	checks := newFakeChecks()
	r := NewReporter(base(time.Second), checks, s, discard())
	run(t, s.Run)
	run(t, r.Run)
	reps := hub.WaitAccepted(t, "the first report and a heartbeat", func(reps []protocol.Report) bool { return len(reps) >= 2 })
	first := reps[0]
	if first.Version != protocol.Version || first.Seq != 1 || first.Boot <= 0 || first.Service != "orders" ||
		first.Config.Status != protocol.ConfigNone || len(first.Checks) != 1 || first.Checks[0].Status != status.Unknown ||
		!slices.Equal(first.DependsOn, []string{"payments"}) || time.Duration(first.Interval) != time.Second ||
		first.SentAt.IsZero() || first.AgentVersion != "test" {
		t.Fatalf("first report = %+v", first)
	}
	if reps[1].Seq != 2 || reps[1].Boot != first.Boot {
		t.Fatalf("heartbeat seq %d boot %d, want seq 2 of boot %d", reps[1].Seq, reps[1].Boot, first.Boot)
	}
}

func TestReporterSendsChangesAtOnce(t *testing.T) {
	hub := hubtest.New(t)
	s := newSender(t, []string{hub.URL()}, StaticToken("t"), nil)
	checks := newFakeChecks()
	r := NewReporter(base(time.Hour), checks, s, discard()) // no heartbeat within the test
	run(t, s.Run)
	run(t, r.Run)
	hub.WaitAccepted(t, "the first report", func(reps []protocol.Report) bool { return len(reps) == 1 })
	for i, st := range []status.Check{status.Passing, status.Critical, status.Passing} {
		checks.set(st)
		reps := hub.WaitAccepted(t, fmt.Sprintf("change %d to %s", i+1, st), func(reps []protocol.Report) bool {
			return len(reps) == i+2
		})
		got := reps[i+1]
		if got.Checks[0].Status != st || got.Seq != uint64(i+2) {
			t.Fatalf("report %d: seq %d status %s, want seq %d status %s", i+2, got.Seq, got.Checks[0].Status, i+2, st)
		}
	}
}

func TestNewSenderValidates(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	for _, urls := range [][]string{nil, {"ftp://h"}, {"http://"}} {
		if _, err := NewSender(SenderConfig{URLs: urls, Token: StaticToken("t"), Logger: discard(), Metrics: m}); err == nil {
			t.Errorf("urls %v: want an error", urls)
		}
	}
}
