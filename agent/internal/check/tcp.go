package check

import (
	"context"
	"fmt"
	"net"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/status"
)

// TCP passes when a TCP connection to its address succeeds; it closes the connection at once.
type TCP struct {
	address string
	dialer  net.Dialer
}

// NewTCP returns the prober for a tcp check.
func NewTCP(c *config.TCPCheck) *TCP {
	return &TCP{address: c.Address}
}

// Probe implements Prober.
func (t *TCP) Probe(ctx context.Context) Result {
	conn, err := t.dialer.DialContext(ctx, "tcp", t.address)
	if err != nil {
		return Result{status.Critical, fmt.Sprintf("TCP connect %s: %v", t.address, err)}
	}
	conn.Close()
	return Result{status.Passing, fmt.Sprintf("TCP connect %s: success", t.address)}
}
