package main

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/centralhub/centralhub/hub/internal/registry"
)

// markedSection is a section of the document that can be rewritten alone in an existing
// document (`loadgen doc --only NAME`), because a full `make bench` takes more than half an
// hour and the soak does not belong to it; a full run without its results carries it over
// from the document it replaces. Its text sits between markers, and its rows of the targets
// table start with its prefix.
type markedSection struct {
	name   string // for --only, and in the markers
	prefix string // the first cell of its rows in the targets table starts with it
	// write writes the section from the run, and reports false, having written nothing,
	// when the run has no results for it.
	write func(*docWriter) (bool, error)
}

// markedSections are in the order the document has them, after the numbered sections 1–7.
var markedSections = []markedSection{
	{name: "soak", prefix: "soak:", write: soakSection},
	{name: "agents", prefix: "agents:", write: agentsFleetSection},
}

func findMarked(name string) (markedSection, error) {
	for _, m := range markedSections {
		if m.name == name {
			return m, nil
		}
	}
	names := make([]string, len(markedSections))
	for i, m := range markedSections {
		names[i] = m.name
	}
	return markedSection{}, fmt.Errorf("--only %q: want one of %s", name, strings.Join(names, ", "))
}

func (m markedSection) begin() string { return "<!-- loadgen doc: " + m.name + " -->\n" }
func (m markedSection) end() string   { return "<!-- /loadgen doc: " + m.name + " -->\n" }

// wrap puts the section's text between its markers.
func (m markedSection) wrap(text string) string { return m.begin() + text + m.end() + "\n" }

// extract returns the section's text in doc with its markers (and the blank line after them),
// or false when doc does not have it.
func (m markedSection) extract(doc string) (string, bool) {
	i := strings.Index(doc, m.begin())
	if i < 0 {
		return "", false
	}
	k := strings.Index(doc[i:], m.end())
	if k < 0 {
		return "", false
	}
	end := i + k + len(m.end())
	if strings.HasPrefix(doc[end:], "\n") {
		end++
	}
	return doc[i:end], true
}

// render renders one target row as the targets table has it.
func (c check) render() string {
	mark := "met"
	if !c.met {
		mark = "**missed**"
	}
	return fmt.Sprintf("| %s | %s | %s | %s |", c.what, c.target, c.got, mark)
}

// missingRow renders the row of a measurement that did not complete.
func missingRow(what string) string {
	return fmt.Sprintf("| %s | | not measured | **missing** |", what)
}

// targetRows splits doc's targets table: the document before its rows, its rows, and the
// document after them.
func targetRows(doc string) (head string, rows []string, tail string, err error) {
	i := strings.Index(doc, "\n## Targets\n")
	if i < 0 {
		return "", nil, "", errors.New("the document has no targets table")
	}
	lines := strings.SplitAfter(doc[i+1:], "\n")
	pos := i + 1
	// The heading, a blank line, the header row and the separator row, then the rows.
	for k := 0; k < 4 && k < len(lines); k++ {
		pos += len(lines[k])
	}
	head = doc[:pos]
	for _, l := range lines[min(4, len(lines)):] {
		if !strings.HasPrefix(l, "|") {
			break
		}
		rows = append(rows, strings.TrimSuffix(l, "\n"))
		pos += len(l)
	}
	return head, rows, doc[pos:], nil
}

// rowsWithPrefix returns the rows whose first cell starts with prefix.
func rowsWithPrefix(rows []string, prefix string) []string {
	var out []string
	for _, r := range rows {
		if strings.HasPrefix(r, "| "+prefix) {
			out = append(out, r)
		}
	}
	return out
}

// replaceMarked rewrites section m of doc with text (unmarked) and its rows of the targets
// table with rows. A document without the section gets it before the next marked section it
// has, or at its end.
func replaceMarked(doc string, m markedSection, text string, rows []string) (string, error) {
	head, old, tail, err := targetRows(doc)
	if err != nil {
		return "", err
	}
	kept := slices.DeleteFunc(old, func(r string) bool { return strings.HasPrefix(r, "| "+m.prefix) })
	var b strings.Builder
	b.WriteString(head)
	for _, r := range append(kept, rows...) {
		b.WriteString(r + "\n")
	}
	b.WriteString(tail)
	doc = b.String()

	wrapped := m.wrap(text)
	if cur, ok := m.extract(doc); ok {
		return strings.Replace(doc, cur, wrapped, 1), nil
	}
	after := false
	for _, o := range markedSections {
		if o.name == m.name {
			after = true
			continue
		}
		if i := strings.Index(doc, o.begin()); after && i >= 0 {
			return doc[:i] + wrapped + doc[i:], nil
		}
	}
	return strings.TrimRight(doc, "\n") + "\n\n" + wrapped, nil
}

