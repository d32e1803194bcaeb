// Package hubclient delivers the agent's reports to the hub: a Reporter builds a report on every
// status change and otherwise every interval, and a Sender queues them (bounded, dropping the
// oldest) and POSTs them with retries, capped exponential backoff and failover between hubs,
// guided by gossip when a Liveness source is given. Neither ever blocks the check runner.
package hubclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/centralhub/centralhub/agent/internal/backoff"
	"github.com/centralhub/centralhub/pkg/protocol"
)

// Defaults of SenderConfig.
const (
	DefaultQueueSize    = 64
	DefaultHTTPTimeout  = 10 * time.Second
	DefaultFlushTimeout = 5 * time.Second
)

// maxErrorBody caps how much of a hub's error answer is read for the log.
const maxErrorBody = 4 << 10

// SenderConfig configures a Sender. Zero fields take the defaults noted beside them.
type SenderConfig struct {
	URLs         []string       // hub base URLs in failover order; required. The token goes to these only.
	Token        TokenSource    // required
	UserAgent    string         // e.g. "centralhub-agent/1.2.3"
	Client       *http.Client   // default: NewHTTPClient(nil)
	QueueSize    int            // reports held while the hub is away; default DefaultQueueSize
	Backoff      backoff.Config // retry delays; zero: 500ms base, 30s cap, full jitter
	FlushTimeout time.Duration  // bound on the final flush at stop; default DefaultFlushTimeout
	Logger       *slog.Logger   // required
	Metrics      *Metrics       // required
	// Liveness, optional, is gossip's view of the hubs in URLs: the sender prefers hubs it knows
	// alive and skips hubs it knows failed. It only orders URLs; it never adds a target. nil:
	// plain round robin.
	Liveness Liveness
}

// HubState is what a Liveness source knows of one configured hub.
type HubState int

// The hub states.
const (
	HubUnknown HubState = iota // no gossip member matches the hub (or there is no gossip)
	HubAlive                   // a hub member that matches it is alive
	HubFailed                  // every hub member that matches it has failed, is leaving or left
)

// Liveness tells a Sender what gossip knows of its configured hubs.
type Liveness interface {
	// HubStates returns the state of each base URL, in the same order. It is called before
	// each send, so it must be quick, and it must be safe for concurrent use.
	HubStates(baseURLs []string) []HubState
}

