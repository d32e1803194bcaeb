package check

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/status"
)

// The little of the Kafka protocol the probe speaks: request header v1, response header v0,
// and three APIs at versions every broker since Kafka 1.0 serves (and Kafka 4.0 still does).
const (
	kafkaClientID         = "centralhub-agent"
	kafkaMaxResponse      = 16 << 20 // bytes; a larger size prefix is not a Kafka answer
	kafkaMetadata         = 3        // Metadata v4: allow_auto_topic_creation is v4's
	kafkaMetadataVersion  = 4
	kafkaSASLHandshake    = 17 // v1: the SASL exchange goes in SaslAuthenticate requests
	kafkaSASLHandshakeV   = 1
	kafkaSASLAuthenticate = 36 // v0
	kafkaSCRAMMaxIter     = 1 << 16
)

// kafkaErrorNames are the names of the Kafka error codes the probe may meet.
var kafkaErrorNames = map[int16]string{
	3:  "UNKNOWN_TOPIC_OR_PARTITION",
	5:  "LEADER_NOT_AVAILABLE",
	6:  "NOT_LEADER_OR_FOLLOWER",
	9:  "REPLICA_NOT_AVAILABLE",
	17: "INVALID_TOPIC_EXCEPTION",
	29: "TOPIC_AUTHORIZATION_FAILED",
	31: "CLUSTER_AUTHORIZATION_FAILED",
	33: "UNSUPPORTED_SASL_MECHANISM",
	34: "ILLEGAL_SASL_STATE",
	35: "UNSUPPORTED_VERSION",
	58: "SASL_AUTHENTICATION_FAILED",
}

// kafkaErrorName words a Kafka error code: its name, or its number.
func kafkaErrorName(code int16) string {
	if name, ok := kafkaErrorNames[code]; ok {
		return name
	}
	return fmt.Sprintf("Kafka error code %d", code)
}

// Kafka asks Kafka brokers for cluster metadata, speaking the protocol itself (TLS and SASL
// PLAIN or SCRAM when configured): critical when no seed broker answers, authentication fails,
// or the topic asked about does not exist or has an error; warning when some of its partitions
// have no leader.
type Kafka struct {
	cfg    config.KafkaCheck
	label  string      // "kafka seed,seed", the start of every output
	tls    *tls.Config // nil: plaintext
	dialer net.Dialer
}

