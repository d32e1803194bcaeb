package check

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"testing"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/status"
)

// Debian's mosquitto and its password tool, which the tests use for a broker of their own.
const (
	mosquittoPath       = "/usr/sbin/mosquitto"
	mosquittoPasswdPath = "/usr/bin/mosquitto_passwd"
)

// startMosquitto starts a Mosquitto broker of the test's own that refuses anonymous clients and
// knows one user with password; it listens on a plain port and a TLS one (with a certificate
// from ca), whose addresses it returns.
func startMosquitto(t testing.TB, ca *testCA, username, password string) (plain, withTLS string) {
	t.Helper()
	bin := need(t, mosquittoPath, "Debian package mosquitto")
	passwd := need(t, mosquittoPasswdPath, "Debian package mosquitto")
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "passwd")
	if out, err := exec.Command(passwd, "-b", "-c", pwFile, username, password).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v: %s", err, out)
	}
	cert, key := ca.serverFiles(t)
	plain, withTLS = closedAddr(t), closedAddr(t)
	conf := fmt.Sprintf("per_listener_settings false\nallow_anonymous false\npassword_file %s\npersistence false\nlog_dest stderr\n"+
		"listener %s 127.0.0.1\nlistener %s 127.0.0.1\ncertfile %s\nkeyfile %s\n",
		pwFile, portOf(t, plain), portOf(t, withTLS), cert, key)
	if u, err := user.Current(); err == nil && u.Uid == "0" {
		conf += "user root\n" // as root, mosquitto would switch to the mosquitto user, who cannot read the temporary files
	}
	confFile := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(confFile, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	startServer(t, plain, bin, "-c", confFile)
	waitFor(t, "mosquitto's TLS listener", func() bool { return dialable(withTLS) })
	return plain, withTLS
}

// TestMQTT probes the machine's Mosquitto (anonymous clients allowed) and a Mosquitto of its own
// that wants a user name and password, on a plain and a TLS listener: accepted connections, a
// wrong password and no credentials refused with the broker's reason, TLS verification, a closed
// port and a server that is not MQTT; no password is ever in the output.
func TestMQTT(t *testing.T) {
	machine := serverAddr(t, "Mosquitto", "CENTRALHUB_TEST_MQTT_ADDR", "127.0.0.1:1883")
	const secret = "s3cret-Mqtt-pass"
	ca := newTestCA(t)
	own, ownTLS := startMosquitto(t, ca, "probe", secret)
	good, bad := writeSecret(t, secret), writeSecret(t, "not-the-password")

	for _, tc := range []struct {
		name string
		cfg  config.MQTTCheck
		want status.Check
		out  []string
	}{
		{"anonymous", config.MQTTCheck{Address: machine}, status.Passing, []string{"mqtt " + machine + ": connection accepted in ", " ms"}},
		{"client id", config.MQTTCheck{Address: machine, ClientID: "orders-1-mqtt"}, status.Passing, []string{"connection accepted in "}},
		{"user and password", config.MQTTCheck{Address: own, Username: "probe", Secret: config.Secret{PasswordFile: good}}, status.Passing,
			[]string{"connection accepted in "}},
		{"wrong password", config.MQTTCheck{Address: own, Username: "probe", Secret: config.Secret{PasswordFile: bad}}, status.Critical,
			[]string{"mqtt " + own + ": connection refused: not authorized (return code 5)"}},
		{"no credentials", config.MQTTCheck{Address: own}, status.Critical, []string{"connection refused: not authorized (return code 5)"}},
		{"tls", config.MQTTCheck{Address: ownTLS, Username: "probe", Secret: config.Secret{PasswordFile: good}, TLS: &config.ClientTLS{CAFile: ca.file}},
			status.Passing, []string{"connection accepted over TLS in "}},
		{"tls, unknown authority", config.MQTTCheck{Address: ownTLS, Username: "probe", Secret: config.Secret{PasswordFile: good}, TLS: &config.ClientTLS{}},
			status.Critical, []string{"TLS handshake: ", "certificate signed by unknown authority"}},
		{"password variable unset", config.MQTTCheck{Address: machine, Username: "probe", Secret: config.Secret{PasswordEnv: "CENTRALHUB_TEST_NO_SUCH_VAR"}},
			status.Critical, []string{"password_env: CENTRALHUB_TEST_NO_SUCH_VAR is not set"}},
		{"nobody listening", config.MQTTCheck{Address: closedAddr(t)}, status.Critical, []string{"connection refused"}},
		{"not mqtt", config.MQTTCheck{Address: bannerServer(t, "SSH-2.0-OpenSSH_9.2\r\n")}, status.Critical,
			[]string{`CONNACK: not an MQTT broker: it answered "SSH-"`}},
		{"closes at once", config.MQTTCheck{Address: bannerServer(t, "")}, status.Critical,
			[]string{"CONNACK: the broker closed the connection without answering"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectProbe(t, mustProber(t, NewMQTT, tc.cfg), tc.want, tc.out, secret, "not-the-password")
		})
	}
	t.Run("context cancelled", func(t *testing.T) {
		r := probeCancelled(mustProber(t, NewMQTT, config.MQTTCheck{Address: silentServer(t)}))
		expectResult(t, r, status.Critical, []string{"CONNACK: read: ", "timeout"})
	})
}
