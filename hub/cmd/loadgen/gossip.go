package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	metrics "github.com/hashicorp/go-metrics"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/loadtest"
	"github.com/centralhub/centralhub/pkg/gossip"
	"github.com/centralhub/centralhub/pkg/protocol"
)

// gossipMode is one measurement of `loadgen gossip`.
type gossipMode struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout io.Writer) error
}

var gossipModes = []gossipMode{
	{"hub-addr", "print the gossip address of the hub at --url", gossipHubAddr},
	{"detect", "kill -9 a real agent again and again; time until the hub marks it critical", gossipDetect},
	{"soak", "hold many members beside busy loops; count the failures the hub hears of", gossipSoak},
	{"converge", "start many members at once; time until they and the hub see all alive", gossipConverge},
	{"bandwidth", "bytes memberlist sends per member and second in a steady cluster", gossipBandwidth},
}

// gossipBench measures the gossip layer against a real hub (`make bench`'s gossip part). The
// agents it needs, but one, are pkg/gossip members inside this process, with the tags and node
// names real agents have, so that tens or hundreds of them cost the machine little.
//
// Each measurement wants a hub of its own: the in-process members take the fleet's names, and a
// name that left the cluster moments before is not reliably taken back by a member at another
// address.
func gossipBench(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) > 0 {
		for _, m := range gossipModes {
			if m.name == args[0] {
				return m.run(ctx, args[1:], stdout)
			}
		}
	}
	var b strings.Builder
	b.WriteString("usage: loadgen gossip <measurement> [flags]; measurements:")
	for _, m := range gossipModes {
		fmt.Fprintf(&b, "\n  %-10s %s", m.name, m.summary)
	}
	switch {
	case len(args) == 0:
		return fmt.Errorf("a measurement is required\n%s", b.String())
	case args[0] == "-h" || args[0] == "--help" || args[0] == "help":
		fmt.Fprintln(os.Stderr, b.String())
		return flag.ErrHelp
	}
	return fmt.Errorf("unknown measurement %q\n%s", args[0], b.String())
}

// Defaults of the gossip measurements.
const (
	// registerInterval is the interval the in-process members' one report announces, so that
	// heartbeat staleness (stale_after × interval) never turns them critical during a
	// measurement: only gossip changes their health.
	registerInterval = time.Hour
	// leaveTimeout bounds the members' graceful leave at the end of a measurement.
	leaveTimeout = 3 * time.Second
	// convergeTimeout bounds a wait for every member to hold every other alive. A member that
	// missed a join announcement learns of it only at its next push-pull (up to 2 min at 200
	// members), so this is generous.
	convergeTimeout = 5 * time.Minute
	// victimService and victimInstance name the real agent that the detection trials kill.
	victimService  = "bench-gossip"
	victimInstance = "victim-1"
	// gossipCheck is the synthetic check the hub adds to an instance whose agent gossip
	// declared failed.
	gossipCheck = "hub:gossip"
	// failedSeries is the hub's count of gossip failure events.
	failedSeries = `centralhub_gossip_events_total{type="failed"}`
)

// clusterFlags are the flags every measurement shares: the hub under test and how to join it.
type clusterFlags struct {
	url, adminToken, join, keyFile, profile string
	perService                              int
	out                                     string
}

func bindClusterFlags(fs *flag.FlagSet) *clusterFlags {
	c := &clusterFlags{}
	fs.StringVar(&c.url, "url", "", "hub base URL (required)")
	fs.StringVar(&c.adminToken, "admin-token", "", "admin token file of every tenant, for the members list and /metrics (required)")
	fs.StringVar(&c.join, "join", "", "the hub's gossip host:port, as loadgen gossip hub-addr prints it (required)")
	fs.StringVar(&c.keyFile, "key-file", "", "the cluster's base64 gossip key file (required)")
	fs.StringVar(&c.profile, "profile", string(gossip.ProfileLAN), "gossip timing profile of the members in this process")
	fs.IntVar(&c.perService, "per-service", 10, "in-process members per service (they are instances of loadtest's fleet)")
	fs.StringVar(&c.out, "out", "", "write the result as JSON to this file (required)")
	return c
}

// open checks the flags and returns the hub client and the swarm configuration they name.
func (c *clusterFlags) open() (*hubClient, swarmConfig, error) {
	if c.url == "" || c.adminToken == "" || c.join == "" || c.keyFile == "" || c.out == "" {
		return nil, swarmConfig{}, errors.New("--url, --admin-token, --join, --key-file and --out are required")
	}
	hc, err := newHubClient(c.url, c.adminToken, "")
	if err != nil {
		return nil, swarmConfig{}, err
	}
	key, err := gossip.ReadKeyFile(c.keyFile)
	if err != nil {
		return nil, swarmConfig{}, err
	}
	profile, err := gossip.ParseProfile(c.profile)
	if err != nil {
		return nil, swarmConfig{}, err
	}
	return hc, swarmConfig{join: []string{c.join}, key: key, profile: profile}, nil
}

// fleet is the loadtest fleet of n in-process members.
func (c *clusterFlags) fleet(n int) (loadtest.Fleet, error) {
	f := loadtest.Fleet{Tenant: protocol.DefaultTenant, Instances: n, PerService: min(c.perService, max(n, 1)), Boot: time.Now().UnixNano()}
	if err := f.Validate(); err != nil {
		return f, fmt.Errorf("in-process members: %w", err)
	}
	return f, nil
}

