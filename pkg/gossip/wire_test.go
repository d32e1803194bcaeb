package gossip_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/centralhub/centralhub/pkg/gossip"
)

// tap is a UDP and TCP relay in front of a member: it forwards everything sent to its
// address to the member's bind address and keeps a copy of every byte it carried.
type tap struct {
	addr string
	mu   sync.Mutex
	seen bytes.Buffer
	udp  net.PacketConn
	tcp  net.Listener
	wg   sync.WaitGroup
}

func newTap(t *testing.T, to string) *tap {
	t.Helper()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenPacket("udp", tcp.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	tp := &tap{addr: tcp.Addr().String(), udp: udp, tcp: tcp}
	dst, err := net.ResolveUDPAddr("udp", to)
	if err != nil {
		t.Fatal(err)
	}
	tp.wg.Go(func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := udp.ReadFrom(buf)
			if err != nil {
				return
			}
			tp.record(buf[:n])
			_, _ = udp.WriteTo(buf[:n], dst)
		}
	})
	tp.wg.Go(func() {
		for {
			in, err := tcp.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", to)
			if err != nil {
				in.Close()
				continue
			}
			tp.wg.Go(func() { tp.pipe(out, in) })
			tp.wg.Go(func() { tp.pipe(in, out) })
		}
	})
	t.Cleanup(func() { udp.Close(); tcp.Close(); tp.wg.Wait() })
	return tp
}

func (tp *tap) pipe(dst, src net.Conn) {
	defer dst.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			tp.record(buf[:n])
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				src.Close()
			}
			return
		}
	}
}

func (tp *tap) record(b []byte) {
	tp.mu.Lock()
	tp.seen.Write(b)
	tp.mu.Unlock()
}

func (tp *tap) bytes() []byte {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return bytes.Clone(tp.seen.Bytes())
}

// capture runs two members, the second behind a tap, until they see each other alive and
// have gossiped for a while, and returns what crossed the tap.
func capture(t *testing.T, keys [][]byte, names [2]string) []byte {
	t.Helper()
	bind := freeAddr(t)
	tp := newTap(t, bind)
	cfg := gossip.DefaultConfig()
	cfg.NodeName, cfg.Bind, cfg.Advertise, cfg.Keys, cfg.Profile = names[1], bind, tp.addr, keys, gossip.ProfileLocal
	cfg.Tags = map[string]string{gossip.TagRole: gossip.RoleAgent, gossip.TagService: names[1]}
	b, err := gossip.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Shutdown() })
	go func() {
		for range b.Events() {
		}
	}()
	a := member(t, names[0], keys, tp.addr)
	eventually(t, 10*time.Second, "both alive, both ways", func() error {
		if states(a)[names[1]] != "alive" || states(b)[names[0]] != "alive" {
			return fmt.Errorf("a sees %v, b sees %v", states(a), states(b))
		}
		return nil
	})
	// Wait until probes (UDP) have crossed the tap too, not only the TCP join.
	start := len(tp.bytes())
	eventually(t, 10*time.Second, "probes through the tap", func() error {
		if len(tp.bytes()) < start+1000 {
			return fmt.Errorf("%d bytes since the join", len(tp.bytes())-start)
		}
		return nil
	})
	return tp.bytes()
}

func TestWireCarriesNoPlaintextNames(t *testing.T) {
	names := [2]string{"tenant-x/payments-api/pay-7", "tenant-x/ledger-writer/ledger-3"}
	t.Run("control: without a key the names are on the wire", func(t *testing.T) {
		seen := capture(t, nil, names)
		if !bytes.Contains(seen, []byte(names[0])) {
			t.Fatalf("the tap carried %d bytes but not the node name: it does not see gossip", len(seen))
		}
	})
	t.Run("encrypted", func(t *testing.T) {
		seen := capture(t, [][]byte{key(t)}, names)
		for _, s := range []string{names[0], names[1], "payments-api", "ledger-writer"} {
			if bytes.Contains(seen, []byte(s)) {
				t.Fatalf("%q crossed the wire in clear (%d bytes captured)", s, len(seen))
			}
		}
		t.Logf("%d encrypted bytes captured, no plaintext names", len(seen))
	})
}
