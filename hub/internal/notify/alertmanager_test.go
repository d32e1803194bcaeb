package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/amtest"
)

// amRecorder is a fake Alertmanager that records the alerts posted to it.
type amRecorder struct {
	*httptest.Server
	status int

	mu      sync.Mutex
	paths   []string
	batches [][]postableAlert
}

func newAMRecorder(t *testing.T, status int) *amRecorder {
	t.Helper()
	r := &amRecorder{status: status}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var batch []postableAlert
		if err := json.Unmarshal(body, &batch); err != nil {
			http.Error(w, "bad json: "+err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.paths = append(r.paths, req.Method+" "+req.URL.Path+" "+req.Header.Get("Content-Type"))
		r.batches = append(r.batches, batch)
		r.mu.Unlock()
		w.WriteHeader(r.status)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *amRecorder) last(t *testing.T) (string, []postableAlert) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.batches) == 0 {
		t.Fatal("nothing posted")
	}
	return r.paths[len(r.paths)-1], r.batches[len(r.batches)-1]
}

func newTestAlertmanager(t *testing.T, cfg AlertmanagerConfig, active func() []hub.Alert) *Alertmanager {
	t.Helper()
	a, err := NewAlertmanager("am", cfg, active)
	if err != nil {
		t.Fatalf("new alertmanager: %v", err)
	}
	t.Cleanup(a.client.CloseIdleConnections)
	return a
}

func TestAlertmanagerPayload(t *testing.T) {
	srv := newAMRecorder(t, http.StatusOK)
	a := newTestAlertmanager(t, AlertmanagerConfig{URL: srv.URL + "/am/", ResendInterval: time.Minute}, nil)
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	a.now = func() time.Time { return now }

	full := testAlert("a1") // fired 10:01, every label and the runbook and impact set
	resolvedAt := time.Date(2025, 3, 1, 11, 0, 0, 0, time.UTC)
	resolved := testAlert("a1")
	resolved.State, resolved.ResolvedAt = hub.AlertResolved, &resolvedAt
	minimal := hub.Alert{ID: "a2", Tenant: "acme", Component: "postgres", Rule: "ComponentDown",
		Severity: hub.SeverityWarning, State: hub.AlertFiring, Summary: "postgres is down",
		StartedAt: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)}
	acked := testAlert("a3")
	acked.Ack = &hub.Ack{By: "alice", Comment: "on it"}
	acked.SuppressedBy = "postgres"

	fullLabels := map[string]string{"alertname": "InstanceDown", "tenant": "acme", "component": "orders",
		"severity": "critical", "service": "orders", "instance": "orders-1", "check": "http"}
	fullAnn := map[string]string{"summary": "orders-1 is down", "runbook_url": "https://wiki.example/orders",
		"impacted": "checkout,web"}
	fired := time.Date(2025, 3, 1, 10, 1, 0, 0, time.UTC)
	tests := []struct {
		name     string
		n        Notification
		labels   map[string]string
		ann      map[string]string
		startsAt time.Time
		endsAt   time.Time
	}{
		{"firing", Notification{ID: "1", Event: EventFiring, Alert: full}, fullLabels, fullAnn, fired, now.Add(4 * time.Minute)},
		{"repeat", Notification{ID: "2", Event: EventRepeat, Alert: full}, fullLabels, fullAnn, fired, now.Add(4 * time.Minute)},
		{"resolved", Notification{ID: "3", Event: EventResolved, Alert: resolved}, fullLabels, fullAnn, fired, resolvedAt},
		{"resolved without a time", Notification{ID: "4", Event: EventResolved, Alert: full}, fullLabels, fullAnn, fired, now},
		{
			"minimal", Notification{ID: "5", Event: EventFiring, Alert: minimal},
			map[string]string{"alertname": "ComponentDown", "tenant": "acme", "component": "postgres", "severity": "warning"},
			map[string]string{"summary": "postgres is down"},
			minimal.StartedAt, now.Add(4 * time.Minute),
		},
		{
			"acknowledged and suppressed", Notification{ID: "6", Event: EventFiring, Alert: acked}, fullLabels,
			map[string]string{"summary": "orders-1 is down", "runbook_url": "https://wiki.example/orders",
				"impacted": "checkout,web", "acknowledged_by": "alice", "ack_comment": "on it", "suppressed_by": "postgres"},
			fired, now.Add(4 * time.Minute),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := a.Send(context.Background(), tt.n); err != nil {
				t.Fatalf("send: %v", err)
			}
			req, batch := srv.last(t)
			if want := "POST /am/api/v2/alerts application/json"; req != want {
				t.Errorf("request = %q, want %q", req, want)
			}
			if len(batch) != 1 {
				t.Fatalf("posted %d alerts, want 1", len(batch))
			}
			p := batch[0]
			if fmt.Sprint(p.Labels) != fmt.Sprint(tt.labels) {
				t.Errorf("labels = %v, want %v", p.Labels, tt.labels)
			}
			if fmt.Sprint(p.Annotations) != fmt.Sprint(tt.ann) {
				t.Errorf("annotations = %v, want %v", p.Annotations, tt.ann)
			}
			if !p.StartsAt.Equal(tt.startsAt) || !p.EndsAt.Equal(tt.endsAt) {
				t.Errorf("startsAt, endsAt = %s, %s; want %s, %s", p.StartsAt, p.EndsAt, tt.startsAt, tt.endsAt)
			}
		})
	}

	t.Run("status handling", func(t *testing.T) {
		for _, st := range []struct {
			status    int
			wantErr   bool
			permanent bool
		}{
			{http.StatusOK, false, false},
			{http.StatusBadRequest, true, true},
			{http.StatusNotFound, true, true},
			{http.StatusTooManyRequests, true, false},
			{http.StatusServiceUnavailable, true, false},
		} {
			srv := newAMRecorder(t, st.status)
			a := newTestAlertmanager(t, AlertmanagerConfig{URL: srv.URL}, nil)
			err := a.Send(context.Background(), Notification{ID: "x", Event: EventFiring, Alert: full})
			if (err != nil) != st.wantErr || isPermanent(err) != st.permanent {
				t.Errorf("status %d: send = %v (permanent %v), want error %v, permanent %v",
					st.status, err, isPermanent(err), st.wantErr, st.permanent)
			}
		}
	})
}

