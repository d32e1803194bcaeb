package e2e

import (
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/centralhub/centralhub/hub/internal/pgtest"
)

// tcpProxy is a TCP proxy in front of a server (the test PostgreSQL server, a hub) that the
// test can cut: every proxied connection is closed at once and new ones are accepted and closed
// at once, until restore. Its listener stays open throughout, so its port never changes hands.
type tcpProxy struct {
	ln       net.Listener
	upstream string

	mu     sync.Mutex
	cutOff bool
	closed bool
	conns  map[net.Conn]struct{} // both ends of every proxied connection
	wg     sync.WaitGroup

	forwarded, refused atomic.Int64
}

// newPGProxy proxies the server databaseURL names.
func newPGProxy(t *testing.T, databaseURL string) *tcpProxy {
	t.Helper()
	u, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatalf("%s: %v", pgtest.EnvURL, err)
	}
	if u.Hostname() == "" {
		t.Fatalf("%s names no host to proxy", pgtest.EnvURL)
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	return newTCPProxy(t, net.JoinHostPort(u.Hostname(), port))
}

// newTCPProxy proxies upstream (host:port) on a loopback port of its own.
func newTCPProxy(t *testing.T, upstream string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, upstream: upstream, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.serve)
	t.Cleanup(p.close)
	return p
}

// url is databaseURL with its host and port replaced by the proxy's.
func (p *tcpProxy) url(t *testing.T, databaseURL string) string {
	t.Helper()
	u, err := url.Parse(databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = p.ln.Addr().String()
	return u.String()
}

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		if p.cutOff || p.closed {
			p.mu.Unlock()
			p.refused.Add(1)
			_ = c.Close()
			continue
		}
		p.conns[c] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.forward(c)
	}
}

func (p *tcpProxy) forward(c net.Conn) {
	defer p.wg.Done()
	up, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
	p.mu.Lock()
	if _, live := p.conns[c]; err != nil || !live { // the upstream failed, or a cut came meanwhile
		delete(p.conns, c)
		p.mu.Unlock()
		_ = c.Close()
		if up != nil {
			_ = up.Close()
		}
		return
	}
	p.conns[up] = struct{}{}
	p.mu.Unlock()
	p.forwarded.Add(1)
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done
	_ = c.Close()
	_ = up.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// cut closes every proxied connection at once and refuses new ones until restore.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutOff = true
	for c := range p.conns {
		_ = c.Close()
		delete(p.conns, c)
	}
}

// restore forwards new connections again.
func (p *tcpProxy) restore() {
	p.mu.Lock()
	p.cutOff = false
	p.mu.Unlock()
}

func (p *tcpProxy) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	_ = p.ln.Close()
	p.cut()
	p.wg.Wait()
}
