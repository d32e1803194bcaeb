package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/postgres"
	"github.com/centralhub/centralhub/hub/internal/registry"
)

// cluster is this hub among the hubs sharing its PostgreSQL database: it hears their changes
// (LISTEN/NOTIFY) and heartbeats (read from the store every second) into the registry, and
// campaigns for the leadership, under which it judges staleness and runs the alert engine.
type cluster struct {
	store    *postgres.Store
	reg      *registry.Registry
	alerting *alerting
	log      *slog.Logger
	apiURL   string
	gossip   bool // gossip is on: otherwise the leader clears unreachable marks
	leading  atomic.Bool

	mu      sync.Mutex
	keys    map[hub.InstanceKey]struct{} // instances other hubs changed, to read back
	resync  bool
	alerts  bool
	changed chan struct{}
}

func newCluster(store *postgres.Store, reg *registry.Registry, al *alerting, apiURL string, gossip bool, log *slog.Logger) *cluster {
	reg.SetLeader(false)
	al.engine.SetLeading(false)
	return &cluster{store: store, reg: reg, alerting: al, apiURL: apiURL, gossip: gossip, log: log.With("component", "cluster"),
		keys: map[hub.InstanceKey]struct{}{}, changed: make(chan struct{}, 1)}
}

// newHubID names this hub process among the others: its host name and a random suffix.
func newHubID() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return host + "-" + hex.EncodeToString(b)
}

// defaultAPIURL is where other hubs reach this one when api_url is not set: https with TLS on,
// else http, and listen's host when it names one, else the machine's host name.
func defaultAPIURL(listen string, https bool) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host, _ = os.Hostname()
	}
	scheme := "http://"
	if https {
		scheme = "https://"
	}
	return scheme + net.JoinHostPort(host, port)
}

// leader answers the API's question: does this hub lead, and else where does the leader serve.
func (c *cluster) leader(ctx context.Context) (self bool, url string, err error) {
	if c.leading.Load() {
		return true, "", nil
	}
	_, url, err = c.store.Leader(ctx)
	if err != nil {
		return false, "", fmt.Errorf("find the leading hub: %w", err)
	}
	if url == c.apiURL { // the record is this hub's own, from before its lead ended
		return false, "", nil
	}
	return false, url, nil
}

// run works until ctx ends; when this hub leads then, its engine stops as a leader (writing
// what it holds) before the lock is released.
func (c *cluster) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); c.store.Listen(ctx, c.notice) }()
	go func() { defer wg.Done(); c.apply(ctx) }()
	go func() { defer wg.Done(); c.hear(ctx) }()
	var lead leadership
	c.store.Campaign(ctx, c.apiURL, func(v bool) { lead.set(ctx, c, v) })
	wg.Wait()
}

// notice queues what another hub told; apply reads it back from the store.
func (c *cluster) notice(n postgres.Notice) {
	c.mu.Lock()
	for _, k := range n.Instances {
		c.keys[k] = struct{}{}
	}
	c.resync = c.resync || n.Resync
	c.alerts = c.alerts || n.Alerts || n.Resync
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// apply reads back what other hubs changed, coalescing the notices that came meanwhile.
func (c *cluster) apply(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.changed:
		}
		c.mu.Lock()
		keys, resync, alerts := c.keys, c.resync, c.alerts
		c.keys, c.resync, c.alerts = map[hub.InstanceKey]struct{}{}, false, false
		c.mu.Unlock()
		if err := c.applyOnce(ctx, keys, resync, alerts); err != nil && ctx.Err() == nil {
			c.log.Warn("reading other hubs' changes failed; retrying", "err", err)
			c.mu.Lock()
			for k := range keys {
				c.keys[k] = struct{}{}
			}
			c.resync, c.alerts = c.resync || resync, c.alerts || alerts
			c.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			c.notice(postgres.Notice{})
		}
	}
}

func (c *cluster) applyOnce(ctx context.Context, keys map[hub.InstanceKey]struct{}, resync, alerts bool) error {
	asOf := time.Now() // before the read: what reported here after it may be missing from it
	switch {
	case resync:
		ins, err := c.store.LoadInstances(ctx)
		if err != nil {
			return err
		}
		c.reg.Resync(ins, asOf)
	case len(keys) > 0:
		list := make([]hub.InstanceKey, 0, len(keys))
		for k := range keys {
			list = append(list, k)
		}
		if err := c.reg.ReadBack(ctx, list); err != nil {
			return err
		}
	}
	if alerts && !c.leading.Load() {
		return c.alerting.engine.Reload(ctx, false)
	}
	return nil
}

// hearInterval is how often the heartbeats other hubs wrote are read; hearMargin is how long
// past its report interval an instance may go unheard here before they are (an agent's report
// reaches the store within the reporting hub's one-second batch); hearLimit bounds one read.
const (
	hearInterval = time.Second
	hearMargin   = 2 * time.Second
	hearLimit    = 5000
)

// hear reads every second, from the store, the heartbeats of the instances this hub has not
// heard for a while — those reporting to other hubs — so every hub knows when each agent was
// last heard, whichever hub it reports to, and the leader never takes it for silent. A stale
// instance heard again is read back whole, as the leader's sweep is about to end its staleness.
func (c *cluster) hear(ctx context.Context) {
	tick := time.NewTicker(hearInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		quiet := c.reg.Quiet(hearMargin, hearLimit)
		if len(quiet) == 0 {
			continue
		}
		beats, err := c.store.HeartbeatsOf(ctx, quiet)
		if err != nil {
			if ctx.Err() == nil {
				c.log.Debug("reading heartbeats failed", "err", err)
			}
			continue
		}
		if again := c.reg.ApplyRemoteSeen(beats); len(again) > 0 {
			c.notice(postgres.Notice{Instances: again}) // read back like another hub's change
		}
	}
}

// leadership runs the alert engine while this hub leads.
type leadership struct {
	stop context.CancelFunc
	done chan struct{}
}

func (l *leadership) set(ctx context.Context, c *cluster, lead bool) {
	if lead {
		// Leading first, so a follower's reload racing with this one is a no-op; the engine
		// judges nothing until Run below.
		c.leading.Store(true)
		c.alerting.engine.SetLeading(true)
		if err := c.alerting.engine.Reload(ctx, true); err != nil {
			c.log.Warn("loading alerts on taking the lead failed; the engine goes on with what it held", "err", err)
		}
		c.reg.SetLeader(true)
		ectx, stop := context.WithCancel(context.WithoutCancel(ctx))
		l.stop, l.done = stop, make(chan struct{})
		go func() { defer close(l.done); _ = c.alerting.engine.Run(ectx) }()
		if !c.gossip {
			if n, err := c.reg.ClearUnreachable(ctx); err != nil {
				c.log.Warn("clear gossip state", "err", err)
			} else if n > 0 {
				c.log.Info("gossip is off: cleared the unreachable mark of instances", "instances", n)
			}
		}
		return
	}
	if l.stop == nil {
		return
	}
	c.leading.Store(false)
	if ctx.Err() == nil {
		// The session died: another hub may lead already, so nothing more is judged, sent or
		// written here.
		c.reg.SetLeader(false)
		c.alerting.engine.SetLeading(false)
		c.log.Warn("this hub no longer leads")
	}
	l.stop()
	<-l.done
	l.stop = nil
	c.alerting.engine.SetLeading(false)
	c.reg.SetLeader(false)
}