// writeMarkedSections writes the marked sections of a full document into d: from the run
// where it has their results, else carried over, rows and all, from old (the document being
// replaced, "" when there is none), else as not measured.
func writeMarkedSections(d *docWriter, old string) error {
	var oldRows []string
	if old != "" {
		if _, rows, _, err := targetRows(old); err == nil {
			oldRows = rows
		}
	}
	for _, m := range markedSections {
		sd := &docWriter{r: d.r}
		ok, err := m.write(sd)
		if err != nil {
			return err
		}
		if ok {
			d.body.WriteString(m.wrap(sd.body.String()))
			d.checks = append(d.checks, sd.checks...)
			d.failed = append(d.failed, sd.failed...)
			continue
		}
		if text, found := m.extract(old); found {
			d.body.WriteString(text)
			d.kept = append(d.kept, rowsWithPrefix(oldRows, m.prefix)...)
			continue
		}
		d.failed = append(d.failed, sd.failed...)
	}
	return nil
}

// docOnly rewrites section name of the document at out from the run, leaving the rest of it
// as it is.
func docOnly(r *benchRun, name, out string) ([]string, error) {
	m, err := findMarked(name)
	if err != nil {
		return nil, err
	}
	sd := &docWriter{r: r}
	ok, err := m.write(sd)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("the run %s has no results for %s", r.dir, name)
	}
	old, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("read the document to update: %w", err)
	}
	var rows []string
	for _, c := range sd.checks {
		rows = append(rows, c.render())
	}
	for _, f := range sd.failed {
		rows = append(rows, missingRow(f))
	}
	doc, err := replaceMarked(string(old), m, sd.body.String(), rows)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(out, []byte(doc), 0o644); err != nil {
		return nil, fmt.Errorf("write document: %w", err)
	}
	return rows, nil
}

// readAgentsSummary reads the summary of an agents run from the run directory's sub-directory
// dir; false when there is none.
func readAgentsSummary(r *benchRun, dir string) (*agentsSummary, bool, error) {
	if !r.exists(dir, agentsSummaryFile) {
		return nil, false, nil
	}
	var s agentsSummary
	if err := readJSONFile(r.path(dir, agentsSummaryFile), &s); err != nil {
		return nil, false, err
	}
	return &s, true, nil
}

// duration renders seconds as the run's flags would ("30m", "3m", "50s").
func duration(secs float64) string {
	switch {
	case secs >= 60 && int(secs)%60 == 0:
		return strconv.Itoa(int(secs)/60) + " min"
	case secs == float64(int(secs)):
		return strconv.Itoa(int(secs)) + " s"
	}
	return strconv.FormatFloat(secs, 'f', 1, 64) + " s"
}

// pct renders a share or a limit as a percentage, as precise as it was given ("5%", "2.5%").
func pct(v float64) string { return strconv.FormatFloat(math.Round(v*1e4)/100, 'f', -1, 64) + "%" }

// signedPct renders a measured change with one decimal and its sign.
func signedPct(v float64) string {
	s := strconv.FormatFloat(v*100, 'f', 1, 64) + "%"
	if v >= 0 {
		s = "+" + s
	}
	return s
}

func mibf(bytes float64) string { return strconv.FormatFloat(bytes/(1<<20), 'f', 1, 64) + " MiB" }

// trendText renders a judged trend: its fitted change, and its first and last values.
func trendText(t trend, unit func(float64) string) string {
	if !t.Judged {
		return fmt.Sprintf("not enough windows after the warm-up (%d)", t.Samples)
	}
	per := "per 10 min"
	if t.SpanSeconds < 600 {
		per = "over " + duration(float64(int(t.SpanSeconds))) + ", not extrapolated"
	}
	return fmt.Sprintf("%s %s (%s → %s, mean %s)", signedPct(t.Change), per, unit(t.First), unit(t.Last), unit(t.Mean))
}

func count(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }

// noLossText says how the hub's counters compared with the generator's.
func noLossText(s *agentsSummary) string {
	if s.Loss.Equal {
		return fmt.Sprintf("equal (%s reports answered)", rate(float64(s.OK)))
	}
	return mdCell(strings.Join(s.Loss.Differences, "; "))
}

