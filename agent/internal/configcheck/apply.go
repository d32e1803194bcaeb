package configcheck

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/centralhub/centralhub/agent/internal/procgroup"
	"github.com/centralhub/centralhub/pkg/configdoc"
	"github.com/centralhub/centralhub/pkg/protocol"
)

// maxReloadOutput caps the bytes of a reload command's output kept. The output is logged on
// the agent when the command fails, never put into a problem: reload scripts may print config
// lines, secrets included, and problems reach viewers, alerts and webhooks.
const maxReloadOutput = 4096

// secretModeMask are the mode bits cleared from an existing file apply writes secrets into:
// the bits of others. The group's are kept, so a service that reads its config through its
// group (root:orders 0640) still can.
const secretModeMask fs.FileMode = 0o007

// errSymlink refuses an apply to a path that is a symbolic link (without follow_symlinks).
var errSymlink = errors.New("is a symbolic link: apply does not write through links")

// applyState remembers what an apply left to do for the file as it wrote it (version's desired
// config, of canonical checksum checksum): a reload command that failed, and an owner it could
// not keep. While the file stays as written, each pass runs the reload command again and looks
// at the owner again, and reports what still fails.
type applyState struct {
	version  int64
	checksum string
	reload   *protocol.ConfigProblem // the reload command failed
	owner    *ownerProblem           // the file's owner could not be kept
}

// ownerProblem is an owner an apply could not give the file it wrote.
type ownerProblem struct {
	uid, gid int
	problem  protocol.ConfigProblem
}

// apply makes f's file the desired config when it is not: missing, unparsable or drifted. It
// renders the desired object in the file's format, checks that the rendering parses back to
// the desired config, writes it atomically and runs the reload command, then checks the file
// again. It returns the new local result and the apply's problems. A file in sync gets no
// write; a reload that failed, or an owner that could not be kept, for the file as it stands
// is tried or looked at again. A file that could not be read whole (unreadable, too large), a
// directory or a device is never replaced.
func (c *Checker) apply(ctx context.Context, f *file, loc local) (local, []protocol.ConfigProblem) {
	d := f.desired
	log := c.log.With("file", f.cfg.Path, "version", d.Version)
	if loc.flat != nil && loc.flat.Checksum() == f.desiredSum {
		return loc, c.afterApply(ctx, f, log)
	}
	if !loc.missing && !loc.read {
		return loc, nil
	}
	fail := func(reason string) (local, []protocol.ConfigProblem) {
		p := problem(f.cfg.Path, "", fmt.Sprintf("apply version %d: %s", d.Version, reason))
		log.Warn("apply desired config failed", "err", p.Reason)
		return loc, []protocol.ConfigProblem{p}
	}
	if hasRedactedValue(f.desiredFlat) {
		return fail("the hub sent redacted values (is the token an agent token?)")
	}
	data, err := c.render(f.cfg.Format, d.Config)
	if err != nil {
		return fail(fmt.Sprintf("render: %v", err))
	}
	// A rendering that reads back as another config would be written again at every pass.
	if back, err := configdoc.Parse(f.cfg.Format, data); err != nil || back.Checksum() != f.desiredSum {
		return fail(fmt.Sprintf("the desired config cannot be written as %s faithfully", f.cfg.Format))
	}
	changed := len(f.desiredFlat)
	if loc.flat != nil {
		changed = len(configdoc.Diff(loc.flat, f.desiredFlat))
	}
	w := writer{secret: f.cfg.Secret || hasSecretKey(f.desiredFlat), followSymlinks: f.cfg.FollowSymlinks, chown: c.chown}
	res, err := w.write(f.cfg.Path, data)
	switch {
	case errors.Is(err, errSymlink):
		return fail(err.Error())
	case err != nil:
		return fail(fmt.Sprintf("write: %v", err))
	}
	log.Info("applied desired config", "keys", len(f.desiredFlat), "keys_changed", changed, "created", loc.missing)
	if res.tightened {
		log.Info("tightened the mode of the config file: it holds secrets", "from", fmt.Sprintf("%04o", res.oldMode), "to", fmt.Sprintf("%04o", res.mode))
	}
	f.applied = applyState{version: d.Version, checksum: f.desiredSum}
	var problems []protocol.ConfigProblem
	if res.groupOnly {
		log.Warn("apply kept the config file's group but not its owner", "uid", res.uid, "gid", res.gid, "agent_uid", os.Geteuid())
	}
	if res.chownErr != nil {
		p := problem(f.cfg.Path, "", fmt.Sprintf("apply version %d: written, but its owner (uid %d, gid %d) could not be kept: %v",
			d.Version, res.uid, res.gid, bare(res.chownErr)))
		log.Warn("apply could not keep the config file's owner", "err", p.Reason)
		f.applied.owner = &ownerProblem{uid: res.uid, gid: res.gid, problem: p}
		problems = append(problems, p)
	}
	if p := c.reload(ctx, f, d.Version); p != nil {
		f.applied.reload = p
		problems = append(problems, *p)
	}
	return inspect(&f.cfg), problems
}

