package app

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// serverTLS is the hub's HTTPS: the certificate it serves and the CAs a client certificate
// must chain to, read from their files at start and again on every reload. Handshakes read the
// current pair through the tls.Config's callbacks, so a reload takes effect at the next
// handshake without touching the listener; connections already open keep what they began with.
type serverTLS struct {
	files TLSConfig
	log   *slog.Logger

	reloading sync.Mutex // one reload at a time
	current   atomic.Pointer[tlsMaterial]
}

// tlsMaterial is what one read of the files gave.
type tlsMaterial struct {
	cert      *tls.Certificate
	clientCAs *x509.CertPool // nil without client_ca_file
}

// newServerTLS reads the files of a validated tls section; every error names the setting and
// its flag, never key material.
func newServerTLS(files TLSConfig, log *slog.Logger) (*serverTLS, error) {
	s := &serverTLS{files: files, log: log.With("component", "tls")}
	m, err := s.read()
	if err != nil {
		return nil, err
	}
	s.current.Store(m)
	s.log.Info("tls on", certAttrs(m, files)...)
	return s, nil
}

// read reads and checks the certificate, its key and the client CAs.
func (s *serverTLS) read() (*tlsMaterial, error) {
	certPEM, err := os.ReadFile(s.files.CertFile)
	if err != nil {
		return nil, fmt.Errorf("tls.cert_file (--tls-cert-file): %w", err)
	}
	keyPEM, err := os.ReadFile(s.files.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls.key_file (--tls-key-file): %w", err)
	}
	// X509KeyPair's errors name the input at fault ("certificate input", "key input") or say the
	// two do not match; they never quote the key.
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("tls.cert_file, tls.key_file (--tls-cert-file, --tls-key-file): %s, %s: %w", s.files.CertFile, s.files.KeyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("tls.cert_file (--tls-cert-file): %s: %w", s.files.CertFile, err)
		}
	}
	m := &tlsMaterial{cert: &cert}
	if s.files.ClientCAFile != "" {
		if m.clientCAs, err = readPool(s.files.ClientCAFile); err != nil {
			return nil, fmt.Errorf("tls.client_ca_file (--tls-client-ca-file): %w", err)
		}
	}
	if now := time.Now(); now.After(cert.Leaf.NotAfter) || now.Before(cert.Leaf.NotBefore) {
		s.log.Warn("the tls certificate is not valid now; clients will refuse it", "file", s.files.CertFile,
			"not_before", cert.Leaf.NotBefore, "not_after", cert.Leaf.NotAfter)
	}
	return m, nil
}

// readPool reads a file of PEM certificates into a new pool.
func readPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s: no PEM certificate in it", path)
	}
	return pool, nil
}

// reload reads the files again. On success the next handshakes use what it read and "tls
// reloaded" is logged with the certificate's subject and expiry; on failure the previous
// certificate and CAs stay in use and the error is logged and returned.
func (s *serverTLS) reload() error {
	s.reloading.Lock()
	defer s.reloading.Unlock()
	m, err := s.read()
	if err != nil {
		s.log.Error("tls reload failed; serving the previous certificate", "err", err)
		return err
	}
	s.current.Store(m)
	s.log.Info("tls reloaded", certAttrs(m, s.files)...)
	return nil
}

func certAttrs(m *tlsMaterial, files TLSConfig) []any {
	leaf := m.cert.Leaf
	return []any{"cert_file", files.CertFile, "subject", leaf.Subject.String(), "serial", leaf.SerialNumber.String(),
		"not_after", leaf.NotAfter.UTC(), "client_ca_file", files.ClientCAFile}
}

// config is the listener's TLS configuration: TLS 1.2 at least, HTTP/2 and HTTP/1.1, the
// current certificate at every handshake and, with client CAs, a client certificate verified
// against the current CAs when the client presents one. Whether a route needs one is the
// API's to say (httpapi.Config.RequireClientCert): browsers and Prometheus present none.
func (s *serverTLS) config() *tls.Config {
	base := &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2", "http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.current.Load().cert, nil
		},
	}
	if s.files.ClientCAFile == "" {
		return base
	}
	base.ClientAuth = tls.VerifyClientCertIfGiven
	perConn := base.Clone()
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c := perConn.Clone()
		c.ClientCAs = s.current.Load().clientCAs
		return c, nil
	}
	return base
}

// forwardTLS is the TLS configuration of requests to other hubs: the system roots and, with
// tls.ca_file, its CAs too. nil when ca_file is empty (Go's defaults apply).
func forwardTLS(caFile string) (*tls.Config, error) {
	if caFile == "" {
		return nil, nil
	}
	pool, err := caPool(caFile, "tls.ca_file (--tls-ca-file)")
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}, nil
}

// errTLSOff is ReloadTLS's answer on a hub without TLS.
var errTLSOff = errors.New("tls is off: nothing to reload")
