package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// The targets of the benchmark issue, checked in the generated document.
const (
	targetIngestRatio         = 0.60   // hub reports/s ≥ 60% of the bare handler's
	targetIngestRate          = 10_000 // hub reports/s, durable
	targetPostgresIngestRatio = 0.80   // hub on PostgreSQL durable reports/s ≥ 80% of the hub on the embedded store's
	targetP99Ratio            = 1.5    // hub p99 ≤ 1.5 × bare p99
	targetSummaryP99MS        = 5.0    // summary p99 under background ingest
	targetAgentMaxRSSMiB      = 20.0   // agent max RSS, with gossip on too
	targetProbesMaxRSSMB      = 25.0   // agent max RSS with every probe kind linked and one of each configured (MB, 10^6 bytes)
	targetProbesCPUPercent    = 1.0    // its CPU, percent of one core, 20 checks at 10 s
	targetDetectMedianS       = 4.0    // gossip: kill -9 → critical, median
	targetDetectMaxS          = 8.0    // gossip: kill -9 → critical, max
	targetImpactMS            = 10.0   // graph impact query p99 on 10,000 nodes / 30,000 edges
	targetEvaluateMS          = 50.0   // one alert evaluation, 10,000 instances × 50 rules
	targetHistoryWeekMS       = 50.0   // history: 7-day view of one instance, 5 checks, from roll-ups
	targetHistoryHourMS       = 20.0   // history: one raw hour of that instance
	targetOverviewMS          = 100.0  // dashboard page: overview render at 1,000 services once its data arrived
)

// run is one bench.sh run directory and what doc found in it.
type benchRun struct {
	dir      string
	machine  map[string]string
	commands map[string]string
	order    []string // command names as recorded
}

func (r *benchRun) path(parts ...string) string {
	return filepath.Join(append([]string{r.dir}, parts...)...)
}

func (r *benchRun) exists(parts ...string) bool {
	_, err := os.Stat(r.path(parts...))
	return err == nil
}

// readKV reads "key=value" lines (machine.txt) or "name<TAB>command" lines (commands.txt).
func readKV(path, sep string) (map[string]string, []string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	defer fh.Close()
	out := map[string]string{}
	var order []string
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), sep)
		if !ok {
			continue
		}
		if _, dup := out[k]; !dup {
			order = append(order, k)
		}
		out[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	return out, order, nil
}

// check is one target and whether the run met it.
type check struct {
	what, target, got string
	met               bool
}

// docWriter accumulates the document and the target table.
type docWriter struct {
	r      *benchRun
	body   strings.Builder
	checks []check
	kept   []string // target rows of marked sections carried over from the previous document
	failed []string // measurements that did not complete
}

func (d *docWriter) p(format string, args ...any) { fmt.Fprintf(&d.body, format, args...) }

// cmd writes the exact command recorded under name as a shell block.
func (d *docWriter) cmd(names ...string) {
	d.p("\n```sh\n")
	for _, n := range names {
		if c, ok := d.r.commands[n]; ok {
			d.p("%s\n", c)
		}
	}
	d.p("```\n")
}

// doc writes the benchmark document from a bench.sh run directory, or with --only one marked
// section of an existing document from a run that has its results (soak.sh's, or bench.sh's
// agents part alone).
func doc(_ context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("doc")
	dir := fs.String("run", "", "the run directory bench.sh (or soak.sh) wrote (required)")
	out := fs.String("out", "", "write the document here (required)")
	only := fs.String("only", "", "rewrite only this section (soak or agents) and its target rows in the existing --out document")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" || *out == "" {
		return errors.New("--run and --out are required")
	}
	r := &benchRun{dir: *dir}
	var err error
	if r.machine, _, err = readKV(r.path("machine.txt"), "="); err != nil {
		return err
	}
	if r.commands, r.order, err = readKV(r.path("commands.txt"), "\t"); err != nil {
		return err
	}
	if *only != "" {
		rows, err := docOnly(r, *only, *out)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rewrote the %s section of %s:\n%s\n", *only, *out, strings.Join(rows, "\n"))
		return nil
	}
	d := &docWriter{r: r}
	for _, section := range []func(*docWriter) error{ingestSection, latencySection, summarySection, agentSection, probesSection, gossipSection, goBenchSection} {
		if err := section(d); err != nil {
			return err
		}
	}
	old, err := os.ReadFile(*out)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read the previous document: %w", err)
	}
	if err := writeMarkedSections(d, string(old)); err != nil {
		return err
	}

	var doc strings.Builder
	m := r.machine
	fmt.Fprintf(&doc, "# Benchmarks\n\n")
	fmt.Fprintf(&doc, "Generated by `make bench` (`scripts/bench.sh`, figures by `loadgen doc`) on %s from commit `%s`. "+
		"Do not edit by hand: every figure below is rewritten by the next run, and the raw outputs are in `.bench/` of the machine that ran it.\n\n",
		m["date"], m["commit"])
	fmt.Fprintf(&doc, "Reproduce with `make bench` from the repository root (it builds, then runs `bash scripts/bench.sh`); this run took %s. "+
		"The commands under each figure are the exact ones the script ran, with the ports, paths and boot times of this run.\n\n", m["elapsed"])
	fmt.Fprintf(&doc, "## Machine\n\n| | |\n|---|---|\n")
	for _, k := range []struct{ key, label string }{
		{"cpu_model", "CPU model"}, {"nproc", "nproc"}, {"mem_total", "memory"}, {"kernel", "kernel"},
		{"go", "Go"}, {"wrk", "wrk"}, {"postgres", "PostgreSQL (history benchmarks, ingest)"}, {"loadavg_start", "load average at start (1/5/15 min)"},
	} {
		fmt.Fprintf(&doc, "| %s | %s |\n", k.label, mdCell(m[k.key]))
	}
	fmt.Fprintf(&doc, "\nThe load generators (wrk, hey, `loadgen`) run on the same machine as the server they measure, so on "+
		"a %s-core machine they take CPU from it; nothing is pinned. The hub and the bare handler are measured the same way, "+
		"one after the other, in the same run.\n\n", m["nproc"])
	fmt.Fprintf(&doc, "## Targets\n\n| figure | target | this run | |\n|---|---|---|---|\n")
	for _, c := range d.checks {
		fmt.Fprintf(&doc, "%s\n", c.render())
	}
	for _, row := range d.kept {
		fmt.Fprintf(&doc, "%s\n", row)
	}
	for _, f := range d.failed {
		fmt.Fprintf(&doc, "%s\n", missingRow(f))
	}
	doc.WriteString("\n")
	doc.WriteString(d.body.String())
	if err := os.WriteFile(*out, []byte(doc.String()), 0o644); err != nil {
		return fmt.Errorf("write document: %w", err)
	}
	for _, c := range d.checks {
		mark := "met"
		if !c.met {
			mark = "MISSED"
		}
		fmt.Fprintf(stdout, "%-52s %-22s %-28s %s\n", c.what, c.target, c.got, mark)
	}
	for _, f := range d.failed {
		fmt.Fprintf(stdout, "%-52s not measured\n", f)
	}
	return nil
}

// mdCell makes s safe inside a table cell.
func mdCell(s string) string {
	if s == "" {
		return "?"
	}
	return strings.ReplaceAll(s, "|", `\|`)
}

func ms(us float64) string { return strconv.FormatFloat(us/1000, 'f', 2, 64) + " ms" }