// NewKafka returns the prober for a kafka check; a tls section whose files cannot be read is an
// error.
func NewKafka(c *config.KafkaCheck) (*Kafka, error) {
	// No server name by default: each broker is then verified by the host it is dialled at.
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

// kafkaRefusal is a broker's answer that ends the probe: trying another seed would only be
// refused as well (a wrong password, a mechanism not enabled).
type kafkaRefusal struct{ msg string }

func (r *kafkaRefusal) Error() string { return r.msg }

// kafkaNotKafka is an answer that is not the Kafka protocol.
type kafkaNotKafka struct{ why string }

func (e *kafkaNotKafka) Error() string {
	return "not a Kafka broker, or not this protocol (" + e.why + ")"
}

func (k *Kafka) probe(ctx context.Context, password string) Result {
	var failed kafkaSeedErrors
	for i, addr := range k.cfg.Brokers {
		// A seed that never answers may use only its share of the time left, so the
		// next ones are still tried.
		sctx, cancel := ctx, context.CancelFunc(func() {})
		if dl, ok := ctx.Deadline(); ok {
			sctx, cancel = context.WithTimeout(ctx, time.Until(dl)/time.Duration(len(k.cfg.Brokers)-i))
		}
		start := time.Now()
		md, err := k.ask(sctx, addr, password)
		took := time.Since(start)
		cancel()
		if err == nil {
			return k.judge(md, took)
		}
		var refused *kafkaRefusal
		if errors.As(err, &refused) {
			return Result{status.Critical, k.label + ": " + err.Error()}
		}
		failed.add(addr, err.Error())
		if ctx.Err() != nil {
			break
		}
	}
	out := failed.String()
	if len(failed.addrs) == 1 && len(k.cfg.Brokers) == 1 {
		out = failed.msgs[0] // the label names the one seed
	}
	if n := len(k.cfg.Brokers) - failed.n; n > 0 {
		out += fmt.Sprintf("; no time left to try the other %s", plural(n, "seed"))
	}
	return Result{status.Critical, k.label + ": " + out}
}

// kafkaSeedErrors gathers why each seed tried failed, the seeds that failed alike together.
type kafkaSeedErrors struct {
	msgs  []string   // in the order first met
	addrs [][]string // the seeds of each message
	n     int        // seeds tried
}

func (e *kafkaSeedErrors) add(addr, msg string) {
	e.n++
	for i, m := range e.msgs {
		if m == msg {
			e.addrs[i] = append(e.addrs[i], addr)
			return
		}
	}
	e.msgs = append(e.msgs, msg)
	e.addrs = append(e.addrs, []string{addr})
}

// String words the failures as "seed, seed: why; seed: why".
func (e *kafkaSeedErrors) String() string {
	parts := make([]string, len(e.msgs))
	for i, m := range e.msgs {
		parts[i] = strings.Join(e.addrs[i], ", ") + ": " + m
	}
	return strings.Join(parts, "; ")
}

// judge words the metadata of the broker that answered.
func (k *Kafka) judge(md *kafkaMetadataResponse, took time.Duration) Result {
	out := fmt.Sprintf("%s: metadata in %s, %s", k.label, millis(took), plural(md.brokers, "broker"))
	if md.controller >= 0 {
		out += fmt.Sprintf(", controller %d", md.controller)
	}
	if k.cfg.Topic == "" {
		return Result{status.Passing, out}
	}
	fail := func(format string, a ...any) Result {
		return Result{status.Critical, k.label + ": " + fmt.Sprintf(format, a...)}
	}
	t := md.topic
	switch {
	case t == nil:
		return fail("topic %s: not in the metadata", k.cfg.Topic)
	case t.errorCode != 0:
		return fail("topic %s: %s", k.cfg.Topic, kafkaErrorName(t.errorCode))
	}
	out += fmt.Sprintf(", topic %s %s", k.cfg.Topic, plural(t.partitions, "partition"))
	if t.leaderless > 0 {
		return Result{status.Warning, out + fmt.Sprintf(", %d without a leader", t.leaderless)}
	}
	return Result{status.Passing, out}
}

// ask connects to one broker, authenticates when configured and asks it for metadata.
func (k *Kafka) ask(ctx context.Context, addr, password string) (*kafkaMetadataResponse, error) {
	raw, err := k.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, errors.New("connect: timed out")
		}
		if op := (*net.OpError)(nil); errors.As(err, &op) && op.Op == "dial" && op.Err != nil {
			err = op.Err // the address is already said
		}
		return nil, err
	}
	defer raw.Close()
	defer connFollowsContext(ctx, raw)()
	c := &kafkaConn{Conn: raw}
	if k.tls != nil {
		tc := k.tls
		if tc.ServerName == "" {
			tc = tc.Clone()
			tc.ServerName, _, _ = net.SplitHostPort(addr)
		}
		tconn := tls.Client(raw, tc)
		if err := tconn.HandshakeContext(ctx); err != nil {
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		c.Conn = tconn
	}
	if k.cfg.SASLMechanism != "" {
		if err := k.authenticate(c, password); err != nil {
			return nil, err
		}
	}
	var topics []string
	if k.cfg.Topic != "" {
		topics = []string{k.cfg.Topic}
	}
	resp, err := c.roundTrip(kafkaMetadata, kafkaMetadataVersion, kafkaMetadataRequest(topics))
	if err != nil {
		//lint:ignore ST1005 Metadata is the Kafka request's name, as the output shows it
		return nil, fmt.Errorf("Metadata: %w", err)
	}
	md, err := kafkaParseMetadata(resp, k.cfg.Topic)
	if err != nil {
		return nil, &kafkaNotKafka{"Metadata response: " + err.Error()}
	}
	return md, nil
}

