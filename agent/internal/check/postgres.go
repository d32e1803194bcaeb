package check

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/status"
)

// postgresStatsSQL counts the client backends (the connections max_connections limits) and
// asks whether the server is a standby and, if so, how long ago it replayed its last transaction
// (NULL before it has replayed any).
const postgresStatsSQL = `SELECT count(*) FILTER (WHERE backend_type = 'client backend'),
	current_setting('max_connections'),
	pg_is_in_recovery(),
	EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())
FROM pg_stat_activity`

// Postgres connects to PostgreSQL (or TimescaleDB) with pgconn, authenticates and times a
// SELECT 1: critical when it cannot connect, is refused or the query fails; warning when the
// client connections exceed max_connections_percent of max_connections, or when a standby's
// replay lags more than max_replica_lag.
type Postgres struct {
	cfg   config.PostgresCheck
	conn  *pgconn.Config // parsed once; copied by every probe
	label string         // "postgres host:port/db", the start of every output
}

// NewPostgres returns the prober for a postgres check; a URL pgconn cannot parse, or whose
// sslrootcert, sslcert or sslkey cannot be read, is an error.
func NewPostgres(c *config.PostgresCheck) (*Postgres, error) {
	pc, err := pgconn.ParseConfig(c.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres url: %w", err) // pgconn redacts any password it finds
	}
	return &Postgres{cfg: *c, conn: pc, label: "postgres " + postgresTarget(pc)}, nil
}

// postgresTarget names the first host a config dials and its database.
func postgresTarget(pc *pgconn.Config) string {
	host := pc.Host
	if !strings.HasPrefix(host, "/") { // not a Unix socket directory
		host = net.JoinHostPort(host, strconv.Itoa(int(pc.Port)))
	}
	return host + "/" + pc.Database
}

// Probe implements Prober.
func (p *Postgres) Probe(ctx context.Context) Result {
	password, err := p.cfg.Password()
	if err != nil {
		return Result{status.Critical, p.label + ": " + err.Error()}
	}
	res := p.probe(ctx, password)
	res.Output = hideSecret(res.Output, password)
	return res
}

func (p *Postgres) probe(ctx context.Context, password string) Result {
	fail := func(format string, a ...any) Result {
		return Result{status.Critical, p.label + ": " + fmt.Sprintf(format, a...)}
	}
	pc := p.conn.Copy()
	if p.cfg.Secret.Set() {
		// The same as writing it into the URL's user info, without having to escape it.
		pc.Password = password
	}
	conn, err := pgconn.ConnectConfig(ctx, pc)
	if err != nil {
		return fail("%s", postgresError(ctx, err))
	}
	defer conn.Close(ctx) //nolint:errcheck // the probe has its answer; Close only says goodbye

	start := time.Now()
	if _, err := conn.Exec(ctx, "SELECT 1").ReadAll(); err != nil {
		return fail("SELECT 1: %s", postgresError(ctx, err))
	}
	out := fmt.Sprintf("%s: SELECT 1 in %s", p.label, millis(time.Since(start)))

	rows, err := conn.Exec(ctx, postgresStatsSQL).ReadAll()
	if err != nil {
		return fail("reading pg_stat_activity: %s", postgresError(ctx, err))
	}
	stats, err := parsePostgresStats(rows)
	if err != nil {
		return fail("reading pg_stat_activity: %v", err)
	}
	st, more := p.judge(stats)
	return Result{st, out + more}
}

// postgresStats is what postgresStatsSQL reads.
type postgresStats struct {
	used, limit int            // client connections, max_connections
	standby     bool           // in recovery
	replayLag   *time.Duration // on a standby, since its last replayed transaction; nil before any
}

