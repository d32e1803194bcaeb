package check

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/status"
)

// Host judges one figure of the host the agent runs on (a filesystem's used share, used memory,
// load per CPU) against a warning and a critical threshold. It reads the kernel's own figures
// (statfs, /proc/meminfo, /proc/loadavg), so it costs no process and no connection.
type Host struct {
	what           string // for outputs: "disk /var", "memory", "load 5m"
	warn, critical float64
	unit           string                          // "%" or " per CPU"
	measure        func() (float64, string, error) // the figure and a detail for the output
}

// procDir is where the memory and load checks read the kernel's figures; tests point it at
// files of their own.
var procDir = "/proc"

// NewDisk returns the prober of a disk check: the used share of the filesystem holding
// c.Path, as df computes it (blocks reserved for root count as unavailable).
func NewDisk(c *config.DiskCheck) *Host {
	return &Host{
		what: "disk " + c.Path, warn: c.WarnPercent, critical: c.CriticalPercent, unit: "%",
		measure: func() (float64, string, error) { return diskUsed(c.Path) },
	}
}

// NewMemory returns the prober of a memory check: 1 - MemAvailable/MemTotal.
func NewMemory(c *config.MemoryCheck) *Host {
	return &Host{
		what: "memory", warn: c.WarnPercent, critical: c.CriticalPercent, unit: "%",
		measure: memoryUsed,
	}
}

// NewLoad returns the prober of a load check: the load average over c.Window divided by the
// number of CPUs the agent may use.
func NewLoad(c *config.LoadCheck) *Host {
	field := map[string]int{"1m": 0, "5m": 1, "15m": 2}[c.Window]
	return &Host{
		what: "load " + c.Window, warn: c.WarnPerCPU, critical: c.CriticalPerCPU, unit: " per CPU",
		measure: func() (float64, string, error) { return loadPerCPU(field, runtime.NumCPU()) },
	}
}

// Probe implements Prober. The figure is read in a goroutine of its own, so a filesystem that
// hangs (a dead NFS server) makes the run critical when ctx ends rather than blocking it; the
// read itself cannot be interrupted and finishes, or not, on its own.
func (h *Host) Probe(ctx context.Context) Result {
	type reading struct {
		v      float64
		detail string
		err    error
	}
	done := make(chan reading, 1)
	go func() {
		v, detail, err := h.measure()
		done <- reading{v, detail, err}
	}()
	var r reading
	select {
	case r = <-done:
	case <-ctx.Done():
		return Result{status.Critical, fmt.Sprintf("%s: no answer from the kernel: %v", h.what, ctx.Err())}
	}
	v, detail, err := r.v, r.detail, r.err
	if err != nil {
		return Result{status.Critical, fmt.Sprintf("%s: %v", h.what, err)}
	}
	out := fmt.Sprintf("%s: %s%s (%s)", h.what, fmtFigure(v), h.unit, detail)
	switch {
	case v >= h.critical:
		return Result{status.Critical, fmt.Sprintf("%s, at or above critical %s%s", out, fmtFigure(h.critical), h.unit)}
	case v >= h.warn:
		return Result{status.Warning, fmt.Sprintf("%s, at or above warning %s%s", out, fmtFigure(h.warn), h.unit)}
	}
	return Result{status.Passing, out}
}

func fmtFigure(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func diskUsed(path string) (float64, string, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, "", fmt.Errorf("statfs: %w", err)
	}
	bsize := uint64(st.Bsize)
	used := (uint64(st.Blocks) - uint64(st.Bfree)) * bsize
	avail := uint64(st.Bavail) * bsize
	if used+avail == 0 {
		return 0, "", fmt.Errorf("statfs: the filesystem reports no blocks")
	}
	return 100 * float64(used) / float64(used+avail), fmt.Sprintf("%s free", fmtBytes(avail)), nil
}

func memoryUsed() (float64, string, error) {
	f, err := os.Open(filepath.Join(procDir, "meminfo"))
	if err != nil {
		return 0, "", fmt.Errorf("read meminfo: %w", err)
	}
	defer f.Close()
	kb := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "MemTotal" && name != "MemAvailable") {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		if err != nil {
			return 0, "", fmt.Errorf("meminfo %s: %w", name, err)
		}
		kb[name] = n
	}
	if err := sc.Err(); err != nil {
		return 0, "", fmt.Errorf("read meminfo: %w", err)
	}
	total, okT := kb["MemTotal"]
	avail, okA := kb["MemAvailable"]
	if !okT || !okA || total == 0 || avail > total {
		return 0, "", fmt.Errorf("meminfo: no usable MemTotal and MemAvailable (kernel 3.14 or later)")
	}
	return 100 * float64(total-avail) / float64(total), fmt.Sprintf("%s available of %s", fmtBytes(avail<<10), fmtBytes(total<<10)), nil
}

func loadPerCPU(field, cpus int) (float64, string, error) {
	b, err := os.ReadFile(filepath.Join(procDir, "loadavg"))
	if err != nil {
		return 0, "", fmt.Errorf("read loadavg: %w", err)
	}
	fields := strings.Fields(string(b))
	if len(fields) < 3 {
		return 0, "", fmt.Errorf("loadavg: %q has no three averages", strings.TrimSpace(string(b)))
	}
	load, err := strconv.ParseFloat(fields[field], 64)
	if err != nil {
		return 0, "", fmt.Errorf("loadavg: %w", err)
	}
	return load / float64(cpus), fmt.Sprintf("load %s on %d CPUs", fields[field], cpus), nil
}

// fmtBytes writes a size in binary units: 512 B, 3.2 GiB.
func fmtBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
