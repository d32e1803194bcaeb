package check

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/status"
)

// mqttKeepAlive is the keep-alive, in seconds, the probe's CONNECT announces.
const mqttKeepAlive = 10

// mqttRefusals are the reasons of the CONNACK return codes 1 to 5 (MQTT 3.1.1, 3.2.2.3).
var mqttRefusals = [...]string{
	1: "unacceptable protocol version",
	2: "identifier rejected",
	3: "server unavailable",
	4: "bad user name or password",
	5: "not authorized",
}

// MQTT speaks the little of MQTT 3.1.1 a health probe needs: CONNECT (clean session, with the
// user name and password when set), the broker's CONNACK, then DISCONNECT. Passing when the
// broker accepts the connection; critical when the connection does not open, the broker refuses
// it (the return code's reason is the output) or does not answer with a CONNACK.
type MQTT struct {
	cfg    config.MQTTCheck
	tls    *tls.Config // nil: plain TCP
	dialer net.Dialer
}

// NewMQTT returns the prober for an mqtt check; a tls section whose files cannot be loaded is
// an error.
func NewMQTT(c *config.MQTTCheck) (*MQTT, error) {
	host, _, err := net.SplitHostPort(c.Address)
	if err != nil {
		return nil, fmt.Errorf("mqtt address: %w", err)
	}
	m := &MQTT{cfg: *c}
	if m.tls, err = clientTLS(c.TLS, host); err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	return m, nil
}

// Probe implements Prober.
func (m *MQTT) Probe(ctx context.Context) Result {
	fail := func(format string, a ...any) Result {
		return Result{status.Critical, fmt.Sprintf("mqtt %s: ", m.cfg.Address) + fmt.Sprintf(format, a...)}
	}
	password, err := m.cfg.Password()
	if err != nil {
		return fail("%v", err)
	}
	clientID := m.cfg.ClientID
	if clientID == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		clientID = "centralhub-" + hex.EncodeToString(b[:]) // 23 characters, MQTT 3.1.1's guaranteed limit
	}
	start := time.Now()
	raw, err := m.dialer.DialContext(ctx, "tcp", m.cfg.Address)
	if err != nil {
		return fail("%v", err)
	}
	var conn net.Conn = raw
	defer func() { conn.Close() }()
	defer connFollowsContext(ctx, raw)()
	if m.tls != nil {
		tconn := tls.Client(raw, m.tls)
		conn = tconn
		if err := tconn.HandshakeContext(ctx); err != nil {
			return fail("TLS handshake: %v", err)
		}
	}
	if _, err := conn.Write(mqttConnect(clientID, m.cfg.Username, password, m.cfg.Secret.Set())); err != nil {
		return fail("CONNECT: write: %v", err)
	}
	code, err := mqttReadCONNACK(conn)
	if err != nil {
		return fail("CONNACK: %v", err)
	}
	rtt := time.Since(start)
	if code != 0 {
		reason := "unknown return code"
		if int(code) < len(mqttRefusals) {
			reason = mqttRefusals[code]
		}
		return fail("connection refused: %s (return code %d)", reason, code)
	}
	_, _ = conn.Write([]byte{0xe0, 0x00}) // DISCONNECT; the broker drops the clean session
	tlsNote := ""
	if m.tls != nil {
		tlsNote = " over TLS"
	}
	return Result{status.Passing, fmt.Sprintf("mqtt %s: connection accepted%s in %.2f ms", m.cfg.Address, tlsNote, float64(rtt.Microseconds())/1000)}
}

// mqttConnect encodes a CONNECT packet: clean session, keep-alive 10 s, and the user name and
// password when given (a password only with a user name, as MQTT 3.1.1 requires).
func mqttConnect(clientID, user, password string, withPassword bool) []byte {
	str := func(b []byte, s string) []byte {
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
		return append(b, s...)
	}
	flags := byte(0x02) // clean session
	body := str(nil, "MQTT")
	body = append(body, 4) // protocol level 4: 3.1.1
	flagAt := len(body)
	body = append(body, flags)
	body = binary.BigEndian.AppendUint16(body, mqttKeepAlive)
	body = str(body, clientID)
	if user != "" {
		flags |= 0x80
		body = str(body, user)
		if withPassword {
			flags |= 0x40
			body = str(body, password)
		}
	}
	body[flagAt] = flags
	pkt := []byte{0x10}
	for n := len(body); ; { // the remaining length, 7 bits a byte
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		pkt = append(pkt, b)
		if n == 0 {
			break
		}
	}
	return append(pkt, body...)
}

// mqttReadCONNACK reads the broker's first packet, which must be a CONNACK, and returns its
// return code.
func mqttReadCONNACK(r io.Reader) (byte, error) {
	var b [4]byte
	n, err := io.ReadFull(r, b[:])
	switch {
	case n == 0 && (errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)):
		return 0, errors.New("the broker closed the connection without answering")
	case n > 0 && b[0] != 0x20:
		return 0, fmt.Errorf("not an MQTT broker: it answered %q", b[:n])
	case err != nil:
		return 0, fmt.Errorf("read: %w", err)
	case b[1] != 2:
		return 0, fmt.Errorf("not an MQTT broker: a CONNACK of %d bytes", b[1])
	}
	return b[3], nil
}
