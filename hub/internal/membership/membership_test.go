package membership

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/registry"
	"github.com/centralhub/centralhub/pkg/gossip"
)

type fakeCluster struct {
	events  chan gossip.Event
	members []gossip.Member
}

func (f *fakeCluster) Events() <-chan gossip.Event { return f.events }
func (f *fakeCluster) Members() []gossip.Member    { return f.members }

type applied struct {
	key    hub.InstanceKey
	boot   int64
	change registry.GossipChange
}

type fakeRegistry struct {
	mu      sync.Mutex
	known   map[hub.InstanceKey]bool
	applied []applied
}

func (f *fakeRegistry) ApplyGossip(_ context.Context, key hub.InstanceKey, boot int64, c registry.GossipChange) (bool, time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applied = append(f.applied, applied{key, boot, c})
	return f.known[key] && boot == 7, time.Unix(100, 0), nil
}

func (f *fakeRegistry) Known(key hub.InstanceKey) bool { return f.known[key] }

func agent(name, tenant, service, instance string) gossip.Member {
	return gossip.Member{Name: name, Status: "alive", Tags: map[string]string{
		gossip.TagRole: gossip.RoleAgent, gossip.TagTenant: tenant, gossip.TagService: service, gossip.TagInstance: instance,
		gossip.TagBoot: "7"}}
}

func TestEventsMapToChanges(t *testing.T) {
	known := hub.InstanceKey{Tenant: "default", Service: "orders", Instance: "o1"}
	reg := &fakeRegistry{known: map[hub.InstanceKey]bool{known: true}}
	cl := &fakeCluster{events: make(chan gossip.Event, 16)}
	promReg := prometheus.NewRegistry()
	w, err := New(cl, reg, promReg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	good := agent("default/orders/o1", "default", "orders", "o1")
	noBoot := agent("default/orders/o1", "default", "orders", "o1")
	delete(noBoot.Tags, gossip.TagBoot)
	at := time.Unix(103, 0)
	for _, ev := range []gossip.Event{
		{Type: gossip.MemberFailed, Member: good, At: at},
		{Type: gossip.MemberJoin, Member: good, At: at},
		{Type: gossip.MemberUpdate, Member: good, At: at}, // tags changed: nothing to do
		{Type: gossip.MemberLeave, Member: good, At: at},
		{Type: gossip.MemberReap, Member: good, At: at},
		// never applied: a hub, a name that disagrees with the tags, an invalid tag
		{Type: gossip.MemberFailed, Member: gossip.Member{Name: "hub/x", Tags: map[string]string{gossip.TagRole: gossip.RoleHub}}, At: at},
		{Type: gossip.MemberFailed, Member: agent("default/orders/o2", "default", "orders", "o1"), At: at},
		{Type: gossip.MemberFailed, Member: agent("default/orders/O 1", "default", "orders", "O 1"), At: at},
		{Type: gossip.MemberFailed, Member: noBoot, At: at},
	} {
		cl.events <- ev
	}
	close(cl.events)
	w.Run(context.Background())

	want := []registry.GossipChange{registry.GossipFailed, registry.GossipAlive, registry.GossipLeft, registry.GossipReaped}
	if len(reg.applied) != len(want) {
		t.Fatalf("applied %+v, want %v on %s only", reg.applied, want, known)
	}
	for i, a := range reg.applied {
		if a.key != known || a.boot != 7 || a.change != want[i] {
			t.Fatalf("applied[%d] = %+v, want %s of %s", i, a, want[i], known)
		}
	}
	if got := testutil.ToFloat64(w.events.WithLabelValues("failed")); got != 5 {
		t.Fatalf("failed events counted %v, want 5", got)
	}
	// one failure of a known instance, 3 s after its last report
	expected := `
# HELP centralhub_gossip_failure_detection_seconds For each registered agent gossip declared failed: time from its last report (the latest it is known alive) to the verdict, a bound on the detection time that exceeds it by at most one report interval.
# TYPE centralhub_gossip_failure_detection_seconds histogram
centralhub_gossip_failure_detection_seconds_bucket{le="0.5"} 0
centralhub_gossip_failure_detection_seconds_bucket{le="1"} 0
centralhub_gossip_failure_detection_seconds_bucket{le="2"} 0
centralhub_gossip_failure_detection_seconds_bucket{le="3"} 1
centralhub_gossip_failure_detection_seconds_bucket{le="4"} 1
centralhub_gossip_failure_detection_seconds_bucket{le="5"} 1
centralhub_gossip_failure_detection_seconds_bucket{le="6"} 1
centralhub_gossip_failure_detection_seconds_bucket{le="8"} 1
centralhub_gossip_failure_detection_seconds_bucket{le="10"} 1
centralhub_gossip_failure_detection_seconds_bucket{le="15"} 1
centralhub_gossip_failure_detection_seconds_bucket{le="20"} 1
centralhub_gossip_failure_detection_seconds_bucket{le="30"} 1
centralhub_gossip_failure_detection_seconds_bucket{le="60"} 1
centralhub_gossip_failure_detection_seconds_bucket{le="120"} 1
centralhub_gossip_failure_detection_seconds_bucket{le="+Inf"} 1
centralhub_gossip_failure_detection_seconds_sum 3
centralhub_gossip_failure_detection_seconds_count 1
`
	if err := testutil.GatherAndCompare(promReg, strings.NewReader(expected), "centralhub_gossip_failure_detection_seconds"); err != nil {
		t.Fatal(err)
	}
}

func TestMembersFilteredByTenant(t *testing.T) {
	reg := &fakeRegistry{known: map[hub.InstanceKey]bool{{Tenant: "a", Service: "s", Instance: "i"}: true}}
	failedB := agent("b/s/i", "b", "s", "i")
	failedB.Status = "failed"
	cl := &fakeCluster{members: []gossip.Member{
		agent("a/s/i", "a", "s", "i"), failedB,
		{Name: "hub/h", Status: "alive", Tags: map[string]string{gossip.TagRole: gossip.RoleHub, gossip.TagAPI: "h:7000"}},
		{Name: "stray", Status: "alive", Tags: map[string]string{}},
	}}
	promReg := prometheus.NewRegistry()
	w, err := New(cl, reg, promReg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	names := func(ms []Member) string {
		var out []string
		for _, m := range ms {
			out = append(out, m.Name)
		}
		return strings.Join(out, ",")
	}
	if got := names(w.Members(func(t string) bool { return t == "a" }, false)); got != "a/s/i,hub/h" {
		t.Fatalf("tenant a sees %s", got)
	}
	all := w.Members(func(string) bool { return true }, true)
	if got := names(all); got != "a/s/i,b/s/i,hub/h,stray" {
		t.Fatalf("every tenant sees %s", got)
	}
	if !all[0].Registered || all[1].Registered || all[2].Role != "hub" || all[3].Role != "unknown" {
		t.Fatalf("members %+v", all)
	}
	if n := testutil.CollectAndCount(membersCollector{w}); n != 9 {
		t.Fatalf("centralhub_gossip_members series: %d, want 8 role×state plus unknown/alive", n)
	}
	expected := "# HELP centralhub_gossip_members Gossip members this hub knows, by role (agent, hub) and state (alive, leaving, left, failed).\n# TYPE centralhub_gossip_members gauge\n" +
		`centralhub_gossip_members{role="agent",state="alive"} 1
centralhub_gossip_members{role="agent",state="failed"} 1
centralhub_gossip_members{role="agent",state="leaving"} 0
centralhub_gossip_members{role="agent",state="left"} 0
centralhub_gossip_members{role="hub",state="alive"} 1
centralhub_gossip_members{role="hub",state="failed"} 0
centralhub_gossip_members{role="hub",state="leaving"} 0
centralhub_gossip_members{role="hub",state="left"} 0
centralhub_gossip_members{role="unknown",state="alive"} 1
`
	if err := testutil.GatherAndCompare(promReg, strings.NewReader(expected), "centralhub_gossip_members"); err != nil {
		t.Fatal(err)
	}
}
