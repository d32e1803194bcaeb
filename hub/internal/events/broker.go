// Package events is the hub's live feed of changes for the dashboard (Server-Sent Events): a
// Broker keeps the recent events so a client can resume after a drop, and a Watcher turns
// changes of the registry and the alerts into events, in the shapes the dashboard API returns.
package events

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// The event names of DESIGN.md.
const (
	Service   = "service"
	Instance  = "instance"
	Component = "component"
	Alert     = "alert"
)

// Event is one change: its name, the tenant it belongs to (for filtering by the token) and
// its data, the object's API shape as JSON.
type Event struct {
	ID     string
	Name   string
	Tenant string
	Data   []byte
}

// Broker keeps the last Size events and wakes readers when one is published. Event IDs are
// "<epoch>-<seq>": the epoch, random per broker, tells a resuming client whose ID came from
// another hub, or from before a restart, that it cannot resume here. It is safe for concurrent
// use.
type Broker struct {
	mu    sync.Mutex
	epoch string
	next  uint64  // the seq of the next event
	ring  []Event // the last events, oldest first, at most size
	size  int
	wake  chan struct{} // closed at the next publish
}

// DefaultSize is how many recent events a Broker keeps for resuming clients.
const DefaultSize = 10_000

// NewBroker returns a broker keeping size recent events (DefaultSize when size ≤ 0).
func NewBroker(size int) *Broker {
	if size <= 0 {
		size = DefaultSize
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return &Broker{epoch: hex.EncodeToString(b), next: 1, size: size, wake: make(chan struct{})}
}

// Publish adds an event and wakes every reader.
func (b *Broker) Publish(name, tenant string, data []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ev := Event{ID: b.epoch + "-" + strconv.FormatUint(b.next, 10), Name: name, Tenant: tenant, Data: data}
	b.next++
	if len(b.ring) == b.size {
		copy(b.ring, b.ring[1:])
		b.ring = b.ring[:b.size-1]
	}
	b.ring = append(b.ring, ev)
	close(b.wake)
	b.wake = make(chan struct{})
}

// Cursor is where a reader stands: the seq of the next event it wants.
type Cursor struct{ next uint64 }

// Start returns the cursor of a reader that resumes after lastID ("" for a new reader, which
// gets what is published from now on). resumed is false when lastID cannot be resumed here (an
// ID of another hub or an earlier run, or older than the events kept): the reader then starts
// from now and must read the state afresh.
func (b *Broker) Start(lastID string) (c Cursor, resumed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := Cursor{next: b.next}
	if lastID == "" {
		return now, true
	}
	epoch, seqText, ok := strings.Cut(lastID, "-")
	seq, err := strconv.ParseUint(seqText, 10, 64)
	if !ok || err != nil || epoch != b.epoch || seq >= b.next {
		return now, false
	}
	oldest := b.next - uint64(len(b.ring))
	if seq+1 < oldest {
		return now, false // events after it were dropped
	}
	return Cursor{next: seq + 1}, true
}

// ID is the event ID that resumes at c: the last event's before it. A stream sends it first, so
// a client that drops before any event came can still resume.
func (b *Broker) ID(c Cursor) string { return b.epoch + "-" + strconv.FormatUint(c.next-1, 10) }

// Read returns the events from c on (at most max), the cursor after them, and a channel closed
// at the next publish, to wait on when there were none. lost is set when the reader fell so far
// behind that events it had not read were dropped: it must read the state afresh.
func (b *Broker) Read(c Cursor, max int) (evs []Event, next Cursor, wake <-chan struct{}, lost bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	oldest := b.next - uint64(len(b.ring))
	if c.next < oldest {
		return nil, Cursor{next: b.next}, b.wake, true
	}
	from := int(c.next - oldest)
	n := min(len(b.ring)-from, max)
	evs = make([]Event, n)
	copy(evs, b.ring[from:from+n])
	return evs, Cursor{next: c.next + uint64(n)}, b.wake, false
}

// String describes the broker for logs.
func (b *Broker) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return fmt.Sprintf("events epoch %s, next %d, %d kept", b.epoch, b.next, len(b.ring))
}
