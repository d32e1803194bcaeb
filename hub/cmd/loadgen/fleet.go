package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/centralhub/centralhub/hub/internal/loadtest"
	"github.com/centralhub/centralhub/pkg/auth"
)

// fleetFlags binds the flags that name the benchmark fleet.
func fleetFlags(fs *flag.FlagSet) *loadtest.Fleet {
	f := loadtest.DefaultFleet(0)
	fs.IntVar(&f.Instances, "instances", f.Instances, "instances in the fleet")
	fs.IntVar(&f.PerService, "per-service", f.PerService, "instances per service")
	fs.Int64Var(&f.Boot, "boot", 0, "the agents' boot time, unix nanoseconds (required)")
	return &f
}

// Names of the files `loadgen tokens` writes into its --out-dir.
const (
	agentTokensFile = "agent-tokens.txt" // "<service> <token>" per line, read by ingest.lua too
	viewerTokenFile = "viewer.token"
	adminTokenFile  = "admin.token"
)

// tokens signs, with the secret of a hub started with --dev, one agent token per service of
// the fleet (and the barrier service), a viewer token and an admin token.
func tokens(_ context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("tokens")
	dataDir := fs.String("data-dir", "", "data directory of a hub started with --dev (holds dev-secret)")
	outDir := fs.String("out-dir", "", "where to write "+agentTokensFile+", "+viewerTokenFile+" and "+adminTokenFile)
	ttl := fs.Duration("ttl", 2*time.Hour, "token lifetime")
	f := fleetFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	f.Boot = 1 // not used here
	if err := f.Validate(); err != nil {
		return err
	}
	if *dataDir == "" || *outDir == "" {
		return errors.New("--data-dir and --out-dir are required")
	}
	secret, err := os.ReadFile(filepath.Join(*dataDir, "dev-secret"))
	if err != nil {
		return fmt.Errorf("read dev secret: %w", err)
	}
	keys, err := auth.NewKeys([]byte(strings.TrimSpace(string(secret))))
	if err != nil {
		return fmt.Errorf("dev secret: %w", err)
	}
	var b strings.Builder
	services := make([]string, 0, f.Services()+1)
	for s := range f.Services() {
		services = append(services, loadtest.ServiceName(s))
	}
	for _, svc := range append(services, loadtest.BarrierService) {
		tok, err := keys.Issue(auth.IssueRequest{Role: auth.Agent, Subject: "bench-" + svc, Service: svc, TTL: *ttl})
		if err != nil {
			return fmt.Errorf("sign agent token: %w", err)
		}
		fmt.Fprintf(&b, "%s %s\n", svc, tok)
	}
	viewer, err := keys.Issue(auth.IssueRequest{Role: auth.Viewer, Subject: "bench-viewer", TTL: *ttl})
	if err != nil {
		return fmt.Errorf("sign viewer token: %w", err)
	}
	admin, err := keys.Issue(auth.IssueRequest{Role: auth.Admin, Subject: "bench-admin", Tenant: auth.AllTenants, TTL: *ttl})
	if err != nil {
		return fmt.Errorf("sign admin token: %w", err)
	}
	if err := os.MkdirAll(*outDir, 0o700); err != nil {
		return fmt.Errorf("create out dir: %w", err)
	}
	for name, content := range map[string]string{agentTokensFile: b.String(), viewerTokenFile: viewer + "\n", adminTokenFile: admin + "\n"} {
		if err := os.WriteFile(filepath.Join(*outDir, name), []byte(content), 0o600); err != nil {
			return fmt.Errorf("write tokens: %w", err)
		}
	}
	fmt.Fprintf(stdout, "signed %d agent tokens, a viewer and an admin token into %s\n", len(services)+1, *outDir)
	return nil
}

// readAgentTokens reads the agent tokens file into service → "Bearer <token>".
func readAgentTokens(path string) (map[string]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read agent tokens: %w", err)
	}
	defer fh.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 64<<10)
	for sc.Scan() {
		svc, tok, ok := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		if !ok {
			continue
		}
		out[svc] = "Bearer " + tok
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read agent tokens: %w", err)
	}
	return out, nil
}

// readToken reads a one-token file into "Bearer <token>".
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read token: %w", err)
	}
	return "Bearer " + strings.TrimSpace(string(b)), nil
}

// newHTTPClient returns a keep-alive client for up to conns concurrent requests to one host.
func newHTTPClient(conns int) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     time.Minute,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// writeJSONFile writes v, indented, to path.
func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// readJSONFile reads path into v.
func readJSONFile(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", filepath.Base(path), err)
	}
	return nil
}
