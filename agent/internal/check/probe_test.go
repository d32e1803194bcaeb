package check

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/agent/internal/procgroup/procgrouptest"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

func TestHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			fmt.Fprint(w, "all good")
		case "/down":
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, "db unreachable")
		case "/created":
			w.WriteHeader(http.StatusCreated)
		case "/redirect":
			http.Redirect(w, r, "/ok", http.StatusFound)
		case "/echo":
			fmt.Fprintf(w, "method=%s host=%s x-probe=%s ua=%s", r.Method, r.Host, r.Header.Get("X-Probe"), r.UserAgent())
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	tests := []struct {
		name       string
		check      config.HTTPCheck
		want       status.Check
		wantOutput string
	}{
		{"2xx in default range", config.HTTPCheck{URL: "/ok"}, status.Passing, "GET %s/ok: 200 OK"},
		{"503 outside range", config.HTTPCheck{URL: "/down"}, status.Critical, "503 Service Unavailable (want 200-299)\ndb unreachable"},
		{"exact code matches", config.HTTPCheck{URL: "/created", ExpectStatus: "201"}, status.Passing, "201 Created"},
		{"exact code mismatch", config.HTTPCheck{URL: "/ok", ExpectStatus: "201,204"}, status.Critical, "(want 201,204)"},
		{"redirect is not followed", config.HTTPCheck{URL: "/redirect"}, status.Critical, "302 Found"},
		{"3xx range accepts redirect", config.HTTPCheck{URL: "/redirect", ExpectStatus: "200,300-399"}, status.Passing, "302 Found"},
		{"404", config.HTTPCheck{URL: "/missing"}, status.Critical, "404 Not Found"},
		{"body contains", config.HTTPCheck{URL: "/ok", BodyContains: "good"}, status.Passing, "200 OK"},
		{"body lacks substring", config.HTTPCheck{URL: "/ok", BodyContains: "great"}, status.Critical, `body does not contain "great"`},
		{"method and headers sent", config.HTTPCheck{URL: "/echo", Method: "POST", BodyContains: "method=POST host=svc.internal x-probe=1 ua=test-agent",
			Headers: map[string]string{"Host": "svc.internal", "X-Probe": "1"}}, status.Passing, "POST"},
		{"connection refused", config.HTTPCheck{URL: "http://" + closedAddr(t) + "/"}, status.Critical, "connection refused"},
		{"password in the URL is masked", config.HTTPCheck{URL: "/down"}, status.Critical, "://probe:xxxxx@"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.check
			if strings.HasPrefix(c.URL, "/") {
				c.URL = srv.URL + c.URL
			}
			if strings.HasPrefix(tt.name, "password") {
				c.URL = strings.Replace(c.URL, "://", "://probe:s3cret@", 1)
			}
			c.ExpectStatus = cmpOr(c.ExpectStatus, "200-299")
			p, err := NewHTTP(&c, "test-agent")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			got := p.Probe(ctx)
			want := tt.wantOutput
			if strings.Contains(want, "%s") {
				want = fmt.Sprintf(want, srv.URL)
			}
			if got.Status != tt.want || !strings.Contains(got.Output, want) || strings.Contains(got.Output, "s3cret") {
				t.Fatalf("Probe = %s %q, want %s containing %q", got.Status, got.Output, tt.want, want)
			}
		})
	}
}

func TestHTTPTimeoutIsCritical(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	r, _ := startRunner(t, []config.Check{{Name: "slow", Interval: 500 * time.Millisecond, Timeout: 100 * time.Millisecond,
		HTTP: &config.HTTPCheck{URL: srv.URL}}}, nil)
	waitFor(t, "slow check to time out", func() bool { return result(r, "slow").Status != status.Unknown })
	got := result(r, "slow")
	if got.Status != status.Critical || !strings.HasPrefix(got.Output, "timed out after 100ms") {
		t.Fatalf("result = %s %q, want critical \"timed out after 100ms\"", got.Status, got.Output)
	}
}

// closedAddr returns a loopback address on which nothing listens.
func closedAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// shortTimeout bounds the probes of the test cases that are meant to time out: those whose
// names say "muted" (a silentServer) or "short timeout".
const shortTimeout = 300 * time.Millisecond

// probeTimeout is how long the probe of the test case name may take: 5s, or shortTimeout.
func probeTimeout(name string) time.Duration {
	if strings.Contains(name, "muted") || strings.Contains(name, "short_timeout") {
		return shortTimeout
	}
	return 5 * time.Second
}

// mustProber builds the prober of a check's configuration c with build (NewMQTT, NewKafka, ...),
// failing the test if it refuses c.
func mustProber[C any, P Prober](t testing.TB, build func(*C) (P, error), c C) P {
	t.Helper()
	p, err := build(&c)
	if err != nil {
		t.Fatalf("new prober of %+v: %v", c, err)
	}
	return p
}

