package check

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/status"
)

// zkMaxAnswer caps what the probe reads of an answer to ruok.
const zkMaxAnswer = 4 << 10

// ZooKeeper sends ZooKeeper's four-letter word ruok (over TLS to a secureClientPort when
// configured) and reads the answer to the end: passing on
// imok; critical when the connection does not open, when the server refuses ruok or closes
// without answering (ruok is not in its 4lw.commands.whitelist), or answers anything else.
type ZooKeeper struct {
	cfg    config.ZooKeeperCheck
	tls    *tls.Config // nil: plain TCP
	dialer net.Dialer
}

// NewZooKeeper returns the prober for a zookeeper check; a tls section whose files cannot be
// read is an error naming them.
func NewZooKeeper(c *config.ZooKeeperCheck) (*ZooKeeper, error) {
	host, _, _ := net.SplitHostPort(c.Address)
	tc, err := clientTLS(c.TLS, host)
	if err != nil {
		return nil, fmt.Errorf("zookeeper: %w", err)
	}
	return &ZooKeeper{cfg: *c, tls: tc}, nil
}

// Probe implements Prober.
func (z *ZooKeeper) Probe(ctx context.Context) Result {
	fail := func(format string, a ...any) Result {
		return Result{status.Critical, fmt.Sprintf("zookeeper %s: ", z.cfg.Address) + fmt.Sprintf(format, a...)}
	}
	start := time.Now()
	conn, err := dialProbe(ctx, &z.dialer, z.cfg.Address, z.tls)
	if err != nil {
		return fail("%v", err)
	}
	defer conn.Close()
	defer connFollowsContext(ctx, conn)()
	if _, err := io.WriteString(conn, "ruok"); err != nil {
		return fail("ruok: write: %v", err)
	}
	// The server answers and closes; read to the end. A reset with nothing read is a close
	// without an answer, as a server that refuses the command at once may send one.
	b, err := io.ReadAll(io.LimitReader(conn, zkMaxAnswer))
	if err != nil && len(b) == 0 && !errors.Is(err, syscall.ECONNRESET) {
		return fail("ruok: read: %v", err)
	}
	rtt := time.Since(start)
	answer := strings.TrimSpace(string(b))
	switch {
	case answer == "imok":
		return Result{status.Passing, fmt.Sprintf("zookeeper %s: imok in %.2f ms", z.cfg.Address, float64(rtt.Microseconds())/1000)}
	case answer == "":
		return fail("the server closed the connection without answering ruok (is ruok in its 4lw.commands.whitelist?)")
	case strings.Contains(answer, "not in the whitelist"):
		return fail("ruok is not allowed: it is not in the server's 4lw.commands.whitelist")
	}
	return fail("answered %q to ruok, want imok", clipOutput(answer, 60))
}
