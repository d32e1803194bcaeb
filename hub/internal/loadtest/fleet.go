// Package loadtest simulates a fleet of agents for the benchmarks and the load generator: the
// names of its services and instances, realistic reports whose outputs and latencies vary as
// real checks do, and the rule that makes a fixed share of reports carry a status change.
// Production code never imports it.
//
// The wrk script scripts/bench/ingest.lua builds the same names and the same report shape; a
// change here must be made there too.
package loadtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// Fleet names Instances instances, PerService to a service, all in one tenant and started at
// one Boot. Instance j (0 ≤ j < Instances) is "i-%05d" of service "svc-%03d" numbered j/PerService.
type Fleet struct {
	Tenant     string // default protocol.DefaultTenant
	Instances  int
	PerService int
	Boot       int64 // the agents' start, unix nanoseconds; every report carries it
}

// DefaultFleet is the fleet of the benchmarks: 10,000 instances, 100 to a service.
func DefaultFleet(boot int64) Fleet {
	return Fleet{Tenant: protocol.DefaultTenant, Instances: 10_000, PerService: 100, Boot: boot}
}

// BarrierService is the service of the one extra instance the load generator reports for to
// force a store write after a load run; it is not part of any fleet.
const BarrierService = "bench-barrier"

// Validate reports an unusable fleet.
func (f Fleet) Validate() error {
	switch {
	case f.Instances < 1 || f.Instances > 100_000:
		return fmt.Errorf("instances: %d is not between 1 and 100000", f.Instances)
	case f.PerService < 1 || f.PerService > f.Instances:
		return fmt.Errorf("per-service: %d is not between 1 and the number of instances", f.PerService)
	case f.Instances/f.PerService > 1000:
		return fmt.Errorf("per-service: %d instances make more than 1000 services", f.Instances)
	case f.Boot <= 0:
		return fmt.Errorf("boot: must be positive unix nanoseconds")
	}
	return nil
}

func (f Fleet) tenant() string {
	if f.Tenant == "" {
		return protocol.DefaultTenant
	}
	return f.Tenant
}

// Services is how many services the fleet has.
func (f Fleet) Services() int { return (f.Instances + f.PerService - 1) / f.PerService }

// ServiceName is the name of service number s.
func ServiceName(s int) string { return fmt.Sprintf("svc-%03d", s) }

// InstanceName is the name of instance j.
func InstanceName(j int) string { return fmt.Sprintf("i-%05d", j) }

// Service is the name of instance j's service.
func (f Fleet) Service(j int) string { return ServiceName(j / f.PerService) }

// Key is instance j's key.
func (f Fleet) Key(j int) hub.InstanceKey {
	return hub.InstanceKey{Tenant: f.tenant(), Service: f.Service(j), Instance: InstanceName(j)}
}

// Index returns the number of the instance named by k, or false when k is not in the fleet.
func (f Fleet) Index(k hub.InstanceKey) (int, bool) {
	if k.Tenant != f.tenant() || len(k.Instance) != 7 || k.Instance[:2] != "i-" {
		return 0, false
	}
	j, err := strconv.Atoi(k.Instance[2:])
	if err != nil || j < 0 || j >= f.Instances || k.Service != f.Service(j) {
		return 0, false
	}
	return j, true
}

// Checks is how many checks every report of the fleet carries (web, db, cache, queue,
// upstream; scripts/bench/ingest.lua's too), so each history sample of an instance holds as many.
const Checks = 5

// UpstreamCheck is the index, in every report's checks, of the check whose status flips.
const UpstreamCheck = 4

