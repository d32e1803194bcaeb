// Package hubtest is a fake hub for tests: an httptest server that validates the reports agents
// POST to it, records them, and answers with whatever status the test chooses; it also serves
// the desired configs a test stores (GET /api/v1/config/{service}, with ETag and 304). Production
// code never imports it.
package hubtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/centralhub/centralhub/pkg/configdoc"
	"github.com/centralhub/centralhub/pkg/protocol"
)

// Request is one report POST the fake hub received.
type Request struct {
	Report      protocol.Report
	Invalid     string // why protocol validation refused the report, or ""
	Token       string // the bearer token, without "Bearer "
	UserAgent   string
	ContentType string
	Status      int // what the fake hub answered
}

// Responder picks the answer to the n-th report POST (from 0): a status code and, for non-2xx,
// the error text sent as {"error": text}. Validation failures are answered 400 before it runs.
type Responder func(n int, req *Request) (status int, errText string)

// Hub is a running fake hub.
type Hub struct {
	srv *httptest.Server

	mu           sync.Mutex
	requests     []Request
	respond      Responder
	configs      map[string]storedConfig // desired configs by service
	configGets   []ConfigGet
	configStatus int // when not 0, every config GET is answered with it
}

type storedConfig struct {
	version int64
	object  map[string]any
}

// ConfigGet is one desired-config GET the fake hub received.
type ConfigGet struct {
	Service     string
	IfNoneMatch string
	Token       string
	Status      int // what the fake hub answered
}

// New starts a fake hub that accepts every valid report; it is closed when the test ends.
func New(t testing.TB) *Hub {
	h := &Hub{}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

// URL is the hub's base URL, for hub.url.
func (h *Hub) URL() string { return h.srv.URL }

// Close stops the hub; later sends to it fail to connect.
func (h *Hub) Close() { h.srv.Close() }

// SetResponder replaces how the hub answers; nil accepts every valid report.
func (h *Hub) SetResponder(f Responder) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.respond = f
}

// Requests returns every report POST so far, in arrival order.
func (h *Hub) Requests() []Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Request(nil), h.requests...)
}

// Accepted returns the reports the hub answered 2xx, in arrival order.
func (h *Hub) Accepted() []protocol.Report {
	var out []protocol.Report
	for _, r := range h.Requests() {
		if r.Status >= 200 && r.Status < 300 {
			out = append(out, r.Report)
		}
	}
	return out
}

// WaitAccepted polls until cond holds for the accepted reports, or fails the test after 15s.
func (h *Hub) WaitAccepted(t testing.TB, what string, cond func([]protocol.Report) bool) []protocol.Report {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		reps := h.Accepted()
		if cond(reps) {
			return reps
		}
		if time.Now().After(deadline) {
			t.Fatalf("fake hub: timed out waiting for %s (%d reports accepted)", what, len(reps))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// WaitRequests polls until at least n report POSTs arrived, or fails the test after 15s.
func (h *Hub) WaitRequests(t testing.TB, n int) []Request {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		reqs := h.Requests()
		if len(reqs) >= n {
			return reqs
		}
		if time.Now().After(deadline) {
			t.Fatalf("fake hub: timed out waiting for %d requests (got %d)", n, len(reqs))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// SetDesiredConfig stores the desired config of service, a JSON object, at version, as an
// admin's PUT would; the next GET for that service answers it.
func (h *Hub) SetDesiredConfig(t testing.TB, service string, version int64, object string) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(object))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		t.Fatalf("fake hub: desired config %s: not a JSON object: %v", object, err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.configs == nil {
		h.configs = map[string]storedConfig{}
	}
	h.configs[service] = storedConfig{version, obj}
}

// SetConfigStatus makes every desired-config GET answer status (with an error body); 0 serves
// the stored configs again.
func (h *Hub) SetConfigStatus(status int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.configStatus = status
}

// ConfigGets returns every desired-config GET so far, in arrival order.
func (h *Hub) ConfigGets() []ConfigGet {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]ConfigGet(nil), h.configGets...)
}

// serveConfig answers GET /api/v1/config/{service} as the hub does for an agent token: the
// stored object unredacted, its version as ETag, 304 when If-None-Match names it, 404 when
// nothing is stored.
func (h *Hub) serveConfig(w http.ResponseWriter, r *http.Request, service string) {
	get := ConfigGet{
		Service:     service,
		IfNoneMatch: r.Header.Get("If-None-Match"),
		Token:       strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "),
	}
	h.mu.Lock()
	stored, ok := h.configs[service]
	forced := h.configStatus
	h.mu.Unlock()
	etag := fmt.Sprintf("%q", fmt.Sprint(stored.version))
	switch {
	case forced != 0:
		get.Status = forced
		writeError(w, forced, "forced by the test")
	case !ok:
		get.Status = http.StatusNotFound
		writeError(w, http.StatusNotFound, "no desired config for "+service)
	case get.IfNoneMatch == etag:
		get.Status = http.StatusNotModified
		w.Header().Set("ETag", etag)
		w.WriteHeader(http.StatusNotModified)
	default:
		get.Status = http.StatusOK
		flat, err := configdoc.FromObject(stored.object)
		if err != nil {
			get.Status = http.StatusInternalServerError
			writeError(w, get.Status, err.Error())
			break
		}
		w.Header().Set("ETag", etag)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"tenant": protocol.DefaultTenant, "service": service, "version": stored.version,
			"config": stored.object, "checksum": flat.Checksum(),
			"updated_by": "admin", "updated_at": time.Now().UTC(),
		})
	}
	h.mu.Lock()
	h.configGets = append(h.configGets, get)
	h.mu.Unlock()
}

func (h *Hub) serve(w http.ResponseWriter, r *http.Request) {
	if service, ok := strings.CutPrefix(r.URL.Path, "/api/v1/config/"); ok && r.Method == http.MethodGet {
		h.serveConfig(w, r, service)
		return
	}
	if r.URL.Path != protocol.ReportPath || r.Method != http.MethodPost {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	req := Request{
		Token:       strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "),
		UserAgent:   r.UserAgent(),
		ContentType: r.Header.Get("Content-Type"),
	}
	rep, err := protocol.Decode(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = rep.Validate()
		req.Report = *rep
	}
	h.mu.Lock()
	n, respond := len(h.requests), h.respond
	h.mu.Unlock()
	status, errText := http.StatusAccepted, ""
	switch {
	case err != nil:
		req.Invalid = err.Error()
		status, errText = http.StatusBadRequest, err.Error()
	case respond != nil:
		status, errText = respond(n, &req)
	}
	req.Status = status
	h.mu.Lock()
	h.requests = append(h.requests, req)
	h.mu.Unlock()
	if status >= 200 && status < 300 {
		w.WriteHeader(status)
		return
	}
	writeError(w, status, errText)
}

func writeError(w http.ResponseWriter, status int, text string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": text})
}

// Seqs lists the seq of each report, for failure messages.
func Seqs(reps []protocol.Report) string {
	parts := make([]string, len(reps))
	for i, r := range reps {
		parts[i] = fmt.Sprint(r.Seq)
	}
	return strings.Join(parts, ",")
}
