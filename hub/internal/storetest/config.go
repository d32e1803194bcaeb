package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/centralhub/centralhub/hub"
)

// desired is a desired config of tenant's service as the API writes it, before the store
// assigns its version.
func desired(tenant, service, doc string) hub.DesiredConfig {
	return hub.DesiredConfig{Tenant: tenant, Service: service, Config: json.RawMessage(doc),
		Checksum: "sha256:" + fmt.Sprintf("%064x", len(doc)), UpdatedBy: "alice", UpdatedAt: instant(time.Minute)}
}

func put(t *testing.T, s hub.ConfigStore, c hub.DesiredConfig, ifVersion *int64) (hub.DesiredConfig, error) {
	t.Helper()
	return s.PutDesiredConfig(context.Background(), hub.ConfigWrite{Config: c, IfVersion: ifVersion, Role: "admin"})
}

func mustPut(t *testing.T, s hub.ConfigStore, c hub.DesiredConfig, ifVersion *int64) hub.DesiredConfig {
	t.Helper()
	got, err := put(t, s, c, ifVersion)
	if err != nil {
		t.Fatalf("put %s/%s: %v", c.Tenant, c.Service, err)
	}
	return got
}

// getConfig returns the stored config with its time in UTC, or the store's error.
func getConfig(t *testing.T, s hub.ConfigStore, tenant, service string) (hub.DesiredConfig, error) {
	t.Helper()
	c, err := s.GetDesiredConfig(context.Background(), tenant, service)
	c.UpdatedAt = c.UpdatedAt.UTC()
	return c, err
}

func mustGet(t *testing.T, s hub.ConfigStore, tenant, service string) hub.DesiredConfig {
	t.Helper()
	c, err := getConfig(t, s, tenant, service)
	if err != nil {
		t.Fatalf("get %s/%s: %v", tenant, service, err)
	}
	return c
}

// conflict checks that err is a version conflict naming current.
func conflict(t *testing.T, err error, current int64) {
	t.Helper()
	var vc *hub.VersionConflictError
	if !errors.As(err, &vc) || !errors.Is(err, hub.ErrVersionConflict) || vc.Current != current {
		t.Fatalf("want a version conflict naming version %d, got %v", current, err)
	}
}