// liveAlert returns a firing alert of rule that fired a minute ago.
func liveAlert(id, rule string) hub.Alert {
	al := testAlert(id)
	al.Rule = rule
	al.StartedAt = time.Now().Add(-2 * time.Minute).UTC().Truncate(time.Second) // Alertmanager keeps milliseconds
	fired := al.StartedAt.Add(time.Minute)
	al.FiredAt = &fired
	return al
}

func TestAlertmanagerEndToEnd(t *testing.T) {
	am := amtest.Start(t)
	a := newTestAlertmanager(t, AlertmanagerConfig{URL: am.URL, ResendInterval: time.Minute}, nil)
	h := startDispatcher(t, Config{}, a)

	al := liveAlert("e2e-1", "E2EInstanceDown")
	h.d.Enqueue(Notification{ID: "n1", Event: EventFiring, Alert: al, At: time.Now()})
	if calls := h.waitDone(t, 1); calls[0].err != nil {
		t.Fatalf("firing notification: %v", calls[0].err)
	}
	var got amtest.Alert
	eventually(t, "alertmanager to list the alert as active", func() bool {
		var ok bool
		got, ok = am.Active(t, "E2EInstanceDown")
		return ok && got.Status.State == "active"
	})
	for k, want := range map[string]string{"alertname": "E2EInstanceDown", "tenant": "acme", "component": "orders",
		"severity": "critical", "service": "orders", "instance": "orders-1", "check": "http"} {
		if got.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, got.Labels[k], want)
		}
	}
	for k, want := range map[string]string{"summary": "orders-1 is down", "impacted": "checkout,web",
		"runbook_url": "https://wiki.example/orders"} {
		if got.Annotations[k] != want {
			t.Errorf("annotation %s = %q, want %q", k, got.Annotations[k], want)
		}
	}
	if !got.StartsAt.Equal(*al.FiredAt) || !got.EndsAt.After(time.Now()) {
		t.Errorf("startsAt, endsAt = %s, %s; want %s and a time to come", got.StartsAt, got.EndsAt, al.FiredAt)
	}

	resolved := al
	resolvedAt := time.Now().UTC()
	resolved.State, resolved.ResolvedAt = hub.AlertResolved, &resolvedAt
	h.d.Enqueue(Notification{ID: "n2", Event: EventResolved, Alert: resolved, At: time.Now()})
	if calls := h.waitDone(t, 2); calls[1].err != nil {
		t.Fatalf("resolved notification: %v", calls[1].err)
	}
	eventually(t, "alertmanager to stop listing the alert as active", func() bool {
		got, ok := am.Active(t, "E2EInstanceDown")
		return !ok || got.Status.State != "active" || got.EndsAt.Before(time.Now())
	})
}

func TestAlertmanagerResend(t *testing.T) {
	am := amtest.Start(t)
	al := liveAlert("resend-1", "E2EResendOnly")
	a := newTestAlertmanager(t, AlertmanagerConfig{URL: am.URL, ResendInterval: 100 * time.Millisecond},
		func() []hub.Alert { return []hub.Alert{al} })
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- a.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-runErr:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(waitLimit):
			t.Fatal("alertmanager receiver's Run did not return after its context ended")
		}
	}()

	var first amtest.Alert
	eventually(t, "alertmanager to list the alert given only through active()", func() bool {
		var ok bool
		first, ok = am.Active(t, "E2EResendOnly")
		return ok && first.Status.State == "active"
	})
	if first.Labels["tenant"] != "acme" || first.Annotations["summary"] != "orders-1 is down" {
		t.Errorf("resent alert = %+v", first)
	}
	// Alertmanager stamps every post it receives: a later stamp shows a later re-send.
	eventually(t, "a second re-send", func() bool {
		got, ok := am.Active(t, "E2EResendOnly")
		return ok && got.UpdatedAt.After(first.UpdatedAt)
	})
}
