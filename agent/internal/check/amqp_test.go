package check

import (
	"testing"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/status"
)

// amqpAddr is the RabbitMQ server of the tests: CENTRALHUB_TEST_AMQP_ADDR or the machine's
// 127.0.0.1:5672, where guest/guest may log in to the vhost /.
func amqpAddr(t testing.TB) string {
	return serverAddr(t, "RabbitMQ", "CENTRALHUB_TEST_AMQP_ADDR", "127.0.0.1:5672")
}

// TestAMQP probes the real RabbitMQ: guest logging in with the password from a file (and
// refused with a wrong one, the password never in the output), a vhost that does not exist,
// amqps:// to a plaintext port, nobody listening, not AMQP and a server that never answers.
func TestAMQP(t *testing.T) {
	addr := amqpAddr(t)
	const secret = "guest" // RabbitMQ's guest user; the wrong password is the one to keep out of the output
	const wrong = "not-the-Password-9"
	good, bad := writeSecret(t, secret), writeSecret(t, wrong)
	for _, tc := range []struct {
		name string
		cfg  config.AMQPCheck
		want status.Check
		out  string
	}{
		{"password from a file", config.AMQPCheck{URL: "amqp://guest@" + addr + "/", Secret: config.Secret{PasswordFile: good}}, status.Passing,
			"amqp " + addr + ": RabbitMQ "},
		{"guest by default", config.AMQPCheck{URL: "amqp://" + addr}, status.Passing, "amqp " + addr + ": RabbitMQ "},
		{"user without a password", config.AMQPCheck{URL: "amqp://guest@" + addr}, status.Critical, "authentication failed: 403"},
		{"wrong password", config.AMQPCheck{URL: "amqp://guest@" + addr + "/", Secret: config.Secret{PasswordFile: bad}}, status.Critical,
			"authentication failed: 403 username or password not allowed"},
		// RabbitMQ holds a refused login 3 s before it closes the connection.
		{"wrong password, short timeout", config.AMQPCheck{URL: "amqp://guest@" + addr + "/", Secret: config.Secret{PasswordFile: bad}}, status.Critical,
			"timed out in the handshake (a server refusing the credentials may wait 3 s before saying so)"},
		{"password variable unset", config.AMQPCheck{URL: "amqp://guest@" + addr + "/", Secret: config.Secret{PasswordEnv: "CENTRALHUB_TEST_NO_SUCH_VAR"}},
			status.Critical, "password_env: CENTRALHUB_TEST_NO_SUCH_VAR is not set"},
		{"vhost that does not exist", config.AMQPCheck{URL: "amqp://guest@" + addr + "/centralhub-no-such-vhost", Secret: config.Secret{PasswordFile: good}},
			status.Critical, "amqp " + addr + " vhost centralhub-no-such-vhost: refused: 530 NOT_ALLOWED"},
		{"amqps to a plaintext port", config.AMQPCheck{URL: "amqps://guest@" + addr + "/", Secret: config.Secret{PasswordFile: good}}, status.Critical,
			"TLS handshake: "},
		{"nobody listening", config.AMQPCheck{URL: "amqp://guest@" + closedAddr(t) + "/"}, status.Critical, "connection refused"},
		{"not amqp", config.AMQPCheck{URL: "amqp://guest@" + bannerServer(t, "SSH-2.0-OpenSSH_9.2\r\n") + "/"}, status.Critical,
			"not an AMQP 0-9-1 server"},
		{"muted server", config.AMQPCheck{URL: "amqp://guest@" + silentServer(t) + "/"}, status.Critical, "timed out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectProbe(t, mustProber(t, NewAMQP, tc.cfg), tc.want, []string{tc.out}, wrong)
		})
	}
}
