// Package postgres is the hub's PostgreSQL Store (also TimescaleDB, which is PostgreSQL): one
// pgx connection pool, the schema as versioned SQL migrations embedded in the binary, and the
// same contract as the embedded store, checked by the same conformance suite.
package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/centralhub/centralhub/hub"
)

// Options tunes Open.
type Options struct {
	// Migrate applies pending migrations before use; without it, a schema behind this hub's is
	// an error naming `hub migrate up`.
	Migrate bool
	// MaxConns bounds the pool (0: pgxpool's default, the larger of 4 and the CPU count).
	MaxConns int32
	// HubID names this hub among the hubs sharing the database; with it, every write of
	// instances or alerts notifies the other hubs (see Listen). Empty: no notices.
	HubID string
	// Log receives the store's own warnings (the cluster sessions); nil discards them.
	Log *slog.Logger
}

// Store is a hub.Store on PostgreSQL. It is safe for concurrent use.
type Store struct {
	pool    *pgxpool.Pool
	days    sync.Map // time.Time (a UTC midnight) → struct{}: days whose history partitions exist
	hubID   string
	schema  string // the connections' current schema: names the channel and the leader lock
	channel string
	where   string // Describe of the URL, for messages
	log     *slog.Logger
}

var _ hub.Store = (*Store)(nil)

// Open connects to the database at url, checks (or with opts.Migrate, brings up) its schema,
// and returns the store. A schema newer than this hub knows is refused: an older hub must not
// write to a newer layout.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	s, err := Connect(ctx, url, opts)
	if err != nil {
		return nil, err
	}
	pool := s.pool
	if opts.Migrate {
		if _, err := s.Migrate(ctx); err != nil {
			pool.Close()
			return nil, err
		}
	}
	st, err := s.Status(ctx)
	if err != nil {
		pool.Close()
		return nil, err
	}
	switch {
	case st.Current > st.Known:
		pool.Close()
		return nil, fmt.Errorf("database schema version %d is newer than this hub knows (%d): upgrade the hub", st.Current, st.Known)
	case st.Current < st.Known:
		pool.Close()
		return nil, fmt.Errorf("database schema version %d is behind this hub's (%d): run `hub migrate up`, or serve without --migrate=false", st.Current, st.Known)
	}
	return s, nil
}

// Connect connects to the database at url without looking at its schema, for `hub migrate`.
func Connect(ctx context.Context, url string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database url: %w", redact(err, url))
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", Describe(url), redact(err, url))
	}
	var schema string
	if err := pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to %s: %w", Describe(url), redact(err, url))
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{pool: pool, hubID: opts.HubID, schema: schema, channel: channelOf(schema), where: Describe(url),
		log: log.With("component", "postgres")}, nil
}

// channelOf names the schema's notification channel: "centralhub." and the schema, or a hash
// of it where that would pass PostgreSQL's 63-byte limit on names.
func channelOf(schema string) string {
	if c := "centralhub." + schema; len(c) <= 63 {
		return c
	}
	sum := sha256.Sum256([]byte(schema))
	return "centralhub." + hex.EncodeToString(sum[:16])
}

// Describe names the database of url for messages and logs: host, port and database, never
// the user's password.
func Describe(url string) string {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return "the database"
	}
	return fmt.Sprintf("postgres://%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
}

// redact removes url's password from an error's text (pgx quotes the connection string in
// some of its errors).
func redact(err error, url string) error {
	cfg, perr := pgx.ParseConfig(url)
	if perr != nil || cfg.Password == "" || !strings.Contains(err.Error(), cfg.Password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), cfg.Password, "xxxxx"))
}

// Close implements hub.Store.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// LoadInstances implements hub.Store.
func (s *Store) LoadInstances(ctx context.Context) ([]hub.Instance, error) {
	rows, err := s.pool.Query(ctx, `SELECT doc, boot, seq, last_seen FROM instances`)
	if err != nil {
		return nil, fmt.Errorf("load instances: %w", err)
	}
	return scanInstances(rows)
}