// storeText says how the store compared with the last answered report of each instance.
func storeText(s *agentsSummary) string {
	st := s.Store
	if st == nil {
		return "not checked"
	}
	t := fmt.Sprintf("%s of %s at their last answered report", rate(float64(st.AtLastAcked)), rate(float64(st.Acked)))
	if st.AheadUnanswered > 0 {
		t += fmt.Sprintf(", %d at a later one that got no answer", st.AheadUnanswered)
	}
	if !st.OK {
		t += fmt.Sprintf("; %d behind, %d missing, %d beyond what was sent", st.Behind, st.Missing, st.Beyond)
	}
	return t
}

// fleetFigures writes what the soak and the 10,000-agent part share: how the fleet behaved,
// the judgements, the throughput and latency table and the hub's gauges.
func fleetFigures(d *docWriter, s *agentsSummary) {
	d.p("`loadgen agents` simulates %s agents in %d services (%d instances each), each reporting the benchmark fleet's 5-check report (outputs and latencies varying as real checks do) "+
		"every %s with its service's agent token, first reports spread over the first interval; the agents are state machines driven by one scheduler, their reports posted by %d workers, each over a keep-alive connection of its own (all in use throughout, so the hub's goroutines for them stay put). "+
		"%s of them (%d) flap: their upstream check alternates between passing and critical every %d reports. %s (%d) die again and again: after %d–%d reports each goes silent for %s "+
		"(longer than the hub's `stale_after` %d × the interval) and rejoins as a restarted agent, with a new boot (its start time) and seq from 1; "+
		"half an interval before it rejoins, the generator asks the hub's health API (`GET /api/v1/dashboard/health?service=…`, admin token) whether it shows the dead agent critical by its `hub:heartbeat` check. "+
		"Every %s the generator closes a window of latencies (from when each report was due until its answer, so a stalled hub is charged for the wait) "+
		"and scrapes the hub's `/metrics` (admin token) for its resident set, heap in use, goroutines and ingest counters; with `--hub-pid` it reads the hub's VmRSS from /proc as well. "+
		"The first %s are warm-up, left out of the judgements below. At the end it waits for the hub's pending writes to drain (%s ms), compares the rise of `centralhub_ingest_reports_total` per outcome and of "+
		"`centralhub_ingest_rejected_total` with its own answers, and compares the store with the last report answered for each instance.\n\n",
		rate(float64(s.Agents)), s.Services, s.PerService, duration(s.IntervalSeconds), s.Concurrency,
		pct(s.FlapShare), s.Flappers, s.FlapEvery, pct(s.DieShare), s.Diers, s.AliveMin, s.AliveMax, duration(s.DeadForSeconds), s.StaleAfter,
		duration(s.SampleSeconds), duration(s.WarmupSeconds), strconv.FormatFloat(s.DrainWaitedMS, 'f', 0, 64))

	d.p("| criterion | goal | this run | |\n|---|---|---|---|\n")
	row := func(ok bool, what, goal, got string) {
		mark := "met"
		if !ok {
			mark = "**missed**"
		}
		d.p("| %s | %s | %s | %s |\n", what, goal, got, mark)
	}
	row(s.Loss.OK, "no report lost: the hub's ingest counters against the generator's answers, per outcome", "equal", noLossText(s))
	if s.Store != nil {
		row(s.Store.OK, "the store ("+storeInText(s.Store.Store)+") holds every instance at the last report answered for it", "all", storeText(s))
	}
	row(s.Heap.OK, "hub heap in use after the warm-up (least-squares fit)", "≤ +"+pct(s.MaxHeapGrowth)+" per 10 min", trendText(s.Heap, mibf))
	row(s.Goroutines.OK, "hub goroutines after the warm-up (least-squares fit)", "within ±"+pct(s.MaxGoroutineChange)+" per 10 min", trendText(s.Goroutines, count))
	row(s.P99.OK, "p99 of each "+duration(s.SampleSeconds)+" window after the warm-up", fmt.Sprintf("≤ %.0f× the median window p99", s.P99Factor),
		fmt.Sprintf("worst %.1f× (%s ÷ %s over %d windows)", s.P99.MaxRatio, msf(s.P99.MaxP99MS), msf(s.P99.MedianP99MS), s.P99.Windows))
	row(s.ProbesOK, "dead agents critical (stale) on the hub before they rejoined", "all", fmt.Sprintf("%d of %d (%d deaths, %d rejoins)", s.ProbesStale, s.Probes, s.Deaths, s.Rejoins))

	d.p("\n| | reports sent | answered 2xx | stored | heartbeat | non-2xx | no answer | reports/s | p50 | p90 | p99 | p99.9 | max |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	d.p("| whole run (%s) | %s | %s | %s | %s | %d | %d | **%s** | %s | %s | %s | %s | %s |\n", duration(s.DurationSeconds), rate(float64(s.Sent)), rate(float64(s.OK)),
		rate(float64(s.Outcomes["stored"])), rate(float64(s.Outcomes["heartbeat"])), s.Non2xx, s.Failed, strconv.FormatFloat(s.ReportsPerSecond, 'f', 1, 64),
		msf(s.Latency.P50), msf(s.Latency.P90), msf(s.Latency.P99), msf(s.Latency.P999), msf(s.Latency.Max))
	w := s.LatencyAfterWarmup
	d.p("| after the warm-up | | | | | | | | %s | %s | **%s** | %s | %s |\n", msf(w.P50), msf(w.P90), msf(w.P99), msf(w.P999), msf(w.Max))

	d.p("\n- The hub, after the warm-up: resident set (`/metrics`) %s", trendText(s.RSS, mibf))
	if s.ProcRSS.Judged {
		d.p(", %s → %s from /proc", mibf(s.ProcRSS.First), mibf(s.ProcRSS.Last))
	}
	d.p("; heap in use between %s and %s, its GC goal (`go_memstats_next_gc_bytes`: the live heap after the last collection × (1 + GOGC/100)) %s → %s; goroutines between %.0f and %.0f.\n",
		mibf(s.Heap.Min), mibf(s.Heap.Max), mibf(s.NextGC.First), mibf(s.NextGC.Last), s.Goroutines.Min, s.Goroutines.Max)
	d.p("- Answers by outcome: ")
	for i, k := range slices.Sorted(maps.Keys(s.Outcomes)) {
		if i > 0 {
			d.p(", ")
		}
		d.p("%s %s", k, rate(float64(s.Outcomes[k])))
	}
	d.p(" (a state change — an agent's first report of a boot, a flap — is stored before its answer; the rest are heartbeats, written in once-a-second batches); "+
		"%d answers other than the report called for; %d reports due while the agent's previous one was still in flight, %d missed for want of a free connection.\n",
		s.UnexpectedOutcomes, s.SkippedBusy, s.Missed)
	if len(s.StatusCodes) > 0 {
		d.p("- Non-2xx answers by status: ")
		for i, k := range slices.Sorted(maps.Keys(s.StatusCodes)) {
			if i > 0 {
				d.p(", ")
			}
			d.p("%s × %d", k, s.StatusCodes[k])
		}
		d.p(".\n")
	}
	if len(s.ProbeProblems) > 0 {
		d.p("- Dead agents the hub did not show stale: %s.\n", mdCell(strings.Join(s.ProbeProblems, "; ")))
	}
	if s.Store != nil && len(s.Store.Problems) > 0 {
		d.p("- Store problems: %s.\n", mdCell(strings.Join(s.Store.Problems, "; ")))
	}
	if len(s.Failures) > 0 {
		d.p("- Judgements missed: %s.\n", mdCell(strings.Join(s.Failures, "; ")))
	}
}

