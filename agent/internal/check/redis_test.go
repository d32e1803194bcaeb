package check

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/status"
)

// redisAddr is the Redis server of the tests: CENTRALHUB_TEST_REDIS_ADDR or the machine's
// 127.0.0.1:6379.
func redisAddr(t testing.TB) string {
	return serverAddr(t, "Redis", "CENTRALHUB_TEST_REDIS_ADDR", "127.0.0.1:6379")
}

// redisConn connects to addr, as the default user, for a command or two within 5 s; the
// caller closes its connection (w).
func redisConn(t testing.TB, addr string) *resp {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	return &resp{w: conn, r: bufio.NewReader(conn)}
}

// redisCommand runs one command on addr as the default user.
func redisCommand(t testing.TB, addr string, args ...string) string {
	t.Helper()
	c := redisConn(t, addr)
	defer c.w.Close()
	out, err := c.do(args...)
	if err != nil {
		t.Fatalf("redis %s: %v", strings.Join(args[:min(2, len(args))], " "), err)
	}
	return out
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
	good, bad := writeSecret(t, secret), writeSecret(t, "not-the-password")
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
		{"acl user", config.RedisCheck{Address: addr, Username: user, Secret: config.Secret{PasswordFile: good}, Role: role}, status.Passing, "PONG in "},
		{"wrong password", config.RedisCheck{Address: addr, Username: user, Secret: config.Secret{PasswordFile: bad}}, status.Critical, "AUTH refused: WRONGPASS"},
		{"password variable unset", config.RedisCheck{Address: addr, Secret: config.Secret{PasswordEnv: "CENTRALHUB_TEST_NO_SUCH_VAR"}}, status.Critical,
			"password_env: CENTRALHUB_TEST_NO_SUCH_VAR is not set"},
		{"nobody listening", config.RedisCheck{Address: closedAddr(t)}, status.Critical, "connection refused"},
		{"not redis", config.RedisCheck{Address: bannerServer(t, "SSH-2.0-OpenSSH_9.2\r\n")}, status.Critical, "PING: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectProbe(t, mustProber(t, NewRedis, tc.cfg), tc.want, []string{tc.out}, secret, "not-the-password")
		})
	}
}

// redisTLSServer starts the machine's redis-server binary on a free loopback port serving TLS
// only, with a certificate from ca, and returns its address; it is killed when the test ends.
func redisTLSServer(t testing.TB, ca *testCA) string {
	t.Helper()
	bin := need(t, "redis-server", "Debian package redis-server")
	cert, key := ca.serverFiles(t)
	addr := closedAddr(t)
	startServer(t, addr, bin, "--port", "0", "--tls-port", portOf(t, addr), "--bind", "127.0.0.1",
		"--tls-cert-file", cert, "--tls-key-file", key, "--tls-ca-cert-file", ca.file, "--tls-auth-clients", "no",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir())
	return addr
}

// TestRedisTLSAndMemory: the probe over TLS against a redis-server the test starts (verified
// with the test's CA, refused without it, and refused by a plain-TCP probe), and the memory
// threshold against the machine's Redis under a maxmemory the test sets and restores.
func TestRedisTLSAndMemory(t *testing.T) {
	addr := redisAddr(t)
	ca := newTestCA(t)
	tlsAddr := redisTLSServer(t, ca)

	old := strings.Fields(redisArray(t, addr, "CONFIG", "GET", "maxmemory"))
	redisCommand(t, addr, "CONFIG", "SET", "maxmemory", "1073741824")
	t.Cleanup(func() { redisCommand(t, addr, "CONFIG", "SET", "maxmemory", old[len(old)-1]) })
	used, err := strconv.ParseFloat(infoField(redisCommand(t, addr, "INFO", "memory"), "used_memory"), 64)
	if err != nil {
		t.Fatal(err)
	}
	share := 100 * used / (1 << 30)

	for _, tc := range []struct {
		name string
		cfg  config.RedisCheck
		want status.Check
		out  string
	}{
		{"tls", config.RedisCheck{Address: tlsAddr, TLS: &config.ClientTLS{CAFile: ca.file}}, status.Passing, "PONG in "},
		{"tls by name", config.RedisCheck{Address: tlsAddr, TLS: &config.ClientTLS{CAFile: ca.file, ServerName: "localhost"}}, status.Passing, "PONG in "},
		{"tls unknown authority", config.RedisCheck{Address: tlsAddr, TLS: &config.ClientTLS{}}, status.Critical, "certificate signed by unknown authority"},
		{"plain probe of a tls port", config.RedisCheck{Address: tlsAddr}, status.Critical, "PING: "},
		{"memory under", config.RedisCheck{Address: addr, MaxMemoryPercent: min(100, share*4+1)}, status.Passing, "% of maxmemory"},
		{"memory over", config.RedisCheck{Address: addr, MaxMemoryPercent: share / 4}, status.Warning, "% of maxmemory, above max_memory_percent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectProbe(t, mustProber(t, NewRedis, tc.cfg), tc.want, []string{tc.out})
		})
	}
	if _, err := NewRedis(&config.RedisCheck{Address: tlsAddr, TLS: &config.ClientTLS{CAFile: "/no/such/ca.pem"}}); err == nil ||
		!strings.Contains(err.Error(), "tls ca_file") {
		t.Fatalf("a missing ca_file: %v", err)
	}
}

// redisArray runs a command whose reply is an array of bulk strings and returns them joined
// by spaces.
func redisArray(t testing.TB, addr string, args ...string) string {
	t.Helper()
	c := redisConn(t, addr)
	defer c.w.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.w.Write([]byte(b.String())); err != nil {
		t.Fatal(err)
	}
	head, err := c.r.ReadString('\n')
	if err != nil || !strings.HasPrefix(head, "*") {
		t.Fatalf("%s: reply %q, %v", strings.Join(args, " "), head, err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(head[1:]))
	var out []string
	for range n {
		line, err := c.r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		size, _ := strconv.Atoi(strings.TrimSpace(line[1:]))
		buf := make([]byte, size+2)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			t.Fatal(err)
		}
		out = append(out, string(buf[:size]))
	}
	return strings.Join(out, " ")
}
