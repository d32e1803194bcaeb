package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/centralhub/centralhub/pkg/auth"
	"github.com/centralhub/centralhub/pkg/status"
)

type sseEvent struct{ id, name, data string }

// stream is one GET of the events route, read event by event.
type stream struct {
	res    *http.Response
	events chan sseEvent
}

func (e *env) openEvents(token, lastID string) *stream {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/api/v1/dashboard/events", nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	s := &stream{res: res, events: make(chan sseEvent, 100)}
	e.t.Cleanup(func() { res.Body.Close() })
	if res.StatusCode != 200 {
		return s
	}
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(res.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" || ev.id != "" { // an id alone is where the stream starts
					s.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			}
		}
	}()
	return s
}

// next returns the next event, failing after a deadline.
func (s *stream) next(t *testing.T) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-s.events:
		if !ok {
			t.Fatal("the stream ended")
		}
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s")
	}
	return sseEvent{}
}

// until returns the first event named name about what matches, skipping others.
func (s *stream) until(t *testing.T, name, contains string) sseEvent {
	t.Helper()
	for {
		if ev := s.next(t); ev.name == name && strings.Contains(ev.data, contains) {
			return ev
		}
	}
}

// TestEventsStream: changes reach a viewer's stream as service and instance events in the
// API's shapes, only of the token's tenant; a dropped stream resumes with Last-Event-ID; an
// unknown ID is told to reset.
func TestEventsStream(t *testing.T) {
	e := newEnv(t, false)
	viewer := e.token(auth.Viewer, "default", "")
	s := e.openEvents(viewer, "")
	if s.res.StatusCode != 200 || s.res.Header.Get("Content-Type") != "text/event-stream" || s.res.Header.Get("Centralhub-Events-Reset") != "" {
		t.Fatalf("open: %d %v", s.res.StatusCode, s.res.Header)
	}
	post := func(tenant, service, instance string, st status.Check) {
		t.Helper()
		if r := e.do("POST", "/api/v1/agent/reports", e.token(auth.Agent, tenant, service), reportJSON(t, tenant, service, instance, st)); r.code != 200 {
			t.Fatalf("report: %d %s", r.code, r.body)
		}
	}
	post("acme", "secret", "s1", status.Critical) // another tenant's: never shown to this viewer
	post("default", "orders", "o1", status.Passing)
	e.watch.Poll()
	ev := s.until(t, "instance", `"instance":"o1"`)
	var inst struct {
		Tenant, Service, Instance, Status string
		Checks                            []struct{ Name, Status string }
	}
	if err := json.Unmarshal([]byte(ev.data), &inst); err != nil || inst.Tenant != "default" || inst.Service != "orders" || inst.Status != "passing" || len(inst.Checks) != 2 {
		t.Fatalf("instance event: %v %s", err, ev.data)
	}
	svc := s.until(t, "service", `"name":"orders"`)
	if !strings.Contains(svc.data, `"status":"healthy"`) || !strings.Contains(svc.data, `"tenant":"default"`) {
		t.Fatalf("service event: %s", svc.data)
	}
	// A status change.
	post("default", "orders", "o1", status.Critical)
	e.watch.Poll()
	if ev := s.until(t, "instance", `"instance":"o1"`); !strings.Contains(ev.data, `"status":"critical"`) {
		t.Fatalf("instance after the change: %s", ev.data)
	}
	if ev := s.until(t, "service", `"name":"orders"`); !strings.Contains(ev.data, `"status":"unhealthy"`) {
		t.Fatalf("service after the change: %s", ev.data)
	}
	// Its alert fires, and an operator acknowledges it: alert events, with who and why.
	e.fire()
	e.watch.Poll()
	if ev := s.until(t, "alert", `"rule":"instance_critical"`); !strings.Contains(ev.data, `"state":"firing"`) || !strings.Contains(ev.data, `"component":"orders"`) {
		t.Fatalf("alert event: %s", ev.data)
	}
	if r := e.do("POST", "/api/v1/dashboard/alerts/orders/acknowledge", e.token(auth.Operator, "default", ""), []byte(`{"comment": "on it"}`)); r.code != 200 {
		t.Fatalf("acknowledge: %d %s", r.code, r.body)
	}
	e.watch.Poll()
	last := s.until(t, "alert", `"acknowledged":true`)
	if !strings.Contains(last.data, `"comment":"on it"`) {
		t.Fatalf("acknowledged alert event: %s", last.data)
	}
	s.res.Body.Close()

	// While the viewer is away, orders recovers; it resumes after the last event it read.
	post("default", "orders", "o1", status.Passing)
	e.watch.Poll()
	again := e.openEvents(viewer, last.id)
	if again.res.Header.Get("Centralhub-Events-Reset") != "" {
		t.Fatal("a resumable ID was told to reset")
	}
	if ev := again.until(t, "service", `"name":"orders"`); !strings.Contains(ev.data, `"status":"healthy"`) {
		t.Fatalf("resumed stream: %s", ev.data)
	}
	// Nothing of the other tenant's ever came: the stream's next event is a fresh change.
	post("default", "billing", "b1", status.Passing)
	e.watch.Poll()
	if ev := again.next(t); strings.Contains(ev.data, "acme") || strings.Contains(ev.data, "secret") {
		t.Fatalf("another tenant's event reached the viewer: %s", ev.data)
	}

	// Silent past deregister_after: the instances and services go, said so.
	e.clock.Add(11 * time.Minute)
	if err := e.reg.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.watch.Poll()
	if ev := again.until(t, "instance", `"instance":"o1"`); !strings.Contains(ev.data, `"removed":true`) {
		t.Fatalf("removed instance event: %s", ev.data)
	}
	if ev := again.until(t, "service", `"name":"orders"`); !strings.Contains(ev.data, `"removed":true`) {
		t.Fatalf("removed service event: %s", ev.data)
	}

	if r := e.openEvents(viewer, "0123abcd-5"); r.res.StatusCode != 200 || r.res.Header.Get("Centralhub-Events-Reset") != "true" {
		t.Fatalf("an unknown Last-Event-ID: %d %v", r.res.StatusCode, r.res.Header)
	}
	if r := e.openEvents("", ""); r.res.StatusCode != 401 {
		t.Fatalf("no token: %d", r.res.StatusCode)
	}
	if r := e.openEvents(e.token(auth.Agent, "default", "orders"), ""); r.res.StatusCode != 403 {
		t.Fatalf("agent token: %d", r.res.StatusCode)
	}
}

