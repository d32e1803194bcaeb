package main

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/bolt"
	"github.com/centralhub/centralhub/hub/internal/loadtest"
	"github.com/centralhub/centralhub/hub/internal/pgtest"
	"github.com/centralhub/centralhub/hub/internal/postgres"
	"github.com/centralhub/centralhub/pkg/status"
)

func TestLastSeqs(t *testing.T) {
	f := loadtest.Fleet{Instances: 5, PerService: 5, Boot: 1}
	// Thread 0 owns instances 0, 2, 4 and made 4 requests: 0, 2, 4, 0.
	// Thread 1 owns instances 1, 3 and made 3 requests: 1, 3, 1.
	w := wrkResult{Threads: 2, Generated: []uint64{4, 3}}
	got, err := w.lastSeqs(f, 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := []uint64{11, 11, 10, 10, 10}; !slices.Equal(got, want) {
		t.Fatalf("last seqs %v, want %v", got, want)
	}
	w.Generated = []uint64{0, 0}
	if got, _ := w.lastSeqs(f, 10); got[0] != 9 {
		t.Fatalf("with no requests the last seq is the registration's, got %d", got[0])
	}
}

// history is what a test store holds of the fleet's history: a sample of every stored
// instance (short of a check for the first when shortSample), and one transition.
type history struct{ shortSample bool }

// writeRun writes a store (on bbolt, or on PostgreSQL in a schema of its own) holding the
// fleet at the given seqs with the history h, and a wrk result of 2 threads that made
// generated requests, and returns the verify flags for them and the --out file.
func writeRun(t *testing.T, store string, f loadtest.Fleet, seqs map[int]uint64, h history, generated []uint64, statusErrors int64) ([]string, string) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	var (
		st       hub.Store
		err      error
		storeArg []string
	)
	switch store {
	case "bbolt":
		st, err = bolt.Open(filepath.Join(dir, "data"))
		storeArg = []string{"--db", filepath.Join(dir, "data", bolt.FileName)}
	case "postgres":
		url := pgtest.Schema(t)
		st, err = postgres.Open(ctx, url, postgres.Options{Migrate: true})
		storeArg = []string{"--database-url", url}
	}
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rnd := rand.New(rand.NewPCG(1, 1))
	var w hub.Writes
	for j, seq := range seqs {
		in := loadtest.Instance(f.Report(j, seq, false, rnd, now), now)
		w.Puts = append(w.Puts, in)
		smp := hub.Sample{Key: in.Key, At: now, Status: in.Status()}
		for _, c := range in.Checks {
			if h.shortSample && j == 0 && len(smp.Checks) == loadtest.Checks-1 {
				break
			}
			smp.Checks = append(smp.Checks, hub.CheckSample{Name: c.Name, Status: c.Status, LatencyMS: c.LatencyMS})
		}
		w.Samples = append(w.Samples, smp)
	}
	w.Transitions = []hub.Transition{{Key: f.Key(0), At: now, Check: "upstream", From: status.Passing, To: status.Warning, Output: "slow"}}
	if err := st.WriteInstances(ctx, w); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	gen := make([]string, len(generated))
	for i, g := range generated {
		gen[i] = strconv.FormatUint(g, 10)
	}
	wrk := `{"threads":2,"requests":1,"errors":{"status":` + strconv.FormatInt(statusErrors, 10) + `},"generated":[` + strings.Join(gen, ",") + `]}`
	if err := os.WriteFile(filepath.Join(dir, "wrk.json"), []byte(wrk), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "verify.json")
	return append(storeArg,
		"--wrk", filepath.Join(dir, "wrk.json"),
		"--start-seq", "2", "--connections", "2",
		"--since", strconv.FormatInt(now.Add(-time.Minute).UnixNano(), 10), "--until", strconv.FormatInt(now.Add(time.Minute).UnixNano(), 10),
		"--instances", strconv.Itoa(f.Instances), "--per-service", strconv.Itoa(f.PerService), "--boot", strconv.FormatInt(f.Boot, 10),
		"--out", out,
	), out
}

