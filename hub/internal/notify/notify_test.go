package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/centralhub/centralhub/hub"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// waitLimit bounds every poll for a state a test expects.
const waitLimit = 15 * time.Second

// eventually polls cond until it holds, failing the test at the deadline.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// noWait is a Config.Sleep that does not wait.
func noWait(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// doneCall is one call of Config.Done.
type doneCall struct {
	id       string
	receiver string
	err      error
}

// doneRecorder records Config.Done calls.
type doneRecorder struct {
	mu    sync.Mutex
	calls []doneCall
}

func (r *doneRecorder) done(n Notification, receiver string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, doneCall{n.ID, receiver, err})
}

func (r *doneRecorder) all() []doneCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// harness is a running Dispatcher with its registry and Done record.
type harness struct {
	d    *Dispatcher
	reg  *prometheus.Registry
	done *doneRecorder
	stop func() // cancels Run and waits for it; safe to call twice
}

// startDispatcher builds a Dispatcher over receivers with cfg (Registerer and Done set here,
// Sleep defaulting to noWait) and runs it until the test ends.
func startDispatcher(t *testing.T, cfg Config, receivers ...Receiver) *harness {
	t.Helper()
	h := &harness{reg: prometheus.NewRegistry(), done: &doneRecorder{}}
	cfg.Registerer = h.reg
	cfg.Done = h.done.done
	if cfg.Sleep == nil {
		cfg.Sleep = noWait
	}
	d, err := NewDispatcher(cfg, receivers)
	if err != nil {
		t.Fatalf("new dispatcher: %v", err)
	}
	h.d = d
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- d.Run(ctx) }()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("run: %v", err)
				}
			case <-time.After(waitLimit):
				t.Fatal("dispatcher Run did not return after its context ended")
			}
		})
	}
	t.Cleanup(h.stop)
	return h
}

// waitDone waits until Done has been called n times and returns the calls.
func (h *harness) waitDone(t *testing.T, n int) []doneCall {
	t.Helper()
	eventually(t, fmt.Sprintf("%d Done calls", n), func() bool { return len(h.done.all()) >= n })
	return h.done.all()
}

// metric returns the value of the counter or gauge name whose labels include the given
// name/value pairs; it fails the test when there is none.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			}
		}
	}
	t.Fatalf("no metric %s%v", name, labels)
	return 0
}

// hookRequest is one request a hookServer received.
type hookRequest struct {
	header http.Header
	body   []byte
	status int // what the server answered; 0: it dropped the connection
}

// hookServer is a webhook endpoint that answers each attempt with the status script gives it
// (0: drop the connection) and records every request.
type hookServer struct {
	*httptest.Server
	script func(attempt int) int

	mu   sync.Mutex
	reqs []hookRequest
}

func newHookServer(t *testing.T, script func(attempt int) int) *hookServer {
	t.Helper()
	s := &hookServer{script: script}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *hookServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	attempt := len(s.reqs) + 1
	status := s.script(attempt)
	s.reqs = append(s.reqs, hookRequest{header: r.Header.Clone(), body: body, status: status})
	s.mu.Unlock()
	if status == 0 {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				_ = conn.Close()
				return
			}
		}
		status = http.StatusBadGateway
	}
	w.WriteHeader(status)
	// Echo the credentials, as a careless server might: the error must not repeat them.
	fmt.Fprintf(w, "attempt %d rejected; you sent %q\n", attempt, r.Header.Get("Authorization"))
}

// requests returns every request so far.
func (s *hookServer) requests() []hookRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// delivered returns the payloads of the requests answered 2xx.
func (s *hookServer) delivered(t *testing.T) []webhookPayload {
	t.Helper()
	var out []webhookPayload
	for _, r := range s.requests() {
		if r.status < 200 || r.status > 299 {
			continue
		}
		var p webhookPayload
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatalf("decode payload %s: %v", r.body, err)
		}
		out = append(out, p)
	}
	return out
}

