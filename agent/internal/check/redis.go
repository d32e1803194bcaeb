package check

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/status"
)

// Redis speaks the little of RESP a health probe needs (AUTH, PING, INFO) to a Redis-compatible
// server (Redis, DragonflyDB, Valkey), over TLS when configured: critical when it does not
// answer, refuses the credentials or does not PONG, or when its role is not the one asked for;
// warning when its memory use is above max_memory_percent.
type Redis struct {
	cfg    config.RedisCheck
	tls    *tls.Config // nil: plain TCP
	dialer net.Dialer
}

// NewRedis returns the prober for a redis check; a tls section whose files cannot be read is
// an error naming them.
func NewRedis(c *config.RedisCheck) (*Redis, error) {
	host, _, _ := net.SplitHostPort(c.Address)
	tc, err := clientTLS(c.TLS, host)
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	return &Redis{cfg: *c, tls: tc}, nil
}

// Probe implements Prober.
func (r *Redis) Probe(ctx context.Context) Result {
	fail := func(format string, a ...any) Result {
		return Result{status.Critical, fmt.Sprintf("redis %s: ", r.cfg.Address) + fmt.Sprintf(format, a...)}
	}
	password, err := r.cfg.Password()
	if err != nil {
		return fail("%v", err)
	}
	conn, err := dialProbe(ctx, &r.dialer, r.cfg.Address, r.tls)
	if err != nil {
		return fail("%v", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	c := &resp{w: conn, r: bufio.NewReader(conn)}
	if password != "" {
		args := []string{"AUTH", password}
		if r.cfg.Username != "" {
			args = []string{"AUTH", r.cfg.Username, password}
		}
		if _, err := c.do(args...); err != nil {
			return fail("AUTH refused: %v", err) // the server's reason, never the password
		}
	}
	start := time.Now()
	pong, err := c.do("PING")
	if err != nil {
		return fail("PING: %v", err)
	}
	if pong != "PONG" {
		return fail("PING answered %q", pong)
	}
	rtt := time.Since(start)
	out := fmt.Sprintf("redis %s: PONG in %.2f ms", r.cfg.Address, float64(rtt.Microseconds())/1000)
	if r.cfg.Role != "" {
		info, err := c.do("INFO", "replication")
		if err != nil {
			return fail("INFO replication: %v", err)
		}
		role := infoField(info, "role")
		if role == "slave" {
			role = "replica"
		}
		if role != r.cfg.Role {
			return fail("role is %s, want %s", role, r.cfg.Role)
		}
		out += ", role " + role
	}
	if r.cfg.MaxMemoryPercent > 0 {
		info, err := c.do("INFO", "memory")
		if err != nil {
			return fail("INFO memory: %v", err)
		}
		share, of, err := memoryShare(info)
		if err != nil {
			return fail("INFO memory: %v", err)
		}
		out += fmt.Sprintf(", memory %.1f%% of %s", share, of)
		if share > r.cfg.MaxMemoryPercent {
			return Result{status.Warning, fmt.Sprintf("%s, above max_memory_percent %g%%", out, r.cfg.MaxMemoryPercent)}
		}
	}
	return Result{status.Passing, out}
}

// memoryShare reads an INFO memory answer: used_memory as a percentage of maxmemory, or of the
// host's memory when maxmemory is 0 (no limit), and which of the two it is.
func memoryShare(info string) (float64, string, error) {
	used, err := strconv.ParseUint(infoField(info, "used_memory"), 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("used_memory: %w", err)
	}
	limit, of := uint64(0), "maxmemory"
	if v := infoField(info, "maxmemory"); v != "" {
		if limit, err = strconv.ParseUint(v, 10, 64); err != nil {
			return 0, "", fmt.Errorf("maxmemory: %w", err)
		}
	}
	if limit == 0 {
		of = "the host's memory (no maxmemory)"
		if limit, err = strconv.ParseUint(infoField(info, "total_system_memory"), 10, 64); err != nil || limit == 0 {
			return 0, "", errors.New("no maxmemory and no total_system_memory to judge used_memory against")
		}
	}
	return 100 * float64(used) / float64(limit), of, nil
}

// infoField is a field of an INFO answer ("name:value" lines).
func infoField(info, name string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// resp is a RESP2 client connection: commands as arrays of bulk strings, one reply each.
type resp struct {
	w net.Conn
	r *bufio.Reader
}

// do sends one command and returns its reply as text: a simple string, a bulk string or an
// integer; an error reply is an error.
func (c *resp) do(args ...string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.w.Write([]byte(b.String())); err != nil {
		return "", fmt.Errorf("write: %w", err)
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("read: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", errors.New(line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < -1 || n > 1<<20 {
			return "", fmt.Errorf("bad bulk length %q", line)
		}
		if n == -1 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return "", fmt.Errorf("read: %w", err)
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("unexpected reply %q", line)
}