// NewHTTPClient returns the client a Sender uses by default: a DefaultHTTPTimeout bound on each
// request, no redirects followed (the token must not travel to another URL), proxies from the
// environment for https hubs only, so a token never crosses a proxy in clear text, and tc for
// https hubs (Go's defaults when nil; see NewTLSConfig).
func NewHTTPClient(tc *tls.Config) *http.Client {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if tc != nil {
		transport.TLSClientConfig = tc
	}
	transport.Proxy = func(req *http.Request) (*url.URL, error) {
		if req.URL.Scheme != "https" {
			return nil, nil
		}
		return http.ProxyFromEnvironment(req)
	}
	return &http.Client{
		Timeout:   DefaultHTTPTimeout,
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Delivery is the outcome of the latest send attempt, for the agent's /health.
type Delivery struct {
	At    time.Time // zero before the first attempt
	OK    bool
	Error string
}

// Sender delivers queued reports to the hub, one at a time and in order.
type Sender struct {
	cfg     SenderConfig
	urls    []string // full report URLs, same order as cfg.URLs
	client  *http.Client
	queue   *queue
	log     *slog.Logger
	metrics *Metrics

	cur          int  // index into urls of the hub in use; only Run's goroutine touches it
	refreshToken bool // set after a 401; only Run's goroutine touches it

	configHub atomic.Int32 // index into urls of the hub that last answered FetchDesiredConfig

	mu   sync.Mutex
	last Delivery
}

// NewSender validates cfg and returns a Sender. Run delivers.
func NewSender(cfg SenderConfig) (*Sender, error) {
	if len(cfg.URLs) == 0 || cfg.Token == nil || cfg.Logger == nil || cfg.Metrics == nil {
		return nil, errors.New("new sender: urls, token, logger and metrics are required")
	}
	s := &Sender{cfg: cfg, client: cfg.Client, log: cfg.Logger, metrics: cfg.Metrics}
	for i, base := range cfg.URLs {
		u, err := url.Parse(base)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("new sender: urls[%d] %q: want an http or https URL", i, base)
		}
		s.urls = append(s.urls, strings.TrimRight(base, "/")+protocol.ReportPath)
	}
	if s.client == nil {
		s.client = NewHTTPClient(nil)
	}
	if s.cfg.QueueSize <= 0 {
		s.cfg.QueueSize = DefaultQueueSize
	}
	if s.cfg.FlushTimeout <= 0 {
		s.cfg.FlushTimeout = DefaultFlushTimeout
	}
	s.queue = newQueue(s.cfg.QueueSize)
	return s, nil
}

// Enqueue adds rep to the send queue and returns at once. A queued report with the same
// statuses as rep is replaced by it; when the queue is full the oldest queued report is
// dropped; rep itself is always kept. Safe for concurrent use.
func (s *Sender) Enqueue(rep *protocol.Report) error {
	body, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	dropped, length := s.queue.push(&queued{rep: rep, body: body, sig: signature(rep)})
	s.metrics.queueLen.Set(float64(length))
	if dropped > 0 {
		s.metrics.dropped.Add(float64(dropped))
		s.log.Warn("report queue full; dropped the oldest", "dropped", dropped, "seq", rep.Seq)
	}
	return nil
}

// LastDelivery returns the outcome of the latest send attempt. Safe for concurrent use.
func (s *Sender) LastDelivery() Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// outcome is what one send attempt means for the report.
type outcome int

const (
	delivered outcome = iota // accepted: drop it from the queue
	rejected                 // refused for good: drop it from the queue, do not retry
	retry                    // try again later, on the next hub
)

// Run delivers queued reports until ctx ends, then makes one final attempt, bounded by
// FlushTimeout, to deliver the newest queued report (it holds the whole latest state).
func (s *Sender) Run(ctx context.Context) error {
	defer s.client.CloseIdleConnections()
	b := backoff.New(s.cfg.Backoff)
	for {
		item := s.queue.front()
		if item == nil {
			select {
			case <-ctx.Done():
				return s.flush()
			case <-s.queue.ready:
				continue
			}
		}
		s.cur = s.preferAlive(s.cur, s.hubStates())
		switch s.send(ctx, item, s.cur) {
		case delivered, rejected:
			s.metrics.queueLen.Set(float64(s.queue.remove(item)))
			b.Reset()
			continue
		}
		if ctx.Err() != nil {
			return s.flush()
		}
		if next := s.failoverOrder(s.cur, s.hubStates()); len(next) > 0 {
			s.cur = next[0] // fail over: the next attempt goes to the next hub
		}
		if err := b.Wait(ctx); err != nil {
			return s.flush()
		}
	}
}

// flush sends the newest queued report once to each hub in turn, starting with the one in use
// (unless gossip knows it failed and another alive), until one takes it or FlushTimeout passes.
func (s *Sender) flush() error {
	item := s.queue.back()
	if item == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.FlushTimeout)
	defer cancel()
	states := s.hubStates()
	first := s.preferAlive(s.cur, states)
	for _, idx := range append([]int{first}, s.failoverOrder(first, states)...) {
		if ctx.Err() != nil {
			break
		}
		if s.send(ctx, item, idx) != retry {
			s.queue.clear()
			s.metrics.queueLen.Set(0)
			return nil
		}
	}
	s.log.Warn("final report not delivered before stop", "seq", item.rep.Seq, "queued", s.queue.len())
	return nil
}

// hubStates asks the Liveness source about every configured hub; nil without one.
func (s *Sender) hubStates() []HubState {
	if s.cfg.Liveness == nil {
		return nil
	}
	states := s.cfg.Liveness.HubStates(s.cfg.URLs)
	if len(states) != len(s.urls) {
		return nil // a broken source: ignore it rather than guess
	}
	return states
}

