package app

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/centralhub/centralhub/pkg/auth"
)

// Main runs the hub command line with args (without the program name) and returns the exit
// code. getenv reads the environment (os.LookupEnv in production).
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) (string, bool)) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stdout, stderr, getenv)
	case "token":
		err = token(args[1:], stdout, stderr, getenv)
	case "keys":
		err = keys(ctx, args[1:], stdout, stderr, getenv)
	case "migrate":
		err = migrate(ctx, args[1:], stdout, stderr, getenv)
	case "status", "services", "alerts", "ack":
		return ops(ctx, args[0], args[1:], stdout, stderr, getenv)
	case "healthcheck":
		err = healthcheck(ctx, args[1:], stdout, stderr, getenv)
	case "backup":
		err = backup(ctx, args[1:], stdout, stderr, getenv)
	case "version", "--version":
		fmt.Fprintln(stdout, Version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "hub: unknown command %q\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "hub: %v\n", err)
		return 1
	}
	return 0
}

const usage = `usage: hub <command> [flags]

commands:
  serve          run the hub (hub serve --help for flags)
  token issue    sign a token (hub token issue --help)
  keys           rotate the gossip key across the cluster: list, install, use, remove (hub keys)
  migrate        bring a PostgreSQL schema up to date, or show where it stands: up, status
  status         overall status, counts, firing alerts and the worst services; exit code 0 healthy,
                 1 degraded, 2 unhealthy, 3 unknown or unreadable (hub status --help)
  services       services worst first, or one service's instances and checks (--service NAME)
  alerts         alerts, firing first (--state, --component, --service, --limit)
  ack            acknowledge the firing alerts on a component: hub ack COMPONENT --comment TEXT
                 [--expires-in 2h]; --remove un-acknowledges
                 status, services, alerts and ack take --url (env HUB_URL), --token-file (or env
                 HUB_TOKEN), --tenant, --ca-file (env HUB_CA_FILE), --json and --timeout
  backup         copy a running hub's embedded store into a verified file: hub backup --out FILE
  healthcheck    GET this host's /health, exit 0 on 200: the container image's HEALTHCHECK
  version        print the version
`

func serve(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	cfg, configPath, err := parseServe(args, stderr, getenv)
	if err != nil {
		return err
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}
	secret, err := loadSecret(cfg, getenv)
	if err != nil {
		return err
	}
	keys, err := auth.NewKeys(secret)
	if err != nil {
		return fmt.Errorf("refusing to start: %w", err)
	}
	if _, set := getenv("GOGC"); !set && cfg.GCPercent > 0 {
		debug.SetGCPercent(cfg.GCPercent)
	}
	a, err := New(ctx, cfg, keys, log)
	if err != nil {
		return err
	}
	if configPath != "" {
		log.Info("configuration loaded", "file", configPath)
	}
	if cfg.Dev {
		tok, err := keys.Issue(auth.IssueRequest{Role: auth.Admin, Subject: "dev-admin", Tenant: auth.AllTenants, TTL: 24 * time.Hour})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "dev mode: API on %s://%s\ndev mode: admin token (24h): %s\n", a.Scheme(), a.Addr(), tok)
	}
	return a.Run(ctx)
}

// parseServe layers defaults, the --config file, the environment and flags, then validates.
func parseServe(args []string, stderr io.Writer, getenv env) (Config, string, error) {
	first := flag.NewFlagSet("serve", flag.ContinueOnError)
	first.SetOutput(stderr)
	first.Usage = serveUsage(first)
	configPath := first.String("config", "", "hub configuration file (YAML)")
	scratch := DefaultConfig()
	scratch.bindFlags(first)
	if err := first.Parse(args); err != nil {
		return Config{}, "", err
	}
	if first.NArg() > 0 {
		return Config{}, "", fmt.Errorf("serve: unexpected argument %q", first.Arg(0))
	}
	cfg := DefaultConfig()
	if *configPath != "" {
		if err := cfg.LoadFile(*configPath); err != nil {
			return Config{}, "", err
		}
	}
	if err := cfg.applyEnv(getenv); err != nil {
		return Config{}, "", err
	}
	second := flag.NewFlagSet("serve", flag.ContinueOnError)
	second.SetOutput(io.Discard)
	second.String("config", "", "")
	cfg.bindFlags(second)
	if err := second.Parse(args); err != nil {
		return Config{}, "", err
	}
	if err := cfg.Validate(); err != nil {
		if *configPath != "" {
			return Config{}, "", fmt.Errorf("%s: %w", *configPath, err)
		}
		return Config{}, "", err
	}
	return cfg, *configPath, nil
}

