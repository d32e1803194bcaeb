package hub

import (
	"context"
	"time"

	"github.com/centralhub/centralhub/pkg/status"
)

// Sample is one instance's state at one moment. The registry records one per instance at most
// every history interval from the reports it receives, and one marked critical for an instance
// that is stale or unreachable, so silence counts against uptime.
type Sample struct {
	Key    InstanceKey
	At     time.Time
	Status status.Check // the instance's status (critical while stale or unreachable)
	Checks []CheckSample
}

// CheckSample is one check's result within a Sample.
type CheckSample struct {
	Name      string
	Status    status.Check
	LatencyMS float64
}

// Transition is a change of a check's or an instance's status, written in the same
// transaction as the state change it records.
type Transition struct {
	Key InstanceKey `json:"-"`
	At  time.Time   `json:"at"`
	// Check names the check; "" for the instance itself.
	Check string `json:"check"`
	// From is the status before ("" when the check or instance appeared); To the status
	// after ("" when it went).
	From status.Check `json:"from"`
	To   status.Check `json:"to"`
	// Output is the check's output at the change; for the instance, why it changed when the
	// hub judged it (registered, stale, unreachable, reachable, deregistered, left).
	Output string `json:"output,omitempty"`
}

// Instance-level transition reasons (Transition.Output with Check "").
const (
	ReasonRegistered   = "registered"
	ReasonStale        = "stale"
	ReasonUnreachable  = "unreachable"
	ReasonReachable    = "reachable"
	ReasonDeregistered = "deregistered"
	ReasonLeft         = "left"
	ReasonReporting    = "reporting" // a stale instance heard again
)

// HistoryQuery selects the history of one service (or one of its instances) over a time range.
type HistoryQuery struct {
	Tenant   string
	Service  string
	Instance string // "" for every instance of the service
	Since    time.Time
	Until    time.Time // exclusive
	// Step is the width of a latency point's bucket. A whole number of hours is served from
	// the hourly roll-ups; anything shorter from raw samples.
	Step time.Duration
	// Limit bounds the transitions returned, the newest kept (0: no bound).
	Limit int
}

// Hourly reports whether q is served from the hourly roll-ups.
func (q HistoryQuery) Hourly() bool { return q.Step >= time.Hour && q.Step%time.Hour == 0 }

// TransitionRecord is a stored transition with the instance it belongs to.
type TransitionRecord struct {
	Instance string `json:"instance"`
	Transition
}

// LatencyPoint is one check's latency over one bucket of a HistoryQuery: the bucket's start,
// the mean and maximum latency of its samples, and how many there were.
type LatencyPoint struct {
	Check   string    `json:"check"`
	At      time.Time `json:"at"`
	AvgMS   float64   `json:"avg_ms"`
	MaxMS   float64   `json:"max_ms"`
	Samples int64     `json:"samples"`
}

// History is the answer to a HistoryQuery: transitions oldest first, and latency points
// ordered by check, then time.
type History struct {
	Transitions []TransitionRecord
	Truncated   bool // more transitions matched than Limit
	Latency     []LatencyPoint
}

// Availability counts instance samples over a range: how many there were and how many found
// the instance up (passing or warning).
type Availability struct {
	Samples int64
	Up      int64
}

// HistoryStore keeps samples, transitions and the hourly roll-ups of samples.
type HistoryStore interface {
	// QueryHistory answers q.
	QueryHistory(ctx context.Context, q HistoryQuery) (History, error)
	// Availability counts q's instance samples in [q.Since, q.Until); q.Step and q.Limit are
	// ignored. With hourly, it reads the hourly roll-ups of the hours that range touches
	// (never a raw sample), so its edges are whole hours.
	Availability(ctx context.Context, q HistoryQuery, hourly bool) (Availability, error)
	// MaintainHistory drops history older than now-retention in whole days (a day goes once
	// all of it is older), and prepares what the days ahead need.
	MaintainHistory(ctx context.Context, now time.Time, retention time.Duration) error
}