// newTestWebhook returns a Webhook named name posting as cfg says, closing its connections
// when the test ends.
func newTestWebhook(t *testing.T, name string, cfg WebhookConfig) *Webhook {
	t.Helper()
	w, err := NewWebhook(name, cfg, "1.2.3")
	if err != nil {
		t.Fatalf("new webhook: %v", err)
	}
	t.Cleanup(w.client.CloseIdleConnections)
	return w
}

// testAlert returns a firing alert with every field the receivers map.
func testAlert(id string) hub.Alert {
	started := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	fired := started.Add(time.Minute)
	return hub.Alert{
		ID:          id,
		Fingerprint: "fp-" + id,
		Tenant:      "acme",
		Component:   "orders",
		Service:     "orders",
		Instance:    "orders-1",
		Check:       "http",
		Rule:        "InstanceDown",
		Severity:    hub.SeverityCritical,
		State:       hub.AlertFiring,
		Summary:     "orders-1 is down",
		Runbook:     "https://wiki.example/orders",
		StartedAt:   started,
		FiredAt:     &fired,
		Impacted:    []string{"checkout", "web"},
	}
}

func notification(id string, ev Event) Notification {
	return Notification{ID: id, Event: ev, Alert: testAlert("a-" + id), At: time.Now()}
}

func TestDispatcherRetries(t *testing.T) {
	tests := []struct {
		name          string
		maxAttempts   int
		script        func(attempt int) int
		wantAttempts  int
		wantDelivered int
		wantErr       string // "" for success; else a substring of the error Done gets
		wantPermanent bool
		wantResult    string // the notifications_total result counted
	}{
		{
			name:        "fails twice then delivers",
			maxAttempts: 6,
			script: func(a int) int {
				if a <= 2 {
					return http.StatusInternalServerError
				}
				return http.StatusOK
			},
			wantAttempts:  3,
			wantDelivered: 1,
			wantResult:    "delivered",
		},
		{
			name:          "dropped connection and 429 and 408 are retried",
			maxAttempts:   6,
			script:        func(a int) int { return []int{0, 429, 408, 200}[a-1] },
			wantAttempts:  4,
			wantDelivered: 1,
			wantResult:    "delivered",
		},
		{
			name:          "permanent 400 is not retried",
			maxAttempts:   6,
			script:        func(int) int { return 400 },
			wantAttempts:  1,
			wantErr:       "400 Bad Request",
			wantPermanent: true,
			wantResult:    "failed",
		},
		{
			name:          "permanent 404 is not retried",
			maxAttempts:   6,
			script:        func(int) int { return 404 },
			wantAttempts:  1,
			wantErr:       "404 Not Found",
			wantPermanent: true,
			wantResult:    "failed",
		},
		{
			name:         "gives up after max attempts with the last error",
			maxAttempts:  4,
			script:       func(int) int { return 503 },
			wantAttempts: 4,
			wantErr:      "attempt 4 rejected",
			wantResult:   "failed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newHookServer(t, tt.script)
			w := newTestWebhook(t, "ops", WebhookConfig{URL: srv.URL + "/hook"})
			h := startDispatcher(t, Config{MaxAttempts: tt.maxAttempts}, w)

			h.d.Enqueue(notification("n1", EventFiring))
			h.waitDone(t, 1)
			h.stop() // no further attempt or Done can follow

			reqs := srv.requests()
			if len(reqs) != tt.wantAttempts {
				t.Errorf("attempts = %d, want %d", len(reqs), tt.wantAttempts)
			}
			for i, r := range reqs {
				if got := r.header.Get("X-Centralhub-Notification-Id"); got != "n1" {
					t.Errorf("attempt %d: notification id header = %q, want n1 on every attempt", i+1, got)
				}
			}
			if got := len(srv.delivered(t)); got != tt.wantDelivered {
				t.Errorf("deliveries = %d, want %d", got, tt.wantDelivered)
			}
			calls := h.done.all()
			if len(calls) != 1 {
				t.Fatalf("Done called %d times, want once: %v", len(calls), calls)
			}
			c := calls[0]
			if c.id != "n1" || c.receiver != "ops" {
				t.Errorf("Done(%q, %q), want (n1, ops)", c.id, c.receiver)
			}
			switch {
			case tt.wantErr == "" && c.err != nil:
				t.Errorf("Done err = %v, want nil", c.err)
			case tt.wantErr != "" && (c.err == nil || !strings.Contains(c.err.Error(), tt.wantErr)):
				t.Errorf("Done err = %v, want one containing %q", c.err, tt.wantErr)
			case tt.wantErr != "" && isPermanent(c.err) != tt.wantPermanent:
				t.Errorf("Done err %v: permanent = %v, want %v", c.err, isPermanent(c.err), tt.wantPermanent)
			}
			for _, result := range []string{"delivered", "failed", "dropped"} {
				want := 0.0
				if result == tt.wantResult {
					want = 1
				}
				if got := metric(t, h.reg, "centralhub_notifications_total", "receiver", "ops", "result", result); got != want {
					t.Errorf("notifications_total{result=%q} = %v, want %v", result, got, want)
				}
			}
			ok := float64(tt.wantDelivered)
			if got := metric(t, h.reg, "centralhub_notification_attempts_total", "receiver", "ops", "outcome", "ok"); got != ok {
				t.Errorf("attempts_total{outcome=ok} = %v, want %v", got, ok)
			}
			if got := metric(t, h.reg, "centralhub_notification_attempts_total", "receiver", "ops", "outcome", "error"); got != float64(tt.wantAttempts)-ok {
				t.Errorf("attempts_total{outcome=error} = %v, want %v", got, float64(tt.wantAttempts)-ok)
			}
		})
	}
}

