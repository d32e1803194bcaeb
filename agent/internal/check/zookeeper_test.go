package check

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

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
	java := need(t, "java", "Debian package zookeeperd (it brings default-jre)")
	classpath := os.Getenv("CENTRALHUB_TEST_ZOOKEEPER_CLASSPATH")
	if classpath == "" {
		classpath = need(t, zooKeeperClasspath, "Debian package libzookeeper-java, which zookeeperd pulls in; or set CENTRALHUB_TEST_ZOOKEEPER_CLASSPATH")
	}
	dir := t.TempDir()
	addr := closedAddr(t)
	cfg := fmt.Sprintf("tickTime=2000\ndataDir=%s\nclientPort=%s\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n4lw.commands.whitelist=%s\n",
		filepath.Join(dir, "data"), portOf(t, addr), whitelist)
	cfgFile := filepath.Join(dir, "zoo.cfg")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// A small heap and the quick JIT tier: the machine is shared and the server lives seconds.
	startServer(t, addr, java, "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-cp", classpath, "org.apache.zookeeper.server.ZooKeeperServerMain", cfgFile)
	return addr
}

// TestZooKeeper starts two ZooKeepers of its own, one allowing ruok and one whose whitelist
// leaves it out, and probes them, a closed port, a server that is not ZooKeeper and one that
// closes without a word.
func TestZooKeeper(t *testing.T) {
	allowed := startZooKeeper(t, "ruok")
	refused := startZooKeeper(t, "srvr")

	for _, tc := range []struct {
		name string
		addr string
		want status.Check
		out  string
	}{
		{"imok", allowed, status.Passing, "zookeeper " + allowed + ": imok in "},
		{"ruok not whitelisted", refused, status.Critical, "zookeeper " + refused + ": ruok is not allowed: it is not in the server's 4lw.commands.whitelist"},
		{"closes without answering", bannerServer(t, ""), status.Critical, "closed the connection without answering ruok (is ruok in its 4lw.commands.whitelist?)"},
		{"not zookeeper", bannerServer(t, "SSH-2.0-OpenSSH_9.2\r\n"), status.Critical, `answered "SSH-2.0-OpenSSH_9.2" to ruok, want imok`},
		{"nobody listening", closedAddr(t), status.Critical, "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectProbe(t, NewZooKeeper(&config.ZooKeeperCheck{Address: tc.addr}), tc.want, []string{tc.out})
		})
	}
	t.Run("context cancelled", func(t *testing.T) {
		r := probeCancelled(NewZooKeeper(&config.ZooKeeperCheck{Address: silentServer(t)}))
		expectResult(t, r, status.Critical, []string{"ruok: read: ", "timeout"})
	})
}
