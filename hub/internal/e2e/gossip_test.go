package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/centralhub/centralhub/pkg/auth"
)

// gossipKeyFile writes a fresh base64 gossip key into dir.
func gossipKeyFile(t *testing.T, dir string) string {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "gossip.key")
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(k)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// freePortOn returns host:port on ip that was free a moment ago (TCP and UDP, as gossip needs).
func freePortOn(t *testing.T, ip string) string {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", ip+":0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		pc, err := net.ListenPacket("udp", addr)
		_ = ln.Close()
		if err == nil {
			_ = pc.Close()
			return addr
		}
	}
	t.Fatalf("no free TCP+UDP port on %s", ip)
	return ""
}

// gossipYAML is an agent's gossip section (the LAN profile, as in production).
func gossipYAML(bind, join, keyFile string) string {
	return fmt.Sprintf("interval: 10s\ngossip:\n  bind: %s\n  join: [%q]\n  key_file: %s\n  keyring_file: %s\n",
		bind, join, keyFile, keyFile+"."+strings.NewReplacer(":", "_", ".", "_").Replace(bind)+".keyring")
}

// failedEvents reads centralhub_gossip_events_total{type="failed"} from the hub's /metrics.
func failedEvents(t *testing.T, h *hubProc) float64 {
	t.Helper()
	code, body := getJSON(t, h.url+"/metrics", issue(t, auth.Admin, "*", ""), nil)
	if code != 200 {
		t.Fatalf("metrics: %d", code)
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, `centralhub_gossip_events_total{type="failed"} `); ok {
			var n float64
			if _, err := fmt.Sscan(v, &n); err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no failed events series in /metrics")
	return 0
}

type membersDoc struct {
	Members []struct {
		Name       string            `json:"name"`
		Role       string            `json:"role"`
		State      string            `json:"state"`
		Tags       map[string]string `json:"tags"`
		Registered bool              `json:"registered"`
	} `json:"members"`
}

// memberStates returns name → state of the hub's gossip members.
func memberStates(t *testing.T, h *hubProc) map[string]string {
	t.Helper()
	var doc membersDoc
	if code, body := getJSON(t, h.url+"/api/v1/dashboard/members", issue(t, auth.Admin, "*", ""), &doc); code != 200 {
		t.Fatalf("members: %d %s", code, body)
	}
	out := map[string]string{}
	for _, m := range doc.Members {
		out[m.Name] = m.State
	}
	return out
}

// TestGossipCluster: a hub and six agents, each a real process on its own 127.0.0.x address,
// gossiping with an encryption key. An agent killed with SIGKILL while its service stays up
// turns critical through gossip long before its heartbeat (10 s × stale_after 3) could lapse;
// one stopped with SIGTERM is deregistered without ever turning critical; the killed one,
// restarted, is healthy again.
func TestGossipCluster(t *testing.T) {
	dir := t.TempDir()
	keyFile := gossipKeyFile(t, dir)
	hubGossip := freePortOn(t, "127.0.0.1")
	h := startHub(t, dir+"/data", freePort(t), "--gossip-bind", hubGossip, "--gossip-key-file", keyFile)
	tg := newTarget(t)
	checks := checksYAML("http://"+tg.addr+"/healthz", tg.addr)

	type member struct {
		service, instance, config string
		proc                      *proc
	}
	var agents []*member
	for i, svc := range []string{"orders", "orders", "payments", "payments", "ledger", "search"} {
		m := &member{service: svc, instance: fmt.Sprintf("%s-%d", svc, i)}
		bind := freePortOn(t, fmt.Sprintf("127.0.0.%d", 10+i))
		m.config = agentConfigWith(t, dir, h.url, m.service, m.instance, checks, gossipYAML(bind, hubGossip, keyFile))
		m.proc = startAgent(t, m.config)
		agents = append(agents, m)
	}
	for _, m := range agents {
		waitStatus(t, h, m.service, m.instance, "passing", 30*time.Second)
	}
	eventually(t, 20*time.Second, "seven members alive", func() error {
		states := memberStates(t, h)
		alive := 0
		for _, s := range states {
			if s == "alive" {
				alive++
			}
		}
		if alive != 7 {
			return fmt.Errorf("%v", states)
		}
		return nil
	})

	// kill -9: gossip, not the heartbeat, turns it critical.
	victim := agents[0]
	killed := time.Now()
	victim.proc.kill()
	waitStatus(t, h, victim.service, victim.instance, "critical", 20*time.Second, "hub:gossip=critical:agent unreachable (gossip)")
	t.Logf("kill -9 → critical through gossip in %s", time.Since(killed).Round(100*time.Millisecond))
	if got, checks := instanceStatus(t, h, agents[1].service, agents[1].instance); got != "passing" {
		t.Fatalf("the victim's sibling is %s (%s)", got, checks)
	}

	failedBefore := failedEvents(t, h)
	if failedBefore < 1 {
		t.Fatalf("the kill counted %v failed events", failedBefore)
	}

	// SIGTERM: deregistered, never critical.
	leaver := agents[2]
	_ = leaver.proc.cmd.Process.Signal(syscall.SIGTERM)
	eventually(t, 20*time.Second, "the stopped agent deregistered", func() error {
		got, checks := instanceStatus(t, h, leaver.service, leaver.instance)
		switch got {
		case "":
			return nil
		case "critical":
			t.Fatalf("a gracefully stopped agent turned critical: %s", checks)
		}
		return fmt.Errorf("still %s", got)
	})
	<-leaver.proc.done
	if code := leaver.proc.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("the stopped agent exited %d", code)
	}
	if st := memberStates(t, h)[fmt.Sprintf("default/%s/%s", leaver.service, leaver.instance)]; st != "left" {
		t.Fatalf("the stopped agent's member is %q, want left", st)
	}
	if n := failedEvents(t, h); n != failedBefore {
		t.Fatalf("a graceful stop counted as a failure: failed events %v → %v", failedBefore, n)
	}

	// The killed agent comes back.
	victim.proc = startAgent(t, victim.config)
	checksNow := waitStatus(t, h, victim.service, victim.instance, "passing", 30*time.Second)
	if strings.Contains(checksNow, "hub:gossip") {
		t.Fatalf("the restarted agent still carries the gossip check: %s", checksNow)
	}
}