// loadSecret finds the JWT secret: HUB_JWT_SECRET, then HUB_JWT_SECRET_FILE, then (with --dev)
// <data-dir>/dev-secret, created with a random secret when missing. `hub token issue` looks in
// the same order, so its tokens always verify on the hub it was pointed at.
func loadSecret(cfg Config, getenv env) ([]byte, error) {
	secret, err := configuredSecret(getenv)
	if err != nil || secret != nil || !cfg.Dev {
		return secret, err
	}
	return devSecret(cfg.DataDir)
}

func configuredSecret(getenv env) ([]byte, error) {
	if v, ok := getenv("HUB_JWT_SECRET"); ok && v != "" {
		return []byte(v), nil
	}
	if path, ok := getenv("HUB_JWT_SECRET_FILE"); ok && path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("HUB_JWT_SECRET_FILE: %w", err)
		}
		return []byte(strings.TrimRight(string(b), "\r\n")), nil
	}
	return nil, nil // auth.NewKeys refuses the missing secret with one clear line
}

func devSecret(dataDir string) ([]byte, error) {
	path := devSecretPath(dataDir)
	if b, err := os.ReadFile(path); err == nil {
		return []byte(strings.TrimSpace(string(b))), nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read dev secret: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("generate dev secret: %w", err)
	}
	secret := base64.RawURLEncoding.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write dev secret: %w", err)
	}
	return []byte(secret), nil
}

// token implements `hub token issue`.
func token(args []string, stdout, stderr io.Writer, getenv env) error {
	if len(args) == 0 || args[0] != "issue" {
		return errors.New("usage: hub token issue --role ROLE --subject NAME [--ttl 1h] [--service S] [--tenant T]")
	}
	fs := flag.NewFlagSet("token issue", flag.ContinueOnError)
	fs.SetOutput(stderr)
	role := fs.String("role", "", "admin, operator, viewer, metrics or agent (required)")
	subject := fs.String("subject", "", "who the token is for (required)")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	service := fs.String("service", "", "the service an agent token reports for (required with --role agent)")
	tenant := fs.String("tenant", "default", `the tenant; "*" (all tenants) for admin tokens only`)
	dataDir := fs.String("data-dir", "./data", "where --dev's secret is, when HUB_JWT_SECRET(_FILE) is unset")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	r, err := auth.ParseRole(*role)
	if err != nil {
		return fmt.Errorf("--role: %w", err)
	}
	if *subject == "" {
		return errors.New("--subject: required")
	}
	if r == auth.Agent && *service == "" {
		return errors.New("--service: required with --role agent")
	}
	if r != auth.Agent && *service != "" {
		return errors.New("--service: only agent tokens carry a service")
	}
	secret, err := configuredSecret(getenv)
	if err != nil {
		return err
	}
	if secret == nil {
		if secret, err = os.ReadFile(devSecretPath(*dataDir)); err != nil {
			return fmt.Errorf("no secret: set HUB_JWT_SECRET or HUB_JWT_SECRET_FILE, or pass --data-dir of a hub started with --dev (%w)", err)
		}
		secret = []byte(strings.TrimSpace(string(secret)))
	}
	keys, err := auth.NewKeys(secret)
	if err != nil {
		return err
	}
	tok, err := keys.Issue(auth.IssueRequest{Role: r, Subject: *subject, Tenant: *tenant, Service: *service, TTL: *ttl})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("%q is not debug, info, warn or error", s)
	}
	return l, nil
}

func newLogger(c LogConfig, w io.Writer) (*slog.Logger, error) {
	level, err := parseLevel(c.Level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return slog.New(slog.NewJSONHandler(w, opts)), nil
}