// soakSection writes section 8 from a `make soak` run (scripts/soak.sh): the run directory's
// soak/summary.json, and soak.png beside the document.
func soakSection(d *docWriter) (bool, error) {
	r := d.r
	s, ok, err := readAgentsSummary(r, "soak")
	if err != nil || !ok {
		if !ok {
			d.failed = append(d.failed, "soak: 1,000 agents for 30 min on PostgreSQL (make soak)")
		}
		return false, err
	}
	what := fmt.Sprintf("%s agents × %s on PostgreSQL", rate(float64(s.Agents)), duration(s.DurationSeconds))
	d.checks = append(d.checks,
		check{"soak: no report lost, " + what + " (hub counters = generator counters; store at each last answered report)", "equal, none lost",
			noLossText(s) + "; store: " + storeText(s), s.Loss.OK && s.Store != nil && s.Store.OK},
		check{"soak: hub heap in use after the warm-up, " + what, "≤ +" + pct(s.MaxHeapGrowth) + " per 10 min", trendText(s.Heap, mibf), s.Heap.OK},
		check{"soak: hub goroutines after the warm-up, " + what, "within ±" + pct(s.MaxGoroutineChange) + " per 10 min", trendText(s.Goroutines, count), s.Goroutines.OK},
		check{"soak: ingest p99 of each " + duration(s.SampleSeconds) + " window after the warm-up, " + what, fmt.Sprintf("≤ %.0f× the median window p99", s.P99Factor),
			fmt.Sprintf("worst %.1f× (%s ÷ %s)", s.P99.MaxRatio, msf(s.P99.MaxP99MS), msf(s.P99.MedianP99MS)), s.P99.OK},
	)
	m := r.machine
	d.p("## 8. Soak: %s agents for %s on PostgreSQL\n\n", rate(float64(s.Agents)), duration(s.DurationSeconds))
	d.p("Measured by `make soak` (`scripts/soak.sh`, figures by `loadgen doc --only soak`, which rewrites only this section and its rows of the targets table) on %s from commit `%s`, "+
		"apart from the run of the sections above; it took %s, and the load average (1/5/15 min) was %s at its start and %s at its end. "+
		"The hub (`bin/hub serve --dev`) runs on PostgreSQL %s in a database of its own, created for the soak and dropped after it, with its defaults otherwise: "+
		"`ingest.rate_per_instance` %s reports/s, gossip off. Reproduce with `make soak`; `SOAK_AGENTS` and `SOAK_DURATION` change its size and length.\n\n",
		m["date"], m["commit"], m["elapsed"], mdCell(m["loadavg_start"]), mdCell(m["loadavg_end"]), mdCell(m["postgres"]),
		strconv.FormatFloat(registry.DefaultConfig().RatePerInstance, 'f', -1, 64))
	fleetFigures(d, s)
	if r.exists("soak", "soak.png") {
		d.p("\n![Soak: reports/s, ingest latency p50 and p99, the hub's resident set and heap in use, and its goroutines, per %s window](soak.png)\n\n"+
			"The plot (`docs/soak.png`, gnuplot from `%s`): reports answered per second; p50 and p99 of each window; the hub's resident set (from `/metrics` and /proc), heap in use and GC goal; its goroutines. "+
			"The shaded span is the warm-up.\n", duration(s.SampleSeconds), agentsCSVFile)
	}
	d.p("\nCommands (run from the repository root by `scripts/soak.sh`):\n")
	d.cmd("soak-createdb", "soak-hub-serve", "soak-hub-tokens", "soak-agents", "soak-plot", "soak-dropdb")
	d.p("\n")
	return true, nil
}

