package e2e

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/centralhub/centralhub/pkg/auth"
	"github.com/centralhub/centralhub/pkg/tlstest"
)

// tlsHubProc is a real hub serving HTTPS with certificates its test made.
type tlsHubProc struct {
	*proc
	addr     string
	url      string
	ca       *tlstest.CA // issued the hub's certificate (and the agents' good client certificates)
	caFile   string
	certFile string
	keyFile  string
	client   *http.Client // trusts ca; presents no certificate
}

// startTLSHubProc starts `hub serve` over HTTPS, the certificate and key given by
// HUB_TLS_CERT_FILE and HUB_TLS_KEY_FILE, and with clientCA --tls-client-ca-file too; it
// returns once /ready answers 200 over HTTPS.
func startTLSHubProc(t *testing.T, clientCA bool) *tlsHubProc {
	t.Helper()
	dir := t.TempDir()
	h := &tlsHubProc{addr: freePort(t), ca: tlstest.NewCA(t, "e2e CA")}
	h.url = "https://" + h.addr
	h.caFile = h.ca.WriteFile(t, dir, "ca.pem")
	h.certFile, h.keyFile = h.ca.Server(t, "hub-1").WriteFiles(t, dir, "hub")
	args := []string{"serve", "--data-dir", filepath.Join(dir, "data"), "--listen", h.addr}
	if clientCA {
		args = append(args, "--tls-client-ca-file", h.caFile)
	}
	h.proc = start(t, "hub", []string{"HUB_JWT_SECRET=" + secret, "HUB_TLS_CERT_FILE=" + h.certFile, "HUB_TLS_KEY_FILE=" + h.keyFile}, hubBin, args...)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: h.ca.Pool()}
	h.client = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	t.Cleanup(h.client.CloseIdleConnections)
	eventually(t, 20*time.Second, "hub ready over https", func() error {
		code, body := h.get(t, "/ready", "")
		if code != 200 {
			return fmt.Errorf("ready: %d %s", code, body)
		}
		return nil
	})
	return h
}

