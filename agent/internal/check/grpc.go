package check

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/status"
)

// grpcHealthPath is the method the probe calls.
const grpcHealthPath = "/grpc.health.v1.Health/Check"

// grpcMaxBody caps the response read: a HealthCheckResponse is a few bytes.
const grpcMaxBody = 64 << 10

// grpcServingStatus names HealthCheckResponse.ServingStatus.
var grpcServingStatus = map[uint64]string{0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}

// grpcCodes names the gRPC status codes.
var grpcCodes = [...]string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
	"UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}

// GRPC calls the standard gRPC health protocol, grpc.health.v1.Health/Check, over HTTP/2 with
// net/http alone (cleartext HTTP/2, or HTTP/2 over TLS with a tls section), encoding the request
// and decoding the answer itself. Passing when the server answers SERVING; critical when it
// answers anything else, the call fails with a gRPC status (the server has no health service:
// UNIMPLEMENTED; it does not know the service: NOT_FOUND), or the connection does not open.
type GRPC struct {
	cfg       config.GRPCCheck
	url       string
	tls       bool // HTTP/2 over TLS
	transport *http.Transport
}

// NewGRPC returns the prober for a grpc check; a tls section whose files cannot be loaded is an
// error.
func NewGRPC(c *config.GRPCCheck) (*GRPC, error) {
	host, _, err := net.SplitHostPort(c.Address)
	if err != nil {
		return nil, fmt.Errorf("grpc address: %w", err)
	}
	tc, err := clientTLS(c.TLS, host)
	if err != nil {
		return nil, fmt.Errorf("grpc: %w", err)
	}
	var protocols http.Protocols
	scheme := "http"
	if tc != nil {
		scheme = "https"
		protocols.SetHTTP2(true)
	} else {
		protocols.SetUnencryptedHTTP2(true)
	}
	dialer := &net.Dialer{}
	return &GRPC{
		cfg: *c,
		url: (&url.URL{Scheme: scheme, Host: c.Address, Path: grpcHealthPath}).String(),
		tls: tc != nil,
		transport: &http.Transport{
			Protocols:          &protocols,
			TLSClientConfig:    tc,
			DialContext:        dialer.DialContext,
			DisableCompression: true,
			// Every probe opens its own connection, as the other probes do, and leaves none
			// behind between runs.
			DisableKeepAlives: true,
		},
	}, nil
}

