package check

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/status"
)

// Kafka asks Kafka brokers for cluster metadata with franz-go (TLS and SASL PLAIN or SCRAM when
// configured): critical when no seed broker answers, authentication fails, or the topic asked
// about does not exist or has an error; warning when some of its partitions have no leader.
type Kafka struct {
	cfg   config.KafkaCheck
	label string      // "kafka seed,seed", the start of every output
	tls   *tls.Config // nil: plaintext
}

// NewKafka returns the prober for a kafka check; a tls section whose files cannot be read is an
// error.
func NewKafka(c *config.KafkaCheck) (*Kafka, error) {
	// No server name by default: franz-go then verifies each broker by the host it dials.
	tc, err := clientTLS(c.TLS, "")
	if err != nil {
		return nil, err
	}
	return &Kafka{cfg: *c, label: "kafka " + strings.Join(c.Brokers, ","), tls: tc}, nil
}

// Probe implements Prober.
func (k *Kafka) Probe(ctx context.Context) Result {
	password, err := k.cfg.Password()
	if err != nil {
		return Result{status.Critical, k.label + ": " + err.Error()}
	}
	res := k.probe(ctx, password)
	res.Output = hideSecret(res.Output, password)
	return res
}

func (k *Kafka) probe(ctx context.Context, password string) Result {
	fail := func(format string, a ...any) Result {
		return Result{status.Critical, k.label + ": " + fmt.Sprintf(format, a...)}
	}
	var dials kafkaDials
	opts := []kgo.Opt{
		kgo.SeedBrokers(k.cfg.Brokers...),
		kgo.ClientID("centralhub-probe"),
		kgo.WithHooks(&dials),
		kgo.DisableClientMetrics(),
	}
	if k.tls != nil {
		opts = append(opts, kgo.DialTLSConfig(k.tls))
	}
	if k.cfg.SASLMechanism != "" {
		m, err := kafkaSASL(k.cfg.SASLMechanism, k.cfg.Username, password)
		if err != nil {
			return fail("%v", err)
		}
		opts = append(opts, kgo.SASL(m))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fail("%v", err)
	}
	defer cl.Close()

	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = false         // asking about a topic must never create it
	req.Topics = []kmsg.MetadataRequestTopic{} // none: only brokers and controller
	if k.cfg.Topic != "" {
		t := kmsg.NewMetadataRequestTopic()
		t.Topic = kmsg.StringPtr(k.cfg.Topic)
		req.Topics = append(req.Topics, t)
	}
	start := time.Now()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fail("%s", kafkaError(ctx, err, dials.last()))
	}
	took := time.Since(start)

	out := fmt.Sprintf("%s: metadata in %s, %s", k.label, millis(took), plural(len(resp.Brokers), "broker"))
	if resp.ControllerID >= 0 {
		out += fmt.Sprintf(", controller %d", resp.ControllerID)
	}
	if k.cfg.Topic == "" {
		return Result{status.Passing, out}
	}
	var topic *kmsg.MetadataResponseTopic
	for i := range resp.Topics {
		if t := &resp.Topics[i]; t.Topic != nil && *t.Topic == k.cfg.Topic {
			topic = t
		}
	}
	switch {
	case topic == nil:
		return fail("topic %s: not in the metadata", k.cfg.Topic)
	case topic.ErrorCode != 0:
		return fail("topic %s: %v", k.cfg.Topic, kerr.ErrorForCode(topic.ErrorCode))
	}
	leaderless := 0
	for _, p := range topic.Partitions {
		if p.Leader < 0 || p.ErrorCode != 0 {
			leaderless++
		}
	}
	out += fmt.Sprintf(", topic %s %s", k.cfg.Topic, plural(len(topic.Partitions), "partition"))
	if leaderless > 0 {
		return Result{status.Warning, out + fmt.Sprintf(", %d without a leader", leaderless)}
	}
	return Result{status.Passing, out}
}

// kafkaSASL is the SASL mechanism of a kafka check (its name upper-cased by the config).
func kafkaSASL(mechanism, user, password string) (sasl.Mechanism, error) {
	switch mechanism {
	case "PLAIN":
		return plain.Auth{User: user, Pass: password}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: user, Pass: password}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: user, Pass: password}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("sasl_mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", mechanism)
}

// kafkaError words a failed metadata request. A refused connection or a failed TLS handshake
// comes back at once; a broker that hangs up is retried until ctx ends, and franz-go then
// reports only that, so the last connection error says why.
func kafkaError(ctx context.Context, err, lastDial error) string {
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.IllegalSaslState), errors.Is(err, kerr.UnsupportedSaslMechanism):
		return "authentication failed: " + err.Error()
	case expired(ctx) && lastDial != nil:
		return fmt.Sprintf("timed out; last connection attempt: %v", lastDial)
	case expired(ctx):
		return "timed out: no broker answered"
	case strings.Contains(err.Error(), "invalid large response size"):
		// franz-go's words for an answer whose first four bytes, read as a length, are absurd.
		return fmt.Sprintf("not a Kafka broker, or not this protocol (%v)", err)
	}
	return err.Error()
}

// kafkaDials is a franz-go hook that keeps the last error connecting to a broker.
type kafkaDials struct {
	mu  sync.Mutex
	err error
}

var _ kgo.HookBrokerConnect = (*kafkaDials)(nil)

// OnBrokerConnect implements kgo.HookBrokerConnect.
func (d *kafkaDials) OnBrokerConnect(meta kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.err = fmt.Errorf("%s: %w", net.JoinHostPort(meta.Host, fmt.Sprint(meta.Port)), err)
}

func (d *kafkaDials) last() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.err
}

// plural words a count of things: "1 broker", "3 brokers".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
