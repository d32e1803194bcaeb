package check

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/status"
)

// postgresAddr is the PostgreSQL server of the tests: CENTRALHUB_TEST_PG_ADDR or the machine's
// 127.0.0.1:5432, where the postgres user may log in without a password and a database named
// test exists.
func postgresAddr(t testing.TB) string {
	return serverAddr(t, "PostgreSQL", "CENTRALHUB_TEST_PG_ADDR", "127.0.0.1:5432")
}

// postgresExec runs sql on addr's test database as postgres.
func postgresExec(t testing.TB, addr, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgconn.Connect(ctx, "postgres://postgres@"+addr+"/test?sslmode=disable")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql).ReadAll(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// TestPostgres probes the real PostgreSQL: SELECT 1 with the connection count, a role logging
// in with a password from a file, TLS through the URL, the two thresholds, and the ways it
// fails (a refused role, a missing database, an unknown CA, nobody listening, not PostgreSQL),
// the password never in the output.
func TestPostgres(t *testing.T) {
	addr := postgresAddr(t)
	suffix := time.Now().UnixNano()
	user := fmt.Sprintf("centralhub_probe_%d", suffix)
	nologin := fmt.Sprintf("centralhub_nologin_%d", suffix)
	const secret = "s3cret-Probe-pass"
	postgresExec(t, addr, fmt.Sprintf("CREATE ROLE %s LOGIN PASSWORD '%s'", user, secret))
	postgresExec(t, addr, fmt.Sprintf("CREATE ROLE %s NOLOGIN PASSWORD '%s'", nologin, secret))
	t.Cleanup(func() { postgresExec(t, addr, fmt.Sprintf("DROP ROLE %s; DROP ROLE %s", user, nologin)) })
	good := writeSecret(t, secret)
	leaked := fmt.Sprintf("centralhub_leaked_%d", suffix)
	leakedFile := writeSecret(t, leaked)
	url := func(user, db, params string) string {
		return fmt.Sprintf("postgres://%s@%s/%s?%s", user, addr, db, params)
	}
	plain := "sslmode=disable"
	label := "postgres " + addr + "/test: "
	for _, tc := range []struct {
		name string
		cfg  config.PostgresCheck
		want status.Check
		out  string
	}{
		{"select 1", config.PostgresCheck{URL: url("postgres", "test", plain)}, status.Passing, label + "SELECT 1 in "},
		{"connections counted", config.PostgresCheck{URL: url("postgres", "test", plain), MaxConnectionsPercent: 100}, status.Passing, " connections"},
		// The probe's own connection is one, so any share of max_connections this small is exceeded.
		{"connections above the share", config.PostgresCheck{URL: url("postgres", "test", plain), MaxConnectionsPercent: 0.001}, status.Warning,
			"above 0.001%"},
		{"replica lag on a primary", config.PostgresCheck{URL: url("postgres", "test", plain), MaxReplicaLag: time.Second}, status.Passing,
			", primary (max_replica_lag applies only to a standby)"},
		{"password from a file", config.PostgresCheck{URL: url(user, "test", plain), Secret: config.Secret{PasswordFile: good}}, status.Passing, "SELECT 1 in "},
		{"tls", config.PostgresCheck{URL: url("postgres", "test", "sslmode=require")}, status.Passing, "SELECT 1 in "},
		{"tls with an unknown authority", config.PostgresCheck{URL: url("postgres", "test", "sslmode=verify-ca&sslrootcert="+newTestCA(t).file)},
			status.Critical, "certificate signed by unknown authority"},
		// The machine's pg_hba.conf trusts 127.0.0.1, so a wrong password would still be let in;
		// a role that may not log in (asked with its right password) is refused by the server
		// itself, in the authentication step, just the same.
		{"role that may not log in", config.PostgresCheck{URL: url(nologin, "test", plain), Secret: config.Secret{PasswordFile: good}}, status.Critical,
			fmt.Sprintf(`authentication failed: role "%s" is not permitted to log in (SQLSTATE 28000)`, nologin)},
		{"role that does not exist", config.PostgresCheck{URL: url(user+"_gone", "test", plain), Secret: config.Secret{PasswordFile: good}}, status.Critical,
			fmt.Sprintf(`authentication failed: role "%s_gone" does not exist (SQLSTATE 28000)`, user)},
		// A server's error naming the password (here, as a role name) has it hidden.
		{"password in an error", config.PostgresCheck{URL: url(leaked, "test", plain), Secret: config.Secret{PasswordFile: leakedFile}}, status.Critical,
			`authentication failed: role "[password]" does not exist`},
		{"database that does not exist", config.PostgresCheck{URL: url("postgres", "centralhub_no_such_db", plain)}, status.Critical,
			`database "centralhub_no_such_db" does not exist (SQLSTATE 3D000)`},
		{"password variable unset", config.PostgresCheck{URL: url(user, "test", plain), Secret: config.Secret{PasswordEnv: "CENTRALHUB_TEST_NO_SUCH_VAR"}},
			status.Critical, "password_env: CENTRALHUB_TEST_NO_SUCH_VAR is not set"},
		{"nobody listening", config.PostgresCheck{URL: "postgres://postgres@" + closedAddr(t) + "/test?" + plain}, status.Critical, "connection refused"},
		{"not postgres", config.PostgresCheck{URL: "postgres://postgres@" + bannerServer(t, "SSH-2.0-OpenSSH_9.2\r\n") + "/test?" + plain},
			status.Critical, "failed to receive message"},
		{"muted server", config.PostgresCheck{URL: "postgres://postgres@" + silentServer(t) + "/test?" + plain}, status.Critical, "timed out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectProbe(t, mustProber(t, NewPostgres, tc.cfg), tc.want, []string{tc.out}, secret, leaked)
		})
	}
}

