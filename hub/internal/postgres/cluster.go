package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/centralhub/centralhub/hub"
)

// Several hubs share one database: each writes what its agents report, tells the others of
// every state change through LISTEN/NOTIFY (the notification is sent by the transaction that
// writes the change, so it arrives only once the change is committed), and one of them — the
// holder of a session advisory lock — leads: it judges staleness and alerts. Channel and lock
// are named after the schema, so hubs on different schemas of one database never mix.

// Notice is what a hub hears from another.
type Notice struct {
	// Hub is the ID of the hub that sent it.
	Hub string
	// Instances changed (written or removed) by that hub; read them back from the store.
	Instances []hub.InstanceKey
	// Alerts says alerts, silences or acknowledgements changed.
	Alerts bool
	// Resync says notices may have been missed (the listening connection was re-established):
	// read everything again.
	Resync bool
}

// notice payloads: "i <hub> <JSON [[tenant, service, instance], ...]>" and "a <hub>".
const maxPayload = 7800 // PostgreSQL's limit is 8000 bytes

// keysPayloads splits the notice of keys into payloads under maxPayload.
func keysPayloads(hubID string, keys []hub.InstanceKey) []string {
	var out []string
	prefix := "i " + hubID + " "
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			out = append(out, prefix+"["+b.String()+"]")
			b.Reset()
		}
	}
	for _, k := range keys {
		enc, _ := json.Marshal([3]string{k.Tenant, k.Service, k.Instance})
		if b.Len()+len(enc)+len(prefix)+3 > maxPayload {
			flush()
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.Write(enc)
	}
	flush()
	return out
}

// parseNotice reads a payload; ok is false for one this hub does not know.
func parseNotice(payload string) (Notice, bool) {
	kind, rest, _ := strings.Cut(payload, " ")
	id, body, _ := strings.Cut(rest, " ")
	switch kind {
	case "a":
		return Notice{Hub: id, Alerts: true}, id != ""
	case "i":
		var keys [][3]string
		if err := json.Unmarshal([]byte(body), &keys); err != nil || id == "" {
			return Notice{}, false
		}
		n := Notice{Hub: id, Instances: make([]hub.InstanceKey, len(keys))}
		for i, k := range keys {
			n.Instances[i] = hub.InstanceKey{Tenant: k[0], Service: k[1], Instance: k[2]}
		}
		return n, true
	}
	return Notice{}, false
}

// queueNotify adds to b the notices of w's instance changes, when this store tells other hubs.
func (s *Store) queueNotify(b *pgx.Batch, w *hub.Writes) {
	if s.hubID == "" || len(w.Puts)+len(w.Deletes) == 0 {
		return
	}
	keys := make([]hub.InstanceKey, 0, len(w.Puts)+len(w.Deletes))
	for i := range w.Puts {
		keys = append(keys, w.Puts[i].Key)
	}
	keys = append(keys, w.Deletes...)
	for _, p := range keysPayloads(s.hubID, keys) {
		b.Queue(`SELECT pg_notify($1, $2)`, s.channel, p)
	}
}

// LoadInstancesOf returns the stored instances of keys, each with its newest heartbeat; a key
// with no stored instance is left out (it was removed).
func (s *Store) LoadInstancesOf(ctx context.Context, keys []hub.InstanceKey) ([]hub.Instance, error) {
	ts, ss, is := make([]string, len(keys)), make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		ts[i], ss[i], is[i] = k.Tenant, k.Service, k.Instance
	}
	rows, err := s.pool.Query(ctx, `SELECT i.doc, i.boot, i.seq, i.last_seen FROM instances i
		JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(t, s, n) ON i.tenant = k.t AND i.service = k.s AND i.instance = k.n`, ts, ss, is)
	if err != nil {
		return nil, fmt.Errorf("load instances: %w", err)
	}
	return scanInstances(rows)
}

// HeartbeatsOf returns the stored heartbeat (boot, seq, last_seen) of each of keys the store
// holds: what the hubs have heard of them, whichever hub heard it.
func (s *Store) HeartbeatsOf(ctx context.Context, keys []hub.InstanceKey) ([]hub.Heartbeat, error) {
	ts, ss, is := make([]string, len(keys)), make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		ts[i], ss[i], is[i] = k.Tenant, k.Service, k.Instance
	}
	rows, err := s.pool.Query(ctx, `SELECT i.tenant, i.service, i.instance, i.boot, i.seq, i.last_seen FROM instances i
		JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(t, s, n) ON i.tenant = k.t AND i.service = k.s AND i.instance = k.n`, ts, ss, is)
	if err != nil {
		return nil, fmt.Errorf("read heartbeats: %w", err)
	}
	var (
		out []hub.Heartbeat
		h   hub.Heartbeat
		seq int64
	)
	_, err = pgx.ForEachRow(rows, []any{&h.Key.Tenant, &h.Key.Service, &h.Key.Instance, &h.Boot, &seq, &h.LastSeen}, func() error {
		h.Seq, h.LastSeen = uint64(seq), h.LastSeen.UTC()
		out = append(out, h)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read heartbeats: %w", err)
	}
	return out, nil
}

