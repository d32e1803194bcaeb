package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/centralhub/centralhub/pkg/auth"
)

const secret = "e2e-Zq8Lm2Kx9Vb4Nc7Hy1Tr6We3Pa5SdFgQjU0"

var hubBin, agentBin, demoBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "centralhub-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	hubBin, agentBin, demoBin = filepath.Join(dir, "hub"), filepath.Join(dir, "agent"), filepath.Join(dir, "demo")
	for bin, pkg := range map[string]string{
		hubBin:   "github.com/centralhub/centralhub/hub/cmd/hub",
		agentBin: "github.com/centralhub/centralhub/agent/cmd/agent",
		demoBin:  "github.com/centralhub/centralhub/hub/cmd/demo",
	} {
		out, err := exec.Command("go", "build", "-race", "-o", bin, pkg).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func keys(t *testing.T) *auth.Keys {
	t.Helper()
	k, err := auth.NewKeys([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func issue(t *testing.T, role auth.Role, tenant, service string) string {
	t.Helper()
	tok, err := keys(t).Issue(auth.IssueRequest{Role: role, Subject: "e2e", Tenant: tenant, Service: service, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// freePort returns a loopback address that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// proc is a child process whose combined output is kept for failure messages.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func start(t *testing.T, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin, args...), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a group of its own: kill takes its children too
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) // what it started and left behind (the demo's hub and agents)
		if t.Failed() {
			t.Logf("--- %s output ---\n%s", name, p.out.String())
		}
	})
	return p
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("%s exited %d after SIGTERM:\n%s", p.name, code, p.out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not stop within 20s of SIGTERM", p.name)
	}
}

// kill sends SIGKILL (kill -9) to the process and its group, and waits for the process.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

type hubProc struct {
	*proc
	url     string
	dataDir string
}

func startHub(t *testing.T, dataDir, listen string, extra ...string) *hubProc {
	t.Helper()
	args := append([]string{"serve", "--data-dir", dataDir, "--listen", listen}, extra...)
	p := start(t, "hub", []string{"HUB_JWT_SECRET=" + secret}, hubBin, args...)
	h := &hubProc{proc: p, url: "http://" + listen, dataDir: dataDir}
	waitOK(t, 20*time.Second, "hub ready", h.url+"/ready")
	return h
}

// waitOK polls url until it answers 200.
func waitOK(t *testing.T, within time.Duration, what, url string) {
	t.Helper()
	eventually(t, within, what, func() error {
		res, err := http.Get(url)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("%s: %d", url, res.StatusCode)
		}
		return nil
	})
}

// agentConfig writes an agent YAML file and its token file; checks is YAML for the checks list.
func agentConfig(t *testing.T, dir, hubURL, service, instance, checks string) string {
	t.Helper()
	return agentConfigWith(t, dir, hubURL, service, instance, checks, "interval: 1s\n")
}

// agentConfigWith is agentConfig with extra top-level YAML (which must set interval).
func agentConfigWith(t *testing.T, dir, hubURL, service, instance, checks, extra string) string {
	t.Helper()
	tokenFile := filepath.Join(dir, service+"-"+instance+".token")
	if err := os.WriteFile(tokenFile, []byte(issue(t, auth.Agent, "default", service)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`service: %s
instance: %s
listen: 127.0.0.1:0
hub:
  url: %s
  token_file: %s
%schecks:
%s`, service, instance, hubURL, tokenFile, extra, checks)
	path := filepath.Join(dir, service+"-"+instance+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func startAgent(t *testing.T, config string) *proc {
	t.Helper()
	return start(t, "agent "+filepath.Base(config), nil, agentBin, "--config", config)
}

// eventually polls f until it returns nil or the deadline passes.
func eventually(t *testing.T, within time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %v", what, within, err)
}

type healthDoc struct {
	Status   string `json:"status"`
	Services []struct {
		Tenant    string `json:"tenant"`
		Name      string `json:"name"`
		Status    string `json:"status"`
		Instances []struct {
			Instance string    `json:"instance"`
			Status   string    `json:"status"`
			LastSeen time.Time `json:"last_seen"`
			Checks   []struct {
				Name   string `json:"name"`
				Status string `json:"status"`
				Output string `json:"output"`
			} `json:"checks"`
		} `json:"instances"`
	} `json:"services"`
}

func getJSON(t *testing.T, url, token string, into any) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if into != nil {
		_ = json.Unmarshal(b, into)
	}
	return res.StatusCode, string(b)
}

// instanceStatus returns the status of service/instance on the hub and its checks as
// "name=status" pairs, or "" when the hub does not list it.
func instanceStatus(t *testing.T, h *hubProc, service, instance string) (string, string) {
	t.Helper()
	var doc healthDoc
	code, body := getJSON(t, h.url+"/api/v1/dashboard/health?service="+service, issue(t, auth.Viewer, "default", ""), &doc)
	if code != 200 {
		t.Fatalf("dashboard health: %d %s", code, body)
	}
	for _, s := range doc.Services {
		for _, in := range s.Instances {
			if in.Instance == instance {
				var parts []string
				for _, c := range in.Checks {
					parts = append(parts, c.Name+"="+c.Status+":"+c.Output)
				}
				return in.Status, strings.Join(parts, " | ")
			}
		}
	}
	return "", ""
}

// waitStatus polls until the instance has status want and its checks text contains every
// one of wantChecks ("name=status" pairs), and returns the checks text.
func waitStatus(t *testing.T, h *hubProc, service, instance, want string, within time.Duration, wantChecks ...string) string {
	t.Helper()
	var checks string
	eventually(t, within, fmt.Sprintf("%s/%s %s %v", service, instance, want, wantChecks), func() error {
		var got string
		got, checks = instanceStatus(t, h, service, instance)
		if got != want {
			return fmt.Errorf("status %q (%s)", got, checks)
		}
		for _, c := range wantChecks {
			if !strings.Contains(checks, c) {
				return fmt.Errorf("checks %s lack %s", checks, c)
			}
		}
		return nil
	})
	return checks
}

// target is a real HTTP service that can be stopped and started on the same address.
type target struct {
	addr string
	mu   sync.Mutex
	srv  *http.Server
}

func newTarget(t *testing.T) *target {
	t.Helper()
	tg := &target{addr: freePort(t)}
	tg.up(t)
	t.Cleanup(tg.down)
	return tg
}

func (tg *target) up(t *testing.T) {
	t.Helper()
	tg.mu.Lock()
	defer tg.mu.Unlock()
	var ln net.Listener
	eventually(t, 5*time.Second, "listen on "+tg.addr, func() (err error) {
		ln, err = net.Listen("tcp", tg.addr)
		return err
	})
	tg.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	}), ReadHeaderTimeout: time.Second}
	go func() { _ = tg.srv.Serve(ln) }()
}

func (tg *target) down() {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	if tg.srv != nil {
		_ = tg.srv.Close()
		tg.srv = nil
	}
}

// lacks skips a test that lacks a tool or a server, saying what, or fails it under CI=true,
// where .ci/run provides everything.
func lacks(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(what)
	}
	t.Skip(what)
}
