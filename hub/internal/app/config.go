// Package app is the hub daemon and its command line: configuration in layers (defaults, file,
// environment, flags), start-up in order, and a clean stop.
package app

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/centralhub/centralhub/hub/internal/duration"
	"github.com/centralhub/centralhub/hub/internal/registry"
	"github.com/centralhub/centralhub/pkg/gossip"
)

// Config is the hub's configuration, as the hub configuration file lays it out.
type Config struct {
	Listen        string         `yaml:"listen"`
	DataDir       string         `yaml:"data_dir"`
	MetricsPublic bool           `yaml:"metrics_public"`
	Registry      RegistryConfig `yaml:"registry"`
	Ingest        IngestConfig   `yaml:"ingest"`
	Log           LogConfig      `yaml:"log"`
	Gossip        GossipConfig   `yaml:"gossip"`
	Alerts        AlertsConfig   `yaml:"alerts"`
	History       HistoryConfig  `yaml:"history"`
	TLS           TLSConfig      `yaml:"tls"`
	// DatabaseURL selects the PostgreSQL store (postgres://user:pass@host:5432/db); the
	// embedded store in DataDir when empty. DatabaseURLFile names a file holding it instead.
	DatabaseURL     string `yaml:"database_url"`
	DatabaseURLFile string `yaml:"database_url_file"`
	// Migrate applies pending schema migrations at start (PostgreSQL only); with it off, a
	// schema behind this hub's is refused.
	Migrate bool `yaml:"migrate"`
	// APIURL is where other hubs on the same database reach this hub's API (they forward
	// changes to alerts to the leader there); default from Listen.
	APIURL string `yaml:"api_url"`

	// Dev generates (or reuses) a random secret in DataDir and prints an admin token. Flag only.
	Dev bool `yaml:"-"`
	// GCPercent is the Go garbage collector's target (GOGC) when the GOGC environment variable
	// is unset: the registry keeps every instance's latest report live, so Go's default of 100
	// collects far more often than the hub needs. 0 keeps Go's default.
	GCPercent int `yaml:"gc_percent"`
	// ShutdownDelay is how long /ready answers 503 before the listener closes on a stop
	// signal, so a load balancer stops sending new requests first.
	ShutdownDelay Duration `yaml:"shutdown_delay"`
	// ShutdownTimeout bounds how long in-flight requests may take after a stop signal.
	ShutdownTimeout time.Duration `yaml:"-"`
}

// RegistryConfig is the registry section.
type RegistryConfig struct {
	StaleAfter      int      `yaml:"stale_after"`      // missed intervals before critical
	DeregisterAfter Duration `yaml:"deregister_after"` // silence before removal
}

// IngestConfig is the ingest section.
type IngestConfig struct {
	MaxBody         ByteSize `yaml:"max_body"`          // report body cap
	RatePerInstance float64  `yaml:"rate_per_instance"` // reports/s per instance before 429
}

// TLSConfig is the tls section: HTTPS on listen, client certificates asked of agents, and the
// roots trusted for requests to other hubs. TLS is off while CertFile is empty. The serving
// certificate, its key and the client CAs are read at start and again on SIGHUP.
type TLSConfig struct {
	CertFile string `yaml:"cert_file"` // PEM certificate (chain) served on listen; with KeyFile
	KeyFile  string `yaml:"key_file"`  // its PEM private key
	// ClientCAFile holds the PEM CAs a client certificate must chain to. With it the listener
	// verifies a certificate when one is presented, and the agent routes refuse a request
	// without one; every other route goes on with tokens alone. Needs CertFile.
	ClientCAFile string `yaml:"client_ca_file"`
	// CAFile holds PEM CAs trusted, besides the system's, when this hub forwards a change to
	// the leading hub at an https api_url. Read at start.
	CAFile string `yaml:"ca_file"`
}

// On reports whether the hub serves HTTPS.
func (t *TLSConfig) On() bool { return t.CertFile != "" }

