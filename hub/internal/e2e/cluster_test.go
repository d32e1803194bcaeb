package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/centralhub/centralhub/hub/internal/pgtest"
	"github.com/centralhub/centralhub/pkg/auth"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// reporter stands in for agents: it reports each instance every 300 ms to the hub it is
// pointed at, with the status it is told.
type reporter struct {
	t      *testing.T
	mu     sync.Mutex
	to     map[string]string       // instance key (service/instance) → hub URL
	status map[string]status.Check // → status of its check
	seq    map[string]uint64
	tokens map[string]string // service → agent token
	errs   []string
}

func (r *reporter) set(service, instance, hubURL string, st status.Check) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := service + "/" + instance
	r.to[k], r.status[k] = hubURL, st
	if r.tokens[service] == "" {
		r.tokens[service] = issue(r.t, auth.Agent, "default", service)
	}
}

// send reports every instance once; an instance whose hub does not answer is retried next time.
func (r *reporter) send() {
	r.mu.Lock()
	type job struct {
		key, url, token string
		rep             protocol.Report
	}
	var jobs []job
	for k, url := range r.to {
		service, instance, _ := strings.Cut(k, "/")
		r.seq[k]++
		jobs = append(jobs, job{k, url, r.tokens[service], protocol.Report{Version: 1, Tenant: "default", Service: service, Instance: instance,
			Boot: 1, Seq: r.seq[k], Interval: protocol.Duration(time.Second),
			Checks: []protocol.CheckResult{{Name: "web", Kind: "http", Status: r.status[k], Output: "HTTP " + string(r.status[k])}}}})
	}
	r.mu.Unlock()
	for _, j := range jobs {
		body, _ := json.Marshal(j.rep)
		req, _ := http.NewRequest(http.MethodPost, j.url+"/api/v1/agent/reports", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+j.token)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			continue // a killed hub: the agent tries again (the test moves it to the other hub)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			r.mu.Lock()
			r.errs = append(r.errs, fmt.Sprintf("%s → %s: %d %s", j.key, j.url, res.StatusCode, b))
			r.mu.Unlock()
		}
	}
}

// leads reports whether the hub at url says it leads (centralhub_cluster_leader 1).
func leads(t *testing.T, url string) (bool, error) {
	req, _ := http.NewRequest(http.MethodGet, url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+issue(t, auth.Metrics, "*", ""))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return strings.Contains(string(b), "\ncentralhub_cluster_leader 1\n"), nil
}

