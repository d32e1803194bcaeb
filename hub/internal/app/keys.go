package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/centralhub/centralhub/pkg/gossip"
)

const keysUsage = `usage: hub keys list|install|use|remove [flags]

Rotates the gossip encryption key across the cluster through a running hub's admin API
(/api/v1/admin/gossip/keys), with an admin token of every tenant (*):
  hub keys list                      keys the members hold, by fingerprint
  hub keys install --key-file NEW    add NEW to every member's keyring
  hub keys use     --key-file NEW    encrypt with NEW everywhere
  hub keys remove  --key-file OLD    drop OLD everywhere (not the key in use)
Flags: --hub URL or --url URL (env HUB_URL, default http://127.0.0.1:7000), --token-file F (or env HUB_TOKEN).
Keys are read from files, never from the command line, so they do not show in ps or shell history.
`

// keys implements `hub keys`.
func keys(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return errors.New("keys: want list, install, use or remove")
	}
	action := args[0]
	method, ok := map[string]string{"list": http.MethodGet, "install": http.MethodPost, "use": http.MethodPut, "remove": http.MethodDelete}[action]
	if !ok {
		fmt.Fprint(stderr, keysUsage)
		return fmt.Errorf("keys: unknown action %q (want list, install, use or remove)", action)
	}
	fs := flag.NewFlagSet("keys "+action, flag.ContinueOnError)
	fs.SetOutput(stderr)
	hubURL := fs.String("hub", envOr(getenv, "HUB_URL", "http://127.0.0.1:7000"), "base URL of a running hub")
	fs.StringVar(hubURL, "url", *hubURL, "the same as --hub, as the other client commands spell it")
	tokenFile := fs.String("token-file", "", "file with an admin token of every tenant (default: env HUB_TOKEN)")
	keyFile := fs.String("key-file", "", "file with the base64 32-byte key (install, use, remove)")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the cluster's answer")
	caFile := fs.String("ca-file", envOr(getenv, "HUB_CA_FILE", ""), "PEM CA certificates to verify an https hub with, besides the system's (env HUB_CA_FILE)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("keys %s: unexpected argument %q (keys are read with --key-file)", action, fs.Arg(0))
	}
	token, err := cliToken(*tokenFile, getenv)
	if err != nil {
		return err
	}
	var body []byte
	var fingerprint string
	if action != "list" {
		if *keyFile == "" {
			return fmt.Errorf("keys %s: --key-file: required", action)
		}
		raw, err := os.ReadFile(*keyFile)
		if err != nil {
			return fmt.Errorf("--key-file: %w", err)
		}
		key := strings.TrimSpace(string(raw))
		if _, err := gossip.ParseKey(key); err != nil {
			return fmt.Errorf("--key-file %s: %w", *keyFile, err)
		}
		fingerprint = gossip.Fingerprint(key)
		body, _ = json.Marshal(map[string]string{"key": key})
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(*hubURL, "/")+"/api/v1/admin/gossip/keys", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("--hub: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	transport, err := cliTransport(*caFile)
	if err != nil {
		return err
	}
	client := &http.Client{Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse // never resend a key or token to wherever a redirect points
	}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("keys %s: %w", action, err)
	}
	defer resp.Body.Close()
	var out struct {
		Error  string            `json:"error"`
		Errors map[string]string `json:"errors"`
		Keys   []struct {
			Fingerprint string `json:"fingerprint"`
			Members     int    `json:"members"`
			Primary     int    `json:"primary"`
		} `json:"keys"`
		Members   int `json:"members"`
		Responses int `json:"responses"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return fmt.Errorf("keys %s: hub answered %s with no JSON: %w", action, resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := fmt.Sprintf("keys %s: hub answered %d: %s", action, resp.StatusCode, out.Error)
		nodes := make([]string, 0, len(out.Errors))
		for n := range out.Errors {
			nodes = append(nodes, n)
		}
		sort.Strings(nodes)
		for _, n := range nodes {
			msg += fmt.Sprintf("\n  %s: %s", n, out.Errors[n])
		}
		return errors.New(msg)
	}
	if action == "list" {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FINGERPRINT\tHELD BY\tIN USE BY")
		for _, k := range out.Keys {
			fmt.Fprintf(tw, "%s\t%d/%d\t%d/%d\n", k.Fingerprint, k.Members, out.Members, k.Primary, out.Members)
		}
		return tw.Flush()
	}
	past := map[string]string{"install": "installed", "use": "now in use", "remove": "removed"}[action]
	fmt.Fprintf(stdout, "%s %s: %d of %d members answered\n", fingerprint, past, out.Responses, out.Members)
	return nil
}

func envOr(getenv env, name, def string) string {
	if v, ok := getenv(name); ok && v != "" {
		return v
	}
	return def
}

// cliToken reads the token of a client subcommand from --token-file or HUB_TOKEN.
func cliToken(path string, getenv env) (string, error) {
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", fmt.Errorf("--token-file: %w", err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	if v, ok := getenv("HUB_TOKEN"); ok && v != "" {
		return v, nil
	}
	return "", errors.New("no token: pass --token-file or set HUB_TOKEN (an admin token of every tenant)")
}