// afterApply handles a file in sync: when an apply wrote it as it stands, the owner it could
// not keep is looked at again and a failed reload command run again; their problems stay
// until fixed. Otherwise it forgets the last apply.
func (c *Checker) afterApply(ctx context.Context, f *file, log *slog.Logger) []protocol.ConfigProblem {
	a := &f.applied
	if a.version != f.desired.Version || a.checksum != f.desiredSum {
		*a = applyState{}
		return nil
	}
	var problems []protocol.ConfigProblem
	if o := a.owner; o != nil {
		if ownedBy(f.cfg.Path, o.uid, o.gid) {
			log.Info("the config file has its owner again")
			a.owner = nil
		} else {
			problems = append(problems, o.problem)
		}
	}
	if a.reload != nil {
		if p := c.reload(ctx, f, a.version); p != nil || ctx.Err() != nil {
			a.reload = cmp.Or(p, a.reload)
			problems = append(problems, *a.reload)
		} else {
			log.Info("reload command succeeded on retry")
			a.reload = nil
		}
	}
	return problems
}

// ownedBy reports whether the file at path (a link followed) belongs to uid and gid.
func ownedBy(path string, uid, gid int) bool {
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == uid && int(st.Gid) == gid
}

func hasSecretKey(f configdoc.Flat) bool {
	for k := range f {
		if configdoc.IsSecretKey(k) {
			return true
		}
	}
	return false
}

// hasRedactedValue reports whether a secret-looking key of f holds configdoc.Redacted: what
// the hub shows a viewer in place of the value, never a value to write.
func hasRedactedValue(f configdoc.Flat) bool {
	for k, v := range f {
		if v == configdoc.Redacted && configdoc.IsSecretKey(k) {
			return true
		}
	}
	return false
}

// reload runs f's reload command, if any, bounded by its timeout: the command runs in its own
// process group, all of which is killed when the timeout passes (or the agent stops). It
// returns the failure as a problem, or nil. The problem says how the command ended and nothing
// of its output, which is logged on the agent only.
func (c *Checker) reload(ctx context.Context, f *file, version int64) *protocol.ConfigProblem {
	argv := f.cfg.ReloadCommand
	if len(argv) == 0 {
		return nil
	}
	log := c.log.With("file", f.cfg.Path, "version", version, "command", argv[0])
	runCtx, cancel := context.WithTimeout(ctx, f.cfg.ReloadTimeout)
	defer cancel()
	out, err := procgroup.Run(runCtx, argv, maxReloadOutput)
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
	p := problem(f.cfg.Path, "", fmt.Sprintf("apply version %d: %s", version, why))
	log.Warn("reload command failed", "err", why, "output", scrubSecrets(strings.ToValidUTF8(out, "\uFFFD"), f.desiredFlat))
	return &p
}

