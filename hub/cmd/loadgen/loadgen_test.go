package main

import (
	"context"
	"io"
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

// writeRun writes a store holding the fleet at the given seqs and a wrk result of 2 threads
// that made generated requests, and returns the verify flags for them.
func writeRun(t *testing.T, f loadtest.Fleet, seqs map[int]uint64, generated []uint64, statusErrors int64) []string {
	t.Helper()
	dir := t.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	rnd := rand.New(rand.NewPCG(1, 1))
	var ins []hub.Instance
	for j, seq := range seqs {
		ins = append(ins, loadtest.Instance(f.Report(j, seq, false, rnd, now), now))
	}
	if err := st.WriteInstances(context.Background(), hub.Writes{Puts: ins}); err != nil {
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
	return []string{
		"--db", filepath.Join(dir, "data", bolt.FileName), "--wrk", filepath.Join(dir, "wrk.json"),
		"--start-seq", "2", "--connections", "2",
		"--since", strconv.FormatInt(now.Add(-time.Minute).UnixNano(), 10), "--until", strconv.FormatInt(now.Add(time.Minute).UnixNano(), 10),
		"--instances", strconv.Itoa(f.Instances), "--per-service", strconv.Itoa(f.PerService), "--boot", strconv.FormatInt(f.Boot, 10),
	}
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
		statusErr int64
		ok        bool
	}{
		{"all at their last seq", last, 0, true},
		{"the two in flight behind by one", with(map[int]uint64{0: 3, 1: 3}), 0, true},
		{"three behind with two connections", with(map[int]uint64{0: 3, 1: 3, 4: 2}), 0, false},
		{"three behind with two connections and one 5xx", with(map[int]uint64{0: 3, 1: 3, 4: 2}), 1, true},
		{"one missing", with(nil, 7), 0, false},
		{"one ahead of what was sent", with(map[int]uint64{9: 4}), 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := writeRun(t, f, tc.seqs, []uint64{12, 12}, tc.statusErr)
			err := verify(context.Background(), args, io.Discard)
			if (err == nil) != tc.ok {
				t.Fatalf("verify: %v, want ok=%v", err, tc.ok)
			}
		})
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
