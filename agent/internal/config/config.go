// Package config reads the agent's YAML configuration in layers — defaults, then the file, then
// the environment — and validates it, naming the offending field in every error.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/centralhub/centralhub/pkg/gossip"
)

// Environment variables read by Load and Parse.
const (
	EnvHubURL = "AGENT_HUB_URL" // overrides hub.url
	EnvToken  = "AGENT_TOKEN"   // the hub token; when set, hub.token_file is not read
)

// Defaults of the agent and of each check (DESIGN.md, "Defaults").
const (
	DefaultTenant        = "default"
	DefaultInterval      = 10 * time.Second
	DefaultListen        = "127.0.0.1:7001"
	DefaultCheckInterval = 10 * time.Second
	DefaultCheckTimeout  = 5 * time.Second
	DefaultRise          = 1
	DefaultFall          = 1
	DefaultHTTPMethod    = "GET"
	DefaultExpectStatus  = "200-299"
	DefaultGossipBind    = "0.0.0.0:7946" // gossip.bind; 7946 is gossip.DefaultPort
)

// Config is the whole agent configuration. The YAML keys are part of the public contract.
type Config struct {
	Service       string            `yaml:"service"`        // required
	Instance      string            `yaml:"instance"`       // default: the hostname
	Tenant        string            `yaml:"tenant"`         // default: DefaultTenant
	Address       string            `yaml:"address"`        // where the service listens, for the dashboard
	Interval      time.Duration     `yaml:"interval"`       // heartbeat report interval; default DefaultInterval
	Listen        string            `yaml:"listen"`         // local API; default DefaultListen
	MetricsListen string            `yaml:"metrics_listen"` // optional listener serving only /metrics
	Runbook       string            `yaml:"runbook"`        // shown with this service's alerts
	Tags          []string          `yaml:"tags"`           // free-form labels carried in reports
	Meta          map[string]string `yaml:"meta"`           // free-form key/values carried in reports
	Hub           Hub               `yaml:"hub"`
	DependsOn     []string          `yaml:"depends_on"` // services this one needs
	Checks        []Check           `yaml:"checks"`
	ConfigChecks  []ConfigCheck     `yaml:"config_checks"`
	Gossip        *Gossip           `yaml:"gossip"` // nil (section omitted): no gossip
}

