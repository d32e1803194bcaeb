package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/pkg/status"
)

// History lives in three tables (migrations/002_history.sql): raw samples, one row per check
// and one for the instance's own status, and transitions, both range-partitioned by UTC day;
// and hourly roll-ups of the samples, which the writer keeps current in the same transaction.

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
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('centralhub.partitions.' || current_schema()))`); err != nil {
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

// rollupKey is one row of history_hourly.
type rollupKey struct {
	key   hub.InstanceKey
	check string
	hour  time.Time
}

type rollup struct {
	samples, up int64
	sum, max    float64
}

// writeHistory writes w's samples and transitions inside tx and adds the samples to their
// hours' roll-ups.
func writeHistory(ctx context.Context, tx pgx.Tx, w *hub.Writes) error {
	if len(w.Transitions) > 0 {
		rows := make([][]any, len(w.Transitions))
		for i := range w.Transitions {
			t := &w.Transitions[i]
			rows[i] = []any{t.At, t.Key.Tenant, t.Key.Service, t.Key.Instance, t.Check, string(t.From), string(t.To), t.Output}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"history_transitions"},
			[]string{"at", "tenant", "service", "instance", "check_name", "from_status", "to_status", "output"}, pgx.CopyFromRows(rows)); err != nil {
			return fmt.Errorf("write transitions: %w", err)
		}
	}
	if len(w.Samples) == 0 {
		return nil
	}
	n := 0
	for i := range w.Samples {
		n += 1 + len(w.Samples[i].Checks)
	}
	rows := make([][]any, 0, n)
	sums := make(map[rollupKey]*rollup)
	add := func(k rollupKey, st status.Check, ms float64) {
		r := sums[k]
		if r == nil {
			r = &rollup{max: ms}
			sums[k] = r
		}
		r.samples++
		if st.Up() {
			r.up++
		}
		r.sum += ms
		r.max = max(r.max, ms)
	}
	for i := range w.Samples {
		smp := &w.Samples[i]
		hour := smp.At.UTC().Truncate(time.Hour)
		rows = append(rows, []any{smp.At, smp.Key.Tenant, smp.Key.Service, smp.Key.Instance, "", int16(smp.Status.Code()), float32(0)})
		add(rollupKey{smp.Key, "", hour}, smp.Status, 0)
		for _, c := range smp.Checks {
			rows = append(rows, []any{smp.At, smp.Key.Tenant, smp.Key.Service, smp.Key.Instance, c.Name, int16(c.Status.Code()), float32(c.LatencyMS)})
			add(rollupKey{smp.Key, c.Name, hour}, c.Status, c.LatencyMS)
		}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"history_samples"},
		[]string{"at", "tenant", "service", "instance", "check_name", "status", "latency_ms"}, pgx.CopyFromRows(rows)); err != nil {
		return fmt.Errorf("write samples: %w", err)
	}
	// One statement for every roll-up row, in key order, so hubs updating the same rows
	// concurrently lock them in the same order.
	keys := make([]rollupKey, 0, len(sums))
	for k := range sums {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b rollupKey) int {
		return cmp.Or(cmp.Compare(a.key.Tenant, b.key.Tenant), cmp.Compare(a.key.Service, b.key.Service),
			cmp.Compare(a.key.Instance, b.key.Instance), cmp.Compare(a.check, b.check), a.hour.Compare(b.hour))
	})
	var (
		tenants, services, instances, checks = make([]string, len(keys)), make([]string, len(keys)), make([]string, len(keys)), make([]string, len(keys))
		hours                                = make([]time.Time, len(keys))
		samples, ups                         = make([]int64, len(keys)), make([]int64, len(keys))
		lsum, lmax                           = make([]float64, len(keys)), make([]float64, len(keys))
	)
	for i, k := range keys {
		r := sums[k]
		tenants[i], services[i], instances[i], checks[i], hours[i] = k.key.Tenant, k.key.Service, k.key.Instance, k.check, k.hour
		samples[i], ups[i], lsum[i], lmax[i] = r.samples, r.up, r.sum, r.max
	}
	_, err := tx.Exec(ctx, `INSERT INTO history_hourly AS h (tenant, service, instance, check_name, hour, samples, up, latency_sum, latency_max)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::bigint[], $7::bigint[], $8::float8[], $9::float8[])
		ON CONFLICT (tenant, service, instance, check_name, hour) DO UPDATE SET samples = h.samples + excluded.samples, up = h.up + excluded.up,
			latency_sum = h.latency_sum + excluded.latency_sum, latency_max = greatest(h.latency_max, excluded.latency_max)`,
		tenants, services, instances, checks, hours, samples, ups, lsum, lmax)
	if err != nil {
		return fmt.Errorf("write hourly roll-ups: %w", err)
	}
	return nil
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
		sql = `SELECT check_name, date_bin(make_interval(secs => ` + arg(q.Step.Seconds()) + `), hour, timestamptz 'epoch'), sum(latency_sum) / sum(samples), max(latency_max), sum(samples)
			FROM history_hourly WHERE ` + cond + ` AND check_name <> '' AND hour >= ` + arg(q.Since.UTC().Truncate(time.Hour)) + ` AND hour < ` + arg(q.Until) + `
			GROUP BY 1, 2 ORDER BY 1, 2`
	} else {
		sql = `SELECT check_name, date_bin(make_interval(secs => ` + arg(q.Step.Seconds()) + `), at, timestamptz 'epoch'), avg(latency_ms), max(latency_ms), count(*)
			FROM history_samples WHERE ` + cond + ` AND check_name <> '' AND at >= ` + arg(q.Since) + ` AND at < ` + arg(q.Until) + `
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
			WHERE %s AND check_name = '' AND hour >= $%d AND hour < $%d`, cond, len(args)-1, len(args))
	} else {
		args = append(args, q.Since, q.Until)
		sql = fmt.Sprintf(`SELECT count(*), count(*) FILTER (WHERE status <= 1) FROM history_samples
			WHERE %s AND check_name = '' AND at >= $%d AND at < $%d`, cond, len(args)-1, len(args))
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
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('centralhub.partitions.' || current_schema()))`); err != nil {
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