// failoverOrder lists every hub but from, in the order to try them after a send to from
// failed: first the hubs gossip knows alive, then those it knows nothing of, then those it
// knows failed, each group in configured order starting after from. With no states, that is
// plain round robin. A failed hub is tried only when no configured hub is alive (preferAlive
// moves off it otherwise): gossip may be wrong, and a report must still find a way. Only
// indexes into the configured URLs are ever returned.
func (s *Sender) failoverOrder(from int, states []HubState) []int {
	n := len(s.urls)
	order := make([]int, 0, n-1)
	for _, want := range []HubState{HubAlive, HubUnknown, HubFailed} {
		for i := 1; i < n; i++ {
			if idx := (from + i) % n; stateOf(states, idx) == want {
				order = append(order, idx)
			}
		}
	}
	return order
}

// preferAlive returns the hub to send to next: cur, unless gossip knows cur failed and another
// configured hub alive, in which case that one, without waiting for a send to cur to time out.
func (s *Sender) preferAlive(cur int, states []HubState) int {
	if stateOf(states, cur) != HubFailed {
		return cur
	}
	next := s.failoverOrder(cur, states)
	if len(next) == 0 || stateOf(states, next[0]) != HubAlive {
		return cur
	}
	s.log.Info("gossip reports the hub in use failed; switching to an alive one",
		"from", s.cfg.URLs[cur], "to", s.cfg.URLs[next[0]])
	return next[0]
}

func stateOf(states []HubState, idx int) HubState {
	if states == nil {
		return HubUnknown
	}
	return states[idx]
}

// send makes one attempt to deliver item to urls[idx].
func (s *Sender) send(ctx context.Context, item *queued, idx int) outcome {
	target := s.urls[idx]
	log := s.log.With("url", target, "seq", item.rep.Seq)
	token, err := s.cfg.Token.Token(s.refreshToken)
	if err != nil {
		s.finish(resultError, fmt.Errorf("token: %w", err))
		log.Error("no token to send the report with", "err", err)
		return retry
	}
	s.refreshToken = false
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(item.body))
	if err != nil {
		s.finish(resultError, err)
		log.Error("build report request", "err", err)
		return retry
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	if s.cfg.UserAgent != "" {
		req.Header.Set("User-Agent", s.cfg.UserAgent)
	}

	start := time.Now()
	resp, err := s.client.Do(req)
	s.metrics.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		s.finish(resultError, err)
		if ctx.Err() == nil {
			log.Warn("send report failed; will retry", "err", err)
		}
		return retry
	}
	reason := readReason(resp)
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		s.finish(resultOK, nil)
		log.Debug("report delivered", "status", code)
		return delivered
	case code == http.StatusBadRequest || code == http.StatusForbidden || code == http.StatusRequestEntityTooLarge:
		s.finish(resultRejected, fmt.Errorf("hub answered %d: %s", code, reason))
		log.Error("hub rejected the report; not retrying it", "status", code, "reason", reason)
		return rejected
	case code == http.StatusUnauthorized:
		s.refreshToken = true
		s.finish(resultError, fmt.Errorf("hub answered 401: %s", reason))
		log.Warn("hub refused the token; re-reading it and retrying", "reason", reason)
		return retry
	default:
		s.finish(resultError, fmt.Errorf("hub answered %d: %s", code, reason))
		log.Warn("hub did not take the report; will retry", "status", code, "reason", reason)
		return retry
	}
}

func (s *Sender) finish(result string, err error) {
	s.metrics.sent.WithLabelValues(result).Inc()
	d := Delivery{At: time.Now().UTC(), OK: err == nil}
	if err != nil {
		d.Error = err.Error()
	}
	s.mu.Lock()
	s.last = d
	s.mu.Unlock()
}

// readReason reads the hub's {"error": "..."} answer (or the start of whatever it sent) and
// closes the body.
func readReason(resp *http.Response) string {
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	var body struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(raw, &body) == nil && body.Error != "" {
		return body.Error
	}
	return protocol.Truncate(strings.TrimSpace(string(raw)), 256)
}
