package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/centralhub/centralhub/hub/internal/bolt"
)

const backupUsage = `usage: hub backup --out FILE [--url URL] [--token-file F] [--ca-file F] [--timeout 10m]

Copies a running hub's embedded store (GET /api/v1/admin/backup, an admin token of every
tenant) into FILE: written beside it first, checked page by page, then renamed into place, so
FILE is either a whole, verified store or untouched. Restore by putting it in place of
centralhub.db in a stopped hub's data directory. A hub on PostgreSQL answers 409: use pg_dump.
The copy holds desired configs' secrets in clear: keep it as safe as the store.
`

// backup implements `hub backup`.
func backup(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, backupUsage, "\nFlags (the token comes from --token-file or env HUB_TOKEN):\n")
		fs.PrintDefaults()
	}
	f := bindOpsFlags(fs, getenv)
	out := fs.String("out", "", "file to write the copy to (required)")
	f.timeout = 10 * time.Minute
	fs.Lookup("timeout").DefValue = "10m0s"
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("backup: unexpected argument %q", fs.Arg(0))
	case *out == "":
		return errors.New("backup: --out: required")
	case f.tenant != "":
		return errors.New("backup: --tenant: a backup is of the whole store, every tenant")
	}
	c, err := f.client(getenv)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	n, err := c.backup(ctx, *out)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "backed up %d bytes to %s (verified)\n", n, *out)
	return nil
}

// backup downloads the store into a temporary file beside out, checks it, and renames it to
// out; on any failure out is left as it was.
func (c *opsClient) backup(ctx context.Context, out string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/api/v1/admin/backup", nil)
	if err != nil {
		return 0, fmt.Errorf("--url: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return 0, c.answerError(resp, raw, "GET /api/v1/admin/backup")
	}
	want, err := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("the hub at %s sent no Content-Length with the backup; is --url a hub?", c.base)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".part-*")
	if err != nil {
		return 0, fmt.Errorf("--out: %w", err)
	}
	defer os.Remove(tmp.Name()) // gone after the rename; removes what a failure left
	n, err := io.Copy(tmp, resp.Body)
	if err == nil && n != want {
		err = fmt.Errorf("got %d of %d bytes", n, want)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("download from %s: %w", c.base, c.unwrap(ctx, err))
	}
	if err := bolt.VerifyFile(tmp.Name()); err != nil {
		return n, fmt.Errorf("the copy is damaged, %s left as it was: %w", out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return n, fmt.Errorf("--out: %w", err)
	}
	return n, nil
}

// unwrap turns a deadline into the --timeout it came from.
func (c *opsClient) unwrap(ctx context.Context, err error) error {
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("not finished within %s (--timeout)", c.limit)
	}
	return err
}
