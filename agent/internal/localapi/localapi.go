// Package localapi serves the agent's local HTTP API (loopback by default): the agent's own
// health, the latest check results, TTL updates posted by the service, and Prometheus metrics.
package localapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/centralhub/centralhub/agent/internal/check"
	"github.com/centralhub/centralhub/agent/internal/hubclient"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// MaxBody caps the body of a TTL update.
const MaxBody = 64 << 10

// Checks is what the API needs from the check runner.
type Checks interface {
	Results() []protocol.CheckResult
	// UpdateTTL returns check.ErrUnknownCheck or check.ErrNotTTL when name is not a ttl check.
	UpdateTTL(name string, st status.Check, output string) error
}

// Deliveries tells the API how the latest report send went.
type Deliveries interface {
	LastDelivery() hubclient.Delivery
}

// Config holds what the API serves.
type Config struct {
	Service    string
	Instance   string
	Version    string
	Checks     Checks
	Deliveries Deliveries
	Metrics    http.Handler // serves /metrics
	Logger     *slog.Logger
	// Gossip, when the agent gossips, returns the "gossip" object of /health (any JSON-encodable
	// value); nil leaves it out.
	Gossip func() any
	// Config returns the config checks' state, served on /v1/config; nil serves status none.
	Config func() protocol.ConfigState
}

// ttlActions maps the last path segment of a TTL update to the status it sets (Consul's words).
var ttlActions = map[string]status.Check{
	"pass": status.Passing,
	"warn": status.Warning,
	"fail": status.Critical,
}

// Handler returns the full local API:
//
//	GET  /health                         the agent's own health
//	GET  /v1/checks                      latest check results
//	GET  /v1/config                      config checks' state: the report's config object
//	PUT|POST /v1/checks/{name}/pass|warn|fail   TTL update; body or ?note= is the output
//	GET  /metrics                        Prometheus exposition
//
// Answers from these routes are JSON (errors as {"error": "..."}); a path or method that matches
// no route gets net/http's plain 404 or 405.
func Handler(cfg Config) http.Handler {
	a := &api{cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", a.health)
	mux.HandleFunc("GET /v1/checks", a.checks)
	mux.HandleFunc("GET /v1/config", a.config)
	mux.HandleFunc("PUT /v1/checks/{name}/{action}", a.updateTTL)
	mux.HandleFunc("POST /v1/checks/{name}/{action}", a.updateTTL)
	mux.Handle("GET /metrics", cfg.Metrics)
	return mux
}

// MetricsHandler returns the API of metrics_listen: GET /metrics and nothing else (404).
func MetricsHandler(metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	return mux
}

type api struct {
	cfg Config
}

type lastReport struct {
	At    *time.Time `json:"at"` // null before the first attempt
	OK    bool       `json:"ok"`
	Error string     `json:"error"`
}

type health struct {
	Status     string     `json:"status"`
	Service    string     `json:"service"`
	Instance   string     `json:"instance"`
	Version    string     `json:"version"`
	LastReport lastReport `json:"last_report"`
	Gossip     any        `json:"gossip,omitempty"`
}

func (a *api) health(w http.ResponseWriter, _ *http.Request) {
	d := a.cfg.Deliveries.LastDelivery()
	last := lastReport{OK: d.OK, Error: d.Error}
	if !d.At.IsZero() {
		last.At = &d.At
	}
	h := health{
		Status: "ok", Service: a.cfg.Service, Instance: a.cfg.Instance, Version: a.cfg.Version,
		LastReport: last,
	}
	if a.cfg.Gossip != nil {
		h.Gossip = a.cfg.Gossip()
	}
	writeJSON(w, http.StatusOK, h)
}

func (a *api) checks(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, a.cfg.Checks.Results())
}

func (a *api) config(w http.ResponseWriter, _ *http.Request) {
	st := protocol.ConfigState{Status: protocol.ConfigNone, Problems: []protocol.ConfigProblem{}}
	if a.cfg.Config != nil {
		st = a.cfg.Config()
	}
	writeJSON(w, http.StatusOK, st)
}

func (a *api) updateTTL(w http.ResponseWriter, r *http.Request) {
	name, action := r.PathValue("name"), r.PathValue("action")
	st, ok := ttlActions[action]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown action %q (want pass, warn or fail)", action))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", MaxBody))
			return
		}
		writeError(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	output := string(body)
	if strings.TrimSpace(output) == "" {
		output = r.URL.Query().Get("note")
	}
	output = protocol.Truncate(strings.ToValidUTF8(output, "\uFFFD"), protocol.MaxOutput)
	switch err := a.cfg.Checks.UpdateTTL(name, st, output); {
	case errors.Is(err, check.ErrUnknownCheck):
		writeError(w, http.StatusNotFound, fmt.Sprintf("no check named %q", name))
		return
	case errors.Is(err, check.ErrNotTTL):
		writeError(w, http.StatusBadRequest, fmt.Sprintf("check %q is not a ttl check", name))
		return
	case err != nil:
		a.cfg.Logger.Error("ttl update", "check", name, "err", err)
		writeError(w, http.StatusInternalServerError, "internal error")
		return
	}
	a.cfg.Logger.Debug("ttl update", "check", name, "status", st)
	writeJSON(w, http.StatusOK, map[string]string{"name": name, "status": string(st)})
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
