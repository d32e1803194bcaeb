package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/centralhub/centralhub/hub/internal/alert"
	"github.com/centralhub/centralhub/hub/internal/bolt"
	"github.com/centralhub/centralhub/hub/internal/events"
	"github.com/centralhub/centralhub/hub/internal/httpapi"
	"github.com/centralhub/centralhub/hub/internal/registry"
	"github.com/centralhub/centralhub/pkg/auth"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// memberlist's and serf's background timers end a moment after Shutdown returns.
		goleak.IgnoreTopFunction("time.Sleep"),
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).packetHandler"),
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
	)
}

const secret = "0123456789abcdefghijklmnopqrstuvwxyzABCDEF"

type env struct {
	t      *testing.T
	srv    *httptest.Server
	keys   *auth.Keys
	reg    *registry.Registry
	alerts *alert.Engine
	// alertStore is the engine's store: the bolt store, with writes failing on demand.
	alertStore *flakyAlertStore
	// configStore is the API's desired configs: the bolt store, failing on demand.
	configStore *flakyConfigStore
	now         time.Time
	clock       *clock
	store       *bolt.Store
	watch       *events.Watcher // publishes what changed when a test calls Poll
}

// clock is the tokens' clock, moved by tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newEnv(t *testing.T, metricsPublic bool) *env {
	t.Helper()
	return newEnvWith(t, func(c *httpapi.Config) { c.MetricsPublic = metricsPublic })
}

// newEnvWith is newEnv with the API's configuration changed by mutate, which may read the
// registry from c.Registry.
func newEnvWith(t *testing.T, mutate func(*httpapi.Config)) *env {
	t.Helper()
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC) // tokens and registry share this frozen clock
	clk := &clock{t: now}
	keys, err := auth.NewKeys([]byte(secret), auth.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	st, err := bolt.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	rcfg := registry.DefaultConfig()
	rcfg.Now = clk.Now
	reg, err := registry.New(context.Background(), rcfg, st, log)
	if err != nil {
		t.Fatal(err)
	}
	acfg := alert.DefaultConfig()
	acfg.Now = clk.Now // the engine is not run: tests call Evaluate
	astore := &flakyAlertStore{AlertStore: st}
	eng, err := alert.New(context.Background(), acfg, reg, astore, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- reg.Run(ctx) }()
	promReg := prometheus.NewRegistry()
	broker := events.NewBroker(events.BrokerConfig{})
	watch := events.NewWatcher(broker, reg, eng, time.Second, log) // tests call Poll
	watch.Poll()
	cstore := &flakyConfigStore{ConfigStore: st}
	cfg := httpapi.Config{Keys: keys, Registry: reg, Alerts: eng, History: st, Configs: cstore, Events: broker, Registerer: promReg, Gatherer: promReg,
		RegistryCollector: collectorOf(reg), Log: log, Version: "test", MaxBody: 64 << 10}
	mutate(&cfg)
	api, err := httpapi.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(func() {
		srv.Close()
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		_ = st.Close()
	})
	return &env{t: t, srv: srv, keys: keys, reg: reg, alerts: eng, alertStore: astore, configStore: cstore, now: now, clock: clk, store: st, watch: watch}
}

func collectorOf(reg *registry.Registry) func(registry.Visibility, bool) prometheus.Collector {
	return func(v registry.Visibility, hubWide bool) prometheus.Collector {
		return registry.NewCollector(reg, v, hubWide)
	}
}

func (e *env) token(role auth.Role, tenant, service string) string {
	e.t.Helper()
	tok, err := e.keys.Issue(auth.IssueRequest{Role: role, Subject: "t", Tenant: tenant, Service: service, TTL: time.Hour})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

type resp struct {
	code   int
	body   string
	header http.Header
}

func (e *env) do(method, path, token string, body []byte) resp {
	e.t.Helper()
	return e.doWith(method, path, token, body, nil)
}

// doWith is do with extra request headers.
func (e *env) doWith(method, path, token string, body []byte, header map[string]string) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, string(b), res.Header}
}

