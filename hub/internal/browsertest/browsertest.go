// Package browsertest starts Debian's headless Chromium for tests through chromedp. Production
// code never imports it.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path finds Debian's chromium, or skips the test saying why (failing under CI=true, where
// .ci/run installs it).
func Path(t testing.TB, why string) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium on PATH, and CI must run the browser tests: .ci/run installs Debian's chromium")
	}
	t.Skip("no chromium on PATH: install Debian's chromium (apt-get install chromium) " + why)
	return ""
}

// Context starts a headless Chromium (no sandbox: CI runs as root) and returns a chromedp
// context on a tab of it, ended with the test; every step of the test must finish within
// timeout.
func Context(t testing.TB, why string, timeout time.Duration) context.Context {
	t.Helper()
	exe := Path(t, why)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1280, 900))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return ctx
}