func (t *TLSConfig) validate() error {
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		return errors.New("tls.key_file (--tls-key-file): required with tls.cert_file")
	case t.KeyFile != "" && t.CertFile == "":
		return errors.New("tls.cert_file (--tls-cert-file): required with tls.key_file")
	case t.ClientCAFile != "" && t.CertFile == "":
		return errors.New("tls.client_ca_file (--tls-client-ca-file): needs tls.cert_file and tls.key_file: client certificates are asked for over HTTPS only")
	}
	return nil
}

// HistoryConfig is the history section.
type HistoryConfig struct {
	Interval  Duration `yaml:"interval"`  // how often at most an instance is sampled
	Retention Duration `yaml:"retention"` // how long samples, transitions and roll-ups are kept
	Queue     int      `yaml:"queue"`     // samples (and transitions) held while the store is away
}

// GossipConfig is the gossip section; gossip is off while Bind is empty.
type GossipConfig struct {
	Bind        string     `yaml:"bind"`         // host:port to gossip on (port 7946 when omitted)
	Advertise   string     `yaml:"advertise"`    // host:port members reach this hub at; default: Bind's
	Join        StringList `yaml:"join"`         // members to join at start, retried until one answers
	KeyFile     string     `yaml:"key_file"`     // base64 32-byte key; required unless --dev
	KeyringFile string     `yaml:"keyring_file"` // where rotated keys persist; default <data_dir>/gossip-keyring
	Profile     string     `yaml:"profile"`      // timing profile: lan (default), wan or local
	// APIAddress is the host:port agents reach this hub's API at, carried in its gossip tags.
	// Default: the listen address when it names a host, else the gossip address's host with
	// the listen port.
	APIAddress string `yaml:"api_address"`
}

// StringList is a list read from YAML as a sequence, or from a flag as comma-separated values.
type StringList []string

// String implements flag.Value.
func (l *StringList) String() string { return strings.Join(*l, ",") }

// Set implements flag.Value.
func (l *StringList) Set(v string) error {
	*l = nil
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}

// LogConfig is the log section.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // json or text
}

// DefaultConfig returns the defaults of DESIGN.md.
func DefaultConfig() Config {
	rd := registry.DefaultConfig()
	return Config{
		Listen:  ":7000",
		DataDir: "./data",
		Registry: RegistryConfig{
			StaleAfter:      rd.StaleAfter,
			DeregisterAfter: Duration(rd.DeregisterAfter),
		},
		Ingest: IngestConfig{MaxBody: 1 << 20, RatePerInstance: rd.RatePerInstance},
		Log:    LogConfig{Level: "info", Format: "json"},
		Gossip: GossipConfig{Profile: string(gossip.ProfileLAN)},
		Alerts: defaultAlerts(),
		History: HistoryConfig{
			Interval:  Duration(rd.HistoryInterval),
			Retention: Duration(7 * 24 * time.Hour),
			Queue:     rd.HistoryQueue,
		},
		Migrate:         true,
		GCPercent:       400,
		ShutdownTimeout: 10 * time.Second,
	}
}

// Validate names the first unusable setting.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("listen: %q is not host:port: %w", c.Listen, err)
	}
	if c.DataDir == "" {
		return errors.New("data_dir: must not be empty")
	}
	if c.GCPercent < 0 || c.GCPercent > 10_000 {
		return errors.New("gc_percent: must be between 0 (Go's default) and 10000")
	}
	if c.ShutdownDelay < 0 || time.Duration(c.ShutdownDelay) > time.Minute {
		return errors.New("shutdown_delay: must be between 0s and 1m")
	}
	if c.Ingest.MaxBody < 1024 || c.Ingest.MaxBody > 64<<20 {
		return errors.New("ingest.max_body: must be between 1KiB and 64MiB")
	}
	if err := c.registryConfig().Validate(); err != nil {
		return err
	}
	if c.History.Retention < Duration(24*time.Hour) || c.History.Retention > Duration(3650*24*time.Hour) {
		return errors.New("history.retention: must be between 1d and 3650d")
	}
	if _, err := parseLevel(c.Log.Level); err != nil {
		return fmt.Errorf("log.level: %w", err)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		return fmt.Errorf("log.format: %q is not json or text", c.Log.Format)
	}
	if err := c.Gossip.validate(c.Dev); err != nil {
		return err
	}
	if err := c.validateDatabase(); err != nil {
		return err
	}
	if err := c.TLS.validate(); err != nil {
		return err
	}
	return c.Alerts.validate()
}