// get GETs path over HTTPS with token (none when empty); a failed request is code 0 and its
// error.
func (h *tlsHubProc) get(t *testing.T, path, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", h.url+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := h.client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// servedSubject opens a new TLS connection to the hub and returns the common name of the
// certificate it served.
func (h *tlsHubProc) servedSubject() (string, error) {
	conn, err := tls.Dial("tcp", h.addr, &tls.Config{RootCAs: h.ca.Pool()})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Subject.CommonName, nil
}

// instance returns the status of orders/instance on the hub, "" when the hub does not list it.
func (h *tlsHubProc) instance(t *testing.T, instance string) string {
	t.Helper()
	code, body := h.get(t, "/api/v1/dashboard/health?service=orders", issue(t, auth.Viewer, "default", ""))
	if code != 200 {
		t.Fatalf("dashboard health over https without a client certificate: %d %s", code, body)
	}
	var doc healthDoc
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	for _, s := range doc.Services {
		for _, in := range s.Instances {
			if in.Instance == instance {
				return in.Status
			}
		}
	}
	return ""
}

// metric reads one series of the hub's /metrics, with a metrics token and no client
// certificate.
func (h *tlsHubProc) metric(t *testing.T, series string) (float64, error) {
	t.Helper()
	code, body := h.get(t, "/metrics", issue(t, auth.Metrics, "*", ""))
	if code != 200 {
		t.Fatalf("/metrics over https without a client certificate: %d %s", code, body)
	}
	return metricValue(body, series)
}

// TestTLSReloadOnSIGHUP: a real hub re-reads its certificate on SIGHUP and serves the new one
// to new connections, without a restart; a SIGHUP with a broken certificate file keeps the one
// it serves, and the hub stops cleanly afterwards.
func TestTLSReloadOnSIGHUP(t *testing.T) {
	h := startTLSHubProc(t, false)
	if cn, err := h.servedSubject(); err != nil || cn != "hub-1" {
		t.Fatalf("served at start: %q %v", cn, err)
	}
	renewed := h.ca.Server(t, "hub-2")
	renewed.WriteFiles(t, filepath.Dir(h.certFile), "hub")
	if err := syscall.Kill(h.cmd.Process.Pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the renewed certificate served", func() error {
		cn, err := h.servedSubject()
		if err != nil || cn != "hub-2" {
			return fmt.Errorf("served %q %v", cn, err)
		}
		return nil
	})
	if out := h.out.String(); !strings.Contains(out, `"msg":"tls reloaded"`) || !strings.Contains(out, `"subject":"CN=hub-2"`) ||
		!strings.Contains(out, `"serial":"`+renewed.Cert.SerialNumber.String()+`"`) {
		t.Fatalf("no tls reloaded line with the new subject and serial:\n%s", out)
	}

	if err := os.WriteFile(h.certFile, []byte("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(h.cmd.Process.Pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the failed reload logged", func() error {
		if !strings.Contains(h.out.String(), "tls reload failed; serving the previous certificate") {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	if cn, err := h.servedSubject(); err != nil || cn != "hub-2" {
		t.Fatalf("served after a broken reload: %q %v", cn, err)
	}
	if code, body := h.get(t, "/ready", ""); code != 200 {
		t.Fatalf("ready after a broken reload: %d %s", code, body)
	}
	if strings.Contains(h.out.String(), "PRIVATE KEY") {
		t.Fatal("key material in the hub's log")
	}
	h.stop(t)
}

// tlsAgentConfig writes the configuration of agent orders/instance reporting to hubURL, with
// hubTLS (lines of the hub section) and a tcp check of the hub's port.
func tlsAgentConfig(t *testing.T, dir, hubURL, instance, listen, hubTLS, hubAddr string) string {
	t.Helper()
	tokenFile := filepath.Join(dir, instance+".token")
	if err := os.WriteFile(tokenFile, []byte(issue(t, auth.Agent, "default", "orders")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`service: orders
instance: %s
listen: %s
interval: 1s
hub:
  url: %s
  token_file: %s
%schecks:
  - name: hub-port
    tcp: {address: "%s"}
    interval: 1s
    timeout: 500ms
`, instance, listen, hubURL, tokenFile, hubTLS, hubAddr)
	path := filepath.Join(dir, instance+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestAgentsOverMutualTLS: with real binaries and a hub that requires client certificates of
// agents: an agent that trusts the hub's CA and presents a certificate of it reports over HTTPS
// and its instance turns passing; one without a certificate is refused ("client certificate
// required", in its log and its metrics, and in the hub's) and never registers; one whose
// ca_file names another CA refuses the hub's certificate and never registers either.
func TestAgentsOverMutualTLS(t *testing.T) {
	h := startTLSHubProc(t, true)
	dir := t.TempDir()
	certFile, keyFile := h.ca.Client(t, "orders-1").WriteFiles(t, dir, "orders-1")
	otherCA := tlstest.NewCA(t, "another CA").WriteFile(t, dir, "other-ca.pem")
	withCert := fmt.Sprintf("  ca_file: %s\n  cert_file: %s\n  key_file: %s\n", h.caFile, certFile, keyFile)
	noCert := fmt.Sprintf("  ca_file: %s\n", h.caFile)
	wrongCA := fmt.Sprintf("  ca_file: %s\n  cert_file: %s\n  key_file: %s\n", otherCA, certFile, keyFile)

	startAgent(t, tlsAgentConfig(t, dir, h.url, "orders-1", "127.0.0.1:0", withCert, h.addr))
	refusedListen := freePort(t)
	refused := startAgent(t, tlsAgentConfig(t, dir, h.url, "orders-2", refusedListen, noCert, h.addr))
	distrustful := startAgent(t, tlsAgentConfig(t, dir, h.url, "orders-3", "127.0.0.1:0", wrongCA, h.addr))

	eventually(t, 20*time.Second, "orders-1 passing over mutual TLS", func() error {
		if st := h.instance(t, "orders-1"); st != "passing" {
			return fmt.Errorf("status %q", st)
		}
		return nil
	})
	eventually(t, 15*time.Second, "the agent without a certificate refused", func() error {
		if !strings.Contains(refused.out.String(), "client certificate required") {
			return fmt.Errorf("its log does not say so yet")
		}
		res, err := http.Get("http://" + refusedListen + "/metrics")
		if err != nil {
			return err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if n, err := metricValue(string(b), `centralhub_agent_reports_sent_total{result="rejected"}`); err != nil || n < 1 {
			return fmt.Errorf("rejected sends %v %v", n, err)
		}
		return nil
	})
	eventually(t, 15*time.Second, "the agent with another CA refusing the hub", func() error {
		if !strings.Contains(distrustful.out.String(), "certificate signed by unknown authority") {
			return fmt.Errorf("its log does not say so yet")
		}
		return nil
	})
	if n, err := h.metric(t, `centralhub_auth_failures_total{reason="client_cert"}`); err != nil || n < 1 {
		t.Fatalf("hub counted %v client_cert refusals (%v)", n, err)
	}
	for _, in := range []string{"orders-2", "orders-3"} {
		if st := h.instance(t, in); st != "" {
			t.Fatalf("%s registered (%s) without passing TLS", in, st)
		}
	}
}
