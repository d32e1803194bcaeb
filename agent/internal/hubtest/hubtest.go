// Package hubtest is a fake hub for tests: an httptest server that validates the reports agents
// POST to it, records them, and answers with whatever status the test chooses. Production code
// never imports it.
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

	mu       sync.Mutex
	requests []Request
	respond  Responder
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

func (h *Hub) serve(w http.ResponseWriter, r *http.Request) {
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