// scanInstances reads rows of (doc, boot, seq, last_seen), each instance with its newest
// heartbeat.
func scanInstances(rows pgx.Rows) ([]hub.Instance, error) {
	defer rows.Close()
	var out []hub.Instance
	for rows.Next() {
		var (
			doc      []byte
			boot     int64
			seq      int64
			lastSeen time.Time
			in       hub.Instance
		)
		if err := rows.Scan(&doc, &boot, &seq, &lastSeen); err != nil {
			return nil, fmt.Errorf("load instances: %w", err)
		}
		if err := json.Unmarshal(doc, &in); err != nil {
			return nil, fmt.Errorf("decode instance: %w", err)
		}
		if boot == in.Boot && uint64(seq) > in.Seq {
			in.Seq, in.LastSeen = uint64(seq), lastSeen.UTC()
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load instances: %w", err)
	}
	return out, nil
}

// WriteInstances implements hub.Store: one transaction, the statements sent as one batch.
func (s *Store) WriteInstances(ctx context.Context, w hub.Writes) error {
	if w.Empty() {
		return ctx.Err()
	}
	days := historyDays(&w)
	if err := s.ensureDays(ctx, days); err != nil {
		return fmt.Errorf("write instances: %w", err)
	}
	b := &pgx.Batch{}
	for i := range w.Puts {
		in := &w.Puts[i]
		doc, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode instance %s: %w", in.Key, err)
		}
		// A put never goes back: another hub may have written a newer report of the instance
		// (or its heartbeat) since this hub's copy was taken.
		b.Queue(`INSERT INTO instances AS i (tenant, service, instance, doc, boot, seq, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (tenant, service, instance) DO UPDATE SET doc = excluded.doc, boot = excluded.boot, seq = excluded.seq, last_seen = excluded.last_seen
			WHERE (i.boot, i.seq) <= (excluded.boot, excluded.seq)`,
			in.Key.Tenant, in.Key.Service, in.Key.Instance, doc, in.Boot, int64(in.Seq), in.LastSeen)
	}
	if n := len(w.Heartbeats); n > 0 {
		// One statement for the whole batch: a heartbeat raises seq and last_seen of the
		// stored instance of its boot, never lowers them.
		ts, ss, is := make([]string, n), make([]string, n), make([]string, n)
		boots, seqs, seen := make([]int64, n), make([]int64, n), make([]time.Time, n)
		for i, h := range w.Heartbeats {
			ts[i], ss[i], is[i], boots[i], seqs[i], seen[i] = h.Key.Tenant, h.Key.Service, h.Key.Instance, h.Boot, int64(h.Seq), h.LastSeen
		}
		b.Queue(`UPDATE instances AS i SET seq = v.seq, last_seen = v.last_seen
			FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::timestamptz[]) AS v(tenant, service, instance, boot, seq, last_seen)
			WHERE i.tenant = v.tenant AND i.service = v.service AND i.instance = v.instance AND i.boot = v.boot AND i.seq < v.seq`,
			ts, ss, is, boots, seqs, seen)
	}
	for _, k := range w.Deletes {
		b.Queue(`DELETE FROM instances WHERE tenant = $1 AND service = $2 AND instance = $3`, k.Tenant, k.Service, k.Instance)
	}
	s.queueNotify(b, &w)
	var refused []hub.InstanceKey
	write := func(tx pgx.Tx) error {
		refused = refused[:0]
		if b.Len() > 0 {
			br := tx.SendBatch(ctx, b)
			for i := range b.Len() {
				tag, err := br.Exec()
				if err != nil {
					_ = br.Close()
					return err
				}
				if i < len(w.Puts) && tag.RowsAffected() == 0 {
					refused = append(refused, w.Puts[i].Key)
				}
			}
			if err := br.Close(); err != nil {
				return err
			}
		}
		return writeHistory(ctx, tx, &w, refused)
	}
	err := pgx.BeginFunc(ctx, s.pool, write)
	if noPartition(err) {
		// A day this store took for prepared is gone (another hub's retention dropped it):
		// prepare it again and write once more.
		s.forgetDays(days)
		if err = s.ensureDays(ctx, days); err == nil {
			err = pgx.BeginFunc(ctx, s.pool, write)
		}
	}
	if err != nil {
		return fmt.Errorf("write instances: %w", err)
	}
	if len(refused) > 0 {
		return &hub.RefusedPutsError{Keys: refused}
	}
	return nil
}

