package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/pgtest"
	"github.com/centralhub/centralhub/hub/internal/postgres"
	"github.com/centralhub/centralhub/pkg/auth"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// TestPostgresOutage: the hub on PostgreSQL loses its database for five seconds while twelve
// instances report state changes and a dashboard reads. Throughout, the dashboard answers 200
// and ingest answers 200 or 202; during the outage /health says degraded, a human write gets
// 503 and state changes are answered 202 "queued". Once the database is back, everything the
// hub kept in memory reaches it: every instance's boot, seq and check statuses are those of
// the last report the hub accepted, and the history holds every status change, in order,
// including those reported while the database was away.
func TestPostgresOutage(t *testing.T) {
	directURL := pgtest.Schema(t)
	px := newPGProxy(t, directURL)
	dir := t.TempDir()
	// Reports declare a 1 s interval; with stale_after at 100 the instances cannot go stale
	// (a hub-judged transition) after the reports stop.
	cfg := writeHubConfig(t, dir, "registry: {stale_after: 100}\n")
	since := time.Now().Add(-time.Minute)
	h := startHub(t, dir+"/data", freePort(t), "--database-url", px.url(t, directURL), "--config", cfg)

	o := &outage{
		url:    h.url,
		client: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}},
	}
	services := []string{"orders", "billing", "search"}
	for s, svc := range services {
		tok := issue(t, auth.Agent, "default", svc)
		for i := range 4 {
			n := len(o.instances)
			o.instances = append(o.instances, &outageInstance{
				service: svc, name: fmt.Sprintf("%s-%d", svc, i+1), token: tok, idx: n,
				boot:     time.Now().UnixNano() + int64(n),
				every:    100*time.Millisecond + time.Duration((s*4+i)*9)*time.Millisecond, // 100–199 ms
				accepted: map[string][]status.Check{},
			})
		}
	}
	viewer := issue(t, auth.Viewer, "default", "") // viewers cannot hold tenant "*"; every service is in "default"
	operator := issue(t, auth.Operator, "default", "")
	metricsTok := issue(t, auth.Metrics, "*", "")

	// Reporters and the dashboard reader; stopped explicitly below, and by the cleanup (which
	// runs before the hub's) if the test ends early.
	stopReports, stopReader := make(chan struct{}), make(chan struct{})
	var reporters, reader sync.WaitGroup
	var stopR, stopD sync.Once
	endReports := func() { stopR.Do(func() { close(stopReports) }); reporters.Wait() }
	endReader := func() { stopD.Do(func() { close(stopReader) }); reader.Wait() }
	t.Cleanup(func() { endReports(); endReader() })
	for _, in := range o.instances {
		reporters.Go(func() { o.report(in, stopReports) })
	}
	reader.Go(func() { o.read(viewer, stopReader) })

	// A few seconds of ingest with the store up.
	time.Sleep(3 * time.Second)
	if doc := hubHealth(t, h); doc != "healthy" {
		t.Fatalf("/health before the outage: %q", doc)
	}

	// The outage.
	cutAt := time.Now()
	o.phase.Store(phaseCut)
	px.cut()
	eventually(t, 5*time.Second, "/health degraded during the outage", func() error {
		if st := hubHealth(t, h); st != "degraded" {
			return fmt.Errorf("/health status %q", st)
		}
		return nil
	})
	degradedAfter := time.Since(cutAt)
	if v, err := metricValue(hubMetrics(t, h, metricsTok), "centralhub_store_up"); err != nil || v != 0 {
		t.Fatalf("centralhub_store_up during the outage: %v %v, want 0", v, err)
	}
	now := time.Now().UTC()
	silence := func(comment string) string {
		return fmt.Sprintf(`{"matchers": [{"name": "service", "value": "orders", "is_regex": false}], "starts_at": %q, "ends_at": %q, "comment": %q}`,
			now.Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339), comment)
	}
	code, body := post(t, h.url+"/api/v1/dashboard/silences", operator, silence("during the outage"))
	var apiErr struct {
		Error string `json:"error"`
	}
	if code != http.StatusServiceUnavailable || json.Unmarshal([]byte(body), &apiErr) != nil || apiErr.Error == "" {
		t.Fatalf("silence during the outage: %d %s, want 503 with a JSON error", code, body)
	}
	time.Sleep(time.Until(cutAt.Add(5 * time.Second)))

	// The database returns; reports go on a little, then stop.
	restoredAt := time.Now()
	o.phase.Store(phaseAfter)
	px.restore()
	var healthyAt time.Time // when /health first said healthy again, if within the reporting
	for time.Since(restoredAt) < 3*time.Second {
		if healthyAt.IsZero() && hubHealth(t, h) == "healthy" {
			healthyAt = time.Now()
		}
		time.Sleep(50 * time.Millisecond)
	}
	endReports()
	stoppedAt := time.Now()

	// Everything kept in memory reaches the store.
	var lastMetrics string
	eventually(t, 60*time.Second, "the store caught up after the outage", func() error {
		if st := hubHealth(t, h); st != "healthy" {
			return fmt.Errorf("/health status %q", st)
		}
		lastMetrics = hubMetrics(t, h, metricsTok)
		for _, series := range []string{"centralhub_store_pending_writes", `centralhub_history_queue_length{kind="sample"}`,
			`centralhub_history_queue_length{kind="transition"}`} {
			if v, err := metricValue(lastMetrics, series); err != nil || v != 0 {
				return fmt.Errorf("%s = %v (%v)", series, v, err)
			}
		}
		if v, err := metricValue(lastMetrics, "centralhub_store_up"); err != nil || v != 1 {
			return fmt.Errorf("centralhub_store_up = %v (%v)", v, err)
		}
		return nil
	})
	caughtUp := time.Now()
	endReader()

	// Human writes work again; the one refused during the outage left nothing behind.
	if code, body := post(t, h.url+"/api/v1/dashboard/silences", operator, silence("after the outage")); code != http.StatusCreated {
		t.Fatalf("silence after the outage: %d %s", code, body)
	}
	var silences struct {
		Silences []struct {
			Comment string `json:"comment"`
		} `json:"silences"`
	}
	if code, body := getJSON(t, h.url+"/api/v1/dashboard/silences", viewer, &silences); code != 200 || len(silences.Silences) != 1 ||
		silences.Silences[0].Comment != "after the outage" {
		t.Fatalf("silences after the outage: %d %s", code, body)
	}

	// Nothing went wrong on the way.
	o.mu.Lock()
	reportFailures, dashFailures := o.reportFailures, o.dashFailures
	o.mu.Unlock()
	if len(reportFailures) > 0 {
		t.Errorf("%d reports were not answered 200, 202 or 429; the first: %s", len(reportFailures), strings.Join(reportFailures[:min(5, len(reportFailures))], "; "))
	}
	if len(dashFailures) > 0 {
		t.Errorf("the dashboard did not answer 200 %d times; the first: %s", len(dashFailures), strings.Join(dashFailures[:min(5, len(dashFailures))], "; "))
	}
	if n := o.answered[phaseBefore][answeredQueued].Load(); n != 0 {
		t.Errorf("%d reports answered 202 before the outage", n)
	}
	if n := o.answered[phaseCut][answeredQueued].Load(); n == 0 {
		t.Errorf("no report was answered 202 queued during the outage")
	}
	if n := o.dashPolls[phaseCut].Load(); n == 0 {
		t.Errorf("the dashboard was not read during the outage")
	}
	if t.Failed() {
		t.FailNow()
	}

	// The database, read directly (not through the proxy).
	ctx := context.Background()
	st, err := postgres.Open(ctx, directURL, postgres.Options{})
	if err != nil {
		t.Fatalf("open the store directly: %v", err)
	}
	defer st.Close()
	eventually(t, 10*time.Second, "the store holds every instance's last accepted report", func() error {
		return o.compareInstances(ctx, st)
	})
	matchedAt := time.Now()

	// History: for each instance, check (and the instance itself), the transitions in order
	// are the changes of the statuses the hub accepted.
	var total, duringCut int
	for _, svc := range services {
		hist, err := st.QueryHistory(ctx, hub.HistoryQuery{Tenant: "default", Service: svc, Since: since, Until: time.Now().Add(time.Minute), Step: time.Minute})
		if err != nil {
			t.Fatalf("query history of %s: %v", svc, err)
		}
		if hist.Truncated {
			t.Fatalf("history of %s truncated without a limit", svc)
		}
		total += len(hist.Transitions)
		for _, tr := range hist.Transitions {
			if !tr.At.Before(cutAt) && tr.At.Before(restoredAt) {
				duringCut++
			}
		}
		got := map[[2]string][]hub.TransitionRecord{}
		for _, tr := range hist.Transitions {
			k := [2]string{tr.Instance, tr.Check}
			got[k] = append(got[k], tr)
		}
		for _, in := range o.instances {
			if in.service != svc {
				continue
			}
			for _, check := range append([]string{""}, outageChecks...) {
				k := [2]string{in.name, check}
				if err := sameChanges(got[k], in.accepted[check]); err != nil {
					t.Errorf("%s/%s check %q: %v", svc, in.name, check, err)
				}
				delete(got, k)
			}
		}
		for k, trs := range got {
			t.Errorf("%s: unexpected transitions of instance %q check %q: %+v", svc, k[0], k[1], trs)
		}

		// The API serves the same history from the store.
		var api struct {
			Transitions []struct{ Instance, Check, From, To string }
		}
		if code, body := getJSON(t, h.url+"/api/v1/dashboard/services/"+svc+"/history", viewer, &api); code != 200 {
			t.Fatalf("history API of %s: %d %s", svc, code, body)
		}
		var want, have []string
		for _, tr := range hist.Transitions {
			want = append(want, fmt.Sprintf("%s/%s %s>%s", tr.Instance, tr.Check, tr.From, tr.To))
		}
		for _, tr := range api.Transitions {
			have = append(have, fmt.Sprintf("%s/%s %s>%s", tr.Instance, tr.Check, tr.From, tr.To))
		}
		if !slices.Equal(want, have) {
			t.Errorf("history API of %s differs from the store:\n api   %v\n store %v", svc, have, want)
		}
	}
	if duringCut == 0 {
		t.Errorf("no transition in the store is dated within the outage")
	}
	h.stop(t) // a clean exit after the outage

	var sent, polls int64
	for p := range o.sent {
		sent += o.sent[p].Load()
		polls += o.dashPolls[p].Load()
	}
	t.Logf("reports sent: %d by %d instances; answered 200/202/429 before the outage %d/%d/%d, during it %d/%d/%d, after it %d/%d/%d",
		sent, len(o.instances),
		o.answered[phaseBefore][answeredOK].Load(), o.answered[phaseBefore][answeredQueued].Load(), o.answered[phaseBefore][answeredLimited].Load(),
		o.answered[phaseCut][answeredOK].Load(), o.answered[phaseCut][answeredQueued].Load(), o.answered[phaseCut][answeredLimited].Load(),
		o.answered[phaseAfter][answeredOK].Load(), o.answered[phaseAfter][answeredQueued].Load(), o.answered[phaseAfter][answeredLimited].Load())
	for p, name := range []string{"before the outage", "during it", "after it"} {
		t.Logf("outcomes %s: stored %d, heartbeat %d, queued %d", name, o.outcomes[p][0].Load(), o.outcomes[p][1].Load(), o.outcomes[p][2].Load())
	}
	if healthyAt.IsZero() {
		t.Logf("/health not yet healthy when the reports stopped, 3 s after the restore (write backoff)")
	} else {
		t.Logf("/health healthy again %s after the restore", healthyAt.Sub(restoredAt).Round(time.Millisecond))
	}
	t.Logf("dashboard polls: %d (%d during the outage), all 200; slowest %s", polls, o.dashPolls[phaseCut].Load(), o.slowest())
	t.Logf("degraded %s after the cut; store caught up %s after the restore (%s after the reports stopped); store matched the last reports %s later",
		degradedAfter.Round(time.Millisecond), caughtUp.Sub(restoredAt).Round(time.Millisecond),
		caughtUp.Sub(stoppedAt).Round(time.Millisecond), matchedAt.Sub(caughtUp).Round(time.Millisecond))
	t.Logf("history: %d transitions, %d dated within the outage; proxy: %d connections forwarded, %d refused while cut",
		total, duringCut, px.forwarded.Load(), px.refused.Load())
	if w, err := metricValue(lastMetrics, "centralhub_store_write_errors_total"); err == nil {
		t.Logf("centralhub_store_write_errors_total at catch-up: %v", w)
	}
}

