package httpapi_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/centralhub/centralhub/hub/internal/httpapi"
	"github.com/centralhub/centralhub/hub/internal/membership"
	"github.com/centralhub/centralhub/hub/internal/registry"
	"github.com/centralhub/centralhub/pkg/auth"
	"github.com/centralhub/centralhub/pkg/gossip"
	"github.com/centralhub/centralhub/pkg/status"
)

func gossipKey(t *testing.T) string {
	t.Helper()
	k := make([]byte, gossip.KeyLen)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(k)
}

func loopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startMember starts a real gossip member on loopback with key and tags, joining join.
func startMember(t *testing.T, name, key string, tags map[string]string, join ...string) *gossip.Gossip {
	t.Helper()
	k, err := gossip.ParseKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := gossip.DefaultConfig()
	cfg.NodeName, cfg.Bind, cfg.Join, cfg.Keys, cfg.Tags = name, loopbackAddr(t), join, [][]byte{k}, tags
	cfg.JoinRetry = 100 * time.Millisecond // the LAN profile: keyring queries are best effort, and local's fewer retransmits lose some
	g, err := gossip.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Shutdown() })
	return g
}

func drain(g *gossip.Gossip) {
	go func() {
		for range g.Events() {
		}
	}()
}

func agentTags(tenant, service, instance string) map[string]string {
	return map[string]string{gossip.TagRole: gossip.RoleAgent, gossip.TagTenant: tenant, gossip.TagService: service, gossip.TagInstance: instance,
		gossip.TagBoot: "1"} // reportJSON's boot
}

