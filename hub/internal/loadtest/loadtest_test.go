package loadtest_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/centralhub/centralhub/hub/internal/loadtest"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

func TestReportsAreValid(t *testing.T) {
	f := loadtest.DefaultFleet(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	rnd := rand.New(rand.NewPCG(1, 2))
	now := time.Now()
	for _, j := range []int{0, 1, 99, 100, 4217, 9999} {
		for _, flipped := range []bool{false, true} {
			body, err := json.Marshal(f.Report(j, 3, flipped, rnd, now))
			if err != nil {
				t.Fatal(err)
			}
			rep, err := protocol.Decode(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("instance %d: %v", j, err)
			}
			if err := rep.Validate(); err != nil {
				t.Fatalf("instance %d: %v", j, err)
			}
			if got, ok := f.Index(f.Key(j)); !ok || got != j || rep.Instance != f.Key(j).Instance {
				t.Fatalf("instance %d: key %v indexes as %d, %v", j, f.Key(j), got, ok)
			}
			want := status.Passing
			if flipped {
				want = status.Warning
			}
			if len(rep.Checks) != loadtest.Checks {
				t.Fatalf("instance %d: %d checks, want %d", j, len(rep.Checks), loadtest.Checks)
			}
			if got := rep.Checks[loadtest.UpstreamCheck].Status; got != want {
				t.Fatalf("instance %d flipped=%v: upstream is %s", j, flipped, got)
			}
		}
	}
}

func TestTemplateMatchesReport(t *testing.T) {
	f := loadtest.DefaultFleet(1)
	rep := f.Report(42, 1, false, rand.New(rand.NewPCG(3, 4)), time.Now())
	tpl, err := loadtest.NewTemplate(rep)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		seq uint64
		st  status.Check
	}{{1, status.Passing}, {123456789, status.Warning}} {
		got, err := protocol.Decode(bytes.NewReader(tpl.Append(nil, tc.seq, tc.st)))
		if err != nil {
			t.Fatal(err)
		}
		want := *rep
		want.Checks = append([]protocol.CheckResult(nil), rep.Checks...)
		want.Seq, want.Checks[loadtest.UpstreamCheck].Status = tc.seq, tc.st
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(&want)
		if !bytes.Equal(a, b) {
			t.Fatalf("template gives\n%s\nwant\n%s", a, b)
		}
	}
}

func TestFlipsShare(t *testing.T) {
	const n, reports = 1000, 200_000
	fl := loadtest.NewFlips(n, 0.01)
	rnd := rand.New(rand.NewPCG(5, 6))
	changes := 0
	for i := range reports {
		if _, changed := fl.Next(i%n, rnd); changed {
			changes++
		}
	}
	if share := float64(changes) / reports; share < 0.008 || share > 0.012 {
		t.Fatalf("%.4f of reports changed a status, want about 0.01", share)
	}
}