// outageChecks are every reporting instance's checks.
var outageChecks = []string{"web", "db"}

const (
	phaseBefore = iota
	phaseCut
	phaseAfter
)

// What a report was answered.
const (
	answeredOK      = iota // 200
	answeredQueued         // 202
	answeredLimited        // 429
)

type outage struct {
	url       string
	client    *http.Client
	instances []*outageInstance
	phase     atomic.Int32

	sent      [3]atomic.Int64    // per phase the report was sent in
	answered  [3][3]atomic.Int64 // per phase the answer came in, and answer
	outcomes  [3][3]atomic.Int64 // per phase the answer came in: stored, heartbeat, queued
	dashPolls [3]atomic.Int64    // per phase

	mu             sync.Mutex
	reportFailures []string
	dashFailures   []string
	slowestPoll    time.Duration
}

// outageInstance is one reporting instance. Its reporter goroutine alone writes the fields
// below token; they are read once it has ended.
type outageInstance struct {
	service, name, token string
	idx                  int
	boot                 int64
	every                time.Duration

	seq      uint64
	last     *protocol.Report          // the last report answered 200 or 202
	accepted map[string][]status.Check // per check, and "" for the instance: the statuses of the accepted reports
}

// reportFor is the instance's report number seq: web flips every 5th report, db turns warning
// for 11 reports of every 33, at offsets of their own per instance.
func (in *outageInstance) reportFor(seq uint64) protocol.Report {
	web, db := status.Passing, status.Passing
	if (seq+uint64(in.idx))/5%2 == 1 {
		web = status.Critical
	}
	if (seq+uint64(3*in.idx))/11%3 == 2 {
		db = status.Warning
	}
	now := time.Now().UTC()
	return protocol.Report{
		Version: protocol.Version, Tenant: "default", Service: in.service, Instance: in.name,
		Boot: in.boot, Seq: seq, SentAt: now, Interval: protocol.Duration(time.Second),
		Checks: []protocol.CheckResult{
			{Name: "web", Kind: "http", Status: web, Output: fmt.Sprintf("web %s at seq %d", web, seq), LatencyMS: float64(seq % 7), CheckedAt: now},
			{Name: "db", Kind: "tcp", Status: db, Output: fmt.Sprintf("db %s at seq %d", db, seq), LatencyMS: float64(seq % 5), CheckedAt: now},
		},
	}
}