// Hub says where reports go, with which token and, for https hubs, which TLS.
type Hub struct {
	URL       string   `yaml:"url"`        // primary hub; env AGENT_HUB_URL overrides
	URLs      []string `yaml:"urls"`       // further hubs to fail over to
	TokenFile string   `yaml:"token_file"` // file holding the token, re-read when it changes
	Token     string   `yaml:"-"`          // from env AGENT_TOKEN; wins over TokenFile
	// CAFile holds the PEM CAs an https hub's certificate must chain to; when set, only these
	// (not the system's roots) are trusted. Read at start.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a PEM client certificate and its key, presented to hubs that
	// ask for one (tls.client_ca_file on the hub); both or neither. Re-read when they change.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// TLS reports whether any of the hub TLS settings is given.
func (h Hub) TLS() bool { return h.CAFile != "" || h.CertFile != "" || h.KeyFile != "" }

// ReportURLs returns every hub base URL in failover order: URL first, then URLs.
func (h Hub) ReportURLs() []string {
	return append([]string{h.URL}, h.URLs...)
}

// Gossip makes the agent a member of the gossip cluster, so hubs notice a dead instance within
// seconds and the sender learns which configured hubs are alive.
type Gossip struct {
	Bind        string   `yaml:"bind"`         // IP:port to listen on; default DefaultGossipBind
	Advertise   string   `yaml:"advertise"`    // IP:port others reach this agent at; default: bind's
	Join        []string `yaml:"join"`         // host:port of members to join; at least one
	KeyFile     string   `yaml:"key_file"`     // the base64 32-byte encryption key; required
	KeyringFile string   `yaml:"keyring_file"` // where rotated keys persist; optional
	Profile     string   `yaml:"profile"`      // timing: lan (default), wan or local
}

// Check is one health check: common fields plus exactly one kind key.
type Check struct {
	Name      string        `yaml:"name"`
	Interval  time.Duration `yaml:"interval"`  // default DefaultCheckInterval
	Timeout   time.Duration `yaml:"timeout"`   // default DefaultCheckTimeout, capped at Interval
	Rise      int           `yaml:"rise"`      // consecutive passes before passing; default 1
	Fall      int           `yaml:"fall"`      // consecutive failures before non-passing; default 1
	Component string        `yaml:"component"` // infrastructure node this check probes
	Critical  bool          `yaml:"critical"`  // that component down makes the system unhealthy
	Runbook   string        `yaml:"runbook"`
	// ComponentMeta labels the component (such as stand-in: "true"); only with Component.
	ComponentMeta map[string]string `yaml:"component_meta"`

	HTTP  *HTTPCheck  `yaml:"http"`
	TCP   *TCPCheck   `yaml:"tcp"`
	Exec  *ExecCheck  `yaml:"exec"`
	TTL   *TTLCheck   `yaml:"ttl"`
	TLS   *TLSCheck   `yaml:"tls"`
	Redis *RedisCheck `yaml:"redis"`

	Postgres   *PostgresCheck  `yaml:"postgres"`
	MySQL      *MySQLCheck     `yaml:"mysql"`
	NATS       *NATSCheck      `yaml:"nats"`
	AMQP       *AMQPCheck      `yaml:"amqp"`
	MQTT       *MQTTCheck      `yaml:"mqtt"`
	Kafka      *KafkaCheck     `yaml:"kafka"`
	GRPC       *GRPCCheck      `yaml:"grpc"`
	ZooKeeper  *ZooKeeperCheck `yaml:"zookeeper"`
	ClickHouse *PresetCheck    `yaml:"clickhouse"`
	ArangoDB   *PresetCheck    `yaml:"arangodb"`
	Weaviate   *PresetCheck    `yaml:"weaviate"`
	Disk       *DiskCheck      `yaml:"disk"`
	Memory     *MemoryCheck    `yaml:"memory"`
	Load       *LoadCheck      `yaml:"load"`
}

// Kind returns the name of the check's kind key ("http", "tcp", "redis", ...), or "" when it has
// none. With more than one set, it returns the first in kinds' order; Validate rejects that case.
func (c *Check) Kind() string {
	if kinds := c.kinds(); len(kinds) > 0 {
		return kinds[0]
	}
	return ""
}

func (c *Check) kinds() []string {
	var kinds []string
	for _, k := range []struct {
		name string
		set  bool
	}{
		{"http", c.HTTP != nil}, {"tcp", c.TCP != nil}, {"exec", c.Exec != nil}, {"ttl", c.TTL != nil},
		{"tls", c.TLS != nil}, {"redis", c.Redis != nil}, {"postgres", c.Postgres != nil},
		{"mysql", c.MySQL != nil}, {"nats", c.NATS != nil}, {"amqp", c.AMQP != nil},
		{"mqtt", c.MQTT != nil}, {"kafka", c.Kafka != nil}, {"grpc", c.GRPC != nil},
		{"zookeeper", c.ZooKeeper != nil}, {"clickhouse", c.ClickHouse != nil},
		{"arangodb", c.ArangoDB != nil}, {"weaviate", c.Weaviate != nil}, {"disk", c.Disk != nil},
		{"memory", c.Memory != nil}, {"load", c.Load != nil},
	} {
		if k.set {
			kinds = append(kinds, k.name)
		}
	}
	return kinds
}

// HTTPCheck requests a URL and compares the response status (and optionally body).
type HTTPCheck struct {
	URL           string            `yaml:"url"`
	Method        string            `yaml:"method"`        // default DefaultHTTPMethod
	ExpectStatus  string            `yaml:"expect_status"` // "200-299", "200" or "200,204,300-399"
	BodyContains  string            `yaml:"body_contains"` // substring the body must contain
	Headers       map[string]string `yaml:"headers"`
	TLSSkipVerify bool              `yaml:"tls_skip_verify"`
}

// TCPCheck connects to an address.
type TCPCheck struct {
	Address string `yaml:"address"` // host:port
}

// TLSCheck opens a TLS connection and judges the certificate chain the server presents: valid
// for the server name, and how many days until the first of its certificates expires.
type TLSCheck struct {
	Address      string `yaml:"address"`       // host:port
	ServerName   string `yaml:"server_name"`   // the name the certificate must be valid for; default the address's host
	CAFile       string `yaml:"ca_file"`       // PEM roots to verify against; default the system's
	WarnDays     int    `yaml:"warn_days"`     // warning below this many days left; default DefaultTLSWarnDays
	CriticalDays int    `yaml:"critical_days"` // critical below this many; default DefaultTLSCriticalDays
}

// Defaults of TLSCheck.
const (
	DefaultTLSWarnDays     = 14
	DefaultTLSCriticalDays = 3
)

// ExecCheck runs a command: exit 0 is passing, 1 warning, anything else critical.
type ExecCheck struct {
	Command []string `yaml:"command"` // argv; no shell unless you name one
}

// TTLCheck is passive: the service reports its own status to the agent's local API, and silence
// longer than TTL is critical.
type TTLCheck struct {
	TTL time.Duration `yaml:"ttl"`
}

// Default returns a Config holding every default that does not depend on the host.
func Default() *Config {
	return &Config{
		Tenant:   DefaultTenant,
		Interval: DefaultInterval,
		Listen:   DefaultListen,
	}
}

// Load reads the YAML file at path and returns the validated configuration. lookupEnv (normally
// os.LookupEnv) supplies the environment overrides. Every error names the file.
func Load(path string, lookupEnv func(string) (string, bool)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, lookupEnv)
}

