// Package configcheck validates the service's config files on a schedule — each exists, parses
// in its format, holds its required keys, and is not world-readable when it holds secrets —
// and compares one of them with the service's desired config stored on the hub, writing the
// desired config into it and running a reload command when asked to apply. Its State is the
// report's config object: invalid (a file has a problem) > drifted (the compared file differs
// from the desired config) > in_sync, or none without config checks. Problems name the file,
// the key and the reason, never a value.
package configcheck

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/agent/internal/hubclient"
	"github.com/centralhub/centralhub/pkg/configdoc"
	"github.com/centralhub/centralhub/pkg/protocol"
)

// DesiredSource fetches the desired config of a service from the hub; *hubclient.Sender is
// one. known is the version the caller holds (0: none); the answers ErrNotModified and
// ErrNoDesiredConfig of package hubclient mean what they say.
type DesiredSource interface {
	FetchDesiredConfig(ctx context.Context, service string, known int64) (*hubclient.DesiredConfig, error)
}

// Options are the Checker's collaborators.
type Options struct {
	Service string        // whose desired config to fetch; required with compare_desired
	Hub     DesiredSource // required when a config check has compare_desired
	Logger  *slog.Logger  // required
}

// Checker runs the config checks, each on its own interval, and keeps their combined state.
type Checker struct {
	service string
	hub     DesiredSource
	log     *slog.Logger
	files   []*file
	changed chan struct{} // one pending signal at most: changes coalesce

	// What apply renders and changes owners with: configdoc.Render and (*os.File).Chown,
	// replaced by tests to make them fail.
	render func(format string, obj map[string]any) ([]byte, error)
	chown  func(f *os.File, uid, gid int) error

	mu    sync.Mutex // guards state and every file's result
	state protocol.ConfigState
}

// file is one config check. Its desired and apply fields belong to the goroutine that runs it.
type file struct {
	cfg config.ConfigCheck

	desired     *hubclient.DesiredConfig // the latest desired config fetched; nil: none known
	desiredFlat configdoc.Flat
	desiredSum  string
	fetchErr    string     // the last fetch error logged, so a lasting one is logged once
	applied     applyState // the outcome of the latest apply

	result fileResult // guarded by Checker.mu
}

// fileResult is what one pass over a file found.
type fileResult struct {
	problems []protocol.ConfigProblem // what makes the state invalid
	drift    []protocol.ConfigProblem // keys that differ from the desired config
	version  string                   // the desired version compared against; "" for none
}

// New returns a Checker for checks, which must have passed config validation. It checks every
// file once at once, without the hub (so the first report already says whether the files
// exist and parse); Run fetches the desired config and keeps checking.
func New(checks []config.ConfigCheck, opts Options) (*Checker, error) {
	if opts.Logger == nil {
		return nil, errors.New("new config checker: a logger is required")
	}
	c := &Checker{
		service: opts.Service, hub: opts.Hub, log: opts.Logger, changed: make(chan struct{}, 1),
		render: configdoc.Render, chown: (*os.File).Chown,
	}
	for i := range checks {
		cc := checks[i]
		cc.RequiredKeys = slices.Clone(cc.RequiredKeys)
		cc.ReloadCommand = slices.Clone(cc.ReloadCommand)
		if cc.Interval <= 0 || cc.ReloadTimeout <= 0 || !slices.Contains(configdoc.Formats, cc.Format) {
			return nil, fmt.Errorf("config_checks[%d]: needs an interval, a reload timeout and a known format (validate the config first)", i)
		}
		if cc.CompareDesired && (opts.Hub == nil || opts.Service == "") {
			return nil, fmt.Errorf("config_checks[%d]: compare_desired needs the hub and the service name", i)
		}
		f := &file{cfg: cc}
		f.result = fileResult{problems: inspect(&f.cfg).problems}
		c.files = append(c.files, f)
	}
	c.state = c.aggregateLocked()
	return c, nil
}

// Run checks every file on its interval, the first time at once, until ctx ends; then it waits
// for every check to stop. A pass cut short by ctx records nothing.
func (c *Checker) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, f := range c.files {
		wg.Go(func() { c.loop(ctx, f) })
	}
	wg.Wait()
	return nil
}

func (c *Checker) loop(ctx context.Context, f *file) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		c.check(ctx, f)
		timer.Reset(f.cfg.Interval)
	}
}

// Changed returns a channel that receives after the state changes. Signals coalesce: read
// State for the state.
func (c *Checker) Changed() <-chan struct{} { return c.changed }

// State returns the latest state of every config check, combined: the report's config object.
// Safe for concurrent use; the caller owns the copy.
func (c *Checker) State() protocol.ConfigState {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.state
	st.Problems = slices.Clone(st.Problems)
	if st.Problems == nil {
		st.Problems = []protocol.ConfigProblem{}
	}
	return st
}

// check makes one pass over f: the local checks, then, with compare_desired, the desired
// config (and with apply, an apply when the file differs from it).
func (c *Checker) check(ctx context.Context, f *file) {
	loc := inspect(&f.cfg)
	res := fileResult{problems: loc.problems}
	if f.cfg.CompareDesired {
		c.refreshDesired(ctx, f)
		if d := f.desired; d != nil && ctx.Err() == nil {
			res.version = strconv.FormatInt(d.Version, 10)
			if f.cfg.Apply {
				var applyProblems []protocol.ConfigProblem
				loc, applyProblems = c.apply(ctx, f, loc)
				res.problems = append(loc.problems, applyProblems...)
			}
			if loc.flat != nil {
				res.drift = driftProblems(f.cfg.Path, loc.flat, f.desiredFlat, d.Version)
			}
		}
	}
	if ctx.Err() != nil {
		return // the agent is stopping: a cut-short pass says nothing about the file
	}
	c.publish(f, res)
}

