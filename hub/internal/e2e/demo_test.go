package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemo runs what `make demo` runs and drives it as its printout says: the services come
// up healthy, a broken one turns unhealthy on the hub, a healed one recovers.
// demo is a running `make demo`: its hub's address, the admin token it printed, the URLs that
// break and heal auth-service and the NATS stand-in, and its control server (which stops and
// starts services at <control>/<service>/stop and /start).
type demo struct {
	proc                             *proc
	listen, token, breakURL, healURL string
	natsBreak, natsHeal              string
	control                          string
}

// startDemo starts the demo binary and waits for its printout.
func startDemo(t *testing.T) *demo {
	t.Helper()
	dir := t.TempDir()
	d := &demo{listen: freePort(t)}
	d.proc = start(t, "demo", nil, demoBin, "--bin", filepath.Dir(hubBin), "--dir", filepath.Join(dir, "demo"), "--listen", d.listen,
		"--gossip", freePortOn(t, "127.0.0.1"))
	eventually(t, 30*time.Second, "demo printout", func() error {
		out := d.proc.out.String()
		if m := regexp.MustCompile(`Admin token:\s+(\S+)`).FindStringSubmatch(out); m != nil {
			d.token = m[1]
		}
		if m := regexp.MustCompile(`auth-service\s+curl -XPOST (\S+/break)\s+\|\s+curl -XPOST (\S+/heal)`).FindStringSubmatch(out); m != nil {
			d.breakURL, d.healURL = m[1], m[2]
		}
		if m := regexp.MustCompile(`nats\s+curl -XPOST (\S+/nats/break)\s+\|\s+curl -XPOST (\S+/nats/heal)`).FindStringSubmatch(out); m != nil {
			d.natsBreak, d.natsHeal = m[1], m[2]
		}
		if m := regexp.MustCompile(`curl -XPOST (\S+)/<service>/stop\s+\|\s+curl -XPOST \S+/<service>/start`).FindStringSubmatch(out); m != nil {
			d.control = m[1]
		}
		if d.token == "" || d.breakURL == "" || d.natsBreak == "" || d.control == "" {
			return fmt.Errorf("not yet printed: %q", out)
		}
		return nil
	})
	return d
}

