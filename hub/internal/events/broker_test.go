package events

import (
	"strings"
	"testing"
)

func TestBrokerResume(t *testing.T) {
	b := NewBroker(3)
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
