package main

import (
	"container/heap"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// The agents `loadgen agents` simulates are state machines driven by one scheduler goroutine
// from a heap ordered by when each is next due, rather than a goroutine sleeping per agent:
// measured with 10,000 agents due every second for 20 s on the benchmark machine, a goroutine
// and a ticker per agent held 33.7 MB RSS and used 1.82 CPU-seconds, the heap 4.7 MB and 1.36 s;
// and a single-threaded machine runs the same in a test from a fake clock.

// simConfig is how the simulated agents behave; the state machine reads it and never writes it.
type simConfig struct {
	interval  time.Duration // between two reports of one agent
	flapEvery int           // a flapper's upstream check changes status every this many reports
	// A dier reports a uniformly drawn number of times in [aliveMin, aliveMax] after each
	// (re)start, then stays silent for deadFor and rejoins as a restarted agent: a new boot
	// (its start time) with seq from 1.
	aliveMin, aliveMax int
	deadFor            time.Duration
	// probe asks the hub, interval/2 before a dead agent rejoins, whether it judged it stale.
	probe bool
}

// validate reports settings the machine cannot run with. staleAfter is the hub's
// registry.stale_after: a dead agent's silence must outlast it, plus the hub's once-a-second
// sweep and a second of slack, before the probe asks.
func (c simConfig) validate(staleAfter int) error {
	switch {
	case c.interval < time.Second:
		return errors.New("--interval: must be at least 1s (the hub's minimum)")
	case c.flapEvery < 1:
		return errors.New("--flap-every: must be at least 1")
	case c.aliveMin < 1 || c.aliveMax < c.aliveMin:
		return errors.New("--alive-min and --alive-max: need 1 ≤ min ≤ max")
	}
	// The silence a probe sees: the interval before the missed report, and deadFor less the
	// half interval the probe comes early.
	silence := c.deadFor + c.interval/2
	if need := time.Duration(staleAfter)*c.interval + 2*time.Second; silence < need {
		return fmt.Errorf("--dead-for: %s leaves %s of silence when the probe asks, less than stale_after (%d) × interval + 2 s = %s",
			c.deadFor, silence, staleAfter, need)
	}
	return nil
}

// role is what a simulated agent does besides reporting.
type role uint8

const (
	roleSteady  role = iota // reports every interval, all checks passing
	roleFlapper             // its upstream check alternates between passing and critical
	roleDier                // stops reporting for a while, then rejoins with a new boot
)

// assignRoles gives n agents their roles: a seeded permutation makes the first round(n×flap)
// flappers and the next round(n×die) diers, so a run with the same seed picks the same ones.
func assignRoles(n int, flap, die float64, seed uint64) ([]role, error) {
	nf, nd := int(float64(n)*flap+0.5), int(float64(n)*die+0.5)
	if flap < 0 || die < 0 || nf+nd > n {
		return nil, fmt.Errorf("--flap %v and --die %v: shares must be non-negative and add up to at most 1", flap, die)
	}
	roles := make([]role, n)
	for k, j := range rand.New(rand.NewPCG(seed, 0x5eed)).Perm(n) {
		switch {
		case k < nf:
			roles[j] = roleFlapper
		case k < nf+nd:
			roles[j] = roleDier
		}
	}
	return roles, nil
}

// phase is where an agent is in its life.
type phase uint8

const (
	phaseAlive  phase = iota // reporting
	phaseDead                // silent; the next event is the probe
	phaseProbed              // silent; the next event is the rejoin
)

// ack is what the hub answered for an agent, written by the one worker posting its report
// (busy keeps it to one at a time) and read after the workers have stopped.
type ack struct {
	boot int64  // of the last report answered stored, heartbeat or queued
	seq  uint64 //
	// The newest report sent after that one which got no answer: the hub may have applied it.
	uncertainBoot int64
	uncertainSeq  uint64
}

// simAgent is one simulated agent. The scheduler alone touches everything but busy and ack.
type simAgent struct {
	j    int // the fleet's instance number
	role role
	due  time.Time // when the agent's next event is
	idx  int       // position in the scheduler's heap

	phase       phase
	boot        int64  // the current boot's start, unix nanoseconds
	seq         uint64 // the last seq sent in this boot
	failing     bool   // a flapper's upstream check is critical
	flapLeft    int    // a flapper's reports until its next change
	lifeLeft    int    // a dier's reports until its next death
	rejoinAt    time.Time
	lastFailing bool // what the previous report of this boot said

	busy atomic.Bool // a report of this agent is in flight
	ack  ack
}

// actionKind is what an agent's event asks of the runner.
type actionKind uint8

const (
	actSend  actionKind = iota + 1 // post a report
	actDie                         // the agent stopped reporting
	actProbe                       // ask the hub whether it judged the agent stale
)

// action is one event's outcome: for actSend, the report's identity and expected outcome.
type action struct {
	kind         actionKind
	boot         int64
	seq          uint64
	failing      bool // the upstream check is critical in this report
	expectStored bool // the report changes state (first of a boot, or a flap), so "stored"
	rejoin       bool // the first report after a death
}

// newSimAgent returns agent j with its first report due at first; its boot is that time, as an
// agent's that started just before it reported.
func newSimAgent(j int, r role, first time.Time, cfg simConfig, rnd *rand.Rand) *simAgent {
	a := &simAgent{j: j, role: r, due: first, boot: first.UnixNano()}
	a.start(cfg, rnd)
	if r == roleFlapper {
		a.flapLeft = 1 + rnd.IntN(cfg.flapEvery) // phases spread over the fleet
	}
	return a
}

// start begins a boot: seq from 1, checks passing, and a dier's life drawn.
func (a *simAgent) start(cfg simConfig, rnd *rand.Rand) {
	a.seq, a.failing, a.lastFailing = 0, false, false
	a.flapLeft = cfg.flapEvery
	if a.role == roleDier {
		a.lifeLeft = cfg.aliveMin + rnd.IntN(cfg.aliveMax-cfg.aliveMin+1)
	}
}

// fire runs the agent's event due now (a.due ≤ now) and sets when its next one is due.
func (a *simAgent) fire(now time.Time, cfg simConfig, rnd *rand.Rand) action {
	switch a.phase {
	case phaseDead:
		a.phase, a.due = phaseProbed, a.rejoinAt
		return action{kind: actProbe}
	case phaseProbed:
		// A restarted agent: a new boot, its start time, and seq from 1.
		a.phase = phaseAlive
		a.boot = a.due.UnixNano()
		a.start(cfg, rnd)
		act := a.report(now, cfg)
		act.rejoin = true
		return act
	}
	if a.role == roleDier && a.lifeLeft == 0 {
		a.phase, a.rejoinAt = phaseDead, a.due.Add(cfg.deadFor)
		a.due = a.rejoinAt.Add(-cfg.interval / 2)
		if !cfg.probe {
			a.phase, a.due = phaseProbed, a.rejoinAt
		}
		return action{kind: actDie}
	}
	return a.report(now, cfg)
}

// sends reports whether the agent's next event posts a report.
func (a *simAgent) sends() bool {
	return a.phase == phaseProbed || (a.phase == phaseAlive && (a.role != roleDier || a.lifeLeft > 0))
}

// report makes the next report of the current boot.
func (a *simAgent) report(now time.Time, cfg simConfig) action {
	a.seq++
	if a.role == roleFlapper {
		a.flapLeft--
		if a.flapLeft < 0 {
			a.failing, a.flapLeft = !a.failing, cfg.flapEvery-1
		}
	}
	if a.role == roleDier {
		a.lifeLeft--
	}
	act := action{kind: actSend, boot: a.boot, seq: a.seq, failing: a.failing, expectStored: a.seq == 1 || a.failing != a.lastFailing}
	a.lastFailing = a.failing
	a.advance(now, cfg)
	return act
}

// skip lets a due report pass unsent (the previous one is still in flight): the agent
// reports again an interval later, with the seq it would have used.
func (a *simAgent) skip(now time.Time, cfg simConfig) { a.advance(now, cfg) }

// advance moves the next report an interval on from the last due time, keeping the agent's
// phase; after a stall of the scheduler longer than an interval it restarts from now instead
// of firing a burst to catch up.
func (a *simAgent) advance(now time.Time, cfg simConfig) {
	a.due = a.due.Add(cfg.interval)
	if a.due.Before(now) {
		a.due = now.Add(cfg.interval)
	}
}

// agentQueue is a min-heap of agents by due time.
type agentQueue []*simAgent

func (q agentQueue) Len() int           { return len(q) }
func (q agentQueue) Less(i, k int) bool { return q[i].due.Before(q[k].due) }
func (q agentQueue) Swap(i, k int) {
	q[i], q[k] = q[k], q[i]
	q[i].idx, q[k].idx = i, k
}
func (q *agentQueue) Push(x any) {
	a := x.(*simAgent)
	a.idx = len(*q)
	*q = append(*q, a)
}
func (q *agentQueue) Pop() any {
	old := *q
	a := old[len(old)-1]
	*q = old[:len(old)-1]
	return a
}

// scheduler hands out agents whose events are due, earliest first.
type scheduler struct{ q agentQueue }

func newScheduler(agents []*simAgent) *scheduler {
	s := &scheduler{q: make(agentQueue, 0, len(agents))}
	for _, a := range agents {
		heap.Push(&s.q, a)
	}
	return s
}

// next returns when the earliest event is due.
func (s *scheduler) next() time.Time { return s.q[0].due }

// due returns the earliest agent when its event is due at now, else nil. The caller fires it
// (which moves its due time) and hands it back with requeue.
func (s *scheduler) due(now time.Time) *simAgent {
	if len(s.q) == 0 || s.q[0].due.After(now) {
		return nil
	}
	return s.q[0]
}

// requeue puts the agent due returned back in order after its due time moved.
func (s *scheduler) requeue(a *simAgent) { heap.Fix(&s.q, a.idx) }
