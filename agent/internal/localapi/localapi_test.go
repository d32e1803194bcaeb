package localapi

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/goleak"

	"github.com/centralhub/centralhub/agent/internal/check"
	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/agent/internal/hubclient"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type fakeDeliveries struct {
	mu sync.Mutex
	d  hubclient.Delivery
}

func (f *fakeDeliveries) LastDelivery() hubclient.Delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.d
}

type fixture struct {
	srv        *httptest.Server
	metricsSrv *httptest.Server
	deliveries *fakeDeliveries
}

// newFixture serves the API over a real check runner with a ttl check "alive" (ttl given) and a
// tcp check "db".
func newFixture(t *testing.T, ttl time.Duration) *fixture {
	t.Helper()
	reg := prometheus.NewRegistry()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	runner, err := check.NewRunner([]config.Check{
		{Name: "alive", Interval: time.Hour, Timeout: time.Second, Rise: 1, Fall: 1, TTL: &config.TTLCheck{TTL: ttl}},
		{Name: "db", Interval: time.Hour, Timeout: time.Second, Rise: 1, Fall: 1, TCP: &config.TCPCheck{Address: "127.0.0.1:1"}},
	}, check.Options{Logger: logger, Metrics: check.NewMetrics(reg)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); runner.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	f := &fixture{deliveries: &fakeDeliveries{}}
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	f.srv = httptest.NewServer(Handler(Config{
		Service: "orders", Instance: "orders-1", Version: "1.2.3",
		Checks: runner, Deliveries: f.deliveries, Metrics: metrics, Logger: logger,
	}))
	t.Cleanup(f.srv.Close)
	f.metricsSrv = httptest.NewServer(MetricsHandler(metrics))
	t.Cleanup(f.metricsSrv.Close)
	return f
}

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(raw)
}