func rate(v float64) string {
	s := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// storeIngest is one hub's measured ingest run: its wrk result, when wrk started, the drain,
// and its store as `loadgen verify` found it right after the drain and after SIGTERM.
type storeIngest struct {
	wrk            wrkResult
	startNS        int64
	drain          drainResult
	drained, final verifyResult
}

// readStoreIngest reads one hub's ingest run from the files of the run's ingest directory
// named <wrk>.wrk.json, <wrk>.start_ns, <drain>.json, <verify>-drained.json and <verify>-final.json.
func readStoreIngest(r *benchRun, wrk, drain, verify string) (storeIngest, error) {
	var s storeIngest
	for _, x := range []struct {
		file string
		v    any
	}{
		{wrk + ".wrk.json", &s.wrk}, {drain + ".json", &s.drain}, {verify + "-drained.json", &s.drained}, {verify + "-final.json", &s.final},
	} {
		if err := readJSONFile(r.path("ingest", x.file), x.v); err != nil {
			return s, err
		}
	}
	start, err := os.ReadFile(r.path("ingest", wrk+".start_ns"))
	if err != nil {
		return s, fmt.Errorf("read hub start time: %w", err)
	}
	if s.startNS, err = strconv.ParseInt(strings.TrimSpace(string(start)), 10, 64); err != nil {
		return s, fmt.Errorf("hub start time: %w", err)
	}
	return s, nil
}

// rate is the durable reports/s: the run's reports the store held once the write queue had
// drained ÷ the time from the start of wrk until then.
func (s *storeIngest) rate() float64 { return s.drained.ReportsPerSecond }

// rowsRate is the durable rows/s over the same window.
func (s *storeIngest) rowsRate() float64 { return s.drained.RowsPerSecond }

// window is the time from the start of wrk until the write queue had drained, in seconds.
func (s *storeIngest) window() float64 { return float64(s.drain.DrainedAtUnixNano-s.startNS) / 1e9 }

// accepted is the reports/s answered 2xx while wrk ran.
func (s *storeIngest) accepted() float64 {
	return float64(s.wrk.ok2xx()) / (float64(s.wrk.DurationUS) / 1e6)
}

func (s *storeIngest) verified() bool { return s.drained.OK && s.final.OK }

// ingestFigures are the ingest run's figures: the bare handler, the hub on the embedded store
// and, when the run had a PostgreSQL server, the hub on PostgreSQL.
type ingestFigures struct {
	bare     wrkResult
	conns    int
	hub      storeIngest
	pg       *storeIngest
	bareRate float64
}

// ingestPostgresFiles are the files of the hub on PostgreSQL's run, all present when it ran.
var ingestPostgresFiles = []string{"postgres.wrk.json", "postgres.start_ns", "drain-postgres.json", "verify-postgres-drained.json", "verify-postgres-final.json"}

const checkPostgresIngest = "ingest: PostgreSQL ingest ÷ embedded (durable reports/s)"

func ingestSection(d *docWriter) error {
	r := d.r
	if !r.exists("ingest", "hub.wrk.json") {
		d.failed = append(d.failed, "ingest throughput")
		return nil
	}
	var f ingestFigures
	var err error
	if err := readJSONFile(r.path("ingest", "bare.wrk.json"), &f.bare); err != nil {
		return err
	}
	if f.hub, err = readStoreIngest(r, "hub", "drain", "verify"); err != nil {
		return err
	}
	pgRan := true
	for _, name := range ingestPostgresFiles {
		pgRan = pgRan && r.exists("ingest", name)
	}
	if pgRan {
		pg, err := readStoreIngest(r, "postgres", "drain-postgres", "verify-postgres")
		if err != nil {
			return err
		}
		f.pg = &pg
	}
	f.conns, _ = strconv.Atoi(r.machine["connections"])
	f.bareRate = float64(f.bare.ok2xx()) / (float64(f.bare.DurationUS) / 1e6)
	hubRate := f.hub.rate()
	ratio := hubRate / f.bareRate
	p99Ratio := f.hub.wrk.LatencyUS.P99 / f.bare.LatencyUS.P99
	verified := f.hub.verified()

	d.checks = append(d.checks,
		check{"ingest: hub durable reports/s ÷ bare handler reports/s", "≥ 60%", fmt.Sprintf("%.0f%% (%s ÷ %s)", ratio*100, rate(hubRate), rate(f.bareRate)), ratio >= targetIngestRatio},
		check{"ingest: hub durable reports/s", "≥ 10,000/s", rate(hubRate) + "/s", hubRate >= targetIngestRate},
		check{"ingest: hub p99 ÷ bare handler p99, both saturated (wrk, 32 connections)", "≤ 1.5×",
			fmt.Sprintf("%.2f× (%s ÷ %s)", p99Ratio, ms(f.hub.wrk.LatencyUS.P99), ms(f.bare.LatencyUS.P99)), p99Ratio <= targetP99Ratio},
		check{"ingest: every answered report durable in the store", "all 10,000 instances, no loss", verifiedText(verified), verified},
	)
	var pgRatio, pgRowsRatio float64
	if f.pg != nil {
		pgRatio, pgRowsRatio = f.pg.rate()/hubRate, f.pg.rowsRate()/f.hub.rowsRate()
		pgVerified := f.pg.verified()
		d.checks = append(d.checks,
			check{checkPostgresIngest, "≥ 80%", fmt.Sprintf("%.0f%% (%s ÷ %s)", pgRatio*100, rate(f.pg.rate()), rate(hubRate)), pgRatio >= targetPostgresIngestRatio},
			check{"ingest: every answered report durable in PostgreSQL", "all 10,000 instances, no loss", verifiedText(pgVerified), pgVerified},
		)
	} else {
		d.failed = append(d.failed, checkPostgresIngest)
	}

	d.p("## 1. Ingest throughput (POST /api/v1/agent/reports)\n\n")
	d.p("wrk with `scripts/bench/ingest.lua` on loopback: every request a different report of 5 checks, for %s instances in %s services, "+
		"outputs and latencies varying as real checks do, seq rising per instance, 1%% of reports changing a check's status, each with its service's agent token. "+
		"The bare handler (`loadgen serve-bare`) reads the body into a pooled buffer, decodes the same JSON into a pooled `protocol.Report` with `protocol.UnmarshalInto` "+
		"(as the hub does) and answers 200, with `GOGC=400`, the garbage-collector target the hub sets for itself (`gc_percent`); the hub does everything it does in production "+
		"(token, decode, validate, registry, metrics; a status change is made durable before its answer, heartbeats are batched every second, history is sampled every 10 s per instance). "+
		"The hub runs with `--config hub.yaml` holding `ingest: {rate_per_instance: 1000}`, so that its limiter runs but never refuses (each instance sends one or two reports a second here). "+
		"It is measured twice, one run after the other with the same fleet, boot and wrk settings: on the embedded store (bbolt, every write fsynced) and on PostgreSQL.\n\n",
		rate(float64(f.hub.drained.Stored+f.hub.drained.Missing)), r.machine["services"])
	d.p("| server | reports/s | p50 | p90 | p99 | p99.9 | max | answered 2xx | not 2xx | socket errors |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	d.p("| bare handler | %s | %s | %s | %s | %s | %s | %s | %d | %d |\n", rate(f.bareRate),
		ms(f.bare.LatencyUS.P50), ms(f.bare.LatencyUS.P90), ms(f.bare.LatencyUS.P99), ms(f.bare.LatencyUS.P999), ms(f.bare.LatencyUS.Max),
		rate(float64(f.bare.ok2xx())), f.bare.Errors.Status, f.bare.socketErrors())
	type hubRun struct {
		store string // as the document names it
		s     *storeIngest
	}
	hubs := []hubRun{{"embedded store", &f.hub}}
	if f.pg != nil {
		hubs = append(hubs, hubRun{"PostgreSQL", f.pg})
	}
	for _, h := range hubs {
		w := &h.s.wrk
		d.p("| hub, %s, durable | **%s** | %s | %s | %s | %s | %s | %s | %d | %d |\n", h.store, rate(h.s.rate()),
			ms(w.LatencyUS.P50), ms(w.LatencyUS.P90), ms(w.LatencyUS.P99), ms(w.LatencyUS.P999), ms(w.LatencyUS.Max),
			rate(float64(w.ok2xx())), w.Errors.Status, w.socketErrors())
	}
	d.p("\n- Ratio hub ÷ bare: **%.0f%%** of the bare handler's reports/s. At saturation the hub's p99 is %.2f× the bare p99; section 2 compares the two at the same fixed rate as well, because here latency is mostly waiting for CPU.\n", ratio*100, p99Ratio)
	if f.pg != nil {
		d.p("- Ratio PostgreSQL ÷ embedded store: **%.0f%%** of the embedded store's durable reports/s (goal: at least 80%%), %.0f%% of its durable rows/s (below).\n", pgRatio*100, pgRowsRatio*100)
	}
	if mem, err := os.ReadFile(r.path("ingest", "memory.txt")); err == nil {
		var parts []string
		for _, line := range strings.Split(strings.TrimSpace(string(mem)), "\n") {
			if name, kb, ok := strings.Cut(line, " "); ok {
				parts = append(parts, fmt.Sprintf("%s %s MiB", name, mib(kb)))
			}
		}
		d.p("- Peak resident memory (VmHWM from /proc) at the end of each run: %s (a hub holding 10,000 instances).\n", strings.Join(parts, ", "))
	}
	d.p("- All runs are closed loops that saturate the machine (%d wrk connections, wrk beside the server), so latency includes waiting for CPU: "+
		"with the same connections, a server with less throughput shows proportionally more latency (Little's law), and the p99 ratio follows the throughput ratio as well as the hub's own pauses.\n", f.conns)
	d.p("- Hub reports/s = the run's reports durable in the store once the write queue had drained (counted there by `loadgen verify`, below) ÷ the time from the start of wrk until then")
	for i, h := range hubs {
		sep := ": "
		if i > 0 {
			sep = "; "
		}
		d.p("%s%s %.2f s (wrk ran %.2f s, the drain took %.0f ms more; while wrk ran, it answered %s reports/s 2xx)", sep, h.store,
			h.s.window(), float64(h.s.wrk.DurationUS)/1e6, h.s.drain.WaitedMS, rate(h.s.accepted()))
	}
	d.p(". Bare reports/s = 2xx ÷ wrk's duration.\n")
	for _, h := range hubs {
		x := &h.s.drain
		d.p("- Drain, %s: `loadgen drain` polled `centralhub_store_pending_writes` on `/metrics` until 0, then sent a state-changing report for a barrier "+
			"instance and waited for its `stored` answer (the registry's single writer commits everything pending with it); afterwards pending writes were %.0f and "+
			"`centralhub_store_writes_total` went %.0f → %.0f.", h.store, x.PendingAfter, x.WritesBefore, x.WritesAfter)
		if x.HubIngestTotal > 0 {
			d.p(" The hub's own view of its ingest time (dashboard metrics, recent reports): p50 %.3f ms, p99 %.3f ms.", x.HubIngestP50MS, x.HubIngestP99MS)
		}
		d.p("\n")
	}

	checks := f.hub.drained.ChecksPerSample // per history sample, as verify counted them
	d.p("\nWhat each store holds of its run, counted the same way on both by `loadgen verify` through the store's own methods (`LoadInstances`, `Availability`, `QueryHistory`) " +
		"over the window from the start of wrk until the write queue had drained:\n\n")
	d.p("| store | window | durable reports | reports/s | instance samples | sample points (× %d) | transitions | rows | rows/s |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
		checks+1)
	for _, h := range hubs {
		v := &h.s.drained
		d.p("| %s | %.2f s | %s | **%s** | %s | %s | %s | %s | **%s** |\n", storeLabel(v.Store), h.s.window(), rate(float64(v.DurableReports)), rate(v.ReportsPerSecond),
			rate(float64(v.HistorySamples)), rate(float64(v.HistorySampleRows)), rate(float64(v.HistoryTransitions)), rate(float64(v.RowsDurable)), rate(v.RowsPerSecond))
	}
	if f.pg != nil {
		d.p("| PostgreSQL ÷ embedded | | | **%.0f%%** | | | | | **%.0f%%** |\n", pgRatio*100, pgRowsRatio*100)
	}
	d.p("\n- Durable reports: for every instance of the run's boot, the run's reports up to the seq its stored record holds (never beyond the last seq sent to it).\n")
	d.p("- Rows = durable reports (each an instance write) + history sample points + transitions. A history sample is an instance's state, taken at most every 10 s "+
		"(`history.interval`) per instance with its %d checks: both stores keep one record per sample (PostgreSQL a row with its checks as arrays, bbolt a key), counted here as points, the instance's status and each check's result "+
		"(instance samples from `Availability` over the raw samples of each service, × %d; the check results in them, from `QueryHistory`'s 1-minute latency points, must come to samples × %d). "+
		"Transitions are the status changes `QueryHistory` returns (no limit). An instance's first sample is taken when it registers, before the window, "+
		"and the next ones 10 s apart, so a window shorter than 10 s after the registration holds none, and short windows vary with where the periods fall.\n",
		checks, checks+1, checks)
	if f.pg != nil {
		d.p("- The hub on PostgreSQL (`bin/hub serve ... --database-url`) ran on a database of its own, created for the run on the server `CENTRALHUB_TEST_DATABASE_URL` names "+
			"(PostgreSQL %s) and dropped afterwards; the hub brought its schema up when it started.\n", mdCell(r.machine["postgres"]))
	}
	for _, h := range hubs {
		for _, v := range []struct {
			bbolt, postgres string
			res             verifyResult
		}{
			{"the file copied right after the drain, hub still running, bbolt opened read-only", "the database right after the drain, hub still running", h.s.drained},
			{"the file after SIGTERM, bbolt opened read-only", "the database after SIGTERM", h.s.final},
		} {
			what := v.bbolt
			if v.res.Store == "postgres" {
				what = v.postgres
			}
			d.p("- %s, %s (`loadgen verify`): %s — %s of %s instances stored with the run's boot; %s at the last seq sent to them, "+
				"%d behind by %d reports in all, within the %d requests not answered 2xx (in flight when wrk stopped, socket errors, non-2xx); "+
				"%d beyond the last seq sent; %d at their last seq with a last_seen from before the run.\n",
				storeLabel(v.res.Store), what, verifiedText(v.res.OK), rate(float64(v.res.Stored)), rate(float64(v.res.Stored+v.res.Missing)), rate(float64(v.res.AtLastSent)),
				v.res.Lagging, v.res.LagSum, v.res.LagAllowance,
				v.res.Ahead, v.res.LastSeenTooOld)
			for _, p := range v.res.Problems {
				d.p("  - problem: %s\n", p)
			}
		}
	}
	d.p("\nCommands (run from the repository root by `scripts/bench.sh`):\n")
	d.cmd("ingest-bare-serve", "ingest-bare-register", "ingest-bare-wrk", "ingest-hub-serve", "ingest-hub-tokens", "ingest-hub-register",
		"ingest-hub-wrk", "ingest-hub-drain", "ingest-verify-drained", "ingest-verify-final")
	if f.pg != nil {
		d.p("\nOn PostgreSQL:\n")
		d.cmd("ingest-postgres-createdb", "ingest-postgres-hub-serve", "ingest-postgres-hub-tokens", "ingest-postgres-register", "ingest-postgres-wrk",
			"ingest-postgres-drain", "ingest-postgres-verify-drained", "ingest-postgres-verify-final", "ingest-postgres-dropdb")
	}
	d.p("\n")
	return nil
}

// storeLabel names a verified store in the document.
func storeLabel(store string) string {
	if store == "postgres" {
		return "PostgreSQL"
	}
	return "Embedded store (bbolt)"
}

func verifiedText(ok bool) string {
	if ok {
		return "verified"
	}
	return "FAILED"
}

// heyStats are the latencies of the 2xx answers in hey's CSV output.
type heyStats struct {
	n, non2xx                    int
	p50, p90, p99, max, meanMS   float64
	firstOffset, lastOffset, dur float64
}

func readHeyCSV(path string) (heyStats, error) {
	var st heyStats
	fh, err := os.Open(path)
	if err != nil {
		return st, fmt.Errorf("read hey output: %w", err)
	}
	defer fh.Close()
	rows, err := csv.NewReader(fh).ReadAll()
	if err != nil {
		return st, fmt.Errorf("read hey output: %w", err)
	}
	var lat []float64
	st.firstOffset = math.Inf(1)
	for i, row := range rows {
		if i == 0 || len(row) < 8 {
			continue // header: response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset
		}
		secs, err1 := strconv.ParseFloat(row[0], 64)
		code, err2 := strconv.Atoi(row[6])
		off, err3 := strconv.ParseFloat(row[7], 64)
		if err := errors.Join(err1, err2, err3); err != nil {
			return st, fmt.Errorf("hey output line %d: %w", i+1, err)
		}
		st.firstOffset, st.lastOffset = min(st.firstOffset, off), max(st.lastOffset, off)
		if code/100 != 2 {
			st.non2xx++
			continue
		}
		lat = append(lat, secs*1000)
	}
	if len(lat) == 0 {
		return st, errors.New("hey output has no 2xx answers")
	}
	slices.Sort(lat)
	st.n = len(lat)
	q := func(p float64) float64 { return lat[max(0, int(math.Ceil(p*float64(len(lat))))-1)] }
	st.p50, st.p90, st.p99, st.max = q(0.50), q(0.90), q(0.99), lat[len(lat)-1]
	var sum float64
	for _, v := range lat {
		sum += v
	}
	st.meanMS = sum / float64(len(lat))
	st.dur = st.lastOffset - st.firstOffset
	return st, nil
}

// latencySection is the fixed-rate comparison of the hub's and the bare handler's latency.
func latencySection(d *docWriter) error {
	r := d.r
	if !r.exists("latency", "hub.json") {
		d.failed = append(d.failed, "ingest latency at a fixed rate")
		return nil
	}
	var bare, hubRes backgroundResult
	for _, x := range []struct {
		file string
		v    *backgroundResult
	}{{"bare.json", &bare}, {"hub.json", &hubRes}} {
		if err := readJSONFile(r.path("latency", x.file), x.v); err != nil {
			return err
		}
	}
	ratio := hubRes.Latency.P99 / bare.Latency.P99
	kept := hubRes.AchievedPerSecond >= 0.98*hubRes.TargetPerSecond && bare.AchievedPerSecond >= 0.98*bare.TargetPerSecond
	d.checks = append(d.checks,
		check{fmt.Sprintf("ingest: hub p99 ÷ bare handler p99, both at %s reports/s", rate(hubRes.TargetPerSecond)), "≤ 1.5×",
			fmt.Sprintf("%.2f× (%s ÷ %s)", ratio, msf(hubRes.Latency.P99), msf(bare.Latency.P99)), ratio <= targetP99Ratio && kept},
	)
	d.p("## 2. Ingest latency at a fixed rate\n\n")
	d.p("`loadgen background`, an open-loop generator in another process, sends the same reports of the same fleet (1%% status changes) to the bare handler "+
		"and then to a fresh hub at a fixed %s reports/s for %.0f s each, over 64 connections. Each latency is counted from when its report was due by the schedule, "+
		"not from when a connection was free to send it, so a server that stalls is charged for the whole wait (no coordinated omission). "+
		"Where section 1 measures latency at saturation, this measures it at a given load: the hub and the bare handler do the same work in the same time, "+
		"and the difference is the hub's own per-report cost and pauses (a status change waits for its fsync).\n\n",
		rate(hubRes.TargetPerSecond), hubRes.DurationSeconds)
	d.p("| server | answered 2xx/s | p50 | p90 | p99 | p99.9 | max | not 2xx | no answer | missed |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, x := range []struct {
		name string
		b    backgroundResult
	}{{"bare handler", bare}, {"hub", hubRes}} {
		d.p("| %s | %s | %s | %s | **%s** | %s | %s | %d | %d | %d |\n", x.name, rate(x.b.AchievedPerSecond), msf(x.b.Latency.P50), msf(x.b.Latency.P90),
			msf(x.b.Latency.P99), msf(x.b.Latency.P999), msf(x.b.Latency.Max), x.b.Non2xx, x.b.Failed, x.b.Missed)
	}
	d.p("\n- Hub p99 is **%.2f×** the bare handler's at the same rate.\n", ratio)
	d.p("\nCommands:\n")
	d.cmd("latency-bare-serve", "latency-hub-serve", "latency-hub-tokens", "latency-bare-register", "latency-bare-fixed", "latency-hub-register", "latency-hub-fixed")
	d.p("\n")
	return nil
}

// msf renders milliseconds.
func msf(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) + " ms" }

