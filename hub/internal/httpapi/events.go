package httpapi

import (
	"fmt"
	"net/http"
	"time"

	"github.com/centralhub/centralhub/hub/internal/events"
)

// eventsReset is the response header that tells a client its Last-Event-ID could not be
// resumed (another hub's, from before a restart, or too old): it reads the state afresh.
const eventsReset = "Centralhub-Events-Reset"

// eventsPing is how often an idle stream carries a comment, so proxies keep it open.
var eventsPing = 15 * time.Second

// streamEvents serves GET /api/v1/dashboard/events: the changes the token's tenants may see,
// as Server-Sent Events, from now on or, with Last-Event-ID, from after that event.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request) error {
	fl, ok := w.(http.Flusher)
	if !ok {
		return fmt.Errorf("events: the response writer cannot flush")
	}
	visible, _ := visibility(r)
	cur, resumed := s.cfg.Events.Start(r.Header.Get("Last-Event-ID"))
	defer s.cfg.Events.Done()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // nginx and friends: do not buffer the stream
	if !resumed {
		h.Set(eventsReset, "true")
	}
	w.WriteHeader(http.StatusOK)
	// The first block names where the stream starts (an id without data dispatches no event),
	// so a client that drops before any event came resumes from there.
	if _, err := fmt.Fprintf(w, "retry: 2000\nid: %s\n\n", s.cfg.Events.ID(cur)); err != nil {
		return nil // the client went away
	}
	fl.Flush()
	ping := time.NewTicker(eventsPing)
	defer ping.Stop()
	for {
		evs, next, wake, lost := s.cfg.Events.Read(cur, 256)
		if lost {
			return nil // fell behind what is kept: the client reconnects and is told to reset
		}
		cur = next
		for _, ev := range evs {
			if !visible(ev.Tenant) {
				continue
			}
			if _, err := fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", ev.ID, ev.Name, ev.Data); err != nil {
				return nil
			}
		}
		if len(evs) > 0 {
			fl.Flush()
			continue
		}
		select {
		case <-r.Context().Done():
			return nil
		case <-s.streamsDone:
			return nil
		case <-wake:
		case <-ping.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return nil
			}
			fl.Flush()
		}
	}
}

// StopStreams ends every event stream (the hub is stopping: HTTP shutdown would otherwise wait
// for them).
func (s *Server) StopStreams() { s.stopStreams.Do(func() { close(s.streamsDone) }) }

// Broker is what the API needs of the events broker.
type Broker interface {
	Start(lastID string) (events.Cursor, bool)
	Done()
	ID(c events.Cursor) string
	Read(c events.Cursor, max int) ([]events.Event, events.Cursor, <-chan struct{}, bool)
}
