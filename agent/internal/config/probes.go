package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// Secret names where a probe's password comes from: a file (trailing newline dropped) or an
// environment variable. It is read at each probe, so a rotated secret is picked up, and it never
// appears in a check's output, the agent's logs or its reports. Passwords written inline in a
// URL or DSN are refused.
type Secret struct {
	PasswordFile string `yaml:"password_file"` // file holding the password
	PasswordEnv  string `yaml:"password_env"`  // or the environment variable holding it
}

// Password reads the secret ("" when neither source is named).
func (s Secret) Password() (string, error) {
	switch {
	case s.PasswordFile != "":
		b, err := os.ReadFile(s.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("password_file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	case s.PasswordEnv != "":
		v, ok := os.LookupEnv(s.PasswordEnv)
		if !ok {
			return "", fmt.Errorf("password_env: %s is not set", s.PasswordEnv)
		}
		return v, nil
	}
	return "", nil
}

// Set reports whether a password source is named.
func (s Secret) Set() bool { return s.PasswordFile != "" || s.PasswordEnv != "" }

func (s Secret) validate(at string) error {
	if s.PasswordFile != "" && s.PasswordEnv != "" {
		return &FieldError{at + ".password_env", "set password_file or password_env, not both"}
	}
	return nil
}

// ClientTLS makes a probe connect over TLS (its presence is enough; every key is optional).
type ClientTLS struct {
	CAFile             string `yaml:"ca_file"`              // PEM roots; default the system's
	CertFile           string `yaml:"cert_file"`            // client certificate, with key_file
	KeyFile            string `yaml:"key_file"`             // its private key
	ServerName         string `yaml:"server_name"`          // default the host the probe dials
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"` // accept any certificate (testing only)
}

func (t *ClientTLS) validate(at string) error {
	if t == nil {
		return nil
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return &FieldError{at + ".cert_file", "cert_file and key_file go together"}
	}
	for _, f := range []struct{ key, path string }{{"ca_file", t.CAFile}, {"cert_file", t.CertFile}, {"key_file", t.KeyFile}} {
		if f.path == "" {
			continue
		}
		if _, err := os.Stat(f.path); err != nil {
			return &FieldError{at + "." + f.key, err.Error()}
		}
	}
	return nil
}

// RedisCheck probes a Redis-compatible server (Redis, DragonflyDB, Valkey): AUTH when a password
// is configured, PING, and optionally its replication role and memory use.
type RedisCheck struct {
	Address          string `yaml:"address"`  // host:port
	Username         string `yaml:"username"` // ACL user (Redis 6+); default the default user
	Secret           `yaml:",inline"`
	Role             string     `yaml:"role"`               // master or replica: critical when the server's differs
	MaxMemoryPercent float64    `yaml:"max_memory_percent"` // warning above this share of maxmemory (or of the host's memory)
	TLS              *ClientTLS `yaml:"tls"`
}

// PostgresCheck connects to PostgreSQL (or TimescaleDB), authenticates and runs SELECT 1.
type PostgresCheck struct {
	URL                   string `yaml:"url"` // postgres://user@host:5432/db?sslmode=...; TLS through the URL's ssl* parameters
	Secret                `yaml:",inline"`
	MaxConnectionsPercent float64       `yaml:"max_connections_percent"` // warning when connections exceed this share of max_connections
	MaxReplicaLag         time.Duration `yaml:"max_replica_lag"`         // on a standby, warning when replay lags more
}

// MySQLCheck connects to MySQL or MariaDB and pings it.
type MySQLCheck struct {
	DSN    string `yaml:"dsn"` // user@tcp(host:3306)/db, as go-sql-driver/mysql reads it
	Secret `yaml:",inline"`
	TLS    *ClientTLS `yaml:"tls"`
}

// NATSCheck connects to a NATS server, times a PING/PONG round trip and optionally asks for
// JetStream. With a password and no user in the URL, the password is sent as a token.
type NATSCheck struct {
	URL       string `yaml:"url"` // nats://[user@]host:4222 (tls:// for TLS)
	Secret    `yaml:",inline"`
	JetStream bool       `yaml:"jetstream"` // critical when JetStream does not answer
	TLS       *ClientTLS `yaml:"tls"`
}

// AMQPCheck opens an AMQP 0-9-1 connection (RabbitMQ) with its credentials and closes it.
type AMQPCheck struct {
	URL    string `yaml:"url"` // amqp://user@host:5672/vhost (amqps:// for TLS)
	Secret `yaml:",inline"`
	TLS    *ClientTLS `yaml:"tls"`
}

// MQTTCheck sends an MQTT CONNECT and expects a CONNACK that accepts it.
type MQTTCheck struct {
	Address  string `yaml:"address"` // host:port
	Username string `yaml:"username"`
	Secret   `yaml:",inline"`
	ClientID string     `yaml:"client_id"` // default "centralhub-" and 12 random hex digits, new at each probe
	TLS      *ClientTLS `yaml:"tls"`
}

// KafkaCheck asks Kafka brokers for cluster metadata.
type KafkaCheck struct {
	Brokers       []string `yaml:"brokers"`        // host:port seeds
	Topic         string   `yaml:"topic"`          // critical when this topic is not in the metadata
	SASLMechanism string   `yaml:"sasl_mechanism"` // PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; needs username
	Username      string   `yaml:"username"`
	Secret        `yaml:",inline"`
	TLS           *ClientTLS `yaml:"tls"`
}

// GRPCCheck calls the standard gRPC health protocol (grpc.health.v1.Health/Check).
type GRPCCheck struct {
	Address string     `yaml:"address"` // host:port
	Service string     `yaml:"service"` // "" asks about the server as a whole
	TLS     *ClientTLS `yaml:"tls"`     // without it, plaintext HTTP/2
}

// ZooKeeperCheck sends the four-letter word ruok and expects imok.
type ZooKeeperCheck struct {
	Address string     `yaml:"address"` // host:port (the secureClientPort with tls)
	TLS     *ClientTLS `yaml:"tls"`
}

// PresetCheck is an HTTP check of a product's documented readiness endpoint (clickhouse: /ping,
// arangodb: /_admin/server/availability, weaviate: /v1/.well-known/ready).
type PresetCheck struct {
	URL           string     `yaml:"url"` // the server's base URL, such as http://host:8123
	TLSSkipVerify bool       `yaml:"tls_skip_verify"`
	TLS           *ClientTLS `yaml:"tls"` // CA, client certificate and server name for an https URL
}

// DiskCheck judges the used share of the filesystem holding Path.
type DiskCheck struct {
	Path            string  `yaml:"path"`             // default "/"
	WarnPercent     float64 `yaml:"warn_percent"`     // default 80
	CriticalPercent float64 `yaml:"critical_percent"` // default 90
}

// MemoryCheck judges the host's used memory share (1 - MemAvailable/MemTotal).
type MemoryCheck struct {
	WarnPercent     float64 `yaml:"warn_percent"`     // default 90
	CriticalPercent float64 `yaml:"critical_percent"` // default 95
}

// LoadCheck judges the host's load average divided by its CPU count.
type LoadCheck struct {
	Window         string  `yaml:"window"`           // 1m, 5m (default) or 15m
	WarnPerCPU     float64 `yaml:"warn_per_cpu"`     // default 1.5
	CriticalPerCPU float64 `yaml:"critical_per_cpu"` // default 3
}

// Defaults of the host checks.
const (
	DefaultDiskPath       = "/"
	DefaultDiskWarn       = 80.0
	DefaultDiskCritical   = 90.0
	DefaultMemoryWarn     = 90.0
	DefaultMemoryCritical = 95.0
	DefaultLoadWindow     = "5m"
	DefaultLoadWarnPerCPU = 1.5
	DefaultLoadCritPerCPU = 3.0
)

// applyProbeDefaults fills a probe's zero fields.
func (c *Check) applyProbeDefaults() {
	if d := c.Disk; d != nil {
		if d.Path == "" {
			d.Path = DefaultDiskPath
		}
		if d.WarnPercent == 0 {
			d.WarnPercent = DefaultDiskWarn
		}
		if d.CriticalPercent == 0 {
			d.CriticalPercent = DefaultDiskCritical
		}
	}
	if m := c.Memory; m != nil {
		if m.WarnPercent == 0 {
			m.WarnPercent = DefaultMemoryWarn
		}
		if m.CriticalPercent == 0 {
			m.CriticalPercent = DefaultMemoryCritical
		}
	}
	if l := c.Load; l != nil {
		if l.Window == "" {
			l.Window = DefaultLoadWindow
		}
		if l.WarnPerCPU == 0 {
			l.WarnPerCPU = DefaultLoadWarnPerCPU
		}
		if l.CriticalPerCPU == 0 {
			l.CriticalPerCPU = DefaultLoadCritPerCPU
		}
	}
	if k := c.Kafka; k != nil {
		k.SASLMechanism = strings.ToUpper(k.SASLMechanism)
	}
}

// validateProbe checks the fields of the probe kinds; it returns nil for the other kinds.
func (c *Check) validateProbe(at string) error {
	switch {
	case c.Redis != nil:
		return c.Redis.validate(at + ".redis")
	case c.Postgres != nil:
		return c.Postgres.validate(at + ".postgres")
	case c.MySQL != nil:
		return c.MySQL.validate(at + ".mysql")
	case c.NATS != nil:
		return c.NATS.validate(at + ".nats")
	case c.AMQP != nil:
		return c.AMQP.validate(at + ".amqp")
	case c.MQTT != nil:
		return c.MQTT.validate(at + ".mqtt")
	case c.Kafka != nil:
		return c.Kafka.validate(at + ".kafka")
	case c.GRPC != nil:
		if err := validHostPort(c.GRPC.Address); err != nil {
			return &FieldError{at + ".grpc.address", err.Error()}
		}
		return c.GRPC.TLS.validate(at + ".grpc.tls")
	case c.ZooKeeper != nil:
		if err := validHostPort(c.ZooKeeper.Address); err != nil {
			return &FieldError{at + ".zookeeper.address", err.Error()}
		}
		return c.ZooKeeper.TLS.validate(at + ".zookeeper.tls")
	case c.ClickHouse != nil:
		return c.ClickHouse.validate(at + ".clickhouse")
	case c.ArangoDB != nil:
		return c.ArangoDB.validate(at + ".arangodb")
	case c.Weaviate != nil:
		return c.Weaviate.validate(at + ".weaviate")
	case c.Disk != nil:
		if !strings.HasPrefix(c.Disk.Path, "/") {
			return &FieldError{at + ".disk.path", fmt.Sprintf("%q: want an absolute path", c.Disk.Path)}
		}
		return validThresholds(at+".disk", c.Disk.WarnPercent, c.Disk.CriticalPercent, 100)
	case c.Memory != nil:
		return validThresholds(at+".memory", c.Memory.WarnPercent, c.Memory.CriticalPercent, 100)
	case c.Load != nil:
		switch c.Load.Window {
		case "1m", "5m", "15m":
		default:
			return &FieldError{at + ".load.window", fmt.Sprintf("%q: want 1m, 5m or 15m", c.Load.Window)}
		}
		if c.Load.WarnPerCPU < 0 || c.Load.WarnPerCPU > c.Load.CriticalPerCPU {
			return &FieldError{at + ".load.warn_per_cpu", fmt.Sprintf("%g: want from 0 to critical_per_cpu (%g)", c.Load.WarnPerCPU, c.Load.CriticalPerCPU)}
		}
	}
	return nil
}

// validThresholds checks a warning/critical percentage pair: 0 < warn <= critical <= max.
func validThresholds(at string, warn, crit, max float64) error {
	if crit <= 0 || crit > max {
		return &FieldError{at + ".critical_percent", fmt.Sprintf("%g: want more than 0 and at most %g", crit, max)}
	}
	if warn <= 0 || warn > crit {
		return &FieldError{at + ".warn_percent", fmt.Sprintf("%g: want more than 0 and at most critical_percent (%g)", warn, crit)}
	}
	return nil
}

func validHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return fmt.Errorf("%q: want host:port", addr)
	}
	return validPort(port, false)
}

