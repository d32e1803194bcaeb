package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/centralhub/centralhub/hub"
)

// GetDesiredConfig implements hub.ConfigStore.
func (s *Store) GetDesiredConfig(ctx context.Context, tenant, service string) (hub.DesiredConfig, error) {
	c := hub.DesiredConfig{Tenant: tenant, Service: service}
	var doc []byte
	err := s.pool.QueryRow(ctx, `SELECT version, config::text, checksum, updated_by, updated_at FROM desired_configs
		WHERE tenant = $1 AND service = $2`, tenant, service).Scan(&c.Version, &doc, &c.Checksum, &c.UpdatedBy, &c.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return hub.DesiredConfig{}, hub.ErrNoDesiredConfig
	}
	if err != nil {
		return hub.DesiredConfig{}, fmt.Errorf("get desired config of %s/%s: %w", tenant, service, err)
	}
	c.Config, c.UpdatedAt = json.RawMessage(doc), c.UpdatedAt.UTC()
	return c, nil
}

// PutDesiredConfig implements hub.ConfigStore: one transaction whose first statement checks
// and raises the version atomically (an update of the row where the version matches, or an
// insert that does nothing when a row exists), so hubs sharing the database never both win;
// then the audit entry.
func (s *Store) PutDesiredConfig(ctx context.Context, w hub.ConfigWrite) (hub.DesiredConfig, error) {
	c := w.Config
	c.UpdatedAt = c.UpdatedAt.UTC().Truncate(time.Microsecond) // what the column keeps
	doc := string(c.Config)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			version int64
			err     error
		)
		args := []any{c.Tenant, c.Service, doc, c.Checksum, c.UpdatedBy, c.UpdatedAt}
		switch {
		case w.IfVersion == nil:
			err = tx.QueryRow(ctx, `INSERT INTO desired_configs AS d (tenant, service, version, config, checksum, updated_by, updated_at)
				VALUES ($1, $2, 1, $3::json, $4, $5, $6)
				ON CONFLICT (tenant, service) DO UPDATE SET version = d.version + 1, config = excluded.config,
					checksum = excluded.checksum, updated_by = excluded.updated_by, updated_at = excluded.updated_at
				RETURNING version`, args...).Scan(&version)
		case *w.IfVersion == 0:
			err = tx.QueryRow(ctx, `INSERT INTO desired_configs (tenant, service, version, config, checksum, updated_by, updated_at)
				VALUES ($1, $2, 1, $3::json, $4, $5, $6)
				ON CONFLICT (tenant, service) DO NOTHING
				RETURNING version`, args...).Scan(&version)
		default:
			err = tx.QueryRow(ctx, `UPDATE desired_configs SET version = version + 1, config = $3::json, checksum = $4,
					updated_by = $5, updated_at = $6
				WHERE tenant = $1 AND service = $2 AND version = $7
				RETURNING version`, append(args, *w.IfVersion)...).Scan(&version)
		}
		if errors.Is(err, pgx.ErrNoRows) { // the version did not match: say which one is stored
			var current int64
			err = tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM desired_configs WHERE tenant = $1 AND service = $2`,
				c.Tenant, c.Service).Scan(&current)
			if err != nil {
				return err
			}
			return &hub.VersionConflictError{Current: current}
		}
		if err != nil {
			return err
		}
		c.Version = version
		e := hub.ConfigAuditEntry(&c, w.Role)
		entry, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode audit entry: %w", err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO audit (at, tenant, doc) VALUES ($1, $2, $3)`, e.At, e.Tenant, entry)
		return err
	})
	if err != nil {
		return hub.DesiredConfig{}, fmt.Errorf("put desired config of %s/%s: %w", c.Tenant, c.Service, err)
	}
	return c, nil
}