// lockedBuffer is a bytes.Buffer safe for a logger's concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestWebhookPayload(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokenFile, "  first-s3cret-token\n")
	srv := newHookServer(t, func(int) int { return http.StatusNoContent })
	w := newTestWebhook(t, "ops-hook", WebhookConfig{URL: srv.URL + "/hook", BearerTokenFile: tokenFile})
	sentAt := time.Date(2025, 3, 1, 12, 30, 0, 0, time.UTC)
	w.now = func() time.Time { return sentAt }

	tests := []struct {
		event      Event
		wantStatus string
	}{
		{EventFiring, "firing"},
		{EventRepeat, "firing"},
		{EventResolved, "resolved"},
	}
	for i, tt := range tests {
		t.Run(string(tt.event), func(t *testing.T) {
			n := notification(fmt.Sprintf("n%d", i), tt.event)
			ack := time.Date(2025, 3, 1, 11, 0, 0, 0, time.UTC)
			n.Alert.Acknowledged = true
			n.Alert.Ack = &hub.Ack{By: "alice", Comment: "on it", At: ack}
			n.Alert.Book.Outbox = []string{"secret bookkeeping"}
			if err := w.Send(context.Background(), n); err != nil {
				t.Fatalf("send: %v", err)
			}
			reqs := srv.requests()
			r := reqs[len(reqs)-1]
			for _, hd := range []struct{ name, want string }{
				{"Content-Type", "application/json"},
				{"User-Agent", "centralhub/1.2.3"},
				{"X-Centralhub-Notification-Id", n.ID},
				{"Authorization", "Bearer first-s3cret-token"},
			} {
				if got := r.header.Get(hd.name); got != hd.want {
					t.Errorf("header %s = %q, want %q", hd.name, got, hd.want)
				}
			}
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(r.body, &raw); err != nil {
				t.Fatalf("decode %s: %v", r.body, err)
			}
			keys := slices.Sorted(func(yield func(string) bool) {
				for k := range raw {
					if !yield(k) {
						return
					}
				}
			})
			if want := []string{"alert", "event", "id", "receiver", "sent_at", "status", "version"}; !slices.Equal(keys, want) {
				t.Errorf("payload keys = %v, want %v", keys, want)
			}
			var p struct {
				Version  string         `json:"version"`
				ID       string         `json:"id"`
				Receiver string         `json:"receiver"`
				Event    string         `json:"event"`
				Status   string         `json:"status"`
				SentAt   string         `json:"sent_at"`
				Alert    map[string]any `json:"alert"`
			}
			if err := json.Unmarshal(r.body, &p); err != nil {
				t.Fatalf("decode %s: %v", r.body, err)
			}
			if p.Version != "1" || p.ID != n.ID || p.Receiver != "ops-hook" || p.Event != string(tt.event) || p.Status != tt.wantStatus {
				t.Errorf("payload = {version %q id %q receiver %q event %q status %q}, want {1 %s ops-hook %s %s}",
					p.Version, p.ID, p.Receiver, p.Event, p.Status, n.ID, tt.event, tt.wantStatus)
			}
			if at, err := time.Parse(time.RFC3339, p.SentAt); err != nil || !at.Equal(sentAt) {
				t.Errorf("sent_at = %q (%v), want %s", p.SentAt, err, sentAt.Format(time.RFC3339))
			}
			for k, want := range map[string]any{
				"id": n.Alert.ID, "fingerprint": n.Alert.Fingerprint, "tenant": "acme", "component": "orders",
				"service": "orders", "instance": "orders-1", "check": "http", "rule": "InstanceDown",
				"severity": "critical", "state": "firing", "summary": "orders-1 is down",
				"runbook": "https://wiki.example/orders", "fired_at": "2025-03-01T10:01:00Z", "acknowledged": true,
			} {
				if got := p.Alert[k]; got != want {
					t.Errorf("alert.%s = %v, want %v", k, got, want)
				}
			}
			if got := fmt.Sprint(p.Alert["impacted"]); got != "[checkout web]" {
				t.Errorf("alert.impacted = %s, want [checkout web]", got)
			}
			if got, _ := p.Alert["ack"].(map[string]any); got["by"] != "alice" || got["comment"] != "on it" {
				t.Errorf("alert.ack = %v, want by alice, comment on it", p.Alert["ack"])
			}
			if bytes.Contains(r.body, []byte("secret bookkeeping")) {
				t.Errorf("payload shows the engine's bookkeeping: %s", r.body)
			}
		})
	}

	t.Run("token re-read on every send", func(t *testing.T) {
		writeFile(t, tokenFile, "second-s3cret-token")
		if err := w.Send(context.Background(), notification("rotated", EventFiring)); err != nil {
			t.Fatalf("send: %v", err)
		}
		reqs := srv.requests()
		if got := reqs[len(reqs)-1].header.Get("Authorization"); got != "Bearer second-s3cret-token" {
			t.Errorf("Authorization after rotation = %q, want the new token", got)
		}
	})

	t.Run("missing token file is retryable and names the file", func(t *testing.T) {
		w := newTestWebhook(t, "ops-hook", WebhookConfig{URL: srv.URL, BearerTokenFile: tokenFile + ".missing"})
		err := w.Send(context.Background(), notification("nofile", EventFiring))
		if err == nil || isPermanent(err) || !strings.Contains(err.Error(), "token.missing") {
			t.Errorf("send = %v, want a retryable error naming the file", err)
		}
	})
}