// TestTwoHubsOneDatabase: two hubs on one PostgreSQL database. Each takes reports; a state
// change reported to one shows on the other's dashboard; one leads and notifies; killed (-9),
// the other takes over alerting within seconds, and a webhook receives every notification once.
func TestTwoHubsOneDatabase(t *testing.T) {
	db := pgtest.Database(t)
	sink := &webhookSink{}
	hook := httptest.NewServer(http.HandlerFunc(sink.serve))
	t.Cleanup(hook.Close)
	dir := t.TempDir()
	cfg := writeHubConfig(t, dir, fmt.Sprintf(`alerts:
  resolve_after: 1s
  builtin:
    instance_critical: {for: 1s}
    service_unhealthy: {disabled: true}
  receivers:
    - name: hook
      webhook: {url: "%s/hook"}
`, hook.URL))
	hubs := []*hubProc{
		startHub(t, dir+"/a", freePort(t), "--config", cfg, "--database-url", db),
		startHub(t, dir+"/b", freePort(t), "--config", cfg, "--database-url", db),
	}
	var leader, other *hubProc
	eventually(t, 10*time.Second, "exactly one hub leads", func() error {
		la, err := leads(t, hubs[0].url)
		if err != nil {
			return err
		}
		lb, err := leads(t, hubs[1].url)
		if err != nil {
			return err
		}
		if la == lb {
			return fmt.Errorf("leading: a %v, b %v", la, lb)
		}
		leader, other = hubs[0], hubs[1]
		if lb {
			leader, other = hubs[1], hubs[0]
		}
		return nil
	})

	rep := &reporter{t: t, to: map[string]string{}, status: map[string]status.Check{}, seq: map[string]uint64{}, tokens: map[string]string{}}
	rep.set("orders", "o1", leader.url, status.Passing)
	rep.set("payments", "p1", other.url, status.Passing)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			rep.send()
			select {
			case <-ctx.Done():
			case <-time.After(300 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	viewer := issue(t, auth.Viewer, "default", "")
	for _, h := range hubs {
		waitStatus(t, h, "orders", "o1", "passing", 10*time.Second)
		waitStatus(t, h, "payments", "p1", "passing", 10*time.Second)
	}

	// A change reported to the leader shows on the other hub's dashboard.
	start := time.Now()
	rep.set("orders", "o1", leader.url, status.Critical)
	waitStatus(t, other, "orders", "o1", "critical", 5*time.Second)
	t.Logf("a state change reported to one hub showed on the other's dashboard after %s", time.Since(start).Round(time.Millisecond))
	eventually(t, 15*time.Second, "the leader notified", func() error { return sink.has("firing instance_critical orders") })
	// The leader records the delivery (its outbox empties) at its next evaluation: only then
	// is a kill free of a notification owed twice.
	conn, err := pgx.Connect(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	eventually(t, 10*time.Second, "the delivery recorded", func() error {
		var owed int
		if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM alerts WHERE jsonb_array_length(coalesce(doc->'book'->'outbox', '[]'::jsonb)) > 0`).Scan(&owed); err != nil {
			return err
		}
		if owed > 0 {
			return fmt.Errorf("%d alerts owe notifications", owed)
		}
		return nil
	})

	leader.kill()
	killed := time.Now()
	rep.set("orders", "o1", other.url, status.Critical) // its agent fails over
	eventually(t, 15*time.Second, "the other hub takes over", func() error {
		if ok, err := leads(t, other.url); err != nil || !ok {
			return fmt.Errorf("not leading (%v)", err)
		}
		return nil
	})
	t.Logf("takeover after kill -9 of the leader: %s", time.Since(killed).Round(time.Millisecond))

	rep.set("payments", "p1", other.url, status.Critical)
	eventually(t, 15*time.Second, "the new leader notifies", func() error { return sink.has("firing instance_critical payments") })
	rep.set("orders", "o1", other.url, status.Passing)
	eventually(t, 15*time.Second, "the new leader resolves", func() error { return sink.has("resolved instance_critical orders") })
	// An acknowledgement on the new leader.
	op := issue(t, auth.Operator, "default", "")
	req, _ := http.NewRequest(http.MethodPost, other.url+"/api/v1/dashboard/alerts/payments/acknowledge", strings.NewReader(`{"comment": "on it"}`))
	req.Header.Set("Authorization", "Bearer "+op)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("acknowledge on the new leader: %v %v", res, err)
	}
	var list struct{ Alerts []apiAlert }
	if code, body := getJSON(t, other.url+"/api/v1/dashboard/alerts?component=payments", viewer, &list); code != 200 || len(list.Alerts) == 0 {
		t.Fatalf("alerts: %d %s", code, body)
	}

	sink.mu.Lock()
	defer sink.mu.Unlock()
	seen := slices.Clone(sink.seen)
	slices.Sort(seen)
	want := []string{"firing instance_critical orders", "firing instance_critical payments", "resolved instance_critical orders"}
	if !slices.Equal(seen, want) {
		t.Fatalf("webhook received %q, want each of %q once", seen, want)
	}
	ids := slices.Clone(sink.ids)
	slices.Sort(ids)
	if len(slices.Compact(ids)) != len(sink.ids) {
		t.Fatalf("a notification was delivered twice: %q", sink.ids)
	}
	rep.mu.Lock()
	defer rep.mu.Unlock()
	for _, e := range rep.errs {
		t.Errorf("report refused: %s", e)
	}
}