// authenticate runs the SASL handshake and exchange of the configured mechanism on c.
func (k *Kafka) authenticate(c *kafkaConn, password string) error {
	mech := k.cfg.SASLMechanism
	resp, err := c.roundTrip(kafkaSASLHandshake, kafkaSASLHandshakeV, kafkaAppendString(nil, mech))
	if err != nil {
		return fmt.Errorf("SASL handshake: %w", err)
	}
	code, offered, err := kafkaParseHandshake(resp)
	if err != nil {
		return &kafkaNotKafka{"SaslHandshake response: " + err.Error()}
	}
	if code != 0 {
		msg := "authentication failed: " + kafkaErrorName(code)
		if code == 33 { // UNSUPPORTED_SASL_MECHANISM
			msg += fmt.Sprintf(": the broker offers %s, not %s", strings.Join(offered, ", "), mech)
		}
		return &kafkaRefusal{msg}
	}
	exchange := func(msg []byte) ([]byte, error) {
		resp, err := c.roundTrip(kafkaSASLAuthenticate, 0, kafkaAppendBytes(nil, msg))
		if err != nil {
			return nil, fmt.Errorf("SASL %s authentication: %w", mech, err)
		}
		code, message, auth, err := kafkaParseAuthenticate(resp)
		switch {
		case err != nil:
			return nil, &kafkaNotKafka{"SaslAuthenticate response: " + err.Error()}
		case code != 0 && message != "":
			return nil, &kafkaRefusal{"authentication failed: " + kafkaErrorName(code) + ": " + message}
		case code != 0:
			return nil, &kafkaRefusal{"authentication failed: " + kafkaErrorName(code)}
		}
		return auth, nil
	}
	switch mech {
	case "PLAIN":
		_, err = exchange([]byte("\x00" + k.cfg.Username + "\x00" + password))
		return err
	case "SCRAM-SHA-256":
		return kafkaSCRAM(sha256.New, k.cfg.Username, password, exchange)
	case "SCRAM-SHA-512":
		return kafkaSCRAM(sha512.New, k.cfg.Username, password, exchange)
	}
	return &kafkaRefusal{fmt.Sprintf("sasl_mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", mech)}
}

