package config

import (
	"strings"
	"testing"
	"time"
)

// TestParseDatabaseProbes parses the postgres, mysql, amqp and kafka probes: their keys and the
// problems validation reports, each naming its field and never repeating an inline password.
func TestParseDatabaseProbes(t *testing.T) {
	caFile := writeFile(t, t.TempDir(), "ca.pem", "not checked here")
	const inline = "inl1ne-Secret"
	check := func(probe string) string { return minimal + "checks:\n  - name: a\n    " + probe + "\n" }
	tests := []struct {
		name    string
		yaml    string
		wantErr string // substring of the error; "" means success
		check   func(t *testing.T, c *Check)
	}{
		{
			name: "postgres",
			yaml: check(`postgres: {url: "postgres://probe@db:5432/orders?sslmode=verify-full", password_file: /run/pg, max_connections_percent: 80, max_replica_lag: 30s}`),
			check: func(t *testing.T, c *Check) {
				p := c.Postgres
				if c.Kind() != "postgres" || p.URL != "postgres://probe@db:5432/orders?sslmode=verify-full" || p.PasswordFile != "/run/pg" ||
					p.MaxConnectionsPercent != 80 || p.MaxReplicaLag != 30*time.Second {
					t.Errorf("postgres = %+v (kind %q)", p, c.Kind())
				}
			},
		},
		{name: "postgres url required", yaml: check(`postgres: {password_env: PGPASS}`), wantErr: "checks[0].postgres.url: required"},
		{name: "postgres url scheme", yaml: check(`postgres: {url: "mysql://db/orders"}`),
			wantErr: `checks[0].postgres.url: "mysql://db/orders": scheme must be postgres or postgresql`},
		{name: "postgres inline password", yaml: check(`postgres: {url: "postgresql://probe:` + inline + `@db/orders"}`),
			wantErr: `checks[0].postgres.url: "postgresql://probe:xxxxx@db/orders": must not carry a password (use password_file or password_env)`},
		{name: "postgres password parameter", yaml: check(`postgres: {url: "postgres://probe@db/orders?sslmode=require&password=` + inline + `"}`),
			wantErr: "checks[0].postgres.url: must not carry a password (its password parameter): use password_file or password_env"},
		{name: "postgres sslpassword parameter", yaml: check(`postgres: {url: "postgres://probe@db/orders?sslpassword=` + inline + `"}`),
			wantErr: "checks[0].postgres.url: must not carry a password (its sslpassword parameter)"},
		{name: "postgres two password sources", yaml: check(`postgres: {url: "postgres://probe@db/orders", password_file: /run/pg, password_env: PGPASS}`),
			wantErr: "checks[0].postgres.password_env: set password_file or password_env, not both"},
		{name: "postgres connections share", yaml: check(`postgres: {url: "postgres://db/orders", max_connections_percent: 120}`),
			wantErr: "checks[0].postgres.max_connections_percent: 120: want from 0 (off) to 100"},
		{name: "postgres negative lag", yaml: check(`postgres: {url: "postgres://db/orders", max_replica_lag: -1s}`),
			wantErr: "checks[0].postgres.max_replica_lag: must not be negative"},
		{name: "postgres unknown key", yaml: check(`postgres: {url: "postgres://db/orders", password: x}`), wantErr: `unknown key "password"`},

		{
			name: "mysql",
			yaml: check(`mysql: {dsn: "probe@tcp(db:3306)/orders?timeout=2s", password_env: MYSQL_PWD, tls: {ca_file: ` + caFile + `}}`),
			check: func(t *testing.T, c *Check) {
				m := c.MySQL
				if c.Kind() != "mysql" || m.DSN != "probe@tcp(db:3306)/orders?timeout=2s" || m.PasswordEnv != "MYSQL_PWD" || m.TLS == nil || m.TLS.CAFile != caFile {
					t.Errorf("mysql = %+v (kind %q)", m, c.Kind())
				}
			},
		},
		// The driver splits user info at the last "@" before the database: these carry none.
		{name: "mysql without user info", yaml: check(`mysql: {dsn: "tcp(db:3306)/orders"}`)},
		{name: "mysql @ in a parameter", yaml: check(`mysql: {dsn: "tcp(db:3306)/orders?connectionAttributes=owner:ops@example"}`)},
		{name: "mysql @ in the user name", yaml: check(`mysql: {dsn: "probe@server@tcp(db:3306)/orders", password_file: /run/my}`)},
		{name: "mysql dsn required", yaml: check(`mysql: {password_env: MYSQL_PWD}`), wantErr: "checks[0].mysql.dsn: required"},
		{name: "mysql inline password", yaml: check(`mysql: {dsn: "probe:` + inline + `@tcp(db:3306)/orders"}`),
			wantErr: "checks[0].mysql.dsn: must not carry a password (use password_file or password_env)"},
		{name: "mysql inline password after an @ in the user name", yaml: check(`mysql: {dsn: "probe@server:` + inline + `@tcp(db:3306)/orders"}`),
			wantErr: "checks[0].mysql.dsn: must not carry a password"},
		{name: "mysql two password sources", yaml: check(`mysql: {dsn: "probe@tcp(db)/orders", password_file: /run/my, password_env: MYSQL_PWD}`),
			wantErr: "checks[0].mysql.password_env: set password_file or password_env, not both"},
		{name: "mysql tls cert without key", yaml: check(`mysql: {dsn: "probe@tcp(db)/orders", tls: {cert_file: ` + caFile + `}}`),
			wantErr: "checks[0].mysql.tls.cert_file: cert_file and key_file go together"},
		{name: "mysql tls ca_file missing", yaml: check(`mysql: {dsn: "probe@tcp(db)/orders", tls: {ca_file: /nonexistent/ca.pem}}`),
			wantErr: "checks[0].mysql.tls.ca_file: stat /nonexistent/ca.pem"},

		{
			name: "amqp",
			yaml: check(`amqp: {url: "amqps://probe@mq:5671/orders", password_file: /run/mq, tls: {server_name: mq.internal}}`),
			check: func(t *testing.T, c *Check) {
				a := c.AMQP
				if c.Kind() != "amqp" || a.URL != "amqps://probe@mq:5671/orders" || a.PasswordFile != "/run/mq" || a.TLS == nil || a.TLS.ServerName != "mq.internal" {
					t.Errorf("amqp = %+v (kind %q)", a, c.Kind())
				}
			},
		},
		{name: "amqp url required", yaml: check(`amqp: {password_file: /run/mq}`), wantErr: "checks[0].amqp.url: required"},
		{name: "amqp url scheme", yaml: check(`amqp: {url: "http://mq:15672/"}`), wantErr: `checks[0].amqp.url: "http://mq:15672/": scheme must be amqp or amqps`},
		{name: "amqp url without host", yaml: check(`amqp: {url: "amqp:///orders"}`), wantErr: `checks[0].amqp.url: "amqp:///orders": no host`},
		{name: "amqp inline password", yaml: check(`amqp: {url: "amqp://probe:` + inline + `@mq/"}`),
			wantErr: `checks[0].amqp.url: "amqp://probe:xxxxx@mq/": must not carry a password`},
		{name: "amqp two password sources", yaml: check(`amqp: {url: "amqp://probe@mq/", password_file: /run/mq, password_env: MQ}`),
			wantErr: "checks[0].amqp.password_env: set password_file or password_env, not both"},
		{name: "amqp tls key without cert", yaml: check(`amqp: {url: "amqps://probe@mq/", tls: {key_file: ` + caFile + `}}`),
			wantErr: "checks[0].amqp.tls.cert_file: cert_file and key_file go together"},

		{
			name: "kafka",
			yaml: check(`kafka: {brokers: ["k1:9092", "k2:9092"], topic: orders, sasl_mechanism: scram-sha-512, username: probe, password_file: /run/k, tls: {}}`),
			check: func(t *testing.T, c *Check) {
				k := c.Kafka
				if c.Kind() != "kafka" || len(k.Brokers) != 2 || k.Topic != "orders" || k.SASLMechanism != "SCRAM-SHA-512" || k.Username != "probe" ||
					k.PasswordFile != "/run/k" || k.TLS == nil {
					t.Errorf("kafka = %+v (kind %q)", k, c.Kind())
				}
			},
		},
		{name: "kafka without sasl", yaml: check(`kafka: {brokers: ["k1:9092"]}`)},
		{name: "kafka brokers required", yaml: check(`kafka: {topic: orders}`), wantErr: "checks[0].kafka.brokers: at least one host:port is required"},
		{name: "kafka broker without port", yaml: check(`kafka: {brokers: ["k1:9092", "k2"]}`), wantErr: `checks[0].kafka.brokers[1]: "k2": want host:port`},
		{name: "kafka unknown mechanism", yaml: check(`kafka: {brokers: ["k1:9092"], sasl_mechanism: gssapi, username: probe, password_env: K}`),
			wantErr: `checks[0].kafka.sasl_mechanism: "GSSAPI": want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512`},
		{name: "kafka credentials without mechanism", yaml: check(`kafka: {brokers: ["k1:9092"], username: probe, password_env: K}`),
			wantErr: "checks[0].kafka.sasl_mechanism: required with a username or password"},
		{name: "kafka mechanism without username", yaml: check(`kafka: {brokers: ["k1:9092"], sasl_mechanism: PLAIN, password_env: K}`),
			wantErr: "checks[0].kafka.username: required with sasl_mechanism"},
		{name: "kafka mechanism without password", yaml: check(`kafka: {brokers: ["k1:9092"], sasl_mechanism: PLAIN, username: probe}`),
			wantErr: "checks[0].kafka.password_file: required with sasl_mechanism (or password_env)"},
		{name: "kafka two password sources", yaml: check(`kafka: {brokers: ["k1:9092"], sasl_mechanism: PLAIN, username: probe, password_file: /run/k, password_env: K}`),
			wantErr: "checks[0].kafka.password_env: set password_file or password_env, not both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("agent.yaml", []byte(tt.yaml), env())
			if err != nil && strings.Contains(err.Error(), inline) {
				t.Fatalf("the inline password in the error: %v", err)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if tt.check != nil {
				tt.check(t, &cfg.Checks[0])
			}
		})
	}
}
