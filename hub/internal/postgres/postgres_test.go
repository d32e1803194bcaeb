package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/pgtest"
	"github.com/centralhub/centralhub/hub/internal/postgres"
	"github.com/centralhub/centralhub/hub/internal/storetest"
)

func open(t *testing.T, url string, opts postgres.Options) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) hub.Store {
		return open(t, pgtest.Schema(t), postgres.Options{Migrate: true})
	})
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	url := pgtest.Schema(t)

	// An empty schema: a hub that may not migrate refuses it, naming the fix.
	if _, err := postgres.Open(ctx, url, postgres.Options{}); err == nil || !strings.Contains(err.Error(), "hub migrate up") {
		t.Fatalf("open of an empty schema without migrating: %v", err)
	}
	s, err := postgres.Connect(ctx, url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.Status(ctx)
	if err != nil || st.Current != 0 || st.Known < 1 || len(st.Pending) != st.Known || st.Pending[0] != "001_init" {
		t.Fatalf("status of an empty schema: %+v, %v", st, err)
	}
	applied, err := s.Migrate(ctx)
	if err != nil || len(applied) != st.Known {
		t.Fatalf("migrate up from empty: %v, %v", applied, err)
	}
	// Again: nothing to do, nothing changes.
	if again, err := s.Migrate(ctx); err != nil || len(again) != 0 {
		t.Fatalf("second migrate: %v, %v", again, err)
	}
	if st, err = s.Status(ctx); err != nil || st.Current != st.Known || len(st.Pending) != 0 {
		t.Fatalf("status after migrating: %+v, %v", st, err)
	}
	// Several hubs migrating at once take turns.
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			_, err := postgres.Open(ctx, url, postgres.Options{Migrate: true})
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent open with migrate: %v", err)
		}
	}

	// A schema newer than this hub knows is refused, by Open and by Migrate.
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES (999, 'from_the_future')`); err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.Open(ctx, url, postgres.Options{Migrate: true}); err == nil || !strings.Contains(err.Error(), "newer than this hub knows") {
		t.Fatalf("open of a newer schema: %v", err)
	}
	if _, err := postgres.Open(ctx, url, postgres.Options{}); err == nil || !strings.Contains(err.Error(), "newer than this hub knows") {
		t.Fatalf("open of a newer schema without migrating: %v", err)
	}
}

func TestConnectErrorsHideThePassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := postgres.Open(ctx, "postgres://hub:Sup3rS3cretPw@127.0.0.1:1/centralhub?sslmode=disable&connect_timeout=2", postgres.Options{})
	if err == nil {
		t.Fatal("connected to port 1")
	}
	if strings.Contains(err.Error(), "Sup3rS3cretPw") || !strings.Contains(err.Error(), "127.0.0.1:1/centralhub") {
		t.Fatalf("error %q: want the host and database, never the password", err)
	}
}

func TestReopenKeepsDesiredConfigs(t *testing.T) {
	url := pgtest.Schema(t)
	s, err := postgres.Open(context.Background(), url, postgres.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	storetest.ConfigSurvivesReopen(t, s, func() hub.Store { return open(t, url, postgres.Options{}) })
}