// kafkaSCRAM authenticates with SCRAM (RFC 5802, RFC 7677) over exchange, which sends one
// client message and returns the server's; it checks the server's signature too.
func kafkaSCRAM(h func() hash.Hash, user, password string, exchange func([]byte) ([]byte, error)) error {
	var nb [24]byte
	_, _ = rand.Read(nb[:])
	nonce := base64.RawStdEncoding.EncodeToString(nb[:])
	user = strings.NewReplacer("=", "=3D", ",", "=2C").Replace(user)
	clientFirstBare := "n=" + user + ",r=" + nonce
	serverFirst, err := exchange([]byte("n,," + clientFirstBare))
	if err != nil {
		return err
	}
	fullNonce, salt, iter, err := kafkaParseServerFirst(serverFirst, nonce)
	if err != nil {
		return &kafkaRefusal{"authentication failed: SCRAM server-first message: " + err.Error()}
	}
	salted, err := pbkdf2.Key(h, password, salt, iter, h().Size())
	if err != nil {
		return &kafkaRefusal{"authentication failed: SCRAM: " + err.Error()}
	}
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(h, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	finalNoProof := "c=biws,r=" + fullNonce // biws: base64 of the GS2 header "n,,"
	authMessage := clientFirstBare + "," + string(serverFirst) + "," + finalNoProof
	clientKey := mac(salted, "Client Key")
	stored := h()
	stored.Write(clientKey)
	proof := mac(stored.Sum(nil), authMessage)
	for i := range proof {
		proof[i] ^= clientKey[i]
	}
	serverFinal, err := exchange([]byte(finalNoProof + ",p=" + base64.StdEncoding.EncodeToString(proof)))
	if err != nil {
		return err
	}
	want := mac(mac(salted, "Server Key"), authMessage)
	sf := string(serverFinal)
	switch {
	case strings.HasPrefix(sf, "e="):
		return &kafkaRefusal{"authentication failed: SCRAM: " + sf[2:]}
	case !strings.HasPrefix(sf, "v="):
		return &kafkaRefusal{"authentication failed: SCRAM server-final message without a signature"}
	}
	got, err := base64.StdEncoding.DecodeString(strings.SplitN(sf[2:], ",", 2)[0])
	if err != nil || !hmac.Equal(got, want) {
		return &kafkaRefusal{"authentication failed: SCRAM: the server's signature does not verify"}
	}
	return nil
}

// kafkaParseServerFirst reads a SCRAM server-first message "r=nonce,s=salt,i=iterations": the
// nonce must extend the client's.
func kafkaParseServerFirst(msg []byte, clientNonce string) (nonce string, salt []byte, iter int, err error) {
	for _, attr := range strings.Split(string(msg), ",") {
		k, v, _ := strings.Cut(attr, "=")
		switch k {
		case "e":
			return "", nil, 0, errors.New(v)
		case "r":
			nonce = v
		case "s":
			if salt, err = base64.StdEncoding.DecodeString(v); err != nil {
				return "", nil, 0, errors.New("salt is not base64")
			}
		case "i":
			if iter, err = strconv.Atoi(v); err != nil || iter < 1 || iter > kafkaSCRAMMaxIter {
				return "", nil, 0, fmt.Errorf("iteration count %q out of range", v)
			}
		}
	}
	switch {
	case !strings.HasPrefix(nonce, clientNonce) || len(nonce) == len(clientNonce):
		return "", nil, 0, errors.New("the nonce does not extend the client's")
	case len(salt) == 0:
		return "", nil, 0, errors.New("no salt")
	case iter == 0:
		return "", nil, 0, errors.New("no iteration count")
	}
	return nonce, salt, iter, nil
}

// kafkaConn is a connection to one broker: requests one at a time, each answered before the
// next is sent.
type kafkaConn struct {
	net.Conn
	correlation int32
}

// roundTrip sends a request of API key at version with body, and returns the body of the answer.
func (c *kafkaConn) roundTrip(key, version int16, body []byte) ([]byte, error) {
	c.correlation++
	req := make([]byte, 4, 4+10+len(kafkaClientID)+len(body))
	req = binary.BigEndian.AppendUint16(req, uint16(key))
	req = binary.BigEndian.AppendUint16(req, uint16(version))
	req = binary.BigEndian.AppendUint32(req, uint32(c.correlation))
	req = kafkaAppendString(req, kafkaClientID)
	req = append(req, body...)
	binary.BigEndian.PutUint32(req, uint32(len(req)-4))
	if _, err := c.Write(req); err != nil {
		return nil, kafkaIOError("write", err)
	}
	var size [4]byte
	if n, err := io.ReadFull(c, size[:]); err != nil {
		if n > 0 && errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &kafkaNotKafka{fmt.Sprintf("an answer of %d bytes: %q", n, size[:n])}
		}
		return nil, kafkaIOError("read", err)
	}
	n := int32(binary.BigEndian.Uint32(size[:]))
	if n < 4 || n > kafkaMaxResponse {
		return nil, &kafkaNotKafka{fmt.Sprintf("the answer starts %q", size[:])}
	}
	var buf bytes.Buffer // grows as bytes arrive, not to what the size prefix claims
	if _, err := buf.ReadFrom(io.LimitReader(c, int64(n))); err != nil {
		return nil, kafkaIOError("read", err)
	}
	if buf.Len() < int(n) {
		return nil, kafkaIOError("read", io.ErrUnexpectedEOF)
	}
	resp := buf.Bytes()
	if got := int32(binary.BigEndian.Uint32(resp)); got != c.correlation {
		return nil, &kafkaNotKafka{fmt.Sprintf("correlation id %d, want %d", got, c.correlation)}
	}
	return resp[4:], nil
}

// kafkaIOError words a failed read or write.
func kafkaIOError(op string, err error) error {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("the broker closed the connection")
	case errors.As(err, &ne) && ne.Timeout():
		return errors.New("timed out waiting for the broker")
	}
	return fmt.Errorf("%s: %w", op, err)
}

// kafkaAppendString appends a Kafka string: int16 length, then the bytes.
func kafkaAppendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// kafkaAppendBytes appends Kafka bytes: int32 length, then the bytes.
func kafkaAppendBytes(b, p []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
	return append(b, p...)
}

// kafkaMetadataRequest is the body of a Metadata v4 request for topics (none: only brokers and
// controller), never allowing the broker to create one.
func kafkaMetadataRequest(topics []string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(topics)))
	for _, t := range topics {
		b = kafkaAppendString(b, t)
	}
	return append(b, 0) // allow_auto_topic_creation: false
}

