package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/centralhub/centralhub/pkg/auth"
	"github.com/centralhub/centralhub/pkg/tlstest"
)

// TestTLSSettings: the tls section from file, environment and flags, and every refusal naming
// the setting and its flag — those of the combination at parse time, those of the files when
// the hub starts.
func TestTLSSettings(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "hub CA")
	certFile, keyFile := ca.Server(t, "hub").WriteFiles(t, dir, "hub")
	otherCert, _ := ca.Server(t, "other").WriteFiles(t, dir, "other")
	caFile := ca.WriteFile(t, dir, "ca.pem")
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not PEM\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")

	parseCases := []struct {
		name    string
		env     map[string]string
		args    []string
		want    TLSConfig
		wantErr string
	}{
		{name: "off by default"},
		{name: "flags", args: []string{"--tls-cert-file", certFile, "--tls-key-file", keyFile, "--tls-client-ca-file", caFile, "--tls-ca-file", caFile},
			want: TLSConfig{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile, CAFile: caFile}},
		{name: "environment", env: map[string]string{"HUB_TLS_CERT_FILE": certFile, "HUB_TLS_KEY_FILE": keyFile, "HUB_TLS_CLIENT_CA_FILE": caFile, "HUB_TLS_CA_FILE": caFile},
			want: TLSConfig{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile, CAFile: caFile}},
		{name: "flag over environment", env: map[string]string{"HUB_TLS_CERT_FILE": otherCert, "HUB_TLS_KEY_FILE": keyFile}, args: []string{"--tls-cert-file", certFile},
			want: TLSConfig{CertFile: certFile, KeyFile: keyFile}},
		{name: "ca_file alone", args: []string{"--tls-ca-file", caFile}, want: TLSConfig{CAFile: caFile}},
		{name: "cert without key", args: []string{"--tls-cert-file", certFile}, wantErr: "tls.key_file (--tls-key-file): required with tls.cert_file"},
		{name: "key without cert", env: map[string]string{"HUB_TLS_KEY_FILE": keyFile}, wantErr: "tls.cert_file (--tls-cert-file): required with tls.key_file"},
		{name: "client CA without cert", args: []string{"--tls-client-ca-file", caFile}, wantErr: "tls.client_ca_file (--tls-client-ca-file): needs tls.cert_file"},
	}
	for _, tc := range parseCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _, err := parseServe(tc.args, io.Discard, envOf(tc.env))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.TLS != tc.want {
				t.Fatalf("tls %+v, want %+v", cfg.TLS, tc.want)
			}
		})
	}
	t.Run("file", func(t *testing.T) {
		cfg, _, err := parseServe([]string{"--config", writeTemp(t, fmt.Sprintf("tls: {cert_file: %s, key_file: %s, client_ca_file: %s}\n", certFile, keyFile, caFile))}, io.Discard, envOf(nil))
		if err != nil || cfg.TLS != (TLSConfig{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile}) {
			t.Fatalf("tls %+v, err %v", cfg.TLS, err)
		}
	})

	startCases := []struct {
		name    string
		tls     TLSConfig
		wantErr string
	}{
		{"missing cert", TLSConfig{CertFile: missing, KeyFile: keyFile}, "tls.cert_file (--tls-cert-file): open " + missing},
		{"missing key", TLSConfig{CertFile: certFile, KeyFile: missing}, "tls.key_file (--tls-key-file): open " + missing},
		{"garbage cert", TLSConfig{CertFile: garbage, KeyFile: keyFile}, "tls.cert_file, tls.key_file (--tls-cert-file, --tls-key-file)"},
		{"key of another certificate", TLSConfig{CertFile: otherCert, KeyFile: keyFile}, "private key does not match public key"},
		{"missing client CA", TLSConfig{CertFile: certFile, KeyFile: keyFile, ClientCAFile: missing}, "tls.client_ca_file (--tls-client-ca-file): open " + missing},
		{"garbage client CA", TLSConfig{CertFile: certFile, KeyFile: keyFile, ClientCAFile: garbage}, "tls.client_ca_file (--tls-client-ca-file): " + garbage + ": no PEM certificate"},
		{"garbage ca_file", TLSConfig{CAFile: garbage}, "tls.ca_file (--tls-ca-file): " + garbage + ": no PEM certificate"},
	}
	keys, err := auth.NewKeys([]byte("k8Jq2Lm9Zx4Vb7Nc1Hy6Tr3We5Pa0SdFgQ"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range startCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Listen, cfg.DataDir, cfg.TLS = "127.0.0.1:0", t.TempDir(), tc.tls
			var logs bytes.Buffer
			a, err := New(context.Background(), cfg, keys, slog.New(slog.NewTextHandler(&logs, nil)))
			if err == nil {
				_ = a.store.Close()
				_ = a.ln.Close()
				t.Fatal("the hub started")
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q, want one containing %q", err, tc.wantErr)
			}
			if strings.Contains(err.Error()+logs.String(), "PRIVATE KEY") {
				t.Fatal("key material in the error or the log")
			}
		})
	}

	// The command line says it in one line on stderr and exits 1.
	var out, errb bytes.Buffer
	code := Main(context.Background(), []string{"serve", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--tls-cert-file", missing, "--tls-key-file", keyFile},
		&out, &errb, envOf(map[string]string{"HUB_JWT_SECRET": "k8Jq2Lm9Zx4Vb7Nc1Hy6Tr3We5Pa0SdFgQ", "HUB_LOG_LEVEL": "error"}))
	if code != 1 || !strings.Contains(errb.String(), "hub: tls.cert_file (--tls-cert-file): open "+missing) {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}

// TestServeHelpNamesEveryEnvironmentVariable: `hub serve --help` names every HUB_* variable
// that serve reads — each one applyEnv asks for, and the JWT secret's two.
func TestServeHelpNamesEveryEnvironmentVariable(t *testing.T) {
	var read []string
	record := func(k string) (string, bool) { read = append(read, k); return "", false }
	cfg := DefaultConfig()
	if err := cfg.applyEnv(record); err != nil {
		t.Fatal(err)
	}
	if _, err := configuredSecret(record); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"HUB_LISTEN", "HUB_TLS_CERT_FILE", "HUB_TLS_KEY_FILE", "HUB_TLS_CLIENT_CA_FILE", "HUB_TLS_CA_FILE", "HUB_JWT_SECRET", "HUB_JWT_SECRET_FILE"} {
		if !slices.Contains(read, want) {
			t.Fatalf("serve does not read %s (it reads %v)", want, read)
		}
	}
	var out, errb bytes.Buffer
	if code := Main(context.Background(), []string{"serve", "--help"}, &out, &errb, envOf(nil)); code != 0 {
		t.Fatalf("serve --help: exit %d", code)
	}
	help := out.String() + errb.String()
	for _, name := range read {
		if !regexp.MustCompile(`\b` + name + `\b`).MatchString(help) {
			t.Errorf("serve --help does not name %s:\n%s", name, help)
		}
	}
	for _, flagEnv := range []string{"-listen", "(env HUB_LISTEN)", "-tls-cert-file", "(env HUB_TLS_CERT_FILE)", "-tls-client-ca-file", "(env HUB_TLS_CLIENT_CA_FILE)"} {
		if !strings.Contains(help, flagEnv) {
			t.Errorf("serve --help lacks %q", flagEnv)
		}
	}
}

