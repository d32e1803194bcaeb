package cluster

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/centralhub/centralhub/agent/internal/hubclient"
	"github.com/centralhub/centralhub/pkg/gossip"
)

func hub(name, api, status string) gossip.Member {
	return gossip.Member{Name: name, Status: status, Tags: map[string]string{gossip.TagRole: gossip.RoleHub, gossip.TagAPI: api}}
}

func agent(name, status string) gossip.Member {
	return gossip.Member{Name: name, Status: status, Tags: map[string]string{gossip.TagRole: gossip.RoleAgent}}
}

// fakeDNS answers lookups from a table and counts them.
type fakeDNS struct {
	mu      sync.Mutex
	hosts   map[string][]string
	lookups int
}

func (d *fakeDNS) lookup(_ context.Context, host string) ([]net.IP, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lookups++
	addrs, ok := d.hosts[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	var ips []net.IP
	for _, a := range addrs {
		ips = append(ips, net.ParseIP(a))
	}
	return ips, nil
}

func newView(members []gossip.Member, dns *fakeDNS) *View {
	v := New(func() []gossip.Member { return members }, "default/orders/orders-1")
	if dns != nil {
		v.lookup = dns.lookup
	}
	return v
}

func TestHubStates(t *testing.T) {
	const (
		unknown = hubclient.HubUnknown
		alive   = hubclient.HubAlive
		failed  = hubclient.HubFailed
	)
	dns := map[string][]string{"hub-1.example": {"10.0.0.5"}, "hub-v6.example": {"fd00::5"}}
	tests := []struct {
		name    string
		members []gossip.Member
		url     string
		want    hubclient.HubState
	}{
		{"no members", nil, "http://10.0.0.5:7000", unknown},
		{"api equals host:port", []gossip.Member{hub("h1", "10.0.0.5:7000", "alive")}, "http://10.0.0.5:7000", alive},
		{"trailing slash and path", []gossip.Member{hub("h1", "10.0.0.5:7000", "alive")}, "http://10.0.0.5:7000/", alive},
		{"port differs", []gossip.Member{hub("h1", "10.0.0.5:7001", "alive")}, "http://10.0.0.5:7000", unknown},
		{"IP differs", []gossip.Member{hub("h1", "10.0.0.6:7000", "alive")}, "http://10.0.0.5:7000", unknown},
		{"host name equals api host", []gossip.Member{hub("h1", "hub-1.example:7000", "alive")}, "http://hub-1.example:7000", alive},
		{"host name resolves to api IP", []gossip.Member{hub("h1", "10.0.0.5:7000", "alive")}, "http://hub-1.example:7000", alive},
		{"resolves, port differs", []gossip.Member{hub("h1", "10.0.0.5:7001", "alive")}, "http://hub-1.example:7000", unknown},
		{"does not resolve", []gossip.Member{hub("h1", "10.0.0.5:7000", "alive")}, "http://nowhere.example:7000", unknown},
		{"IPv6", []gossip.Member{hub("h1", "[fd00::5]:7000", "alive")}, "https://hub-v6.example:7000", alive},
		{"default https port", []gossip.Member{hub("h1", "10.0.0.5:443", "alive")}, "https://hub-1.example", alive},
		{"default http port", []gossip.Member{hub("h1", "10.0.0.5:80", "alive")}, "http://10.0.0.5", alive},
		{"failed", []gossip.Member{hub("h1", "10.0.0.5:7000", "failed")}, "http://10.0.0.5:7000", failed},
		{"left", []gossip.Member{hub("h1", "10.0.0.5:7000", "left")}, "http://10.0.0.5:7000", failed},
		{"leaving", []gossip.Member{hub("h1", "10.0.0.5:7000", "leaving")}, "http://10.0.0.5:7000", failed},
		{"alive wins over a failed namesake", []gossip.Member{
			hub("old", "10.0.0.5:7000", "failed"), hub("new", "10.0.0.5:7000", "alive"), hub("gone", "10.0.0.5:7000", "left"),
		}, "http://10.0.0.5:7000", alive},
		{"an agent is not a hub", []gossip.Member{{Name: "a", Status: "alive",
			Tags: map[string]string{gossip.TagRole: gossip.RoleAgent, gossip.TagAPI: "10.0.0.5:7000"}}}, "http://10.0.0.5:7000", unknown},
		{"bad api tag", []gossip.Member{hub("h1", "10.0.0.5", "alive")}, "http://10.0.0.5:7000", unknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newView(tt.members, &fakeDNS{hosts: dns})
			if got := v.HubStates([]string{tt.url}); !slices.Equal(got, []hubclient.HubState{tt.want}) {
				t.Fatalf("HubStates(%s) = %v, want %v", tt.url, got, tt.want)
			}
		})
	}
}

