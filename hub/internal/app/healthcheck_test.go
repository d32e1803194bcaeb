package app

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"status":"degraded"}`))
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		status int
		want   int
		out    string
	}{
		{name: "200, degraded included", args: []string{"--url", srv.URL + "/health"}, status: 200, want: 0, out: "200 OK"},
		{name: "503", args: []string{"--url", srv.URL + "/health"}, status: 503, want: 1, out: "503 Service Unavailable"},
		{name: "closed port", args: []string{"--url", closedURL + "/health"}, want: 1, out: "connection refused"},
		{name: "port from HUB_LISTEN", env: map[string]string{"HUB_LISTEN": ":" + port}, status: 200, want: 0, out: "GET http://127.0.0.1:" + port + "/health: 200"},
		{name: "not found", args: []string{"--url", srv.URL + "/nope"}, status: 200, want: 1, out: "404"},
		{name: "bad timeout", args: []string{"--url", srv.URL + "/health", "--timeout", "0s"}, want: 1, out: "--timeout"},
		{name: "stray argument", args: []string{"now"}, want: 1, out: `unexpected argument "now"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status = tt.status
			var stdout, stderr bytes.Buffer
			getenv := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			code := Main(context.Background(), append([]string{"healthcheck"}, tt.args...), &stdout, &stderr, getenv)
			if code != tt.want || !strings.Contains(stdout.String()+stderr.String(), tt.out) {
				t.Errorf("exit %d, want %d; output %q %q, want %q in it", code, tt.want, stdout.String(), stderr.String(), tt.out)
			}
		})
	}
}

func TestDefaultHealthURL(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{nil, "http://127.0.0.1:7000/health"},
		{map[string]string{"HUB_LISTEN": "0.0.0.0:8080"}, "http://127.0.0.1:8080/health"},
		{map[string]string{"HUB_LISTEN": "[::]:8080"}, "http://[::1]:8080/health"},
		{map[string]string{"HUB_LISTEN": "10.0.0.5:8080"}, "http://10.0.0.5:8080/health"},
		{map[string]string{"HUB_LISTEN": "junk"}, "http://127.0.0.1:7000/health"},
		{map[string]string{"HUB_LISTEN": ":0"}, "http://127.0.0.1:7000/health"},
		{map[string]string{"HUB_LISTEN": ":7443", "HUB_TLS_CERT_FILE": "/tls/cert.pem"}, "https://127.0.0.1:7443/health"},
	}
	for _, tt := range tests {
		got := defaultHealthURL(func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
		if got != tt.want {
			t.Errorf("defaultHealthURL(%v) = %q, want %q", tt.env, got, tt.want)
		}
	}
}

// TestHealthcheckOverTLS: with HUB_TLS_CERT_FILE set, the default URL is https on loopback and
// passes against a hub whose certificate names neither 127.0.0.1 nor a CA the probe knows; an
// explicit URL is verified unless --tls-skip-verify says otherwise.
func TestHealthcheckOverTLS(t *testing.T) {
	h := startTLSHub(t, false)
	_, port, _ := net.SplitHostPort(h.app.Addr())
	env := map[string]string{"HUB_LISTEN": ":" + port, "HUB_TLS_CERT_FILE": h.files.CertFile}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for _, tt := range []struct {
		args []string
		want int
		out  string
	}{
		{nil, 0, "GET https://127.0.0.1:" + port + "/health: 200"},
		{[]string{"--url", h.url + "/health"}, 1, "certificate"},
		{[]string{"--url", h.url + "/health", "--tls-skip-verify"}, 0, "200 OK"},
	} {
		var stdout, stderr bytes.Buffer
		code := Main(context.Background(), append([]string{"healthcheck"}, tt.args...), &stdout, &stderr, getenv)
		if code != tt.want || !strings.Contains(stdout.String()+stderr.String(), tt.out) {
			t.Errorf("healthcheck %v: exit %d, want %d; output %q %q, want %q in it", tt.args, code, tt.want, stdout.String(), stderr.String(), tt.out)
		}
	}
}