func summarySection(d *docWriter) error {
	r := d.r
	if !r.exists("summary", "hey.csv") {
		d.failed = append(d.failed, "summary latency")
		return nil
	}
	st, err := readHeyCSV(r.path("summary", "hey.csv"))
	if err != nil {
		return err
	}
	var bg backgroundResult
	if err := readJSONFile(r.path("summary", "background.json"), &bg); err != nil {
		return err
	}
	d.checks = append(d.checks, check{"summary: p99 of GET /api/v1/dashboard/summary", "< 5 ms",
		fmt.Sprintf("%.2f ms", st.p99), st.p99 < targetSummaryP99MS})
	bgOK := bg.AchievedPerSecond >= 0.95*bg.TargetPerSecond
	d.checks = append(d.checks, check{"summary: background ingest during the measurement", fmt.Sprintf("%s reports/s", rate(bg.TargetPerSecond)),
		fmt.Sprintf("%s/s answered 2xx", rate(bg.AchievedPerSecond)), bgOK})

	d.p("## 3. Dashboard summary latency under ingest (GET /api/v1/dashboard/summary)\n\n")
	d.p("A fresh hub with the 10,000 instances registered; `loadgen background` sends reports of the same fleet at %s reports/s "+
		"(1%% of them status changes, each of which makes the next summary recompute) from another process, and hey, with a viewer token, "+
		"asks for the summary from 2 workers at up to 25 requests/s each. Percentiles are computed from hey's per-request CSV.\n\n", rate(bg.TargetPerSecond))
	d.p("| requests (2xx) | not 2xx | p50 | p90 | p99 | max | mean |\n|---:|---:|---:|---:|---:|---:|---:|\n")
	// hey writes times with a resolution of 0.1 ms.
	d.p("| %d | %d | %.2f ms | %.2f ms | **%.2f ms** | %.2f ms | %.2f ms |\n", st.n, st.non2xx, st.p50, st.p90, st.p99, st.max, st.meanMS)
	d.p("\nBackground ingest: target %s/s; %s/s answered 2xx over %.1f s (sent %d, not 2xx %d, no answer %d, skipped because 200 ms of reports were already waiting for a connection %d).\n",
		rate(bg.TargetPerSecond), rate(bg.AchievedPerSecond), bg.DurationSeconds, bg.Sent, bg.Non2xx, bg.Failed, bg.Missed)
	d.p("\nCommands:\n")
	d.cmd("summary-hub-serve", "summary-hub-tokens", "summary-hub-register", "summary-background", "summary-hey")
	d.p("\n")
	return nil
}

