package bolt_test

import (
	"context"
	"strings"
	"testing"

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
