package app

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/centralhub/centralhub/agent/internal/hubtest"
	"github.com/centralhub/centralhub/pkg/gossip"
	"github.com/centralhub/centralhub/pkg/protocol"
)

// gossipKey writes a fresh gossip key to a file and returns the key and the file's path.
func gossipKey(t *testing.T) ([]byte, string) {
	t.Helper()
	k := make([]byte, gossip.KeyLen)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "gossip-key")
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(k)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return k, path
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// eventLog records the events of a gossip member.
type eventLog struct {
	mu     sync.Mutex
	events []gossip.Event
}

func (l *eventLog) of(name string) []gossip.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []gossip.Event
	for _, ev := range l.events {
		if ev.Member.Name == name {
			out = append(out, ev)
		}
	}
	return out
}

// member starts a pkg/gossip member on loopback with the local profile, joined to join; its
// events go to log (when not nil). It shuts down when the test ends.
func member(t *testing.T, name string, key []byte, tags map[string]string, log *eventLog, join ...string) *gossip.Gossip {
	t.Helper()
	cfg := gossip.DefaultConfig()
	cfg.NodeName, cfg.Bind, cfg.Join, cfg.Keys, cfg.Tags = name, freeAddr(t), join, [][]byte{key}, tags
	cfg.Profile, cfg.JoinRetry = gossip.ProfileLocal, 100*time.Millisecond
	g, err := gossip.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Shutdown() })
	go func() {
		for ev := range g.Events() {
			if log != nil {
				log.mu.Lock()
				log.events = append(log.events, ev)
				log.mu.Unlock()
			}
		}
	}()
	return g
}

func hubTags(api string) map[string]string {
	return map[string]string{gossip.TagRole: gossip.RoleHub, gossip.TagAPI: api}
}

// gossipAddr is the address other members join g at.
func gossipAddr(g *gossip.Gossip) string {
	for _, m := range g.Members() {
		if m.Name == g.LocalName() {
			return m.Addr
		}
	}
	return ""
}