func (g *GossipConfig) validate(dev bool) error {
	if g.Bind == "" {
		if g.Advertise != "" || len(g.Join) > 0 || g.KeyFile != "" || g.APIAddress != "" {
			return errors.New("gossip.bind: required when any other gossip setting is given")
		}
		return nil
	}
	// memberlist binds and advertises IP addresses only: a host name would fail at start (or,
	// for bind, silently listen on every interface).
	for _, f := range []struct{ name, addr string }{{"gossip.bind", g.Bind}, {"gossip.advertise", g.Advertise}} {
		if f.addr == "" {
			continue
		}
		host, _, err := net.SplitHostPort(f.addr)
		if err != nil {
			if f.name != "gossip.bind" {
				return fmt.Errorf("%s: %q is not IP:port", f.name, f.addr)
			}
			host = f.addr // bind may omit the port
		}
		if host != "" && net.ParseIP(host) == nil {
			return fmt.Errorf("%s: %q is not an IP address (memberlist takes no host names)", f.name, host)
		}
	}
	if g.APIAddress != "" {
		if _, _, err := net.SplitHostPort(g.APIAddress); err != nil {
			return fmt.Errorf("gossip.api_address: %q is not host:port", g.APIAddress)
		}
	}
	for i, j := range g.Join {
		if j == "" || strings.ContainsAny(j, " /") {
			return fmt.Errorf("gossip.join[%d]: %q is not host or host:port", i, j)
		}
	}
	if g.KeyFile == "" && !dev {
		return errors.New("gossip.key_file: required (a base64 32-byte key; generate one with: head -c32 /dev/urandom | base64); only --dev runs without one")
	}
	if _, err := gossip.ParseProfile(g.Profile); err != nil {
		return fmt.Errorf("gossip.profile: %w", err)
	}
	return nil
}

func (c *Config) registryConfig() registry.Config {
	rc := registry.DefaultConfig()
	rc.StaleAfter = c.Registry.StaleAfter
	rc.DeregisterAfter = time.Duration(c.Registry.DeregisterAfter)
	rc.RatePerInstance = c.Ingest.RatePerInstance
	rc.HistoryInterval = time.Duration(c.History.Interval)
	rc.HistoryQueue = c.History.Queue
	return rc
}