func TestDemo(t *testing.T) {
	d := startDemo(t)
	p, listen, token, breakURL, healURL, natsBreak, natsHeal := d.proc, d.listen, d.token, d.breakURL, d.healURL, d.natsBreak, d.natsHeal
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
	all := []string{"api-gateway", "auth-service", "user-management", "trading-signal", "mt5-integration", "notification", "analytics"}
	for _, name := range all {
		waitService(name, "healthy")
	}
	// The components behind which a real PostgreSQL, Redis or NATS answers are checked with
	// their real probes; the rest, and those whose server is absent, with a TCP connect.
	probes(t, d)

	// Every agent gossips with the hub, registered by its reports.
	eventually(t, 20*time.Second, "the hub and the seven agents alive in gossip, the agents registered", func() error {
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
		if n != 1+len(all) {
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

	// Break nats: what needs it turns unhealthy, and the impact analysis names nats as the
	// cause, with api-gateway among what it affects.
	post(natsBreak)
	for _, name := range []string{"trading-signal", "mt5-integration", "notification"} {
		waitService(name, "unhealthy")
	}
	var impact struct {
		Failures []struct {
			Node          string `json:"node"`
			Level         string `json:"level"`
			ProbableCause bool   `json:"probable_cause"`
			Affected      []struct {
				Service string `json:"service"`
			} `json:"affected"`
		} `json:"failures"`
	}
	eventually(t, 20*time.Second, "nats the probable cause", func() error {
		if code, body := getJSON(t, "http://"+listen+"/api/v1/dashboard/impact-analysis", token, &impact); code != 200 {
			return fmt.Errorf("impact-analysis: %d %s", code, body)
		}
		if len(impact.Failures) == 0 || impact.Failures[0].Node != "default/nats" || !impact.Failures[0].ProbableCause ||
			impact.Failures[0].Level != "critical" {
			return fmt.Errorf("%+v", impact.Failures)
		}
		for _, a := range impact.Failures[0].Affected {
			if a.Service == "default/api-gateway" {
				return nil
			}
		}
		return fmt.Errorf("api-gateway not among what nats affects: %+v", impact.Failures[0].Affected)
	})
	// The alerts: nats's fires (the demo's rules wait 5 s) and names what it impacts; the
	// alerts of the services it takes down are suppressed by it, so only nats notifies.
	eventually(t, 30*time.Second, "nats's alert firing, its dependents' suppressed by it", func() error {
		var list struct {
			Alerts []struct {
				Component    string   `json:"component"`
				Rule         string   `json:"rule"`
				State        string   `json:"state"`
				SuppressedBy string   `json:"suppressed_by"`
				Impacted     []string `json:"impacted"`
			} `json:"alerts"`
		}
		if code, body := getJSON(t, "http://"+listen+"/api/v1/dashboard/alerts?state=firing", token, &list); code != 200 {
			return fmt.Errorf("alerts: %d %s", code, body)
		}
		natsFiring, suppressed := false, map[string]bool{}
		for _, a := range list.Alerts {
			switch {
			case a.Component == "nats" && a.Rule == "component_critical":
				natsFiring = strings.Contains(strings.Join(a.Impacted, ","), "api-gateway")
			case a.SuppressedBy == "nats":
				suppressed[a.Component] = true
			case a.Component != "nats":
				return fmt.Errorf("%s alert of %s not suppressed by nats: %+v", a.Rule, a.Component, a)
			}
		}
		if !natsFiring || !suppressed["trading-signal"] || !suppressed["notification"] {
			return fmt.Errorf("firing: %+v", list.Alerts)
		}
		return nil
	})
	post(natsHeal)
	for _, name := range all {
		waitService(name, "healthy")
	}
	p.stop(t)
}

// probes checks the kind and output of every component check of the demo: postgres, dragonfly
// (Redis) and nats use the real probes when the demo found their servers (always under CI,
// which starts them), and say so in the printout; the others are TCP connects. A component the
// printout calls a stand-in (kafka and clickhouse under CI, where nothing answers on 9092 or
// 8123) carries "stand-in" in its meta; a relay carries no such label, only its server's
// address under "relay".
func probes(t *testing.T, d *demo) {
	t.Helper()
	out := d.proc.out.String()
	real := map[string]struct{ kind, output string }{
		"postgres": {"postgres", "SELECT 1 in "}, "dragonfly": {"redis", ": PONG in "}, "nats": {"nats", ": PONG in "},
	}
	want := map[string]string{} // component → the output substring its checks must show
	for name, r := range real {
		if strings.Contains(out, "probed with "+r.kind+")") {
			want[name] = r.kind + " " + r.output
		} else if os.Getenv("CI") == "true" {
			t.Fatalf("under CI the demo must find the machine's server for %s and probe it with %s:\n%s", name, r.kind, out)
		}
	}
	for _, name := range []string{"kafka", "clickhouse"} {
		want[name] = "tcp"
	}
	relays := map[string]string{} // component → the real server behind it; "" for a stand-in
	for _, name := range []string{"postgres", "nats", "dragonfly", "kafka", "clickhouse"} {
		m := regexp.MustCompile(`(?m)^\s+` + name + `\s+curl -XPOST \S+/` + name + `/break .*\(\S+, (?:relay to the real server at (\S+),|stand-in listener,)`).
			FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("the printout says neither relay nor stand-in for %s:\n%s", name, out)
		}
		relays[name] = m[1]
	}
	eventually(t, 30*time.Second, "each component checked with its probe", func() error {
		var doc struct {
			Services []struct {
				Instances []struct {
					Checks []struct {
						Name, Kind, Status, Output, Component string
					} `json:"checks"`
				} `json:"instances"`
			} `json:"services"`
			Components []struct {
				Name string            `json:"name"`
				Meta map[string]string `json:"meta"`
			} `json:"components"`
		}
		if code, body := getJSON(t, "http://"+d.listen+"/api/v1/dashboard/health", d.token, &doc); code != 200 {
			return fmt.Errorf("health: %d %s", code, body)
		}
		seen := map[string]bool{}
		for _, s := range doc.Services {
			for _, in := range s.Instances {
				for _, c := range in.Checks {
					w, ok := want[c.Component]
					if c.Component == "" || !ok {
						continue
					}
					kind, output, _ := strings.Cut(w, " ")
					if c.Kind != kind || c.Status != "passing" || !strings.Contains(c.Output, output) {
						return fmt.Errorf("%s's check of %s: %s %s %q, want a passing %s check saying %q", c.Name, c.Component, c.Kind, c.Status, c.Output, kind, output)
					}
					seen[c.Component] = true
				}
			}
		}
		if len(seen) != len(want) {
			return fmt.Errorf("checked components %v, want %v", seen, want)
		}
		labelled := map[string]bool{}
		for _, c := range doc.Components {
			relay, ok := relays[c.Name]
			if !ok {
				continue
			}
			labelled[c.Name] = true
			if relay == "" && (c.Meta["stand-in"] != "true" || len(c.Meta) != 1) {
				return fmt.Errorf("stand-in %s has meta %v, want {stand-in: true}", c.Name, c.Meta)
			}
			if relay != "" && (c.Meta["relay"] != relay || len(c.Meta) != 1) {
				return fmt.Errorf("%s, a relay to %s, has meta %v, want {relay: %s} and no stand-in label", c.Name, relay, c.Meta, relay)
			}
		}
		if len(labelled) != len(relays) {
			return fmt.Errorf("components listed %v, want %v", labelled, relays)
		}
		return nil
	})
}
