package check

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/status"
)

// testCA is a certificate authority the test makes, to issue server certificates with chosen
// lifetimes.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // its certificate, PEM, for ca_file
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, file: file}
}

// serverCert issues a certificate from ca for a server on localhost and 127.0.0.1, named
// orders.test, ECDSA P-256, valid from two years before notAfter until notAfter.
func (ca *testCA) serverCert(t testing.TB, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "orders.test"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: notAfter.Add(-2 * 365 * 24 * time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// serverFiles issues a server certificate from ca, as serverCert does, valid for a year from
// now, and writes it and its key as PEM files for a server process the test starts; it returns
// their paths.
func (ca *testCA) serverFiles(t testing.TB) (certFile, keyFile string) {
	t.Helper()
	cert := ca.serverCert(t, time.Now().Add(365*24*time.Hour))
	keyDER, err := x509.MarshalECPrivateKey(cert.PrivateKey.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// serve starts a TLS server on loopback with a certificate from serverCert that runs out at
// notAfter; it returns the server's address.
func (ca *testCA) serve(t testing.TB, notAfter time.Time) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{ca.serverCert(t, notAfter)}})
	if err != nil {
		t.Fatal(err)
	}
	serveConns(t, ln, func(c net.Conn) { _ = c.(*tls.Conn).Handshake() })
	return ln.Addr().String()
}

// tlsProber parses an agent config with one tls check (so its defaults are the config's) and
// returns its prober.
func tlsProber(t testing.TB, c config.TLSCheck) Prober {
	t.Helper()
	yaml := fmt.Sprintf("service: orders\ninstance: o1\nhub: {url: \"http://127.0.0.1:7000\", token_file: /dev/null}\n"+
		"checks:\n  - name: cert\n    tls: {address: %q, server_name: %q, ca_file: %q, warn_days: %d, critical_days: %d}\n",
		c.Address, c.ServerName, c.CAFile, c.WarnDays, c.CriticalDays)
	cfg, err := config.Parse("agent.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return mustProber(t, NewTLS, *cfg.Checks[0].TLS)
}

// TestTLS: a chain the CA vouches for passes with its days left written out; fewer days than
// warn_days or critical_days turn it warning or critical; an unknown authority, another name,
// an expired certificate, a server that does not speak TLS and one that is gone are critical,
// each saying why.
func TestTLS(t *testing.T) {
	ca := newTestCA(t)
	day := 24 * time.Hour
	plain := bannerServer(t, "220 not TLS\r\n")

	for _, tc := range []struct {
		name string
		cfg  config.TLSCheck
		want status.Check
		out  []string
	}{
		{"valid", config.TLSCheck{Address: ca.serve(t, time.Now().Add(90*day+time.Hour)), CAFile: ca.file}, status.Passing,
			[]string{`chain valid for "127.0.0.1"`, `"orders.test" expires`, "in 90 days"}},
		{"by name", config.TLSCheck{Address: ca.serve(t, time.Now().Add(90*day+time.Hour)), ServerName: "localhost", CAFile: ca.file}, status.Passing,
			[]string{`chain valid for "localhost"`}},
		{"under warn_days", config.TLSCheck{Address: ca.serve(t, time.Now().Add(10*day+time.Hour)), CAFile: ca.file}, status.Warning,
			[]string{"in 10 days", "under 14 days"}},
		{"under critical_days", config.TLSCheck{Address: ca.serve(t, time.Now().Add(2*day+time.Hour)), CAFile: ca.file}, status.Critical,
			[]string{"in 2 days", "under 3 days"}},
		{"thresholds set", config.TLSCheck{Address: ca.serve(t, time.Now().Add(20*day+time.Hour)), CAFile: ca.file, WarnDays: 30, CriticalDays: 7}, status.Warning,
			[]string{"in 20 days", "under 30 days"}},
		{"expired", config.TLSCheck{Address: ca.serve(t, time.Now().Add(-2*day)), CAFile: ca.file}, status.Critical,
			[]string{"expired or not yet valid", "expired 2 days ago"}},
		{"unknown authority", config.TLSCheck{Address: ca.serve(t, time.Now().Add(90*day))}, status.Critical,
			[]string{"signed by an unknown authority"}},
		{"another name", config.TLSCheck{Address: ca.serve(t, time.Now().Add(90*day)), ServerName: "payments.example", CAFile: ca.file}, status.Critical,
			[]string{`not valid for "payments.example"`, "issued for other names"}},
		{"not TLS", config.TLSCheck{Address: plain, CAFile: ca.file}, status.Critical, []string{"TLS " + plain + ":"}},
		{"server gone", config.TLSCheck{Address: closedAddr(t), CAFile: ca.file}, status.Critical, []string{"connection refused"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectProbe(t, tlsProber(t, tc.cfg), tc.want, tc.out)
		})
	}
	if _, err := NewTLS(&config.TLSCheck{Address: "x:1", CAFile: filepath.Join(t.TempDir(), "none.pem")}); err == nil || !strings.Contains(err.Error(), "ca_file") {
		t.Fatalf("a missing ca_file: %v", err)
	}
}