func (o *outage) reportFailed(format string, args ...any) {
	o.mu.Lock()
	o.reportFailures = append(o.reportFailures, fmt.Sprintf(format, args...))
	o.mu.Unlock()
}

// report sends in's reports, one every in.every, until stop.
func (o *outage) report(in *outageInstance, stop <-chan struct{}) {
	tick := time.NewTicker(in.every)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		in.seq++
		rep := in.reportFor(in.seq)
		body, err := json.Marshal(rep)
		if err != nil {
			o.reportFailed("encode: %v", err)
			return
		}
		phase := o.phase.Load()
		o.sent[phase].Add(1)
		req, _ := http.NewRequest("POST", o.url+protocol.ReportPath, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+in.token)
		res, err := o.client.Do(req)
		if err != nil {
			o.reportFailed("%s seq %d: %v", in.name, in.seq, err)
			continue
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		// Answers count in the phase they came in: a report sent just before the cut may be
		// answered 202, its write broken by the cut.
		phase = o.phase.Load()
		var ans struct{ Outcome, Status string }
		_ = json.Unmarshal(b, &ans)
		checks := []status.Check{rep.Checks[0].Status, rep.Checks[1].Status}
		want := status.Instance(checks)
		switch {
		case res.StatusCode == http.StatusTooManyRequests:
			o.answered[phase][answeredLimited].Add(1)
			continue
		case res.StatusCode == http.StatusOK && (ans.Outcome == "stored" || ans.Outcome == "heartbeat"):
			o.answered[phase][answeredOK].Add(1)
			if ans.Outcome == "stored" {
				o.outcomes[phase][0].Add(1)
			} else {
				o.outcomes[phase][1].Add(1)
			}
		case res.StatusCode == http.StatusAccepted && ans.Outcome == "queued":
			o.answered[phase][answeredQueued].Add(1)
			o.outcomes[phase][2].Add(1)
		default:
			o.reportFailed("%s seq %d (phase %d): %d %s", in.name, in.seq, phase, res.StatusCode, strings.TrimSpace(string(b)))
			continue
		}
		if ans.Status != string(want) {
			o.reportFailed("%s seq %d: answered status %q, want %q (%s)", in.name, in.seq, ans.Status, want, strings.TrimSpace(string(b)))
		}
		in.last = &rep
		in.accepted[""] = append(in.accepted[""], want)
		for i, name := range outageChecks {
			in.accepted[name] = append(in.accepted[name], checks[i])
		}
	}
}

