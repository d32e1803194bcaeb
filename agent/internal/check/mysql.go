package check

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/status"
)

// MySQL connects to MySQL or MariaDB with go-sql-driver/mysql, authenticates, times a ping and
// reads the server's version: critical when it cannot connect, is refused or does not answer.
// It holds no pool: each probe opens one connection and closes it.
type MySQL struct {
	cfg   config.MySQLCheck
	dsn   *mysql.Config // parsed once; cloned by every probe
	label string        // "mysql host:port/db", the start of every output
}

// NewMySQL returns the prober for a mysql check; a DSN the driver cannot parse, or a tls
// section whose files cannot be read, is an error.
func NewMySQL(c *config.MySQLCheck) (*MySQL, error) {
	dsn, err := mysql.ParseDSN(c.DSN)
	if err != nil {
		return nil, fmt.Errorf("mysql dsn: %w", err)
	}
	dsn.Logger = &mysql.NopLogger{} // the driver would print connection noise to stderr
	if c.TLS != nil {
		host, _, err := net.SplitHostPort(dsn.Addr)
		if err != nil {
			host = dsn.Addr
		}
		if dsn.TLS, err = clientTLS(c.TLS, host); err != nil { // takes precedence over the DSN's tls parameter
			return nil, err
		}
	}
	return &MySQL{cfg: *c, dsn: dsn, label: "mysql " + dsn.Addr + "/" + dsn.DBName}, nil
}

// Probe implements Prober.
func (m *MySQL) Probe(ctx context.Context) Result {
	password, err := m.cfg.Password()
	if err != nil {
		return Result{status.Critical, m.label + ": " + err.Error()}
	}
	res := m.probe(ctx, password)
	res.Output = hideSecret(res.Output, password)
	return res
}

func (m *MySQL) probe(ctx context.Context, password string) Result {
	fail := func(format string, a ...any) Result {
		return Result{status.Critical, m.label + ": " + fmt.Sprintf(format, a...)}
	}
	cfg := m.dsn.Clone()
	if m.cfg.Secret.Set() {
		cfg.Passwd = password
	}
	// The driver bounds connecting and each command by ctx; the I/O timeouts also bound what it
	// does without one (closing).
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		for _, d := range []*time.Duration{&cfg.Timeout, &cfg.ReadTimeout, &cfg.WriteTimeout} {
			if *d <= 0 || *d > left { // the DSN's own, when shorter, stands
				*d = left
			}
		}
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return fail("%v", err)
	}
	conn, err := connector.Connect(ctx)
	if err != nil {
		return fail("%s", mysqlError(ctx, err))
	}
	defer conn.Close()

	start := time.Now()
	pinger, ok := conn.(driver.Pinger)
	if !ok {
		return fail("the driver cannot ping")
	}
	if err := pinger.Ping(ctx); err != nil {
		return fail("ping: %s", mysqlError(ctx, err))
	}
	rtt := time.Since(start)
	version, err := mysqlVersion(ctx, conn)
	if err != nil {
		return fail("SELECT VERSION(): %s", mysqlError(ctx, err))
	}
	return Result{status.Passing, fmt.Sprintf("%s: ping in %s, version %s", m.label, millis(rtt), version)}
}

// mysqlVersion asks the server for its version.
func mysqlVersion(ctx context.Context, conn driver.Conn) (string, error) {
	q, ok := conn.(driver.QueryerContext)
	if !ok {
		return "", errors.New("the driver cannot query")
	}
	rows, err := q.QueryContext(ctx, "SELECT VERSION()", nil)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	row := make([]driver.Value, 1)
	if err := rows.Next(row); err != nil {
		if errors.Is(err, io.EOF) {
			return "", errors.New("no row")
		}
		return "", err
	}
	switch v := row[0].(type) {
	case []byte:
		return string(v), nil
	case string:
		return v, nil
	}
	return fmt.Sprint(row[0]), nil
}

// mysqlError words a driver error: the server's refusal (authentication first), the network's
// reason, or "timed out" when ctx ended.
func mysqlError(ctx context.Context, err error) string {
	if expired(ctx) {
		return fmt.Sprintf("timed out (%v)", err)
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1045, 1698: // ER_ACCESS_DENIED_ERROR, ER_ACCESS_DENIED_NO_PASSWORD_ERROR
			return "authentication failed: " + me.Error()
		}
		return me.Error()
	}
	switch {
	case errors.Is(err, mysql.ErrMalformPkt), errors.Is(err, mysql.ErrInvalidConn), errors.Is(err, driver.ErrBadConn):
		return fmt.Sprintf("not a MySQL server, or it hung up (%v)", err)
	}
	return err.Error()
}