func TestWebhookRejectedTokenNotInErrors(t *testing.T) {
	const token = "very-s3cret-bearer-token"
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeFile(t, tokenFile, token+"\n")
	srv := newHookServer(t, func(int) int { return http.StatusUnauthorized })
	w := newTestWebhook(t, "ops", WebhookConfig{URL: srv.URL, BearerTokenFile: tokenFile})

	// The server echoes the Authorization header in its body: the error quotes the body.
	err := w.Send(context.Background(), notification("n1", EventFiring))
	if err == nil || !isPermanent(err) {
		t.Fatalf("send = %v, want a Permanent error for 401", err)
	}
	if !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "[redacted]") {
		t.Errorf("error %q: want the status and the body with the token cut out", err)
	}
	if strings.Contains(err.Error(), token) {
		t.Errorf("error %q contains the token", err)
	}

	// Through a Dispatcher: neither Done's error nor the logs show it.
	logs := &lockedBuffer{}
	h := startDispatcher(t, Config{Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}, w)
	h.d.Enqueue(notification("n2", EventFiring))
	calls := h.waitDone(t, 1)
	h.stop()
	if len(srv.requests()) != 2 {
		t.Errorf("requests = %d, want 2 (one direct, one through the dispatcher, not retried)", len(srv.requests()))
	}
	if calls[0].err == nil || strings.Contains(calls[0].err.Error(), token) {
		t.Errorf("Done err = %v: want an error without the token", calls[0].err)
	}
	if !strings.Contains(logs.String(), "401") {
		t.Errorf("logs do not report the failure:\n%s", logs)
	}
	if strings.Contains(logs.String(), token) {
		t.Errorf("logs contain the token:\n%s", logs)
	}
}

