// Package cluster is the agent's reading of the gossip membership: which of its configured hubs
// gossip knows alive or failed (for the sender's failover), a summary for /health, and the
// member-count metric. It only ever answers about URLs it is given: an address that only gossip
// names is never turned into a target.
package cluster

import (
	"context"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/centralhub/centralhub/agent/internal/hubclient"
	"github.com/centralhub/centralhub/pkg/gossip"
)

// Resolution of configured hub host names, to match them with the IP in a hub's api tag.
const (
	ResolveEvery   = 30 * time.Second // a host name is looked up again at most this often
	ResolveTimeout = time.Second      // bound on one lookup (it runs before a send)
)

// States are the member states gossip reports, the values of the state label of
// centralhub_agent_gossip_members.
var States = []string{"alive", "leaving", "left", "failed"}

// View reads the membership of a running gossip member. It is safe for concurrent use.
type View struct {
	members func() []gossip.Member
	local   string

	lookup func(ctx context.Context, host string) ([]net.IP, error) // net.DefaultResolver's
	now    func() time.Time

	mu       sync.Mutex
	resolved map[string]resolution // by host name
}

// resolution is a cached lookup of one host name; a failed lookup is cached (empty) too, so a
// DNS outage costs one timeout per ResolveEvery, not one per send.
type resolution struct {
	ips []net.IP
	at  time.Time
}

// New returns a View of the membership that members lists (normally (*gossip.Gossip).Members);
// local is this agent's node name.
func New(members func() []gossip.Member, local string) *View {
	return &View{
		members: members,
		local:   local,
		lookup: func(ctx context.Context, host string) ([]net.IP, error) {
			return net.DefaultResolver.LookupIP(ctx, "ip", host)
		},
		now:      time.Now,
		resolved: map[string]resolution{},
	}
}

// HubStates implements hubclient.Liveness. A base URL matches a hub member (tag role=hub) when
// its host:port equals the member's api tag, or when its host resolves to the api tag's IP and
// the ports are equal. A URL is alive when any matching member is alive (a restarted hub may
// leave a failed namesake behind), failed when all matching members have failed, are leaving or
// left, and unknown when none matches.
func (v *View) HubStates(baseURLs []string) []hubclient.HubState {
	out := make([]hubclient.HubState, len(baseURLs))
	var hubs []gossip.Member
	for _, m := range v.members() {
		if m.Tags[gossip.TagRole] == gossip.RoleHub && m.Tags[gossip.TagAPI] != "" {
			hubs = append(hubs, m)
		}
	}
	if len(hubs) == 0 {
		return out
	}
	for i, raw := range baseURLs {
		host, port, ok := urlHostPort(raw)
		if !ok {
			continue
		}
		for _, m := range hubs {
			if !v.matches(host, port, m.Tags[gossip.TagAPI]) {
				continue
			}
			switch m.Status {
			case "alive":
				out[i] = hubclient.HubAlive
			case "failed", "leaving", "left":
				if out[i] == hubclient.HubUnknown {
					out[i] = hubclient.HubFailed
				}
			}
		}
	}
	return out
}

// urlHostPort returns a base URL's host and port, the port defaulting by scheme.
func urlHostPort(raw string) (host, port string, ok bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return "", "", false
	}
	port = u.Port()
	if port == "" {
		switch u.Scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		default:
			return "", "", false
		}
	}
	return u.Hostname(), port, true
}

// matches reports whether a configured hub at host:port is the hub whose api tag is api.
func (v *View) matches(host, port, api string) bool {
	apiHost, apiPort, err := net.SplitHostPort(api)
	if err != nil || apiPort != port {
		return false
	}
	if strings.EqualFold(host, apiHost) {
		return true
	}
	apiIP := net.ParseIP(apiHost)
	if apiIP == nil {
		return false // a name that differs from the configured one: no match
	}
	for _, ip := range v.resolve(host) {
		if ip.Equal(apiIP) {
			return true
		}
	}
	return false
}

// resolve returns host's IPs: host itself when it is an IP, else a lookup cached for ResolveEvery.
func (v *View) resolve(host string) []net.IP {
	if ip := net.ParseIP(host); ip != nil {
		return []net.IP{ip}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if r, ok := v.resolved[host]; ok && v.now().Sub(r.at) < ResolveEvery {
		return r.ips
	}
	ctx, cancel := context.WithTimeout(context.Background(), ResolveTimeout)
	defer cancel()
	ips, _ := v.lookup(ctx, host) // a failure matches nothing until the next try
	v.resolved[host] = resolution{ips: ips, at: v.now()}
	return ips
}

// Summary is the gossip part of the agent's /health.
type Summary struct {
	Node      string `json:"node"`       // this agent's node name, tenant/service/instance
	Members   int    `json:"members"`    // members known, in any state, this agent included
	Alive     int    `json:"alive"`      // members alive, this agent included
	AliveHubs int    `json:"alive_hubs"` // alive members with role hub
}

// Summary counts the members this agent knows.
func (v *View) Summary() Summary {
	s := Summary{Node: v.local}
	for _, m := range v.members() {
		s.Members++
		if m.Status == "alive" {
			s.Alive++
			if m.Tags[gossip.TagRole] == gossip.RoleHub {
				s.AliveHubs++
			}
		}
	}
	return s
}

var membersDesc = prometheus.NewDesc("centralhub_agent_gossip_members",
	"Gossip members this agent knows (itself included), by state: alive, leaving, left, failed.",
	[]string{"state"}, nil)

// Collector returns a Prometheus collector of centralhub_agent_gossip_members, counted at scrape.
func (v *View) Collector() prometheus.Collector { return collector{v} }

type collector struct{ v *View }

// Describe implements prometheus.Collector.
func (c collector) Describe(ch chan<- *prometheus.Desc) { ch <- membersDesc }

// Collect implements prometheus.Collector.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	counts := make(map[string]int, len(States))
	for _, m := range c.v.members() {
		counts[m.Status]++
	}
	for _, st := range States {
		ch <- prometheus.MustNewConstMetric(membersDesc, prometheus.GaugeValue, float64(counts[st]), st)
	}
}
