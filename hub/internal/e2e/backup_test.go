package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/centralhub/centralhub/hub/internal/pgtest"
	"github.com/centralhub/centralhub/pkg/auth"
)

// seedHumanState gives the hub what only its store remembers: an instance, a silence, and a
// desired config with a secret, as docs/operations.md says a backup keeps.
func seedHumanState(t *testing.T, h *hubProc) {
	t.Helper()
	report := fmt.Sprintf(`{"version":1,"tenant":"default","service":"orders","instance":"orders-1","boot":%d,"seq":1,"interval":"1h",
		"checks":[{"name":"web","kind":"http","status":"passing","output":"HTTP 200"}]}`, time.Now().UnixNano())
	if code, body := post(t, h.url+"/api/v1/agent/reports", issue(t, auth.Agent, "default", "orders"), report); code != http.StatusOK {
		t.Fatalf("report: %d %s", code, body)
	}
	now := time.Now().UTC()
	silence := fmt.Sprintf(`{"matchers": [{"name": "service", "value": "orders", "is_regex": false}], "starts_at": %q, "ends_at": %q, "comment": "before the backup"}`,
		now.Format(time.RFC3339), now.Add(24*time.Hour).Format(time.RFC3339))
	if code, body := post(t, h.url+"/api/v1/dashboard/silences", issue(t, auth.Operator, "default", ""), silence); code != http.StatusCreated {
		t.Fatalf("silence: %d %s", code, body)
	}
	if code, body := putConfig(t, h, issue(t, auth.Admin, "default", ""), "orders", "", `{"log_level": "info", "db": {"password": "backed-up-secret"}}`); code != http.StatusOK {
		t.Fatalf("desired config: %d %s", code, body)
	}
}

// checkHumanState asserts a restored hub has what seedHumanState gave the original.
func checkHumanState(t *testing.T, h *hubProc) {
	t.Helper()
	if got, checks := instanceStatus(t, h, "orders", "orders-1"); got != "passing" || !strings.Contains(checks, "web=passing") {
		t.Errorf("restored instance: %q (%s), want passing with web", got, checks)
	}
	var silences struct {
		Silences []struct{ Comment, State string } `json:"silences"`
	}
	if code, body := getJSON(t, h.url+"/api/v1/dashboard/silences", issue(t, auth.Viewer, "default", ""), &silences); code != 200 ||
		len(silences.Silences) != 1 || silences.Silences[0].Comment != "before the backup" || silences.Silences[0].State != "active" {
		t.Errorf("restored silences: %d %s", code, body)
	}
	var conf struct {
		Version int `json:"version"`
		Config  struct {
			DB struct{ Password string } `json:"db"`
		} `json:"config"`
	}
	// The service's own agent reads every value: the secret came back whole.
	if code, body := getJSON(t, h.url+"/api/v1/config/orders", issue(t, auth.Agent, "default", "orders"), &conf); code != 200 ||
		conf.Version != 1 || conf.Config.DB.Password != "backed-up-secret" {
		t.Errorf("restored desired config: %d %s", code, body)
	}
}

// TestBackupRestorePostgres follows docs/operations.md on PostgreSQL: pg_dump of a running
// hub's database, pg_restore into an empty one, and a hub started on it has everything.
func TestBackupRestorePostgres(t *testing.T) {
	for _, tool := range []string{"pg_dump", "pg_restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			lacks(t, tool+" (Debian postgresql-client) is not installed")
		}
	}
	dir := t.TempDir()
	src := pgtest.Database(t)
	h := startHub(t, dir+"/a", freePort(t), "--database-url", src)
	seedHumanState(t, h)

	dump := filepath.Join(dir, "centralhub.dump")
	if out, err := exec.Command("pg_dump", "--format=custom", "--file="+dump, src).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump of a running hub's database: %v\n%s", err, out)
	}
	if code, body := getJSON(t, h.url+"/api/v1/admin/backup", issue(t, auth.Admin, "*", ""), nil); code != http.StatusConflict || !strings.Contains(body, "pg_dump") {
		t.Errorf("the backup route on PostgreSQL: %d %s, want 409 naming pg_dump", code, body)
	}
	h.stop(t)

	dst := pgtest.Database(t)
	if out, err := exec.Command("pg_restore", "--no-owner", "--exit-on-error", "--dbname="+dst, dump).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore into an empty database: %v\n%s", err, out)
	}
	out, err := hubCmd([]string{"HUB_DATABASE_URL=" + dst}, "migrate", "status").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "up to date") {
		t.Fatalf("migrate status of the restored database: %v\n%s", err, out)
	}
	checkHumanState(t, startHub(t, dir+"/b", freePort(t), "--database-url", dst))
}

// TestBackupRestoreEmbedded follows docs/operations.md on the embedded store: `hub backup` of
// a running hub, refused to a viewer, and a hub started on the copy has everything.
func TestBackupRestoreEmbedded(t *testing.T) {
	dir := t.TempDir()
	h := startHub(t, dir+"/a", freePort(t))
	seedHumanState(t, h)
	out := filepath.Join(dir, "backup.db")

	viewer := hubCmd([]string{"HUB_TOKEN=" + issue(t, auth.Viewer, "default", "")}, "backup", "--url", h.url, "--out", out)
	if b, err := viewer.CombinedOutput(); err == nil || !strings.Contains(string(b), "403 Forbidden") {
		t.Fatalf("hub backup with a viewer token: %v\n%s", err, b)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("a refused backup left %s: %v", out, err)
	}
	admin := hubCmd([]string{"HUB_TOKEN=" + issue(t, auth.Admin, "*", "")}, "backup", "--url", h.url, "--out", out)
	b, err := admin.CombinedOutput()
	if err != nil || !strings.Contains(string(b), "(verified)") {
		t.Fatalf("hub backup: %v\n%s", err, b)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".backup.db.part-*")); len(left) > 0 {
		t.Errorf("temporary files left beside the backup: %v", left)
	}
	h.stop(t)

	restored := filepath.Join(dir, "b")
	if err := os.MkdirAll(restored, 0o700); err != nil {
		t.Fatal(err)
	}
	copyFile(t, out, filepath.Join(restored, "centralhub.db"))
	checkHumanState(t, startHub(t, restored, freePort(t)))
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