// tlsHub is an in-process hub serving HTTPS, with the certificates of its test.
type tlsHub struct {
	app   *App
	url   string
	keys  *auth.Keys
	logs  *syncBuffer
	ca    *tlstest.CA // issued the hub's certificate and the good client certificate
	dir   string      // holds hub.crt, hub.key and client-ca.pem
	files TLSConfig
}

func startTLSHub(t *testing.T, clientCA bool) *tlsHub {
	t.Helper()
	h := &tlsHub{ca: tlstest.NewCA(t, "hub CA"), dir: t.TempDir(), logs: &syncBuffer{}}
	h.files.CertFile, h.files.KeyFile = h.ca.Server(t, "hub-1").WriteFiles(t, h.dir, "hub")
	if clientCA {
		h.files.ClientCAFile = h.ca.WriteFile(t, h.dir, "client-ca.pem")
	}
	cfg := DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.TLS = "127.0.0.1:0", t.TempDir(), h.files
	var err error
	if h.keys, err = auth.NewKeys([]byte("k8Jq2Lm9Zx4Vb7Nc1Hy6Tr3We5Pa0SdFgQ")); err != nil {
		t.Fatal(err)
	}
	if h.app, err = New(context.Background(), cfg, h.keys, slog.New(slog.NewJSONHandler(h.logs, nil))); err != nil {
		t.Fatal(err)
	}
	h.url = "https://" + h.app.Addr()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.app.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("hub log:\n%s", h.logs.String())
		}
	})
	return h
}

