package check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"

	"github.com/centralhub/centralhub/agent/internal/config"
)

// clientTLS builds the TLS configuration of a probe's tls section (nil when it has none).
// serverName is used when the section names none: normally the host the probe dials.
func clientTLS(c *config.ClientTLS, serverName string) (*tls.Config, error) {
	if c == nil {
		return nil, nil
	}
	tc := &tls.Config{
		ServerName:         serverName,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // the operator's explicit choice
	}
	if c.ServerName != "" {
		tc.ServerName = c.ServerName
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls ca_file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls ca_file %s: no PEM certificate in it", c.CAFile)
		}
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls cert_file/key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// dialProbe opens a TCP connection to addr with d, over TLS when tc is not nil.
func dialProbe(ctx context.Context, d *net.Dialer, addr string, tc *tls.Config) (net.Conn, error) {
	if tc == nil {
		return d.DialContext(ctx, "tcp", addr)
	}
	return (&tls.Dialer{NetDialer: d, Config: tc}).DialContext(ctx, "tcp", addr)
}