// validProbeURL checks a probe URL's scheme and host, and refuses an inline password.
func validProbeURL(s string, schemes ...string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("required")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("not a URL: %w", redactURLError(err))
	}
	ok := false
	for _, sc := range schemes {
		ok = ok || u.Scheme == sc
	}
	if !ok {
		return nil, fmt.Errorf("%q: scheme must be %s", u.Redacted(), strings.Join(schemes, " or "))
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%q: no host", u.Redacted())
	}
	if _, set := u.User.Password(); set {
		return nil, fmt.Errorf("%q: must not carry a password (use password_file or password_env)", u.Redacted())
	}
	return u, nil
}

// redactURLError drops the URL from url.Parse's error, which quotes it whole (password and all).
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (r *RedisCheck) validate(at string) error {
	if err := validHostPort(r.Address); err != nil {
		return &FieldError{at + ".address", err.Error()}
	}
	if err := r.Secret.validate(at); err != nil {
		return err
	}
	if r.Username != "" && !r.Secret.Set() {
		return &FieldError{at + ".username", "needs password_file or password_env"}
	}
	if r.Role != "" && r.Role != "master" && r.Role != "replica" {
		return &FieldError{at + ".role", fmt.Sprintf("%q: want master or replica", r.Role)}
	}
	if r.MaxMemoryPercent < 0 || r.MaxMemoryPercent > 100 {
		return &FieldError{at + ".max_memory_percent", fmt.Sprintf("%g: want from 0 (off) to 100", r.MaxMemoryPercent)}
	}
	return r.TLS.validate(at + ".tls")
}