// TestGossipPartitionHeals cuts a real link: two agents live in their own network namespace,
// joined to the hub's by a veth pair. Taking the link down makes the hub mark them failed
// (critical through gossip) while the agents on its side stay passing; bringing it up lets
// them rejoin with no manual step and leaves no stale critical state behind.
func TestGossipPartitionHeals(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the partition test needs root (ip netns, veth) and CI runs as root")
		}
		t.Skip("the partition test needs root to create network namespaces and veth pairs (ip netns); run as root or in CI")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatalf("the partition test needs iproute2's ip: %v", err)
	}
	ns := fmt.Sprintf("chub-e2e-%d", os.Getpid())
	hostIf, nsIf := fmt.Sprintf("chh%d", os.Getpid()%100000), fmt.Sprintf("chn%d", os.Getpid()%100000)
	const hostIP, nsIP1, nsIP2 = "10.213.7.1", "10.213.7.2", "10.213.7.3"
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", ns).Run() })
	ip("link", "add", hostIf, "type", "veth", "peer", "name", nsIf)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "delete", hostIf).Run() })
	ip("link", "set", nsIf, "netns", ns)
	ip("addr", "add", hostIP+"/24", "dev", hostIf)
	ip("link", "set", hostIf, "up")
	ip("-n", ns, "addr", "add", nsIP1+"/24", "dev", nsIf)
	ip("-n", ns, "addr", "add", nsIP2+"/24", "dev", nsIf)
	ip("-n", ns, "link", "set", nsIf, "up")
	ip("-n", ns, "link", "set", "lo", "up")

	dir := t.TempDir()
	keyFile := gossipKeyFile(t, dir)
	hubGossip := freePortOn(t, hostIP)
	h := startHub(t, dir+"/data", freePortOn(t, hostIP), "--gossip-bind", hubGossip, "--gossip-key-file", keyFile)
	checks := "  - name: alive\n    exec: {command: [\"true\"]}\n    interval: 1s\n"
	type member struct{ service, instance string }
	near := []member{{"orders", "orders-1"}, {"orders", "orders-2"}, {"ledger", "ledger-1"}}
	far := []member{{"payments", "payments-1"}, {"payments", "payments-2"}}
	for i, m := range near {
		bind := fmt.Sprintf("%s:%d", hostIP, 17946+i)
		startAgent(t, agentConfigWith(t, dir, h.url, m.service, m.instance, checks, gossipYAML(bind, hubGossip, keyFile)))
	}
	for i, m := range far {
		bind := fmt.Sprintf("%s:7946", []string{nsIP1, nsIP2}[i])
		cfg := agentConfigWith(t, dir, h.url, m.service, m.instance, checks, gossipYAML(bind, hubGossip, keyFile))
		start(t, "agent (netns) "+m.instance, nil, "ip", "netns", "exec", ns, agentBin, "--config", cfg)
	}
	all := append(append([]member{}, near...), far...)
	for _, m := range all {
		waitStatus(t, h, m.service, m.instance, "passing", 30*time.Second)
	}

	ip("link", "set", hostIf, "down") // the cut
	cut := time.Now()
	for _, m := range far {
		waitStatus(t, h, m.service, m.instance, "critical", 30*time.Second, "hub:gossip=critical")
	}
	t.Logf("cut → both far agents critical in %s", time.Since(cut).Round(100*time.Millisecond))
	for _, m := range near {
		if got, checks := instanceStatus(t, h, m.service, m.instance); got != "passing" {
			t.Fatalf("%s on the hub's side is %s (%s)", m.instance, got, checks)
		}
	}
	for _, m := range far {
		if st := memberStates(t, h)["default/"+m.service+"/"+m.instance]; st != "failed" {
			t.Fatalf("the hub holds %s's member %q, want failed", m.instance, st)
		}
	}

	ip("link", "set", hostIf, "up") // the heal
	healed := time.Now()
	for _, m := range far {
		checks := waitStatus(t, h, m.service, m.instance, "passing", 60*time.Second)
		if strings.Contains(checks, "hub:") {
			t.Fatalf("%s kept a stale hub check after the heal: %s", m.instance, checks)
		}
		t.Logf("heal → %s passing in %s", m.instance, time.Since(healed).Round(100*time.Millisecond))
	}
	eventually(t, 30*time.Second, "every member alive after the heal", func() error {
		for name, st := range memberStates(t, h) {
			if st != "alive" {
				return fmt.Errorf("%s is %s", name, st)
			}
		}
		return nil
	})
	t.Logf("heal → all passing and alive in %s", time.Since(healed).Round(100*time.Millisecond))
}

