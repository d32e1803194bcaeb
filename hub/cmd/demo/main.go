// Command demo runs a small Central Hub on this machine: a hub in dev mode, built-in stand-in
// services that can be broken and healed over HTTP, and an agent beside each, then prints the
// dashboard URL and an admin token. `make demo` runs it; Ctrl-C stops everything it started.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/centralhub/centralhub/hub/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

// standIn is a demo service: an HTTP server whose /healthz answers 200 until /break, and
// which the control server can stop (its port refuses connections) and start again.
type standIn struct {
	name   string
	addr   string
	broken atomic.Bool
	mux    *http.ServeMux
	mu     sync.Mutex
	srv    *http.Server // nil while stopped
}

func newStandIn(name string) (*standIn, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for %s: %w", name, err)
	}
	s := &standIn{name: name, addr: ln.Addr().String(), mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if s.broken.Load() {
			http.Error(w, name+" is broken (demo)", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "%s ok\n", name)
	})
	s.mux.HandleFunc("POST /break", func(w http.ResponseWriter, _ *http.Request) {
		s.broken.Store(true)
		fmt.Fprintf(w, "%s broken\n", name)
	})
	s.mux.HandleFunc("POST /heal", func(w http.ResponseWriter, _ *http.Request) {
		s.broken.Store(false)
		fmt.Fprintf(w, "%s healed\n", name)
	})
	s.serve(ln)
	return s, nil
}

func (s *standIn) serve(ln net.Listener) {
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 5 * time.Second}
	s.srv = srv
	go func() { _ = srv.Serve(ln) }()
}

// setStopped stops the service (its listener and connections close) or starts it again on the
// same address.
func (s *standIn) setStopped(stopped bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if stopped {
		if s.srv == nil {
			return nil
		}
		err := s.srv.Close()
		s.srv = nil
		return err
	}
	if s.srv != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("start %s: %w", s.name, err)
	}
	s.serve(ln)
	return nil
}

func (s *standIn) url() string { return "http://" + s.addr }

// component is infrastructure the demo probes, through a relay the demo can break: the relay
// forwards to the real server when one answers on its usual port, and is a bare stand-in
// listener otherwise. Broken, it refuses connections, as a dead server would.
type component struct {
	name, upstream string // upstream is "" for a stand-in
	addr           string // the relay's address, which the agents probe
	mu             sync.Mutex
	ln             net.Listener
}

func newComponent(name, usual string) (*component, error) {
	c := &component{name: name}
	if conn, err := net.DialTimeout("tcp", usual, 300*time.Millisecond); err == nil {
		_ = conn.Close()
		c.upstream = usual
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("relay for %s: %w", name, err)
	}
	c.addr = ln.Addr().String()
	c.serve(ln)
	return c, nil
}

func (c *component) serve(ln net.Listener) {
	c.ln = ln
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go c.relay(conn)
		}
	}()
}

func (c *component) relay(conn net.Conn) {
	defer conn.Close()
	if c.upstream == "" {
		return // a stand-in: accepting the connection is all a TCP probe asks
	}
	up, err := net.DialTimeout("tcp", c.upstream, time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	go func() { _, _ = io.Copy(up, conn) }()
	_, _ = io.Copy(conn, up)
}

// probe is the check the agents run against the component, as a YAML flow mapping, and its kind:
// the real protocol probe when a real PostgreSQL, Redis (for dragonfly) or NATS is behind the
// relay, a TCP connect to a stand-in or to the other real servers.
func (c *component) probe(pgUser string) (kind, yaml string) {
	if c.upstream != "" {
		switch c.name {
		case "postgres":
			return "postgres", fmt.Sprintf("postgres: {url: \"postgres://%s@%s/postgres?sslmode=disable\"}", pgUser, c.addr)
		case "dragonfly":
			return "redis", fmt.Sprintf("redis: {address: \"%s\"}", c.addr)
		case "nats":
			return "nats", fmt.Sprintf("nats: {url: \"nats://%s\"}", c.addr)
		}
	}
	return "tcp", fmt.Sprintf("tcp: {address: \"%s\"}", c.addr)
}

// meta is the component_meta its probes carry, as a YAML flow mapping: a stand-in says so (the
// dashboard labels it), a relay names the real server behind it.
func (c *component) meta() string {
	if c.upstream == "" {
		return `{stand-in: "true"}`
	}
	return fmt.Sprintf("{relay: %q}", c.upstream)
}

// setBroken closes the relay's listener (connections are refused) or listens again on the
// same address.
func (c *component) setBroken(broken bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if broken {
		if c.ln != nil {
			err := c.ln.Close()
			c.ln = nil
			return err
		}
		return nil
	}
	if c.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return fmt.Errorf("heal %s: %w", c.name, err)
	}
	c.serve(ln)
	return nil
}

