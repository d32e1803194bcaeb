package gossip_test

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/centralhub/centralhub/pkg/gossip"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// memberlist's and serf's background timers end a moment after Shutdown returns.
		goleak.IgnoreTopFunction("time.Sleep"),
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).packetHandler"),
		goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"),
	)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func key(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, gossip.KeyLen)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func member(t *testing.T, name string, keys [][]byte, join ...string) *gossip.Gossip {
	t.Helper()
	cfg := gossip.DefaultConfig()
	cfg.NodeName, cfg.Bind, cfg.Join, cfg.Keys = name, freeAddr(t), join, keys
	cfg.Profile, cfg.JoinRetry = gossip.ProfileLocal, 100*time.Millisecond
	cfg.Tags = map[string]string{gossip.TagRole: gossip.RoleAgent, gossip.TagService: name}
	g, err := gossip.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Shutdown() })
	go func() { // keep the events flowing for members whose events the test does not read
		for range g.Events() {
		}
	}()
	return g
}

func addrOf(g *gossip.Gossip) string {
	for _, m := range g.Members() {
		if m.Name == g.LocalName() {
			return m.Addr
		}
	}
	return ""
}

func eventually(t *testing.T, within time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %v", what, within, err)
}

func states(g *gossip.Gossip) map[string]string {
	out := map[string]string{}
	for _, m := range g.Members() {
		out[m.Name] = m.Status
	}
	return out
}

func TestJoinLeaveFail(t *testing.T) {
	k := key(t)
	a := member(t, "a", [][]byte{k})
	b := member(t, "b", [][]byte{k}, addrOf(a))
	c := member(t, "c", [][]byte{k}, addrOf(a))
	eventually(t, 10*time.Second, "three alive members", func() error {
		if s := states(a); s["b"] != "alive" || s["c"] != "alive" {
			return fmt.Errorf("%v", s)
		}
		return nil
	})
	for _, m := range a.Members() {
		if m.Name == "b" && m.Tags[gossip.TagService] != "b" {
			t.Fatalf("tags not carried: %+v", m)
		}
	}
	// c dies without leaving while b is still there to confirm the suspicion: failed.
	if err := c.Shutdown(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "c failed", func() error {
		if s := states(a); s["c"] != "failed" {
			return fmt.Errorf("%v", s)
		}
		return nil
	})
	// b leaves gracefully: left, not failed.
	if err := b.Leave(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	// Normally at once; if the leave message is lost, after the failure detector's longest
	// suspicion (about 18 s in the local profile) b goes from leaving to left all the same.
	eventually(t, 30*time.Second, "b left", func() error {
		if s := states(a); s["b"] != "left" {
			return fmt.Errorf("%v", s)
		}
		return nil
	})
}

// watcherAndX starts a member "watcher" whose events the test reads itself, and a member "x"
// that joins it.
func watcherAndX(t *testing.T) (w, x *gossip.Gossip) {
	t.Helper()
	k := key(t)
	cfg := gossip.DefaultConfig()
	cfg.NodeName, cfg.Bind, cfg.Keys, cfg.Profile = "watcher", freeAddr(t), [][]byte{k}, gossip.ProfileLocal
	w, err := gossip.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Shutdown() })
	return w, member(t, "x", [][]byte{k}, addrOf(w))
}

func TestEventsCarryTypes(t *testing.T) {
	w, x := watcherAndX(t)
	seen := map[gossip.EventType]bool{}
	deadline := time.After(20 * time.Second)
	joined := false
	for !seen[gossip.MemberFailed] {
		select {
		case ev := <-w.Events():
			if ev.Member.Name != "x" {
				continue
			}
			seen[ev.Type] = true
			if ev.Type == gossip.MemberJoin && !joined {
				joined = true
				_ = x.Shutdown()
			}
		case <-deadline:
			t.Fatalf("events seen for x: %v", seen)
		}
	}
	if !seen[gossip.MemberJoin] {
		t.Fatalf("no join event before failed: %v", seen)
	}
}

