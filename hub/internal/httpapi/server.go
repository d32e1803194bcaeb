// Package httpapi is the hub's HTTP API: agent ingest, the authenticated dashboard routes,
// liveness, readiness and /metrics. It is the only package that imports gorilla/mux.
package httpapi

import (
	"context"
	"crypto/tls"
	_ "embed"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/graph"
	"github.com/centralhub/centralhub/hub/internal/perfstats"
	"github.com/centralhub/centralhub/hub/internal/registry"
	"github.com/centralhub/centralhub/hub/internal/ui"
	"github.com/centralhub/centralhub/pkg/auth"
	"github.com/centralhub/centralhub/pkg/protocol"
)

// Registry is what the API needs of the service registry.
type Registry interface {
	Apply(ctx context.Context, rep *protocol.Report) (registry.Result, error)
	Health(q registry.HealthQuery) registry.Health
	Summary(scope string, visible registry.Visibility) registry.Summary
	Counts(visible registry.Visibility) registry.Counts
	StoreStats() registry.StoreStats
	StoreHealth() (ok bool, lastErr string)
	Graph(scope string, visible registry.Visibility) *graph.Graph
	ServiceChecks(tenant, service string) (checks int, known bool)
}

// Config is what New needs. Keys, Registry, Alerts, Registerer, Gatherer and
// RegistryCollector are required.
type Config struct {
	Keys       *auth.Keys
	Registry   Registry
	Alerts     Alerts
	Registerer prometheus.Registerer // where the API's own metrics go
	// Gatherer has the hub-wide series /metrics serves to tokens of every tenant.
	Gatherer prometheus.Gatherer
	// RegistryCollector gives the registry's series for the tenants visible allows; hubWide
	// adds the hub-wide store series.
	RegistryCollector func(visible registry.Visibility, hubWide bool) prometheus.Collector
	Log               *slog.Logger
	Version           string
	MetricsPublic     bool            // serve /metrics without a token
	MaxBody           int64           // report body cap in bytes (default 1 MiB)
	Ready             func() error    // nil when the hub can serve; the reason otherwise
	Degraded          func() string   // optional: why the hub is degraded besides its store, or ""
	Members           Members         // gossip members; nil when gossip is off
	Keyring           Keyring         // the gossip keyring; nil when gossip is off
	History           History         // the store's history; required
	Configs           hub.ConfigStore // the store's desired configs; required
	// Now is the clock of what the API stamps (a desired config's updated_at); default Keys.Now.
	Now    func() time.Time
	Events Broker // the live feed of changes; required
	// HistoryInterval is the registry's sample interval, the finest step history is served at.
	HistoryInterval time.Duration
	// Leader says, when several hubs share a database, whether this hub leads alerting and
	// else the API URL of the one that does, where changes to alerts are forwarded. Nil: this
	// hub always leads.
	Leader func(ctx context.Context) (self bool, url string, err error)
	// RequireClientCert makes the agent routes — reports, and a desired config read with an
	// agent token — refuse (403) a request whose TLS connection presented no verified client
	// certificate. The listener verifies a certificate when one is presented; the other
	// routes never ask for one, so browsers and Prometheus go on with tokens alone.
	RequireClientCert bool
	// ForwardTLS configures the TLS of changes forwarded to the leading hub at an https URL
	// (its RootCAs); nil: Go's defaults, the system roots.
	ForwardTLS *tls.Config
	// Backup is the embedded store, for GET /api/v1/admin/backup; nil on PostgreSQL.
	Backup Backuper
}

// Server routes the hub's HTTP API.
type Server struct {
	cfg     Config
	log     *slog.Logger
	router  *mux.Router
	metrics *metrics
	ingest  *perfstats.Recorder
	tokens  *tokenCache
	forward *http.Client // to the leading hub
	started time.Time

	streamsDone chan struct{} // closed by StopStreams
	stopStreams sync.Once
}

// DefaultMaxBody is the report body cap when Config.MaxBody is zero.
const DefaultMaxBody = 1 << 20

