package check

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/status"
)

// natsDefaultPort is the port of a NATS URL that names none.
const natsDefaultPort = "4222"

// natsMaxLine caps a protocol line (an INFO line lists the cluster's URLs, so it can be long).
const natsMaxLine = 64 << 10

// natsMaxPayload caps the JetStream answer read (NATS's own default max_payload).
const natsMaxPayload = 1 << 20

// NATS speaks the little of the NATS client protocol a health probe needs: it reads the server's
// INFO, upgrades to TLS when either side asks for it, sends CONNECT with the credentials, times a
// PING/PONG round trip and, with jetstream, asks $JS.API.INFO for the account's JetStream use.
// Critical when the connection does not open, the server refuses the credentials (its -ERR
// reason is the output), does not PONG, or JetStream does not answer.
type NATS struct {
	cfg     config.NATSCheck
	addr    string      // host:port dialled
	user    string      // the URL's user, if any
	wantTLS bool        // tls section or tls:// URL
	tls     *tls.Config // the tls section's configuration; nil without one
	dialer  net.Dialer
}

// NewNATS returns the prober for a nats check; a URL it cannot read or a tls section whose
// files cannot be loaded is an error.
func NewNATS(c *config.NATSCheck) (*NATS, error) {
	u, err := url.Parse(c.URL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the whole URL
		}
		return nil, fmt.Errorf("nats url: %w", err)
	}
	port := u.Port()
	if port == "" {
		port = natsDefaultPort
	}
	n := &NATS{cfg: *c, addr: net.JoinHostPort(u.Hostname(), port), user: u.User.Username(), wantTLS: c.TLS != nil || u.Scheme == "tls"}
	if n.tls, err = clientTLS(c.TLS, u.Hostname()); err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	return n, nil
}

// natsInfo is the part of the server's INFO the probe reads.
type natsInfo struct {
	Version      string `json:"version"`
	TLSRequired  bool   `json:"tls_required"`
	TLSAvailable bool   `json:"tls_available"`
	Headers      bool   `json:"headers"`
}

// natsConnect is the CONNECT the probe sends.
type natsConnect struct {
	Verbose      bool   `json:"verbose"`
	Pedantic     bool   `json:"pedantic"`
	TLSRequired  bool   `json:"tls_required"`
	Name         string `json:"name"`
	Lang         string `json:"lang"`
	Version      string `json:"version"`
	Protocol     int    `json:"protocol"`
	Headers      bool   `json:"headers"`
	NoResponders bool   `json:"no_responders"`
	User         string `json:"user,omitempty"`
	Pass         string `json:"pass,omitempty"`
	AuthToken    string `json:"auth_token,omitempty"`
}