// inTx runs b in one transaction.
func (s *Store) inTx(ctx context.Context, b *pgx.Batch) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return tx.SendBatch(ctx, b).Close()
	})
}

// LoadAlerts implements hub.AlertStore.
func (s *Store) LoadAlerts(ctx context.Context) ([]hub.Alert, []hub.Silence, error) {
	var alerts []hub.Alert
	var silences []hub.Silence
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT doc FROM alerts`)
		if err != nil {
			return err
		}
		docs, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
		if err != nil {
			return err
		}
		for _, doc := range docs {
			a, err := hub.UnmarshalAlertRecord(doc)
			if err != nil {
				return err
			}
			alerts = append(alerts, a)
		}
		rows, err = tx.Query(ctx, `SELECT doc FROM silences`)
		if err != nil {
			return err
		}
		if docs, err = pgx.CollectRows(rows, pgx.RowTo[[]byte]); err != nil {
			return err
		}
		for _, doc := range docs {
			var sil hub.Silence
			if err := json.Unmarshal(doc, &sil); err != nil {
				return fmt.Errorf("decode silence: %w", err)
			}
			silences = append(silences, sil)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("load alerts: %w", err)
	}
	return alerts, silences, nil
}

// WriteAlerts implements hub.AlertStore: one transaction; the audit entries' seq comes from the
// table's sequence.
func (s *Store) WriteAlerts(ctx context.Context, w hub.AlertWrites) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write alerts: %w", err)
	}
	b := &pgx.Batch{}
	for i := range w.Alerts {
		a := &w.Alerts[i]
		doc, err := hub.MarshalAlertRecord(a)
		if err != nil {
			return err
		}
		b.Queue(`INSERT INTO alerts (id, tenant, state, doc) VALUES ($1, $2, $3, $4)
			ON CONFLICT (id) DO UPDATE SET tenant = excluded.tenant, state = excluded.state, doc = excluded.doc`,
			a.ID, a.Tenant, string(a.State), doc)
	}
	if len(w.DeleteAlerts) > 0 {
		b.Queue(`DELETE FROM alerts WHERE id = ANY($1)`, w.DeleteAlerts)
	}
	for i := range w.Silences {
		sil := &w.Silences[i]
		doc, err := json.Marshal(sil)
		if err != nil {
			return fmt.Errorf("encode silence %s: %w", sil.ID, err)
		}
		b.Queue(`INSERT INTO silences (id, tenant, doc) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO UPDATE SET tenant = excluded.tenant, doc = excluded.doc`, sil.ID, sil.Tenant, doc)
	}
	if len(w.DeleteSilences) > 0 {
		b.Queue(`DELETE FROM silences WHERE id = ANY($1)`, w.DeleteSilences)
	}
	for i := range w.Audit {
		e := w.Audit[i]
		e.Seq = 0 // the table assigns it
		doc, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode audit entry: %w", err)
		}
		b.Queue(`INSERT INTO audit (at, tenant, doc) VALUES ($1, $2, $3)`, e.At, e.Tenant, doc)
	}
	if b.Len() == 0 {
		return nil
	}
	if s.hubID != "" {
		b.Queue(`SELECT pg_notify($1, $2)`, s.channel, "a "+s.hubID)
	}
	if err := s.inTx(ctx, b); err != nil {
		return fmt.Errorf("write alerts: %w", err)
	}
	return nil
}

// ListAudit implements hub.AlertStore.
func (s *Store) ListAudit(ctx context.Context, q hub.AuditQuery) ([]hub.AuditEntry, error) {
	sql := `SELECT seq, doc FROM audit WHERE ($1 = '' OR tenant = $1) AND at >= $2 ORDER BY seq DESC`
	args := []any{q.Tenant, q.Since}
	if q.Limit > 0 {
		sql += ` LIMIT $3`
		args = append(args, q.Limit)
	}
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	out := []hub.AuditEntry{}
	var (
		seq int64
		doc []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&seq, &doc}, func() error {
		var e hub.AuditEntry
		if err := json.Unmarshal(doc, &e); err != nil {
			return fmt.Errorf("decode audit entry %d: %w", seq, err)
		}
		e.Seq = uint64(seq)
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return out, nil
}
