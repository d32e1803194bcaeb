package app

import (
	"net/http"
	"testing"
)

// TestCLITransportNoProxyForHTTP: the client commands never send a plain-HTTP request (and its
// token) through a proxy, whatever the environment says; https may use one.
func TestCLITransportNoProxyForHTTP(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://proxy.invalid:3128")
	t.Setenv("http_proxy", "http://proxy.invalid:3128")
	tr, err := cliTransport("")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://hub.example:7000/api/v1/dashboard/summary", nil)
	if u, err := tr.Proxy(req); u != nil || err != nil {
		t.Errorf("proxy for an http hub: %v, %v; want none", u, err)
	}
	if tr.TLSClientConfig == nil || tr.TLSClientConfig.MinVersion < 0x0303 {
		t.Errorf("TLS config %+v, want TLS 1.2 or later", tr.TLSClientConfig)
	}
	if _, err := cliTransport("/nonexistent/ca.pem"); err == nil {
		t.Error("a missing --ca-file was accepted")
	}
}