// Parse is Load for YAML already in memory; name is the file name used in errors.
func Parse(name string, data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	cfg := Default()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, yamlError(err))
	}
	if err := dec.Decode(new(yaml.Node)); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: more than one YAML document", name)
	}
	cfg.applyEnv(lookupEnv)
	if err := cfg.applyDefaults(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return cfg, nil
}

var unknownFieldRE = regexp.MustCompile(`^line (\d+): field (.+) not found in type \S+$`)

// yamlError rewrites yaml.v3's unmarshal errors so that an unknown key reads
// `line 7: unknown key "intervl"`; other errors keep their text without the "yaml: " noise.
func yamlError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		if g := unknownFieldRE.FindStringSubmatch(m); g != nil {
			m = fmt.Sprintf("line %s: unknown key %q", g[1], g[2])
		}
		msgs[i] = m
	}
	return errors.New(strings.Join(msgs, "; "))
}

func (c *Config) applyEnv(lookupEnv func(string) (string, bool)) {
	if lookupEnv == nil {
		return
	}
	if v, ok := lookupEnv(EnvHubURL); ok && v != "" {
		c.Hub.URL = v
	}
	if v, ok := lookupEnv(EnvToken); ok && strings.TrimSpace(v) != "" {
		c.Hub.Token = strings.TrimSpace(v)
	}
}

// applyDefaults fills the fields left zero by the file. Negative values stay for Validate.
func (c *Config) applyDefaults() error {
	if c.Instance == "" {
		host, err := os.Hostname()
		if err != nil {
			return &FieldError{"instance", "not set and the hostname is unavailable: " + err.Error()}
		}
		c.Instance = host
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	c.applyConfigCheckDefaults()
	if g := c.Gossip; g != nil {
		if g.Bind == "" {
			g.Bind = DefaultGossipBind
		}
		if g.Profile == "" {
			g.Profile = string(gossip.ProfileLAN)
		}
	}
	for i := range c.Checks {
		ch := &c.Checks[i]
		if ch.Interval == 0 {
			ch.Interval = DefaultCheckInterval
		}
		if ch.Timeout == 0 {
			ch.Timeout = DefaultCheckTimeout
		}
		if ch.Timeout > ch.Interval && ch.Interval > 0 {
			ch.Timeout = ch.Interval // a run never outlasts its interval
		}
		if ch.Rise == 0 {
			ch.Rise = DefaultRise
		}
		if ch.Fall == 0 {
			ch.Fall = DefaultFall
		}
		if t := ch.TLS; t != nil {
			if t.WarnDays == 0 {
				t.WarnDays = DefaultTLSWarnDays
			}
			if t.CriticalDays == 0 {
				t.CriticalDays = DefaultTLSCriticalDays
			}
			if t.ServerName == "" {
				t.ServerName, _, _ = net.SplitHostPort(t.Address)
			}
		}
		ch.applyProbeDefaults()
		if h := ch.HTTP; h != nil {
			if h.Method == "" {
				h.Method = DefaultHTTPMethod
			}
			h.Method = strings.ToUpper(h.Method)
			if h.ExpectStatus == "" {
				h.ExpectStatus = DefaultExpectStatus
			}
		}
	}
	return nil
}

// FieldError says which configuration field is wrong and why.
type FieldError struct {
	Field  string // the YAML path, such as "checks[2].http.url"
	Reason string
}

// Error implements error as "field: reason".
func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }
