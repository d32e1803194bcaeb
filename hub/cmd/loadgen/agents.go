package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/loadtest"
	"github.com/centralhub/centralhub/hub/internal/registry"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// Names of the files `loadgen agents` writes into its --out-dir.
const (
	agentsSummaryFile = "summary.json" // agentsSummary
	agentsCSVFile     = "agents.csv"   // one row per sample window (windowCSVHeader)
	agentsAckedFile   = "acked.json"   // []ackRecord: what the hub answered last per instance
)

// errReportsLost is wrapped by the error of `loadgen agents` and `loadgen agents-verify` when
// the hub or its store has fewer reports than the generator was answered for.
var errReportsLost = errors.New("reports lost")

// agentsConfig is what `loadgen agents` was told.
type agentsConfig struct {
	url, tokensPath, adminPath string
	agents, perService         int
	duration, warmup, sample   time.Duration
	drainTimeout               time.Duration
	flap, die                  float64
	staleAfter                 int
	seed                       uint64
	concurrency                int
	hubPID                     int
	databaseURL                string
	outDir                     string
	maxHeapGrowth              float64 // relative, per 10 minutes
	maxGoroutineChange         float64 // relative, per 10 minutes, either way
	p99Factor                  float64
	sim                        simConfig
}

func parseAgentsFlags(args []string) (agentsConfig, error) {
	fs := newFlags("agents")
	var c agentsConfig
	fs.StringVar(&c.url, "url", "", "hub base URL (required)")
	fs.StringVar(&c.tokensPath, "tokens", "", "agent tokens file from `loadgen tokens` covering the fleet's services (required)")
	fs.StringVar(&c.adminPath, "admin-token", "", "admin token file, for /metrics and the health API (required)")
	fs.IntVar(&c.agents, "agents", 1000, "agents to simulate, each one instance")
	fs.IntVar(&c.perService, "per-service", 100, "instances per service")
	fs.DurationVar(&c.sim.interval, "interval", 10*time.Second, "each agent's report interval; first reports are spread over one interval")
	fs.DurationVar(&c.duration, "duration", 30*time.Minute, "how long to report")
	fs.DurationVar(&c.warmup, "warmup", 0, "left out of the flatness and steadiness judgements (default: a sixth of --duration)")
	fs.DurationVar(&c.sample, "sample", 10*time.Second, "window of the latency histograms, and how often /metrics is scraped")
	fs.Float64Var(&c.flap, "flap", 0.05, "share of agents whose upstream check alternates between passing and critical")
	fs.IntVar(&c.sim.flapEvery, "flap-every", 3, "a flapping check changes status every this many reports")
	fs.Float64Var(&c.die, "die", 0.02, "share of agents that stop reporting for --dead-for and rejoin with a new boot, again and again")
	fs.IntVar(&c.sim.aliveMin, "alive-min", 6, "a dying agent reports at least this many times after each start before it dies")
	fs.IntVar(&c.sim.aliveMax, "alive-max", 30, "and at most this many")
	fs.DurationVar(&c.sim.deadFor, "dead-for", 0, "a dying agent's silence (default: (stale-after + 2) × interval, long enough to go stale on the hub)")
	fs.IntVar(&c.staleAfter, "stale-after", registry.DefaultConfig().StaleAfter, "the hub's registry.stale_after (missed intervals before critical)")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of which agents flap and die, and of report contents")
	fs.IntVar(&c.concurrency, "concurrency", 64, "requests in flight at most: workers, each with a keep-alive connection of its own")
	fs.IntVar(&c.hubPID, "hub-pid", 0, "the hub's process id, to read its resident set from /proc as well (optional)")
	fs.StringVar(&c.databaseURL, "database-url", "", "the hub's PostgreSQL database: after the drain, check every instance's seq there (optional; for the embedded store run `loadgen agents-verify --db` once the hub has stopped)")
	fs.StringVar(&c.outDir, "out-dir", "", "where to write "+agentsSummaryFile+", "+agentsCSVFile+" and "+agentsAckedFile+" (required)")
	fs.DurationVar(&c.drainTimeout, "drain-timeout", 2*time.Minute, "how long to wait for the hub's pending writes to drain at the end")
	fs.Float64Var(&c.maxHeapGrowth, "max-heap-growth", 0.10, "heap in use after the warm-up may grow by at most this share per 10 minutes")
	fs.Float64Var(&c.maxGoroutineChange, "max-goroutine-change", 0.05, "goroutines after the warm-up may change by at most this share per 10 minutes, either way")
	fs.Float64Var(&c.p99Factor, "p99-factor", 3, "every window's p99 after the warm-up within this factor of the median window p99")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.url == "" || c.tokensPath == "" || c.adminPath == "" || c.outDir == "" {
		return c, errors.New("--url, --tokens, --admin-token and --out-dir are required")
	}
	if c.warmup == 0 {
		c.warmup = c.duration / 6
	}
	if c.sim.deadFor == 0 {
		c.sim.deadFor = time.Duration(c.staleAfter+2) * c.sim.interval
	}
	c.sim.probe = c.die > 0
	switch {
	case c.duration <= 0 || c.sample <= 0 || c.warmup < 0 || c.warmup >= c.duration:
		return c, errors.New("--duration and --sample must be positive, --warmup shorter than --duration")
	case c.concurrency < 1:
		return c, errors.New("--concurrency must be at least 1")
	case c.staleAfter < 1:
		return c, errors.New("--stale-after must be at least 1")
	case c.p99Factor <= 1:
		return c, errors.New("--p99-factor must be more than 1")
	}
	if err := c.sim.validate(c.staleAfter); err != nil {
		return c, err
	}
	return c, nil
}

// ackRecord is what the hub last answered for one instance, as acked.json holds it.
type ackRecord struct {
	J    int    `json:"j"` // the fleet's instance number
	Boot int64  `json:"boot"`
	Seq  uint64 `json:"seq"` // 0: no report of this instance was answered
	// The newest report after that one that got no answer, or a 5xx: the hub may hold it.
	UncertainBoot int64  `json:"uncertain_boot,omitempty"`
	UncertainSeq  uint64 `json:"uncertain_seq,omitempty"`
}

// agentsSummary is what `loadgen agents` writes to summary.json, and what `loadgen doc` reads.
type agentsSummary struct {
	StartedUnixNano int64   `json:"started_unix_nano"`
	Agents          int     `json:"agents"`
	PerService      int     `json:"per_service"`
	Services        int     `json:"services"`
	IntervalSeconds float64 `json:"interval_seconds"`
	DurationSeconds float64 `json:"duration_seconds"` // as asked
	ElapsedSeconds  float64 `json:"elapsed_seconds"`  // from the first report due until the scheduler stopped
	WarmupSeconds   float64 `json:"warmup_seconds"`
	SampleSeconds   float64 `json:"sample_seconds"`
	Concurrency     int     `json:"concurrency"`
	FlapShare       float64 `json:"flap_share"`
	DieShare        float64 `json:"die_share"`
	Flappers        int     `json:"flappers"`
	Diers           int     `json:"diers"`
	FlapEvery       int     `json:"flap_every"`
	AliveMin        int     `json:"alive_min"`
	AliveMax        int     `json:"alive_max"`
	DeadForSeconds  float64 `json:"dead_for_seconds"`
	StaleAfter      int     `json:"stale_after"`
	// The judgements' thresholds.
	MaxHeapGrowth      float64 `json:"max_heap_growth_per_10min"`
	MaxGoroutineChange float64 `json:"max_goroutine_change_per_10min"`
	P99Factor          float64 `json:"p99_factor"`

	Sent        uint64            `json:"sent"`
	OK          uint64            `json:"answered_2xx"`
	Non2xx      uint64            `json:"non_2xx"`
	Failed      uint64            `json:"failed"`       // no answer
	Missed      uint64            `json:"missed"`       // due, but every connection busy and the queue full
	SkippedBusy uint64            `json:"skipped_busy"` // due while the agent's previous report was still in flight
	Outcomes    map[string]uint64 `json:"outcomes"`     // 2xx answers by outcome
	StatusCodes map[string]uint64 `json:"status_codes"` // non-2xx answers by status code
	// UnexpectedOutcomes are answers other than the report called for: heartbeat for a state
	// change, stored for a report that changed nothing (after a report was missed, expected).
	UnexpectedOutcomes uint64  `json:"unexpected_outcomes"`
	ReportsPerSecond   float64 `json:"reports_per_second"` // answered 2xx ÷ elapsed
	LastError          string  `json:"last_error,omitempty"`
	ScrapeErrors       int     `json:"scrape_errors"` // windows without the hub's figures

	Deaths        uint64   `json:"deaths"`
	Rejoins       uint64   `json:"rejoins"`
	Probes        uint64   `json:"probes"`       // dead agents the health API was asked about, before they rejoined
	ProbesStale   uint64   `json:"probes_stale"` // of them, critical by the hub's heartbeat check
	ProbeErrors   uint64   `json:"probe_errors"`
	ProbesSkipped uint64   `json:"probes_skipped"`
	ProbeProblems []string `json:"probe_problems,omitempty"`

	// Latency of the 2xx answers from when each report was due (so a stall of the hub that
	// holds every connection is charged to it), over the run and after the warm-up.
	Latency            latencyQuantiles `json:"latency_ms"`
	LatencyAfterWarmup latencyQuantiles `json:"latency_after_warmup_ms"`

	DrainWaitedMS float64           `json:"drain_waited_ms"`
	Loss          lossCheck         `json:"loss"`
	Store         *agentsStoreCheck `json:"store,omitempty"`

	Heap       trend      `json:"heap_inuse"`
	Goroutines trend      `json:"goroutines"`
	RSS        trend      `json:"rss"`      // from /metrics, reported and not judged
	ProcRSS    trend      `json:"proc_rss"` // from /proc, when --hub-pid was given
	NextGC     trend      `json:"next_gc"`  // the heap goal: the live heap after the last GC × (1 + GOGC/100)
	P99        steadiness `json:"p99"`
	ProbesOK   bool       `json:"probes_ok"` // every probed dead agent was stale on the hub

	Pass     bool           `json:"pass"`
	Failures []string       `json:"failures,omitempty"`
	Windows  []agentsWindow `json:"windows"`
}

// agentsStoreCheck compares what the store holds of every instance with the report the hub
// last answered for it: the same boot and seq, or a later report that got no answer.
type agentsStoreCheck struct {
	Store           string   `json:"store"` // "bbolt" or "postgres"
	File            string   `json:"file"`  // without a password
	Acked           int      `json:"acked"` // instances with an answered report
	AtLastAcked     int      `json:"at_last_acked"`
	AheadUnanswered int      `json:"ahead_unanswered"` // at a later report that got no answer: allowed
	Behind          int      `json:"behind"`           // at an earlier report: lost
	Missing         int      `json:"missing"`          // not in the store at all: lost
	Beyond          int      `json:"beyond"`           // past every report sent: impossible
	OK              bool     `json:"ok"`
	Problems        []string `json:"problems,omitempty"` // the first few
}

// lost reports whether the check found fewer reports than were answered.
func (c *agentsStoreCheck) lost() bool { return c.Behind > 0 || c.Missing > 0 }

// cmpBootSeq orders two reports of one instance as the hub does: by boot, then seq.
func cmpBootSeq(b1 int64, s1 uint64, b2 int64, s2 uint64) int {
	switch {
	case b1 != b2:
		if b1 < b2 {
			return -1
		}
		return 1
	case s1 < s2:
		return -1
	case s1 > s2:
		return 1
	}
	return 0
}

// compareStore checks the stored instances, by fleet number, against the acks.
func compareStore(acks []ackRecord, stored map[int]hub.Instance) agentsStoreCheck {
	var c agentsStoreCheck
	problem := func(format string, args ...any) {
		if len(c.Problems) < 10 {
			c.Problems = append(c.Problems, fmt.Sprintf(format, args...))
		}
	}
	for _, a := range acks {
		if a.Seq == 0 {
			continue
		}
		c.Acked++
		in, ok := stored[a.J]
		if !ok {
			c.Missing++
			problem("%s: not in the store; answered boot %d seq %d", loadtest.InstanceName(a.J), a.Boot, a.Seq)
			continue
		}
		switch cmp := cmpBootSeq(in.Boot, in.Seq, a.Boot, a.Seq); {
		case cmp == 0:
			c.AtLastAcked++
		case cmp < 0:
			c.Behind++
			problem("%s: store has boot %d seq %d, the hub answered boot %d seq %d", loadtest.InstanceName(a.J), in.Boot, in.Seq, a.Boot, a.Seq)
		case a.UncertainSeq > 0 && cmpBootSeq(in.Boot, in.Seq, a.UncertainBoot, a.UncertainSeq) <= 0:
			c.AheadUnanswered++
		default:
			c.Beyond++
			problem("%s: store has boot %d seq %d, beyond boot %d seq %d answered last", loadtest.InstanceName(a.J), in.Boot, in.Seq, a.Boot, a.Seq)
		}
	}
	c.OK = c.Missing == 0 && c.Behind == 0 && c.Beyond == 0
	return c
}

// checkStore opens the hub's store (the bbolt file at path, or the PostgreSQL database at
// dbURL) and compares it with acks.
func checkStore(ctx context.Context, path, dbURL string, f loadtest.Fleet, acks []ackRecord) (*agentsStoreCheck, error) {
	st, res, err := openStore(ctx, path, dbURL)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	stored, _, err := readStore(ctx, st, f)
	if err != nil {
		return nil, err
	}
	c := compareStore(acks, stored)
	c.Store, c.File = res.Store, res.File
	return &c, nil
}

// reportJob is one report to post.
type reportJob struct {
	agent *simAgent
	act   action
	due   time.Time
}

// agentsRun is one run of `loadgen agents`.
type agentsRun struct {
	cfg     agentsConfig
	fleet   loadtest.Fleet
	base    string
	reports string // the ingest URL
	admin   string // Authorization for /metrics and the health API
	tokens  map[string]string
	// Each worker posts over a keep-alive connection of its own, which the queue's hand-out to
	// idle workers in turn keeps in use, so the hub holds as many connections (and their
	// goroutines) all run long, rather than a pool that grows in a stall and shrinks as idle
	// connections time out. /metrics has one of its own too; probes, rare, open one each.
	scrapeClient *http.Client
	probeClient  *http.Client
	agents       []*simAgent
	start        time.Time

	jobs   chan reportJob
	probes chan probeJob // dead agents to ask the hub about

	mu       sync.Mutex // guards what follows
	win      windowCounts
	total    windowCounts
	codes    map[string]uint64
	all      []time.Duration // every 2xx latency, moved here as windows close
	warm     []time.Duration // those of windows after the warm-up
	lastErr  string
	windows  []agentsWindow // closed windows, appended by the sampler and, last, by run
	probeMsg []string

	windowStart time.Time // guarded by mu

	dead                            atomic.Int64
	deaths, rejoins                 atomic.Uint64
	probesAsked, probesStale        atomic.Uint64
	probeErrors, probesSkipped      atomic.Uint64
	missed, skippedBusy, unexpected atomic.Uint64

	csv          *windowCSV
	progress     io.Writer
	scrapeErrors int // the sampler's (and, after it stopped, run's)
}

// windowCounts are the generator's counts over a window or the run.
type windowCounts struct {
	sent, ok, non2xx, failed, rejected uint64
	outcomes                           [4]uint64 // by outcomeNames
	other                              map[string]uint64
	lat                                []time.Duration
}

// agents simulates a fleet of agents reporting to a hub at their intervals, some flapping and
// some dying and rejoining, measures every answer, samples the hub's /metrics, and at the end
// checks that the hub counted every report it answered and that its store holds the last one.
func agents(ctx context.Context, args []string, stdout io.Writer) error {
	cfg, err := parseAgentsFlags(args)
	if err != nil {
		return err
	}
	r, err := newAgentsRun(cfg, stdout)
	if err != nil {
		return err
	}
	sum, err := r.run(ctx)
	if err != nil {
		return err
	}
	printAgentsSummary(stdout, sum)
	return agentsVerdict(sum)
}

// agentsVerdict is the command's result: an error when reports were lost, or the store holds
// something no report explains; the other judgements are in the summary only.
func agentsVerdict(sum *agentsSummary) error {
	if !sum.Loss.OK {
		return fmt.Errorf("%w: %s", errReportsLost, strings.Join(sum.Loss.Differences, "; "))
	}
	if sum.Store != nil && !sum.Store.OK {
		what := "the store holds reports that were never sent"
		if sum.Store.lost() {
			what = errReportsLost.Error()
		}
		err := fmt.Errorf("store check: %s: %d behind, %d missing, %d beyond what was sent: %s", what,
			sum.Store.Behind, sum.Store.Missing, sum.Store.Beyond, strings.Join(sum.Store.Problems, "; "))
		if sum.Store.lost() {
			err = fmt.Errorf("%w: %w", errReportsLost, err)
		}
		return err
	}
	return nil
}

