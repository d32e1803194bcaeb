// Package bolt is the hub's embedded Store: one bbolt file under the data directory, the
// default when no PostgreSQL URL is configured.
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/centralhub/centralhub/hub"
)

// FileName is the store file's name inside the data directory.
const FileName = "centralhub.db"

// schemaVersion is the layout version this code writes; a newer file is refused. The alerts,
// silences, audit and configs buckets did not change it: migrate creates missing buckets, so a
// file written before them simply gains them on open.
const schemaVersion = 1

var (
	bucketMeta       = []byte("meta")
	bucketInstances  = []byte("instances")
	bucketHeartbeats = []byte("heartbeats") // key as instances; value boot, seq, last_seen (3 × 8 bytes)
	bucketAlerts     = []byte("alerts")     // key alert ID; value hub.MarshalAlertRecord
	bucketSilences   = []byte("silences")   // key silence ID; value hub.Silence as JSON
	bucketAudit      = []byte("audit")      // key 8-byte big-endian sequence; value hub.AuditEntry as JSON
	bucketConfigs    = []byte("configs")    // key tenant NUL service; value hub.DesiredConfig as JSON
	keySchema        = []byte("schema_version")
)

// Store is a hub.Store on a bbolt file. It is safe for concurrent use.
type Store struct {
	db *bbolt.DB
}

var _ hub.Store = (*Store)(nil)

// Open opens (creating if needed) the store file in dir. It fails fast, rather than waiting,
// when another process holds the file.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	path := filepath.Join(dir, FileName)
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout: time.Second,
		// The freelist is rebuilt on open instead of written on every commit, and kept as a
		// hashmap: smaller, faster commits for the many small transactions ingest makes.
		NoFreelistSync: true,
		FreelistType:   bbolt.FreelistMapType,
		// Map 1 GiB of address space from the start (not memory: pages are read in as used),
		// so the file grows without a remap until then. A remap waits for every open read
		// transaction and blocks new ones, which stalled ingest for a few hundred
		// milliseconds as the file passed 64 MiB under 10,000 agents.
		InitialMmapSize: 1 << 30,
	})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open %s: another process holds it (is a hub already running on this data dir?)", path)
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	s := &Store{db: db}
	if err := s.migrate(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return s, nil
}

func (s *Store) migrate() error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return fmt.Errorf("create meta bucket: %w", err)
		}
		if v := meta.Get(keySchema); v != nil {
			n, err := strconv.Atoi(string(v))
			if err != nil {
				return fmt.Errorf("bad schema version %q", v)
			}
			if n > schemaVersion {
				return fmt.Errorf("store schema version %d is newer than this hub knows (%d): upgrade the hub", n, schemaVersion)
			}
		}
		for _, b := range [][]byte{bucketInstances, bucketHeartbeats, bucketAlerts, bucketSilences, bucketAudit, bucketConfigs} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("create %s bucket: %w", b, err)
			}
		}
		return meta.Put(keySchema, []byte(strconv.Itoa(schemaVersion)))
	})
}

func instanceKey(k hub.InstanceKey) []byte {
	return []byte(k.Tenant + "\x00" + k.Service + "\x00" + k.Instance)
}

// OpenReadOnly opens an existing store file read-only, for tools that inspect a hub's store
// (a running hub holds the file's lock, so they read a copy).
func OpenReadOnly(path string) (*Store, error) {
	db, err := bbolt.Open(path, 0o400, &bbolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("open %s read-only: %w", path, err)
	}
	return &Store{db: db}, nil
}

func encodeHeartbeat(h hub.Heartbeat) []byte {
	b := make([]byte, 24)
	binary.BigEndian.PutUint64(b, uint64(h.Boot))
	binary.BigEndian.PutUint64(b[8:], h.Seq)
	binary.BigEndian.PutUint64(b[16:], uint64(h.LastSeen.UnixNano()))
	return b
}

// LoadInstances implements hub.Store.
func (s *Store) LoadInstances(ctx context.Context) ([]hub.Instance, error) {
	var out []hub.Instance
	err := s.db.View(func(tx *bbolt.Tx) error {
		beats := tx.Bucket(bucketHeartbeats)
		return tx.Bucket(bucketInstances).ForEach(func(k, v []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			var in hub.Instance
			if err := json.Unmarshal(v, &in); err != nil {
				return fmt.Errorf("decode instance %q: %w", strings.ReplaceAll(string(k), "\x00", "/"), err)
			}
			if hb := beats.Get(k); len(hb) == 24 {
				boot, seq := int64(binary.BigEndian.Uint64(hb)), binary.BigEndian.Uint64(hb[8:])
				if boot == in.Boot && seq > in.Seq {
					in.Seq = seq
					in.LastSeen = time.Unix(0, int64(binary.BigEndian.Uint64(hb[16:]))).UTC()
				}
			}
			out = append(out, in)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("load instances: %w", err)
	}
	return out, nil
}

// WriteInstances implements hub.Store: one fsynced transaction, history included.
func (s *Store) WriteInstances(ctx context.Context, w hub.Writes) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write instances: %w", err)
	}
	if w.Empty() {
		return nil // no fsynced commit for nothing
	}
	hist, err := prepareHistory(&w)
	if err != nil {
		return fmt.Errorf("write instances: %w", err)
	}
	encoded := make([][]byte, len(w.Puts))
	for i := range w.Puts {
		b, err := json.Marshal(&w.Puts[i])
		if err != nil {
			return fmt.Errorf("encode instance %s: %w", w.Puts[i].Key, err)
		}
		encoded[i] = b
	}
	// Keys in order: bbolt appends to its B+tree pages far faster than it inserts at random.
	beatKeys := make([][]byte, len(w.Heartbeats))
	for i, h := range w.Heartbeats {
		beatKeys[i] = instanceKey(h.Key)
	}
	order := make([]int, len(beatKeys))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return bytes.Compare(beatKeys[a], beatKeys[b]) })
	err = s.db.Update(func(tx *bbolt.Tx) error {
		ins, beats := tx.Bucket(bucketInstances), tx.Bucket(bucketHeartbeats)
		for i := range w.Puts {
			k := instanceKey(w.Puts[i].Key)
			if err := ins.Put(k, encoded[i]); err != nil {
				return err
			}
			if err := beats.Delete(k); err != nil {
				return err
			}
		}
		for _, i := range order {
			if err := beats.Put(beatKeys[i], encodeHeartbeat(w.Heartbeats[i])); err != nil {
				return err
			}
		}
		for _, k := range w.Deletes {
			if err := ins.Delete(instanceKey(k)); err != nil {
				return err
			}
			if err := beats.Delete(instanceKey(k)); err != nil {
				return err
			}
		}
		return hist.write(tx)
	})
	if err != nil {
		return fmt.Errorf("write instances: %w", err)
	}
	return nil
}

