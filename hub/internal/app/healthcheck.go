package app

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// healthcheck implements `hub healthcheck`: one GET of a hub's /health, succeeding on 200. It is
// the container image's HEALTHCHECK (the image has no shell and no curl), so it needs no token,
// no configuration file and no secret. /health answers 200 while the hub serves, "degraded"
// included: a hub whose store is away keeps retrying and must not be restarted for it.
func healthcheck(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", defaultHealthURL(getenv), "the hub's /health URL; the default follows HUB_LISTEN's port and is https when HUB_TLS_CERT_FILE is set")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	skipVerify := fs.Bool("tls-skip-verify", false, "over https, accept any certificate (the probe sends nothing secret); always so for the default loopback URL, which rarely matches the certificate's names")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("healthcheck: unexpected argument %q", fs.Arg(0))
	}
	if *timeout <= 0 {
		return errors.New("healthcheck: --timeout must be positive")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // a probe of this host never goes through a proxy from the environment
	tr.DisableKeepAlives = true
	defer tr.CloseIdleConnections()
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "url" })
	// The default URL is this host's own hub on loopback: its certificate names the hub's
	// public names, and the probe sends nothing secret, so it is not verified.
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: *skipVerify || !explicit}
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: GET %s: %s", *url, res.Status)
	}
	fmt.Fprintf(stdout, "GET %s: %s %s\n", *url, res.Status, strings.TrimSpace(string(body)))
	return nil
}

// defaultHealthURL is /health at HUB_LISTEN (port 7000 without it) — on loopback when it names
// no host or an unspecified one, else at that host, which is then the only address the hub
// listens on — over https when HUB_TLS_CERT_FILE is set: what the hub in the same container
// listens on.
func defaultHealthURL(getenv env) string {
	host, port := "127.0.0.1", "7000"
	if v, ok := getenv("HUB_LISTEN"); ok {
		if h, p, err := net.SplitHostPort(v); err == nil && p != "" && p != "0" {
			port = p
			if ip := net.ParseIP(h); h != "" && (ip == nil || !ip.IsUnspecified()) {
				host = h
			} else if ip != nil && ip.To4() == nil {
				host = "::1"
			}
		}
	}
	scheme := "http"
	if v, ok := getenv("HUB_TLS_CERT_FILE"); ok && v != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/health"
}
