// Package amtest starts a real Prometheus Alertmanager (Debian's prometheus-alertmanager) for
// tests and reads the alerts it holds. Production code never imports it.
package amtest

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"
)

// waitLimit bounds how long Start waits for Alertmanager to be ready.
const waitLimit = 30 * time.Second

// Alert is the part of an alert from Alertmanager's GET /api/v2/alerts that tests read.
type Alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	UpdatedAt   time.Time         `json:"updatedAt"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

// Server is a running Alertmanager.
type Server struct {
	URL    string // http://127.0.0.1:port
	client *http.Client
}

// logBuffer is a bytes.Buffer safe for the process's concurrent writes.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// Start starts prometheus-alertmanager on a free loopback port with clustering off and waits
// until it is ready; it is killed when the test ends. Without the binary the test skips, or
// fails when CI=true.
func Start(t *testing.T) *Server {
	t.Helper()
	bin, err := exec.LookPath("prometheus-alertmanager")
	if err != nil {
		msg := "prometheus-alertmanager not on PATH: install the Debian package prometheus-alertmanager"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "am.yml")
	if err := os.WriteFile(cfgFile, []byte("route:\n  receiver: \"null\"\nreceivers:\n  - name: \"null\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Server{client: &http.Client{Timeout: 5 * time.Second}}
	t.Cleanup(s.client.CloseIdleConnections)
	// The free port can be taken between finding and binding it: start again on another.
	for try := 1; ; try++ {
		addr := freeLoopbackAddr(t)
		logs := &logBuffer{}
		cmd := exec.Command(bin, "--config.file="+cfgFile, "--storage.path="+dir, "--web.listen-address="+addr,
			"--cluster.listen-address=", "--log.level=debug")
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", bin, err)
		}
		exited := make(chan struct{})
		go func() {
			_ = cmd.Wait()
			close(exited)
		}()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited
			if t.Failed() {
				t.Logf("alertmanager on %s logged:\n%s", addr, logs)
			}
		})
		s.URL = "http://" + addr
		if s.waitReady(t, exited) {
			return s
		}
		if try == 3 {
			t.Fatalf("alertmanager exited before it was ready, %d times; last log:\n%s", try, logs)
		}
	}
}

// waitReady polls /-/ready until it answers 200 (true) or the process exits (false).
func (s *Server) waitReady(t *testing.T, exited <-chan struct{}) bool {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		select {
		case <-exited:
			return false
		default:
		}
		if resp, err := s.client.Get(s.URL + "/-/ready"); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager at %s not ready after %s", s.URL, waitLimit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// Active returns the alert named alertname that Alertmanager lists as active, if any.
func (s *Server) Active(t *testing.T, alertname string) (Alert, bool) {
	t.Helper()
	resp, err := s.client.Get(s.URL + "/api/v2/alerts?active=true")
	if err != nil {
		t.Fatalf("list alerts: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list alerts: %s", resp.Status)
	}
	var alerts []Alert
	if err := json.NewDecoder(resp.Body).Decode(&alerts); err != nil {
		t.Fatalf("decode alerts: %v", err)
	}
	for _, a := range alerts {
		if a.Labels["alertname"] == alertname {
			return a, true
		}
	}
	return Alert{}, false
}
