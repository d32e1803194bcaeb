package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/alert"
	"github.com/centralhub/centralhub/hub/internal/bolt"
	"github.com/centralhub/centralhub/hub/internal/events"
	"github.com/centralhub/centralhub/hub/internal/httpapi"
	"github.com/centralhub/centralhub/hub/internal/loadtest"
	"github.com/centralhub/centralhub/hub/internal/registry"
	"github.com/centralhub/centralhub/pkg/auth"
	"github.com/centralhub/centralhub/pkg/status"
)

// ingestBench is a hub API over a real registry and bbolt store holding the benchmark fleet,
// with one cached agent token per service and a report template per instance.
type ingestBench struct {
	fleet     loadtest.Fleet
	api       http.Handler
	auth      [][]string // Authorization header value per service
	templates []*loadtest.Template
	next      atomic.Uint64 // operations so far; op i reports for instance i%N, round i/N
	failures  atomic.Uint64
}

func newIngestBench(b *testing.B) *ingestBench {
	b.Helper()
	now := time.Now()
	f := loadtest.DefaultFleet(now.UnixNano())
	store, err := bolt.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	// The fleet is registered by filling the store in one transaction (seq 1, all passing), so
	// the benchmark measures steady-state ingest rather than 10,000 first sightings.
	rnd := mrand.New(mrand.NewPCG(1, 2))
	ib := &ingestBench{fleet: f, templates: make([]*loadtest.Template, f.Instances)}
	ins := make([]hub.Instance, f.Instances)
	for j := range f.Instances {
		rep := f.Report(j, 1, false, rnd, now)
		ins[j] = loadtest.Instance(rep, now)
		if ib.templates[j], err = loadtest.NewTemplate(rep); err != nil {
			b.Fatal(err)
		}
	}
	if err := store.WriteInstances(context.Background(), hub.Writes{Puts: ins}); err != nil {
		b.Fatal(err)
	}
	cfg := registry.DefaultConfig()
	cfg.RatePerInstance = 1000 // as in the load runs: the limiter runs but never refuses
	reg, err := registry.New(context.Background(), cfg, store, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- reg.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
		if err := store.Close(); err != nil {
			b.Error(err)
		}
	})

	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	keys, err := auth.NewKeys(secret)
	if err != nil {
		b.Fatal(err)
	}
	for s := range f.Services() {
		tok, err := keys.Issue(auth.IssueRequest{Role: auth.Agent, Subject: "bench", Service: loadtest.ServiceName(s), TTL: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		ib.auth = append(ib.auth, []string{"Bearer " + tok})
	}
	alerts, err := alert.New(context.Background(), alert.DefaultConfig(), reg, store, nil) // not run: ingest does not wait on it
	if err != nil {
		b.Fatal(err)
	}
	promReg := prometheus.NewRegistry()
	ib.api, err = httpapi.New(httpapi.Config{Keys: keys, Registry: reg, Alerts: alerts, History: store, Configs: store, Events: events.NewBroker(events.BrokerConfig{}), Registerer: promReg, Gatherer: promReg})
	if err != nil {
		b.Fatal(err)
	}
	// One report per service puts every token in the cache before the clock starts.
	c := ib.newClient()
	for s := range f.Services() {
		c.send(s*f.PerService, 2, status.Passing)
	}
	ib.next.Store(2 * uint64(f.Instances))
	if n := ib.failures.Load(); n > 0 {
		b.Fatalf("%d warm-up reports failed", n)
	}
	return ib
}

// client is one goroutine's reusable request, body buffer and response writer.
type client struct {
	ib   *ingestBench
	req  *http.Request
	body bytes.Reader
	buf  []byte
	w    discardWriter
}

func (ib *ingestBench) newClient() *client {
	c := &client{ib: ib, req: httptest.NewRequest(http.MethodPost, "/api/v1/agent/reports", nil)}
	c.req.Header.Set("Content-Type", "application/json")
	c.w.header = http.Header{}
	return c
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// send posts instance j's report seq with the upstream check's status st.
func (c *client) send(j int, seq uint64, st status.Check) {
	c.buf = c.ib.templates[j].Append(c.buf[:0], seq, st)
	c.body.Reset(c.buf)
	c.req.Body = readCloser{&c.body}
	c.req.ContentLength = int64(len(c.buf))
	c.req.Header["Authorization"] = c.ib.auth[j/c.ib.fleet.PerService]
	c.w.code = 0
	c.ib.api.ServeHTTP(&c.w, c.req)
	if c.w.code != http.StatusOK {
		c.ib.failures.Add(1)
	}
}

// sendNext sends the next operation's report. When mixed, instance j is warning in one round
// of every 200 and passing otherwise, so 1% of its reports change a status.
func (c *client) sendNext(mixed bool) {
	i := c.ib.next.Add(1) - 1
	n := uint64(c.ib.fleet.Instances)
	j, round := i%n, i/n
	st := status.Passing
	if mixed && (j*7+round)%200 == 0 {
		st = status.Warning
	}
	c.send(int(j), round+1, st)
}

// discardWriter is a reusable http.ResponseWriter that keeps only the status code, so that the
// benchmark's allocations are the hub's.
type discardWriter struct {
	header http.Header
	code   int
}

func (w *discardWriter) Header() http.Header { return w.header }
func (w *discardWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *discardWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return len(p), nil
}

var _ io.Writer = (*discardWriter)(nil)

// BenchmarkIngest is POST /api/v1/agent/reports through the whole handler (routing, cached
// token, body read, decode, validate, registry, metrics, answer) for a fleet of 10,000
// instances on a real bbolt store. "heartbeat": one request at a time, no status changes, so
// nothing waits for the store. "mixed": 32 concurrent requests, 1% of them a status change that
// is durable (group-committed, fsynced) before it is answered.
func BenchmarkIngest(b *testing.B) {
	ib := newIngestBench(b)
	b.Run("heartbeat", func(b *testing.B) {
		c := ib.newClient()
		b.ReportAllocs()
		for b.Loop() {
			c.sendNext(false)
		}
	})
	b.Run("mixed", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			c := ib.newClient()
			for pb.Next() {
				c.sendNext(true)
			}
		})
	})
	if n := ib.failures.Load(); n > 0 {
		b.Fatalf("%d reports were not answered 200", n)
	}
}