// read polls the dashboard every 50 ms until stop, recording every answer other than 200.
func (o *outage) read(token string, stop <-chan struct{}) {
	client := &http.Client{Timeout: 5 * time.Second}
	for {
		select {
		case <-stop:
			return
		case <-time.After(50 * time.Millisecond):
		}
		for _, path := range []string{"/api/v1/dashboard/health", "/api/v1/dashboard/summary"} {
			phase := o.phase.Load()
			start := time.Now()
			req, _ := http.NewRequest("GET", o.url+path, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			res, err := client.Do(req)
			var code int
			var body []byte
			if err == nil {
				code = res.StatusCode
				body, _ = io.ReadAll(res.Body)
				res.Body.Close()
			}
			d := time.Since(start)
			o.dashPolls[phase].Add(1)
			o.mu.Lock()
			o.slowestPoll = max(o.slowestPoll, d)
			switch {
			case err != nil:
				o.dashFailures = append(o.dashFailures, fmt.Sprintf("%s (phase %d): %v", path, phase, err))
			case code != http.StatusOK:
				o.dashFailures = append(o.dashFailures, fmt.Sprintf("%s (phase %d): %d %s", path, phase, code, strings.TrimSpace(string(body))))
			}
			o.mu.Unlock()
		}
	}
}

func (o *outage) slowest() time.Duration {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.slowestPoll.Round(time.Millisecond)
}

// compareInstances checks that the store holds exactly the reporting instances, each with the
// boot, seq and check statuses of the last report the hub accepted from it.
func (o *outage) compareInstances(ctx context.Context, st *postgres.Store) error {
	stored, err := st.LoadInstances(ctx)
	if err != nil {
		return err
	}
	byKey := map[hub.InstanceKey]hub.Instance{}
	for _, in := range stored {
		byKey[in.Key] = in
	}
	var problems []string
	for _, in := range o.instances {
		k := hub.InstanceKey{Tenant: "default", Service: in.service, Instance: in.name}
		got, found := byKey[k]
		delete(byKey, k)
		switch {
		case in.last == nil:
			problems = append(problems, in.name+": no report accepted")
		case !found:
			problems = append(problems, in.name+": not in the store")
		case got.Boot != in.last.Boot || got.Seq != in.last.Seq:
			problems = append(problems, fmt.Sprintf("%s: boot %d seq %d, the last accepted report boot %d seq %d", in.name, got.Boot, got.Seq, in.last.Boot, in.last.Seq))
		case got.Stale || got.Unreachable:
			problems = append(problems, fmt.Sprintf("%s: stale %v unreachable %v", in.name, got.Stale, got.Unreachable))
		default:
			if g, w := checkStatuses(got.Checks), checkStatuses(in.last.Checks); g != w {
				problems = append(problems, fmt.Sprintf("%s: checks %s, the last accepted report (seq %d) %s", in.name, g, in.last.Seq, w))
			}
		}
	}
	for k := range byKey {
		problems = append(problems, fmt.Sprintf("%v: in the store, never reported", k))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

func checkStatuses(cs []protocol.CheckResult) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, c.Name+"="+string(c.Status))
	}
	return strings.Join(parts, ",")
}