// newAgentsRun checks that the tokens cover the fleet's services and prepares a run; it
// prints a line per window to progress.
func newAgentsRun(cfg agentsConfig, progress io.Writer) (*agentsRun, error) {
	f := loadtest.Fleet{Tenant: protocol.DefaultTenant, Instances: cfg.agents, PerService: cfg.perService, Boot: 1}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	toks, err := readAgentTokens(cfg.tokensPath)
	if err != nil {
		return nil, err
	}
	for s := range f.Services() {
		if _, ok := toks[loadtest.ServiceName(s)]; !ok {
			return nil, fmt.Errorf("%s has no token for %s: sign the tokens with --instances %d --per-service %d", cfg.tokensPath, loadtest.ServiceName(s), cfg.agents, cfg.perService)
		}
	}
	admin, err := readToken(cfg.adminPath)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.outDir, 0o755); err != nil {
		return nil, fmt.Errorf("create out dir: %w", err)
	}
	base := strings.TrimRight(cfg.url, "/")
	return &agentsRun{
		cfg: cfg, fleet: f, base: base, reports: base + protocol.ReportPath, admin: admin, tokens: toks,
		scrapeClient: newHTTPClient(1), probeClient: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second},
		codes: map[string]uint64{}, progress: progress,
		jobs:   make(chan reportJob, max(1024, cfg.agents/4)),
		probes: make(chan probeJob, 256),
	}, nil
}

// run runs the fleet for the duration, then drains, compares and judges.
func (r *agentsRun) run(ctx context.Context) (*agentsSummary, error) {
	cfg := r.cfg
	before, err := scrapeHub(ctx, r.scrapeClient, r.base, r.admin)
	if err != nil {
		return nil, fmt.Errorf("scrape the hub before the run: %w", err)
	}
	csvOut, err := newWindowCSV(filepath.Join(cfg.outDir, agentsCSVFile))
	if err != nil {
		return nil, err
	}
	defer csvOut.Close()
	r.csv = csvOut

	roles, err := assignRoles(cfg.agents, cfg.flap, cfg.die, cfg.seed)
	if err != nil {
		return nil, err
	}
	rnd := rand.New(rand.NewPCG(cfg.seed, 2))
	r.start = time.Now()
	r.windowStart = r.start
	r.agents = make([]*simAgent, cfg.agents)
	for j := range r.agents {
		// First reports spread over one interval, so the load is even from the start.
		first := r.start.Add(time.Duration(rnd.Int64N(int64(cfg.sim.interval))))
		r.agents[j] = newSimAgent(j, roles[j], first, cfg.sim, rnd)
	}
	sched := newScheduler(r.agents)

	// Stopping in order: the scheduler ends, the workers send what is queued and stop, the
	// probes finish, the sampler closes its last full window; run closes the last partial one.
	var workers, probers, sampler sync.WaitGroup
	clients := make([]*http.Client, cfg.concurrency)
	for w := range cfg.concurrency {
		clients[w] = newHTTPClient(1)
		workers.Go(func() { r.worker(ctx, clients[w], cfg.seed<<16|uint64(w)) })
	}
	// The workers' connections close once the last window has scraped the hub, which counts
	// their goroutines.
	defer func() {
		for _, c := range clients {
			c.CloseIdleConnections()
		}
	}()
	for range 2 {
		probers.Go(func() { r.prober(ctx) })
	}
	stopSampler := make(chan struct{})
	sampler.Go(func() { r.sample(ctx, stopSampler) })

	end := r.start.Add(cfg.duration)
	timer := time.NewTimer(0)
	stopped := false
	for !stopped {
		now := time.Now()
		if !now.Before(end) {
			break
		}
		for a := sched.due(now); a != nil; a = sched.due(now) {
			r.fire(a, now, rnd)
			sched.requeue(a)
		}
		next := sched.next()
		if next.After(end) {
			next = end
		}
		timer.Reset(time.Until(next))
		select {
		case <-ctx.Done():
			stopped = true
		case <-timer.C:
		}
	}
	timer.Stop()
	elapsed := time.Since(r.start)
	close(r.jobs)
	workers.Wait()
	close(r.probes)
	probers.Wait()
	close(stopSampler)
	sampler.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.closeWindow(ctx, time.Now(), true)

	// The hub's counters are final once every answer is in; its store once pending writes
	// (state changes, heartbeats waiting for their batch, writes under way) have drained.
	drainStart := time.Now()
	after, err := r.waitDrained(ctx)
	if err != nil {
		return nil, err
	}
	sum := r.summary(elapsed, before, after)
	sum.DrainWaitedMS = float64(time.Since(drainStart).Microseconds()) / 1000
	acks := r.acks()
	if err := writeJSONFile(filepath.Join(cfg.outDir, agentsAckedFile), acks); err != nil {
		return nil, err
	}
	if cfg.databaseURL != "" {
		if sum.Store, err = checkStore(ctx, "", cfg.databaseURL, r.fleet, acks); err != nil {
			return nil, err
		}
	}
	sum.judge()
	if err := writeJSONFile(filepath.Join(cfg.outDir, agentsSummaryFile), sum); err != nil {
		return nil, err
	}
	return sum, nil
}