func (c *component) close() { _ = c.setBroken(true) }

// control serves POST /{name}/break and /{name}/heal for every component, and POST
// /{name}/stop and /{name}/start for every service.
func control(comps map[string]*component, standIns []*standIn) (*http.Server, string, error) {
	mux := http.NewServeMux()
	breakers, stoppers := map[string]func(bool) error{}, map[string]func(bool) error{}
	for name, c := range comps {
		breakers[name] = c.setBroken
	}
	for _, s := range standIns {
		stoppers[s.name] = s.setStopped
	}
	for _, a := range []struct {
		action, done, what string
		set                map[string]func(bool) error
		value              bool
	}{
		{"break", "broken", "component", breakers, true}, {"heal", "healed", "component", breakers, false},
		{"stop", "stopped", "service", stoppers, true}, {"start", "started", "service", stoppers, false},
	} {
		mux.HandleFunc("POST /{name}/"+a.action, func(w http.ResponseWriter, r *http.Request) {
			name := r.PathValue("name")
			set := a.set[name]
			if set == nil {
				http.Error(w, "no such "+a.what, http.StatusNotFound)
				return
			}
			if err := set(a.value); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			fmt.Fprintf(w, "%s %s\n", name, a.done)
		})
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("control: %w", err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, "http://" + ln.Addr().String(), nil
}

// service is one demo service: what it needs and which components it probes.
type service struct {
	name       string
	dependsOn  []string
	components []string
}

// topology is the demo's trading platform (DESIGN.md, "The demo").
var topology = []service{
	{name: "api-gateway", dependsOn: []string{"auth-service", "user-management", "trading-signal", "mt5-integration", "notification", "analytics"}},
	{name: "auth-service", dependsOn: []string{"postgres"}, components: []string{"postgres"}},
	{name: "user-management", dependsOn: []string{"postgres"}, components: []string{"postgres"}},
	{name: "trading-signal", dependsOn: []string{"nats", "kafka", "clickhouse"}, components: []string{"nats", "kafka", "clickhouse"}},
	{name: "mt5-integration", dependsOn: []string{"dragonfly", "nats"}, components: []string{"dragonfly", "nats"}},
	{name: "notification", dependsOn: []string{"nats"}, components: []string{"nats"}},
	{name: "analytics", dependsOn: []string{"clickhouse", "postgres"}, components: []string{"clickhouse", "postgres"}},
}

// componentAddrs are the components' usual addresses; dragonfly speaks the Redis protocol.
var componentAddrs = map[string]string{
	"postgres": "127.0.0.1:5432", "nats": "127.0.0.1:4222", "dragonfly": "127.0.0.1:6379",
	"kafka": "127.0.0.1:9092", "clickhouse": "127.0.0.1:8123",
}

// criticalComponents are those whose failure makes the whole platform unhealthy.
var criticalComponents = map[string]bool{"postgres": true, "nats": true}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	bin := fs.String("bin", "bin", "directory holding the hub and agent binaries")
	dir := fs.String("dir", ".demo", "working directory for the hub's data, agent configs and logs (wiped at start)")
	listen := fs.String("listen", "127.0.0.1:7000", "where the hub listens")
	gossipAddr := fs.String("gossip", "127.0.0.1:7946", "where the hub gossips (agents pick free ports beside it); empty: no gossip")
	duration := fs.Duration("duration", 0, "stop after this long (0: run until Ctrl-C)")
	pgUser := fs.String("postgres-user", "postgres", "the user the postgres probe logs in as when a real PostgreSQL answers on 5432 (it needs no password there)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	if err := os.RemoveAll(*dir); err != nil {
		return fmt.Errorf("clean %s: %w", *dir, err)
	}
	for _, d := range []string{"data", "agents", "logs"} {
		if err := os.MkdirAll(filepath.Join(*dir, d), 0o700); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	hubBin, agentBin := filepath.Join(*bin, "hub"), filepath.Join(*bin, "agent")
	var procs []*exec.Cmd
	defer func() { stopAll(procs) }()

	hubCmd, hubURL, adminToken, err := startHub(ctx, hubBin, *dir, *listen, *gossipAddr)
	if err != nil {
		return err
	}
	procs = append(procs, hubCmd)

	comps := map[string]*component{}
	for name, addr := range componentAddrs {
		c, err := newComponent(name, addr)
		if err != nil {
			return err
		}
		defer c.close()
		comps[name] = c
	}
	var standIns []*standIn
	for _, svc := range topology {
		s, err := newStandIn(svc.name)
		if err != nil {
			return err
		}
		defer func() { _ = s.setStopped(true) }()
		standIns = append(standIns, s)
	}
	ctl, controlURL, err := control(comps, standIns)
	if err != nil {
		return err
	}
	defer ctl.Close()
	for i, svc := range topology {
		cmd, err := startAgent(ctx, agentBin, hubBin, *dir, hubURL, *gossipAddr, svc, standIns[i], comps, *pgUser)
		if err != nil {
			return err
		}
		procs = append(procs, cmd)
	}

	fmt.Fprintf(stdout, "\nCentral Hub demo is running.\n\n  Dashboard API: %s/api/v1/dashboard/health\n  Admin token:   %s\n\n", hubURL, adminToken)
	fmt.Fprintf(stdout, "  Try:  curl -s -H \"Authorization: Bearer $TOKEN\" %s/api/v1/dashboard/summary\n\n", hubURL)
	fmt.Fprintln(stdout, "  Services (break and heal them to watch the hub react):")
	for _, s := range standIns {
		fmt.Fprintf(stdout, "    %-15s curl -XPOST %s/break   |   curl -XPOST %s/heal\n", s.name, s.url(), s.url())
	}
	fmt.Fprintf(stdout, "  Stop a service and start it again (its agent stays; its port refuses connections meanwhile):\n")
	fmt.Fprintf(stdout, "    curl -XPOST %s/<service>/stop   |   curl -XPOST %s/<service>/start\n", controlURL, controlURL)
	fmt.Fprintln(stdout, "\n  Components (break one, e.g. nats, and watch the impact: /api/v1/dashboard/impact-analysis,")
	fmt.Fprintln(stdout, "  and the alerts: /api/v1/dashboard/alerts — nats's fires, what it takes down is suppressed_by nats):")
	names := make([]string, 0, len(comps))
	for name := range comps {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		c := comps[name]
		probe, _ := c.probe(*pgUser)
		kind := "relay to the real server at " + c.upstream + ", probed with " + probe
		if c.upstream == "" {
			kind = "stand-in listener, probed with tcp"
		}
		fmt.Fprintf(stdout, "    %-15s curl -XPOST %s/%s/break   |   curl -XPOST %s/%s/heal   (%s, %s)\n",
			name, controlURL, name, controlURL, name, c.addr, kind)
	}
	if *gossipAddr != "" {
		fmt.Fprintf(stdout, "\n  Gossip on %s: kill -9 an agent (pgrep -f %s/agents) and its instance turns critical in seconds;\n", *gossipAddr, *dir)
		fmt.Fprintf(stdout, "  members: curl -s -H \"Authorization: Bearer $TOKEN\" %s/api/v1/dashboard/members\n", hubURL)
	}
	fmt.Fprintf(stdout, "\n  Logs: %s/logs   Press Ctrl-C to stop.\n", *dir)

	<-ctx.Done()
	fmt.Fprintln(stdout, "\nstopping the demo")
	return nil
}

// demoHubConfig is the demo hub's configuration: quick alerts.
const demoHubConfig = `alerts:
  resolve_after: 5s
  builtin:
    instance_critical: {for: 5s}
    service_unhealthy: {for: 5s}
    service_degraded: {for: 10s}
    component_critical: {for: 5s}
`

// startHub starts the hub in dev mode and reads its URL and admin token from its stdout.
func startHub(ctx context.Context, hubBin, dir, listen, gossipAddr string) (*exec.Cmd, string, string, error) {
	logf, err := os.Create(filepath.Join(dir, "logs", "hub.log"))
	if err != nil {
		return nil, "", "", fmt.Errorf("hub log: %w", err)
	}
	// Alerts fire after 5 s here, not the production defaults' 30 s, so a newcomer sees them
	// come (and go) while watching.
	cfgFile := filepath.Join(dir, "hub.yaml")
	if err := os.WriteFile(cfgFile, []byte(demoHubConfig), 0o600); err != nil {
		return nil, "", "", fmt.Errorf("write hub config: %w", err)
	}
	args := []string{"serve", "--dev", "--config", cfgFile, "--data-dir", filepath.Join(dir, "data"), "--listen", listen}
	if gossipAddr != "" {
		// --dev keeps a generated gossip key in the data directory; the agents read it there.
		args = append(args, "--gossip-bind", gossipAddr)
	}
	cmd := exec.Command(hubBin, args...)
	cmd.Stderr = logf
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", "", fmt.Errorf("hub stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, "", "", fmt.Errorf("start hub (%s; run `make build`): %w", hubBin, err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var url, token string
	timeout := time.After(15 * time.Second)
	for token == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				_ = cmd.Wait()
				return nil, "", "", fmt.Errorf("hub exited at start-up; see %s/logs/hub.log", dir)
			}
			if v, ok := strings.CutPrefix(line, "dev mode: API on "); ok {
				url = v
			}
			if v, ok := strings.CutPrefix(line, "dev mode: admin token (24h): "); ok {
				token = v
			}
		case <-timeout:
			stopAll([]*exec.Cmd{cmd})
			return nil, "", "", errors.New("hub printed no admin token within 15s")
		case <-ctx.Done():
			stopAll([]*exec.Cmd{cmd})
			return nil, "", "", ctx.Err()
		}
	}
	go func() {
		for range lines { // keep draining so the hub never blocks on stdout
		}
	}()
	return cmd, url, token, nil
}

