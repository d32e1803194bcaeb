package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// targets is what `loadgen serve-targets` writes to --out: the addresses the agent checks.
type targets struct {
	TCP  []string `json:"tcp"`  // host:port that accept connections
	HTTP []string `json:"http"` // URLs that answer 200
}

// serveTargets listens on loopback with nTCP listeners that accept and close connections and
// nHTTP servers that answer 200 on every path, writes their addresses to --out, and serves
// until stopped: the local services of the agent benchmark.
func serveTargets(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("serve-targets")
	nTCP := fs.Int("tcp", 5, "TCP listeners")
	nHTTP := fs.Int("http", 5, "HTTP servers")
	out := fs.String("out", "", "write the addresses as JSON to this file (required)")
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
	if err := writeJSONFile(*out, tg); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "serving %d TCP and %d HTTP targets\n", len(tg.TCP), len(tg.HTTP))
	<-ctx.Done()
	return nil
}