// TestAgentFailsOverToAliveHub: an agent configured with two hubs reports to the first; when
// that hub stops (and leaves the gossip cluster), the agent turns to the second, which gossip
// says is alive, without waiting for a send to the stopped one to fail.
func TestAgentFailsOverToAliveHub(t *testing.T) {
	dir := t.TempDir()
	keyFile := gossipKeyFile(t, dir)
	g1, g2 := freePortOn(t, "127.0.0.1"), freePortOn(t, "127.0.0.1")
	h1 := startHub(t, dir+"/data1", freePort(t), "--gossip-bind", g1, "--gossip-key-file", keyFile)
	h2 := startHub(t, dir+"/data2", freePort(t), "--gossip-bind", g2, "--gossip-key-file", keyFile, "--gossip-join", g1)
	tg := newTarget(t)
	extra := strings.Replace(gossipYAML(freePortOn(t, "127.0.0.20"), g1, keyFile), "interval: 10s", "interval: 2s", 1)
	cfg := agentConfigWith(t, dir, h1.url, "orders", "orders-1", checksYAML("http://"+tg.addr+"/", tg.addr), extra)
	raw, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	withURLs := strings.Replace(string(raw), "  url: "+h1.url+"\n", "  url: "+h1.url+"\n  urls: ["+h2.url+"]\n", 1)
	if err := os.WriteFile(cfg, []byte(withURLs), 0o600); err != nil {
		t.Fatal(err)
	}
	ag := startAgent(t, cfg)
	waitStatus(t, h1, "orders", "orders-1", "passing", 30*time.Second)
	if got, _ := instanceStatus(t, h2, "orders", "orders-1"); got != "" {
		t.Fatalf("the second hub got reports while the first answered: %s", got)
	}
	eventually(t, 20*time.Second, "the second hub sees the agent alive", func() error {
		if st := memberStates(t, h2)["default/orders/orders-1"]; st != "alive" {
			return fmt.Errorf("%q", st)
		}
		return nil
	})
	h1.stop(t)
	waitStatus(t, h2, "orders", "orders-1", "passing", 15*time.Second)
	if !strings.Contains(ag.out.String(), "gossip reports the hub in use failed; switching to an alive one") {
		t.Fatalf("the agent did not switch on gossip's word:\n%s", ag.out.String())
	}
	if st := memberStates(t, h2)["hub/"+strings.TrimPrefix(h1.url, "http://")]; st != "left" {
		t.Fatalf("the stopped hub's member is %q on the second hub, want left", st)
	}
}

