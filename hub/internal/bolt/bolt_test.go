package bolt_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/bolt"
	"github.com/centralhub/centralhub/hub/internal/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) hub.Store {
		s, err := bolt.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	s, err := bolt.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	k := hub.InstanceKey{Tenant: "default", Service: "orders", Instance: "o1"}
	if err := s.WriteInstances(context.Background(), hub.Writes{Puts: []hub.Instance{{Key: k, Seq: 3}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = bolt.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.LoadInstances(context.Background())
	if err != nil || len(got) != 1 || got[0].Key != k || got[0].Seq != 3 {
		t.Fatalf("after reopen: %+v %v", got, err)
	}
}

func TestSecondOpenFailsFast(t *testing.T) {
	dir := t.TempDir()
	s, err := bolt.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := bolt.Open(dir); err == nil || !strings.Contains(err.Error(), "another process holds it") {
		t.Fatalf("second open: %v", err)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := bolt.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	db, err := bbolt.Open(dir+"/"+bolt.FileName, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error { return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte("99")) }); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	if _, err := bolt.Open(dir); err == nil || !strings.Contains(err.Error(), "newer than this hub knows") {
		t.Fatalf("open of a newer schema: %v", err)
	}
}

func TestReopenKeepsAlerts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := bolt.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	a := hub.Alert{ID: "a1", Tenant: "default", Component: "pg", State: hub.AlertFiring, StartedAt: at,
		FiredAt: &at, Book: hub.AlertBook{NotifiedAt: &at, Notified: true, Outbox: []string{"firing"}}}
	sil := hub.Silence{ID: "s1", Tenant: "default", StartsAt: at, EndsAt: at.Add(time.Hour), CreatedAt: at}
	audit := []hub.AuditEntry{{At: at, Actor: "alice", Tenant: "default", Action: "acknowledge", Target: "pg"}}
	if err := s.WriteAlerts(ctx, hub.AlertWrites{Alerts: []hub.Alert{a}, Silences: []hub.Silence{sil}, Audit: audit}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = bolt.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	alerts, silences, err := s.LoadAlerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || !reflect.DeepEqual(alerts[0], a) {
		t.Fatalf("alerts after reopen: %+v", alerts)
	}
	if len(silences) != 1 || !reflect.DeepEqual(silences[0], sil) {
		t.Fatalf("silences after reopen: %+v", silences)
	}
	// the audit sequence survives too: an entry written after reopening lists first
	if err := s.WriteAlerts(ctx, hub.AlertWrites{Audit: []hub.AuditEntry{{At: at, Actor: "bob", Tenant: "default"}}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListAudit(ctx, hub.AuditQuery{})
	if err != nil || len(got) != 2 || got[0].Actor != "bob" || got[1].Actor != "alice" || got[0].Seq <= got[1].Seq {
		t.Fatalf("audit after reopen: %+v %v", got, err)
	}
}

// TestAlertStoredWithBookOnce reads the stored JSON itself: the alert's fields sit at the top
// level, and its Book, which hub.Alert leaves out of its JSON, appears once, under "book".
func TestAlertStoredWithBookOnce(t *testing.T) {
	dir := t.TempDir()
	s, err := bolt.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	a := hub.Alert{ID: "a1", Tenant: "default", State: hub.AlertFiring, StartedAt: at,
		Book: hub.AlertBook{ClearedAt: &at, Notified: true, Outbox: []string{"firing"}}}
	if err := s.WriteAlerts(context.Background(), hub.AlertWrites{Alerts: []hub.Alert{a}}); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	db, err := bbolt.Open(dir+"/"+bolt.FileName, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var raw []byte
	if err := db.View(func(tx *bbolt.Tx) error {
		raw = append(raw, tx.Bucket([]byte("alerts")).Get([]byte("a1"))...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(strings.ToLower(string(raw)), `"book"`); n != 1 {
		t.Fatalf("book appears %d times in %s", n, raw)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	if string(fields["id"]) != `"a1"` || string(fields["state"]) != `"firing"` {
		t.Fatalf("alert fields not at the top level: %s", raw)
	}
	var book hub.AlertBook
	if err := json.Unmarshal(fields["book"], &book); err != nil || !reflect.DeepEqual(book, a.Book) {
		t.Fatalf("stored book %s decodes to %+v (%v), want %+v", fields["book"], book, err, a.Book)
	}
}

// TestOldFileGainsAlertBuckets opens a file written before the alert and config buckets
// existed: it keeps its schema version and gains them.
func TestOldFileGainsAlertBuckets(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := bolt.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	k := hub.InstanceKey{Tenant: "default", Service: "orders", Instance: "o1"}
	if err := s.WriteInstances(ctx, hub.Writes{Puts: []hub.Instance{{Key: k, Seq: 3}}}); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	db, err := bbolt.Open(dir+"/"+bolt.FileName, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error {
		for _, b := range []string{"alerts", "silences", "audit", "configs"} {
			if err := tx.DeleteBucket([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()

	s, err = bolt.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ins, err := s.LoadInstances(ctx); err != nil || len(ins) != 1 || ins[0].Key != k {
		t.Fatalf("instances after upgrade: %+v %v", ins, err)
	}
	if err := s.WriteAlerts(ctx, hub.AlertWrites{Alerts: []hub.Alert{{ID: "a1"}}, Audit: []hub.AuditEntry{{Actor: "alice"}}}); err != nil {
		t.Fatal(err)
	}
	alerts, _, err := s.LoadAlerts(ctx)
	if err != nil || len(alerts) != 1 {
		t.Fatalf("alerts after upgrade: %+v %v", alerts, err)
	}
	if got, err := s.ListAudit(ctx, hub.AuditQuery{}); err != nil || len(got) != 1 {
		t.Fatalf("audit after upgrade: %+v %v", got, err)
	}
	c := hub.DesiredConfig{Tenant: "default", Service: "orders", Config: json.RawMessage(`{}`)}
	if got, err := s.PutDesiredConfig(ctx, hub.ConfigWrite{Config: c}); err != nil || got.Version != 1 {
		t.Fatalf("desired config after upgrade: %+v %v", got, err)
	}
}

func TestReopenKeepsDesiredConfigs(t *testing.T) {
	dir := t.TempDir()
	s, err := bolt.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	storetest.ConfigSurvivesReopen(t, s, func() hub.Store {
		s, err := bolt.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