func (p *PostgresCheck) validate(at string) error {
	u, err := validProbeURL(p.URL, "postgres", "postgresql")
	if err != nil {
		return &FieldError{at + ".url", err.Error()}
	}
	for _, param := range []string{"password", "sslpassword"} {
		if u.Query().Has(param) {
			return &FieldError{at + ".url", fmt.Sprintf("must not carry a password (its %s parameter): use password_file or password_env", param)}
		}
	}
	if err := p.Secret.validate(at); err != nil {
		return err
	}
	if p.MaxConnectionsPercent < 0 || p.MaxConnectionsPercent > 100 {
		return &FieldError{at + ".max_connections_percent", fmt.Sprintf("%g: want from 0 (off) to 100", p.MaxConnectionsPercent)}
	}
	if p.MaxReplicaLag < 0 {
		return &FieldError{at + ".max_replica_lag", "must not be negative"}
	}
	return nil
}

func (m *MySQLCheck) validate(at string) error {
	if m.DSN == "" {
		return &FieldError{at + ".dsn", "required, such as user@tcp(host:3306)/db"}
	}
	if dsnHasPassword(m.DSN) {
		return &FieldError{at + ".dsn", "must not carry a password (use password_file or password_env)"}
	}
	if err := m.Secret.validate(at); err != nil {
		return err
	}
	return m.TLS.validate(at + ".tls")
}