// fire runs one agent's due event.
func (r *agentsRun) fire(a *simAgent, now time.Time, rnd *rand.Rand) {
	due := a.due
	if a.sends() && a.busy.Load() {
		a.skip(now, r.cfg.sim)
		r.skippedBusy.Add(1)
		return
	}
	act := a.fire(now, r.cfg.sim, rnd)
	if act.rejoin {
		r.rejoins.Add(1)
		r.dead.Add(-1)
	}
	switch act.kind {
	case actSend:
		a.busy.Store(true)
		select {
		case r.jobs <- reportJob{agent: a, act: act, due: due}:
			r.mu.Lock()
			r.win.sent++
			r.total.sent++
			r.mu.Unlock()
		default:
			a.busy.Store(false)
			r.missed.Add(1)
		}
	case actDie:
		r.deaths.Add(1)
		r.dead.Add(1)
	case actProbe:
		select {
		case r.probes <- probeJob{j: a.j, rejoinAt: a.rejoinAt}:
		default:
			r.probesSkipped.Add(1)
		}
	}
}

// worker posts reports over client until the queue is closed.
func (r *agentsRun) worker(ctx context.Context, client *http.Client, seed uint64) {
	rnd := rand.New(rand.NewPCG(seed, 3))
	for jb := range r.jobs {
		a := jb.agent
		code, outcome, err := r.post(ctx, client, a.j, r.report(jb, rnd))
		lat := time.Since(jb.due)
		switch {
		case code/100 == 2 && outcome != "ignored":
			a.ack.boot, a.ack.seq = jb.act.boot, jb.act.seq
		case code == 0 || code >= 500: // the hub may have applied it
			a.ack.uncertainBoot, a.ack.uncertainSeq = jb.act.boot, jb.act.seq
		}
		want := "heartbeat"
		if jb.act.expectStored {
			want = "stored"
		}
		if code/100 == 2 && outcome != want && outcome != "queued" { // "ignored": the seqs went wrong
			r.unexpected.Add(1)
		}
		a.busy.Store(false)
		r.record(code, outcome, err, lat)
	}
}

// report makes the job's report: the fleet's realistic report of the instance with the
// job's boot and seq, the agent's interval, and the upstream check critical when it flaps so.
func (r *agentsRun) report(jb reportJob, rnd *rand.Rand) *protocol.Report {
	now := time.Now()
	rep := r.fleet.Report(jb.agent.j, jb.act.seq, false, rnd, now)
	rep.Boot = jb.act.boot
	rep.Interval = protocol.Duration(r.cfg.sim.interval)
	if jb.act.failing {
		c := &rep.Checks[loadtest.UpstreamCheck]
		c.Status = status.Critical
		c.Output = "HTTP 503 Service Unavailable in " + strconv.FormatFloat(c.LatencyMS, 'f', 1, 64) + " ms"
	}
	return rep
}