// timeStats are the figures of GNU time -v that the agent section uses.
type timeStats struct {
	maxRSSKB       int64
	user, sys, cpu float64
	elapsed        string
	exit           string
}

func readGNUTime(path string) (timeStats, error) {
	var st timeStats
	fh, err := os.Open(path)
	if err != nil {
		return st, fmt.Errorf("read time output: %w", err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "Elapsed (wall clock) time") {
			st.elapsed = strings.TrimSpace(line[strings.LastIndex(line, "): ")+3:])
			continue
		}
		key, val, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch key {
		case "Maximum resident set size (kbytes)":
			st.maxRSSKB, _ = strconv.ParseInt(val, 10, 64)
		case "User time (seconds)":
			st.user, _ = strconv.ParseFloat(val, 64)
		case "System time (seconds)":
			st.sys, _ = strconv.ParseFloat(val, 64)
		case "Percent of CPU this job got":
			st.cpu, _ = strconv.ParseFloat(strings.TrimSuffix(val, "%"), 64)
		case "Exit status":
			st.exit = val
		}
	}
	if err := sc.Err(); err != nil {
		return st, fmt.Errorf("read time output: %w", err)
	}
	if st.maxRSSKB == 0 {
		return st, errors.New("time output has no maximum resident set size")
	}
	return st, nil
}

