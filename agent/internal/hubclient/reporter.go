package hubclient

import (
	"context"
	"log/slog"
	"time"

	"github.com/centralhub/centralhub/pkg/protocol"
)

// Checks is what the Reporter needs from the check runner.
type Checks interface {
	// Results returns the latest damped result of every check, in configuration order.
	Results() []protocol.CheckResult
	// Changed receives after a check's reported status changes.
	Changed() <-chan struct{}
}

// ConfigChecks is what the Reporter needs from the config checker.
type ConfigChecks interface {
	// State returns the latest state of the config checks, the report's config object.
	State() protocol.ConfigState
	// Changed receives after the state changes.
	Changed() <-chan struct{}
}

// Reporter builds the agent's reports and hands them to a Sender: one at start, one at once on
// every status change, and otherwise one every interval as a heartbeat (an interval after the
// previous report of either kind).
type Reporter struct {
	base   protocol.Report
	checks Checks
	config ConfigChecks // nil: config status none
	sender *Sender
	log    *slog.Logger
	now    func() time.Time
	seq    uint64 // only Run's goroutine touches it
}

// NewReporter returns a Reporter. base carries the fields that never change during one boot:
// tenant, service, instance, address, agent_version, runbook, tags, meta, boot (the agent's
// start in unix nanoseconds; set to now when zero), interval and depends_on.
func NewReporter(base protocol.Report, checks Checks, sender *Sender, logger *slog.Logger) *Reporter {
	if base.Boot == 0 {
		base.Boot = time.Now().UnixNano()
	}
	if base.Interval <= 0 {
		base.Interval = protocol.Duration(10 * time.Second)
	}
	if base.Tags == nil {
		base.Tags = []string{}
	}
	if base.Meta == nil {
		base.Meta = map[string]string{}
	}
	if base.DependsOn == nil {
		base.DependsOn = []string{}
	}
	return &Reporter{base: base, checks: checks, sender: sender, log: logger, now: time.Now}
}

// SetConfigChecks makes the reports carry the config checker's state and a change of it send a
// report at once, as a check's status change does. Call it before Run.
func (r *Reporter) SetConfigChecks(c ConfigChecks) { r.config = c }

// Run reports until ctx ends. It never waits on the network: the Sender delivers.
func (r *Reporter) Run(ctx context.Context) error {
	interval := time.Duration(r.base.Interval)
	heartbeat := time.NewTimer(0) // the first report goes out at once
	defer heartbeat.Stop()
	var configChanged <-chan struct{} // nil without a config checker: never ready
	if r.config != nil {
		configChanged = r.config.Changed()
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.checks.Changed():
		case <-configChanged:
		case <-heartbeat.C:
		}
		if err := r.sender.Enqueue(r.build()); err != nil {
			r.log.Error("queue report", "err", err)
		}
		heartbeat.Reset(interval)
	}
}

// build returns the next report: base plus a new seq, the time, the checks' results and the
// config state.
func (r *Reporter) build() *protocol.Report {
	rep := r.base
	r.seq++
	rep.Version = protocol.Version
	rep.Seq = r.seq
	rep.SentAt = r.now().UTC()
	rep.Checks = r.checks.Results()
	if rep.Checks == nil {
		rep.Checks = []protocol.CheckResult{}
	}
	rep.Config = protocol.ConfigState{Status: protocol.ConfigNone}
	if r.config != nil {
		rep.Config = r.config.State()
	}
	if rep.Config.Problems == nil {
		rep.Config.Problems = []protocol.ConfigProblem{}
	}
	return &rep
}