// TestPostgresJudge judges connection counts and replication states the machine's single
// primary cannot show: a standby behind, within and past max_replica_lag, and one that has
// replayed nothing yet.
func TestPostgresJudge(t *testing.T) {
	lag := func(d time.Duration) *time.Duration { return &d }
	for _, tc := range []struct {
		name    string
		cfg     config.PostgresCheck
		stats   postgresStats
		want    status.Check
		wantOut string
	}{
		{"primary", config.PostgresCheck{}, postgresStats{used: 7, limit: 100}, status.Passing, ", 7 of 100 connections"},
		{"connections at the share", config.PostgresCheck{MaxConnectionsPercent: 80}, postgresStats{used: 80, limit: 100}, status.Passing, ", 80 of 100 connections"},
		{"connections past the share", config.PostgresCheck{MaxConnectionsPercent: 80}, postgresStats{used: 81, limit: 100}, status.Warning,
			", 81 of 100 connections (81%, above 80%)"},
		{"primary with max_replica_lag", config.PostgresCheck{MaxReplicaLag: time.Minute}, postgresStats{used: 1, limit: 100}, status.Passing,
			", 1 of 100 connections, primary (max_replica_lag applies only to a standby)"},
		{"standby", config.PostgresCheck{}, postgresStats{used: 1, limit: 100, standby: true, replayLag: lag(90 * time.Second)}, status.Passing,
			", 1 of 100 connections, standby replaying 1m30s behind"},
		{"standby within max_replica_lag", config.PostgresCheck{MaxReplicaLag: time.Minute},
			postgresStats{used: 1, limit: 100, standby: true, replayLag: lag(1500 * time.Millisecond)}, status.Passing, ", standby replaying 1.5s behind"},
		{"standby past max_replica_lag", config.PostgresCheck{MaxReplicaLag: time.Minute},
			postgresStats{used: 1, limit: 100, standby: true, replayLag: lag(90 * time.Second)}, status.Warning, ", standby replaying 1m30s behind (above 1m0s)"},
		{"standby that replayed nothing", config.PostgresCheck{}, postgresStats{used: 1, limit: 100, standby: true}, status.Passing,
			", standby that has replayed no transaction yet"},
		{"standby that replayed nothing, with max_replica_lag", config.PostgresCheck{MaxReplicaLag: time.Minute},
			postgresStats{used: 1, limit: 100, standby: true}, status.Warning, ", standby that has replayed no transaction yet (replay lag unknown)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, out := (&Postgres{cfg: tc.cfg}).judge(tc.stats)
			if st != tc.want || !strings.HasSuffix(out, tc.wantOut) {
				t.Fatalf("%s %q, want %s ending %q", st, out, tc.want, tc.wantOut)
			}
		})
	}
}

// TestPostgresMySQLAMQPKafkaStartErrors: what a probe cannot work with stops the agent at start, with an
// error naming it: a URL or DSN its library cannot read, a TLS file that is not there.
func TestPostgresMySQLAMQPKafkaStartErrors(t *testing.T) {
	const missing = "/nonexistent/ca.pem"
	tls := &config.ClientTLS{CAFile: missing}
	for _, tc := range []struct {
		name string
		new  func() error
		want string
	}{
		{"postgres url", func() error {
			_, err := NewPostgres(&config.PostgresCheck{URL: "postgres://db:port/orders"})
			return err
		}, "postgres url: "},
		{"postgres sslrootcert", func() error {
			_, err := NewPostgres(&config.PostgresCheck{URL: "postgres://db/orders?sslmode=verify-full&sslrootcert=" + missing})
			return err
		}, missing},
		{"mysql dsn", func() error { _, err := NewMySQL(&config.MySQLCheck{DSN: "probe@tcp(db:3306/orders"}); return err }, "mysql dsn: invalid DSN"},
		{"mysql tls", func() error {
			_, err := NewMySQL(&config.MySQLCheck{DSN: "probe@tcp(db:3306)/orders", TLS: tls})
			return err
		}, "tls ca_file: open " + missing},
		{"amqp url", func() error { _, err := NewAMQP(&config.AMQPCheck{URL: "http://mq/"}); return err }, "amqp url: AMQP scheme must be"},
		{"amqp tls", func() error { _, err := NewAMQP(&config.AMQPCheck{URL: "amqp://mq/", TLS: tls}); return err }, "tls ca_file: open " + missing},
		{"amqps url's cacertfile", func() error {
			_, err := NewAMQP(&config.AMQPCheck{URL: "amqps://mq/?cacertfile=" + missing})
			return err
		},
			"tls ca_file: open " + missing},
		{"kafka tls", func() error {
			_, err := NewKafka(&config.KafkaCheck{Brokers: []string{"k:9092"}, TLS: tls})
			return err
		}, "tls ca_file: open " + missing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.new(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
