// Package pgtest gives tests a PostgreSQL schema of their own on the server
// CENTRALHUB_TEST_DATABASE_URL names, dropped when the test ends. Production code never
// imports it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL is the variable that names the test server.
const EnvURL = "CENTRALHUB_TEST_DATABASE_URL"

// ServerURL returns the test server's URL; without one the test skips, or fails when CI=true.
func ServerURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvURL)
	if u == "" {
		msg := EnvURL + " is not set: these tests need a PostgreSQL server (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return u
}

func name(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

func connect(t testing.TB, u string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatalf("connect to the test server: %v", err)
	}
	return c
}

// Schema creates a schema of its own on the test server and returns a URL whose connections
// use it (search_path); the schema is dropped when the test ends.
func Schema(t testing.TB) string {
	t.Helper()
	base := ServerURL(t)
	schema := name("t")
	c := connect(t, base)
	defer c.Close(context.Background())
	if _, err := c.Exec(context.Background(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		c := connect(t, base)
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return withParam(t, base, "search_path", schema)
}

func withParam(t testing.TB, base, key, value string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvURL, err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

// Database creates a database of its own on the test server and returns its URL; it is dropped
// (its sessions ended) when the test ends. Tests of what a database shares across its schemas —
// advisory locks, LISTEN/NOTIFY channels — use it.
func Database(t testing.TB) string {
	t.Helper()
	base := ServerURL(t)
	db := name("centralhub_test")
	c := connect(t, base)
	defer c.Close(context.Background())
	if _, err := c.Exec(context.Background(), "CREATE DATABASE "+db); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		c := connect(t, base)
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP DATABASE "+db+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", db, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvURL, err)
	}
	u.Path = "/" + db
	return u.String()
}