// post sends rep and returns the status code and, for a 2xx, the outcome the hub answered.
func (r *agentsRun) post(ctx context.Context, client *http.Client, j int, rep *protocol.Report) (int, string, error) {
	body, err := json.Marshal(rep)
	if err != nil {
		return 0, "", fmt.Errorf("encode report: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.reports, bytes.NewReader(body))
	if err != nil {
		return 0, "", fmt.Errorf("report request: %w", err)
	}
	req.Header.Set("Authorization", r.tokens[r.fleet.Service(j)])
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("post report: %w", err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, "", fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, "", fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var ans struct {
		Outcome string `json:"outcome"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return resp.StatusCode, "", fmt.Errorf("decode answer: %w", err)
	}
	return resp.StatusCode, ans.Outcome, nil
}

// record counts one answer, or its absence, in the open window and the run.
func (r *agentsRun) record(code int, outcome string, err error, lat time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.lastErr = err.Error()
	}
	for _, c := range []*windowCounts{&r.win, &r.total} {
		switch {
		case code == 0:
			c.failed++
		case code/100 != 2:
			c.non2xx++
			if code != http.StatusUnauthorized { // counted by centralhub_auth_failures_total instead
				c.rejected++
			}
		default:
			c.ok++
			if i := outcomeIndex(outcome); i >= 0 {
				c.outcomes[i]++
			} else {
				if c.other == nil {
					c.other = map[string]uint64{}
				}
				c.other[outcome]++
			}
		}
	}
	switch {
	case code != 0 && code/100 != 2:
		r.codes[strconv.Itoa(code)]++
	case code/100 == 2:
		r.win.lat = append(r.win.lat, lat)
	}
}

// probeJob is a dead agent to ask the hub about, and when it rejoins.
type probeJob struct {
	j        int
	rejoinAt time.Time
}

// prober asks the hub about dead agents shortly before they rejoin: by then the hub must have
// judged each stale (critical, with its heartbeat check).
func (r *agentsRun) prober(ctx context.Context) {
	for job := range r.probes {
		j := job.j
		stale, err := r.probe(ctx, j)
		if time.Now().After(job.rejoinAt) {
			// The probers fell behind: the agent may have rejoined before the hub was asked,
			// so the answer says nothing about staleness.
			r.probesSkipped.Add(1)
			continue
		}
		r.probesAsked.Add(1)
		switch {
		case err != nil:
			r.probeErrors.Add(1)
			r.probeProblem(fmt.Sprintf("%s: %v", loadtest.InstanceName(j), err))
		case stale:
			r.probesStale.Add(1)
		default:
			r.probeProblem(fmt.Sprintf("%s: not critical by %s after %s of silence", loadtest.InstanceName(j), registry.HeartbeatCheck,
				r.cfg.sim.deadFor+r.cfg.sim.interval/2))
		}
	}
}

func (r *agentsRun) probeProblem(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.probeMsg) < 10 {
		r.probeMsg = append(r.probeMsg, msg)
	}
}

// probe reports whether the hub shows instance j critical by its heartbeat check.
func (r *agentsRun) probe(ctx context.Context, j int) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	svc := r.fleet.Service(j)
	body, err := getBody(ctx, r.probeClient, r.base+"/api/v1/dashboard/health?service="+url.QueryEscape(svc), r.admin)
	if err != nil {
		return false, err
	}
	return instanceStale(body, svc, loadtest.InstanceName(j))
}

// instanceStale reads a GET /api/v1/dashboard/health answer and reports whether the instance
// is critical with the hub's heartbeat check critical.
func instanceStale(body []byte, service, instance string) (bool, error) {
	var h agentHealth
	if err := json.Unmarshal(body, &h); err != nil {
		return false, fmt.Errorf("decode health: %w", err)
	}
	for _, s := range h.Services {
		if s.Name != service {
			continue
		}
		for _, in := range s.Instances {
			if in.Instance != instance {
				continue
			}
			if in.Status != string(status.Critical) {
				return false, nil
			}
			for _, c := range in.Checks {
				if c.Name == registry.HeartbeatCheck && c.Status == string(status.Critical) {
					return true, nil
				}
			}
			return false, nil
		}
	}
	return false, fmt.Errorf("the hub does not list %s/%s", service, instance)
}

// sample closes a window every --sample until stop is closed.
func (r *agentsRun) sample(ctx context.Context, stop <-chan struct{}) {
	tick := time.NewTicker(r.cfg.sample)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case now := <-tick.C:
			r.closeWindow(ctx, now, false)
		}
	}
}

// closeWindow ends the open window at now, scrapes the hub, and writes the window's row. The
// last window, closed after the scheduler stopped, gets a row only when it is at least half a
// sample long; its latencies count in the run's quantiles either way.
func (r *agentsRun) closeWindow(ctx context.Context, now time.Time, last bool) {
	r.mu.Lock()
	c, from := r.win, r.windowStart
	r.win, r.windowStart = windowCounts{}, now
	if last && now.Sub(from) < r.cfg.sample/2 {
		r.keepLatencies(c.lat, from)
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()

	w := agentsWindow{EndSeconds: now.Sub(r.start).Seconds(), Seconds: now.Sub(from).Seconds(),
		Sent: c.sent, OK: c.ok, Stored: c.outcomes[0], Heartbeat: c.outcomes[1], Non2xx: c.non2xx, Failed: c.failed,
		Dead: r.dead.Load()}
	if w.Seconds > 0 {
		w.PerSecond = float64(c.ok) / w.Seconds
	}
	q := quantiles(c.lat) // sorts c.lat
	w.P50MS, w.P90MS, w.P99MS, w.MaxMS = q.P50, q.P90, q.P99, q.Max
	if s, err := scrapeHub(ctx, r.scrapeClient, r.base, r.admin); err == nil {
		w.Hub = &windowHub{RSS: s.RSS, HeapInuse: s.HeapInuse, HeapAlloc: s.HeapAlloc, NextGC: s.NextGC, Goroutines: s.Goroutines, Pending: s.Pending}
	} else {
		r.scrapeErrors++
		r.noteErr(fmt.Errorf("scrape: %w", err))
	}
	if r.cfg.hubPID > 0 {
		if rss, err := procRSS(r.cfg.hubPID); err == nil {
			w.ProcRSS = rss
		} else {
			r.noteErr(err)
		}
	}

	r.mu.Lock()
	r.keepLatencies(c.lat, from)
	r.windows = append(r.windows, w)
	r.mu.Unlock()
	if err := r.csv.write(w.csvRow()); err != nil {
		r.noteErr(err)
	}
	if r.progress != nil {
		line := fmt.Sprintf("agents: %6.0fs %6.1f reports/s p50 %.2f ms p99 %.2f ms max %.2f ms, %d dead", w.EndSeconds, w.PerSecond, w.P50MS, w.P99MS, w.MaxMS, w.Dead)
		if w.Hub != nil {
			line += fmt.Sprintf("; hub RSS %.1f MiB, heap in use %.1f MiB, %.0f goroutines, %.0f pending writes", w.Hub.RSS/(1<<20), w.Hub.HeapInuse/(1<<20), w.Hub.Goroutines, w.Hub.Pending)
		}
		fmt.Fprintln(r.progress, line)
	}
}

// keepLatencies adds a closed window's latencies, the window started at from, to the run's;
// r.mu is held.
func (r *agentsRun) keepLatencies(lat []time.Duration, from time.Time) {
	r.all = append(r.all, lat...)
	if from.Sub(r.start) >= r.cfg.warmup {
		r.warm = append(r.warm, lat...)
	}
}

func (r *agentsRun) noteErr(err error) {
	r.mu.Lock()
	r.lastErr = err.Error()
	r.mu.Unlock()
}

// waitDrained polls the hub's /metrics until no write is pending and returns that scrape. A
// failed scrape is tried again until the time is up.
func (r *agentsRun) waitDrained(ctx context.Context) (hubSample, error) {
	var s hubSample
	var last error
	err := pollUntil(ctx, 50*time.Millisecond, r.cfg.drainTimeout, "wait for the hub's writes to drain", func() (bool, error) {
		var err error
		s, err = scrapeHub(ctx, r.scrapeClient, r.base, r.admin)
		last = err
		return err == nil && s.Pending == 0, nil
	})
	switch {
	case err != nil && last != nil:
		return s, fmt.Errorf("%w; the last scrape: %w", err, last)
	case err != nil:
		return s, fmt.Errorf("%w; %.0f writes still pending", err, s.Pending)
	}
	return s, nil
}

// acks returns what the hub last answered for each instance; the workers have stopped.
func (r *agentsRun) acks() []ackRecord {
	out := make([]ackRecord, len(r.agents))
	for j, a := range r.agents {
		out[j] = ackRecord{J: j, Boot: a.ack.boot, Seq: a.ack.seq}
		if a.ack.uncertainSeq > 0 && cmpBootSeq(a.ack.uncertainBoot, a.ack.uncertainSeq, a.ack.boot, a.ack.seq) > 0 {
			out[j].UncertainBoot, out[j].UncertainSeq = a.ack.uncertainBoot, a.ack.uncertainSeq
		}
	}
	return out
}

// summary gathers the run's figures; the hub's counters are compared from before and after.
func (r *agentsRun) summary(elapsed time.Duration, before, after hubSample) *agentsSummary {
	cfg := r.cfg
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &agentsSummary{
		StartedUnixNano: r.start.UnixNano(), Agents: cfg.agents, PerService: cfg.perService, Services: r.fleet.Services(),
		IntervalSeconds: cfg.sim.interval.Seconds(), DurationSeconds: cfg.duration.Seconds(), ElapsedSeconds: elapsed.Seconds(),
		WarmupSeconds: cfg.warmup.Seconds(), SampleSeconds: cfg.sample.Seconds(), Concurrency: cfg.concurrency,
		FlapShare: cfg.flap, DieShare: cfg.die, FlapEvery: cfg.sim.flapEvery, AliveMin: cfg.sim.aliveMin, AliveMax: cfg.sim.aliveMax,
		DeadForSeconds: cfg.sim.deadFor.Seconds(), StaleAfter: cfg.staleAfter,
		MaxHeapGrowth: cfg.maxHeapGrowth, MaxGoroutineChange: cfg.maxGoroutineChange, P99Factor: cfg.p99Factor,
		ScrapeErrors: r.scrapeErrors,
		Sent:         r.total.sent, OK: r.total.ok, Non2xx: r.total.non2xx, Failed: r.total.failed,
		Missed: r.missed.Load(), SkippedBusy: r.skippedBusy.Load(), UnexpectedOutcomes: r.unexpected.Load(),
		Outcomes: map[string]uint64{}, StatusCodes: r.codes, LastError: r.lastErr,
		Deaths: r.deaths.Load(), Rejoins: r.rejoins.Load(), Probes: r.probesAsked.Load(), ProbesStale: r.probesStale.Load(),
		ProbeErrors: r.probeErrors.Load(), ProbesSkipped: r.probesSkipped.Load(), ProbeProblems: r.probeMsg,
		Latency: quantiles(r.all), LatencyAfterWarmup: quantiles(r.warm), Windows: r.windows,
	}
	for _, a := range r.agents {
		switch a.role {
		case roleFlapper:
			s.Flappers++
		case roleDier:
			s.Diers++
		}
	}
	gen := map[string]uint64{"rejected": r.total.rejected}
	for i, name := range outcomeNames {
		s.Outcomes[name] = r.total.outcomes[i]
		gen[name] = r.total.outcomes[i]
	}
	for name, n := range r.total.other {
		s.Outcomes[name] += n
		gen[name] += n
	}
	hubCounts := map[string]uint64{"rejected": delta(after.Rejected, before.Rejected)}
	for name := range after.Outcomes {
		hubCounts[name] = delta(after.Outcomes[name], before.Outcomes[name])
	}
	s.Loss = compareCounts(gen, hubCounts, r.total.failed)
	s.ReportsPerSecond = float64(s.OK) / elapsed.Seconds()
	return s
}

func delta(after, before float64) uint64 { return uint64(math.Max(0, math.Round(after-before))) }

// judge fits the trends and decides every criterion.
func (s *agentsSummary) judge() {
	hubValue := func(v func(*windowHub) float64) func(*agentsWindow) (float64, bool) {
		return func(w *agentsWindow) (float64, bool) {
			if w.Hub == nil {
				return 0, false
			}
			return v(w.Hub), true
		}
	}
	s.Heap = fitTrend("heap in use", s.Windows, s.WarmupSeconds, hubValue(func(h *windowHub) float64 { return h.HeapInuse }), s.MaxHeapGrowth, false)
	s.Goroutines = fitTrend("goroutines", s.Windows, s.WarmupSeconds, hubValue(func(h *windowHub) float64 { return h.Goroutines }), s.MaxGoroutineChange, true)
	s.RSS = fitTrend("resident set (/metrics)", s.Windows, s.WarmupSeconds, hubValue(func(h *windowHub) float64 { return h.RSS }), 0, false)
	s.NextGC = fitTrend("heap goal (next GC)", s.Windows, s.WarmupSeconds, hubValue(func(h *windowHub) float64 { return h.NextGC }), 0, false)
	s.ProcRSS = fitTrend("resident set (/proc)", s.Windows, s.WarmupSeconds, func(w *agentsWindow) (float64, bool) { return w.ProcRSS, w.ProcRSS > 0 }, 0, false)
	s.P99 = judgeP99(s.Windows, s.WarmupSeconds, s.P99Factor)
	s.ProbesOK = s.ProbesStale == s.Probes && s.ProbeErrors == 0
	s.Failures = nil
	for _, c := range []struct {
		ok   bool
		what string
	}{
		{s.Loss.OK, "reports lost: " + strings.Join(s.Loss.Differences, "; ")},
		{s.Store == nil || s.Store.OK, "store check failed"},
		{s.Heap.OK, fmt.Sprintf("heap in use grew %+.1f%% %s (limit %+.0f%%)", s.Heap.Change*100, s.Heap.per(), s.Heap.Limit*100)},
		{s.Goroutines.OK, fmt.Sprintf("goroutines changed %+.1f%% %s (limit ±%.0f%%)", s.Goroutines.Change*100, s.Goroutines.per(), s.Goroutines.Limit*100)},
		{s.P99.OK, fmt.Sprintf("p99 not steady: %d of %d windows above %.0f× the median window p99 (%.2f ms)", s.P99.Over, s.P99.Windows, s.P99.Factor, s.P99.MedianP99MS)},
		{s.ProbesOK, fmt.Sprintf("%d of %d dead agents were stale on the hub before they rejoined (%d errors)", s.ProbesStale, s.Probes, s.ProbeErrors)},
	} {
		if !c.ok {
			s.Failures = append(s.Failures, c.what)
		}
	}
	s.Pass = len(s.Failures) == 0
}

// printAgentsSummary prints the run's result in a few lines.
func printAgentsSummary(w io.Writer, s *agentsSummary) {
	outcomes := make([]string, 0, len(s.Outcomes))
	for _, k := range slices.Sorted(maps.Keys(s.Outcomes)) {
		outcomes = append(outcomes, fmt.Sprintf("%s %d", k, s.Outcomes[k]))
	}
	fmt.Fprintf(w, "agents: %d agents (%d flapping, %d dying) at %s for %s: sent %d, answered 2xx %d (%s), non-2xx %d, no answer %d, missed %d, skipped %d; %.1f reports/s\n",
		s.Agents, s.Flappers, s.Diers, time.Duration(s.IntervalSeconds*1e9), time.Duration(s.ElapsedSeconds*1e9).Round(time.Second),
		s.Sent, s.OK, strings.Join(outcomes, ", "), s.Non2xx, s.Failed, s.Missed, s.SkippedBusy, s.ReportsPerSecond)
	fmt.Fprintf(w, "agents: latency p50 %.2f ms p99 %.2f ms max %.2f ms; after the warm-up p50 %.2f ms p99 %.2f ms; window p99 median %.2f ms, worst %.2f ms (%.1f×)\n",
		s.Latency.P50, s.Latency.P99, s.Latency.Max, s.LatencyAfterWarmup.P50, s.LatencyAfterWarmup.P99, s.P99.MedianP99MS, s.P99.MaxP99MS, s.P99.MaxRatio)
	verdict := "equal"
	if !s.Loss.Equal {
		verdict = strings.Join(s.Loss.Differences, "; ")
	}
	fmt.Fprintf(w, "agents: hub counters against the generator's: %s\n", verdict)
	if s.Store != nil {
		fmt.Fprintf(w, "agents: store (%s): %d of %d answered instances at their last answered report, %d ahead at an unanswered one, %d behind, %d missing\n",
			s.Store.Store, s.Store.AtLastAcked, s.Store.Acked, s.Store.AheadUnanswered, s.Store.Behind, s.Store.Missing)
	}
	fmt.Fprintf(w, "agents: after the warm-up: heap in use %.1f → %.1f MiB (fit %+.1f%% %s), goroutines %.0f → %.0f (fit %+.1f%% %s), RSS %.1f → %.1f MiB; %d deaths, %d rejoins, %d of %d dead agents stale on the hub\n",
		s.Heap.First/(1<<20), s.Heap.Last/(1<<20), s.Heap.Change*100, s.Heap.per(), s.Goroutines.First, s.Goroutines.Last, s.Goroutines.Change*100, s.Goroutines.per(),
		s.RSS.First/(1<<20), s.RSS.Last/(1<<20), s.Deaths, s.Rejoins, s.ProbesStale, s.Probes)
	if s.Pass {
		fmt.Fprintln(w, "agents: PASS")
	} else {
		fmt.Fprintf(w, "agents: FAIL: %s\n", strings.Join(s.Failures, "; "))
	}
}

// agentsVerify checks the store of a stopped hub (the bbolt file, or the PostgreSQL
// database) against what a `loadgen agents` run was answered, and records the result in its
// summary.
func agentsVerify(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("agents-verify")
	dbPath := fs.String("db", "", "the hub's store file (this or --database-url is required)")
	dbURL := fs.String("database-url", "", "the hub's PostgreSQL database (this or --db is required)")
	outDir := fs.String("out-dir", "", "the --out-dir of the `loadgen agents` run (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (*dbPath == "") == (*dbURL == "") || *outDir == "" {
		return errors.New("give --out-dir and one of --db and --database-url")
	}
	var sum agentsSummary
	if err := readJSONFile(filepath.Join(*outDir, agentsSummaryFile), &sum); err != nil {
		return err
	}
	var acks []ackRecord
	if err := readJSONFile(filepath.Join(*outDir, agentsAckedFile), &acks); err != nil {
		return err
	}
	f := loadtest.Fleet{Tenant: protocol.DefaultTenant, Instances: sum.Agents, PerService: sum.PerService, Boot: 1}
	if err := f.Validate(); err != nil {
		return fmt.Errorf("%s: %w", agentsSummaryFile, err)
	}
	var err error
	if sum.Store, err = checkStore(ctx, *dbPath, *dbURL, f, acks); err != nil {
		return err
	}
	sum.judge()
	if err := writeJSONFile(filepath.Join(*outDir, agentsSummaryFile), &sum); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "agents-verify: %s: %d of %d answered instances at their last answered report, %d ahead at an unanswered one, %d behind, %d missing, %d beyond\n",
		sum.Store.File, sum.Store.AtLastAcked, sum.Store.Acked, sum.Store.AheadUnanswered, sum.Store.Behind, sum.Store.Missing, sum.Store.Beyond)
	return agentsVerdict(&sum)
}