// agentHealth is the part of the hub's dashboard/health answer the agent, gossip and agents
// sections check.
type agentHealth struct {
	Services []struct {
		Name      string `json:"name"`
		Instances []struct {
			Instance string `json:"instance"`
			Status   string `json:"status"`
			Checks   []struct {
				Name   string `json:"name"`
				Kind   string `json:"kind"`
				Status string `json:"status"`
				Output string `json:"output"`
			} `json:"checks"`
		} `json:"instances"`
	} `json:"services"`
}

func agentSection(d *docWriter) error {
	r := d.r
	if !r.exists("agent", "time.txt") {
		d.failed = append(d.failed, "agent RSS and CPU")
		return nil
	}
	st, err := readGNUTime(r.path("agent", "time.txt"))
	if err != nil {
		return err
	}
	var h agentHealth
	if err := readJSONFile(r.path("agent", "health.json"), &h); err != nil {
		return err
	}
	checks, passing := 0, 0
	for _, s := range h.Services {
		for _, in := range s.Instances {
			for _, c := range in.Checks {
				checks++
				if c.Status == "passing" {
					passing++
				}
			}
		}
	}
	// The same agent with gossip on, in runs that have it.
	var (
		withGossip  *timeStats
		memberState string
	)
	if r.exists("agent", "time-gossip.txt") {
		gst, err := readGNUTime(r.path("agent", "time-gossip.txt"))
		if err != nil {
			return err
		}
		withGossip = &gst
		var ms struct {
			Members []struct {
				Name  string `json:"name"`
				State string `json:"state"`
			} `json:"members"`
		}
		if err := readJSONFile(r.path("agent", "members-gossip.json"), &ms); err != nil {
			return err
		}
		for _, m := range ms.Members {
			if m.Name == "default/bench-agent/agent-1" {
				memberState = m.State
			}
		}
	}
	dur := r.machine["agent_seconds"]
	rssMiB := float64(st.maxRSSKB) / 1024
	d.checks = append(d.checks, check{"agent: max RSS, 10 checks at 10 s", "< 20 MB", fmt.Sprintf("%.1f MiB", rssMiB), rssMiB < targetAgentMaxRSSMiB})
	if withGossip != nil {
		gMiB := float64(withGossip.maxRSSKB) / 1024
		d.checks = append(d.checks, check{"agent: max RSS with gossip on (lan, joined to the hub), 10 checks at 10 s", "< 20 MB",
			fmt.Sprintf("%.1f MiB (%+.1f MiB)", gMiB, gMiB-rssMiB), gMiB < targetAgentMaxRSSMiB && memberState != ""})
	}
	d.p("## 4. Agent resources\n\n")
	d.p("`bin/agent` with 10 checks (5 tcp, 5 http against local listeners of `loadgen serve-targets`) every 10 s, reporting to a hub, "+
		"for %s s under GNU `time -v` (`timeout` stops it with SIGTERM; time counts `timeout` too, which adds nothing measurable)", dur)
	if withGossip != nil {
		d.p("; then the same configuration with a `gossip:` section added (bind 127.0.0.1:0, joined to the hub, which gossips with the benchmark key, `lan` profile) for as long again")
	}
	d.p(".\n\n| agent | max RSS | CPU user | CPU system | CPU total | CPU %% | wall | exit |\n|---|---:|---:|---:|---:|---:|---:|---|\n")
	row := func(name string, st timeStats) {
		d.p("| %s | **%.1f MiB** (%d KiB) | %.2f s | %.2f s | %.2f s | %.2f%% | %s | %s |\n", name, float64(st.maxRSSKB)/1024, st.maxRSSKB,
			st.user, st.sys, st.user+st.sys, (st.user+st.sys)/max(parseSeconds(dur), 1)*100, st.elapsed, st.exit)
	}
	row("without gossip", st)
	if withGossip != nil {
		row("with gossip", *withGossip)
	}
	d.p("\nThe hub saw the agent's instance with %d checks, %d of them passing, at the end of the run without gossip.", checks, passing)
	if withGossip != nil {
		if memberState != "" {
			d.p(" After the run with gossip, the hub listed the agent's member `default/bench-agent/agent-1` as %s (it had joined, and left on SIGTERM).", memberState)
		} else {
			d.p(" After the run with gossip, the hub did **not** list the agent's member: it never joined.")
		}
	}
	d.p("\n\nCommands:\n")
	d.cmd("gossip-key", "agent-hub-serve", "agent-hub-tokens", "agent-hub-gossip-addr", "agent-hub-token", "agent-targets", "agent-run", "agent-gossip-run")
	d.p("\n")
	return nil
}

