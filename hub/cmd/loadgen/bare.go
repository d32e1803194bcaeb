package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/centralhub/centralhub/pkg/protocol"
)

// bareAnswer is what the bare handler answers: as long as the hub's answer to a heartbeat, so
// that the two differ in the work they do and not in the bytes they send.
var bareAnswer = []byte(`{"outcome":"heartbeat","status":"passing"}` + "\n")

var (
	barePool    = sync.Pool{New: func() any { return new(bytes.Buffer) }}
	bareReports = sync.Pool{New: func() any { return new(protocol.Report) }}
)

// bareHandler reads the body into a pooled buffer, decodes it into a pooled protocol.Report the
// way the hub does (protocol.UnmarshalInto), and answers 200; nothing else: the floor that the
// hub's ingest is compared with.
func bareHandler(w http.ResponseWriter, r *http.Request) {
	buf := barePool.Get().(*bytes.Buffer)
	buf.Reset()
	defer barePool.Put(buf)
	if _, err := buf.ReadFrom(r.Body); err != nil {
		http.Error(w, `{"error":"read body"}`, http.StatusBadRequest)
		return
	}
	rep := bareReports.Get().(*protocol.Report)
	defer bareReports.Put(rep)
	if err := protocol.UnmarshalInto(buf.Bytes(), rep); err != nil {
		http.Error(w, `{"error":"bad json"}`, http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(bareAnswer)
}

// serveBare serves bareHandler on every path until ctx ends.
func serveBare(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("serve-bare")
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	addrFile := fs.String("addr-file", "", "write the address listened on to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// The same server settings as the hub's, so that only the handler differs.
	srv := &http.Server{
		Handler:           http.HandlerFunc(bareHandler),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	return serveUntilDone(ctx, srv, ln, *addrFile, stdout)
}

// serveUntilDone serves srv on ln, announces the address on stdout (and in addrFile), and shuts
// down when ctx ends.
func serveUntilDone(ctx context.Context, srv *http.Server, ln net.Listener, addrFile string, stdout io.Writer) error {
	addr := ln.Addr().String()
	if addrFile != "" {
		if err := os.WriteFile(addrFile, []byte(addr+"\n"), 0o644); err != nil {
			_ = ln.Close()
			return fmt.Errorf("write address: %w", err)
		}
	}
	fmt.Fprintf(stdout, "listening on http://%s\n", addr)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