// Probe implements Prober.
func (g *GRPC) Probe(ctx context.Context) Result {
	what := "server"
	if g.cfg.Service != "" {
		what = fmt.Sprintf("service %q", g.cfg.Service)
	}
	fail := func(format string, a ...any) Result {
		return Result{status.Critical, fmt.Sprintf("grpc %s: ", g.cfg.Address) + fmt.Sprintf(format, a...)}
	}
	defer g.transport.CloseIdleConnections()

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.url, bytes.NewReader(grpcFrame(grpcHealthRequest(g.cfg.Service))))
	if err != nil {
		return fail("%v", err)
	}
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("TE", "trailers")
	req.Header.Set("User-Agent", "centralhub-agent")
	if dl, ok := ctx.Deadline(); ok {
		// grpc-timeout takes at most 8 digits; milliseconds cover the probe's timeouts.
		if ms := time.Until(dl).Milliseconds(); ms > 0 && ms < 1e8 {
			req.Header.Set("Grpc-Timeout", strconv.FormatInt(ms, 10)+"m")
		}
	}
	start := time.Now()
	resp, err := g.transport.RoundTrip(req)
	if err != nil {
		return fail("%v", g.callError(ctx, err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, grpcMaxBody))
	if err != nil {
		return fail("reading the answer: %v", err)
	}
	rtt := time.Since(start)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/grpc") {
		return fail("not a gRPC answer: HTTP %s, content-type %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	// A failed call may be "trailers-only": its status then comes in the headers.
	code, msg := resp.Trailer.Get("Grpc-Status"), resp.Trailer.Get("Grpc-Message")
	if code == "" {
		code, msg = resp.Header.Get("Grpc-Status"), resp.Header.Get("Grpc-Message")
	}
	if code == "" {
		return fail("the answer has no grpc-status")
	}
	if code != "0" {
		out := fmt.Sprintf("%s: %s", what, grpcCodeName(code))
		if m, err := url.PathUnescape(msg); err == nil { // grpc-message is percent-encoded
			msg = m
		}
		if msg != "" {
			out += ": " + msg
		}
		if code == "12" {
			out += " (the server has no health service)"
		}
		return fail("%s", out)
	}
	msgBytes, err := grpcUnframe(body)
	if err != nil {
		return fail("%v", err)
	}
	st, err := grpcHealthStatus(msgBytes)
	if err != nil {
		return fail("HealthCheckResponse: %v", err)
	}
	name, ok := grpcServingStatus[st]
	if !ok {
		name = fmt.Sprintf("status %d", st)
	}
	out := fmt.Sprintf("%s %s in %.2f ms", what, name, float64(rtt.Microseconds())/1000)
	if st != 1 {
		return fail("%s", out)
	}
	return Result{status.Passing, fmt.Sprintf("grpc %s: %s", g.cfg.Address, out)}
}

// callError words an error of the HTTP/2 call: a failed TLS handshake says so, and a
// cleartext call the server did not take hints at why.
func (g *GRPC) callError(ctx context.Context, err error) string {
	err = grpcCause(err)
	var verify *tls.CertificateVerificationError
	var op *net.OpError
	switch {
	case errors.As(err, &verify):
		return "TLS handshake: " + err.Error()
	case ctx.Err() != nil, errors.As(err, &op) && op.Op == "dial":
		return err.Error()
	case !g.tls:
		return err.Error() + " (no cleartext HTTP/2 there: not a gRPC server, or it wants TLS, which a tls section turns on)"
	}
	return err.Error()
}

// grpcCodeName words a grpc-status value: "NOT_FOUND (grpc-status 5)".
func grpcCodeName(code string) string {
	n, err := strconv.Atoi(code)
	if err != nil || n < 0 || n >= len(grpcCodes) {
		return "grpc-status " + code
	}
	return fmt.Sprintf("%s (grpc-status %d)", grpcCodes[n], n)
}

// grpcCause drops net/http's "Post \"url\":" prefix; the address is in the output already.
func grpcCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// grpcHealthRequest encodes a HealthCheckRequest: field 1, the service name, as a string.
func grpcHealthRequest(service string) []byte {
	if service == "" {
		return nil // proto3 leaves a default value out
	}
	b := []byte{1<<3 | 2}
	b = binary.AppendUvarint(b, uint64(len(service)))
	return append(b, service...)
}

// grpcFrame prefixes a message with gRPC's uncompressed flag and its big-endian length.
func grpcFrame(msg []byte) []byte {
	b := make([]byte, 5, 5+len(msg))
	binary.BigEndian.PutUint32(b[1:], uint32(len(msg)))
	return append(b, msg...)
}

// grpcUnframe returns the one message of a unary answer.
func grpcUnframe(body []byte) ([]byte, error) {
	if len(body) < 5 {
		return nil, fmt.Errorf("an answer of %d bytes, want a gRPC message", len(body))
	}
	if body[0] != 0 {
		return nil, errors.New("a compressed answer, which the probe did not ask for")
	}
	n := binary.BigEndian.Uint32(body[1:5])
	if uint64(n) > uint64(len(body)-5) {
		return nil, fmt.Errorf("a message of %d bytes cut short at %d", n, len(body)-5)
	}
	return body[5 : 5+n], nil
}

// grpcHealthStatus decodes a HealthCheckResponse: field 1, its status, as a varint (absent:
// 0, UNKNOWN); other fields are skipped.
func grpcHealthStatus(msg []byte) (uint64, error) {
	var st uint64
	for len(msg) > 0 {
		key, n := binary.Uvarint(msg)
		if n <= 0 {
			return 0, errors.New("bad field key")
		}
		msg = msg[n:]
		field, wire := key>>3, key&7
		switch wire {
		case 0: // varint
			v, n := binary.Uvarint(msg)
			if n <= 0 {
				return 0, errors.New("bad varint")
			}
			msg = msg[n:]
			if field == 1 {
				st = v
			}
		case 1: // 64-bit
			if len(msg) < 8 {
				return 0, errors.New("truncated field")
			}
			msg = msg[8:]
		case 2: // length-delimited
			l, n := binary.Uvarint(msg)
			if n <= 0 || l > uint64(len(msg)-n) {
				return 0, errors.New("truncated field")
			}
			msg = msg[n+int(l):]
		case 5: // 32-bit
			if len(msg) < 4 {
				return 0, errors.New("truncated field")
			}
			msg = msg[4:]
		default:
			return 0, fmt.Errorf("wire type %d", wire)
		}
	}
	return st, nil
}