// Report returns instance j's report number seq. flipped turns its upstream check from passing
// to warning. rnd varies outputs and latencies the way real checks vary; now is the send time.
func (f Fleet) Report(j int, seq uint64, flipped bool, rnd *rand.Rand, now time.Time) *protocol.Report {
	svc := f.Service(j)
	inst := InstanceName(j)
	checked := func() time.Time { return now.Add(-time.Duration(rnd.Int64N(int64(10 * time.Second)))) }
	web := logNormal(rnd, 8, 0.6)
	db := logNormal(rnd, 0.4, 0.5)
	cache := logNormal(rnd, 0.2, 0.5)
	queue := 3 + rnd.Float64()*27
	up := logNormal(rnd, 40, 0.5)
	upStatus, upOutput := status.Passing, "HTTP 200 OK in "+ms(up, 1)+" ms"
	if flipped {
		up = 500 + rnd.Float64()*700
		upStatus, upOutput = status.Warning, "HTTP 200 OK but slow: "+ms(up, 0)+" ms > 500 ms"
	}
	depth := rnd.IntN(100)
	return &protocol.Report{
		Version:      protocol.Version,
		Tenant:       f.tenant(),
		Service:      svc,
		Instance:     inst,
		Address:      fmt.Sprintf("10.%d.%d.%d:8080", j/65536%256, j/256%256, j%256),
		AgentVersion: "bench-1.0.0",
		Runbook:      "https://wiki.example/runbooks/" + svc,
		Tags:         []string{"bench", "zone-" + string(rune('a'+j%3))},
		Meta:         map[string]string{"zone": string(rune('a' + j%3)), "pod": svc + "-" + inst},
		Boot:         f.Boot,
		Seq:          seq,
		SentAt:       now,
		Interval:     protocol.Duration(10 * time.Second),
		DependsOn:    []string{ServiceName((j/f.PerService + 1) % f.Services()), "postgres-main"},
		Checks: []protocol.CheckResult{
			{Name: "web", Kind: "http", Status: status.Passing, Output: "HTTP 200 OK in " + ms(web, 1) + " ms",
				LatencyMS: round3(web), CheckedAt: checked()},
			{Name: "db", Kind: "tcp", Status: status.Passing, Output: "connected to 10.1.0.5:5432 in " + ms(db, 2) + " ms",
				LatencyMS: round3(db), CheckedAt: checked(), Component: "postgres-main", Critical: true},
			{Name: "cache", Kind: "tcp", Status: status.Passing, Output: "connected to 10.1.0.6:6379 in " + ms(cache, 2) + " ms",
				LatencyMS: round3(cache), CheckedAt: checked(), Component: "redis-main"},
			{Name: "queue", Kind: "exec", Status: status.Passing, Output: "queue depth " + strconv.Itoa(depth) + " (max 100)",
				LatencyMS: round3(queue), CheckedAt: checked()},
			{Name: "upstream", Kind: "http", Status: upStatus, Output: upOutput,
				LatencyMS: round3(up), CheckedAt: checked(), Runbook: "https://wiki.example/runbooks/" + svc + "#upstream"},
		},
		Config: protocol.ConfigState{Status: protocol.ConfigInSync, Version: "v" + strconv.Itoa(1+j%7), Problems: []protocol.ConfigProblem{}},
	}
}

// logNormal returns a latency around median ms with the spread sigma.
func logNormal(rnd *rand.Rand, median, sigma float64) float64 {
	return median * math.Exp(sigma*rnd.NormFloat64())
}

func ms(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// Instance is what the registry keeps for rep received at now, for tests that fill a store
// directly instead of through the API.
func Instance(rep *protocol.Report, now time.Time) hub.Instance { return hub.NewInstance(rep, now) }

// Flips decides which reports carry a status change. An instance that is not flipped flips with
// probability share/2; a flipped one flips back with its next report. About share of all
// reports thus change a status, and about share/2 of the instances are warning at any time, as
// in a fleet that is mostly healthy. It is not safe for concurrent use.
type Flips struct {
	on    []bool
	share float64
}

// NewFlips returns Flips for n instances, none flipped.
func NewFlips(n int, share float64) *Flips { return &Flips{on: make([]bool, n), share: share} }

// Next decides instance j's next report: whether its upstream check is flipped to warning, and
// whether that differs from its previous report.
func (f *Flips) Next(j int, rnd *rand.Rand) (flipped, changed bool) {
	if f.on[j] {
		f.on[j] = false
		return false, true
	}
	if rnd.Float64() < f.share/2 {
		f.on[j] = true
		return true, true
	}
	return false, false
}