func startAgent(ctx context.Context, agentBin, hubBin, dir, hubURL, gossipAddr string, svc service, s *standIn, comps map[string]*component, pgUser string) (*exec.Cmd, error) {
	tok, err := exec.CommandContext(ctx, hubBin, "token", "issue", "--data-dir", filepath.Join(dir, "data"),
		"--role", "agent", "--subject", svc.name+"-agent", "--service", svc.name, "--ttl", "720h").Output()
	if err != nil {
		return nil, fmt.Errorf("issue agent token for %s: %w", svc.name, err)
	}
	tokenFile := filepath.Join(dir, "agents", svc.name+".token")
	if err := os.WriteFile(tokenFile, tok, 0o600); err != nil {
		return nil, fmt.Errorf("write token: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "service: %s\ninstance: %s-1\naddress: %s\ninterval: 5s\nlisten: 127.0.0.1:0\n", svc.name, svc.name, s.addr)
	fmt.Fprintf(&b, "hub:\n  url: %s\n  token_file: %s\n", hubURL, tokenFile)
	if len(svc.dependsOn) > 0 {
		fmt.Fprintf(&b, "depends_on: [%s]\n", strings.Join(svc.dependsOn, ", "))
	}
	if gossipAddr != "" {
		bind, err := freeGossipAddr()
		if err != nil {
			return nil, err
		}
		keyFile, _ := filepath.Abs(app.DevGossipKeyPath(filepath.Join(dir, "data")))
		keyring, _ := filepath.Abs(filepath.Join(dir, "agents", svc.name+".keyring"))
		fmt.Fprintf(&b, "gossip:\n  bind: %s\n  join: [%q]\n  key_file: %s\n  keyring_file: %s\n", bind, gossipAddr, keyFile, keyring)
	}
	fmt.Fprintf(&b, "checks:\n  - name: web\n    http: {url: \"%s/healthz\"}\n    interval: 2s\n    timeout: 1s\n", s.url())
	for _, name := range svc.components {
		c := comps[name]
		_, probe := c.probe(pgUser)
		fmt.Fprintf(&b, "  - name: %s\n    %s\n    component: %s\n    component_meta: %s\n    critical: %v\n    interval: 2s\n    timeout: 1s\n",
			name, probe, name, c.meta(), criticalComponents[name])
	}
	cfgFile := filepath.Join(dir, "agents", svc.name+".yaml")
	if err := os.WriteFile(cfgFile, []byte(b.String()), 0o600); err != nil {
		return nil, fmt.Errorf("write agent config: %w", err)
	}
	logf, err := os.Create(filepath.Join(dir, "logs", svc.name+".log"))
	if err != nil {
		return nil, fmt.Errorf("agent log: %w", err)
	}
	cmd := exec.Command(agentBin, "--config", cfgFile)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start agent for %s: %w", svc.name, err)
	}
	return cmd, nil
}

// freeGossipAddr returns a loopback address whose port was free for TCP and UDP a moment ago.
func freeGossipAddr() (string, error) {
	for range 20 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", fmt.Errorf("find a gossip port: %w", err)
		}
		addr := ln.Addr().String()
		pc, err := net.ListenPacket("udp", addr)
		_ = ln.Close()
		if err == nil {
			_ = pc.Close()
			return addr, nil
		}
	}
	return "", errors.New("find a gossip port: none free for both TCP and UDP")
}

// stopAll stops the agents (every process after the first) together, then the hub (the
// first), each with SIGTERM and a bound: agents leave the gossip cluster before the hub goes.
func stopAll(procs []*exec.Cmd) {
	if len(procs) == 0 {
		return
	}
	var wg sync.WaitGroup
	for _, p := range procs[1:] {
		wg.Go(func() { stop(p) })
	}
	wg.Wait()
	stop(procs[0])
}

// stop sends p SIGTERM and waits for it, killing it after 10 s.
func stop(p *exec.Cmd) {
	if p.Process == nil {
		return
	}
	_ = p.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.Process.Kill()
		<-done
	}
}
