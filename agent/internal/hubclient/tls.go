package hubclient

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"
)

// TLSFiles names the PEM files of the agent's TLS to its hubs: hub.ca_file, hub.cert_file and
// hub.key_file. Empty names are unset.
type TLSFiles struct {
	CAFile   string // CAs a hub's certificate must chain to; when set, the system roots are not used
	CertFile string // client certificate presented to hubs that ask for one, with KeyFile
	KeyFile  string
}

// NewHubClient returns the HTTP client of every request to the hubs (NewHTTPClient's) with f's
// TLS (NewTLSConfig's). Before each request it looks whether the client certificate's files
// changed; once a new certificate is read, requests go over a fresh pool of connections, which
// present it, and the old pool's idle connections are closed — a connection reused every few
// seconds (over HTTP/2, the only one) would otherwise keep the old certificate for as long as
// the agent runs. A request still in flight on an old connection finishes there.
func NewHubClient(f TLSFiles, logger *slog.Logger) (*http.Client, error) {
	tc, cc, err := newTLSConfig(f, logger)
	if err != nil {
		return nil, err
	}
	c := NewHTTPClient(tc)
	if cc != nil {
		base := c.Transport.(*http.Transport)
		c.Transport = &rotatingTransport{base: base, current: base.Clone(), cert: cc, seen: cc.generation()}
	}
	return c, nil
}

// rotatingTransport sends requests over a pool of connections made with the client
// certificate of one generation, and starts a new pool when the certificate changed.
type rotatingTransport struct {
	base *http.Transport // the template each pool is cloned from
	cert *clientCert

	mu      sync.Mutex
	current *http.Transport
	seen    uint64 // the certificate generation current's connections were made with
}

// RoundTrip implements http.RoundTripper.
func (t *rotatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.cert.refresh()
	gen := t.cert.generation() // also counts a change that a handshake's refresh found first
	t.mu.Lock()
	if gen != t.seen {
		old := t.current
		t.current, t.seen = t.base.Clone(), gen
		old.CloseIdleConnections() // busy ones close once idle: old is used no more
	}
	tr := t.current
	t.mu.Unlock()
	return tr.RoundTrip(req)
}

// CloseIdleConnections closes the current pool's idle connections (http.Client calls it).
func (t *rotatingTransport) CloseIdleConnections() {
	t.mu.Lock()
	tr := t.current
	t.mu.Unlock()
	tr.CloseIdleConnections()
}

// TLSClientConfig is the TLS configuration every pool is made with.
func (t *rotatingTransport) TLSClientConfig() *tls.Config { return t.base.TLSClientConfig }

// NewTLSConfig returns the TLS configuration of requests to https hubs: TLS 1.2 at least; the
// hub's certificate verified against CAFile's CAs alone when it is set, else the system roots;
// and, with CertFile and KeyFile, a client certificate for hubs that ask for one, presented
// whatever CAs the hub names (a certificate it does not trust fails the handshake, visibly). The
// CAs are read once, here. The client certificate is read here too, and again at a new
// connection's handshake when either file's modification time or size changed since the last
// read; a re-read that fails (a half-written pair) keeps the previous certificate and logs why,
// once per change. Errors name the setting.
func NewTLSConfig(f TLSFiles, logger *slog.Logger) (*tls.Config, error) {
	tc, _, err := newTLSConfig(f, logger)
	return tc, err
}

func newTLSConfig(f TLSFiles, logger *slog.Logger) (*tls.Config, *clientCert, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CAFile != "" {
		data, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("hub.ca_file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(data) {
			return nil, nil, fmt.Errorf("hub.ca_file: %s: no PEM certificate in it", f.CAFile)
		}
	}
	if f.CertFile == "" && f.KeyFile == "" {
		return tc, nil, nil
	}
	cc := &clientCert{certFile: f.CertFile, keyFile: f.KeyFile, log: logger}
	if err := cc.load(); err != nil {
		return nil, nil, err
	}
	tc.GetClientCertificate = cc.get
	return tc, cc, nil
}

// clientCert is the client certificate, re-read when its files change.
type clientCert struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.Mutex
	cert    *tls.Certificate
	stamps  [2]fileStamp // of the files at the last read, successful or not
	expires time.Time
	gen     uint64 // raised by every certificate read after the first
}

// generation counts the certificates read since the first.
func (c *clientCert) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// fileStamp tells a changed file: its modification time and size.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi.ModTime(), fi.Size()}, nil
}

// load reads the pair; the caller holds mu or is the constructor.
func (c *clientCert) load() error {
	var stamps [2]fileStamp
	for i, p := range []string{c.certFile, c.keyFile} {
		st, err := stampOf(p)
		if err != nil {
			return fmt.Errorf("hub.%s: %w", [2]string{"cert_file", "key_file"}[i], err)
		}
		stamps[i] = st
	}
	c.stamps = stamps
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("hub.cert_file, hub.key_file: %w", err)
	}
	c.cert = &cert
	if cert.Leaf != nil {
		c.expires = cert.Leaf.NotAfter
	}
	return nil
}

// get is tls.Config.GetClientCertificate: the current certificate, re-read first when a file
// changed since the last read.
func (c *clientCert) get(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	c.refresh()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cert, nil
}

// refresh reads the files again when either changed since the last read, and reports whether
// they had. A file that cannot be looked at (being replaced, say) counts as unchanged.
func (c *clientCert) refresh() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs, cerr := stampOf(c.certFile)
	ks, kerr := stampOf(c.keyFile)
	if cerr != nil || kerr != nil || (cs.mod.Equal(c.stamps[0].mod) && cs.size == c.stamps[0].size &&
		ks.mod.Equal(c.stamps[1].mod) && ks.size == c.stamps[1].size) {
		return false
	}
	if err := c.load(); err != nil {
		c.log.Warn("client certificate re-read failed; presenting the previous one", "err", err)
	} else {
		c.gen++
		c.log.Info("client certificate re-read", "cert_file", c.certFile, "not_after", c.expires.UTC())
	}
	return true
}
