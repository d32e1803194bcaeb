package configcheck

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/centralhub/centralhub/pkg/configdoc"
	"github.com/centralhub/centralhub/pkg/protocol"
)

// Limits of a reload command run.
const (
	maxReloadOutput = 4096        // bytes of its output kept
	reloadWaitDelay = time.Second // after its process group is killed, the wait for pipes held by escaped descendants
	maxReasonLine   = 200         // bytes of its output's first line put into a problem
)

// applyState remembers a failed reload: the file was written as version's desired config (its
// canonical checksum), but the reload command failed. While the file stays as written, each
// pass runs the reload command again and reports the failure until it succeeds.
type applyState struct {
	version  int64
	checksum string
	problem  *protocol.ConfigProblem
}

// apply makes f's file the desired config when it is not: missing, unparsable or drifted. It
// renders the desired object in the file's format, writes it atomically and runs the reload
// command, then checks the file again. It returns the new local result and the apply's
// problem, if any. A file in sync gets no write; a reload that failed for the file as it
// stands is retried.
func (c *Checker) apply(ctx context.Context, f *file, loc local) (local, *protocol.ConfigProblem) {
	d := f.desired
	log := c.log.With("file", f.cfg.Path, "version", d.Version)
	if loc.flat != nil && loc.flat.Checksum() == f.desiredSum {
		a := f.applied
		if a.problem == nil || a.version != d.Version || a.checksum != f.desiredSum {
			f.applied = applyState{}
			return loc, nil
		}
		if p := c.reload(ctx, f, d.Version); p != nil || ctx.Err() != nil {
			f.applied.problem = cmp.Or(p, a.problem)
			return loc, f.applied.problem
		}
		log.Info("reload command succeeded on retry")
		f.applied = applyState{}
		return loc, nil
	}
	if !loc.missing && !loc.regular {
		return loc, nil // a directory or a device: never replaced
	}
	fail := func(what string, err error) (local, *protocol.ConfigProblem) {
		p := problem(f.cfg.Path, "", fmt.Sprintf("apply version %d: %s: %v", d.Version, what, err))
		log.Warn("apply desired config failed", "err", p.Reason)
		return loc, &p
	}
	data, err := configdoc.Render(f.cfg.Format, d.Config)
	if err != nil {
		return fail("render", err)
	}
	changed := len(f.desiredFlat)
	if loc.flat != nil {
		changed = len(configdoc.Diff(loc.flat, f.desiredFlat))
	}
	if err := writeAtomic(f.cfg.Path, data, f.cfg.Secret || hasSecretKey(f.desiredFlat)); err != nil {
		return fail("write", err)
	}
	log.Info("applied desired config", "keys", len(f.desiredFlat), "keys_changed", changed, "created", loc.missing)
	f.applied = applyState{}
	p := c.reload(ctx, f, d.Version)
	if p != nil {
		f.applied = applyState{version: d.Version, checksum: f.desiredSum, problem: p}
	}
	return inspect(&f.cfg), p
}

func hasSecretKey(f configdoc.Flat) bool {
	for k := range f {
		if configdoc.IsSecretKey(k) {
			return true
		}
	}
	return false
}

// reload runs f's reload command, if any, bounded by its timeout: the command runs in its own
// process group, all of which is killed when the timeout passes (or the agent stops). It
// returns the failure as a problem, or nil.
func (c *Checker) reload(ctx context.Context, f *file, version int64) *protocol.ConfigProblem {
	argv := f.cfg.ReloadCommand
	if len(argv) == 0 {
		return nil
	}
	log := c.log.With("file", f.cfg.Path, "version", version, "command", argv[0])
	runCtx, cancel := context.WithTimeout(ctx, f.cfg.ReloadTimeout)
	defer cancel()
	cmd := exec.CommandContext(runCtx, argv[0], argv[1:]...)
	out := &cappedBuffer{max: maxReloadOutput}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// A negative pid signals the whole process group, which Setpgid made the child's own.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = reloadWaitDelay
	err := cmd.Run()
	if err == nil {
		log.Info("reload command succeeded")
		return nil
	}
	if ctx.Err() != nil {
		return nil // the agent is stopping; the caller records nothing
	}
	var why string
	var exitErr *exec.ExitError
	switch {
	case errors.Is(runCtx.Err(), context.DeadlineExceeded):
		why = fmt.Sprintf("reload command timed out after %s", f.cfg.ReloadTimeout)
	case errors.As(err, &exitErr) && exitErr.ExitCode() >= 0:
		why = fmt.Sprintf("reload command exited %d", exitErr.ExitCode())
	case errors.As(err, &exitErr):
		why = "reload command ended by " + exitErr.ProcessState.String()
	default:
		why = fmt.Sprintf("reload command: %v", err)
	}
	if line := firstLine(out.String()); line != "" {
		why += ": " + line
	}
	p := problem(f.cfg.Path, "", fmt.Sprintf("apply version %d: %s", version, why))
	log.Warn("reload command failed", "err", why)
	return &p
}

// firstLine is the first non-blank line of s, trimmed and cut to maxReasonLine bytes.
func firstLine(s string) string {
	for line := range strings.SplitSeq(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			return protocol.Truncate(strings.ToValidUTF8(line, "\uFFFD"), maxReasonLine)
		}
	}
	return ""
}

// writeAtomic replaces the file at path with data so that a reader sees the old file or the
// new one, never a mix: a temporary file in the same directory, with the old file's mode (and
// owner, where the agent may set it), written, synced, renamed over the old one, and the
// directory synced. A symbolic link is followed: its target is replaced and the link kept. A
// new file gets mode 0600 when it holds secrets, else 0644.
func writeAtomic(path string, data []byte, secret bool) (err error) {
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	mode := fs.FileMode(0o644)
	if secret {
		mode = 0o600
	}
	uid, gid := -1, -1
	if fi, err := os.Stat(path); err == nil {
		mode = fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary file in %s: %w", dir, bare(err))
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("chmod temporary file: %w", bare(err))
	}
	if uid >= 0 && (uid != os.Geteuid() || gid != os.Getegid()) {
		_ = tmp.Chown(uid, gid) // best effort: only root may give a file away
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write temporary file: %w", bare(err))
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync temporary file: %w", bare(err))
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close temporary file: %w", bare(err))
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename into place: %w", bare(err))
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // the rename is durable once the directory is; some filesystems refuse
		d.Close()
	}
	return nil
}

// bare strips the path an *fs.PathError or *os.LinkError carries: the temporary file's name is
// random, and a problem whose text changed at every pass would send a report at every pass.
func bare(err error) error {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		return pe.Err
	case errors.As(err, &le):
		return le.Err
	}
	return err
}

// cappedBuffer keeps the first max bytes written to it and discards the rest while still
// accepting them, so the command never blocks on a full pipe.
type cappedBuffer struct {
	buf bytes.Buffer
	max int
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (c *cappedBuffer) String() string { return c.buf.String() }