func TestVerify(t *testing.T) {
	f := loadtest.Fleet{Tenant: "default", Instances: 10, PerService: 5, Boot: 77}
	// 2 threads, 5 instances each; 12 requests each: every instance got 2 (seq 2, 3), and
	// instances 0, 2 (thread 0) and 1, 3 (thread 1) a third (seq 4).
	last := map[int]uint64{0: 4, 1: 4, 2: 4, 3: 4, 4: 3, 5: 3, 6: 3, 7: 3, 8: 3, 9: 3}
	with := func(changes map[int]uint64, drop ...int) map[int]uint64 {
		m := map[int]uint64{}
		for j, s := range last {
			m[j] = s
		}
		for j, s := range changes {
			m[j] = s
		}
		for _, j := range drop {
			delete(m, j)
		}
		return m
	}
	cases := []struct {
		name      string
		seqs      map[int]uint64
		h         history
		statusErr int64
		ok        bool
		durable   uint64 // reports of the run the store holds
	}{
		{"all at their last seq", last, history{}, 0, true, 24},
		{"the two in flight behind by one", with(map[int]uint64{0: 3, 1: 3}), history{}, 0, true, 22},
		{"three behind with two connections", with(map[int]uint64{0: 3, 1: 3, 4: 2}), history{}, 0, false, 21},
		{"three behind with two connections and one 5xx", with(map[int]uint64{0: 3, 1: 3, 4: 2}), history{}, 1, true, 21},
		{"one missing", with(nil, 7), history{}, 0, false, 22},
		{"one ahead of what was sent", with(map[int]uint64{9: 4}), history{}, 0, false, 24},
		{"a sample short of a check", last, history{shortSample: true}, 0, false, 24},
	}
	for _, store := range []string{"bbolt", "postgres"} {
		for _, tc := range cases {
			t.Run(store+"/"+tc.name, func(t *testing.T) {
				args, out := writeRun(t, store, f, tc.seqs, tc.h, []uint64{12, 12}, tc.statusErr)
				err := verify(context.Background(), args, io.Discard)
				if (err == nil) != tc.ok {
					t.Fatalf("verify: %v, want ok=%v", err, tc.ok)
				}
				var res verifyResult
				if err := readJSONFile(out, &res); err != nil {
					t.Fatal(err)
				}
				samples := int64(len(tc.seqs))
				checks := samples * loadtest.Checks
				if tc.h.shortSample {
					checks--
				}
				if res.Store != store || res.DurableReports != tc.durable || res.HistorySamples != samples || res.HistoryCheckPoints != checks ||
					res.HistorySampleRows != samples*(loadtest.Checks+1) || res.HistoryTransitions != 1 ||
					res.RowsDurable != int64(tc.durable)+samples*(loadtest.Checks+1)+1 {
					t.Fatalf("store %s: %d durable reports, %d samples (%d rows, %d check results), %d transitions, %d rows; want %s: %d, %d (%d, %d), 1, %d",
						res.Store, res.DurableReports, res.HistorySamples, res.HistorySampleRows, res.HistoryCheckPoints, res.HistoryTransitions, res.RowsDurable,
						store, tc.durable, samples, samples*(loadtest.Checks+1), checks, int64(tc.durable)+samples*(loadtest.Checks+1)+1)
				}
				if want := float64(res.RowsDurable) / 120; math.Abs(res.RowsPerSecond-want) > 1e-9 {
					t.Fatalf("rows/s %v, want %v over the 2-minute window", res.RowsPerSecond, want)
				}
				if strings.Contains(res.File, "@") {
					t.Fatalf("the result names the store as %q", res.File)
				}
			})
		}
	}
}

func TestReadHeyCSV(t *testing.T) {
	var b strings.Builder
	b.WriteString("response-time,DNS+dialup,DNS,Request-write,Response-delay,Response-read,status-code,offset\n")
	for i := 1; i <= 100; i++ {
		b.WriteString(strconv.FormatFloat(float64(i)/10000, 'f', 4, 64) + ",0,0,0,0,0,200," + strconv.Itoa(i) + "\n")
	}
	b.WriteString("0.5000,0,0,0,0,0,503,101\n")
	path := filepath.Join(t.TempDir(), "hey.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := readHeyCSV(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.n != 100 || st.non2xx != 1 || st.p50 != 5 || st.p99 != 9.9 || st.max != 10 {
		t.Fatalf("got n=%d non2xx=%d p50=%v p99=%v max=%v", st.n, st.non2xx, st.p50, st.p99, st.max)
	}
}