func (f *fixture) check(t *testing.T, name string) protocol.CheckResult {
	t.Helper()
	code, body := do(t, "GET", f.srv.URL+"/v1/checks", "")
	if code != 200 {
		t.Fatalf("GET /v1/checks: %d %s", code, body)
	}
	var results []protocol.CheckResult
	if err := json.Unmarshal([]byte(body), &results); err != nil {
		t.Fatalf("decode /v1/checks: %v in %s", err, body)
	}
	for _, r := range results {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no check %q in %s", name, body)
	return protocol.CheckResult{}
}

func TestHealth(t *testing.T) {
	f := newFixture(t, time.Hour)
	code, body := do(t, "GET", f.srv.URL+"/health", "")
	want := `{"status":"ok","service":"orders","instance":"orders-1","version":"1.2.3","last_report":{"at":null,"ok":false,"error":""}}`
	if code != 200 || strings.TrimSpace(body) != want {
		t.Fatalf("GET /health = %d %s\nwant 200 %s", code, body, want)
	}
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	f.deliveries.mu.Lock()
	f.deliveries.d = hubclient.Delivery{At: at, OK: false, Error: "hub answered 503: down"}
	f.deliveries.mu.Unlock()
	_, body = do(t, "GET", f.srv.URL+"/health", "")
	if !strings.Contains(body, `"last_report":{"at":"2025-01-02T03:04:05Z","ok":false,"error":"hub answered 503: down"}`) {
		t.Fatalf("GET /health after a failed send = %s", body)
	}
}

func TestHealthGossip(t *testing.T) {
	h := Handler(Config{
		Service: "orders", Instance: "orders-1", Version: "1.2.3", Deliveries: &fakeDeliveries{}, Metrics: http.NotFoundHandler(),
		Gossip: func() any { return map[string]int{"members": 3, "alive_hubs": 1} },
	})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
	if body := rec.Body.String(); rec.Code != 200 || !strings.Contains(body, `"gossip":{"alive_hubs":1,"members":3}`) {
		t.Fatalf("GET /health = %d %s, want the gossip object", rec.Code, body)
	}
}

func TestChecksList(t *testing.T) {
	f := newFixture(t, time.Hour)
	if got := f.check(t, "alive"); got.Kind != "ttl" || got.Status != status.Unknown {
		t.Fatalf("alive = %+v, want an unknown ttl check", got)
	}
	if got := f.check(t, "db"); got.Kind != "tcp" {
		t.Fatalf("db = %+v", got)
	}
}

func TestTTLUpdates(t *testing.T) {
	f := newFixture(t, time.Hour)
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantCode   int
		wantBody   string // substring
		wantStatus status.Check
		wantOutput string
	}{
		{"pass with body", "PUT", "/v1/checks/alive/pass", "ready", 200, `"status":"passing"`, status.Passing, "ready"},
		{"warn with note", "POST", "/v1/checks/alive/warn?note=queue+filling", "", 200, `"status":"warning"`, status.Warning, "queue filling"},
		{"fail", "PUT", "/v1/checks/alive/fail", "queue full", 200, `"status":"critical"`, status.Critical, "queue full"},
		{"body wins over note", "PUT", "/v1/checks/alive/pass?note=ignored", "from body", 200, "", status.Passing, "from body"},
		{"unknown check", "PUT", "/v1/checks/nope/pass", "", 404, `{"error":"no check named \"nope\""}`, status.Passing, "from body"},
		{"not a ttl check", "PUT", "/v1/checks/db/pass", "", 400, `{"error":"check \"db\" is not a ttl check"}`, status.Passing, "from body"},
		{"unknown action", "PUT", "/v1/checks/alive/maybe", "", 404, `"error"`, status.Passing, "from body"},
		{"body too large", "PUT", "/v1/checks/alive/fail", strings.Repeat("x", MaxBody+1), 413, `"error"`, status.Passing, "from body"},
		{"GET is not an update", "GET", "/v1/checks/alive/fail", "", 405, "", status.Passing, "from body"},
		{"long output is capped", "PUT", "/v1/checks/alive/warn", strings.Repeat("y", 10000), 200, "", status.Warning, strings.Repeat("y", protocol.MaxOutput-3) + "..."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := do(t, tt.method, f.srv.URL+tt.path, tt.body)
			if code != tt.wantCode || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("%s %s = %d %s, want %d containing %s", tt.method, tt.path, code, body, tt.wantCode, tt.wantBody)
			}
			if got := f.check(t, "alive"); got.Status != tt.wantStatus || got.Output != tt.wantOutput {
				t.Fatalf("alive is %s %.40q, want %s %.40q", got.Status, got.Output, tt.wantStatus, tt.wantOutput)
			}
		})
	}
}

func TestTTLExpiresThroughAPI(t *testing.T) {
	f := newFixture(t, 300*time.Millisecond)
	if code, body := do(t, "PUT", f.srv.URL+"/v1/checks/alive/pass", ""); code != 200 {
		t.Fatalf("pass: %d %s", code, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := f.check(t, "alive")
		if got.Status == status.Critical {
			if got.Output != "TTL expired: no update for 300ms" {
				t.Fatalf("output %q", got.Output)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ttl never expired; alive is %s", got.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMetricsRoutes(t *testing.T) {
	f := newFixture(t, time.Hour)
	for _, base := range []string{f.srv.URL, f.metricsSrv.URL} {
		code, body := do(t, "GET", base+"/metrics", "")
		if code != 200 || !strings.Contains(body, `centralhub_agent_check_status{check="alive",status="unknown"} 1`) {
			t.Fatalf("GET %s/metrics = %d\n%s", base, code, body)
		}
	}
	for _, path := range []string{"/health", "/v1/checks", "/v1/checks/alive/pass", "/"} {
		if code, _ := do(t, "GET", f.metricsSrv.URL+path, ""); code != 404 {
			t.Errorf("metrics listener GET %s = %d, want 404", path, code)
		}
	}
	if code, _ := do(t, "PUT", f.metricsSrv.URL+"/v1/checks/alive/pass", ""); code != 404 {
		t.Errorf("metrics listener PUT ttl = %d, want 404", code)
	}
}
