package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"
)

// targets is what `loadgen serve-targets` writes to --out: the addresses the agent checks.
type targets struct {
	TCP  []string `json:"tcp"`  // host:port that accept connections
	HTTP []string `json:"http"` // URLs that answer 200

	// With --probes, the servers of the probe kinds that have no server on the machine.
	Kafka     string `json:"kafka,omitempty"`     // a kfake broker (the Kafka protocol, in process)
	GRPC      string `json:"grpc,omitempty"`      // grpc-go's own health server, SERVING
	TLS       string `json:"tls,omitempty"`       // a TLS listener with a certificate from TLSCA
	TLSCA     string `json:"tls_ca,omitempty"`    // the PEM file of the CA that issued it
	ZooKeeper string `json:"zookeeper,omitempty"` // answers ruok with imok, as ZooKeeper does
	Products  string `json:"products,omitempty"`  // base URL answering the ClickHouse, ArangoDB and Weaviate readiness paths
}

// serveTargets listens on loopback with nTCP listeners that accept and close connections and
// nHTTP servers that answer 200 on every path, writes their addresses to --out, and serves
// until stopped: the local services of the agent benchmark.
func serveTargets(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("serve-targets")
	nTCP := fs.Int("tcp", 5, "TCP listeners")
	nHTTP := fs.Int("http", 5, "HTTP servers")
	out := fs.String("out", "", "write the addresses as JSON to this file (required)")
	probes := fs.Bool("probes", false, "also serve Kafka (kfake), gRPC health, TLS, ZooKeeper ruok and the products' readiness paths")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("--out is required")
	}
	var (
		tg      targets
		wg      sync.WaitGroup
		closers []io.Closer
	)
	defer func() {
		for _, c := range closers {
			_ = c.Close()
		}
		wg.Wait()
	}()
	for range *nTCP {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		closers = append(closers, ln)
		tg.TCP = append(tg.TCP, ln.Addr().String())
		wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				_ = c.Close()
			}
		})
	}
	for range *nHTTP {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		srv := &http.Server{
			Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, "ok\n")
			}),
			ReadHeaderTimeout: 5 * time.Second,
		}
		closers = append(closers, srv)
		tg.HTTP = append(tg.HTTP, "http://"+ln.Addr().String()+"/healthz")
		wg.Go(func() { _ = srv.Serve(ln) })
	}
	if *probes {
		cs, err := serveProbeTargets(&tg, &wg, filepath.Dir(*out))
		closers = append(closers, cs...)
		if err != nil {
			return err
		}
	}
	if err := writeJSONFile(*out, tg); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "serving %d TCP and %d HTTP targets\n", len(tg.TCP), len(tg.HTTP))
	<-ctx.Done()
	return nil
}

// serveProbeTargets starts, on loopback, the servers of the agent benchmark's probe kinds that
// the machine does not run, fills their addresses into tg, and returns what closes them. The
// agent's cost per probe is the benchmark's subject; these servers only answer in each protocol.
func serveProbeTargets(tg *targets, wg *sync.WaitGroup, dir string) ([]io.Closer, error) {
	var closers []io.Closer
	kafka, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "bench"))
	if err != nil {
		return closers, fmt.Errorf("kafka: %w", err)
	}
	closers = append(closers, closerFunc(kafka.Close))
	tg.Kafka = kafka.ListenAddrs()[0]

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return closers, fmt.Errorf("grpc: %w", err)
	}
	gs := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("", healthgrpc.HealthCheckResponse_SERVING)
	healthgrpc.RegisterHealthServer(gs, hs)
	closers = append(closers, closerFunc(gs.Stop))
	tg.GRPC = ln.Addr().String()
	wg.Go(func() { _ = gs.Serve(ln) })

	cert, caFile, err := benchCertificate(dir)
	if err != nil {
		return closers, err
	}
	tln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		return closers, fmt.Errorf("tls: %w", err)
	}
	closers = append(closers, tln)
	tg.TLS, tg.TLSCA = tln.Addr().String(), caFile
	wg.Go(func() {
		for {
			c, err := tln.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				_ = c.(*tls.Conn).Handshake()
				_, _ = io.Copy(io.Discard, c)
				_ = c.Close()
			}()
		}
	})

	zln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return closers, fmt.Errorf("zookeeper: %w", err)
	}
	closers = append(closers, zln)
	tg.ZooKeeper = zln.Addr().String()
	wg.Go(func() {
		for {
			c, err := zln.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				buf := make([]byte, 4)
				if _, err := io.ReadFull(c, buf); err == nil && string(buf) == "ruok" {
					_, _ = io.WriteString(c, "imok")
				}
				_ = c.Close()
			}()
		}
	})

	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return closers, fmt.Errorf("products: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ping", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "Ok.\n") })
	mux.HandleFunc("GET /_admin/server/availability", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"mode":"default","readOnly":false}`)
	})
	mux.HandleFunc("GET /v1/.well-known/ready", func(http.ResponseWriter, *http.Request) {})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	closers = append(closers, srv)
	tg.Products = "http://" + pln.Addr().String()
	wg.Go(func() { _ = srv.Serve(pln) })
	return closers, nil
}

// closerFunc turns a stop function into an io.Closer.
type closerFunc func()

func (f closerFunc) Close() error { f(); return nil }

// benchCertificate makes a CA and a certificate it issues for 127.0.0.1, and writes the CA's
// PEM to dir for the agent's tls check.
func benchCertificate(dir string) (tls.Certificate, string, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("tls: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "loadgen CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("tls: %w", err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("tls: %w", err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(90 * 24 * time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("tls: %w", err)
	}
	caFile := filepath.Join(dir, "tls-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		return tls.Certificate{}, "", fmt.Errorf("tls: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, caFile, nil
}