// blockingReceiver records what it is sent; each Send blocks until release is closed.
type blockingReceiver struct {
	name    string
	release chan struct{}

	mu      sync.Mutex
	started []string
}

func (b *blockingReceiver) Name() string { return b.name }

func (b *blockingReceiver) Send(ctx context.Context, n Notification) error {
	b.mu.Lock()
	b.started = append(b.started, n.ID)
	b.mu.Unlock()
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *blockingReceiver) sent() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.started)
}

func TestQueueFullDrops(t *testing.T) {
	blocked := &blockingReceiver{name: "blocked", release: make(chan struct{})}
	free := &blockingReceiver{name: "free", release: make(chan struct{})}
	close(free.release)
	h := startDispatcher(t, Config{QueueSize: 1}, blocked, free)

	// n1 is taken by the blocked receiver, n2 waits in its queue, n3 and n4 are dropped there.
	// The free receiver has a queue of its own: it takes each before the next comes.
	for i, id := range []string{"n1", "n2", "n3", "n4"} {
		h.d.Enqueue(notification(id, EventFiring))
		eventually(t, "the free receiver to take "+id, func() bool { return len(free.sent()) == i+1 })
		if id == "n1" {
			eventually(t, "the blocked receiver to take n1", func() bool { return len(blocked.sent()) == 1 })
		}
	}

	isDrop := func(c doneCall) bool { return c.receiver == "blocked" && errors.Is(c.err, ErrQueueFull) }
	eventually(t, "two drops reported to Done", func() bool {
		return len(slices.DeleteFunc(h.done.all(), func(c doneCall) bool { return !isDrop(c) })) == 2
	})
	var dropped []string
	for _, c := range h.done.all() {
		if isDrop(c) {
			dropped = append(dropped, c.id)
		}
	}
	if !slices.Equal(dropped, []string{"n3", "n4"}) {
		t.Errorf("dropped = %v, want [n3 n4]", dropped)
	}
	if got := metric(t, h.reg, "centralhub_notifications_total", "receiver", "blocked", "result", "dropped"); got != 2 {
		t.Errorf("notifications_total{blocked,dropped} = %v, want 2", got)
	}
	if got := metric(t, h.reg, "centralhub_notification_queue_length", "receiver", "blocked"); got != 1 {
		t.Errorf("queue_length{blocked} = %v, want 1", got)
	}

	if got := metric(t, h.reg, "centralhub_notifications_total", "receiver", "free", "result", "dropped"); got != 0 {
		t.Errorf("notifications_total{free,dropped} = %v, want 0", got)
	}

	close(blocked.release)
	eventually(t, "n1 and n2 delivered to the blocked receiver", func() bool {
		return metric(t, h.reg, "centralhub_notifications_total", "receiver", "blocked", "result", "delivered") == 2
	})
	h.stop()
	if got := blocked.sent(); !slices.Equal(got, []string{"n1", "n2"}) {
		t.Errorf("blocked receiver got %v, want [n1 n2]", got)
	}
	if got := metric(t, h.reg, "centralhub_notification_queue_length", "receiver", "blocked"); got != 0 {
		t.Errorf("queue_length{blocked} = %v, want 0", got)
	}
	if got := len(h.done.all()); got != 2+2+4 {
		t.Errorf("Done calls = %d, want 8 (2 drops, 2 + 4 deliveries)", got)
	}
}