// hostPort is a base URL's host:port.
func hostPort(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// waitStates polls until g sees every named member in one of the states listed for it
// (separated by "|", e.g. "left|failed").
func waitStates(t *testing.T, g *gossip.Gossip, want map[string]string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := map[string]string{}
		for _, m := range g.Members() {
			got[m.Name] = m.Status
		}
		ok := true
		for name, states := range want {
			ok = ok && slices.Contains(strings.Split(states, "|"), got[name])
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("gossip member %s sees %v, want %v", g.LocalName(), got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// deadHub is a listener that accepts connections, counts them and closes them at once: a hub
// whose sends fail, or a rogue address that must never be contacted.
type deadHub struct {
	ln    net.Listener
	conns atomic.Int32
}

func newDeadHub(t *testing.T) *deadHub {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &deadHub{ln: ln}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			d.conns.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return d
}

func (d *deadHub) addr() string { return d.ln.Addr().String() }

// gossipAgentYAML is an agent configuration with a ttl check "alive" and a gossip section. The
// agent joins every member of the test's small cluster directly, so it learns each of them at
// once rather than through gossip's probabilistic dissemination (which, in a cluster of four,
// can miss a member until the next push-pull, 15 s away).
func gossipAgentYAML(hubURL string, urls []string, join []string, keyFile string) string {
	quoted := make([]string, len(join))
	for i, j := range join {
		quoted[i] = fmt.Sprintf("%q", j)
	}
	return fmt.Sprintf(`
service: orders
instance: orders-1
interval: 1h            # no heartbeat during the test
listen: 127.0.0.1:0
hub:
  url: %s
  urls: [%s]
checks:
  - name: alive
    ttl: {ttl: 1h}
gossip:
  bind: 127.0.0.1:0
  join: [%s]
  key_file: %s
  profile: local
`, hubURL, strings.Join(urls, ", "), strings.Join(quoted, ", "), keyFile)
}

// TestGossipGuidesFailover runs an agent with real gossip on loopback. Its configured hubs are B
// (first, down, and its hub member has left) and A (alive). Reports go to A without ever trying
// B, and a rogue hub member whose api tag names an unconfigured address is never contacted, even
// when A fails a send.
func TestGossipGuidesFailover(t *testing.T) {
	key, keyFile := gossipKey(t)
	hubA := hubtest.New(t)
	deadB := newDeadHub(t)
	rogue := newDeadHub(t)
	memberA := member(t, "hub-a", key, hubTags(hostPort(t, hubA.URL())), nil)
	memberB := member(t, "hub-b", key, hubTags(deadB.addr()), nil, gossipAddr(memberA))
	memberRogue := member(t, "rogue", key, hubTags(rogue.addr()), nil, gossipAddr(memberA))

	cfg := parse(t, gossipAgentYAML("http://"+deadB.addr(), []string{hubA.URL()},
		[]string{gossipAddr(memberA), gossipAddr(memberB), gossipAddr(memberRogue)}, keyFile),
		map[string]string{"AGENT_TOKEN": "agent-token"})
	a, err := New(cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	node := "default/orders/orders-1"
	if a.gossip.LocalName() != node {
		t.Fatalf("node name %q, want %q", a.gossip.LocalName(), node)
	}
	waitStates(t, a.gossip, map[string]string{"hub-a": "alive", "hub-b": "alive", "rogue": "alive"})
	waitStates(t, memberB, map[string]string{node: "alive"})
	if err := memberB.Leave(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	// Left, normally; failed if the leave intent lost the race with memberlist's own notice.
	// The sender treats both alike.
	waitStates(t, a.gossip, map[string]string{"hub-b": "left|failed"})
	for _, m := range memberA.Members() {
		if m.Name == node && (m.Tags[gossip.TagRole] != gossip.RoleAgent || m.Tags[gossip.TagTenant] != "default" ||
			m.Tags[gossip.TagService] != "orders" || m.Tags[gossip.TagInstance] != "orders-1") {
			t.Fatalf("agent member tags %v", m.Tags)
		}
	}

	stop := start(t, a)
	hubA.WaitAccepted(t, "the first report at hub A", func(r []protocol.Report) bool { return len(r) == 1 })
	if n := deadB.conns.Load(); n != 0 {
		t.Fatalf("hub B, which gossip knows left, got %d connections before A; want 0", n)
	}

	var health struct {
		Gossip struct {
			Node      string `json:"node"`
			Members   int    `json:"members"`
			AliveHubs int    `json:"alive_hubs"`
		} `json:"gossip"`
	}
	if code := getJSON(t, "http://"+a.Addr()+"/health", &health); code != 200 || health.Gossip.Node != node ||
		health.Gossip.Members != 4 || health.Gossip.AliveHubs != 2 {
		t.Fatalf("/health = %d %+v, want node %s, 4 members, 2 alive hubs (A and the rogue)", code, health, node)
	}
	resp, err := http.Get("http://" + a.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`centralhub_agent_gossip_members{state="alive"} 3`,
		`centralhub_agent_gossip_members{state="leaving"} 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// A fails one send. The only other configured hub, B, has left and A is still alive, so the
	// sender retries A; the rogue, alive in gossip but not configured, is never a target.
	var failed atomic.Bool
	hubA.SetResponder(func(int, *hubtest.Request) (int, string) {
		if failed.CompareAndSwap(false, true) {
			return 503, "store down"
		}
		return 202, ""
	})
	resp, err = http.Post("http://"+a.Addr()+"/v1/checks/alive/pass", "text/plain", strings.NewReader("up"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	hubA.WaitAccepted(t, "report 2 at hub A after a failed send", func(r []protocol.Report) bool { return len(r) == 2 })
	if !failed.Load() {
		t.Fatal("hub A never failed a send")
	}
	if n := deadB.conns.Load(); n != 0 {
		t.Fatalf("hub B, which gossip knows left, got %d connections; want 0", n)
	}
	if n := rogue.conns.Load(); n != 0 {
		t.Fatalf("the rogue hub's api address got %d connections; want 0", n)
	}
	for _, r := range hubA.Requests() {
		if r.Token != "agent-token" {
			t.Fatalf("hub A got token %q", r.Token)
		}
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if n := rogue.conns.Load(); n != 0 {
		t.Fatalf("the rogue hub's api address got %d connections by stop; want 0", n)
	}
}

// TestGossipLeavesAfterFinalReport: on stop the agent delivers its final report first and only
// then leaves the cluster gracefully, so a watcher sees it left (not failed) after that report.
func TestGossipLeavesAfterFinalReport(t *testing.T) {
	key, keyFile := gossipKey(t)
	hub := hubtest.New(t)
	var (
		mu       sync.Mutex
		arrivals []time.Time
	)
	holdNext := make(chan struct{}, 1) // holds a token while the next request is to be held
	entered, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	releaseHeld := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(releaseHeld) // before the hub closes: it waits for its handlers
	hub.SetResponder(func(int, *hubtest.Request) (int, string) {
		mu.Lock()
		arrivals = append(arrivals, time.Now())
		mu.Unlock()
		select {
		case <-holdNext:
			close(entered)
			<-release
			return 503, "held until after the test"
		default:
			return 202, ""
		}
	})
	hubMember := member(t, "hub-a", key, hubTags(hostPort(t, hub.URL())), nil)
	var events eventLog
	watcher := member(t, "watcher", key, map[string]string{gossip.TagRole: gossip.RoleAgent}, &events, gossipAddr(hubMember))

	cfg := parse(t, gossipAgentYAML(hub.URL(), nil, []string{gossipAddr(hubMember), gossipAddr(watcher)}, keyFile),
		map[string]string{"AGENT_TOKEN": "t"})
	a, err := New(cfg, discard())
	if err != nil {
		t.Fatal(err)
	}
	node := a.gossip.LocalName()
	stop := start(t, a)
	hub.WaitAccepted(t, "the first report", func(r []protocol.Report) bool { return len(r) == 1 })
	waitStates(t, watcher, map[string]string{node: "alive"})
	waitStates(t, a.gossip, map[string]string{"watcher": "alive", "hub-a": "alive"})

	// Report 2 is in flight, held by the hub, when the agent stops: the sender abandons it and
	// delivers it again in its final flush.
	holdNext <- struct{}{}
	resp, err := http.Post("http://"+a.Addr()+"/v1/checks/alive/pass", "text/plain", strings.NewReader("up"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	<-entered
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	waitStates(t, watcher, map[string]string{node: "left"})

	if got := hub.Accepted(); len(got) != 2 || got[1].Seq != 2 {
		t.Fatalf("accepted seqs %s, want 1 then the flushed 2", hubtest.Seqs(got))
	}
	evs := events.of(node)
	types := make([]gossip.EventType, len(evs))
	for i, ev := range evs {
		types[i] = ev.Type
	}
	if !slices.Contains(types, gossip.MemberLeave) || slices.Contains(types, gossip.MemberFailed) {
		t.Fatalf("watcher saw the agent %v, want a leave and no failure", types)
	}
	leftAt := evs[slices.Index(types, gossip.MemberLeave)].At
	mu.Lock()
	defer mu.Unlock()
	if len(arrivals) != 3 {
		t.Fatalf("%d report requests, want 3 (report 1, report 2 held, report 2 flushed)", len(arrivals))
	}
	for i, at := range arrivals {
		if !at.Before(leftAt) {
			t.Fatalf("report request %d arrived %s after the watcher saw the agent leave", i+1, at.Sub(leftAt))
		}
	}
}
