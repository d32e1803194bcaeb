package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/centralhub/centralhub/hub/internal/amtest"
	"github.com/centralhub/centralhub/pkg/auth"
)

type apiAlert struct {
	ID           string `json:"id"`
	Rule         string `json:"rule"`
	Component    string `json:"component"`
	Instance     string `json:"instance"`
	State        string `json:"state"`
	Acknowledged bool   `json:"acknowledged"`
	Ack          *struct {
		By      string `json:"by"`
		Comment string `json:"comment"`
	} `json:"ack"`
}

// firingAlert returns the alert of rule on component in the given state, if the hub lists one.
func findAlert(t *testing.T, h *hubProc, token, rule, component, state string) (apiAlert, bool) {
	t.Helper()
	var list struct {
		Alerts []apiAlert `json:"alerts"`
	}
	if code, body := getJSON(t, h.url+"/api/v1/dashboard/alerts?component="+component, token, &list); code != 200 {
		t.Fatalf("alerts: %d %s", code, body)
	}
	for _, a := range list.Alerts {
		if a.Rule == rule && a.State == state {
			return a, true
		}
	}
	return apiAlert{}, false
}

// webhookSink records the notifications a webhook receiver delivers.
type webhookSink struct {
	mu   sync.Mutex
	seen []string // "event rule component"
	ids  []string // X-Centralhub-Notification-Id of each delivery
}

