package hubclient

import (
	"sync"

	"github.com/centralhub/centralhub/pkg/protocol"
)

// queued is one report waiting to be sent, already encoded.
type queued struct {
	rep  *protocol.Report
	body []byte
	sig  string // the statuses it carries; see signature
}

// signature is what a report says beyond its latest outputs and times: every check's status and
// the config status. A queued report with the same signature as the one after it is superseded.
func signature(rep *protocol.Report) string {
	b := make([]byte, 0, 16*len(rep.Checks)+16)
	for _, c := range rep.Checks {
		b = append(b, c.Name...)
		b = append(b, '=')
		b = append(b, c.Status...)
		b = append(b, ';')
	}
	return string(append(b, rep.Config.Status...))
}

// queue is a bounded FIFO of reports. Pushing a report first drops the newest queued one when it
// carries the same statuses (a heartbeat superseded by a newer one), so after an outage the queue
// holds the status transitions and the newest state, not a backlog of heartbeats. When still
// full, pushing drops the oldest report, never the one being pushed: every report is the agent's
// whole state, so the newest must always get through.
type queue struct {
	mu    sync.Mutex
	items []*queued
	max   int
	ready chan struct{} // signalled after a push; capacity 1
}

func newQueue(size int) *queue {
	return &queue{max: max(size, 1), ready: make(chan struct{}, 1)}
}

// push appends q and returns how many reports it dropped to make room, and the new length.
func (q *queue) push(item *queued) (dropped, length int) {
	q.mu.Lock()
	if n := len(q.items); n > 0 && q.items[n-1].sig == item.sig {
		q.items[n-1] = item // superseded: same statuses, older outputs
		length = n
		q.mu.Unlock()
		q.signal()
		return 0, length
	}
	for len(q.items) >= q.max {
		q.items[0] = nil
		q.items = q.items[1:]
		dropped++
	}
	q.items = append(q.items, item)
	length = len(q.items)
	q.mu.Unlock()
	q.signal()
	return dropped, length
}

func (q *queue) signal() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// front returns the oldest report, or nil when empty.
func (q *queue) front() *queued {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return nil
	}
	return q.items[0]
}

// back returns the newest report, or nil when empty.
func (q *queue) back() *queued {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return nil
	}
	return q.items[len(q.items)-1]
}

// remove drops item if it is still queued (a push may have dropped it meanwhile) and returns
// the new length.
func (q *queue) remove(item *queued) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, it := range q.items {
		if it == item {
			q.items = append(q.items[:i], q.items[i+1:]...)
			break
		}
	}
	return len(q.items)
}

// clear empties the queue.
func (q *queue) clear() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items = nil
}

func (q *queue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