// probesSection writes the agent's cost with every probe kind, beside the foundation agent.
func probesSection(d *docWriter) error {
	r := d.r
	if !r.exists("probes", "time-agent-probes.txt") {
		d.failed = append(d.failed, "agent with every probe kind")
		return nil
	}
	sizes, _, err := readKV(r.path("probes", "sizes.txt"), "=")
	if err != nil {
		return err
	}
	runs := []struct{ name, label, binary string }{
		{"foundation", "foundation agent (" + sizes["foundation_ref"] + "), 10 tcp/http checks", sizes["foundation_bytes"]},
		{"agent-10", "this agent, the same 10 checks", sizes["agent_bytes"]},
		{"agent-probes", "this agent, 20 checks: one of each kind", sizes["agent_bytes"]},
	}
	stats := make([]timeStats, len(runs))
	for i, run := range runs {
		if stats[i], err = readGNUTime(r.path("probes", "time-"+run.name+".txt")); err != nil {
			return err
		}
	}
	var h agentHealth
	if err := readJSONFile(r.path("probes", "health.json"), &h); err != nil {
		return err
	}
	dur := r.machine["agent_seconds"]
	secs := max(parseSeconds(dur), 1)
	last := stats[len(stats)-1]
	rssMB := float64(last.maxRSSKB) * 1024 / 1e6
	cpu := (last.user + last.sys) / secs * 100
	d.checks = append(d.checks,
		check{"agent: max RSS, every probe kind linked, 20 checks (one of each kind) at 10 s", "< 25 MB", fmt.Sprintf("%.1f MB", rssMB), rssMB < targetProbesMaxRSSMB},
		check{"agent: CPU, every probe kind linked, 20 checks (one of each kind) at 10 s", "< 1% of one core", fmt.Sprintf("%.2f%%", cpu), cpu < targetProbesCPUPercent})
	d.p("## 5. Agent probes\n\n")
	d.p("Three agents, one after the other, each for %s s under GNU `time -v`, reporting to one hub: the foundation agent (the last commit before the infrastructure probes, built from a worktree with `make build`'s flags) and this agent with the agent part's 10 tcp/http checks, "+
		"then this agent with one check of each of the 20 kinds every 10 s. The probes talk to the machine's PostgreSQL, MariaDB, Redis, NATS (JetStream asked), RabbitMQ and Mosquitto; "+
		"Kafka (kfake), gRPC (grpc-go's health server), a TLS listener, a ZooKeeper `ruok` answer and the ClickHouse, ArangoDB and Weaviate readiness paths come from `loadgen serve-targets --probes`, which speaks each protocol: what is measured is the agent's side.\n\n", dur)
	d.p("| agent | binary | max RSS | CPU total | CPU %% of one core | exit |\n|---|---:|---:|---:|---:|---|\n")
	for i, run := range runs {
		st := stats[i]
		b, _ := strconv.ParseFloat(run.binary, 64)
		d.p("| %s | %.1f MB (%s bytes) | **%.1f MB** (%d KiB) | %.2f s | %.2f%% | %s |\n", run.label, b/1e6, run.binary,
			float64(st.maxRSSKB)*1024/1e6, st.maxRSSKB, st.user+st.sys, (st.user+st.sys)/secs*100, st.exit)
	}
	var notPassing []string
	checks, ttlIdle := 0, false
	for _, s := range h.Services {
		for _, in := range s.Instances {
			for _, c := range in.Checks {
				checks++
				switch {
				case c.Kind == "ttl" && c.Status == "unknown":
					ttlIdle = true // nothing posts to it: it has no probe round
				case c.Status != "passing":
					notPassing = append(notPassing, fmt.Sprintf("`%s` %s: %s", c.Name, c.Status, mdCell(c.Output)))
				}
			}
		}
	}
	passing := checks - len(notPassing)
	if ttlIdle {
		passing--
	}
	d.p("\nAt the end of the last run the hub held the instance with %d checks, %d of them passing", checks, passing)
	if ttlIdle {
		d.p(" and the `ttl` check unknown, as it should be: nothing posts to it in the benchmark")
	}
	d.p(".")
	if len(notPassing) > 0 {
		d.p(" Not passing: %s.", strings.Join(notPassing, "; "))
	}
	d.p(" The cost of one probe of each kind, in process, is `BenchmarkProbe` in the Go micro-benchmarks below.\n\nCommands:\n")
	d.cmd("probes-foundation-worktree", "probes-foundation-build", "probes-sizes", "probes-hub-serve", "probes-hub-tokens", "probes-hub-token",
		"probes-targets", "probes-run-foundation", "probes-run-agent-10", "probes-run-agent-probes")
	d.p("\n")
	return nil
}

// gossipRun is one `loadgen gossip` result and the name its commands were recorded under.
type gossipRun[T any] struct {
	name string // the run directory, e.g. gossip-detect-10, and its commands' prefix
	res  T
}

// readGossipRuns reads file from every run directory matching pattern ("gossip-detect-*"),
// ordered by the number that ends the directory's name.
func readGossipRuns[T any](r *benchRun, pattern, file string) ([]gossipRun[T], error) {
	paths, err := filepath.Glob(r.path(pattern, file))
	if err != nil {
		return nil, fmt.Errorf("find %s: %w", file, err)
	}
	var runs []gossipRun[T]
	for _, p := range paths {
		g := gossipRun[T]{name: filepath.Base(filepath.Dir(p))}
		if err := readJSONFile(p, &g.res); err != nil {
			return nil, err
		}
		runs = append(runs, g)
	}
	size := func(name string) int {
		n, _ := strconv.Atoi(name[strings.LastIndex(name, "-")+1:])
		return n
	}
	slices.SortFunc(runs, func(a, b gossipRun[T]) int { return size(a.name) - size(b.name) })
	return runs, nil
}

// gossipCommands writes the commands of a gossip measurement: its hub's, then its own.
func (d *docWriter) gossipCommands(name string, extra ...string) {
	d.cmd(append([]string{name + "-hub-serve", name + "-hub-tokens", name + "-hub-gossip-addr"}, append(extra, name)...)...)
}

// secs renders seconds with two decimals.
func secs(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) + " s" }