// dsnHasPassword reports whether a go-sql-driver/mysql DSN,
// [user[:password]@][net[(addr)]]/dbname[?params], carries a password. It splits the DSN as the
// driver does: the user info ends at the last "@" before the last "/" (a user name may hold an
// "@", as Azure's user@server does, and parameters may too), and a password follows its first ":".
func dsnHasPassword(dsn string) bool {
	head := dsn
	if i := strings.LastIndexByte(head, '/'); i >= 0 {
		head = head[:i]
	}
	at := strings.LastIndexByte(head, '@')
	return at >= 0 && strings.Contains(head[:at], ":")
}

func (n *NATSCheck) validate(at string) error {
	if _, err := validProbeURL(n.URL, "nats", "tls"); err != nil {
		return &FieldError{at + ".url", err.Error()}
	}
	if err := n.Secret.validate(at); err != nil {
		return err
	}
	return n.TLS.validate(at + ".tls")
}

func (a *AMQPCheck) validate(at string) error {
	if _, err := validProbeURL(a.URL, "amqp", "amqps"); err != nil {
		return &FieldError{at + ".url", err.Error()}
	}
	if err := a.Secret.validate(at); err != nil {
		return err
	}
	return a.TLS.validate(at + ".tls")
}

func (m *MQTTCheck) validate(at string) error {
	if err := validHostPort(m.Address); err != nil {
		return &FieldError{at + ".address", err.Error()}
	}
	if err := m.Secret.validate(at); err != nil {
		return err
	}
	if m.Secret.Set() && m.Username == "" {
		return &FieldError{at + ".username", "required with a password (MQTT sends no password without a user name)"}
	}
	if len(m.ClientID) > 23 {
		return &FieldError{at + ".client_id", fmt.Sprintf("%q: at most 23 characters (MQTT 3.1.1)", m.ClientID)}
	}
	return m.TLS.validate(at + ".tls")
}

func (k *KafkaCheck) validate(at string) error {
	if len(k.Brokers) == 0 {
		return &FieldError{at + ".brokers", "at least one host:port is required"}
	}
	for i, b := range k.Brokers {
		if err := validHostPort(b); err != nil {
			return &FieldError{fmt.Sprintf("%s.brokers[%d]", at, i), err.Error()}
		}
	}
	switch k.SASLMechanism {
	case "":
		if k.Username != "" || k.Secret.Set() {
			return &FieldError{at + ".sasl_mechanism", "required with a username or password: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"}
		}
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if k.Username == "" {
			return &FieldError{at + ".username", "required with sasl_mechanism"}
		}
		if !k.Secret.Set() {
			return &FieldError{at + ".password_file", "required with sasl_mechanism (or password_env)"}
		}
	default:
		return &FieldError{at + ".sasl_mechanism", fmt.Sprintf("%q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", k.SASLMechanism)}
	}
	if err := k.Secret.validate(at); err != nil {
		return err
	}
	return k.TLS.validate(at + ".tls")
}

func (p *PresetCheck) validate(at string) error {
	u, err := validProbeURL(p.URL, "http", "https")
	if err != nil {
		return &FieldError{at + ".url", err.Error()}
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return &FieldError{at + ".url", fmt.Sprintf("%q: want the server's base URL, without a query or fragment", u.Redacted())}
	}
	if p.TLS != nil && u.Scheme != "https" {
		return &FieldError{at + ".tls", "needs an https url"}
	}
	return p.TLS.validate(at + ".tls")
}