// gossipEnv is an API whose hub is a real gossip member, with three agent members: one of
// default that reported, one of default that never did, one of tenant beta.
func gossipEnv(t *testing.T) (*env, *gossip.Gossip, string) {
	t.Helper()
	key := gossipKey(t)
	hubMember := startMember(t, "hub/test", key, map[string]string{gossip.TagRole: gossip.RoleHub, gossip.TagAPI: "127.0.0.1:7000"})
	var w *membership.Watcher
	e := newEnvWith(t, func(c *httpapi.Config) {
		var err error
		w, err = membership.New(hubMember, c.Registry.(*registry.Registry), prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		c.Members, c.Keyring = w, hubMember
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	if r := e.do("POST", "/api/v1/agent/reports", e.token(auth.Agent, "default", "orders"), reportJSON(t, "default", "orders", "o1", status.Passing)); r.code != 200 {
		t.Fatalf("report: %d %s", r.code, r.body)
	}
	hubAddr := hubMember.Local().Addr
	for _, m := range []struct{ name, tenant, service, instance string }{
		{"default/orders/o1", "default", "orders", "o1"},
		{"default/orders/ghost", "default", "orders", "ghost"},
		{"beta/billing/b1", "beta", "billing", "b1"},
	} {
		drain(startMember(t, m.name, key, agentTags(m.tenant, m.service, m.instance), hubAddr))
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(hubMember.Members()) < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("members never joined: %+v", hubMember.Members())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return e, hubMember, key
}

func TestMembersRoute(t *testing.T) {
	e, _, _ := gossipEnv(t)
	list := func(tok string) map[string]membership.Member {
		t.Helper()
		r := e.do("GET", "/api/v1/dashboard/members", tok, nil)
		if r.code != 200 {
			t.Fatalf("members: %d %s", r.code, r.body)
		}
		var body struct {
			Enabled bool                `json:"enabled"`
			Members []membership.Member `json:"members"`
		}
		if err := json.Unmarshal([]byte(r.body), &body); err != nil || !body.Enabled {
			t.Fatalf("members body %s: %v", r.body, err)
		}
		out := map[string]membership.Member{}
		for _, m := range body.Members {
			out[m.Name] = m
		}
		return out
	}
	viewer := list(e.token(auth.Viewer, "default", ""))
	if _, ok := viewer["beta/billing/b1"]; ok || len(viewer) != 3 {
		t.Fatalf("a default viewer must see the hub and default's two agents only: %v", viewer)
	}
	if m := viewer["default/orders/o1"]; !m.Registered || m.Role != "agent" || m.State != "alive" || m.Tags["service"] != "orders" || m.Address == "" {
		t.Fatalf("reported agent: %+v", m)
	}
	if m := viewer["default/orders/ghost"]; m.Registered {
		t.Fatalf("an agent that never reported must not be registered: %+v", m)
	}
	if m := viewer["hub/test"]; m.Role != "hub" || m.Tags["api"] != "127.0.0.1:7000" {
		t.Fatalf("hub member: %+v", m)
	}
	if all := list(e.token(auth.Admin, "*", "")); len(all) != 4 {
		t.Fatalf("an admin of every tenant sees every member: %v", all)
	}
	if r := e.do("GET", "/api/v1/dashboard/members", "", nil); r.code != 401 {
		t.Fatalf("no token: %d", r.code)
	}
	if r := e.do("GET", "/api/v1/dashboard/members", e.token(auth.Metrics, "*", ""), nil); r.code != 403 {
		t.Fatalf("metrics token: %d", r.code)
	}
	// The ghost's gossip changed no health: the registry still holds one instance.
	if c := e.reg.Counts(func(string) bool { return true }); c.Instances != 1 {
		t.Fatalf("gossip members created instances: %+v", c)
	}
}

func TestGossipKeysRoute(t *testing.T) {
	e, _, oldKey := gossipEnv(t)
	admin := e.token(auth.Admin, "*", "")
	keyBody := func(k string) []byte { return []byte(fmt.Sprintf(`{"key": %q}`, k)) }
	newKey := gossipKey(t)

	for name, tok := range map[string]string{
		"operator":         e.token(auth.Operator, "default", ""),
		"admin of default": e.token(auth.Admin, "default", ""),
	} {
		if r := e.do("POST", "/api/v1/admin/gossip/keys", tok, keyBody(newKey)); r.code != 403 {
			t.Fatalf("%s installing a key: %d %s", name, r.code, r.body)
		}
	}
	for _, bad := range []string{`{}`, `{"key": "c2hvcnQ="}`, `{"key": "x", "extra": 1}`, `not json`} {
		if r := e.do("POST", "/api/v1/admin/gossip/keys", admin, []byte(bad)); r.code != 400 || !strings.Contains(r.body, "key") {
			t.Fatalf("body %s: %d %s, want 400 naming the key", bad, r.code, r.body)
		}
	}
	steps := []struct {
		method string
		key    string
		code   int
	}{
		{"POST", newKey, 200},
		{"PUT", newKey, 200},
		{"DELETE", newKey, 409}, // the key in use cannot go
		{"DELETE", oldKey, 200},
	}
	for _, s := range steps {
		r := e.do(s.method, "/api/v1/admin/gossip/keys", admin, keyBody(s.key))
		if r.code != s.code {
			t.Fatalf("%s %s: %d %s, want %d", s.method, gossip.Fingerprint(s.key), r.code, r.body, s.code)
		}
		if strings.Contains(r.body, s.key) {
			t.Fatalf("a response carries key material: %s", r.body)
		}
	}
	r := e.do("GET", "/api/v1/admin/gossip/keys", admin, nil)
	var list struct {
		Keys []struct {
			Fingerprint string `json:"fingerprint"`
			Members     int    `json:"members"`
			Primary     int    `json:"primary"`
		} `json:"keys"`
		Members int `json:"members"`
	}
	if err := json.Unmarshal([]byte(r.body), &list); err != nil || r.code != 200 {
		t.Fatalf("list: %d %s %v", r.code, r.body, err)
	}
	if len(list.Keys) != 1 || list.Keys[0].Fingerprint != gossip.Fingerprint(newKey) || list.Keys[0].Members != 4 || list.Keys[0].Primary != 4 || list.Members != 4 {
		t.Fatalf("after rotation every member must hold and use only the new key: %s", r.body)
	}
	if strings.Contains(r.body, newKey) {
		t.Fatal("the list carries key material")
	}
}

func TestGossipOff(t *testing.T) {
	e := newEnv(t, false)
	if r := e.do("GET", "/api/v1/dashboard/members", e.token(auth.Viewer, "default", ""), nil); r.code != 200 || !strings.Contains(r.body, `"enabled":false`) {
		t.Fatalf("members without gossip: %d %s", r.code, r.body)
	}
	if r := e.do("GET", "/api/v1/admin/gossip/keys", e.token(auth.Admin, "*", ""), nil); r.code != 409 || !strings.Contains(r.body, "gossip is not enabled") {
		t.Fatalf("keys without gossip: %d %s", r.code, r.body)
	}
}