func (s *webhookSink) serve(w http.ResponseWriter, r *http.Request) {
	var n struct {
		Event string `json:"event"`
		Alert struct {
			Rule      string `json:"rule"`
			Component string `json:"component"`
		} `json:"alert"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &n); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.seen = append(s.seen, n.Event+" "+n.Alert.Rule+" "+n.Alert.Component)
	s.ids = append(s.ids, r.Header.Get("X-Centralhub-Notification-Id"))
	s.mu.Unlock()
}

func (s *webhookSink) has(what string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.seen {
		if x == what {
			return nil
		}
	}
	return fmt.Errorf("webhook has %q, want %q", s.seen, what)
}

// TestAlertsReachAlertmanager: a real agent's target dies; the hub's alert fires, reaches a
// real Alertmanager (through --alertmanager-url) and a webhook; an operator acknowledges it and
// silences another service; all of it survives a hub restart; the target returns and the
// alert resolves in the hub and in Alertmanager.
func TestAlertsReachAlertmanager(t *testing.T) {
	am := amtest.Start(t)
	sink := &webhookSink{}
	hook := httptest.NewServer(http.HandlerFunc(sink.serve))
	t.Cleanup(hook.Close)

	dir := t.TempDir()
	cfg := writeHubConfig(t, dir, fmt.Sprintf(`alerts:
  resolve_after: 1s
  builtin:
    instance_critical: {for: 1s}
  receivers:
    - name: hook
      webhook: {url: "%s/hook"}
`, hook.URL))
	listen := freePort(t)
	h := startHub(t, dir+"/data", listen, "--config", cfg, "--alertmanager-url", am.URL)
	tg := newTarget(t)
	startAgent(t, agentConfig(t, dir, h.url, "orders", "orders-1", checksYAML("http://"+tg.addr+"/healthz", tg.addr)))
	waitStatus(t, h, "orders", "orders-1", "passing", 20*time.Second)

	viewer := issue(t, auth.Viewer, "default", "")
	operator := issue(t, auth.Operator, "default", "")
	admin := issue(t, auth.Admin, "*", "")

	tg.down()
	var fired apiAlert
	eventually(t, 30*time.Second, "instance_critical firing in the hub", func() error {
		var ok bool
		if fired, ok = findAlert(t, h, viewer, "instance_critical", "orders", "firing"); !ok {
			return fmt.Errorf("not firing yet")
		}
		return nil
	})
	eventually(t, 30*time.Second, "the alert active in Alertmanager", func() error {
		a, ok := am.Active(t, "instance_critical")
		if !ok {
			return fmt.Errorf("Alertmanager does not list it")
		}
		if a.Labels["service"] != "orders" || a.Labels["instance"] != "orders-1" || a.Labels["component"] != "orders" ||
			a.Labels["severity"] != "critical" || a.Status.State != "active" || !strings.Contains(a.Annotations["summary"], "orders") {
			return fmt.Errorf("Alertmanager has %+v", a)
		}
		return nil
	})
	eventually(t, 30*time.Second, "the webhook notified", func() error { return sink.has("firing instance_critical orders") })

	// A viewer may not acknowledge; an operator may.
	if code, body := post(t, h.url+"/api/v1/dashboard/alerts/orders/acknowledge", viewer, `{"comment": "mine"}`); code != http.StatusForbidden {
		t.Fatalf("viewer ack: %d %s", code, body)
	}
	if code, body := post(t, h.url+"/api/v1/dashboard/alerts/orders/acknowledge", operator, `{"comment": "restarting it", "expires_in": "2h"}`); code != 200 {
		t.Fatalf("operator ack: %d %s", code, body)
	}
	now := time.Now().UTC()
	silence := fmt.Sprintf(`{"matchers": [{"name": "service", "value": "billing", "is_regex": false}], "starts_at": %q, "ends_at": %q, "comment": "migration"}`,
		now.Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339))
	if code, body := post(t, h.url+"/api/v1/dashboard/silences", operator, silence); code != http.StatusCreated {
		t.Fatalf("create silence: %d %s", code, body)
	}

	// Restart the hub: the alert, its ack, the silence and the audit are all still there.
	h.stop(t)
	h = startHub(t, dir+"/data", listen, "--config", cfg, "--alertmanager-url", am.URL)
	a, ok := findAlert(t, h, viewer, "instance_critical", "orders", "firing")
	if !ok || a.ID != fired.ID || !a.Acknowledged || a.Ack == nil || a.Ack.By != "e2e" || a.Ack.Comment != "restarting it" {
		t.Fatalf("after restart: %+v (found %v), want %s acknowledged by e2e", a, ok, fired.ID)
	}
	var silences struct {
		Silences []struct {
			Comment string `json:"comment"`
			State   string `json:"state"`
		} `json:"silences"`
	}
	if code, body := getJSON(t, h.url+"/api/v1/dashboard/silences", viewer, &silences); code != 200 || len(silences.Silences) != 1 ||
		silences.Silences[0].Comment != "migration" || silences.Silences[0].State != "active" {
		t.Fatalf("silences after restart: %d %s", code, body)
	}
	var audit struct {
		Entries []struct {
			Action string `json:"action"`
			Actor  string `json:"actor"`
			Target string `json:"target"`
		} `json:"entries"`
	}
	if code, body := getJSON(t, h.url+"/api/v1/dashboard/audit", admin, &audit); code != 200 || len(audit.Entries) != 2 ||
		audit.Entries[0].Action != "silence.create" || audit.Entries[1].Action != "acknowledge" || audit.Entries[1].Target != "orders" {
		t.Fatalf("audit after restart: %d %s", code, body)
	}
	if code, _ := getJSON(t, h.url+"/api/v1/dashboard/audit", operator, nil); code != http.StatusForbidden {
		t.Fatalf("operator read the audit: %d", code)
	}

	// A maintenance window over orders, every day all day: the dashboard shows the service in
	// maintenance; monitoring goes on, and the resolve below still reaches the webhook, since
	// the alert was notified before the window.
	var week []string
	for _, d := range []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"} {
		week = append(week, fmt.Sprintf(`{"day": %q, "start": "00:00", "end": "24:00"}`, d))
	}
	window := `{"matchers": [{"name": "service", "value": "orders"}], "comment": "upgrade", "schedule": {"timezone": "Europe/Berlin", "weekly": [` +
		strings.Join(week, ", ") + `]}}`
	if code, body := post(t, h.url+"/api/v1/dashboard/silences", operator, window); code != http.StatusCreated {
		t.Fatalf("create maintenance window: %d %s", code, body)
	}
	var health struct {
		Services []struct {
			Name        string `json:"name"`
			Maintenance bool   `json:"maintenance"`
		} `json:"services"`
	}
	if code, body := getJSON(t, h.url+"/api/v1/dashboard/health", viewer, &health); code != 200 || len(health.Services) != 1 ||
		!health.Services[0].Maintenance {
		t.Fatalf("orders not shown in maintenance: %d %s", code, body)
	}

	// The target returns: resolved in the hub, then no longer active in Alertmanager, and the
	// webhook gets the resolve although the alert was acknowledged.
	tg.up(t)
	eventually(t, 30*time.Second, "the alert resolved in the hub", func() error {
		if _, ok := findAlert(t, h, viewer, "instance_critical", "orders", "resolved"); !ok {
			return fmt.Errorf("not resolved yet")
		}
		return nil
	})
	eventually(t, 30*time.Second, "the alert resolved in Alertmanager", func() error {
		if a, ok := am.Active(t, "instance_critical"); ok {
			return fmt.Errorf("still active: %+v", a)
		}
		return nil
	})
	eventually(t, 30*time.Second, "the webhook got the resolve", func() error { return sink.has("resolved instance_critical orders") })
}