// dedicated opens a connection of its own, outside the pool, for a session that must last:
// the leader's lock, or LISTEN. The server probes it with TCP keepalives, so a hub that
// vanishes without closing it loses its lock within about ten seconds.
func (s *Store) dedicated(ctx context.Context) (*pgx.Conn, error) {
	cfg := s.pool.Config().ConnConfig.Copy()
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", s.where, err)
	}
	if _, err := c.Exec(ctx, `SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 2; SET tcp_keepalives_count = 3`); err != nil {
		_ = c.Close(ctx)
		return nil, fmt.Errorf("set keepalives: %w", err)
	}
	return c, nil
}

// Listen hears the notices of the other hubs on this schema until ctx ends, calling handle
// for each (never for this hub's own). After (re)connecting it calls handle with Resync set,
// since notices sent while it was not listening are lost. It retries a lost connection every
// second.
func (s *Store) Listen(ctx context.Context, handle func(Notice)) {
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, handle)
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("listening for other hubs' changes failed; reconnecting", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (s *Store) listenOnce(ctx context.Context, handle func(Notice)) error {
	c, err := s.dedicated(ctx)
	if err != nil {
		return err
	}
	defer c.Close(context.WithoutCancel(ctx))
	if _, err := c.Exec(ctx, `LISTEN `+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	handle(Notice{Resync: true})
	for {
		n, err := c.WaitForNotification(ctx)
		if err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		notice, ok := parseNotice(n.Payload)
		if !ok {
			s.log.Warn("unknown notice from another hub ignored", "payload_bytes", len(n.Payload))
			continue
		}
		if notice.Hub != s.hubID {
			handle(notice)
		}
	}
}

// Campaign competes for the leadership of the hubs on this schema until ctx ends: it tries
// the leader's advisory lock every second, and while it holds it checks every second that its
// session is alive. lead is called with true when this hub becomes leader and false when it
// stops being one (its session died, or ctx ended). The leader records apiURL, where it
// serves, for the others.
func (s *Store) Campaign(ctx context.Context, apiURL string, lead func(bool)) {
	for ctx.Err() == nil {
		held, err := s.campaignOnce(ctx, apiURL, lead)
		if ctx.Err() != nil {
			return
		}
		if held || err != nil {
			s.log.Warn("leadership session lost; campaigning again", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// campaignOnce holds one session: it tries the lock until it gets it, then keeps it while the
// session lives. held says whether it led.
func (s *Store) campaignOnce(ctx context.Context, apiURL string, lead func(bool)) (held bool, err error) {
	c, err := s.dedicated(ctx)
	if err != nil {
		return false, err
	}
	defer func() {
		if held {
			lead(false) // before the lock goes: a leader stopping writes what it holds first
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = c.Close(cctx) // ends the session: the lock goes with it
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if !held {
			var got bool
			if err := s.probe(ctx, c, `SELECT pg_try_advisory_lock(hashtext($1))`, &got, s.lockName()); err != nil {
				return false, err
			}
			if got {
				held = true
				if _, err := s.pool.Exec(ctx, `INSERT INTO hub_leader (id, hub, api_url, since) VALUES (1, $1, $2, now())
					ON CONFLICT (id) DO UPDATE SET hub = excluded.hub, api_url = excluded.api_url, since = excluded.since`, s.hubID, apiURL); err != nil {
					return held, fmt.Errorf("record leadership: %w", err)
				}
				s.log.Info("this hub leads: it judges staleness and alerts", "hub", s.hubID)
				lead(true)
			}
		} else {
			var one int
			if err := s.probe(ctx, c, `SELECT 1`, &one); err != nil {
				return held, err
			}
		}
		select {
		case <-ctx.Done():
			return held, ctx.Err()
		case <-tick.C:
		}
	}
}

// probe runs one query on the leadership session within two seconds.
func (s *Store) probe(ctx context.Context, c *pgx.Conn, sql string, into any, args ...any) error {
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := c.QueryRow(pctx, sql, args...).Scan(into); err != nil {
		return fmt.Errorf("leadership session: %w", err)
	}
	return nil
}

func (s *Store) lockName() string { return "centralhub.leader." + s.schema }

// ErrNoLeader means no hub has recorded its leadership on this database.
var ErrNoLeader = errors.New("no leader hub recorded")

// Leader returns the ID and API URL of the hub that last took the leadership.
func (s *Store) Leader(ctx context.Context) (id, apiURL string, err error) {
	err = s.pool.QueryRow(ctx, `SELECT hub, api_url FROM hub_leader WHERE id = 1`).Scan(&id, &apiURL)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", ErrNoLeader
	}
	if err != nil {
		return "", "", fmt.Errorf("read leader: %w", err)
	}
	return id, apiURL, nil
}