// driftProblems lists, one per key, how the file's canonical form differs from the desired
// one; the reasons name the version, never a value.
func driftProblems(path string, have, want configdoc.Flat, version int64) []protocol.ConfigProblem {
	var out []protocol.ConfigProblem
	for _, d := range configdoc.Diff(have, want) {
		var reason string
		switch d.Reason {
		case configdoc.DiffMissing:
			reason = fmt.Sprintf("missing (desired version %d has it)", version)
		case configdoc.DiffUnexpected:
			reason = fmt.Sprintf("not in desired version %d", version)
		default:
			reason = fmt.Sprintf("differs from desired version %d", version)
		}
		out = append(out, problem(path, d.Key, reason))
	}
	return out
}

// refreshDesired fetches the desired config when the hub has a newer one than f holds. A
// failed fetch keeps the last one known (and is logged when its error changes): the file is
// still compared with what the hub last said. A desired config whose checksum from the hub is
// not the agent's own is a failed fetch: it was not received as the hub holds it.
func (c *Checker) refreshDesired(ctx context.Context, f *file) {
	var known int64
	if f.desired != nil {
		known = f.desired.Version
	}
	dc, err := c.hub.FetchDesiredConfig(ctx, c.service, known)
	log := c.log.With("file", f.cfg.Path, "service", c.service)
	switch {
	case err == nil:
		flat, err := configdoc.FromObject(dc.Config)
		if err != nil {
			c.fetchFailed(f, log, fmt.Errorf("desired version %d has no canonical form: %w", dc.Version, err))
			return
		}
		sum := flat.Checksum()
		if dc.Checksum != "" && dc.Checksum != sum {
			c.fetchFailed(f, log, fmt.Errorf("desired version %d: the hub's checksum %s differs from the agent's %s", dc.Version, dc.Checksum, sum))
			return
		}
		if known != dc.Version {
			log.Info("desired config fetched", "version", dc.Version, "keys", len(flat), "updated_by", dc.UpdatedBy)
		}
		f.desired, f.desiredFlat, f.desiredSum, f.fetchErr = dc, flat, sum, ""
	case errors.Is(err, hubclient.ErrNotModified):
		f.fetchErr = ""
	case errors.Is(err, hubclient.ErrNoDesiredConfig):
		if f.desired != nil {
			log.Info("the hub holds no desired config any more; not comparing", "was_version", f.desired.Version)
		}
		f.desired, f.desiredFlat, f.desiredSum, f.fetchErr = nil, nil, "", ""
	case ctx.Err() != nil:
	default:
		c.fetchFailed(f, log, err)
	}
}

func (c *Checker) fetchFailed(f *file, log *slog.Logger, err error) {
	if err.Error() == f.fetchErr {
		return
	}
	f.fetchErr = err.Error()
	var known any = "none"
	if f.desired != nil {
		known = f.desired.Version
	}
	log.Warn("fetch desired config failed; comparing with the last one fetched", "err", err, "known_version", known)
}

// publish records f's result and, when the combined state changed, logs it and signals Changed.
func (c *Checker) publish(f *file, res fileResult) {
	c.mu.Lock()
	f.result = res
	prev, next := c.state, c.aggregateLocked()
	c.state = next
	c.mu.Unlock()
	if equalState(prev, next) {
		return
	}
	args := []any{"from", prev.Status, "to", next.Status, "version", next.Version, "problems", len(next.Problems)}
	if len(next.Problems) > 0 {
		p := next.Problems[0]
		args = append(args, "first_problem", p.File+" "+p.Key+": "+p.Reason)
	}
	c.log.Info("config state changed", args...)
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// aggregateLocked combines every file's result; c.mu must be held (or c not yet shared).
func (c *Checker) aggregateLocked() protocol.ConfigState {
	st := protocol.ConfigState{Status: protocol.ConfigNone, Problems: []protocol.ConfigProblem{}}
	if len(c.files) == 0 {
		return st
	}
	var invalid, drifted bool
	for _, f := range c.files {
		r := f.result
		invalid = invalid || len(r.problems) > 0
		drifted = drifted || len(r.drift) > 0
		if r.version != "" {
			st.Version = r.version
		}
		st.Problems = append(st.Problems, r.problems...)
		st.Problems = append(st.Problems, r.drift...)
	}
	switch {
	case invalid:
		st.Status = protocol.ConfigInvalid
	case drifted:
		st.Status = protocol.ConfigDrifted
	default:
		st.Status = protocol.ConfigInSync
	}
	if n := len(st.Problems); n > protocol.MaxProblems {
		st.Problems = append(st.Problems[:protocol.MaxProblems-1:protocol.MaxProblems-1],
			protocol.ConfigProblem{Reason: fmt.Sprintf("%d more problems not shown", n-protocol.MaxProblems+1)})
	}
	return st
}

func equalState(a, b protocol.ConfigState) bool {
	return a.Status == b.Status && a.Version == b.Version && slices.Equal(a.Problems, b.Problems)
}

// problem builds one problem, each text cut to what a report carries.
func problem(path, key, reason string) protocol.ConfigProblem {
	return protocol.ConfigProblem{
		File:   protocol.Truncate(path, protocol.MaxText),
		Key:    protocol.Truncate(key, protocol.MaxText),
		Reason: protocol.Truncate(reason, protocol.MaxText),
	}
}