// Probe implements Prober.
func (n *NATS) Probe(ctx context.Context) Result {
	fail := func(format string, a ...any) Result {
		return Result{status.Critical, fmt.Sprintf("nats %s: ", n.addr) + fmt.Sprintf(format, a...)}
	}
	password, err := n.cfg.Password()
	if err != nil {
		return fail("%v", err)
	}
	raw, err := n.dialer.DialContext(ctx, "tcp", n.addr)
	if err != nil {
		return fail("%v", err)
	}
	var conn net.Conn = raw
	defer func() { conn.Close() }()
	defer connFollowsContext(ctx, raw)()
	c := &natsConn{conn: conn, r: bufio.NewReader(conn)}

	line, err := c.readLine()
	if err != nil {
		return fail("reading INFO: %v", err)
	}
	payload, ok := strings.CutPrefix(line, "INFO ")
	if !ok {
		return fail("not a NATS server: it greeted with %q", clipOutput(line, 60))
	}
	var info natsInfo
	if err := json.Unmarshal([]byte(payload), &info); err != nil {
		return fail("INFO is not JSON: %v", err)
	}
	useTLS := n.wantTLS || info.TLSRequired
	if useTLS {
		if !info.TLSRequired && !info.TLSAvailable {
			return fail("TLS asked for, but the server does not offer it")
		}
		tc := n.tls
		if tc == nil { // the server requires TLS; verify it against the system's roots
			host, _, _ := net.SplitHostPort(n.addr)
			tc = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
		tconn := tls.Client(raw, tc)
		conn = tconn
		if err := tconn.HandshakeContext(ctx); err != nil {
			return fail("TLS handshake: %v", err)
		}
		c = &natsConn{conn: tconn, r: bufio.NewReader(tconn)}
	}

	hello := natsConnect{Name: "centralhub-agent", Lang: "go", Version: "1", Protocol: 1, TLSRequired: useTLS,
		Headers: info.Headers, NoResponders: info.Headers}
	switch {
	case n.user != "":
		hello.User, hello.Pass = n.user, password
	case password != "":
		hello.AuthToken = password
	}
	js, err := json.Marshal(hello)
	if err != nil {
		return fail("CONNECT: %v", err)
	}
	// The first PONG confirms the server took the CONNECT (a refusal comes as -ERR before it);
	// the second round trip is the one timed.
	if err := c.write("CONNECT " + string(js) + "\r\nPING\r\n"); err != nil {
		return fail("CONNECT: %v", err)
	}
	if err := c.awaitPONG(); err != nil {
		return fail("CONNECT: %v", err)
	}
	start := time.Now()
	if err := c.write("PING\r\n"); err != nil {
		return fail("PING: %v", err)
	}
	if err := c.awaitPONG(); err != nil {
		return fail("PING: %v", err)
	}
	rtt := time.Since(start)
	out := fmt.Sprintf("nats %s: PONG in %.2f ms (server %s", n.addr, float64(rtt.Microseconds())/1000, info.Version)
	if useTLS {
		out += ", TLS"
	}
	out += ")"
	if n.cfg.JetStream {
		streams, consumers, err := c.jetStreamInfo()
		if err != nil {
			return fail("%v", err)
		}
		out += fmt.Sprintf(", JetStream available (%s, %s)", countNoun(streams, "stream"), countNoun(consumers, "consumer"))
	}
	return Result{status.Passing, out}
}

// natsConn is a NATS client connection after INFO.
type natsConn struct {
	conn net.Conn
	r    *bufio.Reader
}

func (c *natsConn) write(s string) error {
	if _, err := io.WriteString(c.conn, s); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// readLine reads one protocol line without its CRLF.
func (c *natsConn) readLine() (string, error) {
	var line []byte
	for {
		part, err := c.r.ReadSlice('\n')
		line = append(line, part...)
		if len(line) > natsMaxLine {
			return "", fmt.Errorf("a line longer than %d bytes", natsMaxLine)
		}
		if err == nil {
			return strings.TrimRight(string(line), "\r\n"), nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			if errors.Is(err, io.EOF) {
				return "", errors.New("the server closed the connection")
			}
			return "", fmt.Errorf("read: %w", err)
		}
	}
}

// next reads the next line that is not housekeeping: the server's PINGs are answered, +OK and
// INFO updates skipped, and an -ERR is an error carrying the server's reason.
func (c *natsConn) next() (string, error) {
	for {
		line, err := c.readLine()
		if err != nil {
			return "", err
		}
		verb, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "PING":
			if err := c.write("PONG\r\n"); err != nil {
				return "", err
			}
		case "+OK", "INFO":
		case "-ERR":
			return "", fmt.Errorf("server error: %s", strings.Trim(strings.TrimSpace(rest), "'"))
		default:
			return line, nil
		}
	}
}

// awaitPONG reads until the server's PONG.
func (c *natsConn) awaitPONG() error {
	for {
		line, err := c.next()
		if err != nil {
			return err
		}
		if strings.EqualFold(line, "PONG") {
			return nil
		}
		if !strings.HasPrefix(line, "MSG ") && !strings.HasPrefix(line, "HMSG ") {
			return fmt.Errorf("unexpected %q, want PONG", clipOutput(line, 60))
		}
		if _, _, err := c.readMessage(line); err != nil {
			return err
		}
	}
}

// jetStreamInfo asks $JS.API.INFO, on a unique inbox, for the account's JetStream use. No
// responders (a 503 status) or an error answer means JetStream is not available.
func (c *natsConn) jetStreamInfo() (streams, consumers int, err error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	inbox := "_INBOX.centralhub." + hex.EncodeToString(b[:])
	if err := c.write("SUB " + inbox + " 1\r\nPUB $JS.API.INFO " + inbox + " 0\r\n\r\n"); err != nil {
		return 0, 0, fmt.Errorf("JetStream: %w", err)
	}
	for {
		line, err := c.next()
		if err != nil {
			return 0, 0, fmt.Errorf("JetStream: no answer to $JS.API.INFO: %w", err)
		}
		if strings.EqualFold(line, "PONG") {
			continue
		}
		if !strings.HasPrefix(line, "MSG ") && !strings.HasPrefix(line, "HMSG ") {
			return 0, 0, fmt.Errorf("JetStream: unexpected %q", clipOutput(line, 60))
		}
		hdr, body, err := c.readMessage(line)
		if err != nil {
			return 0, 0, fmt.Errorf("JetStream: %w", err)
		}
		if code := natsStatus(hdr); code != "" {
			if code == "503" {
				return 0, 0, errors.New("JetStream not available (no responders for $JS.API.INFO)")
			}
			return 0, 0, fmt.Errorf("JetStream not available (status %s)", code)
		}
		var info struct {
			Streams   int `json:"streams"`
			Consumers int `json:"consumers"`
			Error     *struct {
				Code        int    `json:"code"`
				Description string `json:"description"`
			} `json:"error"`
		}
		if err := json.Unmarshal(body, &info); err != nil {
			return 0, 0, fmt.Errorf("JetStream: the answer is not JSON: %w", err)
		}
		if info.Error != nil {
			return 0, 0, fmt.Errorf("JetStream not available: %s (%d)", info.Error.Description, info.Error.Code)
		}
		return info.Streams, info.Consumers, nil
	}
}

// readMessage reads the headers and payload announced by a MSG or HMSG line:
// "MSG subject sid [reply] size" or "HMSG subject sid [reply] header-size total-size".
func (c *natsConn) readMessage(line string) (hdr, body []byte, err error) {
	f := strings.Fields(line)
	hsize, total := 0, 0
	switch {
	case f[0] == "MSG" && (len(f) == 4 || len(f) == 5):
		total, err = strconv.Atoi(f[len(f)-1])
	case f[0] == "HMSG" && (len(f) == 5 || len(f) == 6):
		if hsize, err = strconv.Atoi(f[len(f)-2]); err == nil {
			total, err = strconv.Atoi(f[len(f)-1])
		}
	default:
		return nil, nil, fmt.Errorf("bad message line %q", clipOutput(line, 60))
	}
	if err != nil || total < 0 || hsize < 0 || hsize > total || total > natsMaxPayload {
		return nil, nil, fmt.Errorf("bad message line %q", clipOutput(line, 60))
	}
	buf := make([]byte, total+2)
	if _, err := io.ReadFull(c.r, buf); err != nil {
		return nil, nil, fmt.Errorf("read: %w", err)
	}
	return buf[:hsize], buf[hsize:total], nil
}

// natsStatus is the status code of a message's headers ("NATS/1.0 503" gives "503"), "" when
// there is none.
func natsStatus(hdr []byte) string {
	first, _, _ := strings.Cut(string(hdr), "\r\n")
	rest, ok := strings.CutPrefix(first, "NATS/1.0")
	if !ok {
		return ""
	}
	code, _, _ := strings.Cut(strings.TrimSpace(rest), " ")
	return code
}

// countNoun words a count of things: "1 stream", "3 streams".
func countNoun(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return strconv.Itoa(n) + " " + thing + "s"
}

// clipOutput shortens s to at most n bytes for an output.
func clipOutput(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// connFollowsContext makes conn's reads and writes end when ctx does: its deadline becomes the
// connection's, and a cancellation expires it at once. Call the returned function when done.
func connFollowsContext(ctx context.Context, conn net.Conn) (stop func()) {
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	s := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	return func() { s() }
}
