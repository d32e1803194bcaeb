package check

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/status"
)

// zooKeeperClasspath is Debian's ZooKeeper jar (package libzookeeper-java, which zookeeperd
// pulls in); its manifest names the jars it needs. CENTRALHUB_TEST_ZOOKEEPER_CLASSPATH overrides it.
const zooKeeperClasspath = "/usr/share/java/zookeeper.jar"

// startZooKeeper starts a standalone ZooKeeper of the test's own on a free loopback port, with
// a temporary data directory and the given 4lw.commands.whitelist, and returns its address.
// It skips, naming what is missing, when Java or ZooKeeper is not installed (and fails instead
// under CI=true).
func startZooKeeper(t testing.TB, whitelist string) string {
	t.Helper()
	return startZooKeeperWith(t, "4lw.commands.whitelist="+whitelist+"\n", func(dir string) string { return "" })
}

// startZooKeeperTLS starts a ZooKeeper of the test's own serving only a secureClientPort
// (Netty, TLS) with a certificate from ca, ruok allowed, and returns that port's address.
func startZooKeeperTLS(t testing.TB, ca *testCA) string {
	t.Helper()
	return startZooKeeperWith(t, "4lw.commands.whitelist=ruok\n", func(dir string) string {
		cert := ca.serverCert(t, time.Now().Add(24*time.Hour))
		key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
		if err != nil {
			t.Fatal(err)
		}
		keyStore := filepath.Join(dir, "server.pem") // ZooKeeper's PEM key store: the key, then the chain
		pemData := append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}),
			pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})...)
		if err := os.WriteFile(keyStore, pemData, 0o600); err != nil {
			t.Fatal(err)
		}
		return "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\n" +
			"ssl.keyStore.location=" + keyStore + "\nssl.keyStore.type=PEM\n" +
			"ssl.trustStore.location=" + ca.file + "\nssl.trustStore.type=PEM\nssl.clientAuth=none\n"
	})
}

// startZooKeeperWith starts a ZooKeeper with the configuration lines extra plus those tls
// returns for its directory; with TLS lines it serves a secureClientPort only.
func startZooKeeperWith(t testing.TB, extra string, tls func(dir string) string) string {
	t.Helper()
	java := need(t, "java", "Debian package zookeeperd (it brings default-jre)")
	classpath := os.Getenv("CENTRALHUB_TEST_ZOOKEEPER_CLASSPATH")
	if classpath == "" {
		classpath = need(t, zooKeeperClasspath, "Debian package libzookeeper-java, which zookeeperd pulls in; or set CENTRALHUB_TEST_ZOOKEEPER_CLASSPATH")
	}
	dir := t.TempDir()
	addr := closedAddr(t)
	cfg := fmt.Sprintf("tickTime=2000\ndataDir=%s\nadmin.enableServer=false\n%s", filepath.Join(dir, "data"), extra)
	if lines := tls(dir); lines != "" {
		// Debian's zookeeper.jar manifest leaves out the Netty codec its Netty (TLS) connection
		// factory needs; the same package set ships it.
		classpath += ":" + need(t, "/usr/share/java/netty-codec.jar", "Debian package libnetty-java, which zookeeperd pulls in")
		cfg += fmt.Sprintf("secureClientPort=%s\nsecureClientPortAddress=127.0.0.1\n%s", portOf(t, addr), lines)
	} else {
		cfg += fmt.Sprintf("clientPort=%s\nclientPortAddress=127.0.0.1\n", portOf(t, addr))
	}
	cfgFile := filepath.Join(dir, "zoo.cfg")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// A small heap and the quick JIT tier: the machine is shared and the server lives seconds.
	startServer(t, addr, java, "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-cp", classpath, "org.apache.zookeeper.server.ZooKeeperServerMain", cfgFile)
	return addr
}

// TestZooKeeper starts three ZooKeepers of its own, one allowing ruok, one whose whitelist
// leaves it out and one serving TLS only, and probes them, a closed port, a server that is not ZooKeeper and one that
// closes without a word.
func TestZooKeeper(t *testing.T) {
	allowed := startZooKeeper(t, "ruok")
	refused := startZooKeeper(t, "srvr")
	ca := newTestCA(t)
	secure := startZooKeeperTLS(t, ca)

	for _, tc := range []struct {
		name string
		addr string
		tls  *config.ClientTLS
		want status.Check
		out  string
	}{
		{"imok", allowed, nil, status.Passing, "zookeeper " + allowed + ": imok in "},
		{"ruok not whitelisted", refused, nil, status.Critical, "zookeeper " + refused + ": ruok is not allowed: it is not in the server's 4lw.commands.whitelist"},
		{"closes without answering", bannerServer(t, ""), nil, status.Critical, "closed the connection without answering ruok (is ruok in its 4lw.commands.whitelist?)"},
		{"not zookeeper", bannerServer(t, "SSH-2.0-OpenSSH_9.2\r\n"), nil, status.Critical, `answered "SSH-2.0-OpenSSH_9.2" to ruok, want imok`},
		{"nobody listening", closedAddr(t), nil, status.Critical, "connection refused"},
		{"imok over TLS", secure, &config.ClientTLS{CAFile: ca.file}, status.Passing, "zookeeper " + secure + ": imok in "},
		{"TLS, unknown authority", secure, &config.ClientTLS{}, status.Critical, "certificate signed by unknown authority"},
		{"plain probe of the TLS port", secure, nil, status.Critical, "zookeeper " + secure + ": "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectProbe(t, mustProber(t, NewZooKeeper, config.ZooKeeperCheck{Address: tc.addr, TLS: tc.tls}), tc.want, []string{tc.out})
		})
	}
	t.Run("context cancelled", func(t *testing.T) {
		r := probeCancelled(mustProber(t, NewZooKeeper, config.ZooKeeperCheck{Address: silentServer(t)}))
		expectResult(t, r, status.Critical, []string{"ruok: read: ", "timeout"})
	})
}