// ---- the hub under test

// hubClient reads what the measurements watch on the hub: its gossip members, an instance's
// health and /metrics.
type hubClient struct {
	base          string
	client        *http.Client
	admin, viewer string // Authorization values; viewer may be ""
}

func newHubClient(base, adminPath, viewerPath string) (*hubClient, error) {
	hc := &hubClient{base: strings.TrimRight(base, "/"), client: newHTTPClient(4)}
	var err error
	if hc.admin, err = readToken(adminPath); err != nil {
		return nil, err
	}
	if viewerPath != "" {
		if hc.viewer, err = readToken(viewerPath); err != nil {
			return nil, err
		}
	}
	return hc, nil
}

// hubMember is one entry of GET /api/v1/dashboard/members.
type hubMember struct {
	Name       string `json:"name"`
	Role       string `json:"role"`
	Address    string `json:"address"`
	State      string `json:"state"`
	Registered bool   `json:"registered"`
}

func (h *hubClient) members(ctx context.Context) ([]hubMember, error) {
	body, err := getBody(ctx, h.client, h.base+"/api/v1/dashboard/members", h.admin)
	if err != nil {
		return nil, err
	}
	var doc struct {
		Enabled bool        `json:"enabled"`
		Members []hubMember `json:"members"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decode members: %w", err)
	}
	if !doc.Enabled {
		return nil, errors.New("the hub runs without gossip (start it with --gossip-bind)")
	}
	return doc.Members, nil
}

// aliveMembers counts the members the hub holds alive, and reports the state of member name.
func (h *hubClient) aliveMembers(ctx context.Context, name string) (alive int, state string, err error) {
	ms, err := h.members(ctx)
	for _, m := range ms {
		if m.State == "alive" {
			alive++
		}
		if m.Name == name {
			state = m.State
		}
	}
	return alive, state, err
}

// instanceHealth is an instance as GET /api/v1/dashboard/health shows it; Status is "" when the
// hub does not list it.
type instanceHealth struct {
	Status string
	Checks map[string]string // check name → status
}

func (h *hubClient) instance(ctx context.Context, service, instance string) (instanceHealth, error) {
	var ih instanceHealth
	body, err := getBody(ctx, h.client, h.base+"/api/v1/dashboard/health?service="+service, h.viewer)
	if err != nil {
		return ih, err
	}
	var doc agentHealth
	if err := json.Unmarshal(body, &doc); err != nil {
		return ih, fmt.Errorf("decode health: %w", err)
	}
	for _, s := range doc.Services {
		for _, in := range s.Instances {
			if s.Name != service || in.Instance != instance {
				continue
			}
			ih.Status, ih.Checks = in.Status, map[string]string{}
			for _, c := range in.Checks {
				ih.Checks[c.Name] = c.Status
			}
		}
	}
	return ih, nil
}

// counter reads one series (name and labels exactly as exposed) from the hub's /metrics and fails
// when it is missing, so a renamed metric stops the benchmark instead of reading as 0.
func (h *hubClient) counter(ctx context.Context, series string) (float64, error) {
	body, err := getBody(ctx, h.client, h.base+"/metrics", h.admin)
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, fmt.Errorf("metrics: %s: %w", series, err)
			}
			return f, nil
		}
	}
	return 0, fmt.Errorf("metrics: no series %s (renamed?)", series)
}

// errNotWithin is what pollUntil returns when its condition did not come true in time.
var errNotWithin = errors.New("not within the time allowed")

// pollUntil calls done every interval until it reports true, fails, ctx ends or within passes.
func pollUntil(ctx context.Context, every, within time.Duration, what string, done func() (bool, error)) error {
	deadline := time.Now().Add(within)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		ok, err := done()
		switch {
		case err != nil:
			return fmt.Errorf("%s: %w", what, err)
		case ok:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("%s: %w (%s)", what, errNotWithin, within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// ---- members in this process

// swarmConfig is how the in-process members join the cluster.
type swarmConfig struct {
	join    []string
	key     []byte
	profile gossip.Profile
}

// swarm is many gossip members in this process, each speaking for one instance of a loadtest
// fleet as an agent does: node name tenant/service/instance, role agent and identity tags,
// its own loopback port, and the cluster's key.
type swarm struct {
	fleet   loadtest.Fleet
	members []*swarmMember
}

// swarmMember is one member and the failures of others it was told of.
type swarmMember struct {
	g       *gossip.Gossip
	name    string
	failed  atomic.Int64
	drained chan struct{} // closed once Events is closed and read to its end
}

// startSwarm starts every member of f at once; each joins in the background.
func startSwarm(f loadtest.Fleet, c swarmConfig) (*swarm, error) {
	s := &swarm{fleet: f, members: make([]*swarmMember, f.Instances)}
	errs := make([]error, f.Instances)
	var wg sync.WaitGroup
	for j := range f.Instances {
		wg.Go(func() { s.members[j], errs[j] = startMember(f.Key(j), f.Boot, c) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		s.shutdown()
		return nil, err
	}
	return s, nil
}

func startMember(k hub.InstanceKey, boot int64, c swarmConfig) (*swarmMember, error) {
	gc := gossip.DefaultConfig()
	gc.NodeName = k.String()
	gc.Bind = "127.0.0.1:0"
	gc.Join = c.join
	gc.Keys = [][]byte{c.key}
	gc.Profile = c.profile
	gc.Tags = map[string]string{
		gossip.TagRole: gossip.RoleAgent, gossip.TagTenant: k.Tenant, gossip.TagService: k.Service, gossip.TagInstance: k.Instance,
		gossip.TagBoot: strconv.FormatInt(boot, 10), // the boot of the fleet's reports, as an agent's member carries
	}
	g, err := gossip.New(gc)
	if err != nil {
		return nil, err
	}
	m := &swarmMember{g: g, name: gc.NodeName, drained: make(chan struct{})}
	go m.drain()
	return m, nil
}

// drain reads the member's events (a member's consumer must keep reading them), counting
// failures.
func (m *swarmMember) drain() {
	defer close(m.drained)
	for ev := range m.g.Events() {
		if ev.Type == gossip.MemberFailed {
			m.failed.Add(1)
		}
	}
}

// view counts the members m holds alive and reports the state of member name.
func (m *swarmMember) view(name string) (alive int, state string) {
	for _, o := range m.g.Members() {
		if o.Status == "alive" {
			alive++
		}
		if o.Name == name {
			state = o.Status
		}
	}
	return alive, state
}

// register sends every member's instance one report over HTTP with its service's agent token,
// so that each is a registered instance whose failure the hub acts on.
func (s *swarm) register(ctx context.Context, snd *sender) error {
	rnd := rand.New(rand.NewPCG(1, 2))
	for j := range s.fleet.Instances {
		rep := s.fleet.Report(j, 1, false, rnd, time.Now())
		rep.Interval = protocol.Duration(registerInterval)
		body, err := json.Marshal(rep)
		if err != nil {
			return fmt.Errorf("encode report: %w", err)
		}
		if code := snd.post(ctx, s.fleet.Service(j), body); code != http.StatusOK {
			return fmt.Errorf("register %s: status %d %s", s.fleet.Key(j), code, snd.lastError())
		}
	}
	return nil
}

// failedSeen sums the failure events the members were told of.
func (s *swarm) failedSeen() int64 {
	var n int64
	for _, m := range s.members {
		n += m.failed.Load()
	}
	return n
}

// converged reports whether every member holds want members alive and, when name is not "",
// holds member name alive.
func (s *swarm) converged(want int, name string) bool {
	for _, m := range s.members {
		alive, state := m.view(name)
		if alive != want || (name != "" && state != "alive") {
			return false
		}
	}
	return true
}

// waitConverged waits until the hub and every member hold want members alive.
func (s *swarm) waitConverged(ctx context.Context, hc *hubClient, want int, within time.Duration) error {
	return pollUntil(ctx, 100*time.Millisecond, within, fmt.Sprintf("%d members alive everywhere", want), func() (bool, error) {
		alive, _, err := hc.aliveMembers(ctx, "")
		if err != nil || alive != want {
			return false, err
		}
		return s.converged(want, ""), nil
	})
}

// leave makes every member leave the cluster (bounded by leaveTimeout) and shut down.
func (s *swarm) leave() {
	var wg sync.WaitGroup
	for _, m := range s.members {
		if m != nil {
			wg.Go(func() {
				_ = m.g.Leave(leaveTimeout)
				<-m.drained
			})
		}
	}
	wg.Wait()
}

// shutdown stops every member without telling the cluster.
func (s *swarm) shutdown() {
	for _, m := range s.members {
		if m != nil {
			_ = m.g.Shutdown()
			<-m.drained
		}
	}
}

// ---- memberlist's own counters

// counterSink is a go-metrics in-memory sink installed as the process's global one, where
// memberlist and serf count what they do: memberlist.udp.sent and memberlist.tcp.sent (bytes,
// hashicorp/memberlist net.go), memberlist.msg.suspect and memberlist.msg.dead (state.go).
type counterSink struct {
	inmem *metrics.InmemSink
}

// counterInterval is the sink's aggregation interval: the resolution of a counting window.
const counterInterval = time.Second

// installCounterSink makes a sink that keeps retain's worth of intervals the global one.
func installCounterSink(retain time.Duration) (*counterSink, error) {
	sink := metrics.NewInmemSink(counterInterval, retain)
	conf := metrics.DefaultConfig("")
	conf.EnableHostname = false
	conf.EnableRuntimeMetrics = false
	if _, err := metrics.NewGlobal(conf, sink); err != nil {
		return nil, fmt.Errorf("install metrics sink: %w", err)
	}
	return &counterSink{inmem: sink}, nil
}

// sum adds up counter name over the intervals that start in [from, to): the total of its
// increments and how many there were.
func (c *counterSink) sum(name string, from, to time.Time) (total float64, n int) {
	for _, iv := range c.inmem.Data() {
		if iv.Interval.Before(from) || !iv.Interval.Before(to) {
			continue
		}
		iv.RLock()
		for _, v := range iv.Counters {
			if v.Name == name {
				total += v.Sum
				n += v.Count
			}
		}
		iv.RUnlock()
	}
	return total, n
}

// ---- hub-addr

// gossipHubAddr prints the gossip address the hub at --url advertises, for the other
// measurements' --join.
func gossipHubAddr(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("gossip hub-addr")
	url := fs.String("url", "", "hub base URL (required)")
	adminPath := fs.String("admin-token", "", "admin token file of every tenant (required)")
	within := fs.Duration("timeout", 20*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *url == "" || *adminPath == "" {
		return errors.New("--url and --admin-token are required")
	}
	hc, err := newHubClient(*url, *adminPath, "")
	if err != nil {
		return err
	}
	var addr string
	err = pollUntil(ctx, 50*time.Millisecond, *within, "the hub's own gossip member", func() (bool, error) {
		ms, err := hc.members(ctx)
		for _, m := range ms {
			if m.Role == gossip.RoleHub && m.State == "alive" {
				addr = m.Address
			}
		}
		return addr != "", err
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, addr)
	return nil
}

// ---- detect

// detectTrial is one kill of the victim.
type detectTrial struct {
	// Seconds from SIGKILL until the hub showed the victim critical with its hub:gossip check;
	// 0 when it did not within the time allowed (Detected false).
	Seconds  float64 `json:"seconds"`
	Detected bool    `json:"detected"`
	// RecoveredSeconds is from the restart until the victim was passing again and its member
	// alive at the hub and in every in-process member.
	RecoveredSeconds float64 `json:"recovered_seconds"`
}

// detectResult is what `loadgen gossip detect` writes to --out.
type detectResult struct {
	Agents          int           `json:"agents"`          // gossip members besides the hub: the victim and the in-process ones
	InProcess       int           `json:"in_process"`      // of them in this process
	Profile         string        `json:"profile"`         // the in-process members' and the victim's
	PollMS          float64       `json:"poll_ms"`         // how often the hub's health API was asked
	TimeoutSeconds  float64       `json:"timeout_seconds"` // a detection not seen by then is missed
	Trials          []detectTrial `json:"trials"`          // in order
	Detected        int           `json:"detected"`        // trials detected in time
	MedianSeconds   float64       `json:"median_seconds"`  // over the detected trials
	P90Seconds      float64       `json:"p90_seconds"`     // nearest rank
	MinSeconds      float64       `json:"min_seconds"`
	MaxSeconds      float64       `json:"max_seconds"`
	MedianRecovered float64       `json:"median_recovered_seconds"`
	// The heartbeat-only figure: without gossip the hub marks a silent instance critical once
	// stale_after intervals pass with no report.
	HeartbeatIntervalSeconds float64 `json:"heartbeat_interval_seconds"`
	StaleAfter               int     `json:"stale_after"`
	HeartbeatOnlySeconds     float64 `json:"heartbeat_only_seconds"`
	Error                    string  `json:"error,omitempty"` // why the trials stopped early
}

// victimInterval is the victim's report interval and its one check's interval: long enough
// that heartbeat staleness (stale_after × interval) cannot be what turns it critical.
const victimInterval = 10 * time.Second

// gossipDetect measures failure detection: a real bin/agent with gossip on is killed with
// SIGKILL, the hub's health API is polled until the instance is critical with the hub:gossip
// check, and the agent is restarted and waited back before the next trial; the other agents
// of the cluster are members in this process, each a registered instance.
func gossipDetect(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("gossip detect")
	c := bindClusterFlags(fs)
	agents := fs.Int("agents", 10, "agents in the cluster besides the hub: the victim and agents-1 members in this process")
	trials := fs.Int("trials", 20, "kills of the victim")
	tokensPath := fs.String("tokens", "", "agent tokens file of loadgen tokens, for the in-process members' reports (required)")
	viewerPath := fs.String("viewer-token", "", "viewer token file, for the health API (required)")
	agentBin := fs.String("agent", "bin/agent", "the agent binary")
	agentToken := fs.String("agent-token", "", "agent token file for service "+victimService+", the victim's (required)")
	dir := fs.String("dir", "", "where the victim's config, keyring and log go (required)")
	every := fs.Duration("poll", 25*time.Millisecond, "how often to ask the hub's health API")
	within := fs.Duration("timeout", 30*time.Second, "a detection not seen by then is missed")
	recoverWithin := fs.Duration("recover-timeout", convergeTimeout, "give up on the victim coming back after a restart after this long")
	staleAfter := fs.Int("stale-after", 3, "the hub's registry.stale_after (its default is 3), for the heartbeat-only figure")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tokensPath == "" || *viewerPath == "" || *agentToken == "" || *dir == "" {
		return errors.New("--tokens, --viewer-token, --agent-token and --dir are required")
	}
	if *agents < 2 || *trials < 1 {
		return errors.New("--agents must be at least 2 and --trials at least 1")
	}
	hc, sc, err := c.open()
	if err != nil {
		return err
	}
	if hc.viewer, err = readToken(*viewerPath); err != nil {
		return err
	}
	f, err := c.fleet(*agents - 1)
	if err != nil {
		return err
	}
	snd, err := newSender(c.url, *tokensPath, 1)
	if err != nil {
		return err
	}

	sw, err := startSwarm(f, sc)
	if err != nil {
		return err
	}
	defer sw.leave()
	if err := sw.register(ctx, snd); err != nil {
		return err
	}
	v, err := newVictim(*agentBin, *agentToken, *dir, c.url, c.join, c.keyFile, sc.profile)
	if err != nil {
		return err
	}
	defer v.close()
	if err := v.start(); err != nil {
		return err
	}
	if err := v.waitBack(ctx, hc, sw, *agents+1, *recoverWithin); err != nil {
		return fmt.Errorf("the victim's first start: %w", err)
	}

	res := detectResult{
		Agents: *agents, InProcess: f.Instances, Profile: string(sc.profile),
		PollMS: float64(every.Microseconds()) / 1000, TimeoutSeconds: within.Seconds(),
		HeartbeatIntervalSeconds: victimInterval.Seconds(), StaleAfter: *staleAfter,
		HeartbeatOnlySeconds: float64(*staleAfter) * victimInterval.Seconds(),
	}
	for i := range *trials {
		tr, err := v.trial(ctx, hc, sw, *agents+1, *every, *within, *recoverWithin)
		res.Trials = append(res.Trials, tr)
		if err != nil {
			res.Error = fmt.Sprintf("trial %d: %v", i+1, err)
			break
		}
		if tr.Detected {
			fmt.Fprintf(os.Stderr, "trial %d/%d: critical after %.2f s, back after %.2f s\n", i+1, *trials, tr.Seconds, tr.RecoveredSeconds)
		} else {
			fmt.Fprintf(os.Stderr, "trial %d/%d: not critical within %s, back after %.2f s\n", i+1, *trials, *within, tr.RecoveredSeconds)
		}
	}
	res.summarise()
	if err := writeJSONFile(c.out, res); err != nil {
		return err
	}
	if res.Error != "" {
		return errors.New(res.Error)
	}
	fmt.Fprintf(stdout, "%d agents: %d of %d kills detected, median %.2f s, max %.2f s (heartbeat only: %.0f s)\n",
		res.Agents, res.Detected, len(res.Trials), res.MedianSeconds, res.MaxSeconds, res.HeartbeatOnlySeconds)
	return nil
}

func (r *detectResult) summarise() {
	var det, rec []float64
	for _, t := range r.Trials {
		if t.Detected {
			det = append(det, t.Seconds)
		}
		if t.RecoveredSeconds > 0 {
			rec = append(rec, t.RecoveredSeconds)
		}
	}
	r.Detected = len(det)
	if len(det) > 0 {
		slices.Sort(det)
		r.MedianSeconds, r.P90Seconds = median(det), det[max(0, int(math.Ceil(0.9*float64(len(det))))-1)]
		r.MinSeconds, r.MaxSeconds = det[0], det[len(det)-1]
	}
	if len(rec) > 0 {
		slices.Sort(rec)
		r.MedianRecovered = median(rec)
	}
}

// median of sorted values.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// victim is the real agent process the detection trials kill.
type victim struct {
	bin, config, name string
	log               *os.File
	cmd               *exec.Cmd
	exited            chan struct{} // closed when cmd has been waited for
}

// newVictim writes the victim's config into dir: service victimService, one exec check `true`
// and the report interval both victimInterval, gossip on a fixed loopback port (a member that
// comes back must come back at its old address: memberlist keeps a failed member's address)
// joining join with the key in keyFile.
func newVictim(bin, tokenFile, dir, hubURL, join, keyFile string, profile gossip.Profile) (*victim, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("victim dir: %w", err)
	}
	abs := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return p
	}
	bind, err := freeGossipAddr("127.0.0.1")
	if err != nil {
		return nil, err
	}
	keyring := filepath.Join(dir, "victim.keyring")
	if err := os.Remove(keyring); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("victim keyring: %w", err) // a saved keyring would win over key_file
	}
	cfg := fmt.Sprintf(`# Written by loadgen gossip detect: the agent its trials kill with SIGKILL.
service: %s
instance: %s
interval: %s
listen: 127.0.0.1:0
hub:
  url: %s
  token_file: %s
gossip:
  bind: %s
  join: [%q]
  key_file: %s
  keyring_file: %s
  profile: %s
checks:
  - {name: alive, exec: {command: ["true"]}, interval: %s}
`, victimService, victimInstance, victimInterval, hubURL, abs(tokenFile), bind, join, abs(keyFile), abs(keyring), profile, victimInterval)
	path := filepath.Join(dir, "victim.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, fmt.Errorf("write victim config: %w", err)
	}
	log, err := os.OpenFile(filepath.Join(dir, "victim.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("victim log: %w", err)
	}
	name := hub.InstanceKey{Tenant: protocol.DefaultTenant, Service: victimService, Instance: victimInstance}.String()
	return &victim{bin: bin, config: path, name: name, log: log}, nil
}

// freeGossipAddr returns ip:port that was free for TCP and UDP (gossip needs both) a moment ago.
func freeGossipAddr(ip string) (string, error) {
	for range 20 {
		ln, err := net.Listen("tcp", ip+":0")
		if err != nil {
			return "", fmt.Errorf("find a gossip port: %w", err)
		}
		addr := ln.Addr().String()
		pc, err := net.ListenPacket("udp", addr)
		_ = ln.Close()
		if err == nil {
			_ = pc.Close()
			return addr, nil
		}
	}
	return "", fmt.Errorf("find a gossip port: no free TCP+UDP port on %s", ip)
}

func (v *victim) start() error {
	cmd := exec.Command(v.bin, "--config", v.config)
	cmd.Stdout, cmd.Stderr = v.log, v.log
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the agent: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	v.cmd, v.exited = cmd, exited
	return nil
}

func (v *victim) running() bool {
	if v.cmd == nil {
		return false
	}
	select {
	case <-v.exited:
		return false
	default:
		return true
	}
}

// close stops the agent with SIGTERM (it leaves the cluster), with SIGKILL if it has not
// exited within 10 s, and closes its log.
func (v *victim) close() {
	if v.running() {
		_ = v.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-v.exited:
		case <-time.After(10 * time.Second):
			_ = v.cmd.Process.Kill()
			<-v.exited
		}
	}
	_ = v.log.Close()
}

// waitBack waits until the victim's instance is passing without the hub:gossip check, and its
// member is alive at the hub and in every in-process member, each of which holds want alive.
func (v *victim) waitBack(ctx context.Context, hc *hubClient, sw *swarm, want int, within time.Duration) error {
	var seen string // what was last wrong, for the error
	err := pollUntil(ctx, 50*time.Millisecond, within, "the victim passing and alive everywhere", func() (bool, error) {
		if !v.running() {
			return false, fmt.Errorf("the agent exited; see %s", v.log.Name())
		}
		ih, err := hc.instance(ctx, victimService, victimInstance)
		if err != nil || ih.Status != "passing" || ih.Checks[gossipCheck] != "" {
			seen = fmt.Sprintf("instance %q, checks %v", ih.Status, ih.Checks)
			return false, err
		}
		alive, state, err := hc.aliveMembers(ctx, v.name)
		if err != nil || alive != want || state != "alive" {
			seen = fmt.Sprintf("the hub holds %d of %d members alive, the victim %q", alive, want, state)
			return false, err
		}
		seen = "some in-process member does not hold every member alive yet"
		return sw.converged(want, v.name), nil
	})
	if errors.Is(err, errNotWithin) {
		return fmt.Errorf("%w; last seen: %s", err, seen)
	}
	return err
}

// trial kills the victim with SIGKILL, times how long the hub takes to show it critical with
// the hub:gossip check, then restarts it and waits until it is back everywhere.
func (v *victim) trial(ctx context.Context, hc *hubClient, sw *swarm, want int, every, within, recoverWithin time.Duration) (detectTrial, error) {
	var tr detectTrial
	killed := time.Now()
	if err := v.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return tr, fmt.Errorf("kill the agent: %w", err)
	}
	err := pollUntil(ctx, every, within, "the victim critical through gossip", func() (bool, error) {
		ih, err := hc.instance(ctx, victimService, victimInstance)
		return err == nil && ih.Status == "critical" && ih.Checks[gossipCheck] == "critical", err
	})
	switch {
	case err == nil:
		tr.Seconds, tr.Detected = time.Since(killed).Seconds(), true
	case !errors.Is(err, errNotWithin):
		return tr, err
	}
	<-v.exited
	restarted := time.Now()
	if err := v.start(); err != nil {
		return tr, err
	}
	if err := v.waitBack(ctx, hc, sw, want, recoverWithin); err != nil {
		return tr, err
	}
	tr.RecoveredSeconds = time.Since(restarted).Seconds()
	return tr, nil
}

// ---- soak

// soakResult is what `loadgen gossip soak` writes to --out.
type soakResult struct {
	Agents          int     `json:"agents"` // in-process members, all registered instances
	Profile         string  `json:"profile"`
	DurationSeconds float64 `json:"duration_seconds"`
	Busy            int     `json:"busy_loops"`
	// BusyCPUSeconds is the CPU time the busy loops got over the soak (user and system).
	BusyCPUSeconds float64 `json:"busy_cpu_seconds"`
	LoadAvgEnd     string  `json:"loadavg_end"` // /proc/loadavg's 1/5/15 minutes at the end
	// HubFailed is the rise of the hub's centralhub_gossip_events_total{type="failed"} over
	// the soak: members the hub was told had failed.
	HubFailed float64 `json:"hub_failed"`
	// MembersFailed sums the failure events the in-process members were told of.
	MembersFailed int64 `json:"members_failed"`
	// Suspicions and Deaths are memberlist.msg.suspect and memberlist.msg.dead summed over the
	// in-process members: a suspicion refuted in time never becomes a failure.
	Suspicions float64 `json:"suspicions"`
	Deaths     float64 `json:"deaths"`
	HubAlive   int     `json:"hub_alive_end"` // members the hub held alive at the end
}

// gossipSoak holds --agents in-process members (registered instances) and the hub for
// --duration while --busy processes spin on the CPU, and counts the failures gossip declared.
func gossipSoak(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("gossip soak")
	c := bindClusterFlags(fs)
	agents := fs.Int("agents", 50, "members in this process")
	duration := fs.Duration("duration", 10*time.Minute, "how long to hold the cluster under load")
	busy := fs.Int("busy", 2, "busy-loop processes (sh -c 'while :; do :; done') to run during the soak")
	tokensPath := fs.String("tokens", "", "agent tokens file of loadgen tokens, for the members' reports (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tokensPath == "" {
		return errors.New("--tokens is required")
	}
	hc, sc, err := c.open()
	if err != nil {
		return err
	}
	f, err := c.fleet(*agents)
	if err != nil {
		return err
	}
	snd, err := newSender(c.url, *tokensPath, 1)
	if err != nil {
		return err
	}
	sink, err := installCounterSink(*duration + 5*time.Minute)
	if err != nil {
		return err
	}
	sw, err := startSwarm(f, sc)
	if err != nil {
		return err
	}
	defer sw.leave()
	if err := sw.register(ctx, snd); err != nil {
		return err
	}
	if err := sw.waitConverged(ctx, hc, *agents+1, convergeTimeout); err != nil {
		return err
	}
	before, err := hc.counter(ctx, failedSeries)
	if err != nil {
		return err
	}
	seenBefore := sw.failedSeen()
	loops, err := startBusy(*busy)
	if err != nil {
		return err
	}
	start := time.Now()
	fmt.Fprintf(os.Stderr, "soak: %d members and the hub for %s beside %d busy loops\n", *agents, *duration, *busy)
	slept := sleepUntil(ctx, start.Add(*duration))
	end := time.Now()
	load := loadAverage()
	cpu := stopBusy(loops)
	if slept != nil {
		return slept
	}
	after, err := hc.counter(ctx, failedSeries)
	if err != nil {
		return err
	}
	alive, _, err := hc.aliveMembers(ctx, "")
	if err != nil {
		return err
	}
	from := start.Truncate(counterInterval)
	res := soakResult{
		Agents: *agents, Profile: string(sc.profile), DurationSeconds: end.Sub(start).Seconds(),
		Busy: *busy, BusyCPUSeconds: cpu, LoadAvgEnd: load,
		HubFailed: after - before, MembersFailed: sw.failedSeen() - seenBefore, HubAlive: alive,
	}
	res.Suspicions, _ = sink.sum("memberlist.msg.suspect", from, end)
	res.Deaths, _ = sink.sum("memberlist.msg.dead", from, end)
	if err := writeJSONFile(c.out, res); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d agents for %.0f s beside %d busy loops: %.0f failures at the hub, %d seen by members, %.0f suspicions\n",
		res.Agents, res.DurationSeconds, res.Busy, res.HubFailed, res.MembersFailed, res.Suspicions)
	return nil
}

// loadAverage is the 1, 5 and 15 minute load averages of /proc/loadavg, or "" without it.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return ""
}

// startBusy starts n processes that spin on the CPU.
func startBusy(n int) ([]*exec.Cmd, error) {
	var loops []*exec.Cmd
	for range n {
		cmd := exec.Command("sh", "-c", "while :; do :; done")
		if err := cmd.Start(); err != nil {
			stopBusy(loops)
			return nil, fmt.Errorf("start a busy loop: %w", err)
		}
		loops = append(loops, cmd)
	}
	return loops, nil
}

// stopBusy kills the busy loops and returns the CPU seconds they got.
func stopBusy(loops []*exec.Cmd) float64 {
	var cpu float64
	for _, cmd := range loops {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if st := cmd.ProcessState; st != nil {
			cpu += (st.UserTime() + st.SystemTime()).Seconds()
		}
	}
	return cpu
}

// ---- converge

// convergeResult is what `loadgen gossip converge` writes to --out.
type convergeResult struct {
	Agents int    `json:"agents"` // members started at once in this process
	Want   int    `json:"want"`   // alive members everyone must see: the agents and the hub
	PollMS int    `json:"poll_ms"`
	Error  string `json:"error,omitempty"`
	// Seconds from the start of the first member until...
	StartedSeconds       float64 `json:"started_seconds"`        // every member was listening
	HubSeconds           float64 `json:"hub_seconds"`            // the hub's members list showed Want alive
	MembersMedianSeconds float64 `json:"members_median_seconds"` // half the members held Want alive
	MembersP90Seconds    float64 `json:"members_p90_seconds"`    // nearest rank
	MembersMaxSeconds    float64 `json:"members_max_seconds"`    // the last member did
	AllSeconds           float64 `json:"all_seconds"`            // both the hub and every member did
	// The members still short of Want alive LateSeconds after the start, and of them those
	// that did not know some member at all then (they had missed its join announcement and
	// wait for a full state exchange, memberlist's push-pull) rather than holding it not alive.
	LateSeconds   float64 `json:"late_seconds"`
	Late          int     `json:"late"`
	LateUnknowing int     `json:"late_unknowing"`
	// PushPullSeconds is memberlist's push-pull interval at this cluster size (15 s on lan,
	// scaled up beyond 32 members), the bound on how long a missed announcement goes unrepaired.
	PushPullSeconds float64 `json:"push_pull_seconds"`
}

// gossipConverge starts --agents members at once, each joining the hub, and times until the
// hub's members list and every member's own list hold them all, and the hub, alive.
func gossipConverge(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("gossip converge")
	c := bindClusterFlags(fs)
	agents := fs.Int("agents", 50, "members to start at once in this process")
	within := fs.Duration("timeout", convergeTimeout, "give up after this long")
	late := fs.Duration("late", 30*time.Second, "count the members not converged this long after the start, well after the join announcements have spread")
	if err := fs.Parse(args); err != nil {
		return err
	}
	hc, sc, err := c.open()
	if err != nil {
		return err
	}
	f, err := c.fleet(*agents)
	if err != nil {
		return err
	}
	const every = 100 * time.Millisecond
	want := *agents + 1
	start := time.Now()
	sw, err := startSwarm(f, sc)
	if err != nil {
		return err
	}
	defer sw.leave()
	res := convergeResult{
		Agents: *agents, Want: want, PollMS: int(every.Milliseconds()), StartedSeconds: time.Since(start).Seconds(),
		LateSeconds: late.Seconds(), PushPullSeconds: pushPullInterval(sc.profile, want).Seconds(),
	}
	at := make([]float64, len(sw.members)) // when each member first held want alive; 0: not yet
	done, counted := 0, false
	err = pollUntil(ctx, every, *within, fmt.Sprintf("%d members alive everywhere", want), func() (bool, error) {
		now := time.Since(start).Seconds()
		if !counted && now >= late.Seconds() {
			counted = true
			for i, m := range sw.members {
				if at[i] == 0 {
					res.Late++
					if len(m.g.Members()) < want {
						res.LateUnknowing++
					}
				}
			}
		}
		if res.HubSeconds == 0 {
			alive, _, err := hc.aliveMembers(ctx, "")
			if err != nil {
				return false, err
			}
			if alive == want {
				res.HubSeconds = now
			}
		}
		for i, m := range sw.members {
			if at[i] == 0 {
				if alive, _ := m.view(""); alive == want {
					at[i] = now
					done++
				}
			}
		}
		return res.HubSeconds > 0 && done == len(at), nil
	})
	if err != nil {
		res.Error = err.Error()
	} else {
		slices.Sort(at)
		res.MembersMedianSeconds, res.MembersMaxSeconds = median(at), at[len(at)-1]
		res.MembersP90Seconds = at[max(0, int(math.Ceil(0.9*float64(len(at))))-1)]
		res.AllSeconds = max(res.HubSeconds, res.MembersMaxSeconds)
	}
	if err := writeJSONFile(c.out, res); err != nil {
		return err
	}
	if res.Error != "" {
		return errors.New(res.Error)
	}
	fmt.Fprintf(stdout, "%d members started at once: the hub saw %d alive after %.2f s, every member after %.2f s\n",
		res.Agents, want, res.HubSeconds, res.MembersMaxSeconds)
	return nil
}

// pushPullInterval is how often a memberlist member of a cluster of n exchanges its whole state
// with a random other (memberlist's pushPullScale: doubled past 32 members, and once more for
// every further doubling).
func pushPullInterval(p gossip.Profile, n int) time.Duration {
	base := p.PushPullInterval()
	if n <= 32 {
		return base
	}
	return base * time.Duration(math.Ceil(math.Log2(float64(n))-5)+1)
}

// ---- bandwidth

// bandwidthResult is what `loadgen gossip bandwidth` writes to --out.
type bandwidthResult struct {
	Agents        int     `json:"agents"` // members in this process, all counted
	Profile       string  `json:"profile"`
	WarmupSeconds float64 `json:"warmup_seconds"` // after every member held all alive
	WindowSeconds float64 `json:"window_seconds"`
	// Bytes memberlist handed to the network (after encryption; IP, UDP and TCP headers not
	// counted) and how many packets or stream writes carried them, summed over the members.
	UDPBytes   float64 `json:"udp_bytes"`
	UDPPackets int     `json:"udp_packets"`
	TCPBytes   float64 `json:"tcp_bytes"`
	TCPWrites  int     `json:"tcp_writes"`
	// PerNodePerSecond is (UDPBytes + TCPBytes) ÷ Agents ÷ WindowSeconds.
	PerNodePerSecond    float64 `json:"bytes_per_node_per_second"`
	UDPPerNodePerSecond float64 `json:"udp_bytes_per_node_per_second"`
	TCPPerNodePerSecond float64 `json:"tcp_bytes_per_node_per_second"`
}

// gossipBandwidth counts the bytes memberlist sends in a steady cluster of --agents members in
// this process and the hub, from memberlist's own counters in an in-memory go-metrics sink.
func gossipBandwidth(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("gossip bandwidth")
	c := bindClusterFlags(fs)
	agents := fs.Int("agents", 50, "members in this process")
	warmup := fs.Duration("warmup", 15*time.Second, "wait this long after convergence before counting")
	window := fs.Duration("window", time.Minute, "count over this long (whole seconds)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *window < counterInterval {
		return fmt.Errorf("--window must be at least %s", counterInterval)
	}
	hc, sc, err := c.open()
	if err != nil {
		return err
	}
	f, err := c.fleet(*agents)
	if err != nil {
		return err
	}
	sink, err := installCounterSink(*window + *warmup + 5*time.Minute)
	if err != nil {
		return err
	}
	sw, err := startSwarm(f, sc)
	if err != nil {
		return err
	}
	defer sw.leave()
	if err := sw.waitConverged(ctx, hc, *agents+1, convergeTimeout); err != nil {
		return err
	}
	// The window is whole intervals of the sink: it starts on an interval's start, and the
	// last interval is complete before it is read.
	from := time.Now().Add(*warmup).Truncate(counterInterval).Add(counterInterval)
	to := from.Add(window.Truncate(counterInterval))
	if err := sleepUntil(ctx, to.Add(100*time.Millisecond)); err != nil {
		return err
	}
	secs := to.Sub(from).Seconds()
	res := bandwidthResult{Agents: *agents, Profile: string(sc.profile), WarmupSeconds: warmup.Seconds(), WindowSeconds: secs}
	res.UDPBytes, res.UDPPackets = sink.sum("memberlist.udp.sent", from, to)
	res.TCPBytes, res.TCPWrites = sink.sum("memberlist.tcp.sent", from, to)
	n := float64(*agents)
	res.UDPPerNodePerSecond, res.TCPPerNodePerSecond = res.UDPBytes/n/secs, res.TCPBytes/n/secs
	res.PerNodePerSecond = res.UDPPerNodePerSecond + res.TCPPerNodePerSecond
	if res.UDPPackets == 0 {
		return errors.New("memberlist counted no UDP packets sent: are its metrics still memberlist.udp.sent?")
	}
	if err := writeJSONFile(c.out, res); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d members: %.0f bytes per member per second (UDP %.0f, TCP %.0f) over %.0f s\n",
		res.Agents, res.PerNodePerSecond, res.UDPPerNodePerSecond, res.TCPPerNodePerSecond, secs)
	return nil
}

// sleepUntil sleeps until t or until ctx ends.
func sleepUntil(ctx context.Context, t time.Time) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(t)):
		return nil
	}
}
