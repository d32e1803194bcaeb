package check

import (
	"bytes"
	"crypto/tls"
	"io"
	"math/rand/v2"
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
	// A server that answers every request with a well-framed response of another correlation id.
	crossed := listenLoopback(t, func(c net.Conn) {
		_, _ = io.ReadFull(c, make([]byte, 4))
		_, _ = c.Write([]byte{0, 0, 0, 4, 0, 0, 0, 99})
	})
	closed, closed2 := closedAddr(t), closedAddr(t)
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
		// The silent seed may use half of the time left, the next one the rest.
		{"one seed silent, the next answers", config.KafkaCheck{Brokers: []string{silentServer(t), plain[0]}}, status.Passing, ", 3 brokers"},
		{"topic that does not exist", config.KafkaCheck{Brokers: plain, Topic: "centralhub-no-such-topic"}, status.Critical,
			"topic centralhub-no-such-topic: UNKNOWN_TOPIC_OR_PARTITION"},
		{"sasl plain", sasl("PLAIN", good), status.Passing, ", topic orders 1 partition"},
		{"sasl scram-sha-256", sasl("SCRAM-SHA-256", good), status.Passing, ", topic orders 1 partition"},
		{"sasl scram-sha-512", sasl("SCRAM-SHA-512", good), status.Passing, ", topic orders 1 partition"},
		{"sasl wrong password", config.KafkaCheck{Brokers: strict, SASLMechanism: "PLAIN", Username: "probe", Secret: config.Secret{PasswordFile: bad}},
			status.Critical, ": authentication failed: SASL_AUTHENTICATION_FAILED: Authentication failed: Invalid username or password"},
		{"sasl right password to the strict cluster", config.KafkaCheck{Brokers: strict, SASLMechanism: "PLAIN", Username: "probe",
			Secret: config.Secret{PasswordFile: good}}, status.Passing, ", 3 brokers"},
		// kfake hangs up on a wrong password (Kafka answers, as above).
		{"sasl scram wrong password", sasl("SCRAM-SHA-256", bad), status.Critical,
			": SASL SCRAM-SHA-256 authentication: the broker closed the connection"},
		{"password variable unset", config.KafkaCheck{Brokers: authed, SASLMechanism: "PLAIN", Username: "probe",
			Secret: config.Secret{PasswordEnv: "CENTRALHUB_TEST_NO_SUCH_VAR"}}, status.Critical, "password_env: CENTRALHUB_TEST_NO_SUCH_VAR is not set"},
		{"tls", config.KafkaCheck{Brokers: tlsed, TLS: &config.ClientTLS{CAFile: ca.file}}, status.Passing, ", 3 brokers"},
		{"tls with an unknown authority", config.KafkaCheck{Brokers: tlsed, TLS: &config.ClientTLS{}}, status.Critical,
			": TLS handshake: tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		{"nobody listening", config.KafkaCheck{Brokers: []string{closed}}, status.Critical, "kafka " + closed + ": connect: connection refused"},
		{"every seed down", config.KafkaCheck{Brokers: []string{closed, closed2}}, status.Critical,
			"kafka " + closed + "," + closed2 + ": " + closed + ", " + closed2 + ": connect: connection refused"},
		{"not kafka", config.KafkaCheck{Brokers: []string{bannerServer(t, "SSH-2.0-OpenSSH_9.2\r\n")}}, status.Critical,
			`: Metadata: not a Kafka broker, or not this protocol (the answer starts "SSH-")`},
		{"crossed answers", config.KafkaCheck{Brokers: []string{crossed}}, status.Critical, "(correlation id 99, want 1)"},
		{"muted server", config.KafkaCheck{Brokers: []string{silentServer(t)}}, status.Critical, ": Metadata: timed out waiting for the broker"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectProbe(t, mustProber(t, NewKafka, tc.cfg), tc.want, []string{tc.out}, secret, "not-the-password")
		})
	}
}