// TestHubRestartRejoinsGossip: a hub stopped with SIGTERM leaves the cluster; restarted, it
// must be back in it — with its data directory by its gossip snapshot, with a fresh one by the
// agents joining again when they know no hub alive — so that a kill -9 is still noticed.
func TestHubRestartRejoinsGossip(t *testing.T) {
	dir := t.TempDir()
	keyFile := gossipKeyFile(t, dir)
	listen, hubGossip := freePort(t), freePortOn(t, "127.0.0.1")
	hubArgs := []string{"--gossip-bind", hubGossip, "--gossip-key-file", keyFile}
	h := startHub(t, dir+"/data", listen, hubArgs...)
	checks := "  - name: alive\n    exec: {command: [\"true\"]}\n    interval: 1s\n"
	var agents []*proc
	for i := range 3 {
		inst := fmt.Sprintf("orders-%d", i)
		cfg := agentConfigWith(t, dir, h.url, "orders", inst, checks,
			strings.Replace(gossipYAML(freePortOn(t, fmt.Sprintf("127.0.0.%d", 30+i)), hubGossip, keyFile), "interval: 10s", "interval: 2s", 1))
		agents = append(agents, startAgent(t, cfg))
	}
	allAlive := func(h *hubProc, want int) {
		t.Helper()
		eventually(t, 30*time.Second, fmt.Sprintf("%d members alive in the hub's gossip", want), func() error {
			states := memberStates(t, h)
			alive := 0
			for _, st := range states {
				if st == "alive" {
					alive++
				}
			}
			if alive != want {
				return fmt.Errorf("%v", states)
			}
			return nil
		})
	}
	for i := range agents {
		waitStatus(t, h, "orders", fmt.Sprintf("orders-%d", i), "passing", 30*time.Second)
	}
	allAlive(h, 4)

	for round, dataDir := range []string{dir + "/data", dir + "/fresh-data"} {
		h.stop(t)
		h = startHub(t, dataDir, listen, hubArgs...)
		allAlive(h, 4-round) // the hub and the agents not yet killed
		victim := fmt.Sprintf("orders-%d", round)
		waitStatus(t, h, "orders", victim, "passing", 30*time.Second)
		agents[round].kill()
		waitStatus(t, h, "orders", victim, "critical", 20*time.Second, "hub:gossip=critical")
	}
}
