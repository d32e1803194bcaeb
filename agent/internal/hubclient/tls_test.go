package hubclient

import (
	"crypto/tls"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/centralhub/centralhub/pkg/tlstest"
)

// tlsHub is an https server that verifies a client certificate when one is presented, against
// ca, and answers with the common name of the one it got ("" for none).
func tlsHub(t *testing.T, ca *tlstest.CA) *httptest.Server {
	t.Helper()
	return tlsServer(t, ca, tls.VerifyClientCertIfGiven, func(http.ResponseWriter, *http.Request) {})
}

// tlsServer is an https server with a certificate of ca that verifies client certificates
// against ca as auth says; it runs before, then answers with the client certificate's common
// name ("" for none).
func tlsServer(t *testing.T, ca *tlstest.CA, auth tls.ClientAuthType, before http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		before(w, r)
		if len(r.TLS.VerifiedChains) > 0 {
			_, _ = io.WriteString(w, r.TLS.VerifiedChains[0][0].Subject.CommonName)
		}
	}))
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{ca.Server(t, "hub").TLS(t)},
		ClientAuth:   auth, ClientCAs: ca.Pool(), MinVersion: tls.VersionTLS12,
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func get(c *http.Client, url string) (string, error) {
	res, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return string(b), err
}

// TestTLSToHubs: the hub is verified against hub.ca_file alone, the client certificate is
// presented, and a rotated certificate is presented from the next request on — the client
// drops its kept-alive connection for a new one; a broken rotation keeps the previous one.
func TestTLSToHubs(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "hub CA")
	hub := tlsHub(t, ca)
	caFile := ca.WriteFile(t, dir, "ca.pem")
	certFile, keyFile := ca.Client(t, "agent-1").WriteFiles(t, dir, "agent")

	var logs syncBuffer
	c, err := NewHubClient(TLSFiles{CAFile: caFile, CertFile: certFile, KeyFile: keyFile}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	if tc := c.Transport.(*rotatingTransport).TLSClientConfig(); tc.MinVersion != tls.VersionTLS12 {
		t.Fatalf("min version %x", tc.MinVersion)
	}
	for range 2 { // the second request reuses the connection
		if cn, err := get(c, hub.URL); err != nil || cn != "agent-1" {
			t.Fatalf("before rotation: %q %v", cn, err)
		}
	}

	// Rotate: the next request presents the new certificate, on a new connection.
	next := ca.Client(t, "agent-2")
	next.WriteFiles(t, dir, "agent")
	later := time.Now().Add(time.Minute) // a new modification time whatever the clock's grain
	for _, f := range []string{certFile, keyFile} {
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
	if cn, err := get(c, hub.URL); err != nil || cn != "agent-2" {
		t.Fatalf("after rotation: %q %v", cn, err)
	}
	if !strings.Contains(logs.String(), "client certificate re-read") {
		t.Fatalf("no re-read logged:\n%s", logs.String())
	}

	// Half a rotation (the key file broken): agent-2 stays, and the failure is logged once.
	if err := os.WriteFile(keyFile, []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if cn, err := get(c, hub.URL); err != nil || cn != "agent-2" {
			t.Fatalf("after a broken rotation: %q %v", cn, err)
		}
	}
	if n := strings.Count(logs.String(), "client certificate re-read failed; presenting the previous one"); n != 1 {
		t.Fatalf("%d re-read failures logged, want 1:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "PRIVATE KEY") {
		t.Fatal("key material in the log")
	}
}

// TestTLSCAFileAlone: with hub.ca_file, a hub whose certificate another CA issued is refused,
// and without a client certificate nothing is presented.
func TestTLSCAFileAlone(t *testing.T) {
	dir := t.TempDir()
	hub := tlsHub(t, tlstest.NewCA(t, "hub CA"))
	other := tlstest.NewCA(t, "other CA")
	tc, err := NewTLSConfig(TLSFiles{CAFile: other.WriteFile(t, dir, "other.pem")}, discard())
	if err != nil {
		t.Fatal(err)
	}
	c := NewHTTPClient(tc)
	defer c.CloseIdleConnections()
	if _, err := get(c, hub.URL); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Fatalf("a hub of another CA: %v", err)
	}
	ca := tlstest.NewCA(t, "hub CA 2")
	hub2 := tlsHub(t, ca)
	tc, err = NewTLSConfig(TLSFiles{CAFile: ca.WriteFile(t, dir, "ca2.pem")}, discard())
	if err != nil {
		t.Fatal(err)
	}
	c2 := NewHTTPClient(tc)
	defer c2.CloseIdleConnections()
	if cn, err := get(c2, hub2.URL); err != nil || cn != "" {
		t.Fatalf("without a client certificate: %q %v", cn, err)
	}
}

func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "CA")
	certFile, keyFile := ca.Client(t, "a").WriteFiles(t, dir, "a")
	otherCert, _ := ca.Client(t, "b").WriteFiles(t, dir, "b")
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("nothing\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		files TLSFiles
		want  string
	}{
		{"missing ca_file", TLSFiles{CAFile: filepath.Join(dir, "none")}, "hub.ca_file: open "},
		{"garbage ca_file", TLSFiles{CAFile: garbage}, "hub.ca_file: " + garbage + ": no PEM certificate in it"},
		{"missing cert_file", TLSFiles{CertFile: filepath.Join(dir, "none"), KeyFile: keyFile}, "hub.cert_file: stat "},
		{"missing key_file", TLSFiles{CertFile: certFile, KeyFile: filepath.Join(dir, "none")}, "hub.key_file: stat "},
		{"garbage cert_file", TLSFiles{CertFile: garbage, KeyFile: keyFile}, "hub.cert_file, hub.key_file: "},
		{"key of another certificate", TLSFiles{CertFile: otherCert, KeyFile: keyFile}, "private key does not match public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewTLSConfig(tc.files, discard()); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// syncBuffer is a buffer safe for the client's handshakes to log into while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestTLSRotationWithBusyConnection: a connection busy with a request when the certificate
// changes is not reused afterwards, and a change first noticed by a handshake still starts a
// new pool: every request after the rotation presents the new certificate.
func TestTLSRotationWithBusyConnection(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "hub CA")
	entered, release := make(chan struct{}), make(chan struct{})
	srv := tlsServer(t, ca, tls.RequireAndVerifyClientCert, func(_ http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(entered)
			<-release
		}
	})

	certFile, keyFile := ca.Client(t, "agent-1").WriteFiles(t, dir, "agent")
	c, err := NewHubClient(TLSFiles{CAFile: ca.WriteFile(t, dir, "ca.pem"), CertFile: certFile, KeyFile: keyFile}, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	slow := make(chan string, 1)
	go func() { cn, _ := get(c, srv.URL+"/slow"); slow <- cn }()
	<-entered // agent-1's connection is busy

	ca.Client(t, "agent-2").WriteFiles(t, dir, "agent")
	later := time.Now().Add(time.Minute)
	for _, f := range []string{certFile, keyFile} {
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
	// The handshake of a new connection is the first to see the change.
	c.Transport.(*rotatingTransport).cert.refresh()
	if cn, err := get(c, srv.URL); err != nil || cn != "agent-2" {
		t.Fatalf("after rotation: %q %v", cn, err)
	}
	close(release)
	if cn := <-slow; cn != "agent-1" {
		t.Fatalf("the busy request: %q", cn)
	}
	for i := range 3 { // agent-1's connection is idle now, and must not be picked
		if cn, err := get(c, srv.URL); err != nil || cn != "agent-2" {
			t.Fatalf("request %d after the busy one ended: %q %v", i, cn, err)
		}
	}
}
