package e2e

import (
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemo runs what `make demo` runs and drives it as its printout says: the services come
// up healthy, a broken one turns unhealthy on the hub, a healed one recovers.
func TestDemo(t *testing.T) {
	dir := t.TempDir()
	listen := freePort(t)
	p := start(t, "demo", nil, demoBin, "--bin", filepath.Dir(hubBin), "--dir", filepath.Join(dir, "demo"), "--listen", listen,
		"--gossip", freePortOn(t, "127.0.0.1"))

	var token, breakURL, healURL string
	eventually(t, 30*time.Second, "demo printout", func() error {
		out := p.out.String()
		if m := regexp.MustCompile(`Admin token:\s+(\S+)`).FindStringSubmatch(out); m != nil {
			token = m[1]
		}
		if m := regexp.MustCompile(`auth-service\s+curl -XPOST (\S+/break)\s+\|\s+curl -XPOST (\S+/heal)`).FindStringSubmatch(out); m != nil {
			breakURL, healURL = m[1], m[2]
		}
		if token == "" || breakURL == "" {
			return fmt.Errorf("not yet printed: %q", out)
		}
		return nil
	})
	if !strings.Contains(p.out.String(), "http://"+listen+"/api/v1/dashboard/health") {
		t.Fatalf("demo does not print the dashboard URL:\n%s", p.out.String())
	}

	service := func(name string) string {
		var doc healthDoc
		code, body := getJSON(t, "http://"+listen+"/api/v1/dashboard/health", token, &doc)
		if code != 200 {
			t.Fatalf("health with the printed admin token: %d %s", code, body)
		}
		for _, s := range doc.Services {
			if s.Name == name {
				return s.Status
			}
		}
		return ""
	}
	waitService := func(name, want string) {
		eventually(t, 30*time.Second, name+" "+want, func() error {
			if got := service(name); got != want {
				return fmt.Errorf("%s is %q", name, got)
			}
			return nil
		})
	}
	for _, name := range []string{"api-gateway", "auth-service", "trading-signal"} {
		waitService(name, "healthy")
	}
	// Every agent gossips with the hub, registered by its reports.
	eventually(t, 20*time.Second, "four gossip members alive and the agents registered", func() error {
		var doc membersDoc
		if code, body := getJSON(t, "http://"+listen+"/api/v1/dashboard/members", token, &doc); code != 200 {
			return fmt.Errorf("members: %d %s", code, body)
		}
		n := 0
		for _, m := range doc.Members {
			if m.State == "alive" && (m.Role == "hub" || m.Registered) {
				n++
			}
		}
		if n != 4 {
			return fmt.Errorf("%+v", doc.Members)
		}
		return nil
	})
	post := func(url string) {
		res, err := http.Post(url, "text/plain", nil)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("POST %s: %v %v", url, res, err)
		}
		res.Body.Close()
	}
	post(breakURL)
	waitService("auth-service", "unhealthy")
	post(healURL)
	waitService("auth-service", "healthy")
	p.stop(t)
}