func (h *tlsHub) token(t *testing.T, role auth.Role, tenant, service string) string {
	t.Helper()
	tok, err := h.keys.Issue(auth.IssueRequest{Role: role, Subject: "t", Tenant: tenant, Service: service, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// client returns an HTTPS client trusting roots (the system's when nil) and presenting cert
// when given.
func httpsClient(t *testing.T, tc *tls.Config) *http.Client {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

type answer struct {
	code int
	body string
	err  error
}

func callHub(c *http.Client, method, url, token string, body []byte) answer {
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{code: res.StatusCode, body: string(b)}
}

func (a answer) String() string {
	if a.err != nil {
		return "error " + a.err.Error()
	}
	return fmt.Sprintf("%d %s", a.code, strings.TrimSpace(a.body))
}

func reportBody(instance string, seq int) []byte {
	return fmt.Appendf(nil, `{"version":1,"tenant":"default","service":"orders","instance":%q,"boot":1,"seq":%d,"interval":"10s",
		"checks":[{"name":"web","kind":"http","status":"passing"}]}`, instance, seq)
}

// TestHTTPSAndClientCertificates: with tls.client_ca_file, the agent routes need a verified
// client certificate on top of the token (403 "client certificate required", counted as
// client_cert), and every other route works with a token alone; a certificate from another CA
// fails the handshake, and plain HTTP gets nothing.
func TestHTTPSAndClientCertificates(t *testing.T) {
	h := startTLSHub(t, true)
	other := tlstest.NewCA(t, "other CA")
	noCert := httpsClient(t, &tls.Config{RootCAs: h.ca.Pool()})
	withCert := httpsClient(t, &tls.Config{RootCAs: h.ca.Pool(), GetClientCertificate: presenting(h.ca.Client(t, "orders-1").TLS(t))})
	wrongCert := httpsClient(t, &tls.Config{RootCAs: h.ca.Pool(), GetClientCertificate: presenting(other.Client(t, "orders-1").TLS(t))})
	systemRoots := httpsClient(t, nil)

	agent := h.token(t, auth.Agent, "default", "orders")
	viewer := h.token(t, auth.Viewer, "default", "")
	metrics := h.token(t, auth.Metrics, "*", "")

	if a := callHub(noCert, "GET", h.url+"/health", "", nil); a.code != 200 {
		t.Fatalf("GET /health over HTTPS: %s", a)
	}
	if a := callHub(http.DefaultClient, "GET", "http://"+h.app.Addr()+"/health", "", nil); a.err == nil && (a.code == 200 || strings.Contains(a.body, "healthy")) {
		t.Fatalf("plain HTTP to the TLS port: %s", a)
	}
	if a := callHub(systemRoots, "GET", h.url+"/health", "", nil); a.err == nil || !strings.Contains(a.err.Error(), "certificate signed by unknown authority") {
		t.Fatalf("a client that does not trust the hub's CA: %s", a)
	}
	if a := callHub(wrongCert, "GET", h.url+"/health", "", nil); a.err == nil {
		t.Fatalf("a client certificate from another CA: %s; want a failed handshake", a)
	}
	poll(t, 5*time.Second, func() bool {
		return strings.Contains(h.logs.String(), "tls: failed to verify certificate: x509: certificate signed by unknown authority")
	})

	cases := []struct {
		name     string
		client   *http.Client
		method   string
		path     string
		token    string
		body     []byte
		wantCode int
		wantBody string
	}{
		{"report without a certificate", noCert, "POST", "/api/v1/agent/reports", agent, reportBody("o1", 1), 403, `{"error":"client certificate required"}`},
		{"report with a certificate", withCert, "POST", "/api/v1/agent/reports", agent, reportBody("o1", 2), 200, `"outcome":"stored"`},
		{"report with a certificate, no token", withCert, "POST", "/api/v1/agent/reports", "", reportBody("o1", 3), 401, "missing bearer token"},
		{"desired config, agent without a certificate", noCert, "GET", "/api/v1/config/orders", agent, nil, 403, `{"error":"client certificate required"}`},
		{"desired config, agent with a certificate", withCert, "GET", "/api/v1/config/orders", agent, nil, 404, "no desired config"},
		{"desired config, viewer without a certificate", noCert, "GET", "/api/v1/config/orders", viewer, nil, 404, "no desired config"},
		{"dashboard without a certificate", noCert, "GET", "/api/v1/dashboard/health", viewer, nil, 200, `"instance":"o1"`},
		{"metrics without a certificate", noCert, "GET", "/metrics", metrics, nil, 200, `centralhub_auth_failures_total{reason="client_cert"} 2`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := callHub(tc.client, tc.method, h.url+tc.path, tc.token, tc.body)
			if a.code != tc.wantCode || !strings.Contains(strings.ReplaceAll(a.body, " ", ""), strings.ReplaceAll(tc.wantBody, " ", "")) {
				t.Fatalf("%s %s: %s; want %d with %s", tc.method, tc.path, a, tc.wantCode, tc.wantBody)
			}
		})
	}
}

// TestNoClientCAAsksNoCertificate: without tls.client_ca_file the hub serves HTTPS, and the
// agent routes take a token alone.
func TestNoClientCAAsksNoCertificate(t *testing.T) {
	h := startTLSHub(t, false)
	c := httpsClient(t, &tls.Config{RootCAs: h.ca.Pool()})
	if a := callHub(c, "POST", h.url+"/api/v1/agent/reports", h.token(t, auth.Agent, "default", "orders"), reportBody("o1", 1)); a.code != 200 {
		t.Fatalf("report over HTTPS without client CAs: %s", a)
	}
	if h.app.Scheme() != "https" {
		t.Fatalf("scheme %q", h.app.Scheme())
	}
}

// presenting makes a client present cert whatever CAs the server names. With Certificates
// instead, a Go client presents only a certificate of a CA the server names, and else none.
func presenting(cert tls.Certificate) func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
}

// servedCert opens a new TLS connection to the hub and returns the certificate it served.
func servedCert(t *testing.T, h *tlsHub, cert *tls.Certificate) (subject string, err error) {
	t.Helper()
	tc := &tls.Config{RootCAs: h.ca.Pool(), ServerName: "127.0.0.1"}
	if cert != nil {
		tc.GetClientCertificate = presenting(*cert)
	}
	conn, err := tls.Dial("tcp", h.app.Addr(), tc)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	// In TLS 1.3 the server judges the client's certificate after the client's handshake is
	// done: a request shows whether it was accepted.
	if _, err := conn.Write([]byte("GET /health HTTP/1.1\r\nHost: hub\r\nConnection: close\r\n\r\n")); err != nil {
		return "", err
	}
	if _, err := io.ReadAll(conn); err != nil {
		return "", err
	}
	return conn.ConnectionState().PeerCertificates[0].Subject.CommonName, nil
}

// TestReloadTLS: a reload serves the certificate and trusts the client CAs now in the files,
// to new connections, without restarting the listener; a reload of a broken file keeps the
// previous ones, logs why (without key material) and says so.
func TestReloadTLS(t *testing.T) {
	h := startTLSHub(t, true)
	good := h.ca.Client(t, "orders-1").TLS(t)
	other := tlstest.NewCA(t, "next client CA")
	next := other.Client(t, "orders-1").TLS(t)
	if cn, err := servedCert(t, h, &good); err != nil || cn != "hub-1" {
		t.Fatalf("before reload: %q %v", cn, err)
	}
	// Renew the server certificate and move to another client CA.
	renewed := h.ca.Server(t, "hub-2")
	renewed.WriteFiles(t, h.dir, "hub")
	other.WriteFile(t, h.dir, "client-ca.pem")
	if err := h.app.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	if cn, err := servedCert(t, h, &next); err != nil || cn != "hub-2" {
		t.Fatalf("after reload, with a certificate of the new client CA: %q %v", cn, err)
	}
	if _, err := servedCert(t, h, &good); err == nil {
		t.Fatal("after reload, a certificate of the old client CA was accepted")
	}
	if !strings.Contains(h.logs.String(), `"msg":"tls reloaded"`) || !strings.Contains(h.logs.String(), `"subject":"CN=hub-2"`) {
		t.Fatalf("no tls reloaded line naming the new subject:\n%s", h.logs.String())
	}

	// A broken key: the reload fails and hub-2 stays.
	if err := os.WriteFile(h.files.KeyFile, []byte("-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.app.ReloadTLS(); err == nil {
		t.Fatal("a reload of a broken key succeeded")
	}
	if cn, err := servedCert(t, h, &next); err != nil || cn != "hub-2" {
		t.Fatalf("after a failed reload: %q %v", cn, err)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "tls reload failed; serving the previous certificate") || strings.Contains(logs, "PRIVATE KEY") || strings.Contains(logs, string(renewed.KeyPEM[40:80])) {
		t.Fatalf("failed reload log:\n%s", logs)
	}
	var line map[string]any
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "tls reload failed") {
			_ = json.Unmarshal([]byte(l), &line)
		}
	}
	if line["level"] != "ERROR" || !strings.Contains(fmt.Sprint(line["err"]), "tls.cert_file, tls.key_file") {
		t.Fatalf("failed reload line %v", line)
	}
}

// TestReloadWithoutTLS: a hub serving plain HTTP has nothing to reload.
func TestReloadWithoutTLS(t *testing.T) {
	a := &App{}
	if err := a.ReloadTLS(); err == nil || a.Scheme() != "http" {
		t.Fatalf("reload %v, scheme %s", err, a.Scheme())
	}
}

func TestDefaultAPIURLScheme(t *testing.T) {
	if got := defaultAPIURL("10.0.0.5:7000", true); got != "https://10.0.0.5:7000" {
		t.Fatalf("with TLS: %s", got)
	}
	if got := defaultAPIURL("10.0.0.5:7000", false); got != "http://10.0.0.5:7000" {
		t.Fatalf("without: %s", got)
	}
}