func gossipSection(d *docWriter) error {
	r := d.r
	detects, err := readGossipRuns[detectResult](r, "gossip-detect-*", "detect.json")
	if err != nil {
		return err
	}
	soaks, err := readGossipRuns[soakResult](r, "gossip-soak", "soak.json")
	if err != nil {
		return err
	}
	converges, err := readGossipRuns[convergeResult](r, "gossip-converge-*", "converge.json")
	if err != nil {
		return err
	}
	bandwidths, err := readGossipRuns[bandwidthResult](r, "gossip-bandwidth", "bandwidth.json")
	if err != nil {
		return err
	}
	for _, m := range []struct {
		n    int
		what string
	}{{len(detects), "gossip failure detection"}, {len(soaks), "gossip false failures under load"},
		{len(converges), "gossip convergence"}, {len(bandwidths), "gossip bandwidth"}} {
		if m.n == 0 {
			d.failed = append(d.failed, m.what)
		}
	}
	if len(detects)+len(soaks)+len(converges)+len(bandwidths) == 0 {
		return nil
	}

	d.p("## 6. Gossip\n\n")
	d.p("A real hub (`bin/hub serve --dev ... --gossip-bind 127.0.0.1:0 --gossip-key-file ... --gossip-profile lan`, a fresh one for every measurement) "+
		"and agents gossiping with it on loopback, encrypted with one key, on the `lan` profile (probe every 500 ms, probe timeout 300 ms, suspicion multiplier 3, full state exchange every 15 s). "+
		"To spare the machine's %s cores, the agents are pkg/gossip members inside one `loadgen gossip` process, each on its own port and carrying what an agent's member carries "+
		"(node name `tenant/service/instance`, role `agent`, tenant, service, instance and boot tags), except the one that failure detection kills, which is a real `bin/agent`. "+
		"Where the hub has to act on a failure, every in-process member's instance is registered first by one report over HTTP with its service's agent token; "+
		"the report announces a 1 h interval, so that heartbeat staleness cannot change their health during a measurement. "+
		"The cluster's key, the same for every measurement (and for the agent with gossip in section 4):\n", r.machine["nproc"])
	d.cmd("gossip-key")
	d.p("\n")

	if len(detects) > 0 {
		d.p("### Failure detection: kill -9 → critical\n\n")
		first := detects[0].res
		d.p("The victim is `bin/agent` with gossip on (service `%s`, one exec check `true`, check and report interval %.0f s), joined to the hub; the other agents are in-process members. "+
			"Each trial kills it with SIGKILL and asks `GET /api/v1/dashboard/health?service=%s` (viewer token) every %.0f ms until its instance is critical with the `%s` check; "+
			"then restarts it and waits until it is passing without that check and its member is alive at the hub and in every in-process member, before the next trial. "+
			"Goal: median < 4 s, max < 8 s.\n\n", victimService, first.HeartbeatIntervalSeconds, victimService, first.PollMS, gossipCheck)
		d.p("| agents | trials | detected | median | p90 | max | min | back after a restart (median) | heartbeat only |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, g := range detects {
			x := g.res
			d.p("| %d (1 bin/agent + %d in-process) | %d | %d | **%s** | %s | **%s** | %s | %s | %.0f s |\n", x.Agents, x.InProcess, len(x.Trials), x.Detected,
				secs(x.MedianSeconds), secs(x.P90Seconds), secs(x.MaxSeconds), secs(x.MinSeconds), secs(x.MedianRecovered), x.HeartbeatOnlySeconds)
			all := x.Detected == len(x.Trials) && x.Error == ""
			missed := ""
			if !all {
				missed = fmt.Sprintf(", %d of %d detected", x.Detected, len(x.Trials))
			}
			d.checks = append(d.checks,
				check{fmt.Sprintf("gossip: kill -9 → critical, median of %d trials, %d agents", len(x.Trials), x.Agents), "< 4 s",
					secs(x.MedianSeconds) + missed, all && x.MedianSeconds < targetDetectMedianS},
				check{fmt.Sprintf("gossip: kill -9 → critical, max of %d trials, %d agents", len(x.Trials), x.Agents), "< 8 s",
					secs(x.MaxSeconds) + missed, all && x.MaxSeconds < targetDetectMaxS},
			)
			if x.Error != "" {
				d.p("\nThe trials at %d agents stopped early: %s\n", x.Agents, x.Error)
			}
		}
		d.p("\n- Heartbeat only (computed, the baseline): without gossip the hub marks a silent instance critical once `stale_after` (%d, the hub's default) report intervals (%.0f s) "+
			"have passed with no report, %.0f s after its last report, so up to %.0f s after a kill.\n", first.StaleAfter, first.HeartbeatIntervalSeconds,
			first.HeartbeatOnlySeconds, first.HeartbeatOnlySeconds)
		d.p("- A detection not seen within %.0f s counts as missed. Times include the health API's answer and the %.0f ms polling step.\n", first.TimeoutSeconds, first.PollMS)
		d.p("\nCommands:\n")
		for _, g := range detects {
			d.gossipCommands(g.name, g.name+"-victim-token")
		}
		d.p("\n")
	}

	for _, g := range soaks {
		x := g.res
		d.p("### False failures with both cores busy\n\n")
		d.p("%d agents (in-process members, registered instances) and the hub held together for %.0f s while %d busy loops (`sh -c 'while :; do :; done'`, "+
			"started once the cluster had converged and killed at the end) kept the CPUs busy: they got %.0f CPU-seconds (%.2f cores' worth), and the load average (1/5/15 min) at the end was %s.\n\n",
			x.Agents, x.DurationSeconds, x.Busy, x.BusyCPUSeconds, x.BusyCPUSeconds/max(x.DurationSeconds, 1), mdCell(x.LoadAvgEnd))
		d.p("| failures declared at the hub | failure events the members received | suspicions raised | members alive at the hub at the end |\n|---:|---:|---:|---:|\n")
		d.p("| **%.0f** | %d | %.0f | %d of %d |\n", x.HubFailed, x.MembersFailed, x.Suspicions, x.HubAlive, x.Agents+1)
		d.p("\n- Failures declared at the hub: the rise of `centralhub_gossip_events_total{type=\"failed\"}` on its `/metrics` over the soak. " +
			"Suspicions: memberlist's `memberlist.msg.suspect` counter summed over the in-process members (each member that accepts a suspicion counts it); a suspicion refuted in time declares no failure.\n")
		d.checks = append(d.checks, check{fmt.Sprintf("gossip: failures declared among %d agents in %.0f s with both cores busy", x.Agents, x.DurationSeconds), "0",
			fmt.Sprintf("%.0f", x.HubFailed), x.HubFailed == 0 && x.MembersFailed == 0})
		d.p("\nCommands:\n")
		d.gossipCommands(g.name)
		d.p("\n")
	}

	if len(converges) > 0 {
		d.p("### Convergence\n\n")
		d.p("The members, all started at once in one process, each join the hub (retrying every 2 s until it answers). Times are from the start of the first member until the hub's members list " +
			"(`GET /api/v1/dashboard/members`, admin of every tenant) showed every member and the hub alive, and until each member's own list did; both polled every 100 ms.\n\n")
		d.p("| members | all started after | hub sees all alive | members see all alive: median | p90 | the last member | converged | members late (not converged at %.0f s) |\n"+
			"|---:|---:|---:|---:|---:|---:|---:|---:|\n", converges[0].res.LateSeconds)
		for _, g := range converges {
			x := g.res
			if x.Error != "" {
				d.p("| %d + hub | %s | | | | | **not converged**: %s | %d |\n", x.Agents, secs(x.StartedSeconds), mdCell(x.Error), x.Late)
				continue
			}
			d.p("| %d + hub | %s | %s | %s | %s | %s | **%s** | %d (%d of them missing a member) |\n", x.Agents, secs(x.StartedSeconds), secs(x.HubSeconds),
				secs(x.MembersMedianSeconds), secs(x.MembersP90Seconds), secs(x.MembersMaxSeconds), secs(x.AllSeconds), x.Late, x.LateUnknowing)
		}
		d.p("\nJoin announcements spread by gossip over UDP, each retransmitted a limited number of times, so with every member joining at once a member can miss one altogether; " +
			"it then does not know that member until its next full state exchange with a random member (memberlist's push-pull: ")
		for i, g := range converges {
			if i > 0 {
				d.p(", ")
			}
			d.p("every %.0f s at %d members", g.res.PushPullSeconds, g.res.Want)
		}
		d.p("). The last member's time therefore varies from run to run with whether that happened; of the late members, \"missing a member\" counts those that did not know some member at all.\n")
		d.p("\nCommands:\n")
		for _, g := range converges {
			d.gossipCommands(g.name)
		}
		d.p("\n")
	}

	for _, g := range bandwidths {
		x := g.res
		d.p("### Bandwidth\n\n")
		d.p("%d in-process members and the hub, steady (%.0f s after every member saw all alive), counted over %.0f s: the bytes memberlist handed to the network according to its own "+
			"go-metrics counters `memberlist.udp.sent` and `memberlist.tcp.sent` (hashicorp/memberlist `net.go`: the payload after encryption, without IP, UDP or TCP headers), "+
			"gathered by an in-memory sink (`metrics.NewInmemSink`, the process's global sink) and summed over the members. The hub's own sends are not counted; it is one member like the others.\n\n",
			x.Agents, x.WarmupSeconds, x.WindowSeconds)
		d.p("| members | window | UDP sent | UDP packets | TCP sent | TCP writes | per member per second |\n|---:|---:|---:|---:|---:|---:|---:|\n")
		d.p("| %d | %.0f s | %s B | %s | %s B | %s | **%s B/s** (UDP %s, TCP %s) |\n", x.Agents, x.WindowSeconds, rate(x.UDPBytes), rate(float64(x.UDPPackets)),
			rate(x.TCPBytes), rate(float64(x.TCPWrites)), rate(x.PerNodePerSecond), rate(x.UDPPerNodePerSecond), rate(x.TCPPerNodePerSecond))
		d.p("\nCommands:\n")
		d.gossipCommands(g.name)
		d.p("\n")
	}
	return nil
}

// benchWorst returns the largest value of unit over the result lines of the benchmark named
// name (its -N GOMAXPROCS suffix aside) in Go benchmark output; 0 when there is none.
func benchWorst(out, name, unit string) float64 { return benchWorstIn(out, "", name, unit) }