// New builds the API's routes and registers its metrics.
func New(cfg Config) (*Server, error) {
	if cfg.Alerts == nil {
		return nil, errors.New("httpapi config: Alerts is required")
	}
	if cfg.History == nil {
		return nil, errors.New("httpapi config: History is required")
	}
	if cfg.Events == nil {
		return nil, errors.New("httpapi config: Events is required")
	}
	if cfg.Configs == nil {
		return nil, errors.New("httpapi config: Configs is required")
	}
	if cfg.Now == nil {
		cfg.Now = cfg.Keys.Now
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Ready == nil {
		cfg.Ready = func() error { return nil }
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, log: cfg.Log.With("component", "httpapi"), metrics: m,
		ingest: perfstats.New(cfg.Keys.Now), tokens: newTokenCache(cfg.Keys), started: time.Now(),
		streamsDone: make(chan struct{}),
	}
	s.forward = newForwardClient(cfg.ForwardTLS)
	s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler, recovering from a handler's panic with a 500.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("handler panicked", "panic", v, "route", r.URL.Path)
			writeJSON(w, http.StatusInternalServerError, errorBody{"internal error"})
		}
	}()
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	s.router.ServeHTTP(w, r)
}

// routes registers every route, resource by resource. The OpenAPI document lists the same.
func (s *Server) routes() {
	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, errorBody{"no such route"})
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{"method not allowed on this route"})
	})
	r.Use(s.instrument)

	page := ui.Handler() // the dashboard page: it reads the API below with the user's token
	r.Handle("/", page).Methods(http.MethodGet)
	r.Handle("/static/{file}", page).Methods(http.MethodGet)
	r.Handle("/health", s.handle(s.health)).Methods(http.MethodGet)
	r.Handle("/ready", s.handle(s.ready)).Methods(http.MethodGet)
	r.Handle("/api/v1/openapi.json", s.handle(s.openapi)).Methods(http.MethodGet)
	r.Handle("/metrics", s.metricsGuard(http.HandlerFunc(s.serveMetrics))).Methods(http.MethodGet)

	agent := r.PathPrefix("/api/v1/agent").Subrouter()
	agent.Use(s.authenticate, s.requireExact(auth.Agent), s.requireClientCert)
	agent.Handle(strings.TrimPrefix(protocol.ReportPath, "/api/v1/agent"), s.handle(s.postReport)).Methods(http.MethodPost)

	dash := r.PathPrefix("/api/v1/dashboard").Subrouter()
	dash.Use(s.authenticate, s.require(auth.Viewer))
	dash.Handle("/health", s.handle(s.dashboardHealth)).Methods(http.MethodGet)
	dash.Handle("/summary", s.handle(s.dashboardSummary)).Methods(http.MethodGet)
	dash.Handle("/metrics", s.handle(s.dashboardMetrics)).Methods(http.MethodGet)
	dash.Handle("/members", s.handle(s.dashboardMembers)).Methods(http.MethodGet)
	dash.Handle("/events", s.handle(s.streamEvents)).Methods(http.MethodGet)
	dash.Handle("/dependencies", s.handle(s.dependencies)).Methods(http.MethodGet)
	dash.Handle("/dependencies/{service}", s.handle(s.serviceDependencies)).Methods(http.MethodGet)
	dash.Handle("/services/{service}/history", s.handle(s.serviceHistory)).Methods(http.MethodGet)
	dash.Handle("/impact-analysis", s.handle(s.impactAnalysis)).Methods(http.MethodGet)
	operator, adminOnly := s.require(auth.Operator), s.require(auth.Admin)
	dash.Handle("/alerts", s.handle(s.listAlerts)).Methods(http.MethodGet)
	// Changes to alerts are the leading hub's to make: another hub forwards them there.
	dash.Handle("/alerts/{component}/acknowledge", operator(s.toLeader(s.handle(s.acknowledge)))).Methods(http.MethodPost)
	dash.Handle("/alerts/{component}/acknowledge", operator(s.toLeader(s.handle(s.unacknowledge)))).Methods(http.MethodDelete)
	dash.Handle("/silences", s.handle(s.listSilences)).Methods(http.MethodGet)
	dash.Handle("/silences", operator(s.toLeader(s.handle(s.createSilence)))).Methods(http.MethodPost)
	dash.Handle("/silences/{id}", operator(s.toLeader(s.handle(s.deleteSilence)))).Methods(http.MethodDelete)
	dash.Handle("/audit", adminOnly(s.handle(s.audit))).Methods(http.MethodGet)

	// Desired configs: no forwarding to the leader, since the store itself checks and raises
	// the version, so any hub may write.
	conf := r.PathPrefix("/api/v1/config").Subrouter()
	conf.Use(s.authenticate)
	conf.Handle("/{service}", s.configReaders(s.handle(s.getConfig))).Methods(http.MethodGet)
	conf.Handle("/{service}", adminOnly(s.handle(s.putConfig))).Methods(http.MethodPut)

	admin := r.PathPrefix("/api/v1/admin").Subrouter()
	admin.Use(s.authenticate, s.require(auth.Admin), s.requireAllTenants)
	admin.Handle("/gossip/keys", s.handle(s.listGossipKeys)).Methods(http.MethodGet)
	admin.Handle("/gossip/keys", s.handle(s.changeGossipKey)).Methods(http.MethodPost, http.MethodPut, http.MethodDelete)
	admin.Handle("/backup", s.handle(s.backup)).Methods(http.MethodGet)

	// gorilla/mux loses a method mismatch when a later route of the same router fails on its
	// path, answering 404; a method-less route per path, registered last, answers 405.
	for router, paths := range map[*mux.Router][]string{
		r:     {"/health", "/ready", "/api/v1/openapi.json", "/metrics"},
		agent: {"/reports"},
		dash: {"/health", "/summary", "/metrics", "/members", "/dependencies", "/dependencies/{service}", "/impact-analysis",
			"/alerts", "/alerts/{component}/acknowledge", "/silences", "/silences/{id}", "/audit"},
		conf:  {"/{service}"},
		admin: {"/gossip/keys", "/backup"},
	} {
		for _, p := range paths {
			router.Handle(p, r.MethodNotAllowedHandler)
		}
	}
	s.router = r
}