// LoadFile reads a YAML configuration file over c; an unknown key is an error naming the file
// and the key.
func (c *Config) LoadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
		var te *yaml.TypeError
		if errors.As(err, &te) {
			msgs := make([]string, len(te.Errors))
			for i, m := range te.Errors {
				msgs[i] = unknownField.ReplaceAllString(m, `${1}unknown key "${2}"`)
			}
			return fmt.Errorf("%s: %s", path, strings.Join(msgs, "; "))
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// unknownField matches yaml's "line 2: field foo not found in type app.Config".
var unknownField = regexp.MustCompile(`^(line \d+: )field (\S+) not found in type \S+$`)

// env is the environment, injectable for tests.
type env func(string) (string, bool)

// applyEnv applies HUB_* variables over c.
func (c *Config) applyEnv(getenv env) error {
	if v, ok := getenv("HUB_LISTEN"); ok {
		c.Listen = v
	}
	if v, ok := getenv("HUB_DATA_DIR"); ok {
		c.DataDir = v
	}
	if v, ok := getenv("HUB_METRICS_PUBLIC"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("HUB_METRICS_PUBLIC: %q is not true or false", v)
		}
		c.MetricsPublic = b
	}
	if v, ok := getenv("HUB_LOG_LEVEL"); ok {
		c.Log.Level = v
	}
	if v, ok := getenv("HUB_GOSSIP_BIND"); ok {
		c.Gossip.Bind = v
	}
	if v, ok := getenv("HUB_GOSSIP_JOIN"); ok {
		_ = c.Gossip.Join.Set(v)
	}
	if v, ok := getenv("HUB_GOSSIP_KEY_FILE"); ok {
		c.Gossip.KeyFile = v
	}
	if v, ok := getenv("HUB_DATABASE_URL"); ok {
		c.DatabaseURL = v
	}
	if v, ok := getenv("HUB_DATABASE_URL_FILE"); ok {
		c.DatabaseURLFile = v
	}
	if v, ok := getenv("HUB_API_URL"); ok {
		c.APIURL = v
	}
	if v, ok := getenv("HUB_ALERTMANAGER_URL"); ok {
		c.Alerts.AlertmanagerURL = v
	}
	if v, ok := getenv("HUB_TLS_CERT_FILE"); ok {
		c.TLS.CertFile = v
	}
	if v, ok := getenv("HUB_TLS_KEY_FILE"); ok {
		c.TLS.KeyFile = v
	}
	if v, ok := getenv("HUB_TLS_CLIENT_CA_FILE"); ok {
		c.TLS.ClientCAFile = v
	}
	if v, ok := getenv("HUB_TLS_CA_FILE"); ok {
		c.TLS.CAFile = v
	}
	return nil
}

// Duration is a time.Duration read from YAML as "10m".
type Duration time.Duration

// UnmarshalYAML reads a duration string such as 10m, 1h30m or 7d.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as 10m or 7d", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// ParseDuration parses a Go duration (90s, 1h30m) or a whole number of days (7d).
func ParseDuration(s string) (time.Duration, error) { return duration.Parse(s) }

// ByteSize is a size read from YAML as a number of bytes or with a unit (KiB, MiB, KB, MB).
type ByteSize int64

// UnmarshalYAML reads a size such as 1MiB.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = ByteSize(v)
	return nil
}

// ParseByteSize parses "1048576", "1MiB", "512KiB", "1MB" or "64kB".
func ParseByteSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"kB", 1000}, {"KB", 1000}, {"MB", 1000_000}, {"GB", 1000_000_000}, {"B", 1}}
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size such as 1MiB", s)
	}
	return n * mult, nil
}

