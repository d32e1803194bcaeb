package check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/status"
)

// TLS opens a TLS connection and judges the chain the server presents: critical when it does
// not verify for the server name (against ca_file, or the system's roots) or when its first
// certificate to expire has less than critical_days left, warning below warn_days.
type TLS struct {
	cfg   config.TLSCheck
	roots *x509.CertPool // nil: the system's
}

// NewTLS returns the prober for a tls check; a ca_file that cannot be read or holds no
// certificate is an error naming it.
func NewTLS(c *config.TLSCheck) (*TLS, error) {
	t := &TLS{cfg: *c}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls ca_file: %w", err)
		}
		t.roots = x509.NewCertPool()
		if !t.roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls ca_file %s: no PEM certificate in it", c.CAFile)
		}
	}
	return t, nil
}

// Probe implements Prober.
func (t *TLS) Probe(ctx context.Context) Result {
	d := tls.Dialer{Config: &tls.Config{
		ServerName: t.cfg.ServerName,
		MinVersion: tls.VersionTLS12,
		// Verified below, by hand, so an invalid chain still reports its expiry and the
		// precise reason.
		InsecureSkipVerify: true,
	}}
	conn, err := d.DialContext(ctx, "tcp", t.cfg.Address)
	if err != nil {
		return Result{status.Critical, fmt.Sprintf("TLS %s: %v", t.cfg.Address, err)}
	}
	defer conn.Close()
	certs := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return Result{status.Critical, fmt.Sprintf("TLS %s: the server presented no certificate", t.cfg.Address)}
	}
	now := time.Now()
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	chain := certs
	chains, verr := certs[0].Verify(x509.VerifyOptions{Roots: t.roots, Intermediates: inter, DNSName: t.cfg.ServerName, CurrentTime: now})
	if verr == nil {
		chain = chains[0]
	}
	first := chain[0]
	for _, c := range chain[1:] {
		if c.NotAfter.Before(first.NotAfter) {
			first = c
		}
	}
	left := first.NotAfter.Sub(now)
	expiry := fmt.Sprintf("%q expires %s (%s)", first.Subject.CommonName, first.NotAfter.UTC().Format(time.DateOnly), leftText(left))
	const day = 24 * time.Hour
	switch {
	case verr != nil:
		return Result{status.Critical, fmt.Sprintf("TLS %s: certificate not valid for %q: %s; %s", t.cfg.Address, t.cfg.ServerName, reason(verr), expiry)}
	case left < time.Duration(t.cfg.CriticalDays)*day:
		return Result{status.Critical, fmt.Sprintf("TLS %s: %s, under %d days", t.cfg.Address, expiry, t.cfg.CriticalDays)}
	case left < time.Duration(t.cfg.WarnDays)*day:
		return Result{status.Warning, fmt.Sprintf("TLS %s: %s, under %d days", t.cfg.Address, expiry, t.cfg.WarnDays)}
	}
	return Result{status.Passing, fmt.Sprintf("TLS %s: chain valid for %q; %s", t.cfg.Address, t.cfg.ServerName, expiry)}
}

// leftText words the time left in whole days.
func leftText(left time.Duration) string {
	days := int(left.Abs().Hours() / 24)
	unit := "days"
	if days == 1 {
		unit = "day"
	}
	if left < 0 {
		return fmt.Sprintf("expired %d %s ago", days, unit)
	}
	return fmt.Sprintf("in %d %s", days, unit)
}

// reason words a verification error without the x509 package's prefix.
func reason(err error) string {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var inv x509.CertificateInvalidError
	switch {
	case errors.As(err, &unknown):
		return "signed by an unknown authority"
	case errors.As(err, &host):
		return "issued for other names (" + host.Error() + ")"
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		return "expired or not yet valid"
	}
	return err.Error()
}