func parsePostgresStats(rr []*pgconn.Result) (postgresStats, error) {
	if len(rr) != 1 || len(rr[0].Rows) != 1 || len(rr[0].Rows[0]) != 4 {
		return postgresStats{}, errors.New("unexpected answer")
	}
	row := rr[0].Rows[0]
	var s postgresStats
	var err1, err2, err3 error
	s.used, err1 = strconv.Atoi(string(row[0]))
	s.limit, err2 = strconv.Atoi(string(row[1]))
	s.standby = string(row[2]) == "t"
	if row[3] != nil {
		var secs float64
		secs, err3 = strconv.ParseFloat(string(row[3]), 64)
		lag := time.Duration(secs * float64(time.Second)).Round(time.Millisecond)
		s.replayLag = &lag
	}
	return s, errors.Join(err1, err2, err3)
}

// judge words the connection count and the replication state, and says whether either is
// past its threshold.
func (p *Postgres) judge(s postgresStats) (status.Check, string) {
	st := status.Passing
	out := fmt.Sprintf(", %d of %d connections", s.used, s.limit)
	if share := 100 * float64(s.used) / float64(max(s.limit, 1)); p.cfg.MaxConnectionsPercent > 0 && share > p.cfg.MaxConnectionsPercent {
		st = status.Warning
		out += fmt.Sprintf(" (%.0f%%, above %g%%)", share, p.cfg.MaxConnectionsPercent)
	}
	switch {
	case !s.standby && p.cfg.MaxReplicaLag > 0:
		out += ", primary (max_replica_lag applies only to a standby)"
	case !s.standby:
	case s.replayLag == nil:
		out += ", standby that has replayed no transaction yet"
		if p.cfg.MaxReplicaLag > 0 {
			st = status.Warning
			out += " (replay lag unknown)"
		}
	default:
		out += fmt.Sprintf(", standby replaying %s behind", *s.replayLag)
		if p.cfg.MaxReplicaLag > 0 && *s.replayLag > p.cfg.MaxReplicaLag {
			st = status.Warning
			out += fmt.Sprintf(" (above %s)", p.cfg.MaxReplicaLag)
		}
	}
	return st, out
}

// postgresError words a pgconn error: the server's own message for a refusal (authentication
// first), the network's reason otherwise, and "timed out" when ctx ended.
func postgresError(ctx context.Context, err error) string {
	if expired(ctx) {
		return fmt.Sprintf("timed out (%s)", postgresReason(err))
	}
	return postgresReason(err)
}

func postgresReason(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		msg := fmt.Sprintf("%s (SQLSTATE %s)", pgErr.Message, pgErr.Code)
		// Class 28: invalid authorization specification (28000), invalid password (28P01).
		if strings.HasPrefix(pgErr.Code, "28") {
			return "authentication failed: " + msg
		}
		return msg
	}
	var ce *pgconn.ConnectError
	if !errors.As(err, &ce) {
		return err.Error()
	}
	// Drop the "failed to connect to `user=... database=...`:" prefix: the label says where.
	inner := errors.Unwrap(ce)
	if joined, ok := inner.(interface{ Unwrap() []error }); ok {
		// One error per address tried (and per TLS mode, with sslmode=prefer), each naming it.
		var msgs []string
		for _, e := range joined.Unwrap() {
			if m := e.Error(); !slices.Contains(msgs, m) {
				msgs = append(msgs, m)
			}
		}
		if len(msgs) > 1 {
			return strings.Join(msgs, "; ")
		}
		inner = joined.Unwrap()[0]
	}
	// A single attempt: drop its "host:port (host): " prefix too.
	if e := errors.Unwrap(inner); e != nil && strings.HasSuffix(inner.Error(), e.Error()) {
		inner = e
	}
	return inner.Error()
}

// expired reports whether ctx has ended or its deadline has passed: an I/O deadline set from
// it can fire an instant before ctx itself notices.
func expired(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	return ctx.Err() != nil || ok && !time.Now().Before(dl)
}

// millis words a round trip in milliseconds, to two places.
func millis(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000)
}

// hideSecret replaces every occurrence of secret in s, so that no library's error can carry a
// password into a check's output.
func hideSecret(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "[password]")
}