// bindFlags binds the serve flags to c. The command line is parsed twice: once to find
// --config, then again over the file's and environment's values, so flags win. A flag with an
// environment variable says so in its usage, "(env HUB_...)": applyEnv reads exactly those.
func (c *Config) bindFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", c.Listen, "address to serve the API on, host:port (env HUB_LISTEN)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of the embedded store (and --dev's secret) (env HUB_DATA_DIR)")
	fs.BoolVar(&c.Dev, "dev", c.Dev, "development mode: random secret kept in <data-dir>/dev-secret, admin token printed")
	fs.BoolVar(&c.MetricsPublic, "metrics-public", c.MetricsPublic, "serve /metrics without a token (env HUB_METRICS_PUBLIC)")
	fs.StringVar(&c.Log.Level, "log-level", c.Log.Level, "log level: debug, info, warn, error (env HUB_LOG_LEVEL)")
	fs.StringVar(&c.Log.Format, "log-format", c.Log.Format, "log format: json or text")
	fs.StringVar(&c.Gossip.Bind, "gossip-bind", c.Gossip.Bind, "gossip on this host:port (port 7946 when omitted); gossip is off without it (env HUB_GOSSIP_BIND)")
	fs.StringVar(&c.Gossip.Advertise, "gossip-advertise", c.Gossip.Advertise, "host:port other members reach this hub's gossip at (default: --gossip-bind's)")
	fs.Var(&c.Gossip.Join, "gossip-join", "comma-separated host:port of members to join, retried until one answers (env HUB_GOSSIP_JOIN)")
	fs.StringVar(&c.Gossip.KeyFile, "gossip-key-file", c.Gossip.KeyFile, "file with the base64 32-byte gossip key (required with --gossip-bind unless --dev) (env HUB_GOSSIP_KEY_FILE)")
	fs.StringVar(&c.Gossip.KeyringFile, "gossip-keyring-file", c.Gossip.KeyringFile, "where rotated gossip keys persist (default <data-dir>/gossip-keyring)")
	fs.StringVar(&c.Gossip.Profile, "gossip-profile", c.Gossip.Profile, "gossip timing profile: lan (default), wan or local")
	fs.StringVar(&c.Gossip.APIAddress, "gossip-api-address", c.Gossip.APIAddress, "host:port agents reach this hub's API at, told to them by gossip (default: from --listen and the gossip address)")
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "PostgreSQL URL (postgres://user:pass@host:5432/db): use PostgreSQL instead of the embedded store; prefer HUB_DATABASE_URL or --database-url-file, which keep the password off the command line (env HUB_DATABASE_URL)")
	fs.StringVar(&c.DatabaseURLFile, "database-url-file", c.DatabaseURLFile, "file holding the PostgreSQL URL (env HUB_DATABASE_URL_FILE)")
	fs.StringVar(&c.APIURL, "api-url", c.APIURL, "URL other hubs on the same database reach this hub's API at (default http(s)://<listen host or host name>:<port>) (env HUB_API_URL)")
	fs.BoolVar(&c.Migrate, "migrate", c.Migrate, "apply pending database migrations at start (PostgreSQL); --migrate=false refuses a schema behind this hub's")
	fs.StringVar(&c.Alerts.AlertmanagerURL, "alertmanager-url", c.Alerts.AlertmanagerURL, "push alerts to this Prometheus Alertmanager (its v2 API), e.g. http://127.0.0.1:9093 (env HUB_ALERTMANAGER_URL)")
	fs.StringVar(&c.TLS.CertFile, "tls-cert-file", c.TLS.CertFile, "serve HTTPS (only) on --listen with this PEM certificate (chain); re-read on SIGHUP (env HUB_TLS_CERT_FILE)")
	fs.StringVar(&c.TLS.KeyFile, "tls-key-file", c.TLS.KeyFile, "PEM private key of --tls-cert-file; re-read on SIGHUP (env HUB_TLS_KEY_FILE)")
	fs.StringVar(&c.TLS.ClientCAFile, "tls-client-ca-file", c.TLS.ClientCAFile, "PEM CAs of agents' client certificates: verify a certificate when one is presented, and refuse agent routes without one; re-read on SIGHUP (env HUB_TLS_CLIENT_CA_FILE)")
	fs.StringVar(&c.TLS.CAFile, "tls-ca-file", c.TLS.CAFile, "PEM CAs trusted, besides the system's, for requests to other hubs at https URLs (env HUB_TLS_CA_FILE)")
	fs.Func("shutdown-delay", "how long /ready answers 503 before the listener closes on SIGTERM (e.g. 5s)", func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration", v)
		}
		c.ShutdownDelay = Duration(d)
		return nil
	})
}

// serveUsageHeader comes before the flags in `hub serve -h`: what the flags do not show.
const serveUsageHeader = `usage: hub serve [--config hub.yaml] [flags]

Settings come in layers: defaults, then the --config file (YAML), then the environment, then flags.
The JWT secret that signs and verifies tokens is never a flag: it comes from HUB_JWT_SECRET, or
from the file named by HUB_JWT_SECRET_FILE (one line); with --dev and neither set, from
<data-dir>/dev-secret. SIGHUP re-reads the TLS certificate, key and client CAs; SIGTERM or SIGINT
stops the hub.

flags:
`

// serveUsage prints serveUsageHeader and fs's flags to fs's output.
func serveUsage(fs *flag.FlagSet) func() {
	return func() {
		fmt.Fprint(fs.Output(), serveUsageHeader)
		fs.PrintDefaults()
	}
}

// devSecretPath is where --dev keeps its secret.
func devSecretPath(dataDir string) string { return filepath.Join(dataDir, "dev-secret") }