// LoadAlerts implements hub.AlertStore.
func (s *Store) LoadAlerts(ctx context.Context) ([]hub.Alert, []hub.Silence, error) {
	var (
		alerts   []hub.Alert
		silences []hub.Silence
	)
	err := s.db.View(func(tx *bbolt.Tx) error {
		err := tx.Bucket(bucketAlerts).ForEach(func(k, v []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			a, err := hub.UnmarshalAlertRecord(v)
			if err != nil {
				return fmt.Errorf("alert %q: %w", k, err)
			}
			alerts = append(alerts, a)
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketSilences).ForEach(func(k, v []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			var sil hub.Silence
			if err := json.Unmarshal(v, &sil); err != nil {
				return fmt.Errorf("decode silence %q: %w", k, err)
			}
			silences = append(silences, sil)
			return nil
		})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("load alerts: %w", err)
	}
	return alerts, silences, nil
}

// WriteAlerts implements hub.AlertStore: one fsynced transaction. Audit entries get their Seq
// from the audit bucket's sequence, in the order w lists them.
func (s *Store) WriteAlerts(ctx context.Context, w hub.AlertWrites) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("write alerts: %w", err)
	}
	alerts := make([][]byte, len(w.Alerts))
	for i := range w.Alerts {
		a := &w.Alerts[i]
		b, err := hub.MarshalAlertRecord(a)
		if err != nil {
			return fmt.Errorf("write alerts: %w", err)
		}
		alerts[i] = b
	}
	silences := make([][]byte, len(w.Silences))
	for i := range w.Silences {
		b, err := json.Marshal(&w.Silences[i])
		if err != nil {
			return fmt.Errorf("write alerts: encode silence %q: %w", w.Silences[i].ID, err)
		}
		silences[i] = b
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		ab, sb, audit := tx.Bucket(bucketAlerts), tx.Bucket(bucketSilences), tx.Bucket(bucketAudit)
		for i := range w.Alerts {
			if err := ab.Put([]byte(w.Alerts[i].ID), alerts[i]); err != nil {
				return fmt.Errorf("put alert %q: %w", w.Alerts[i].ID, err)
			}
		}
		for _, id := range w.DeleteAlerts {
			if err := ab.Delete([]byte(id)); err != nil {
				return fmt.Errorf("delete alert %q: %w", id, err)
			}
		}
		for i := range w.Silences {
			if err := sb.Put([]byte(w.Silences[i].ID), silences[i]); err != nil {
				return fmt.Errorf("put silence %q: %w", w.Silences[i].ID, err)
			}
		}
		for _, id := range w.DeleteSilences {
			if err := sb.Delete([]byte(id)); err != nil {
				return fmt.Errorf("delete silence %q: %w", id, err)
			}
		}
		for _, e := range w.Audit {
			seq, err := audit.NextSequence()
			if err != nil {
				return fmt.Errorf("audit sequence: %w", err)
			}
			e.Seq = seq
			v, err := json.Marshal(&e)
			if err != nil {
				return fmt.Errorf("encode audit entry: %w", err)
			}
			if err := audit.Put(binary.BigEndian.AppendUint64(nil, seq), v); err != nil {
				return fmt.Errorf("put audit entry %d: %w", seq, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write alerts: %w", err)
	}
	return nil
}

// ListAudit implements hub.AlertStore: it walks the audit bucket from its newest key back.
func (s *Store) ListAudit(ctx context.Context, q hub.AuditQuery) ([]hub.AuditEntry, error) {
	out := []hub.AuditEntry{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			if err := ctx.Err(); err != nil {
				return err
			}
			var e hub.AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode audit entry %x: %w", k, err)
			}
			// At is not guaranteed to rise with the sequence, so an old entry does not end
			// the walk.
			if (q.Tenant != "" && e.Tenant != q.Tenant) || e.At.Before(q.Since) {
				continue
			}
			out = append(out, e)
			if q.Limit > 0 && len(out) == q.Limit {
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return out, nil
}

// Close implements hub.Store.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}
