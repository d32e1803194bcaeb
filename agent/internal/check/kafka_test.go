package check

import (
	"bytes"
	"crypto/tls"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/status"
)

// kafkaCluster starts an in-process Kafka cluster (kfake) on loopback until the test ends.
func kafkaCluster(t testing.TB, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// refuseWrongPLAIN makes c answer a SASL PLAIN login whose password is not password as a Kafka
// broker does, with SASL_AUTHENTICATION_FAILED and a message (kfake itself hangs up instead).
func refuseWrongPLAIN(c *kfake.Cluster, password string) {
	c.ControlKey(int16(kmsg.SASLAuthenticate), func(r kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := r.(*kmsg.SASLAuthenticateRequest)
		if parts := bytes.Split(req.SASLAuthBytes, []byte{0}); len(parts) == 3 && string(parts[2]) == password {
			return nil, nil, false // let kfake log it in
		}
		resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		resp.ErrorMessage = kmsg.StringPtr("Authentication failed: Invalid username or password")
		return resp, nil, true
	})
}

// leaderless makes c's metadata, of its first broker alone, say that partition 1 of every
// topic asked about has no leader.
func leaderless(t testing.TB, c *kfake.Cluster) {
	host, port, err := net.SplitHostPort(c.ListenAddrs()[0])
	if err != nil {
		t.Fatal(err)
	}
	portNum, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	c.ControlKey(int16(kmsg.Metadata), func(r kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		req := r.(*kmsg.MetadataRequest)
		resp := req.ResponseKind().(*kmsg.MetadataResponse)
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID, b.Host, b.Port = 0, host, int32(portNum)
		resp.Brokers = []kmsg.MetadataResponseBroker{b}
		resp.ControllerID = 0
		for _, rt := range req.Topics {
			topic := kmsg.NewMetadataResponseTopic()
			topic.Topic = rt.Topic
			for i, leader := range []int32{0, -1} {
				p := kmsg.NewMetadataResponseTopicPartition()
				p.Partition, p.Leader = int32(i), leader
				if leader < 0 {
					p.ErrorCode = kerr.LeaderNotAvailable.Code
				}
				topic.Partitions = append(topic.Partitions, p)
			}
			resp.Topics = append(resp.Topics, topic)
		}
		return resp, nil, true
	})
}

// TestKafka probes in-process Kafka clusters: metadata of three brokers and a topic, a topic
// that does not exist, SASL with each mechanism (and a wrong password, never in the output),
// TLS with and without the right CA, nobody listening, not Kafka and a server that never
// answers.
func TestKafka(t *testing.T) {
	plain := kafkaCluster(t, kfake.NumBrokers(3), kfake.SeedTopics(6, "orders")).ListenAddrs()
	const secret = "s3cret-Probe-pass"
	authed := kafkaCluster(t, kfake.EnableSASL(), kfake.SeedTopics(1, "orders"),
		kfake.Superuser("PLAIN", "probe", secret), kfake.Superuser("SCRAM-SHA-256", "probe", secret), kfake.Superuser("SCRAM-SHA-512", "probe", secret)).ListenAddrs()
	strictCluster := kafkaCluster(t, kfake.EnableSASL(), kfake.Superuser("PLAIN", "probe", secret))
	refuseWrongPLAIN(strictCluster, secret)
	strict := strictCluster.ListenAddrs()
	halfLedCluster := kafkaCluster(t, kfake.NumBrokers(1))
	leaderless(t, halfLedCluster)
	halfLed := halfLedCluster.ListenAddrs()
	ca := newTestCA(t)
	serverTLS := &tls.Config{Certificates: []tls.Certificate{ca.serverCert(t, time.Now().Add(24*time.Hour))}, MinVersion: tls.VersionTLS12}
	tlsed := kafkaCluster(t, kfake.TLS(serverTLS)).ListenAddrs()
	good, bad := writeSecret(t, secret), writeSecret(t, "not-the-password")
	sasl := func(mechanism, file string) config.KafkaCheck {
		return config.KafkaCheck{Brokers: authed, Topic: "orders", SASLMechanism: mechanism, Username: "probe", Secret: config.Secret{PasswordFile: file}}
	}
	for _, tc := range []struct {
		name string
		cfg  config.KafkaCheck
		want status.Check
		out  string
	}{
		{"metadata", config.KafkaCheck{Brokers: plain}, status.Passing, "kafka " + strings.Join(plain, ",") + ": metadata in "},
		{"brokers and controller", config.KafkaCheck{Brokers: plain[:1]}, status.Passing, ", 3 brokers, controller "},
		{"topic", config.KafkaCheck{Brokers: plain, Topic: "orders"}, status.Passing, ", topic orders 6 partitions"},
		{"topic with a partition without a leader", config.KafkaCheck{Brokers: halfLed, Topic: "orders"}, status.Warning,
			", topic orders 2 partitions, 1 without a leader"},
		{"one seed down", config.KafkaCheck{Brokers: []string{closedAddr(t), plain[0]}}, status.Passing, ", 3 brokers"},
		{"topic that does not exist", config.KafkaCheck{Brokers: plain, Topic: "centralhub-no-such-topic"}, status.Critical,
			"topic centralhub-no-such-topic: UNKNOWN_TOPIC_OR_PARTITION"},
		{"sasl plain", sasl("PLAIN", good), status.Passing, ", topic orders 1 partition"},
		{"sasl scram-sha-256", sasl("SCRAM-SHA-256", good), status.Passing, ", topic orders 1 partition"},
		{"sasl scram-sha-512", sasl("SCRAM-SHA-512", good), status.Passing, ", topic orders 1 partition"},
		{"sasl wrong password", config.KafkaCheck{Brokers: strict, SASLMechanism: "PLAIN", Username: "probe", Secret: config.Secret{PasswordFile: bad}},
			status.Critical, "authentication failed: SASL_AUTHENTICATION_FAILED: SASL Authentication failed.: Authentication failed: Invalid username or password"},
		{"sasl right password to the strict cluster", config.KafkaCheck{Brokers: strict, SASLMechanism: "PLAIN", Username: "probe",
			Secret: config.Secret{PasswordFile: good}}, status.Passing, ", 3 brokers"},
		// kfake hangs up on a wrong password (Kafka answers, as above); franz-go then retries
		// until the probe's time is up.
		{"sasl scram wrong password, short timeout", sasl("SCRAM-SHA-256", bad), status.Critical, "timed out; last connection attempt: "},
		{"password variable unset", config.KafkaCheck{Brokers: authed, SASLMechanism: "PLAIN", Username: "probe",
			Secret: config.Secret{PasswordEnv: "CENTRALHUB_TEST_NO_SUCH_VAR"}}, status.Critical, "password_env: CENTRALHUB_TEST_NO_SUCH_VAR is not set"},
		{"tls", config.KafkaCheck{Brokers: tlsed, TLS: &config.ClientTLS{CAFile: ca.file}}, status.Passing, ", 3 brokers"},
		{"tls with an unknown authority", config.KafkaCheck{Brokers: tlsed, TLS: &config.ClientTLS{}}, status.Critical,
			"certificate signed by unknown authority"},
		{"nobody listening", config.KafkaCheck{Brokers: []string{closedAddr(t)}}, status.Critical, "connection refused"},
		{"not kafka", config.KafkaCheck{Brokers: []string{bannerServer(t, "SSH-2.0-OpenSSH_9.2\r\n")}}, status.Critical, "not a Kafka broker"},
		{"muted server", config.KafkaCheck{Brokers: []string{silentServer(t)}}, status.Critical, "timed out"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectProbe(t, mustProber(t, NewKafka, tc.cfg), tc.want, []string{tc.out}, secret, "not-the-password")
		})
	}
}
