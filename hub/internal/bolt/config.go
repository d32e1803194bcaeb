package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/centralhub/centralhub/hub"
)

// encodeConfig encodes c as the bucket keeps it; unlike json.Marshal it leaves <, > and & of
// the config as they are, so the config is kept byte for byte.
func encodeConfig(c *hub.DesiredConfig) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func configKey(tenant, service string) []byte {
	return []byte(tenant + "\x00" + service)
}

// GetDesiredConfig implements hub.ConfigStore.
func (s *Store) GetDesiredConfig(ctx context.Context, tenant, service string) (hub.DesiredConfig, error) {
	if err := ctx.Err(); err != nil {
		return hub.DesiredConfig{}, fmt.Errorf("get desired config: %w", err)
	}
	var (
		c     hub.DesiredConfig
		found bool
	)
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketConfigs)
		if b == nil { // a file opened read-only from before the bucket existed
			return nil
		}
		v := b.Get(configKey(tenant, service))
		if v == nil {
			return nil
		}
		found = true
		return json.Unmarshal(v, &c)
	})
	if err != nil {
		return hub.DesiredConfig{}, fmt.Errorf("get desired config of %s/%s: %w", tenant, service, err)
	}
	if !found {
		return hub.DesiredConfig{}, hub.ErrNoDesiredConfig
	}
	return c, nil
}

// PutDesiredConfig implements hub.ConfigStore: one fsynced transaction that reads the stored
// version, checks it, writes the next one and appends the audit entry. bbolt allows one
// writing transaction at a time, so the check and the write cannot interleave with another.
func (s *Store) PutDesiredConfig(ctx context.Context, w hub.ConfigWrite) (hub.DesiredConfig, error) {
	if err := ctx.Err(); err != nil {
		return hub.DesiredConfig{}, fmt.Errorf("put desired config: %w", err)
	}
	c := w.Config
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b, audit := tx.Bucket(bucketConfigs), tx.Bucket(bucketAudit)
		k := configKey(c.Tenant, c.Service)
		var current int64
		if v := b.Get(k); v != nil {
			var old hub.DesiredConfig
			if err := json.Unmarshal(v, &old); err != nil {
				return fmt.Errorf("decode stored config: %w", err)
			}
			current = old.Version
		}
		if w.IfVersion != nil && *w.IfVersion != current {
			return &hub.VersionConflictError{Current: current}
		}
		c.Version = current + 1
		v, err := encodeConfig(&c)
		if err != nil {
			return fmt.Errorf("encode config: %w", err)
		}
		if err := b.Put(k, v); err != nil {
			return fmt.Errorf("put config: %w", err)
		}
		e := hub.ConfigAuditEntry(&c, w.Role)
		if e.Seq, err = audit.NextSequence(); err != nil {
			return fmt.Errorf("audit sequence: %w", err)
		}
		ev, err := json.Marshal(&e)
		if err != nil {
			return fmt.Errorf("encode audit entry: %w", err)
		}
		return audit.Put(binary.BigEndian.AppendUint64(nil, e.Seq), ev)
	})
	if err != nil {
		return hub.DesiredConfig{}, fmt.Errorf("put desired config of %s/%s: %w", c.Tenant, c.Service, err)
	}
	return c, nil
}