// kafkaDecoder reads the fields of a response body; the first short read sets err and makes
// every later read return zero.
type kafkaDecoder struct {
	b   []byte
	off int
	err error
}

func (d *kafkaDecoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b)-d.off {
		d.err = fmt.Errorf("truncated at byte %d of %d", d.off, len(d.b))
		return nil
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p
}

func (d *kafkaDecoder) int16() int16 {
	if p := d.take(2); p != nil {
		return int16(binary.BigEndian.Uint16(p))
	}
	return 0
}

func (d *kafkaDecoder) int32() int32 {
	if p := d.take(4); p != nil {
		return int32(binary.BigEndian.Uint32(p))
	}
	return 0
}

// string reads a string or a nullable string (null reads as "").
func (d *kafkaDecoder) string() string {
	n := d.int16()
	if n == -1 {
		return ""
	}
	return string(d.take(int(n)))
}

// bytes reads bytes or nullable bytes (null reads as nil).
func (d *kafkaDecoder) bytes() []byte {
	n := d.int32()
	if n == -1 {
		return nil
	}
	return d.take(int(n))
}

// array reads an array's length (null reads as 0); each element is at least min bytes, so a
// length the rest of the body cannot hold is an error rather than a long loop.
func (d *kafkaDecoder) array(min int) int {
	n := d.int32()
	switch {
	case d.err != nil || n == -1:
		return 0
	case n < -1 || int(n) > (len(d.b)-d.off)/min:
		d.err = fmt.Errorf("array of %d elements at byte %d of %d", n, d.off, len(d.b))
		return 0
	}
	return int(n)
}

// kafkaMetadataResponse is what the probe keeps of a Metadata response.
type kafkaMetadataResponse struct {
	brokers    int
	controller int32
	topic      *kafkaTopicMetadata // the topic asked about; nil when not in the answer
}

type kafkaTopicMetadata struct {
	errorCode  int16
	partitions int
	leaderless int // partitions without a leader, or with an error
}

// kafkaParseMetadata decodes a Metadata v4 response body, keeping topic's entry.
func kafkaParseMetadata(b []byte, topic string) (*kafkaMetadataResponse, error) {
	d := &kafkaDecoder{b: b}
	md := &kafkaMetadataResponse{}
	d.int32() // throttle_time_ms
	md.brokers = d.array(4 + 2 + 4 + 2)
	for range md.brokers {
		d.int32()  // node_id
		d.string() // host
		d.int32()  // port
		d.string() // rack
	}
	d.string() // cluster_id
	md.controller = d.int32()
	topics := d.array(2 + 2 + 1 + 4)
	for range topics {
		t := &kafkaTopicMetadata{errorCode: d.int16()}
		name := d.string()
		d.take(1) // is_internal
		t.partitions = d.array(2 + 4 + 4 + 4 + 4)
		for range t.partitions {
			code := d.int16()
			d.int32() // partition_index
			leader := d.int32()
			for range d.array(4) { // replica_nodes
				d.int32()
			}
			for range d.array(4) { // isr_nodes
				d.int32()
			}
			if leader < 0 || code != 0 {
				t.leaderless++
			}
		}
		if d.err == nil && topic != "" && name == topic {
			md.topic = t
		}
	}
	if d.err != nil {
		return nil, d.err
	}
	return md, nil
}

// kafkaParseHandshake decodes a SaslHandshake v1 response body: its error code and the
// mechanisms the broker offers.
func kafkaParseHandshake(b []byte) (code int16, mechanisms []string, err error) {
	d := &kafkaDecoder{b: b}
	code = d.int16()
	for range d.array(2) {
		mechanisms = append(mechanisms, d.string())
	}
	return code, mechanisms, d.err
}

// kafkaParseAuthenticate decodes a SaslAuthenticate v0 response body.
func kafkaParseAuthenticate(b []byte) (code int16, message string, auth []byte, err error) {
	d := &kafkaDecoder{b: b}
	code = d.int16()
	message = d.string()
	auth = d.bytes()
	return code, message, auth, d.err
}

// plural words a count of things: "1 broker", "3 brokers".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
