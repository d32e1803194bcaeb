package hubclient

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/centralhub/centralhub/agent/internal/hubtest"
	"github.com/centralhub/centralhub/pkg/protocol"
)

func TestFetchDesiredConfig(t *testing.T) {
	hub := hubtest.New(t)
	s := newSender(t, []string{hub.URL()}, StaticToken("agent-token"), nil)
	ctx := context.Background()

	if _, err := s.FetchDesiredConfig(ctx, "orders", 0); !errors.Is(err, ErrNoDesiredConfig) {
		t.Fatalf("fetch with nothing stored = %v, want ErrNoDesiredConfig", err)
	}
	hub.SetDesiredConfig(t, "orders", 2, `{"db": {"url": "x", "pool": {"max": 20}}}`)
	dc, err := s.FetchDesiredConfig(ctx, "orders", 0)
	if err != nil {
		t.Fatal(err)
	}
	if dc.Version != 2 || dc.Service != "orders" || !strings.HasPrefix(dc.Checksum, "sha256:") || dc.UpdatedAt.IsZero() {
		t.Fatalf("desired config = %+v", dc)
	}
	if n, ok := dc.Config["db"].(map[string]any)["pool"].(map[string]any)["max"].(json.Number); !ok || n != "20" {
		t.Fatalf("a number decoded as %T %v, want json.Number 20", n, n)
	}
	if _, err := s.FetchDesiredConfig(ctx, "orders", 2); !errors.Is(err, ErrNotModified) {
		t.Fatalf("fetch of the known version = %v, want ErrNotModified", err)
	}
	if _, err := s.FetchDesiredConfig(ctx, "orders", 1); err != nil {
		t.Fatalf("fetch with an older version known = %v", err)
	}
	gets := hub.ConfigGets()
	for i, want := range []string{"", "", `"2"`, `"1"`} {
		if gets[i].IfNoneMatch != want || gets[i].Token != "agent-token" || gets[i].Service != "orders" {
			t.Errorf("GET %d = %+v, want If-None-Match %q with the agent's token", i, gets[i], want)
		}
	}
}

func TestFetchDesiredConfigFailsOver(t *testing.T) {
	down := hubtest.New(t)
	down.SetConfigStatus(http.StatusServiceUnavailable)
	gone := hubtest.New(t)
	gone.Close()
	up := hubtest.New(t)
	up.SetDesiredConfig(t, "orders", 7, `{"a": 1}`)
	s := newSender(t, []string{down.URL(), gone.URL(), up.URL()}, StaticToken("t"), nil)
	dc, err := s.FetchDesiredConfig(context.Background(), "orders", 0)
	if err != nil || dc.Version != 7 {
		t.Fatalf("fetch = %+v, %v; want version 7 from the third hub", dc, err)
	}
	// The next fetch goes straight to the hub that answered.
	if _, err := s.FetchDesiredConfig(context.Background(), "orders", 7); !errors.Is(err, ErrNotModified) {
		t.Fatalf("second fetch = %v, want ErrNotModified", err)
	}
	if n := len(down.ConfigGets()); n != 1 {
		t.Errorf("the failing hub saw %d GETs, want 1", n)
	}

	// Every hub failing: one error naming them all.
	up.SetConfigStatus(http.StatusBadGateway)
	_, err = s.FetchDesiredConfig(context.Background(), "orders", 7)
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "502") {
		t.Fatalf("fetch with every hub failing = %v", err)
	}
}

func TestFetchDesiredConfigForbiddenDoesNotFailOver(t *testing.T) {
	first := hubtest.New(t)
	first.SetConfigStatus(http.StatusForbidden)
	second := hubtest.New(t)
	second.SetDesiredConfig(t, "orders", 1, `{}`)
	s := newSender(t, []string{first.URL(), second.URL()}, StaticToken("t"), nil)
	if _, err := s.FetchDesiredConfig(context.Background(), "orders", 0); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("fetch = %v, want the 403", err)
	}
	if n := len(second.ConfigGets()); n != 0 {
		t.Errorf("the second hub saw %d GETs; a 403 must not fail over", n)
	}
}

// refreshingToken is "old" until asked to refresh, then "new".
type refreshingToken struct {
	mu        sync.Mutex
	refreshed bool
}

func (r *refreshingToken) Token(refresh bool) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refreshed = r.refreshed || refresh
	if r.refreshed {
		return "new", nil
	}
	return "old", nil
}

func TestFetchDesiredConfigRereadsTokenAfter401(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer new" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error": "token expired"}`))
			return
		}
		w.Write([]byte(`{"tenant": "default", "service": "orders", "version": 1, "config": {}}`))
	}))
	defer srv.Close()
	s := newSender(t, []string{srv.URL}, &refreshingToken{}, nil)
	if dc, err := s.FetchDesiredConfig(context.Background(), "orders", 0); err != nil || dc.Version != 1 {
		t.Fatalf("fetch = %+v, %v; want version 1 after re-reading the token", dc, err)
	}
}

func TestFetchDesiredConfigRefusesBadAnswers(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"no version", `{"config": {}}`, "version 0"},
		{"no config", `{"version": 1}`, "no config object"},
		{"not JSON", `<html>`, "decode desired config"},
		{"config not an object", `{"version": 1, "config": [1]}`, "decode desired config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			s := newSender(t, []string{srv.URL}, StaticToken("t"), nil)
			if _, err := s.FetchDesiredConfig(context.Background(), "orders", 0); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("fetch = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// fakeConfig is a config checker whose state the test sets.
type fakeConfig struct {
	mu      sync.Mutex
	state   protocol.ConfigState
	changed chan struct{}
}

func (f *fakeConfig) State() protocol.ConfigState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state
}

func (f *fakeConfig) Changed() <-chan struct{} { return f.changed }

func (f *fakeConfig) set(st protocol.ConfigState) {
	f.mu.Lock()
	f.state = st
	f.mu.Unlock()
	f.changed <- struct{}{}
}

func TestReporterSendsConfigChangesAtOnce(t *testing.T) {
	hub := hubtest.New(t)
	s := newSender(t, []string{hub.URL()}, StaticToken("t"), nil)
	cfg := &fakeConfig{state: protocol.ConfigState{Status: protocol.ConfigInSync}, changed: make(chan struct{}, 1)}
	r := NewReporter(base(time.Hour), newFakeChecks(), s, discard()) // no heartbeat within the test
	r.SetConfigChecks(cfg)
	run(t, s.Run)
	run(t, r.Run)
	reps := hub.WaitAccepted(t, "the first report", func(reps []protocol.Report) bool { return len(reps) == 1 })
	if c := reps[0].Config; c.Status != protocol.ConfigInSync || c.Problems == nil {
		t.Fatalf("first report's config = %+v, want in_sync with an empty problem list", c)
	}
	drifted := protocol.ConfigState{Status: protocol.ConfigDrifted, Version: "3",
		Problems: []protocol.ConfigProblem{{File: "/etc/a.yaml", Key: "db.url", Reason: "differs from desired version 3"}}}
	cfg.set(drifted)
	reps = hub.WaitAccepted(t, "the config change", func(reps []protocol.Report) bool { return len(reps) == 2 })
	if c := reps[1].Config; c.Status != drifted.Status || c.Version != "3" || len(c.Problems) != 1 || c.Problems[0] != drifted.Problems[0] {
		t.Fatalf("second report's config = %+v, want %+v", c, drifted)
	}
}
