package check

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/status"
)

// fakeProc points the memory and load checks at files the test writes, until the test ends.
func fakeProc(t *testing.T, files map[string]string) {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	old := procDir
	procDir = dir
	t.Cleanup(func() { procDir = old })
}

const meminfo = `MemTotal:        8000000 kB
MemFree:          500000 kB
MemAvailable:    2000000 kB
Buffers:          100000 kB
`

// TestHostChecks judges the host's figures: the real filesystem and /proc with thresholds that
// must pass, warn or fail whatever this machine holds, and fixed kernel files for exact figures
// and for files the kernel would not write.
func TestHostChecks(t *testing.T) {
	cpus := runtime.NumCPU()
	fixed := map[string]string{"meminfo": meminfo, "loadavg": fmt.Sprintf("%d.00 %d.00 %d.00 2/345 6789\n", cpus, 2*cpus, 4*cpus)}
	for _, tc := range []struct {
		name  string
		proc  map[string]string // nil: the real /proc
		check *Host
		want  status.Check
		out   string
	}{
		{"disk passes", nil, NewDisk(&config.DiskCheck{Path: t.TempDir(), WarnPercent: 100, CriticalPercent: 100}), status.Passing, " free)"},
		{"disk warns", nil, NewDisk(&config.DiskCheck{Path: "/", WarnPercent: 0.001, CriticalPercent: 100}), status.Warning, "at or above warning 0.0%"},
		{"disk critical", nil, NewDisk(&config.DiskCheck{Path: "/", WarnPercent: 0.001, CriticalPercent: 0.001}), status.Critical, "at or above critical 0.0%"},
		{"disk path missing", nil, NewDisk(&config.DiskCheck{Path: "/no/such/dir", WarnPercent: 80, CriticalPercent: 90}), status.Critical, "disk /no/such/dir: statfs: no such file or directory"},
		{"real memory", nil, NewMemory(&config.MemoryCheck{WarnPercent: 100, CriticalPercent: 100}), status.Passing, " available of "},
		{"memory figures", fixed, NewMemory(&config.MemoryCheck{WarnPercent: 70, CriticalPercent: 80}), status.Warning,
			"memory: 75.0% (1.9 GiB available of 7.6 GiB), at or above warning 70.0%"},
		{"memory critical", fixed, NewMemory(&config.MemoryCheck{WarnPercent: 50, CriticalPercent: 75}), status.Critical, "at or above critical 75.0%"},
		{"memory without MemAvailable", map[string]string{"meminfo": "MemTotal: 8000000 kB\n"}, NewMemory(&config.MemoryCheck{WarnPercent: 90, CriticalPercent: 95}), status.Critical,
			"no usable MemTotal and MemAvailable"},
		{"real load", nil, NewLoad(&config.LoadCheck{Window: "1m", WarnPerCPU: 1000, CriticalPerCPU: 1000}), status.Passing, fmt.Sprintf("on %d CPUs)", cpus)},
		{"load 1m", fixed, NewLoad(&config.LoadCheck{Window: "1m", WarnPerCPU: 1.5, CriticalPerCPU: 3}), status.Passing,
			fmt.Sprintf("load 1m: 1.0 per CPU (load %d.00 on %d CPUs)", cpus, cpus)},
		{"load 5m", fixed, NewLoad(&config.LoadCheck{Window: "5m", WarnPerCPU: 1.5, CriticalPerCPU: 3}), status.Warning, "load 5m: 2.0 per CPU"},
		{"load 15m", fixed, NewLoad(&config.LoadCheck{Window: "15m", WarnPerCPU: 1.5, CriticalPerCPU: 3}), status.Critical, "load 15m: 4.0 per CPU"},
		{"load unreadable", map[string]string{"loadavg": "garbage\n"}, NewLoad(&config.LoadCheck{Window: "5m", WarnPerCPU: 1.5, CriticalPerCPU: 3}), status.Critical, `has no three averages`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.proc != nil {
				fakeProc(t, tc.proc)
			}
			r := tc.check.Probe(context.Background())
			if r.Status != tc.want || !strings.Contains(r.Output, tc.out) {
				t.Fatalf("%s %q, want %s with %q", r.Status, r.Output, tc.want, tc.out)
			}
		})
	}
}

// TestHostCheckGivesUpWithItsContext: a figure the kernel does not deliver (a hung NFS mount's
// statfs) makes the run critical when its context ends, instead of blocking the check.
func TestHostCheckGivesUpWithItsContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	hung := &Host{what: "disk /mnt/nfs", warn: 80, critical: 90, unit: "%",
		measure: func() (float64, string, error) { <-release; return 0, "", nil }}
	expectResult(t, probeCancelled(hung), status.Critical, []string{"disk /mnt/nfs: no answer from the kernel: "})
}