// expectProbe probes p once, for at most probeTimeout of the test's name, and checks its result
// as expectResult does.
func expectProbe(t testing.TB, p Prober, want status.Check, out []string, secrets ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout(t.Name()))
	defer cancel()
	expectResult(t, p.Probe(ctx), want, out, secrets...)
}

// expectResult fails the test unless r has status want and an output that contains every
// string of out and none of secrets (the passwords the test handed the probe).
func expectResult(t testing.TB, r Result, want status.Check, out []string, secrets ...string) {
	t.Helper()
	if r.Status != want {
		t.Fatalf("status %s, want %s: %q", r.Status, want, r.Output)
	}
	for _, s := range out {
		if !strings.Contains(r.Output, s) {
			t.Fatalf("output %q lacks %q", r.Output, s)
		}
	}
	for _, s := range secrets {
		if strings.Contains(r.Output, s) {
			t.Fatalf("a password in the output: %q", r.Output)
		}
	}
}

// probeCancelled probes with a context that is cancelled (it has no deadline) shortly after
// the probe starts, as the runner's is when the agent stops.
func probeCancelled(p Prober) Result {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stop := time.AfterFunc(100*time.Millisecond, cancel)
	defer stop.Stop()
	return p.Probe(ctx)
}

func TestTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	tests := []struct {
		name    string
		address string
		want    status.Check
		output  string
	}{
		{"listening", ln.Addr().String(), status.Passing, "success"},
		{"closed port", closedAddr(t), status.Critical, "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			got := NewTCP(&config.TCPCheck{Address: tt.address}).Probe(ctx)
			if got.Status != tt.want || !strings.Contains(got.Output, tt.output) {
				t.Fatalf("Probe = %s %q, want %s containing %q", got.Status, got.Output, tt.want, tt.output)
			}
		})
	}
}

func TestExec(t *testing.T) {
	tests := []struct {
		name   string
		script string
		want   status.Check
		output string
	}{
		{"exit 0 passes", "echo fine; exit 0", status.Passing, "fine\n"},
		{"exit 1 warns", "echo queue long >&2; exit 1", status.Warning, "queue long\n"},
		{"exit 2 is critical", "echo broken; exit 2", status.Critical, "broken\n"},
		{"exit 7 is critical", "exit 7", status.Critical, "exit status 7"},
		{"silent exit 1", "exit 1", status.Warning, "exit status 1"},
		{"stdout and stderr together", "echo out; echo err >&2", status.Passing, "out\nerr\n"},
		{"killed by signal is critical", "kill -9 $$", status.Critical, "signal: killed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			got := NewExec(&config.ExecCheck{Command: []string{"/bin/sh", "-c", tt.script}}).Probe(ctx)
			if got.Status != tt.want || got.Output != tt.output && !strings.Contains(got.Output, tt.output) {
				t.Fatalf("Probe = %s %q, want %s with %q", got.Status, got.Output, tt.want, tt.output)
			}
		})
	}
}

func TestExecMissingProgramIsCritical(t *testing.T) {
	got := NewExec(&config.ExecCheck{Command: []string{"/nonexistent/check"}}).Probe(context.Background())
	if got.Status != status.Critical || !strings.Contains(got.Output, "/nonexistent/check") {
		t.Fatalf("Probe = %s %q, want critical naming the program", got.Status, got.Output)
	}
}

func TestExecOutputIsTruncated(t *testing.T) {
	r, _ := startRunner(t, []config.Check{{Name: "loud", Interval: time.Second,
		Exec: &config.ExecCheck{Command: []string{"/bin/sh", "-c", "i=0; while [ $i -lt 2000 ]; do echo 0123456789; i=$((i+1)); done"}}}}, nil)
	waitFor(t, "loud check to run", func() bool { return result(r, "loud").Status != status.Unknown })
	got := result(r, "loud")
	if got.Status != status.Passing {
		t.Fatalf("status %s, want passing", got.Status)
	}
	if len(got.Output) > protocol.MaxOutput || !strings.HasSuffix(got.Output, "...") || !strings.HasPrefix(got.Output, "0123456789\n") {
		t.Fatalf("output is %d bytes ending %q, want at most %d ending with \"...\"", len(got.Output), got.Output[max(0, len(got.Output)-20):], protocol.MaxOutput)
	}
}

func TestExecTimeoutKillsProcessGroup(t *testing.T) {
	hanger := procgrouptest.NewHanger(t)
	r, _ := startRunner(t, []config.Check{{Name: "hang", Interval: 10 * time.Second, Timeout: 500 * time.Millisecond,
		Exec: &config.ExecCheck{Command: hanger.Argv()}}}, nil)
	waitFor(t, "hanging check to time out", func() bool { return result(r, "hang").Status != status.Unknown })
	got := result(r, "hang")
	if got.Status != status.Critical || !strings.HasPrefix(got.Output, "timed out after 500ms") || !strings.Contains(got.Output, "started") {
		t.Fatalf("result = %s %q, want critical \"timed out after 500ms\" with the partial output", got.Status, got.Output)
	}
	hanger.WaitChildGone(t)
}
