package check

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/status"
)

// mysqlAddr is the MySQL or MariaDB server of the tests: CENTRALHUB_TEST_MYSQL_ADDR or the
// machine's 127.0.0.1:3306, where root may log in without a password and a database named
// test exists.
func mysqlAddr(t testing.TB) string {
	return serverAddr(t, "MySQL/MariaDB", "CENTRALHUB_TEST_MYSQL_ADDR", "127.0.0.1:3306")
}

// mysqlQuery runs query on addr as root and returns the first column of its first row ("" for
// a statement without rows).
func mysqlQuery(t testing.TB, addr, query string) string {
	t.Helper()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr = "root", "tcp", addr
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var v sql.NullString
	if rows.Next() {
		if cols, _ := rows.Columns(); len(cols) > 0 {
			dest := make([]any, len(cols))
			dest[0] = &v
			for i := 1; i < len(cols); i++ {
				dest[i] = new(sql.RawBytes)
			}
			if err := rows.Scan(dest...); err != nil {
				t.Fatal(err)
			}
		}
	}
	return v.String
}

// TestMySQL probes the real MariaDB (or MySQL): a ping as root, a user logging in with a
// password from a file and refused with a wrong one, the password never in the output, a
// missing database, TLS to a server without it, nobody listening, not MySQL and a server that
// never answers.
func TestMySQL(t *testing.T) {
	addr := mysqlAddr(t)
	user := fmt.Sprintf("centralhub_probe_%d", time.Now().UnixNano()%1e9) // MySQL user names: at most 32 characters
	const secret = "s3cret-Probe-pass"
	mysqlQuery(t, addr, fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", user, secret))
	t.Cleanup(func() { mysqlQuery(t, addr, fmt.Sprintf("DROP USER '%s'@'%%'", user)) })
	mysqlQuery(t, addr, fmt.Sprintf("GRANT SELECT ON test.* TO '%s'@'%%'", user))
	good, bad := writeSecret(t, secret), writeSecret(t, "not-the-password")
	leaked := fmt.Sprintf("centralhub_leaked_%d", time.Now().UnixNano()%1e9)
	leakedFile := writeSecret(t, leaked)
	dsn := func(user, db string) string { return fmt.Sprintf("%s@tcp(%s)/%s", user, addr, db) }
	tlsCase := struct {
		want status.Check
		out  string
	}{status.Critical, "TLS requested but server does not support TLS"}
	if v := mysqlQuery(t, addr, "SELECT @@have_ssl"); v == "YES" {
		tlsCase.want, tlsCase.out = status.Passing, "ping in "
	}
	for _, tc := range []struct {
		name string
		cfg  config.MySQLCheck
		want status.Check
		out  string
	}{
		{"ping as root", config.MySQLCheck{DSN: dsn("root", "test")}, status.Passing, "mysql " + addr + "/test: ping in "},
		{"password from a file", config.MySQLCheck{DSN: dsn(user, "test"), Secret: config.Secret{PasswordFile: good}}, status.Passing, ", version "},
		{"wrong password", config.MySQLCheck{DSN: dsn(user, "test"), Secret: config.Secret{PasswordFile: bad}}, status.Critical,
			fmt.Sprintf("authentication failed: Error 1045 (28000): Access denied for user '%s'", user)},
		// A server's error naming the password (here, as a user name) has it hidden.
		{"password in an error", config.MySQLCheck{DSN: dsn(leaked, "test"), Secret: config.Secret{PasswordFile: leakedFile}}, status.Critical,
			"Access denied for user '[password]'@"},
		{"no password", config.MySQLCheck{DSN: dsn(user, "test")}, status.Critical, "(using password: NO)"},
		{"password variable unset", config.MySQLCheck{DSN: dsn(user, "test"), Secret: config.Secret{PasswordEnv: "CENTRALHUB_TEST_NO_SUCH_VAR"}},
			status.Critical, "password_env: CENTRALHUB_TEST_NO_SUCH_VAR is not set"},
		{"database that does not exist", config.MySQLCheck{DSN: dsn("root", "centralhub_no_such_db")}, status.Critical,
			"Error 1049 (42000): Unknown database 'centralhub_no_such_db'"},
		{"tls", config.MySQLCheck{DSN: dsn("root", "test"), TLS: &config.ClientTLS{InsecureSkipVerify: true}}, tlsCase.want, tlsCase.out},
		{"nobody listening", config.MySQLCheck{DSN: fmt.Sprintf("root@tcp(%s)/test", closedAddr(t))}, status.Critical, "connection refused"},
		{"not mysql", config.MySQLCheck{DSN: fmt.Sprintf("root@tcp(%s)/test", bannerServer(t, "SSH-2.0-OpenSSH_9.2\r\n"))}, status.Critical,
			"not a MySQL server, or it hung up"},
		{"muted server", config.MySQLCheck{DSN: fmt.Sprintf("root@tcp(%s)/test", silentServer(t))}, status.Critical, "timed out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectProbe(t, mustProber(t, NewMySQL, tc.cfg), tc.want, []string{tc.out}, secret, "not-the-password", leaked)
		})
	}
}
