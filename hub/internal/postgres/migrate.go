package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one numbered SQL file of migrations/: NNN_name.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in order; a file not named NNN_name.sql, or two of
// one number, is a build mistake the tests catch.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []migration
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration %s: not named NNN_name.sql", e.Name())
		}
		b, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		out = append(out, migration{version: v, name: name, sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migrations: want version %d, found %d (%s)", i+1, m.version, m.name)
		}
	}
	return out, nil
}

// SchemaStatus says where a database's schema stands against this hub's migrations.
type SchemaStatus struct {
	Current int      // the highest version applied; 0 for an empty schema
	Known   int      // the highest version this hub carries
	Pending []string // the migrations not yet applied, as NNN_name
}

// ensureTable creates the bookkeeping table; it is the only statement outside a migration.
const ensureTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer     PRIMARY KEY,
	name       text        NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`

// Status reports the schema's version and what is pending.
func (s *Store) Status(ctx context.Context) (SchemaStatus, error) {
	ms, err := migrations()
	if err != nil {
		return SchemaStatus{}, err
	}
	st := SchemaStatus{Known: len(ms), Pending: []string{}}
	err = s.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&st.Current)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table: nothing applied yet
		err = nil
	}
	if err != nil {
		return SchemaStatus{}, fmt.Errorf("read schema version: %w", err)
	}
	for _, m := range ms {
		if m.version > st.Current {
			st.Pending = append(st.Pending, fmt.Sprintf("%03d_%s", m.version, m.name))
		}
	}
	return st, nil
}

// Migrate applies the pending migrations in order, with their bookkeeping rows, in one
// transaction (all or none), and returns what it applied. Hubs starting together take turns: a
// transaction-scoped advisory lock, per schema, serialises them, and each sees what the one
// before applied. A schema newer than this hub knows is left alone and refused.
func (s *Store) Migrate(ctx context.Context) ([]string, error) {
	return s.migrateTo(ctx, 0)
}

// migrateTo is Migrate up to version target (0: the newest); tests use it to build an older
// schema to upgrade.
func (s *Store) migrateTo(ctx context.Context, target int) ([]string, error) {
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	if target > 0 && target < len(ms) {
		ms = ms[:target]
	}
	var applied []string
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('centralhub.migrate.' || current_schema()))`); err != nil {
			return fmt.Errorf("lock for migration: %w", err)
		}
		if _, err := tx.Exec(ctx, ensureTable); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var current int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if current > len(ms) {
			return fmt.Errorf("database schema version %d is newer than this hub knows (%d): upgrade the hub", current, len(ms))
		}
		for _, m := range ms[current:] {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %03d_%s: %w", m.version, m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
				return fmt.Errorf("record migration %03d_%s: %w", m.version, m.name, err)
			}
			applied = append(applied, fmt.Sprintf("%03d_%s", m.version, m.name))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return applied, nil
}