// TestEventsStreamStartsWithItsPosition: a new stream's first block is an id alone, where it
// starts; a client that drops before any event came resumes from it and misses nothing.
func TestEventsStreamStartsWithItsPosition(t *testing.T) {
	e := newEnv(t, false)
	viewer := e.token(auth.Viewer, "default", "")
	s := e.openEvents(viewer, "")
	first := s.next(t)
	if first.name != "" || first.data != "" || !strings.Contains(first.id, "-") {
		t.Fatalf("first block: %+v, want an id alone", first)
	}
	s.res.Body.Close()
	if r := e.do("POST", "/api/v1/agent/reports", e.token(auth.Agent, "default", "orders"), reportJSON(t, "default", "orders", "o1", status.Critical)); r.code != 200 {
		t.Fatalf("report: %d %s", r.code, r.body)
	}
	e.watch.Poll()
	again := e.openEvents(viewer, first.id)
	if again.res.Header.Get("Centralhub-Events-Reset") != "" {
		t.Fatal("the stream's own starting ID was told to reset")
	}
	if ev := again.next(t); ev.name != "" {
		t.Fatalf("the resumed stream's first block: %+v, want its position", ev)
	}
	if ev := again.next(t); ev.name == "" || !strings.Contains(ev.data, `"orders"`) || !strings.Contains(ev.data, `"critical"`) && !strings.Contains(ev.data, `"unhealthy"`) {
		t.Fatalf("the change made while away: %+v", ev)
	}
}

// TestEventsRemovals: an alert that leaves the list (pending, its condition cleared) and a
// component no check probes any more are sent as removed, so a page drops them.
func TestEventsRemovals(t *testing.T) {
	e := newEnv(t, false)
	s := e.openEvents(e.token(auth.Viewer, "default", ""), "")
	post := func(st status.Check) {
		t.Helper()
		if r := e.do("POST", "/api/v1/agent/reports", e.token(auth.Agent, "default", "orders"), reportJSON(t, "default", "orders", "o1", st)); r.code != 200 {
			t.Fatalf("report: %d %s", r.code, r.body)
		}
	}
	post(status.Critical)
	e.evaluate()
	e.watch.Poll()
	comp := s.until(t, "component", `"name":"postgres-main"`)
	if strings.Contains(comp.data, "removed") {
		t.Fatalf("component event: %s", comp.data)
	}
	pending := s.until(t, "alert", `"rule":"instance_critical"`)
	var a struct{ ID, Tenant, Component, State string }
	if err := json.Unmarshal([]byte(pending.data), &a); err != nil || a.State != "pending" || a.ID == "" {
		t.Fatalf("pending alert event: %v %s", err, pending.data)
	}
	post(status.Passing)
	e.evaluate()
	e.watch.Poll()
	gone := s.until(t, "alert", `"id":"`+a.ID+`"`)
	if want := `{"id":"` + a.ID + `","tenant":"default","component":"orders","removed":true}`; gone.data != want {
		t.Fatalf("dropped alert event: %s, want %s", gone.data, want)
	}
	e.clock.Add(11 * time.Minute) // past deregister_after: o1 goes, and with it the only check of postgres-main
	if err := e.reg.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.watch.Poll()
	if ev := s.until(t, "component", `"name":"postgres-main"`); ev.data != `{"tenant":"default","name":"postgres-main","removed":true}` {
		t.Fatalf("removed component event: %s", ev.data)
	}
}

// TestEventsRestWhileNobodyListens: with no stream open, the watcher makes no events (the
// stream opened later starts at seq 0); its first poll with a reader publishes what changed
// meanwhile.
func TestEventsRestWhileNobodyListens(t *testing.T) {
	e := newEnv(t, false)
	if r := e.do("POST", "/api/v1/agent/reports", e.token(auth.Agent, "default", "orders"), reportJSON(t, "default", "orders", "o1", status.Critical)); r.code != 200 {
		t.Fatalf("report: %d %s", r.code, r.body)
	}
	e.watch.Poll()
	e.watch.Poll()
	s := e.openEvents(e.token(auth.Viewer, "default", ""), "")
	if first := s.next(t); !strings.HasSuffix(first.id, "-0") {
		t.Fatalf("the stream starts at %q: events were made while nobody listened", first.id)
	}
	e.watch.Poll()
	if ev := s.until(t, "service", `"name":"orders"`); !strings.Contains(ev.data, `"status":"unhealthy"`) {
		t.Fatalf("the change made while nobody listened: %s", ev.data)
	}
}