// sameChanges checks that trs, one check's (or instance's) transitions oldest first, are the
// changes of accepted, the statuses of the reports the hub accepted: the first one's
// appearance, then each change, in order.
func sameChanges(trs []hub.TransitionRecord, accepted []status.Check) error {
	var want []status.Check
	for _, s := range accepted {
		if len(want) == 0 || want[len(want)-1] != s {
			want = append(want, s)
		}
	}
	var got []string
	for _, tr := range trs {
		got = append(got, string(tr.From)+">"+string(tr.To))
	}
	var exp []string
	prev := status.Check("")
	for _, s := range want {
		exp = append(exp, string(prev)+">"+string(s))
		prev = s
	}
	if !slices.Equal(got, exp) {
		return fmt.Errorf("transitions\n  %v\nwant the changes of the %d accepted reports\n  %v", got, len(accepted), exp)
	}
	if len(trs) > 0 && trs[0].Check == "" && trs[0].Output != hub.ReasonRegistered {
		return fmt.Errorf("first instance transition has reason %q, want %q", trs[0].Output, hub.ReasonRegistered)
	}
	return nil
}

// hubHealth returns the status field of the hub's /health.
func hubHealth(t *testing.T, h *hubProc) string {
	t.Helper()
	res, err := http.Get(h.url + "/health")
	if err != nil {
		t.Fatalf("/health: %v", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var doc struct {
		Status string `json:"status"`
	}
	if res.StatusCode != 200 || json.Unmarshal(b, &doc) != nil {
		t.Fatalf("/health: %d %s", res.StatusCode, b)
	}
	return doc.Status
}

// hubMetrics returns the hub's /metrics exposition.
func hubMetrics(t *testing.T, h *hubProc, token string) string {
	t.Helper()
	code, body := getJSON(t, h.url+"/metrics", token, nil)
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	return body
}

// metricValue returns the value of one series of a Prometheus exposition, named with its
// labels as exposed (`name{label="value"}`).
func metricValue(text, series string) (float64, error) {
	for line := range strings.SplitSeq(text, "\n") {
		if rest, found := strings.CutPrefix(line, series); found && strings.HasPrefix(rest, " ") {
			return strconv.ParseFloat(strings.Fields(rest)[0], 64)
		}
	}
	return 0, fmt.Errorf("no series %s", series)
}
