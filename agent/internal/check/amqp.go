package check

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/status"
)

// amqpFrameSize is the frame size the probe asks for (amqp091-go's own default under Dial).
const amqpFrameSize = 128 << 10

// AMQP opens an AMQP 0-9-1 connection (RabbitMQ) with amqp091-go: TCP, TLS for amqps:// or a
// tls section, the protocol handshake with PLAIN credentials and the vhost, then a clean close.
// Critical when it cannot connect, the server refuses the credentials or the vhost, or it does
// not speak AMQP.
type AMQP struct {
	cfg     config.AMQPCheck
	uri     amqp.URI
	label   string      // "amqp host:port" (and the vhost, when not "/"), the start of every output
	hasUser bool        // the URL names a user
	tls     *tls.Config // nil: plain TCP
	dialer  net.Dialer
}

// NewAMQP returns the prober for an amqp check; a URL amqp091-go cannot parse, or TLS files
// (of the tls section, or of an amqps:// URL's parameters) that cannot be read, is an error.
func NewAMQP(c *config.AMQPCheck) (*AMQP, error) {
	uri, err := amqp.ParseURI(c.URL)
	if err != nil {
		var ue *url.Error // it quotes the URL; the rest says enough
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("amqp url: %w", err)
	}
	label := "amqp " + net.JoinHostPort(uri.Host, strconv.Itoa(uri.Port))
	if uri.Vhost != "/" {
		label += " vhost " + uri.Vhost
	}
	u, _ := url.Parse(c.URL) // ParseURI has parsed it
	a := &AMQP{cfg: *c, uri: uri, label: label, hasUser: u.User != nil}
	if a.tls, err = a.tlsConfig(); err != nil {
		return nil, err
	}
	return a, nil
}

// Probe implements Prober.
func (a *AMQP) Probe(ctx context.Context) Result {
	password, err := a.cfg.Password()
	if err != nil {
		return Result{status.Critical, a.label + ": " + err.Error()}
	}
	res := a.probe(ctx, password)
	res.Output = hideSecret(res.Output, password)
	return res
}

func (a *AMQP) probe(ctx context.Context, password string) Result {
	fail := func(format string, args ...any) Result {
		return Result{status.Critical, a.label + ": " + fmt.Sprintf(format, args...)}
	}
	conn, err := a.dialer.DialContext(ctx, "tcp", net.JoinHostPort(a.uri.Host, strconv.Itoa(a.uri.Port)))
	if err != nil {
		return fail("%v", err)
	}
	// Closing the socket when ctx ends unblocks every read and write below, including those of
	// amqp091-go's reader goroutine, which then exits.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()
	if a.tls != nil {
		tlsConn := tls.Client(conn, a.tls)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			return fail("TLS handshake: %v", err)
		}
		conn = tlsConn
	}

	heard := &heardConn{Conn: conn}
	// A URL without user info logs in as guest/guest, as amqp091-go's Dial does; a user named
	// in the URL logs in with the secret, or with no password when none is configured.
	user, pass := a.uri.Username, a.uri.Password
	if a.hasUser || a.cfg.Secret.Set() {
		pass = password
	}
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName("centralhub probe")
	start := time.Now()
	c, err := amqp.Open(heard, amqp.Config{
		SASL:       []amqp.Authentication{&amqp.PlainAuth{Username: user, Password: pass}},
		Vhost:      a.uri.Vhost,
		Locale:     "en_US",
		FrameSize:  amqpFrameSize,
		Properties: props,
	})
	if err != nil {
		if expired(ctx) && heard.heard.Load() {
			// RabbitMQ holds a connection whose login it refuses for 3 s before closing it
			// (unless the client advertises authentication_failure_close, which amqp091-go
			// does not), so a short timeout ends there first.
			return fail("timed out in the handshake (a server refusing the credentials may wait 3 s before saying so)")
		}
		if expired(ctx) {
			return fail("timed out: the server sent nothing")
		}
		return fail("%s", amqpError(err))
	}
	took := time.Since(start)
	_ = c.Close() // the handshake is the answer; a failed goodbye changes nothing

	server := "handshake"
	product, _ := c.Properties["product"].(string)
	version, _ := c.Properties["version"].(string)
	if product != "" {
		server = fmt.Sprintf("%s %s handshake", product, version)
	}
	return Result{status.Passing, fmt.Sprintf("%s: %s in %s", a.label, server, millis(took))}
}

// tlsConfig is the probe's TLS configuration: its tls section, or for amqps:// the URL's own
// TLS parameters (cacertfile, certfile, keyfile, server_name_indication); nil for plain amqp://.
func (a *AMQP) tlsConfig() (*tls.Config, error) {
	switch {
	case a.cfg.TLS != nil:
		return clientTLS(a.cfg.TLS, a.uri.Host)
	case a.uri.Scheme == "amqps":
		return clientTLS(&config.ClientTLS{CAFile: a.uri.CACertFile, CertFile: a.uri.CertFile, KeyFile: a.uri.KeyFile,
			ServerName: a.uri.ServerName}, a.uri.Host)
	}
	return nil, nil
}

// amqpError words an amqp091-go error: the server's refusal (credentials: 403 ACCESS_REFUSED;
// vhost: 530 NOT_ALLOWED) or the network's reason.
func amqpError(err error) string {
	var ae *amqp.Error
	if errors.As(err, &ae) {
		switch ae.Code {
		case amqp.AccessRefused:
			return fmt.Sprintf("authentication failed: %d %s", ae.Code, ae.Reason)
		case amqp.FrameError, amqp.SyntaxError:
			return fmt.Sprintf("not an AMQP 0-9-1 server, or it hung up (%s)", ae.Reason)
		}
		return fmt.Sprintf("refused: %d %s", ae.Code, ae.Reason)
	}
	return err.Error()
}

// heardConn notes whether the server has sent anything, to word a timeout.
type heardConn struct {
	net.Conn
	heard atomic.Bool
}

func (c *heardConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.heard.Store(true)
	}
	return n, err
}
