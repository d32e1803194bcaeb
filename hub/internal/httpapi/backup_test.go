package httpapi_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/bolt"
	"github.com/centralhub/centralhub/hub/internal/httpapi"
	"github.com/centralhub/centralhub/pkg/auth"
	"github.com/centralhub/centralhub/pkg/status"
)

// flakyBackup is the env's bolt store as the backup route sees it, its audit writes failing
// on demand.
type flakyBackup struct {
	*bolt.Store
	failWrites atomic.Bool
}

func (b *flakyBackup) WriteAlerts(ctx context.Context, w hub.AlertWrites) error {
	if b.failWrites.Load() {
		return errDiskOnFire
	}
	return b.Store.WriteAlerts(ctx, w)
}

func TestBackup(t *testing.T) {
	var fb *flakyBackup
	e := newEnvWith(t, func(c *httpapi.Config) {
		fb = &flakyBackup{Store: c.History.(*bolt.Store)}
		c.Backup = fb
	})
	if r := e.do(http.MethodPost, "/api/v1/agent/reports", e.token(auth.Agent, "default", "orders"),
		reportJSON(t, "default", "orders", "orders-1", status.Passing)); r.code != http.StatusOK {
		t.Fatalf("report: %d %s", r.code, r.body)
	}

	for _, c := range []struct {
		name, token string
		want        int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"viewer", e.token(auth.Viewer, "default", ""), http.StatusForbidden},
		{"operator", e.token(auth.Operator, "default", ""), http.StatusForbidden},
		{"admin of one tenant", e.token(auth.Admin, "default", ""), http.StatusForbidden},
		{"metrics", e.token(auth.Metrics, "*", ""), http.StatusForbidden},
	} {
		if r := e.do(http.MethodGet, "/api/v1/admin/backup", c.token, nil); r.code != c.want || !strings.Contains(r.body, `"error"`) {
			t.Errorf("%s: %d %s, want %d with a JSON reason", c.name, r.code, r.body, c.want)
		}
	}

	admin := e.token(auth.Admin, "*", "")
	fb.failWrites.Store(true)
	if r := e.do(http.MethodGet, "/api/v1/admin/backup", admin, nil); r.code != http.StatusServiceUnavailable || strings.Contains(r.body, "disk on fire") {
		t.Errorf("backup with the audit log failing: %d %s, want 503 without the store's error", r.code, r.body)
	}
	fb.failWrites.Store(false)

	r := e.do(http.MethodGet, "/api/v1/admin/backup", admin, nil)
	if r.code != http.StatusOK || r.header.Get("Content-Type") != "application/octet-stream" {
		t.Fatalf("backup: %d %s %q", r.code, r.header.Get("Content-Type"), r.body[:min(len(r.body), 200)])
	}
	if n, _ := strconv.Atoi(r.header.Get("Content-Length")); n != len(r.body) || n == 0 {
		t.Errorf("Content-Length %q for a body of %d bytes", r.header.Get("Content-Length"), len(r.body))
	}
	dir := t.TempDir()
	path := filepath.Join(dir, bolt.FileName)
	if err := os.WriteFile(path, []byte(r.body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := bolt.VerifyFile(path); err != nil {
		t.Fatalf("the copy does not verify: %v", err)
	}
	restored, err := bolt.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer restored.Close()
	insts, err := restored.LoadInstances(context.Background())
	if err != nil || len(insts) != 1 || insts[0].Key.Service != "orders" || insts[0].Key.Instance != "orders-1" {
		t.Fatalf("restored instances: %+v, %v; want orders/orders-1", insts, err)
	}
	audit, err := restored.ListAudit(context.Background(), hub.AuditQuery{})
	if err != nil || len(audit) != 1 || audit[0].Action != httpapi.AuditStoreBackup || audit[0].Actor != "t" {
		t.Errorf("the copy's audit log: %+v, %v; want the backup itself, by t", audit, err)
	}

	if err := os.WriteFile(path, []byte(r.body[:len(r.body)/2]), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := bolt.VerifyFile(path); err == nil {
		t.Error("half a backup verified")
	}
}

func TestBackupOnPostgreSQL(t *testing.T) {
	e := newEnv(t, false) // no Backup: the PostgreSQL store's case
	r := e.do(http.MethodGet, "/api/v1/admin/backup", e.token(auth.Admin, "*", ""), nil)
	if r.code != http.StatusConflict || !strings.Contains(r.body, "pg_dump") {
		t.Errorf("backup without an embedded store: %d %s, want 409 naming pg_dump", r.code, r.body)
	}
}