// agentsFleetSection writes section 9 from the `agents` part of scripts/bench.sh: the run
// directory's agents/summary.json.
func agentsFleetSection(d *docWriter) (bool, error) {
	r := d.r
	s, ok, err := readAgentsSummary(r, "agents")
	if err != nil || !ok {
		if !ok {
			d.failed = append(d.failed, "agents: 10,000 agents at their intervals (scripts/bench.sh agents)")
		}
		return false, err
	}
	what := fmt.Sprintf("%s agents × %s on the embedded store", rate(float64(s.Agents)), duration(s.DurationSeconds))
	d.checks = append(d.checks,
		check{"agents: no report lost, " + what + " (hub counters = generator counters; store at each last answered report)", "equal, none lost",
			noLossText(s) + "; store: " + storeText(s), s.Loss.OK && s.Store != nil && s.Store.OK},
		check{"agents: dead agents critical (stale) on the hub before they rejoined, " + what, "all",
			fmt.Sprintf("%d of %d", s.ProbesStale, s.Probes), s.ProbesOK},
		check{"agents: ingest p99 of each " + duration(s.SampleSeconds) + " window after the warm-up, " + what, fmt.Sprintf("≤ %.0f× the median window p99", s.P99Factor),
			fmt.Sprintf("worst %.1f× (%s ÷ %s)", s.P99.MaxRatio, msf(s.P99.MaxP99MS), msf(s.P99.MedianP99MS)), s.P99.OK},
	)
	m := r.machine
	d.p("## 9. %s agents at their intervals\n\n", rate(float64(s.Agents)))
	d.p("The `agents` part of `scripts/bench.sh`, run with the others by `make bench` or alone by `scripts/bench.sh agents` (which then rewrites only this section and its rows of the targets table, with `loadgen doc --only agents`); "+
		"this one ran on %s from commit `%s`. The hub (`bin/hub serve --dev`, embedded store, the benchmark's `hub.yaml` of section 1) holds %s instances reporting every %s: "+
		"%s reports/s on average, steady rather than saturating as in section 1. The store is checked with `loadgen agents-verify` once the hub has stopped (it holds the file's lock while it runs).\n\n",
		m["date"], m["commit"], rate(float64(s.Agents)), duration(s.IntervalSeconds), rate(float64(s.Agents)/s.IntervalSeconds))
	fleetFigures(d, s)
	d.p("\nCommands (run from the repository root by `scripts/bench.sh`):\n")
	d.cmd("agents-hub-serve", "agents-hub-tokens", "agents-run", "agents-verify")
	d.p("\n")
	return true, nil
}

// storeInText names a verified store within a sentence.
func storeInText(store string) string {
	if store == "postgres" {
		return "PostgreSQL"
	}
	return "the bbolt file"
}