var bootSeq struct {
	sync.Mutex
	seq uint64
}

func reportJSON(t *testing.T, tenant, service, instance string, st status.Check) []byte {
	t.Helper()
	bootSeq.Lock()
	bootSeq.seq++
	seq := bootSeq.seq
	bootSeq.Unlock()
	r := protocol.Report{Version: 1, Tenant: tenant, Service: service, Instance: instance, Boot: 1, Seq: seq,
		Interval: protocol.Duration(10 * time.Second), Address: "10.0.0.7:8080",
		Checks: []protocol.CheckResult{
			{Name: "web", Kind: "http", Status: st, Output: "HTTP 200", LatencyMS: 1.25},
			{Name: "db", Kind: "tcp", Status: status.Passing, Output: "connected", LatencyMS: 0.5, Component: "postgres-main", Critical: true},
		}}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawToken signs arbitrary claims and header fields, for the attack table.
func rawToken(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestJWTAttacks(t *testing.T) {
	e := newEnv(t, false)
	// tenant beta has a critical service; alpha must never see it
	if r := e.do("POST", "/api/v1/agent/reports", e.token(auth.Agent, "beta", "billing"), reportJSON(t, "beta", "billing", "b1", status.Critical)); r.code != 200 {
		t.Fatalf("seed report: %d %s", r.code, r.body)
	}
	before := e.do("GET", "/api/v1/dashboard/health", e.token(auth.Admin, "*", ""), nil).body

	now := e.now
	good := jwt.MapClaims{"sub": "x", "role": "viewer", "tenant": "default", "iss": "centralhub", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	claimsJSON, _ := json.Marshal(good)
	cases := []struct {
		name   string
		method string
		path   string
		token  string
		body   []byte
		want   int
	}{
		{"no token", "GET", "/api/v1/dashboard/summary", "", nil, 401},
		{"garbage", "GET", "/api/v1/dashboard/summary", "not.a.jwt", nil, 401},
		{"alg none", "GET", "/api/v1/dashboard/summary", b64(`{"alg":"none","typ":"JWT"}`) + "." + b64(string(claimsJSON)) + ".", nil, 401},
		{"HS512 with the right secret", "GET", "/api/v1/dashboard/summary", rawToken(t, jwt.SigningMethodHS512, []byte(secret), good), nil, 401},
		{"HS256 with another secret", "GET", "/api/v1/dashboard/summary", rawToken(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-another"), good), nil, 401},
		{"expired", "GET", "/api/v1/dashboard/summary", rawToken(t, jwt.SigningMethodHS256, []byte(secret), with("exp", now.Add(-time.Hour).Unix())), nil, 401},
		{"not yet valid", "GET", "/api/v1/dashboard/summary", rawToken(t, jwt.SigningMethodHS256, []byte(secret), with("nbf", now.Add(time.Hour).Unix())), nil, 401},
		{"wrong issuer", "GET", "/api/v1/dashboard/summary", rawToken(t, jwt.SigningMethodHS256, []byte(secret), with("iss", "someone-else")), nil, 401},
		{"missing exp", "GET", "/api/v1/dashboard/summary", rawToken(t, jwt.SigningMethodHS256, []byte(secret), with("exp", nil)), nil, 401},
		{"unknown role", "GET", "/api/v1/dashboard/summary", rawToken(t, jwt.SigningMethodHS256, []byte(secret), with("role", "root")), nil, 401},
		{"basic auth scheme", "GET", "/api/v1/dashboard/summary", "", nil, 401},
		{"agent reads dashboard", "GET", "/api/v1/dashboard/summary", e.token(auth.Agent, "default", "orders"), nil, 403},
		{"metrics role reads dashboard", "GET", "/api/v1/dashboard/health", e.token(auth.Metrics, "default", ""), nil, 403},
		{"viewer scrapes metrics", "GET", "/metrics", e.token(auth.Viewer, "default", ""), nil, 403},
		{"viewer posts a report", "POST", "/api/v1/agent/reports", e.token(auth.Viewer, "beta", ""), reportJSON(t, "beta", "billing", "b1", status.Passing), 403},
		{"admin posts a report", "POST", "/api/v1/agent/reports", e.token(auth.Admin, "*", ""), reportJSON(t, "beta", "billing", "b1", status.Passing), 403},
		{"agent posts another service's report", "POST", "/api/v1/agent/reports", e.token(auth.Agent, "beta", "orders"), reportJSON(t, "beta", "billing", "b1", status.Passing), 403},
		{"agent posts another tenant's report", "POST", "/api/v1/agent/reports", e.token(auth.Agent, "alpha", "billing"), reportJSON(t, "beta", "billing", "b1", status.Passing), 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.method, tc.path, tc.token, tc.body)
			if tc.name == "basic auth scheme" {
				req, _ := http.NewRequest("GET", e.srv.URL+tc.path, nil)
				req.SetBasicAuth("admin", "admin")
				res, err := e.srv.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				r = resp{code: res.StatusCode, header: res.Header}
			}
			if r.code != tc.want {
				t.Fatalf("status %d, want %d (%s)", r.code, tc.want, r.body)
			}
			if tc.want == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("401 without WWW-Authenticate: Bearer")
			}
			if tc.body == nil || tc.want == 401 {
				var eb struct{ Error string }
				if r.body != "" && (json.Unmarshal([]byte(r.body), &eb) != nil || eb.Error == "") {
					t.Fatalf("error body is not {\"error\": ...}: %s", r.body)
				}
			}
		})
	}
	if after := e.do("GET", "/api/v1/dashboard/health", e.token(auth.Admin, "*", ""), nil).body; after != before {
		t.Fatalf("refused requests changed the registry:\nbefore %s\nafter  %s", before, after)
	}

	t.Run("viewer of alpha sees nothing of beta", func(t *testing.T) {
		tok := e.token(auth.Viewer, "alpha", "")
		for _, path := range []string{"/api/v1/dashboard/health", "/api/v1/dashboard/summary", "/api/v1/dashboard/health?service=billing"} {
			r := e.do("GET", path, tok, nil)
			if r.code != 200 || strings.Contains(r.body, "billing") || strings.Contains(r.body, "beta") ||
				strings.Contains(r.body, `"status":"unhealthy"`) || strings.Contains(r.body, `"unhealthy":1`) {
				t.Fatalf("%s: %d %s", path, r.code, r.body)
			}
		}
		if r := e.do("GET", "/api/v1/dashboard/summary", e.token(auth.Viewer, "beta", ""), nil); !strings.Contains(r.body, "billing") {
			t.Fatalf("beta's own viewer must see billing: %s", r.body)
		}
	})
}

func TestIngestRejects(t *testing.T) {
	e := newEnv(t, false)
	tok := e.token(auth.Agent, "default", "orders")
	good := reportJSON(t, "default", "orders", "o1", status.Passing)
	if r := e.do("POST", "/api/v1/agent/reports", tok, good); r.code != 200 || !strings.Contains(r.body, `"outcome":"stored"`) {
		t.Fatalf("good report: %d %s", r.code, r.body)
	}
	before := e.do("GET", "/api/v1/dashboard/health", e.token(auth.Viewer, "default", ""), nil).body

	mutate := func(f func(m map[string]any)) []byte {
		var m map[string]any
		_ = json.Unmarshal(reportJSON(t, "default", "orders", "o1", status.Critical), &m)
		f(m)
		b, _ := json.Marshal(m)
		return b
	}
	cases := []struct {
		name string
		body []byte
		code int
		want string
	}{
		{"too large", []byte(`{"version":1,"meta":{"x":"` + strings.Repeat("a", 70<<10) + `"}}`), 413, "larger than the limit of 64 KiB"},
		{"not json", []byte(`{"version":`), 400, "decode report"},
		{"empty", nil, 400, "empty body"},
		{"future version", mutate(func(m map[string]any) { m["version"] = 2 }), 400, "unsupported report version"},
		{"bad check status", mutate(func(m map[string]any) { m["checks"].([]any)[0].(map[string]any)["status"] = "fine" }), 400, "checks[0].status"},
		{"component_meta without component", mutate(func(m map[string]any) {
			m["checks"].([]any)[0].(map[string]any)["component_meta"] = map[string]any{"stand-in": "true"}
		}), 400, "checks[0].component_meta: needs component"},
		{"no instance", mutate(func(m map[string]any) { delete(m, "instance") }), 400, "instance: must not be empty"},
		{"seq as string", mutate(func(m map[string]any) { m["seq"] = "7" }), 400, "seq"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", "/api/v1/agent/reports", tok, tc.body)
			if r.code != tc.code || !strings.Contains(r.body, tc.want) {
				t.Fatalf("got %d %s, want %d containing %q", r.code, r.body, tc.code, tc.want)
			}
		})
	}
	if after := e.do("GET", "/api/v1/dashboard/health", e.token(auth.Viewer, "default", ""), nil).body; after != before {
		t.Fatalf("rejected reports changed the registry:\nbefore %s\nafter  %s", before, after)
	}
}

// TestRateLimited: the ingest limit is per agent instance. An instance over it gets 429 with a
// Retry-After of whole seconds, counted as rate_limited, while another instance of the same
// service, with the same token and reporting between the refused reports in the same (frozen)
// second, is accepted every time: the runaway spends only its own budget.
func TestRateLimited(t *testing.T) {
	e := newEnv(t, false)
	tok := e.token(auth.Agent, "default", "orders")
	limited := func() string {
		m := regexp.MustCompile(`(?m)^centralhub_ingest_rejected_total\{reason="rate_limited"\} (\d+)$`).
			FindStringSubmatch(e.do("GET", "/metrics", e.token(auth.Metrics, "*", ""), nil).body)
		if m == nil {
			t.Fatal("no centralhub_ingest_rejected_total{reason=\"rate_limited\"} in /metrics")
		}
		return m[1]
	}
	if got := limited(); got != "0" {
		t.Fatalf("rate_limited before any report: %s", got)
	}
	// The default is 20 reports/s with a burst of 20, and the clock is frozen.
	for i := range 20 {
		if r := e.do("POST", "/api/v1/agent/reports", tok, reportJSON(t, "default", "orders", "o1", status.Passing)); r.code != 200 {
			t.Fatalf("report %d of o1, within its burst: %d %s", i+1, r.code, r.body)
		}
	}
	for i := range 15 {
		r := e.do("POST", "/api/v1/agent/reports", tok, reportJSON(t, "default", "orders", "o1", status.Passing))
		if r.code != 429 || !strings.Contains(r.body, "too many reports") {
			t.Fatalf("report %d of o1, over its limit: %d %s", 21+i, r.code, r.body)
		}
		if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 {
			t.Fatalf("Retry-After %q: want whole seconds, at least 1", r.header.Get("Retry-After"))
		}
		if r := e.do("POST", "/api/v1/agent/reports", tok, reportJSON(t, "default", "orders", "o2", status.Passing)); r.code != 200 {
			t.Fatalf("report %d of o2 while o1 is limited: %d %s", i+1, r.code, r.body)
		}
	}
	if got := limited(); got != "15" {
		t.Fatalf("centralhub_ingest_rejected_total{reason=\"rate_limited\"} = %s, want 15", got)
	}
	// A second later o1's bucket has refilled.
	e.clock.Add(time.Second)
	if r := e.do("POST", "/api/v1/agent/reports", tok, reportJSON(t, "default", "orders", "o1", status.Passing)); r.code != 200 {
		t.Fatalf("o1 a second later: %d %s", r.code, r.body)
	}
}

func TestMetricsRoute(t *testing.T) {
	e := newEnv(t, false)
	e.do("POST", "/api/v1/agent/reports", e.token(auth.Agent, "default", "orders"), reportJSON(t, "default", "orders", "o1", status.Passing))
	e.do("POST", "/api/v1/agent/reports", e.token(auth.Agent, "beta", "billing"), reportJSON(t, "beta", "billing", "b1", status.Critical))
	everything := []string{
		`centralhub_service_status{service="orders",status="healthy",tenant="default"} 1`,
		`centralhub_service_status{service="billing",status="unhealthy",tenant="beta"} 1`,
		`centralhub_instances{status="passing"} 1`,
		`centralhub_ingest_reports_total{outcome="stored"} 2`,
		`centralhub_store_up 1`,
		`centralhub_history_queue_length{kind="transition"} 0`,
		`centralhub_history_dropped_total{kind="transition"} 0`,
		`centralhub_http_requests_total{code="200",method="POST",route="/api/v1/agent/reports"} 2`,
	}
	for _, tok := range []string{e.token(auth.Metrics, "*", ""), e.token(auth.Admin, "*", "")} {
		r := e.do("GET", "/metrics", tok, nil)
		for _, want := range everything {
			if !strings.Contains(r.body, want) {
				t.Fatalf("scrape with a token of every tenant lacks %q:\n%s", want, r.body)
			}
		}
	}
	// a tenant's metrics token sees its own services and nothing hub-wide
	r := e.do("GET", "/metrics", e.token(auth.Metrics, "default", ""), nil)
	if r.code != 200 || !strings.Contains(r.body, `centralhub_service_status{service="orders",status="healthy",tenant="default"} 1`) ||
		!strings.Contains(r.body, `centralhub_registry_instances 1`) {
		t.Fatalf("tenant scrape: %d\n%s", r.code, r.body)
	}
	for _, leak := range []string{"billing", "beta", "centralhub_ingest_reports_total", "centralhub_store_up", "centralhub_history_", "go_goroutines"} {
		if strings.Contains(r.body, leak) {
			t.Fatalf("tenant scrape shows %q:\n%s", leak, r.body)
		}
	}
	if r := e.do("GET", "/metrics", "", nil); r.code != 401 {
		t.Fatalf("anonymous scrape: %d", r.code)
	}
	pub := newEnv(t, true)
	if r := pub.do("GET", "/metrics", "", nil); r.code != 200 || !strings.Contains(r.body, "centralhub_store_up") {
		t.Fatalf("--metrics-public scrape: %d", r.code)
	}
}

func TestDashboardMetricsScope(t *testing.T) {
	e := newEnv(t, false)
	e.do("POST", "/api/v1/agent/reports", e.token(auth.Agent, "alpha", "orders"), reportJSON(t, "alpha", "orders", "o1", status.Passing))
	r := e.do("GET", "/api/v1/dashboard/metrics", e.token(auth.Viewer, "beta", ""), nil)
	if r.code != 200 || !strings.Contains(r.body, `"registry":{"services":0,"instances":0}`) || strings.Contains(r.body, `"ingest"`) || strings.Contains(r.body, `"store"`) {
		t.Fatalf("beta viewer: %d %s", r.code, r.body)
	}
	r = e.do("GET", "/api/v1/dashboard/metrics", e.token(auth.Admin, "*", ""), nil)
	var m struct {
		Registry registry.Counts
		Ingest   struct{ Total int }
		Store    struct{ Healthy bool }
	}
	if err := json.Unmarshal([]byte(r.body), &m); err != nil || m.Registry.Instances != 1 || m.Ingest.Total != 1 || !m.Store.Healthy {
		t.Fatalf("admin: %s", r.body)
	}
}

func TestTenantQuery(t *testing.T) {
	e := newEnv(t, false)
	for _, tenant := range []string{"default", "beta"} {
		e.do("POST", "/api/v1/agent/reports", e.token(auth.Agent, tenant, "orders"), reportJSON(t, tenant, "orders", "o1", status.Passing))
	}
	admin := e.token(auth.Admin, "*", "")
	cases := []struct {
		token, query string
		code         int
		tenants      string
	}{
		{admin, "?service=orders", 200, "default"},
		{admin, "?service=orders&tenant=beta", 200, "beta"},
		{admin, "", 200, "beta,default"},
		{admin, "?tenant=beta", 200, "beta"},
		{e.token(auth.Viewer, "beta", ""), "?service=orders", 200, "beta"},
		{e.token(auth.Viewer, "beta", ""), "?service=orders&tenant=default", 403, ""},
		{admin, "?tenant=bad%20name", 400, ""},
	}
	for _, tc := range cases {
		r := e.do("GET", "/api/v1/dashboard/health"+tc.query, tc.token, nil)
		if r.code != tc.code {
			t.Fatalf("%s: %d %s", tc.query, r.code, r.body)
		}
		if tc.code != 200 {
			continue
		}
		var h registry.Health
		_ = json.Unmarshal([]byte(r.body), &h)
		var got []string
		for _, s := range h.Services {
			got = append(got, s.Tenant)
		}
		if strings.Join(got, ",") != tc.tenants {
			t.Fatalf("%s: tenants %v, want %s", tc.query, got, tc.tenants)
		}
	}
}

// TestCachedTokenExpires: a token verified once is cached, and still refused once it expires.
func TestCachedTokenExpires(t *testing.T) {
	e := newEnv(t, false)
	tok, err := e.keys.Issue(auth.IssueRequest{Role: auth.Viewer, Subject: "v", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r := e.do("GET", "/api/v1/dashboard/summary", tok, nil); r.code != 200 {
		t.Fatalf("fresh token: %d", r.code)
	}
	e.clock.Add(time.Minute + auth.DefaultLeeway + time.Second)
	if r := e.do("GET", "/api/v1/dashboard/summary", tok, nil); r.code != 401 {
		t.Fatalf("expired cached token: %d %s", r.code, r.body)
	}
}

func TestPublicRoutesShowNoInternals(t *testing.T) {
	e := newEnv(t, false)
	for _, path := range []string{"/health", "/ready"} {
		r := e.do("GET", path, "", nil)
		var m map[string]any
		if err := json.Unmarshal([]byte(r.body), &m); err != nil || r.code != 200 {
			t.Fatalf("%s: %d %s", path, r.code, r.body)
		}
		for k := range m {
			if k != "status" && k != "version" {
				t.Fatalf("%s shows %q", path, k)
			}
		}
	}
}

// TestOpenAPIListsEveryRoute keeps the served OpenAPI document and the router in step.
func TestOpenAPIListsEveryRoute(t *testing.T) {
	e := newEnv(t, false)
	r := e.do("GET", "/api/v1/openapi.json", "", nil)
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal([]byte(r.body), &doc); err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.New(httpapi.Config{Keys: e.keys, Registry: e.reg, Alerts: e.alerts, History: e.store, Configs: e.store, Events: events.NewBroker(events.BrokerConfig{}), Registerer: prometheus.NewRegistry(),
		Gatherer: prometheus.NewRegistry(), RegistryCollector: collectorOf(e.reg)})
	if err != nil {
		t.Fatal(err)
	}
	routed := map[string]bool{}
	err = api.Router().Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil {
			return nil
		}
		methods, err := route.GetMethods()
		if err != nil {
			return nil // a subrouter prefix
		}
		for _, m := range methods {
			key := strings.ToLower(m) + " " + tpl
			routed[key] = true
			if _, ok := doc.Paths[tpl][strings.ToLower(m)]; !ok {
				t.Errorf("route %s %s is not in openapi.json", m, tpl)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for path, ops := range doc.Paths {
		for m := range ops {
			if !routed[m+" "+path] {
				t.Errorf("openapi.json lists %s %s, which is not routed", m, path)
			}
		}
	}
	if len(routed) < 8 {
		t.Fatalf("walked only %d routes", len(routed))
	}
}

func TestHealthQueryValidation(t *testing.T) {
	e := newEnv(t, false)
	tok := e.token(auth.Viewer, "default", "")
	for _, q := range []string{"limit=-1", "limit=abc", "offset=x", "service=bad%20name"} {
		if r := e.do("GET", "/api/v1/dashboard/health?"+q, tok, nil); r.code != 400 || !strings.Contains(r.body, `"error"`) {
			t.Fatalf("%s: %d %s", q, r.code, r.body)
		}
	}
	for i := range 3 {
		e.do("POST", "/api/v1/agent/reports", e.token(auth.Agent, "default", fmt.Sprintf("s%d", i)), reportJSON(t, "default", fmt.Sprintf("s%d", i), "i", status.Passing))
	}
	r := e.do("GET", "/api/v1/dashboard/health?limit=1&offset=2", tok, nil)
	var h registry.Health
	if err := json.Unmarshal([]byte(r.body), &h); err != nil || h.Total != 3 || len(h.Services) != 1 || h.Services[0].Name != "s2" {
		t.Fatalf("page: %s", r.body)
	}
}

func TestWrongMethodIs405(t *testing.T) {
	e := newEnv(t, true)
	viewer := e.token(auth.Viewer, "default", "")
	agent := e.token(auth.Agent, "default", "orders")
	for _, tc := range []struct{ method, path, token string }{
		{"POST", "/health", ""}, {"DELETE", "/ready", ""}, {"PUT", "/metrics", ""},
		{"GET", "/api/v1/agent/reports", agent},
		{"POST", "/api/v1/dashboard/health", viewer}, {"PUT", "/api/v1/dashboard/summary", viewer},
		{"DELETE", "/api/v1/dashboard/metrics", viewer},
		{"PUT", "/api/v1/dashboard/alerts", viewer}, {"GET", "/api/v1/dashboard/alerts/orders/acknowledge", viewer},
		{"PUT", "/api/v1/dashboard/silences", viewer}, {"GET", "/api/v1/dashboard/silences/abc", viewer},
		{"POST", "/api/v1/dashboard/audit", viewer},
		{"POST", "/api/v1/config/orders", viewer}, {"DELETE", "/api/v1/config/orders", viewer},
	} {
		if r := e.do(tc.method, tc.path, tc.token, nil); r.code != 405 || !strings.Contains(r.body, `"error"`) {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, r.code, r.body)
		}
	}
	if r := e.do("GET", "/api/v1/dashboard/nothing", viewer, nil); r.code != 404 {
		t.Errorf("unknown route: %d", r.code)
	}
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGoldenShapes pins the JSON shapes of the dashboard routes; run with -update to accept a
// deliberate change, then review the diff.
func TestGoldenShapes(t *testing.T) {
	e := newEnv(t, false)
	e.do("POST", "/api/v1/agent/reports", e.token(auth.Agent, "default", "orders"), reportJSON(t, "default", "orders", "o1", status.Critical))
	e.do("POST", "/api/v1/agent/reports", e.token(auth.Agent, "default", "orders"), reportJSON(t, "default", "orders", "o2", status.Passing))
	e.do("POST", "/api/v1/agent/reports", e.token(auth.Agent, "default", "payments"), reportJSON(t, "default", "payments", "p1", status.Passing))
	viewer := e.token(auth.Viewer, "default", "")
	for _, g := range []struct{ file, path string }{
		{"health.golden.json", "/api/v1/dashboard/health"},
		{"summary.golden.json", "/api/v1/dashboard/summary"},
		{"metrics.golden.json", "/api/v1/dashboard/metrics"},
	} {
		r := e.do("GET", g.path, viewer, nil)
		var pretty bytes.Buffer
		if err := json.Indent(&pretty, []byte(r.body), "", "  "); err != nil {
			t.Fatalf("%s: %v: %s", g.path, err, r.body)
		}
		got := regexp.MustCompile(`"uptime_seconds": [0-9.e-]+`).ReplaceAll(pretty.Bytes(), []byte(`"uptime_seconds": 0`))
		path := filepath.Join("testdata", g.file)
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from %s:\n%s", g.path, path, got)
		}
	}
}