// scrubSecrets replaces in out every value of a secret-looking key of flat (a reload script
// may print the config it read), so the agent's log never holds one.
func scrubSecrets(out string, flat configdoc.Flat) string {
	for k, v := range flat {
		if v != "" && configdoc.IsSecretKey(k) {
			out = strings.ReplaceAll(out, v, configdoc.Redacted)
		}
	}
	return out
}

// writer writes a config file for apply.
type writer struct {
	secret         bool // the file holds secrets: a new one gets 0600, an existing one loses secretModeMask
	followSymlinks bool // replace the target of a link at the path; otherwise refuse (errSymlink)
	chown          func(f *os.File, uid, gid int) error
}

// written is what writer.write did beside writing.
type written struct {
	mode, oldMode fs.FileMode // the file's mode, and the old file's when it had one
	tightened     bool        // mode is oldMode without secretModeMask
	uid, gid      int         // the old file's owner; -1 when there was no old file
	groupOnly     bool        // the old file's group was kept but not its owner
	chownErr      error       // neither the owner nor the group of the old file could be kept
}

// write replaces the file at path with data so that a reader sees the old file or the new one,
// never a mix: a temporary file in the same directory, with the old file's mode (less
// secretModeMask when it holds secrets) and owner, written, synced, renamed over the old one,
// and the directory synced. A new file gets mode 0600 when it holds secrets, else 0644.
//
// A symbolic link at path is refused with errSymlink, a dangling one too: an agent running as
// root must not be led by whoever can write the directory to replace another file. A link
// swapped in after the check is harmless: the rename replaces the link, not its target. With
// followSymlinks the target of a link is replaced and the link kept (a dangling link is
// replaced by the file).
//
// When the old file belongs to someone other than the agent, write gives the new one the same
// owner and group, or else the same group; when neither can be kept (only root may give a
// file away) the file is still written and chownErr says why.
func (w writer) write(path string, data []byte) (res written, err error) {
	var fi fs.FileInfo
	var statErr error
	if w.followSymlinks {
		if target, err := filepath.EvalSymlinks(path); err == nil {
			path = target
		}
		fi, statErr = os.Stat(path) // a dangling link: as no file
	} else {
		// One Lstat both refuses a link and gives the mode and owner kept, so a link swapped
		// in between cannot lend its own.
		fi, statErr = os.Lstat(path)
		if statErr == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return res, errSymlink
		}
	}
	res.mode, res.uid, res.gid = 0o644, -1, -1
	if w.secret {
		res.mode = 0o600
	}
	if statErr == nil {
		res.oldMode = fi.Mode().Perm()
		res.mode = res.oldMode
		if w.secret && res.mode&secretModeMask != 0 {
			res.mode &^= secretModeMask
			res.tightened = true
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			res.uid, res.gid = int(st.Uid), int(st.Gid)
		}
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return res, fmt.Errorf("create temporary file in %s: %w", dir, bare(err))
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(res.mode); err != nil {
		return res, fmt.Errorf("chmod temporary file: %w", bare(err))
	}
	if res.uid >= 0 && (res.uid != os.Geteuid() || res.gid != os.Getegid()) {
		if err := w.chown(tmp, res.uid, res.gid); err != nil {
			res.groupOnly = true
			if err2 := w.chown(tmp, -1, res.gid); err2 != nil {
				res.groupOnly, res.chownErr = false, err
			}
		}
	}
	if _, err := tmp.Write(data); err != nil {
		return res, fmt.Errorf("write temporary file: %w", bare(err))
	}
	if err := tmp.Sync(); err != nil {
		return res, fmt.Errorf("sync temporary file: %w", bare(err))
	}
	if err := tmp.Close(); err != nil {
		return res, fmt.Errorf("close temporary file: %w", bare(err))
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return res, fmt.Errorf("rename into place: %w", bare(err))
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // the rename is durable once the directory is; some filesystems refuse
		d.Close()
	}
	return res, nil
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