func TestDeliveryOrder(t *testing.T) {
	// Every third attempt fails: retries must not let a later notification overtake.
	srv := newHookServer(t, func(a int) int {
		if a%3 == 0 {
			return http.StatusServiceUnavailable
		}
		return http.StatusOK
	})
	w := newTestWebhook(t, "ops", WebhookConfig{URL: srv.URL})
	h := startDispatcher(t, Config{}, w)

	var want []string
	for i := range 40 {
		id := fmt.Sprintf("n%02d", i)
		want = append(want, id)
		h.d.Enqueue(notification(id, EventFiring))
	}
	h.waitDone(t, len(want))
	var got []string
	for _, p := range srv.delivered(t) {
		got = append(got, p.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("delivered in order %v, want %v", got, want)
	}
}

func TestShutdownAbandonsRetry(t *testing.T) {
	srv := newHookServer(t, func(int) int { return http.StatusInternalServerError })
	w := newTestWebhook(t, "ops", WebhookConfig{URL: srv.URL})
	waiting := make(chan struct{})
	var once sync.Once
	h := startDispatcher(t, Config{Sleep: func(ctx context.Context, _ time.Duration) error {
		once.Do(func() { close(waiting) })
		<-ctx.Done() // a backoff longer than the test
		return ctx.Err()
	}}, w)

	h.d.Enqueue(notification("n1", EventFiring))
	select {
	case <-waiting:
	case <-time.After(waitLimit):
		t.Fatal("the dispatcher never waited to retry")
	}
	h.stop()
	calls := h.done.all()
	if len(calls) != 1 || !errors.Is(calls[0].err, context.Canceled) {
		t.Fatalf("Done calls = %v, want one with context.Canceled", calls)
	}
	if got := len(srv.requests()); got != 1 {
		t.Errorf("attempts = %d, want 1", got)
	}
}

func TestNewDispatcherErrors(t *testing.T) {
	a := &blockingReceiver{name: "a"}
	tests := []struct {
		name      string
		cfg       Config
		receivers []Receiver
		want      string
	}{
		{"no registerer", Config{}, []Receiver{a}, "registerer: required"},
		{"negative attempts", Config{MaxAttempts: -1}, []Receiver{a}, "max attempts: must not be negative"},
		{"max below initial backoff", Config{InitialBackoff: time.Minute, MaxBackoff: time.Second}, []Receiver{a}, "max backoff: must not be less than initial backoff"},
		{"nil receiver", Config{}, []Receiver{a, nil}, "receiver 1: nil"},
		{"duplicate names", Config{}, []Receiver{a, &blockingReceiver{name: "a"}}, `receiver "a": duplicate name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name != "no registerer" {
				tt.cfg.Registerer = prometheus.NewRegistry()
			}
			_, err := NewDispatcher(tt.cfg, tt.receivers)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}

	t.Run("registration fails", func(t *testing.T) {
		reg := &failingRegisterer{failAt: 3, registered: map[prometheus.Collector]bool{}}
		if _, err := NewDispatcher(Config{Registerer: reg}, []Receiver{a}); err == nil || !strings.Contains(err.Error(), "register notify metrics") {
			t.Fatalf("NewDispatcher = %v, want the registration error", err)
		}
		if len(reg.registered) != 0 {
			t.Errorf("%d collectors left registered after the failure", len(reg.registered))
		}
	})

	t.Run("defaults and receivers", func(t *testing.T) {
		d, err := NewDispatcher(Config{Registerer: prometheus.NewRegistry()}, []Receiver{a, &blockingReceiver{name: "b"}})
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Receivers(); !slices.Equal(got, []string{"a", "b"}) {
			t.Errorf("Receivers = %v, want [a b]", got)
		}
		if def := DefaultConfig(); d.cfg.MaxAttempts != def.MaxAttempts || d.cfg.QueueSize != def.QueueSize ||
			d.cfg.InitialBackoff != def.InitialBackoff || d.cfg.MaxBackoff != def.MaxBackoff {
			t.Errorf("zero config did not take the defaults: %+v", d.cfg)
		}
	})
}

func TestReceiverConfigValidate(t *testing.T) {
	hook := func(url string) *WebhookConfig { return &WebhookConfig{URL: url} }
	am := func(url string) *AlertmanagerConfig { return &AlertmanagerConfig{URL: url} }
	tests := []struct {
		name string
		cfg  ReceiverConfig
		want string // the whole error; "" for valid
	}{
		{"webhook", ReceiverConfig{Name: "ops-hook.v2_x", Webhook: hook("https://hooks.example/x?k=v")}, ""},
		{"alertmanager", ReceiverConfig{Name: "am", Alertmanager: am("http://127.0.0.1:9093")}, ""},
		{"no name", ReceiverConfig{Webhook: hook("http://x")}, "alerts.receivers[1].name: required"},
		{"bad name", ReceiverConfig{Name: "Ops Hook", Webhook: hook("http://x")}, "alerts.receivers[1].name: must match [a-z0-9._-]+"},
		{"long name", ReceiverConfig{Name: strings.Repeat("a", 65), Webhook: hook("http://x")}, "alerts.receivers[1].name: longer than 64 characters"},
		{"no kind", ReceiverConfig{Name: "ops"}, "alerts.receivers[1]: one of webhook or alertmanager is required"},
		{"both kinds", ReceiverConfig{Name: "ops", Webhook: hook("http://x"), Alertmanager: am("http://y")}, "alerts.receivers[1]: only one of webhook or alertmanager may be set"},
		{"webhook no url", ReceiverConfig{Name: "ops", Webhook: hook("")}, "alerts.receivers[1].webhook.url: required"},
		{"webhook ftp", ReceiverConfig{Name: "ops", Webhook: hook("ftp://x/y")}, "alerts.receivers[1].webhook.url: must be an http or https URL with a host"},
		{"webhook relative", ReceiverConfig{Name: "ops", Webhook: hook("/hook")}, "alerts.receivers[1].webhook.url: must be an http or https URL with a host"},
		{"webhook no host", ReceiverConfig{Name: "ops", Webhook: hook("http:///hook")}, "alerts.receivers[1].webhook.url: must be an http or https URL with a host"},
		{"webhook bad url", ReceiverConfig{Name: "ops", Webhook: hook("http://x:y:z/%zz")}, "alerts.receivers[1].webhook.url: must be an http or https URL with a host"},
		{"webhook negative timeout", ReceiverConfig{Name: "ops", Webhook: &WebhookConfig{URL: "http://x", Timeout: -time.Second}}, "alerts.receivers[1].webhook.timeout: must not be negative"},
		{"alertmanager without scheme", ReceiverConfig{Name: "am", Alertmanager: am("localhost:9093")}, "alerts.receivers[1].alertmanager.url: must be an http or https URL with a host"},
		{"alertmanager negative timeout", ReceiverConfig{Name: "am", Alertmanager: &AlertmanagerConfig{URL: "http://x", Timeout: -1}}, "alerts.receivers[1].alertmanager.timeout: must not be negative"},
		{"alertmanager negative resend", ReceiverConfig{Name: "am", Alertmanager: &AlertmanagerConfig{URL: "http://x", ResendInterval: -1}}, "alerts.receivers[1].alertmanager.resend_interval: must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate("alerts.receivers[1]")
			if tt.want == "" {
				if err != nil {
					t.Errorf("Validate = %v, want nil", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || err.Error() != tt.want {
				t.Errorf("Validate = %v, want the *FieldError %q", err, tt.want)
			}
		})
	}
}

func TestBuild(t *testing.T) {
	hook := ReceiverConfig{Name: "hook", Webhook: &WebhookConfig{URL: "http://127.0.0.1:1/hook"}}
	am := ReceiverConfig{Name: "am", Alertmanager: &AlertmanagerConfig{URL: "http://127.0.0.1:9093/"}}
	tests := []struct {
		name string
		cfgs []ReceiverConfig
		want string // the whole error; "" for valid
	}{
		{"none", nil, ""},
		{"both kinds", []ReceiverConfig{hook, am}, ""},
		{"duplicate name", []ReceiverConfig{hook, {Name: "hook", Alertmanager: am.Alertmanager}}, `alerts.receivers[1].name: "hook" is already the name of alerts.receivers[0]`},
		{"invalid second", []ReceiverConfig{hook, {Name: "x", Webhook: &WebhookConfig{URL: "mailto:ops@example.com"}}}, "alerts.receivers[1].webhook.url: must be an http or https URL with a host"},
		{"invalid first", []ReceiverConfig{{Name: "", Webhook: hook.Webhook}}, "alerts.receivers[0].name: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			receivers, ams, err := Build(tt.cfgs, "1.2.3", func() []hub.Alert { return nil })
			if tt.want != "" {
				var fe *FieldError
				if !errors.As(err, &fe) || err.Error() != tt.want {
					t.Errorf("Build = %v, want the *FieldError %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if len(receivers) != len(tt.cfgs) {
				t.Fatalf("built %d receivers, want %d", len(receivers), len(tt.cfgs))
			}
			wantAMs := 0
			for i, r := range receivers {
				if r.Name() != tt.cfgs[i].Name {
					t.Errorf("receiver %d named %q, want %q", i, r.Name(), tt.cfgs[i].Name)
				}
				if tt.cfgs[i].Alertmanager != nil {
					if r != Receiver(ams[wantAMs]) {
						t.Errorf("receiver %d is not the Alertmanager returned", i)
					}
					wantAMs++
				}
			}
			if len(ams) != wantAMs {
				t.Errorf("built %d Alertmanagers, want %d", len(ams), wantAMs)
			}
			for _, a := range ams {
				if a.endpoint.String() != "http://127.0.0.1:9093/api/v2/alerts" {
					t.Errorf("alertmanager endpoint = %s", a.endpoint)
				}
			}
		})
	}
}

// failingRegisterer is a prometheus.Registerer whose failAt-th Register fails.
type failingRegisterer struct {
	failAt     int
	calls      int
	registered map[prometheus.Collector]bool
}

func (f *failingRegisterer) Register(c prometheus.Collector) error {
	f.calls++
	if f.calls == f.failAt {
		return errors.New("clash")
	}
	f.registered[c] = true
	return nil
}

func (f *failingRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = f.Register(c)
	}
}

func (f *failingRegisterer) Unregister(c prometheus.Collector) bool {
	ok := f.registered[c]
	delete(f.registered, c)
	return ok
}

// TestWebhookURLSecretNotInErrors: a webhook URL may carry its token in the path or query
// (as chat services' do); errors name scheme and host only.
func TestWebhookURLSecretNotInErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "nope", http.StatusInternalServerError)
	}))
	host := srv.URL
	for _, tc := range []struct {
		name string
		stop bool
	}{{"answered 500", false}, {"connection refused", true}} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.stop {
				srv.Close()
			}
			w := newTestWebhook(t, "hook", WebhookConfig{URL: host + "/services/T0KEN-IN-PATH?key=T0KEN-IN-QUERY"})
			err := w.Send(context.Background(), notification("n1", EventFiring))
			if err == nil {
				t.Fatal("send succeeded")
			}
			if strings.Contains(err.Error(), "T0KEN") || !strings.Contains(err.Error(), strings.TrimPrefix(host, "http://")) {
				t.Fatalf("error %q: want the host and no token", err)
			}
		})
	}
	srv.Close()
}