// runConfigs is the part of the suite about hub.ConfigStore.
func runConfigs(t *testing.T, open Opener) {
	ctx := context.Background()
	t.Run("no desired config is ErrNoDesiredConfig", func(t *testing.T) {
		s := open(t)
		if _, err := s.GetDesiredConfig(ctx, "default", "orders"); !errors.Is(err, hub.ErrNoDesiredConfig) {
			t.Fatalf("get of nothing: %v", err)
		}
	})
	t.Run("create keeps every field, the config byte for byte", func(t *testing.T) {
		s := open(t)
		want := desired("default", "orders", `{"db":{"pool":1.50,"url":"postgres://x?a=1&b=<2>"},"n":1e3,"u":"\u00e9\n","z":[true,null,"a"]}`)
		got := mustPut(t, s, want, nil)
		want.Version = 1
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("put returned\n %+v\nwant %+v", got, want)
		}
		if stored := mustGet(t, s, "default", "orders"); !reflect.DeepEqual(stored, want) {
			t.Fatalf("get returned\n %+v (config %s)\nwant %+v (config %s)", stored, stored.Config, want, want.Config)
		}
	})
	t.Run("versions rise by one per write, and the store ignores the version it is given", func(t *testing.T) {
		s := open(t)
		for i := int64(1); i <= 3; i++ {
			c := desired("default", "orders", fmt.Sprintf(`{"v":%d}`, i))
			c.Version = 99
			var ifVersion *int64
			if i == 3 {
				ifVersion = ptr(int64(2)) // conditional and unconditional writes count alike
			}
			if got := mustPut(t, s, c, ifVersion); got.Version != i {
				t.Fatalf("write %d stored version %d", i, got.Version)
			}
		}
		if got := mustGet(t, s, "default", "orders"); got.Version != 3 || string(got.Config) != `{"v":3}` {
			t.Fatalf("after three writes: %+v", got)
		}
	})
	t.Run("a version conflict writes nothing and names the stored version", func(t *testing.T) {
		s := open(t)
		cases := []struct {
			name      string
			stored    int // writes made first
			ifVersion int64
			current   int64
		}{
			{"older version", 3, 2, 3},
			{"newer version", 3, 4, 3},
			{"create-only over a stored one", 1, 0, 1},
			{"a version where none is stored", 0, 1, 0},
		}
		for i, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				service := fmt.Sprintf("svc%d", i)
				for range tc.stored {
					mustPut(t, s, desired("default", service, `{"a":"1"}`), nil)
				}
				before, beforeErr := getConfig(t, s, "default", service)
				audit := len(listAudit(t, s, hub.AuditQuery{}))
				_, err := put(t, s, desired("default", service, `{"a":"2"}`), ptr(tc.ifVersion))
				conflict(t, err, tc.current)
				after, afterErr := getConfig(t, s, "default", service)
				if !reflect.DeepEqual(after, before) || !errors.Is(afterErr, beforeErr) {
					t.Fatalf("a refused write changed the store: %+v %v, was %+v %v", after, afterErr, before, beforeErr)
				}
				if n := len(listAudit(t, s, hub.AuditQuery{})); n != audit {
					t.Fatalf("a refused write was audited: %d entries, were %d", n, audit)
				}
			})
		}
		t.Run("create-only where none is stored", func(t *testing.T) {
			if got := mustPut(t, s, desired("default", "fresh", `{}`), ptr(int64(0))); got.Version != 1 {
				t.Fatalf("create-only stored version %d", got.Version)
			}
		})
	})
	t.Run("tenants and similar names keep their configs apart", func(t *testing.T) {
		s := open(t)
		keys := [][2]string{{"alpha", "orders"}, {"alpha", "orders2"}, {"beta", "orders"}, {"alpha", "order"}}
		for i, k := range keys {
			for range i + 1 {
				mustPut(t, s, desired(k[0], k[1], fmt.Sprintf(`{"who":"%s/%s"}`, k[0], k[1])), nil)
			}
		}
		for i, k := range keys {
			got := mustGet(t, s, k[0], k[1])
			if got.Tenant != k[0] || got.Service != k[1] || got.Version != int64(i+1) ||
				string(got.Config) != fmt.Sprintf(`{"who":"%s/%s"}`, k[0], k[1]) {
				t.Fatalf("%s/%s: %+v (config %s)", k[0], k[1], got, got.Config)
			}
		}
		if _, err := s.GetDesiredConfig(ctx, "gamma", "orders"); !errors.Is(err, hub.ErrNoDesiredConfig) {
			t.Fatalf("another tenant's config leaked: %v", err)
		}
		// a condition names its own key's version only
		_, err := put(t, s, desired("beta", "orders", `{}`), ptr(int64(4)))
		conflict(t, err, 3)
	})
	t.Run("every write is audited with who, when, service and version, never values", func(t *testing.T) {
		s := open(t)
		c := desired("beta", "orders", `{"password":"hunter2"}`)
		mustPut(t, s, c, nil)
		c.UpdatedBy, c.UpdatedAt = "bob", instant(time.Hour)
		mustPut(t, s, c, ptr(int64(1)))
		got := listAudit(t, s, hub.AuditQuery{Tenant: "beta"})
		if len(got) != 2 {
			t.Fatalf("audit: %+v", got)
		}
		want := hub.AuditEntry{Seq: got[0].Seq, At: instant(time.Hour), Actor: "bob", Role: "admin", Tenant: "beta",
			Action: hub.AuditConfigPut, Target: "orders", Detail: "version 2"}
		if !reflect.DeepEqual(got[0], want) || got[1].Actor != "alice" || got[1].Detail != "version 1" {
			t.Fatalf("audit:\n got %+v\nwant %+v first", got, want)
		}
		for _, e := range got {
			if b, _ := json.Marshal(e); strings.Contains(string(b), "hunter2") {
				t.Fatalf("audit entry holds a config value: %s", b)
			}
		}
	})
	t.Run("concurrent conditional writers: one wins each version", func(t *testing.T) {
		s := open(t)
		mustPut(t, s, desired("default", "orders", `{"w":"init"}`), nil)
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			wins = map[int64]int{}
		)
		for w := range 4 {
			wg.Go(func() {
				for range 5 {
					cur, err := s.GetDesiredConfig(ctx, "default", "orders")
					if err != nil {
						t.Error(err)
						return
					}
					got, err := put(t, s, desired("default", "orders", fmt.Sprintf(`{"w":"%d"}`, w)), ptr(cur.Version))
					if errors.Is(err, hub.ErrVersionConflict) {
						continue
					}
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					wins[got.Version]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		final := mustGet(t, s, "default", "orders")
		if int64(len(wins)) != final.Version-1 {
			t.Fatalf("%d winning writes, final version %d", len(wins), final.Version)
		}
		for v, n := range wins {
			if n != 1 {
				t.Fatalf("version %d won %d times", v, n)
			}
		}
	})
	t.Run("cancelled context writes no config", func(t *testing.T) {
		s := open(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.PutDesiredConfig(cctx, hub.ConfigWrite{Config: desired("default", "orders", `{}`)}); err == nil {
			t.Fatal("write with a cancelled context succeeded")
		}
		if _, err := s.GetDesiredConfig(ctx, "default", "orders"); !errors.Is(err, hub.ErrNoDesiredConfig) {
			t.Fatalf("cancelled write stored a config: %v", err)
		}
		if n := len(listAudit(t, s, hub.AuditQuery{})); n != 0 {
			t.Fatalf("cancelled write was audited: %d entries", n)
		}
	})
}

// ConfigSurvivesReopen writes desired configs to s, closes it, and checks that the store
// reopen returns holds them and goes on counting versions from where they were.
func ConfigSurvivesReopen(t *testing.T, s hub.Store, reopen func() hub.Store) {
	t.Helper()
	first := mustPut(t, s, desired("default", "orders", `{"a":{"b":"1"}}`), nil)
	second := mustPut(t, s, desired("default", "orders", `{"a":{"b":"2"}}`), ptr(first.Version))
	other := mustPut(t, s, desired("beta", "orders", `{"x":"y"}`), nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = reopen()
	for _, want := range []hub.DesiredConfig{second, other} {
		got := mustGet(t, s, want.Tenant, want.Service)
		want.UpdatedAt = want.UpdatedAt.UTC()
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("after reopen:\n got %+v\nwant %+v", got, want)
		}
	}
	if got := mustPut(t, s, desired("default", "orders", `{}`), ptr(second.Version)); got.Version != 3 {
		t.Fatalf("write after reopen stored version %d, want 3", got.Version)
	}
}