// Router exposes the routes for tests that check them against the OpenAPI document.
func (s *Server) Router() *mux.Router { return s.router }

// serveMetrics serves the exposition: everything to a token of every tenant (or to anyone
// with MetricsPublic), and only its own tenant's registry series to a tenant's token.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	c := claimsFrom(r.Context())
	var g prometheus.Gatherers
	if c == nil || c.Tenant == auth.AllTenants {
		g = prometheus.Gatherers{s.cfg.Gatherer, gathererOf(s.cfg.RegistryCollector(func(string) bool { return true }, true))}
	} else {
		g = prometheus.Gatherers{gathererOf(s.cfg.RegistryCollector(c.SeesTenant, false))}
	}
	promhttp.HandlerFor(g, promhttp.HandlerOpts{ErrorLog: slogPrinter{s.log}}).ServeHTTP(w, r)
}

func gathererOf(c prometheus.Collector) prometheus.Gatherer {
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	return reg
}

type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Error("metrics exposition", "err", v) }

// health is the hub's own liveness; it shows no internals.
func (s *Server) health(w http.ResponseWriter, _ *http.Request) error {
	st := "healthy"
	if ok, _ := s.cfg.Registry.StoreHealth(); !ok || (s.cfg.Degraded != nil && s.cfg.Degraded() != "") {
		st = "degraded"
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": st, "version": s.cfg.Version})
	return nil
}

func (s *Server) ready(w http.ResponseWriter, _ *http.Request) error {
	if err := s.cfg.Ready(); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

//go:embed openapi.json
var openapiDoc []byte

func (s *Server) openapi(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(openapiDoc)
	return err
}

// handlerFunc is a handler that returns its error for handle to write.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func queryInt(r *http.Request, name string, def, max int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > max {
		return 0, badRequest("query %s: want a whole number from 0 to %d", name, max)
	}
	return n, nil
}
