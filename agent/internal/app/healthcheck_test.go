package app

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthURL(t *testing.T) {
	tests := []struct{ listen, want, err string }{
		{listen: "127.0.0.1:7001", want: "http://127.0.0.1:7001/health"},
		{listen: "0.0.0.0:7001", want: "http://127.0.0.1:7001/health"},
		{listen: ":7001", want: "http://127.0.0.1:7001/health"},
		{listen: "[::]:7001", want: "http://[::1]:7001/health"},
		{listen: "10.0.0.7:7001", want: "http://10.0.0.7:7001/health"},
		{listen: "localhost:7001", want: "http://localhost:7001/health"},
		{listen: "127.0.0.1:0", err: "port 0"},
		{listen: "7001", err: "missing port"},
	}
	for _, tt := range tests {
		got, err := HealthURL(tt.listen)
		if got != tt.want || (err == nil) != (tt.err == "") || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("HealthURL(%q) = %q, %v; want %q, %q", tt.listen, got, err, tt.want, tt.err)
		}
	}
}

func TestHealthCheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	if line, err := HealthCheck(context.Background(), addr); err != nil || !strings.Contains(line, `200 OK {"status":"ok"}`) {
		t.Errorf("HealthCheck = %q, %v", line, err)
	}
	status = http.StatusInternalServerError
	if _, err := HealthCheck(context.Background(), addr); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("HealthCheck of a 500 = %v, want an error naming it", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	if _, err := HealthCheck(context.Background(), closed); err == nil {
		t.Errorf("HealthCheck of the closed %s succeeded", closed)
	}
}
