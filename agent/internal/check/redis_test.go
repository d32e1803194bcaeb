package check

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/status"
)

// redisAddr is the Redis server of the tests: CENTRALHUB_TEST_REDIS_ADDR or the machine's
// 127.0.0.1:6379. The test skips when it does not answer, saying so, and fails under CI=true.
func redisAddr(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("CENTRALHUB_TEST_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no Redis at %s (%v), and CI must run the probe tests: .ci/run starts the machine's Redis", addr, err)
		}
		t.Skipf("no Redis at %s (%v): start one, or name one in CENTRALHUB_TEST_REDIS_ADDR, to test the redis probe", addr, err)
	}
	c.Close()
	return addr
}

// redisCommand runs one command on addr as the default user.
func redisCommand(t *testing.T, addr string, args ...string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	out, err := (&resp{w: conn, r: bufio.NewReader(conn)}).do(args...)
	if err != nil {
		t.Fatalf("redis %s: %v", strings.Join(args[:min(2, len(args))], " "), err)
	}
	return out
}

func probeRedis(t *testing.T, c config.RedisCheck) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return NewRedis(&c).Probe(ctx)
}

// TestRedis probes the real Redis: PING, the role, an ACL user authenticating with a password
// from a file (and refused with a wrong one, the password never in the output), a password
// variable that is not set, a port nobody listens on, and a server that is not Redis.
func TestRedis(t *testing.T) {
	addr := redisAddr(t)
	user := fmt.Sprintf("centralhub-probe-%d", time.Now().UnixNano())
	const secret = "s3cret-Probe-pass"
	redisCommand(t, addr, "ACL", "SETUSER", user, "on", ">"+secret, "+ping", "+info")
	t.Cleanup(func() { redisCommand(t, addr, "ACL", "DELUSER", user) })
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(good, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("not-the-password"), 0o600); err != nil {
		t.Fatal(err)
	}
	role := infoField(redisCommand(t, addr, "INFO", "replication"), "role")
	other := "replica"
	if role == "slave" {
		role, other = "replica", "master"
	}
	for _, tc := range []struct {
		name string
		cfg  config.RedisCheck
		want status.Check
		out  string
	}{
		{"ping", config.RedisCheck{Address: addr}, status.Passing, "PONG in "},
		{"role", config.RedisCheck{Address: addr, Role: role}, status.Passing, ", role " + role},
		{"other role", config.RedisCheck{Address: addr, Role: other}, status.Critical, "role is " + role + ", want " + other},
		{"acl user", config.RedisCheck{Address: addr, Username: user, PasswordFile: good, Role: role}, status.Passing, "PONG in "},
		{"wrong password", config.RedisCheck{Address: addr, Username: user, PasswordFile: bad}, status.Critical, "AUTH refused: WRONGPASS"},
		{"password variable unset", config.RedisCheck{Address: addr, PasswordEnv: "CENTRALHUB_TEST_NO_SUCH_VAR"}, status.Critical,
			"password_env: CENTRALHUB_TEST_NO_SUCH_VAR is not set"},
		{"nobody listening", config.RedisCheck{Address: closedAddr(t)}, status.Critical, "connection refused"},
		{"not redis", config.RedisCheck{Address: bannerServer(t, "SSH-2.0-OpenSSH_9.2\r\n")}, status.Critical, "PING: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := probeRedis(t, tc.cfg)
			if r.Status != tc.want || !strings.Contains(r.Output, tc.out) {
				t.Fatalf("%s %q, want %s with %q", r.Status, r.Output, tc.want, tc.out)
			}
			if strings.Contains(r.Output, secret) || strings.Contains(r.Output, "not-the-password") {
				t.Fatalf("a password in the output: %q", r.Output)
			}
		})
	}
}
