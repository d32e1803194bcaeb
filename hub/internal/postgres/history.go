package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/pkg/status"
)

// History lives in three tables (migrations/002_history.sql): raw samples, one row per sample
// with its checks as arrays, and transitions, both range-partitioned by UTC day; and hourly
// roll-ups of the samples, which the writer keeps current in the same transaction.

// day is the UTC day holding t, as its midnight.
func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// partitionSuffix names a day's partitions: history_samples_p20260304.
func partitionSuffix(d time.Time) string { return "_p" + d.Format("20060102") }

// partitioned are the tables split by day.
var partitioned = []string{"history_samples", "history_transitions"}

// ensureDays creates the partitions of the given days that this store has not seen yet. Hubs
// doing it at once take turns on an advisory lock; CREATE ... IF NOT EXISTS makes it idempotent.
func (s *Store) ensureDays(ctx context.Context, days []time.Time) error {
	var missing []time.Time
	for _, d := range days {
		if _, ok := s.days.Load(d); !ok && !slices.ContainsFunc(missing, d.Equal) {
			missing = append(missing, d)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := ddlLocks(ctx, tx); err != nil {
			return err
		}
		for _, d := range missing {
			for _, table := range partitioned {
				sql := fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s%s PARTITION OF %s FOR VALUES FROM ('%s') TO ('%s')`,
					table, partitionSuffix(d), table, d.Format(time.RFC3339), d.AddDate(0, 0, 1).Format(time.RFC3339))
				if _, err := tx.Exec(ctx, sql); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create history partitions: %w", err)
	}
	for _, d := range missing {
		s.days.Store(d, struct{}{})
	}
	return nil
}

// ddlLocks prepares tx for partition DDL: hubs take turns (an advisory lock per schema), and
// the DDL gives up after two seconds rather than queue every writer of history behind a long
// reader of the parent table (it is tried again: by the next write, or the next maintenance).
func ddlLocks(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('centralhub.partitions.' || current_schema()))`); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '2s'`)
	return err
}

// forgetDays drops days from what this store believes exists (another hub's retention may have
// dropped them), so the next ensureDays checks them again.
func (s *Store) forgetDays(days []time.Time) {
	for _, d := range days {
		s.days.Delete(d)
	}
}

// noPartition reports whether err is PostgreSQL's "no partition of relation … found for row".
func noPartition(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23514" && strings.Contains(pgErr.Message, "no partition")
}

// historyDays are the days w's history touches.
func historyDays(w *hub.Writes) []time.Time {
	var days []time.Time
	add := func(t time.Time) {
		if d := day(t); len(days) == 0 || !days[len(days)-1].Equal(d) {
			days = append(days, d) // mostly one day: duplicates further apart are harmless
		}
	}
	for i := range w.Samples {
		add(w.Samples[i].At)
	}
	for i := range w.Transitions {
		add(w.Transitions[i].At)
	}
	return days
}

// rollupKey is one row of history_hourly: an instance, an hour and the set of its checks.
type rollupKey struct {
	key   hub.InstanceKey
	hour  time.Time
	names string // the check names joined by unitSep
}

type rollup struct {
	names       []string
	samples, up int64
	sum, max    []float64
}

// unitSep joins check names in one text value of the roll-up statement (names never hold it).
const unitSep = "\x1f"

// writeHistory writes w's samples and transitions inside tx and adds the samples to their
// hours' roll-ups. The transitions of refused instances are left out: they record a change the
// store did not take.
func writeHistory(ctx context.Context, tx pgx.Tx, w *hub.Writes, refused []hub.InstanceKey) error {
	rows := make([][]any, 0, len(w.Transitions))
	for i := range w.Transitions {
		t := &w.Transitions[i]
		if !slices.Contains(refused, t.Key) {
			rows = append(rows, []any{t.At, t.Key.Tenant, t.Key.Service, t.Key.Instance, t.Check, string(t.From), string(t.To), t.Output})
		}
	}
	if len(rows) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"history_transitions"},
			[]string{"at", "tenant", "service", "instance", "check_name", "from_status", "to_status", "output"}, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("write transitions: %w", err)
		}
	}
	if len(w.Samples) == 0 {
		return nil
	}
	sums := make(map[rollupKey]*rollup)
	row := make([]any, 8)
	i := 0
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"history_samples"},
		[]string{"at", "tenant", "service", "instance", "status", "checks", "statuses", "latencies"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i == len(w.Samples) {
				return nil, nil
			}
			smp := &w.Samples[i]
			i++
			names, sts, lats := make([]string, len(smp.Checks)), make([]int16, len(smp.Checks)), make([]float32, len(smp.Checks))
			for j, c := range smp.Checks {
				names[j], sts[j], lats[j] = c.Name, int16(c.Status.Code()), float32(c.LatencyMS)
			}
			row[0], row[1], row[2], row[3] = smp.At, smp.Key.Tenant, smp.Key.Service, smp.Key.Instance
			row[4], row[5], row[6], row[7] = int16(smp.Status.Code()), names, sts, lats
			k := rollupKey{smp.Key, smp.At.UTC().Truncate(time.Hour), strings.Join(names, unitSep)}
			r := sums[k]
			if r == nil {
				r = &rollup{names: names, sum: make([]float64, len(names)), max: make([]float64, len(names))}
				for j := range r.max {
					r.max[j] = math.Inf(-1)
				}
				sums[k] = r
			}
			r.samples++
			if smp.Status.Up() {
				r.up++
			}
			for j, c := range smp.Checks {
				r.sum[j] += c.LatencyMS
				r.max[j] = max(r.max[j], c.LatencyMS)
			}
			return row, nil
		})); err != nil {
		return fmt.Errorf("write samples: %w", err)
	}
	// One statement for every roll-up row, in key order, so hubs updating the same rows
	// concurrently lock them in the same order. The arrays travel as text (a text[] per row
	// cannot be a column of unnest) and are split again by the server.
	keys := make([]rollupKey, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b rollupKey) int {
		return cmp.Or(cmp.Compare(a.key.Tenant, b.key.Tenant), cmp.Compare(a.key.Service, b.key.Service),
			cmp.Compare(a.key.Instance, b.key.Instance), a.hour.Compare(b.hour), cmp.Compare(a.names, b.names))
	})
	n := len(keys)
	tenants, services, instances, names := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	hours, samples, ups := make([]time.Time, n), make([]int64, n), make([]int64, n)
	lsum, lmax := make([]string, n), make([]string, n)
	for i, k := range keys {
		r := sums[k]
		tenants[i], services[i], instances[i], hours[i], names[i] = k.key.Tenant, k.key.Service, k.key.Instance, k.hour, k.names
		samples[i], ups[i], lsum[i], lmax[i] = r.samples, r.up, floats(r.sum), floats(r.max)
	}
	_, err := tx.Exec(ctx, `INSERT INTO history_hourly AS h (tenant, service, instance, hour, checks, samples, up, latency_sum, latency_max)
		SELECT t, s, i, hr, string_to_array(c, E'\x1f'), n, u, string_to_array(ls, ',')::float8[], string_to_array(lm, ',')::float8[]
		FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::bigint[], $7::bigint[], $8::text[], $9::text[]) AS v(t, s, i, hr, c, n, u, ls, lm)
		ON CONFLICT (tenant, service, instance, hour, checks) DO UPDATE SET samples = h.samples + excluded.samples, up = h.up + excluded.up,
			latency_sum = ARRAY(SELECT a + b FROM unnest(h.latency_sum, excluded.latency_sum) WITH ORDINALITY AS z(a, b, o) ORDER BY o),
			latency_max = ARRAY(SELECT greatest(a, b) FROM unnest(h.latency_max, excluded.latency_max) WITH ORDINALITY AS z(a, b, o) ORDER BY o)`,
		tenants, services, instances, hours, names, samples, ups, lsum, lmax)
	if err != nil {
		return fmt.Errorf("write hourly roll-ups: %w", err)
	}
	return nil
}

// floats renders vs as the roll-up statement takes them: comma-separated, exact.
func floats(vs []float64) string {
	b := make([]byte, 0, 8*len(vs))
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			v = 0
		}
		b = strconv.AppendFloat(b, v, 'g', -1, 64)
	}
	return string(b)
}

// where is the filter of q on a history table: its tenant, service and, when q names one, its
// instance, as SQL from argument $1 on, with the arguments.
func where(q hub.HistoryQuery) (string, []any) {
	if q.Instance == "" {
		return `tenant = $1 AND service = $2`, []any{q.Tenant, q.Service}
	}
	return `tenant = $1 AND service = $2 AND instance = $3`, []any{q.Tenant, q.Service, q.Instance}
}

// QueryHistory implements hub.HistoryStore.
func (s *Store) QueryHistory(ctx context.Context, q hub.HistoryQuery) (hub.History, error) {
	if q.Step <= 0 {
		return hub.History{}, fmt.Errorf("query history: step must be positive")
	}
	h := hub.History{Transitions: []hub.TransitionRecord{}, Latency: []hub.LatencyPoint{}}
	cond, args := where(q)
	n := len(args)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	var sql string
	if q.Hourly() {
		sql = `SELECT c.name, date_bin(make_interval(secs => ` + arg(q.Step.Seconds()) + `), h.hour, timestamptz 'epoch'), sum(c.lsum) / sum(h.samples), max(c.lmax), sum(h.samples)
			FROM history_hourly h CROSS JOIN LATERAL unnest(h.checks, h.latency_sum, h.latency_max) AS c(name, lsum, lmax)
			WHERE ` + cond + ` AND h.hour >= ` + arg(q.Since.UTC().Truncate(time.Hour)) + ` AND h.hour < ` + arg(q.Until) + `
			GROUP BY 1, 2 ORDER BY 1, 2`
	} else {
		sql = `SELECT c.name, date_bin(make_interval(secs => ` + arg(q.Step.Seconds()) + `), s.at, timestamptz 'epoch'), avg(c.lat), max(c.lat)::float8, count(*)
			FROM history_samples s CROSS JOIN LATERAL unnest(s.checks, s.latencies) AS c(name, lat)
			WHERE ` + cond + ` AND s.at >= ` + arg(q.Since) + ` AND s.at < ` + arg(q.Until) + `
			GROUP BY 1, 2 ORDER BY 1, 2`
	}
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return hub.History{}, fmt.Errorf("query history: %w", err)
	}
	var p hub.LatencyPoint
	if _, err := pgx.ForEachRow(rows, []any{&p.Check, &p.At, &p.AvgMS, &p.MaxMS, &p.Samples}, func() error {
		p.At = p.At.UTC()
		h.Latency = append(h.Latency, p)
		return nil
	}); err != nil {
		return hub.History{}, fmt.Errorf("query history: %w", err)
	}

	args = args[:n]
	sql = `SELECT instance, check_name, from_status, to_status, output, at FROM history_transitions
		WHERE ` + cond + ` AND at >= ` + arg(q.Since) + ` AND at < ` + arg(q.Until) + ` ORDER BY at DESC, seq DESC`
	if q.Limit > 0 {
		sql += ` LIMIT ` + arg(q.Limit+1)
	}
	if rows, err = s.pool.Query(ctx, sql, args...); err != nil {
		return hub.History{}, fmt.Errorf("query transitions: %w", err)
	}
	var (
		t        hub.TransitionRecord
		from, to string
	)
	if _, err := pgx.ForEachRow(rows, []any{&t.Instance, &t.Check, &from, &to, &t.Output, &t.At}, func() error {
		t.From, t.To, t.At = status.Check(from), status.Check(to), t.At.UTC()
		h.Transitions = append(h.Transitions, t)
		return nil
	}); err != nil {
		return hub.History{}, fmt.Errorf("query transitions: %w", err)
	}
	if q.Limit > 0 && len(h.Transitions) > q.Limit {
		h.Transitions, h.Truncated = h.Transitions[:q.Limit], true
	}
	slices.Reverse(h.Transitions)
	return h, nil
}

// Availability implements hub.HistoryStore.
func (s *Store) Availability(ctx context.Context, q hub.HistoryQuery, hourly bool) (hub.Availability, error) {
	cond, args := where(q)
	var sql string
	if hourly {
		args = append(args, q.Since.UTC().Truncate(time.Hour), q.Until)
		sql = fmt.Sprintf(`SELECT coalesce(sum(samples), 0), coalesce(sum(up), 0) FROM history_hourly
			WHERE %s AND hour >= $%d AND hour < $%d`, cond, len(args)-1, len(args))
	} else {
		args = append(args, q.Since, q.Until)
		sql = fmt.Sprintf(`SELECT count(*), count(*) FILTER (WHERE status <= 1) FROM history_samples
			WHERE %s AND at >= $%d AND at < $%d`, cond, len(args)-1, len(args))
	}
	var a hub.Availability
	if err := s.pool.QueryRow(ctx, sql, args...).Scan(&a.Samples, &a.Up); err != nil {
		return hub.Availability{}, fmt.Errorf("query availability: %w", err)
	}
	return a, nil
}

// MaintainHistory implements hub.HistoryStore: it drops the daily partitions (and the roll-ups
// of the days) wholly older than now-retention, and creates the partitions of today and the two
// days ahead, so writes never wait for one.
func (s *Store) MaintainHistory(ctx context.Context, now time.Time, retention time.Duration) error {
	cutoff := now.Add(-retention)
	keepFrom := day(cutoff) // the first day kept: the one holding the cutoff
	if cutoff.Equal(keepFrom) {
		keepFrom = cutoff
	}
	var drop []string
	for _, table := range partitioned {
		rows, err := s.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = $1::regclass`, table)
		if err != nil {
			return fmt.Errorf("list history partitions: %w", err)
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("list history partitions: %w", err)
		}
		for _, name := range names {
			d, err := time.Parse("20060102", strings.TrimPrefix(name, table+"_p"))
			if err != nil || !strings.HasPrefix(name, table+"_p") {
				continue // not one of ours
			}
			if d.Before(keepFrom) {
				drop = append(drop, name)
				s.days.Delete(d)
			}
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := ddlLocks(ctx, tx); err != nil {
			return err
		}
		for _, name := range drop {
			if _, err := tx.Exec(ctx, `DROP TABLE IF EXISTS `+pgx.Identifier{name}.Sanitize()); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `DELETE FROM history_hourly WHERE hour < $1`, keepFrom)
		return err
	})
	if err != nil {
		return fmt.Errorf("drop old history: %w", err)
	}
	today := day(now)
	return s.ensureDays(ctx, []time.Time{today, today.AddDate(0, 0, 1), today.AddDate(0, 0, 2)})
}