func TestReadGNUTime(t *testing.T) {
	const out = `	Command being timed: "timeout --signal=TERM --preserve-status 60s bin/agent --config a.yaml"
	User time (seconds): 0.31
	System time (seconds): 0.12
	Percent of CPU this job got: 0%
	Elapsed (wall clock) time (h:mm:ss or m:ss): 1:00.02
	Maximum resident set size (kbytes): 14336
	Exit status: 0
`
	path := filepath.Join(t.TempDir(), "time.txt")
	if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := readGNUTime(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.maxRSSKB != 14336 || st.user != 0.31 || st.sys != 0.12 || st.elapsed != "1:00.02" || st.exit != "0" {
		t.Fatalf("got %+v", st)
	}
}

func TestBenchWorst(t *testing.T) {
	out := `BenchmarkImpact-2   	     100	   1000 ns/op	         2.50 p99-ms	  10 B/op
BenchmarkImpact-2   	     100	   1000 ns/op	         3.10 p99-ms	  10 B/op
BenchmarkEvaluate/instances=10000/rules=50/critical=10%-2         	      10	   4086547 ns/op	 1250824 B/op	   23254 allocs/op
BenchmarkEvaluate/instances=10000/rules=50/critical=100%-2        	      10	  49570522 ns/op	12652344 B/op	  225352 allocs/op
`
	for _, tc := range []struct {
		name, unit string
		want       float64
	}{
		{"BenchmarkImpact", "p99-ms", 3.10},
		{"BenchmarkEvaluate/instances=10000/rules=50/critical=100%", "ns/op", 49570522},
		{"BenchmarkEvaluate/instances=10000/rules=50/critical=10%", "ns/op", 4086547},
		{"BenchmarkBuild", "ns/op", 0},
	} {
		if got := benchWorst(out, tc.name, tc.unit); got != tc.want {
			t.Errorf("%s %s: %v, want %v", tc.name, tc.unit, got, tc.want)
		}
	}

	// The same benchmark in two packages, told apart by the "pkg:" lines.
	out = `pkg: github.com/centralhub/centralhub/hub/internal/bolt
BenchmarkHistoryWeek-2   	    2491	    513110 ns/op	  345696 B/op	     942 allocs/op
BenchmarkHistoryWeek-2   	    2491	    613110 ns/op	  345696 B/op	     942 allocs/op
PASS
ok  	github.com/centralhub/centralhub/hub/internal/bolt	6.479s
goos: linux
pkg: github.com/centralhub/centralhub/hub/internal/postgres
BenchmarkHistoryWeek-2   	     194	   6050166 ns/op	  319638 B/op	    8741 allocs/op
`
	for _, tc := range []struct {
		pkg  string
		want float64
	}{{"internal/bolt", 613110}, {"internal/postgres", 6050166}, {"", 6050166}, {"bolt", 613110}, {"internal/graph", 0}} {
		if got := benchWorstIn(out, tc.pkg, "BenchmarkHistoryWeek", "ns/op"); got != tc.want {
			t.Errorf("BenchmarkHistoryWeek in %q: %v, want %v", tc.pkg, got, tc.want)
		}
	}
}

// writeIngestRun writes a bench.sh run directory holding only the ingest part: the bare
// handler at 20,000 reports/s, the hub on the embedded store at embedded durable reports/s
// and, when postgres > 0, the hub on PostgreSQL at postgres durable reports/s, each over a
// 10-second window.
func writeIngestRun(t *testing.T, embedded, postgres float64) string {
	t.Helper()
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, content string) {
		t.Helper()
		must(os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
		must(os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	write("machine.txt", "date=2026-01-02 03:04 UTC\ncommit=abc\nnproc=2\nservices=100\nconnections=32\npostgres=15.20\n")
	cmds := "ingest-bare-wrk\twrk -t 2 bare\ningest-hub-wrk\twrk -t 2 hub\n" +
		"ingest-postgres-hub-serve\tbin/hub serve --dev --database-url postgres://postgres@127.0.0.1:5432/centralhub_bench_x\\?sslmode=disable\n" +
		"ingest-postgres-verify-drained\t.bench/bin/loadgen verify --database-url postgres://postgres@127.0.0.1:5432/centralhub_bench_x\n"
	write("commands.txt", cmds)
	const start, window = int64(1_000_000_000_000), int64(10e9)
	wrk := func(requests int) string {
		return `{"threads":2,"duration_us":9000000,"requests":` + strconv.Itoa(requests) +
			`,"errors":{},"latency_us":{"p50":1000,"p90":2000,"p99":4000,"p999":8000,"max":9000},"generated":[1,1]}`
	}
	verified := func(store string, perSecond float64) string {
		reports := int64(perSecond * 10)
		v := verifyResult{Store: store, Stored: 10_000, AtLastSent: 10_000, OK: true, SinceUnixN: start, UntilUnixN: start + window,
			DurableReports: uint64(reports), HistorySamples: 10_000, ChecksPerSample: 5, HistorySampleRows: 60_000, HistoryCheckPoints: 50_000,
			HistoryTransitions: 1_500, RowsDurable: reports + 61_500, ReportsPerSecond: perSecond, RowsPerSecond: float64(reports+61_500) / 10}
		b, err := json.Marshal(v)
		must(err)
		return string(b)
	}
	drained := `{"drained_at_unix_nano":` + strconv.FormatInt(start+window, 10) + `,"waited_ms":1000,"writes_before":10,"writes_after":11,"barrier_outcome":"stored"}`
	write("ingest/bare.wrk.json", wrk(180_000))
	write("ingest/hub.wrk.json", wrk(int(embedded*10)))
	write("ingest/hub.start_ns", strconv.FormatInt(start, 10)+"\n")
	write("ingest/drain.json", drained)
	write("ingest/verify-drained.json", verified("bbolt", embedded))
	write("ingest/verify-final.json", verified("bbolt", embedded))
	write("ingest/memory.txt", "bare 20480\nhub-embedded 102400\n")
	if postgres > 0 {
		write("ingest/postgres.wrk.json", wrk(int(postgres*10)))
		write("ingest/postgres.start_ns", strconv.FormatInt(start, 10)+"\n")
		write("ingest/drain-postgres.json", drained)
		write("ingest/verify-postgres-drained.json", verified("postgres", postgres))
		write("ingest/verify-postgres-final.json", verified("postgres", postgres))
	}
	return dir
}

func TestDocIngest(t *testing.T) {
	const row = "| ingest: PostgreSQL ingest ÷ embedded (durable reports/s) | ≥ 80% | "
	for _, tc := range []struct {
		name               string
		embedded, postgres float64
		want               []string
		notWant            []string
	}{
		{"met", 10_000, 8_500, []string{
			row + "85% (8,500 ÷ 10,000) | met |",
			"| ingest: every answered report durable in PostgreSQL | all 10,000 instances, no loss | verified | met |",
			"| hub, embedded store, durable | **10,000** |",
			"| hub, PostgreSQL, durable | **8,500** |",
			// reports/s and rows/s of each store, and the ratios
			"| Embedded store (bbolt) | 10.00 s | 100,000 | **10,000** | 10,000 | 60,000 | 1,500 | 161,500 | **16,150** |",
			"| PostgreSQL | 10.00 s | 85,000 | **8,500** | 10,000 | 60,000 | 1,500 | 146,500 | **14,650** |",
			"| PostgreSQL ÷ embedded | | | **85%** | | | | | **91%** |",
			"bin/hub serve --dev --database-url postgres://postgres@127.0.0.1:5432/centralhub_bench_x",
			"On PostgreSQL:\n\n```sh\nbin/hub serve --dev --database-url",
			"loadgen verify --database-url",
		}, nil},
		{"missed", 10_000, 7_000, []string{row + "70% (7,000 ÷ 10,000) | **missed** |"}, nil},
		{"not measured", 10_000, 0, []string{"| ingest: PostgreSQL ingest ÷ embedded (durable reports/s) | | not measured | **missing** |",
			"| hub, embedded store, durable | **10,000** |"},
			[]string{"| hub, PostgreSQL", "On PostgreSQL:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := writeIngestRun(t, tc.embedded, tc.postgres)
			out := filepath.Join(run, "BENCHMARKS.md")
			if err := doc(context.Background(), []string{"--run", run, "--out", out}, io.Discard); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("the document lacks %q", w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(string(b), w) {
					t.Errorf("the document has %q", w)
				}
			}
			if t.Failed() {
				t.Logf("document:\n%s", b)
			}
		})
	}
}