func TestWrongKeyCannotJoin(t *testing.T) {
	ka := key(t)
	a := member(t, "a", [][]byte{ka})
	b := member(t, "b", [][]byte{key(t)}, addrOf(a))
	// The control: a member with a's key joins the same way, and b's attempts ran meanwhile.
	c := member(t, "c", [][]byte{ka}, addrOf(a))
	eventually(t, 10*time.Second, "c joined", func() error {
		if !c.Joined() || states(a)["c"] != "alive" {
			return fmt.Errorf("c joined %v, a sees %v", c.Joined(), states(a))
		}
		return nil
	})
	// b keeps retrying its join (every 100 ms); for another second neither side may list it.
	for range 20 {
		if _, ok := states(a)["b"]; ok {
			t.Fatal("a member with another key joined")
		}
		if _, ok := states(b)["a"]; ok || b.Joined() {
			t.Fatal("b joined a cluster whose key it does not have")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestKeyRotationPersists(t *testing.T) {
	dir := t.TempDir()
	k1, k2 := key(t), key(t)
	cfg := gossip.DefaultConfig()
	cfg.NodeName, cfg.Bind, cfg.Keys, cfg.Profile = "a", freeAddr(t), [][]byte{k1}, gossip.ProfileLocal
	cfg.KeyringFile = filepath.Join(dir, "keyring")
	a, err := gossip.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for range a.Events() {
		}
	}()
	member(t, "b", [][]byte{k1}, addrOf(a))
	eventually(t, 10*time.Second, "b alive", func() error {
		if states(a)["b"] != "alive" {
			return fmt.Errorf("%v", states(a))
		}
		return nil
	})
	k2s := base64.StdEncoding.EncodeToString(k2)
	if rep, err := a.InstallKey(k2s); err != nil || rep.Members != 2 || rep.Responses != 2 {
		t.Fatalf("install: %+v %v", rep, err)
	}
	if _, err := a.UseKey(k2s); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RemoveKey(k2s); err == nil {
		t.Fatal("removing the key in use must fail")
	}
	if _, err := a.InstallKey("not-a-key"); !errors.Is(err, gossip.ErrBadKey) {
		t.Fatalf("a malformed key: %v, want ErrBadKey", err)
	}
	if _, err := a.RemoveKey(base64.StdEncoding.EncodeToString(k1)); err != nil {
		t.Fatal(err)
	}
	keys, err := a.ListKeys()
	if err != nil || len(keys.Keys) != 1 || keys.Keys[0].Key != k2s || keys.Keys[0].Members != 2 || keys.Keys[0].Primary != 2 {
		t.Fatalf("keys after rotation: %+v %v", keys, err)
	}
	if err := a.Shutdown(); err != nil {
		t.Fatal(err)
	}
	saved, err := os.ReadFile(cfg.KeyringFile)
	if err != nil || !strings.Contains(string(saved), k2s) || strings.Contains(string(saved), base64.StdEncoding.EncodeToString(k1)) {
		t.Fatalf("keyring file after rotation: %s %v", saved, err)
	}
	// a restart with the old key configured uses the persisted keyring
	cfg.Bind = freeAddr(t)
	a2, err := gossip.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Shutdown()
	go func() {
		for range a2.Events() {
		}
	}()
	keys, err = a2.ListKeys()
	if err != nil || len(keys.Keys) != 1 || keys.Keys[0].Key != k2s {
		t.Fatalf("keys after restart: %+v %v", keys, err)
	}
}

func TestReadKeyFile(t *testing.T) {
	k := key(t)
	path := filepath.Join(t.TempDir(), "gossip.key")
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(k)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := gossip.ReadKeyFile(path)
	if err != nil || string(got) != string(k) {
		t.Fatalf("ReadKeyFile: %v", err)
	}
	if _, err := gossip.ReadKeyFile(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "gossip key file") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestParseKey(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{base64.StdEncoding.EncodeToString(make([]byte, 32)), ""},
		{"not base64!", "not base64"},
		{base64.StdEncoding.EncodeToString(make([]byte, 16)), "16 bytes, want 32"},
	} {
		_, err := gossip.ParseKey(tc.in)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Fatalf("ParseKey(%q) = %v, want %q", tc.in, err, tc.want)
		}
	}
}

// A member that announced its leave (TagLeaving) and then vanishes is reported as leaving, not
// failed: what Leave does when serf's own leave message arrives after memberlist's.
func TestAnnouncedLeaveIsNoFailure(t *testing.T) {
	w, x := watcherAndX(t)
	eventually(t, 10*time.Second, "x alive", func() error {
		if states(w)["x"] != "alive" {
			return fmt.Errorf("%v", states(w))
		}
		return nil
	})
	if err := x.SetTags(map[string]string{gossip.TagRole: gossip.RoleAgent, gossip.TagLeaving: "true"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the leaving tag seen", func() error {
		for _, m := range w.Members() {
			if m.Name == "x" && m.Tags[gossip.TagLeaving] != "" {
				return nil
			}
		}
		return errors.New("not yet")
	})
	_ = x.Shutdown() // gone without serf's leave message: serf alone would call it a failure
	deadline := time.After(20 * time.Second)
	for {
		select {
		case ev := <-w.Events():
			if ev.Member.Name != "x" {
				continue
			}
			switch ev.Type {
			case gossip.MemberFailed:
				t.Fatal("a member that announced its leave was reported failed")
			case gossip.MemberLeave:
				return
			}
		case <-deadline:
			t.Fatal("no leave event")
		}
	}
}
