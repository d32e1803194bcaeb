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
	"time"
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

// Broker keeps the last events (at most Size of them, and at most MaxBytes of their data) and
// wakes readers when one is published. Event IDs are "<epoch>-<seq>": the epoch, random, tells
// a resuming client whose ID came from another hub, from before a restart, or from before a
// time nobody listened, that it cannot resume here. It counts its readers, so the Watcher can
// rest while nobody listens. It is safe for concurrent use.
type Broker struct {
	cfg BrokerConfig

	mu       sync.Mutex
	epoch    string
	next     uint64  // the seq of the next event
	ring     []Event // the last events, oldest first
	bytes    int     // of the ring's data
	wake     chan struct{}
	readers  int       // streams open now
	lastLeft time.Time // when the last stream closed; zero: none ever opened
	idle     bool      // events went unpublished for want of readers: no ID before now resumes
}

// BrokerConfig sizes a Broker; zero fields take the defaults.
type BrokerConfig struct {
	Size     int              // events kept (DefaultSize)
	MaxBytes int              // bytes of event data kept (DefaultMaxBytes)
	Grace    time.Duration    // events go on being kept this long after the last reader left (DefaultGrace)
	Now      func() time.Time // the clock (time.Now)
}

// The defaults of BrokerConfig.
const (
	DefaultSize     = 10_000
	DefaultMaxBytes = 32 << 20
	DefaultGrace    = 5 * time.Minute
)

// NewBroker returns a broker sized by cfg.
func NewBroker(cfg BrokerConfig) *Broker {
	if cfg.Size <= 0 {
		cfg.Size = DefaultSize
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Broker{cfg: cfg, epoch: newEpoch(), next: 1, wake: make(chan struct{})}
}

func newEpoch() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Wanted says whether events are worth making: a reader is connected, or one left less than
// Grace ago and may come back to resume. When not, the broker remembers that what happens from
// now goes unpublished, and the next reader starts a new epoch: no older ID resumes.
func (b *Broker) Wanted() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.readers > 0 || (!b.lastLeft.IsZero() && b.cfg.Now().Sub(b.lastLeft) < b.cfg.Grace) {
		return true
	}
	b.idle = true
	return false
}

// Done tells the broker a reader Start returned has gone.
func (b *Broker) Done() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.readers--
	if b.readers == 0 {
		b.lastLeft = b.cfg.Now()
	}
}

// Publish adds an event and wakes every reader.
func (b *Broker) Publish(name, tenant string, data []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ev := Event{ID: b.epoch + "-" + strconv.FormatUint(b.next, 10), Name: name, Tenant: tenant, Data: data}
	b.next++
	b.ring = append(b.ring, ev)
	b.bytes += len(data)
	drop := 0
	for len(b.ring)-drop > b.cfg.Size || (b.bytes > b.cfg.MaxBytes && len(b.ring)-drop > 1) {
		b.bytes -= len(b.ring[drop].Data)
		b.ring[drop] = Event{} // its data can go
		drop++
	}
	if drop > 0 {
		b.ring = b.ring[drop:] // append copies what is left once the capacity runs out
	}
	close(b.wake)
	b.wake = make(chan struct{})
}

// Cursor is where a reader stands: the seq of the next event it wants.
type Cursor struct{ next uint64 }

// Start returns the cursor of a reader that resumes after lastID ("" for a new reader, which
// gets what is published from now on), and counts the reader until Done. resumed is false when
// lastID cannot be resumed here (an ID of another hub or an earlier run, from before a time
// nobody listened, or older than the events kept): the reader then starts from now and must
// read the state afresh.
func (b *Broker) Start(lastID string) (c Cursor, resumed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.readers++
	if b.idle { // changes went unpublished: a new epoch, so no ID from before resumes
		b.idle = false
		b.epoch = newEpoch()
		clear(b.ring)
		b.ring, b.bytes = b.ring[:0], 0
	}
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
func (b *Broker) ID(c Cursor) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.epoch + "-" + strconv.FormatUint(c.next-1, 10)
}

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
	return fmt.Sprintf("events epoch %s, next %d, %d kept (%d bytes), %d readers", b.epoch, b.next, len(b.ring), b.bytes, b.readers)
}
