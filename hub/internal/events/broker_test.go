package events

import (
	"strings"
	"testing"
	"time"
)

func TestBrokerResume(t *testing.T) {
	b := NewBroker(BrokerConfig{Size: 3})
	fresh, ok := b.Start("")
	if !ok {
		t.Fatal("a new reader is always resumed")
	}
	evs, _, wake, lost := b.Read(fresh, 10)
	if len(evs) != 0 || lost {
		t.Fatalf("nothing published: %v %v", evs, lost)
	}
	b.Publish(Service, "default", []byte(`{"a":1}`))
	select {
	case <-wake:
	default:
		t.Fatal("publish did not wake the reader")
	}
	evs, cur, _, _ := b.Read(fresh, 10)
	if len(evs) != 1 || evs[0].Name != Service || !strings.HasSuffix(evs[0].ID, "-1") {
		t.Fatalf("first event: %+v", evs)
	}
	first := evs[0].ID
	b.Publish(Alert, "acme", nil)
	b.Publish(Alert, "acme", nil)
	// Resume after the first: the two after it.
	c, ok := b.Start(first)
	if evs, _, _, _ = b.Read(c, 10); !ok || len(evs) != 2 || !strings.HasSuffix(evs[0].ID, "-2") {
		t.Fatalf("resume after %s: %v %+v", first, ok, evs)
	}
	// The reader that read one goes on with the next two, max one at a time.
	if evs, cur, _, _ = b.Read(cur, 1); len(evs) != 1 || !strings.HasSuffix(evs[0].ID, "-2") {
		t.Fatalf("next with max 1: %+v", evs)
	}
	// A fourth event pushes the first out of the ring (size 3): resuming after it still
	// works (events 2..4 are kept), after an older one does not.
	b.Publish(Component, "default", nil)
	if _, ok := b.Start(first); !ok {
		t.Fatal("resume right after the oldest dropped event refused")
	}
	b.Publish(Component, "default", nil)
	if _, ok := b.Start(first); ok {
		t.Fatal("resume past dropped events accepted")
	}
	if evs, _, _, lost := b.Read(cur, 10); lost || len(evs) != 3 {
		t.Fatalf("the reader at event 3 with 3..5 kept: %d events, lost %v", len(evs), lost)
	}
	b.Publish(Component, "default", nil) // 3 dropped: the reader at 3 lost it
	if _, _, _, lost := b.Read(cur, 10); !lost {
		t.Fatal("a reader behind the ring is not told it lost events")
	}
	for _, id := range []string{"nope", "deadbeef-1", b.epoch + "-99", b.epoch + "-x"} {
		if _, ok := b.Start(id); ok {
			t.Fatalf("resume from %q accepted", id)
		}
	}
}

// TestBrokerBytes: the ring keeps at most MaxBytes of event data (and always the newest event),
// so large events shorten how far back a client resumes, never the hub's memory bound.
func TestBrokerBytes(t *testing.T) {
	b := NewBroker(BrokerConfig{Size: 100, MaxBytes: 10})
	c, _ := b.Start("")
	for range 3 {
		b.Publish(Service, "default", []byte("1234"))
	}
	if evs, _, _, lost := b.Read(c, 10); !lost || len(evs) != 0 {
		t.Fatalf("the reader behind the first dropped event: %d events, lost %v", len(evs), lost)
	}
	c, _ = b.Start(b.epoch + "-1")
	if evs, _, _, lost := b.Read(c, 10); lost || len(evs) != 2 || b.bytes != 8 {
		t.Fatalf("after event 1: %d events, lost %v, %d bytes kept; want events 2 and 3, 8 bytes", len(evs), lost, b.bytes)
	}
	b.Publish(Service, "default", make([]byte, 50)) // larger than the bound: kept alone
	if len(b.ring) != 1 || b.bytes != 50 {
		t.Fatalf("an event over the bound: %d kept, %d bytes", len(b.ring), b.bytes)
	}
}

// TestBrokerWanted: events are wanted while a reader is connected and for Grace after the last
// one left; after that the broker is idle, and the next reader starts a new epoch, so an ID from
// before is told to reset (what happened meanwhile was never published).
func TestBrokerWanted(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	b := NewBroker(BrokerConfig{Grace: time.Minute, Now: func() time.Time { return now }})
	if b.Wanted() {
		t.Fatal("wanted before any reader came")
	}
	c, ok := b.Start("")
	if !ok || !b.Wanted() {
		t.Fatalf("a reader: resumed %v, wanted %v", ok, b.Wanted())
	}
	b.Publish(Service, "default", []byte("{}"))
	evs, _, _, _ := b.Read(c, 10)
	last := evs[0].ID
	b.Done()
	now = now.Add(59 * time.Second)
	if !b.Wanted() {
		t.Fatal("not wanted within the grace after the last reader left")
	}
	if _, ok := b.Start(last); !ok {
		t.Fatal("a reader back within the grace could not resume")
	}
	b.Done()
	now = now.Add(61 * time.Second)
	if b.Wanted() {
		t.Fatal("wanted past the grace with no reader")
	}
	if _, ok := b.Start(last); ok {
		t.Fatal("an ID from before the idle time resumed")
	}
	if !b.Wanted() || b.readers != 1 {
		t.Fatalf("the new reader: wanted %v, readers %d", b.Wanted(), b.readers)
	}
}