// kafkaMetadataV4 encodes a Metadata v4 response body of two brokers (controller 2) and topic
// orders, whose partition 1 has no leader.
func kafkaMetadataV4() []byte {
	resp := kmsg.NewPtrMetadataResponse()
	resp.Version = 4
	for _, id := range []int32{1, 2} {
		b := kmsg.NewMetadataResponseBroker()
		b.NodeID, b.Host, b.Port, b.Rack = id, "k"+string(rune('0'+id)), 9092, kmsg.StringPtr("r1")
		resp.Brokers = append(resp.Brokers, b)
	}
	resp.ClusterID, resp.ControllerID = kmsg.StringPtr("c1"), 2
	for _, name := range []string{"other", "orders"} {
		topic := kmsg.NewMetadataResponseTopic()
		topic.Topic = kmsg.StringPtr(name)
		for i, leader := range []int32{1, -1, 2} {
			p := kmsg.NewMetadataResponseTopicPartition()
			p.Partition, p.Leader, p.Replicas, p.ISR = int32(i), leader, []int32{1, 2}, []int32{1}
			topic.Partitions = append(topic.Partitions, p)
		}
		resp.Topics = append(resp.Topics, topic)
	}
	return resp.AppendTo(nil)
}

// TestKafkaParseMetadata decodes a Metadata v4 response as kmsg encodes it, and refuses every
// truncation of it and absurd array lengths without panicking.
func TestKafkaParseMetadata(t *testing.T) {
	body := kafkaMetadataV4()
	md, err := kafkaParseMetadata(body, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if md.brokers != 2 || md.controller != 2 || md.topic == nil || *md.topic != (kafkaTopicMetadata{partitions: 3, leaderless: 1}) {
		t.Fatalf("metadata = %+v, topic %+v", md, md.topic)
	}
	if md, err := kafkaParseMetadata(body, "missing"); err != nil || md.topic != nil {
		t.Fatalf("missing topic: %+v, %v", md, err)
	}
	for n := range len(body) {
		if _, err := kafkaParseMetadata(body[:n], "orders"); err == nil || !strings.Contains(err.Error(), "truncated at byte") && !strings.Contains(err.Error(), "array of") {
			t.Fatalf("the first %d of %d bytes: err = %v, want truncated", n, len(body), err)
		}
	}
	huge := bytes.Clone(body)
	copy(huge[4:], []byte{0x7f, 0xff, 0xff, 0xff}) // the broker array's length
	if _, err := kafkaParseMetadata(huge, "orders"); err == nil || !strings.Contains(err.Error(), "array of 2147483647 elements") {
		t.Fatalf("huge broker array: err = %v", err)
	}
	negative := bytes.Clone(body)
	copy(negative[4:], []byte{0xff, 0xff, 0xff, 0xfe})
	if _, err := kafkaParseMetadata(negative, "orders"); err == nil {
		t.Fatal("broker array of length -2: no error")
	}
}

// kafkaGarbage is the seed corpus of FuzzKafkaParse.
func kafkaGarbage() [][]byte {
	return [][]byte{
		kafkaMetadataV4(),
		[]byte("SSH-2.0-OpenSSH_9.2\r\n"),
		{0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff},
		[]byte("r=abc,s=c2FsdA==,i=4096"),
		{0, 58, 0, 5, 'w', 'r', 'o', 'n', 'g', 0xff, 0xff, 0xff, 0xff},
		{0, 0, 0x80, 0, 0, 0},
		nil,
	}
}

// kafkaParseAll runs every response decoder and the SCRAM server-first parser on b.
func kafkaParseAll(b []byte) {
	_, _ = kafkaParseMetadata(b, "orders")
	_, _, _ = kafkaParseHandshake(b)
	_, _, _, _ = kafkaParseAuthenticate(b)
	_, _, _, _ = kafkaParseServerFirst(b, "abc")
}

// TestKafkaParseGarbage runs the decoders on the seed corpus, and on thousands of copies of a
// valid Metadata response with bytes overwritten at random: they may refuse them but must not
// panic.
func TestKafkaParseGarbage(t *testing.T) {
	for _, b := range kafkaGarbage() {
		kafkaParseAll(b)
	}
	valid := kafkaMetadataV4()
	rng := rand.New(rand.NewPCG(1, 2))
	for range 5000 {
		b := bytes.Clone(valid)
		for range 1 + rng.IntN(4) {
			b[rng.IntN(len(b))] = byte(rng.Uint32())
		}
		kafkaParseAll(b[:rng.IntN(len(b)+1)])
	}
}

// FuzzKafkaParse feeds the response decoders and the SCRAM server-first parser garbage: they
// may refuse it but must not panic.
func FuzzKafkaParse(f *testing.F) {
	for _, b := range kafkaGarbage() {
		f.Add(b)
	}
	f.Fuzz(func(_ *testing.T, b []byte) { kafkaParseAll(b) })
}