// TestHubStatesOnlyConfigured: hubs that only gossip names are not reported; each configured
// URL gets its own state, in order.
func TestHubStatesOnlyConfigured(t *testing.T) {
	v := newView([]gossip.Member{
		hub("rogue", "10.9.9.9:7000", "alive"),
		hub("h2", "10.0.0.6:7000", "failed"),
		hub("h1", "10.0.0.5:7000", "alive"),
	}, nil)
	got := v.HubStates([]string{"http://10.0.0.5:7000", "http://10.0.0.6:7000", "http://10.0.0.7:7000"})
	want := []hubclient.HubState{hubclient.HubAlive, hubclient.HubFailed, hubclient.HubUnknown}
	if !slices.Equal(got, want) {
		t.Fatalf("HubStates = %v, want %v", got, want)
	}
}

func TestResolutionCached(t *testing.T) {
	dns := &fakeDNS{hosts: map[string][]string{"hub-1.example": {"10.0.0.5"}}}
	v := newView([]gossip.Member{hub("h1", "10.0.0.6:7000", "alive")}, dns)
	now := time.Unix(1000, 0)
	v.now = func() time.Time { return now }
	urls := []string{"http://hub-1.example:7000"}
	for range 3 {
		if got := v.HubStates(urls); got[0] != hubclient.HubUnknown {
			t.Fatalf("state %v before the name moves, want unknown", got[0])
		}
	}
	if dns.lookups != 1 {
		t.Fatalf("%d lookups, want 1 (cached)", dns.lookups)
	}
	dns.mu.Lock()
	dns.hosts["hub-1.example"] = []string{"10.0.0.6"} // the name moves to the hub's IP
	dns.mu.Unlock()
	now = now.Add(ResolveEvery - time.Second)
	if got := v.HubStates(urls); got[0] != hubclient.HubUnknown || dns.lookups != 1 {
		t.Fatalf("within %s: state %v after %d lookups, want the cached answer", ResolveEvery, got[0], dns.lookups)
	}
	now = now.Add(time.Second)
	if got := v.HubStates(urls); got[0] != hubclient.HubAlive || dns.lookups != 2 {
		t.Fatalf("after %s: state %v after %d lookups, want alive after a fresh lookup", ResolveEvery, got[0], dns.lookups)
	}
}

func TestSummaryAndMetric(t *testing.T) {
	v := newView([]gossip.Member{
		agent("default/orders/orders-1", "alive"),
		agent("default/orders/orders-2", "failed"),
		agent("default/pay/pay-1", "left"),
		hub("hub-1", "10.0.0.5:7000", "alive"),
		hub("hub-2", "10.0.0.6:7000", "failed"),
	}, nil)
	want := Summary{Node: "default/orders/orders-1", Members: 5, Alive: 2, AliveHubs: 1}
	if got := v.Summary(); got != want {
		t.Fatalf("Summary = %+v, want %+v", got, want)
	}
	expected := `
# HELP centralhub_agent_gossip_members Gossip members this agent knows (itself included), by state: alive, leaving, left, failed.
# TYPE centralhub_agent_gossip_members gauge
centralhub_agent_gossip_members{state="alive"} 2
centralhub_agent_gossip_members{state="failed"} 2
centralhub_agent_gossip_members{state="leaving"} 0
centralhub_agent_gossip_members{state="left"} 1
`
	if err := testutil.CollectAndCompare(v.Collector(), strings.NewReader(expected)); err != nil {
		t.Fatal(err)
	}
}
