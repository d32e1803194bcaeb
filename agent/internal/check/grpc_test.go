package check

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/status"
)

// startGRPC serves srv on a loopback port until the test ends and returns its address.
func startGRPC(t testing.TB, srv *grpc.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return ln.Addr().String()
}

// healthServer is a gRPC server with the standard health service: the server as a whole and
// orders.v1.Orders serving, payments.v1.Payments not.
func healthServer(t testing.TB, opts ...grpc.ServerOption) string {
	t.Helper()
	srv := grpc.NewServer(opts...)
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("orders.v1.Orders", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("payments.v1.Payments", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	return startGRPC(t, srv)
}

// TestGRPC calls grpc-go's own health service, in process: serving, not serving and unknown
// services, a server without the health service, one over TLS with a certificate from the
// test's CA, an HTTP/2 server that is not gRPC, a closed port and a server that is not HTTP/2.
func TestGRPC(t *testing.T) {
	plain := healthServer(t)
	bare := startGRPC(t, grpc.NewServer())
	ca := newTestCA(t)
	withTLS := healthServer(t, grpc.Creds(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{ca.serverCert(t, time.Now().Add(365*24*time.Hour))}, MinVersion: tls.VersionTLS12})))
	web := httptest.NewUnstartedServer(http.NotFoundHandler())
	web.Config.Protocols = new(http.Protocols)
	web.Config.Protocols.SetHTTP1(true)
	web.Config.Protocols.SetUnencryptedHTTP2(true)
	web.Start()
	t.Cleanup(web.Close)

	for _, tc := range []struct {
		name string
		cfg  config.GRPCCheck
		want status.Check
		out  []string
	}{
		{"server serving", config.GRPCCheck{Address: plain}, status.Passing, []string{"grpc " + plain + ": server SERVING in ", " ms"}},
		{"service serving", config.GRPCCheck{Address: plain, Service: "orders.v1.Orders"}, status.Passing, []string{`service "orders.v1.Orders" SERVING in `}},
		{"service not serving", config.GRPCCheck{Address: plain, Service: "payments.v1.Payments"}, status.Critical,
			[]string{`grpc ` + plain + `: service "payments.v1.Payments" NOT_SERVING in `}},
		{"unknown service", config.GRPCCheck{Address: plain, Service: "nope.v1.Nope"}, status.Critical,
			[]string{`service "nope.v1.Nope": NOT_FOUND (grpc-status 5): unknown service`}},
		{"no health service", config.GRPCCheck{Address: bare}, status.Critical,
			[]string{"server: UNIMPLEMENTED (grpc-status 12): unknown service grpc.health.v1.Health (the server has no health service)"}},
		{"tls", config.GRPCCheck{Address: withTLS, Service: "orders.v1.Orders", TLS: &config.ClientTLS{CAFile: ca.file}}, status.Passing,
			[]string{`service "orders.v1.Orders" SERVING in `}},
		{"tls, unknown authority", config.GRPCCheck{Address: withTLS, TLS: &config.ClientTLS{}}, status.Critical,
			[]string{"grpc " + withTLS + ": TLS handshake: ", "certificate signed by unknown authority"}},
		{"plaintext to a tls server", config.GRPCCheck{Address: withTLS}, status.Critical, []string{"grpc " + withTLS + ": ", "or it wants TLS"}},
		{"http/2 but not grpc", config.GRPCCheck{Address: web.Listener.Addr().String()}, status.Critical,
			[]string{`not a gRPC answer: HTTP 404 Not Found, content-type "text/plain; charset=utf-8"`}},
		{"nobody listening", config.GRPCCheck{Address: closedAddr(t)}, status.Critical, []string{"connection refused"}},
		{"not http/2", config.GRPCCheck{Address: bannerServer(t, "SSH-2.0-OpenSSH_9.2\r\n")}, status.Critical, []string{"no cleartext HTTP/2 there: not a gRPC server"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectProbe(t, mustProber(t, NewGRPC, tc.cfg), tc.want, tc.out)
		})
	}
	t.Run("context cancelled", func(t *testing.T) {
		r := probeCancelled(mustProber(t, NewGRPC, config.GRPCCheck{Address: silentServer(t)}))
		expectResult(t, r, status.Critical, []string{"context canceled"})
	})
	if _, err := NewGRPC(&config.GRPCCheck{Address: plain, TLS: &config.ClientTLS{CAFile: ca.file + ".none"}}); err == nil || !strings.Contains(err.Error(), "ca_file") {
		t.Fatalf("a missing ca_file: %v", err)
	}
}

// FuzzGRPCAnswer: the probe's decoding of a gRPC answer body never panics, whatever the server
// sends.
func FuzzGRPCAnswer(f *testing.F) {
	f.Add(grpcFrame([]byte{0x08, 0x01}))
	f.Add(grpcFrame([]byte{0x12, 0x02, 'h', 'i', 0x08, 0x02, 0x1d, 0, 0, 0, 0}))
	f.Add([]byte{0, 0, 0, 0, 9, 0x08})
	f.Add([]byte{1, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, body []byte) {
		if msg, err := grpcUnframe(body); err == nil {
			_, _ = grpcHealthStatus(msg)
		}
	})
}
