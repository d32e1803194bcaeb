package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/bolt"
	"github.com/centralhub/centralhub/hub/internal/postgres"
)

// validateDatabase checks the database settings, and reads database_url_file into
// DatabaseURL. No message quotes the URL: it may hold a password.
func (c *Config) validateDatabase() error {
	if c.DatabaseURLFile != "" {
		if c.DatabaseURL != "" {
			return errors.New("database_url_file: give database_url or database_url_file, not both")
		}
		b, err := os.ReadFile(c.DatabaseURLFile)
		if err != nil {
			return fmt.Errorf("database_url_file: %w", err)
		}
		c.DatabaseURL = strings.TrimSpace(string(b))
		c.DatabaseURLFile = ""
		if c.DatabaseURL == "" {
			return errors.New("database_url_file: the file is empty")
		}
	}
	if c.APIURL != "" {
		u, err := url.Parse(c.APIURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return fmt.Errorf("api_url: %q is not an http(s) URL of a host such as http://hub-1:7000", c.APIURL)
		}
	}
	if c.DatabaseURL == "" {
		return nil
	}
	if _, err := pgx.ParseConfig(c.DatabaseURL); err != nil {
		return errors.New("database_url: not a PostgreSQL URL such as postgres://user:password@host:5432/db (the value is not shown: it may hold a password)")
	}
	return nil
}

// openStore opens the store the configuration selects: PostgreSQL when a database URL is set,
// else the embedded file in the data directory. It says which, for the log.
func openStore(ctx context.Context, cfg *Config, hubID string, log *slog.Logger) (hub.Store, string, error) {
	if cfg.DatabaseURL == "" {
		s, err := bolt.Open(cfg.DataDir)
		return s, "embedded " + cfg.DataDir, err
	}
	s, err := postgres.Open(ctx, cfg.DatabaseURL, postgres.Options{Migrate: cfg.Migrate, HubID: hubID, Log: log})
	return s, postgres.Describe(cfg.DatabaseURL), err
}

// migrate runs `hub migrate up|status`.
func migrate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv env) error {
	if len(args) == 0 || (args[0] != "up" && args[0] != "status") {
		return errors.New("usage: hub migrate up|status [--database-url URL | --database-url-file F] [--config F]")
	}
	fs := flag.NewFlagSet("migrate "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "hub configuration file (YAML), for its database_url")
	dbURL := fs.String("database-url", "", "PostgreSQL URL (default: HUB_DATABASE_URL, then the configuration file)")
	urlFile := fs.String("database-url-file", "", "file holding the PostgreSQL URL")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg := DefaultConfig()
	if *configPath != "" {
		if err := cfg.LoadFile(*configPath); err != nil {
			return err
		}
	}
	if err := cfg.applyEnv(getenv); err != nil {
		return err
	}
	if *dbURL != "" || *urlFile != "" {
		cfg.DatabaseURL, cfg.DatabaseURLFile = *dbURL, *urlFile
	}
	if err := cfg.validateDatabase(); err != nil {
		return err
	}
	if cfg.DatabaseURL == "" {
		return errors.New("no database: give --database-url, --database-url-file or HUB_DATABASE_URL (the embedded store needs no migrations)")
	}
	s, err := postgres.Connect(ctx, cfg.DatabaseURL, postgres.Options{MaxConns: 2})
	if err != nil {
		return err
	}
	defer s.Close()
	where := postgres.Describe(cfg.DatabaseURL)
	if args[0] == "up" {
		applied, err := s.Migrate(ctx)
		if err != nil {
			return err
		}
		for _, m := range applied {
			fmt.Fprintf(stdout, "applied %s\n", m)
		}
	}
	st, err := s.Status(ctx)
	if err != nil {
		return err
	}
	switch {
	case st.Current > st.Known:
		fmt.Fprintf(stdout, "%s: schema version %d, newer than this hub knows (%d): upgrade the hub\n", where, st.Current, st.Known)
		return errors.New("schema newer than this hub")
	case len(st.Pending) > 0:
		fmt.Fprintf(stdout, "%s: schema version %d of %d; pending: %s\n", where, st.Current, st.Known, strings.Join(st.Pending, ", "))
	default:
		fmt.Fprintf(stdout, "%s: schema version %d, up to date\n", where, st.Current)
	}
	return nil
}
