package check

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/status"
)

// natsServerPath is Debian's nats-server, which the tests start with the options they need.
const natsServerPath = "/usr/sbin/nats-server"

// startNATS starts a nats-server of the test's own on a free loopback port, with args added
// (no JetStream unless they ask for it), and returns its address.
func startNATS(t testing.TB, args ...string) string {
	t.Helper()
	bin := need(t, natsServerPath, "Debian package nats-server")
	addr := closedAddr(t)
	startServer(t, addr, bin, append([]string{"-a", "127.0.0.1", "-p", portOf(t, addr)}, args...)...)
	return addr
}

// TestNATS probes the machine's NATS (with JetStream) and nats-servers of its own: one with a
// user and password and no JetStream, one with a token, one that requires TLS with a
// certificate from the test's CA, and one with JetStream on for one account of two. It checks
// refused credentials ("Authorization Violation"), a missing JetStream (no responders, or an
// account without it), TLS verification, a closed port, a server that is not NATS and one that
// never speaks, and that no password is ever in the output.
func TestNATS(t *testing.T) {
	machine := serverAddr(t, "NATS", "CENTRALHUB_TEST_NATS_ADDR", "127.0.0.1:4222")
	const secret, token = "s3cret-Nats-pass", "t0ken-Nats-secret"
	withUser := startNATS(t, "--user", "probe", "--pass", secret)
	withToken := startNATS(t, "--auth", token)
	ca := newTestCA(t)
	cert, key := ca.serverFiles(t)
	withTLS := startNATS(t, "--tls", "--tlscert", cert, "--tlskey", key)
	// JetStream on, for one account of two.
	accounts := filepath.Join(t.TempDir(), "accounts.conf")
	if err := os.WriteFile(accounts, []byte(fmt.Sprintf("jetstream {store_dir: %q}\naccounts {\n"+
		"  JS: {jetstream: enabled, users: [{user: js, password: %q}]}\n  PLAIN: {users: [{user: plain, password: %q}]}\n}\n",
		t.TempDir(), secret, secret)), 0o600); err != nil {
		t.Fatal(err)
	}
	withAccounts := startNATS(t, "-c", accounts)
	good, bad, goodToken := writeSecret(t, secret), writeSecret(t, "not-the-password"), writeSecret(t, token)

	for _, tc := range []struct {
		name string
		cfg  config.NATSCheck
		want status.Check
		out  []string
	}{
		{"ping", config.NATSCheck{URL: "nats://" + machine}, status.Passing, []string{"nats " + machine + ": PONG in ", " ms (server "}},
		{"jetstream", config.NATSCheck{URL: "nats://" + machine, JetStream: true}, status.Passing, []string{"PONG in ", "JetStream available (", " stream"}},
		{"user and password", config.NATSCheck{URL: "nats://probe@" + withUser, Secret: config.Secret{PasswordFile: good}}, status.Passing, []string{"PONG in "}},
		{"wrong password", config.NATSCheck{URL: "nats://probe@" + withUser, Secret: config.Secret{PasswordFile: bad}}, status.Critical,
			[]string{"nats " + withUser + ": CONNECT: server error: Authorization Violation"}},
		{"no credentials", config.NATSCheck{URL: "nats://" + withUser}, status.Critical, []string{"Authorization Violation"}},
		{"no jetstream", config.NATSCheck{URL: "nats://probe@" + withUser, Secret: config.Secret{PasswordFile: good}, JetStream: true}, status.Critical,
			[]string{"JetStream not available (no responders for $JS.API.INFO)"}},
		{"jetstream account", config.NATSCheck{URL: "nats://js@" + withAccounts, Secret: config.Secret{PasswordFile: good}, JetStream: true}, status.Passing,
			[]string{"JetStream available (0 streams, 0 consumers)"}},
		{"account without jetstream", config.NATSCheck{URL: "nats://plain@" + withAccounts, Secret: config.Secret{PasswordFile: good}, JetStream: true}, status.Critical,
			[]string{"JetStream not available: JetStream not enabled for account (503)"}},
		{"token", config.NATSCheck{URL: "nats://" + withToken, Secret: config.Secret{PasswordFile: goodToken}}, status.Passing, []string{"PONG in "}},
		{"wrong token", config.NATSCheck{URL: "nats://" + withToken, Secret: config.Secret{PasswordFile: bad}}, status.Critical, []string{"Authorization Violation"}},
		{"tls", config.NATSCheck{URL: "tls://" + withTLS, TLS: &config.ClientTLS{CAFile: ca.file}}, status.Passing, []string{"PONG in ", ", TLS)"}},
		{"tls required by the server", config.NATSCheck{URL: "nats://" + withTLS, TLS: &config.ClientTLS{CAFile: ca.file}}, status.Passing, []string{", TLS)"}},
		{"tls required, unknown authority", config.NATSCheck{URL: "nats://" + withTLS}, status.Critical,
			[]string{"TLS handshake: ", "certificate signed by unknown authority"}},
		{"tls asked, not offered", config.NATSCheck{URL: "tls://" + machine}, status.Critical, []string{"TLS asked for, but the server does not offer it"}},
		{"password variable unset", config.NATSCheck{URL: "nats://" + machine, Secret: config.Secret{PasswordEnv: "CENTRALHUB_TEST_NO_SUCH_VAR"}}, status.Critical,
			[]string{"password_env: CENTRALHUB_TEST_NO_SUCH_VAR is not set"}},
		{"nobody listening", config.NATSCheck{URL: "nats://" + closedAddr(t)}, status.Critical, []string{"connection refused"}},
		{"not nats", config.NATSCheck{URL: "nats://" + bannerServer(t, "SSH-2.0-OpenSSH_9.2\r\n")}, status.Critical,
			[]string{`not a NATS server: it greeted with "SSH-2.0-OpenSSH_9.2"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectProbe(t, mustProber(t, NewNATS, tc.cfg), tc.want, tc.out, secret, token, "not-the-password")
		})
	}
	t.Run("context cancelled", func(t *testing.T) {
		r := probeCancelled(mustProber(t, NewNATS, config.NATSCheck{URL: "nats://" + silentServer(t)}))
		expectResult(t, r, status.Critical, []string{"reading INFO: ", "timeout"})
	})
}