// benchWorstIn is benchWorst over the results of the package whose import path ends with
// "/"+pkg ("" for any), as `go test` heads them with a "pkg:" line: the same benchmark runs
// in more than one package.
func benchWorstIn(out, pkg, name, unit string) float64 {
	worst := 0.0
	cur := ""
	for _, line := range strings.Split(out, "\n") {
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			cur = strings.TrimSpace(p)
			continue
		}
		if pkg != "" && !strings.HasSuffix(cur, "/"+pkg) {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		base := f[0]
		if i := strings.LastIndex(base, "-"); i > 0 {
			base = base[:i]
		}
		if base != name {
			continue
		}
		for i := 2; i+1 < len(f); i += 2 {
			if f[i+1] == unit {
				worst = max(worst, parseSeconds(f[i]))
			}
		}
	}
	return worst
}

func parseSeconds(s string) float64 {
	v, _ := strconv.ParseFloat(s, 64)
	return v
}

func goBenchSection(d *docWriter) error {
	r := d.r
	b, err := os.ReadFile(r.path("go", "benchstat.txt"))
	if errors.Is(err, os.ErrNotExist) {
		d.failed = append(d.failed, "Go micro-benchmarks")
		return nil
	}
	if err != nil {
		return fmt.Errorf("read benchstat output: %w", err)
	}
	if raw, err := os.ReadFile(r.path("go", "new.txt")); err == nil {
		impact := benchWorst(string(raw), "BenchmarkImpact", "p99-ms")
		if impact > 0 {
			d.checks = append(d.checks, check{"graph: impact query p99, 10,000 nodes / 30,000 edges (worst of 6 runs)", "< 10 ms",
				strconv.FormatFloat(impact, 'f', 2, 64) + " ms", impact < targetImpactMS})
		} else {
			d.failed = append(d.failed, "graph impact query p99")
		}
		for _, share := range []string{"10", "100"} {
			ns := benchWorst(string(raw), "BenchmarkEvaluate/instances=10000/rules=50/critical="+share+"%", "ns/op")
			what := "alerts: one evaluation, 10,000 instances × 50 rules, " + share + "% critical (worst of 6 runs)"
			if ns <= 0 {
				d.failed = append(d.failed, what)
				continue
			}
			d.checks = append(d.checks, check{what, "< 50 ms", ms(ns / 1000), ns/1e6 < targetEvaluateMS})
		}
		if render := benchWorst(string(raw), "BenchmarkOverviewRender", "render-ms"); render > 0 {
			d.checks = append(d.checks, check{"dashboard: overview render at 1,000 services once its data has arrived, in Chromium (worst mean of 6 runs)", "< 100 ms",
				strconv.FormatFloat(render, 'f', 1, 64) + " ms", render < targetOverviewMS})
		} else {
			d.failed = append(d.failed, "dashboard overview render")
		}
		for _, store := range []struct{ pkg, label string }{{"internal/bolt", "bbolt"}, {"internal/postgres", "PostgreSQL"}} {
			for _, g := range []struct {
				bench, what, target string
				goalMS              float64
			}{
				{"BenchmarkHistoryWeek", "7-day view of one instance with 5 checks at 10 s, 840 points from hourly roll-ups", "< 50 ms", targetHistoryWeekMS},
				{"BenchmarkHistoryRawHour", "one raw hour of that instance, 1,800 points", "< 20 ms", targetHistoryHourMS},
			} {
				ns := benchWorstIn(string(raw), store.pkg, g.bench, "ns/op")
				what := "history (" + store.label + "): " + g.what + " (worst of 6 runs)"
				if ns <= 0 {
					d.failed = append(d.failed, what)
					continue
				}
				d.checks = append(d.checks, check{what, g.target, ms(ns / 1000), ns/1e6 < g.goalMS})
			}
		}
	}
	d.p("## 7. Go micro-benchmarks\n\n")
	d.p("`BenchmarkProbe` (agent/internal/check): one probe round of each check kind against the server its test uses — the machine's PostgreSQL, MariaDB, Redis, NATS (JetStream asked), RabbitMQ and Mosquitto, kfake, grpc-go's health server, Debian's ZooKeeper and ClickHouse, local HTTP handlers for the ArangoDB and Weaviate presets — connection set-up and teardown included; " +
		"ns/op is the round's wall time, the server's share included (a PostgreSQL login forks a backend), and B/op and allocs/op are the agent's. `ttl` has no probe round: the service posts its status. " +
		"`BenchmarkDecodeReport` (pkg/protocol): decode and validate a 5-check report of about 1.4 KB. " +
		"`BenchmarkIngest` (hub/internal/httpapi): the whole ingest handler with a cached token over a real registry and bbolt store holding 10,000 instances; " +
		"`heartbeat` is one request at a time with no status change, `mixed` is 32 concurrent requests with 1%% status changes, fsynced before they are answered. " +
		"`BenchmarkSummary` (hub/internal/registry): the dashboard summary over 10,000 instances in 100 services, `recompute` after a status change in one service and `cached` when nothing changed. " +
		"`BenchmarkImpact` (hub/internal/graph): the impact of one unhealthy node (every service depending on it, transitively) on a graph of 10,000 nodes and 30,000 edges, `p99-ms` over its calls; `BenchmarkBuild`: building that graph. " +
		"`BenchmarkEvaluate` (hub/internal/alert): one evaluation of 50 rules (the 6 built-ins and 44 user rules of every kind, half with regular expressions) against 10,000 instances in 1,000 services, with 10%% or all of them critical, in the steady state (every alert already held). " +
		"`BenchmarkHistoryWeek`, `BenchmarkHistoryRawHour` and `BenchmarkHistoryUptimeWeek` (hub/internal/bolt and hub/internal/postgres, the fixture in hub/internal/storetest/historybench.go): " +
		"the history API's queries of one instance with 5 checks sampled every 10 s for 7 days (60,480 samples, 302,400 check points, beside another service's instance of the same size): " +
		"the 7-day view (hourly steps from the roll-ups, 840 points, and its transitions), the last hour from raw samples (10 s steps, 1,800 points) and the 7-day uptime from the roll-ups; each fails unless it answers exactly those points. " +
		"The PostgreSQL ones run on the server `CENTRALHUB_TEST_DATABASE_URL` names (by default postgres://postgres@127.0.0.1:5432/test?sslmode=disable; the version is under Machine), in a schema of their own, `ANALYZE`d after filling as autovacuum would have. " +
		"`BenchmarkOverviewRender` (hub/internal/ui): the dashboard page in headless Chromium signs in against an API serving 1,000 services of 3 instances with 5 checks and 100 alerts in the API's shapes; " +
		"`render-ms` is the page's own `performance.measure` from the data's arrival to the overview rendered, read through chromedp (mean of the run's sign-ins; `worst-render-ms` the slowest); its ns/op is a whole sign-in with page load. " +
		"Each ran 6 times with `-benchmem`; benchstat summarises them")
	if r.exists("go", "old.txt") {
		d.p(" and compares them with the previous run on the same machine (`old`)")
	}
	d.p(".\n\n```\n%s```\n\nCommands:\n", strings.TrimLeft(string(b), "\n"))
	d.cmd("go-bench-pkg", "go-bench-hub", "go-bench-postgres", "go-benchstat")
	d.p("\n")
	return nil
}

// mib renders a kB count as MiB with one decimal.
func mib(kb string) string {
	n, err := strconv.ParseFloat(kb, 64)
	if err != nil {
		return kb + " kB"
	}
	return strconv.FormatFloat(n/1024, 'f', 1, 64)
}
