// Package gossip wraps serf (on hashicorp/memberlist) for agents and hubs: one cluster whose
// members carry their role and identity in tags, encrypted with a rotatable keyring, and whose
// membership changes arrive as copied, typed events.
package gossip

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/hashicorp/serf/serf"
)

// Tag names every member carries.
const (
	TagRole     = "role"     // RoleAgent or RoleHub
	TagTenant   = "tenant"   // the agent's tenant
	TagService  = "service"  // the agent's service
	TagInstance = "instance" // the agent's instance
	TagAPI      = "api"      // a hub's API address
	TagBoot     = "boot"     // the agent's boot (unix ns), as in its reports
	// TagLeaving is set by Leave before the member leaves: serf reports a graceful leave as a
	// failure when memberlist's "left" reaches a peer before serf's own leave message does, and
	// a peer that sees this tag on a "failed" member knows better.
	TagLeaving = "leaving"
)

// leaveAnnounce is how long Leave lets TagLeaving spread before leaving (several gossip rounds).
const leaveAnnounce = 750 * time.Millisecond

// Member roles.
const (
	RoleAgent = "agent"
	RoleHub   = "hub"
)

// DefaultPort is the gossip port when an address names none.
const DefaultPort = 7946

// KeyLen is the length of a gossip encryption key in bytes (AES-256).
const KeyLen = 32

// Profile names a memberlist timing profile.
type Profile string

// The timing profiles. ProfileLAN, the default, is memberlist's LAN configuration with faster
// failure detection (see lanConfig); ProfileWAN is memberlist's WAN configuration unchanged, for
// members across data centres; ProfileLocal is memberlist's loopback configuration unchanged.
const (
	ProfileLAN   Profile = "lan"
	ProfileWAN   Profile = "wan"
	ProfileLocal Profile = "local"
)

// ParseProfile checks a profile name; "" means ProfileLAN.
func ParseProfile(s string) (Profile, error) {
	switch p := Profile(s); p {
	case "":
		return ProfileLAN, nil
	case ProfileLAN, ProfileWAN, ProfileLocal:
		return p, nil
	}
	return "", fmt.Errorf("gossip profile %q: want lan, wan or local", s)
}

// The failure detector of ProfileLAN. memberlist's stock LAN values (probe every 1 s, 500 ms
// probe timeout, suspicion 4×log10(n) probe intervals) take about 7 s to declare a killed
// member dead; these halve the probe interval and shorten suspicion, while lifeguard's
// awareness (which stretches a slow member's own timeouts) and refutation keep a busy but
// alive member from being declared dead. docs/BENCHMARKS.md has the measured effect.
const (
	lanProbeInterval = 500 * time.Millisecond
	lanProbeTimeout  = 300 * time.Millisecond
	lanSuspicionMult = 3
	// lanPushPull halves memberlist's full state exchange interval: a member that missed a
	// join's broadcast (dozens joining at once can crowd it out) or sits across a healed
	// partition learns the truth at the next exchange, so this bounds both. It costs about
	// 50 bytes per member per second more.
	lanPushPull = 15 * time.Second
)

// reconnectInterval is how often serf tries to reach failed members again, so a healed
// partition merges without a manual step (serf's default is 30 s).
const reconnectInterval = 10 * time.Second

// PushPullInterval is how often a member of a profile exchanges its whole state with another,
// in clusters of up to 32 members (memberlist stretches it in larger ones).
func (p Profile) PushPullInterval() time.Duration {
	c, err := memberlistConfig(p)
	if err != nil {
		return 0
	}
	return c.PushPullInterval
}

// memberlistConfig returns the memberlist configuration of a profile.
func memberlistConfig(p Profile) (*memberlist.Config, error) {
	switch p {
	case "", ProfileLAN:
		c := memberlist.DefaultLANConfig()
		c.ProbeInterval, c.ProbeTimeout, c.SuspicionMult = lanProbeInterval, lanProbeTimeout, lanSuspicionMult
		c.PushPullInterval = lanPushPull
		return c, nil
	case ProfileWAN:
		return memberlist.DefaultWANConfig(), nil
	case ProfileLocal:
		return memberlist.DefaultLocalConfig(), nil
	}
	return nil, fmt.Errorf("gossip: unknown profile %q (want lan, wan or local)", p)
}

// Config is what New needs. DefaultConfig gives the defaults.
type Config struct {
	NodeName  string            // unique in the cluster; agents use tenant/service/instance
	Bind      string            // host:port to listen on (port defaults to DefaultPort)
	Advertise string            // host:port others reach this member at; empty: Bind's
	Join      []string          // members to join at start; retried until one answers
	Tags      map[string]string // role and identity
	// Keys are the keyring: the first encrypts, all decrypt. Empty disables encryption (only
	// for --dev: callers enforce that).
	Keys [][]byte
	// KeyringFile is where the keyring persists, so a rotated key survives a restart. When it
	// exists it wins over Keys.
	KeyringFile string
	// SnapshotFile, when set, is where serf records the members it knows, so that a restarted
	// member rejoins them by itself (even after a graceful leave).
	SnapshotFile string
	Profile      Profile       // timing profile (default ProfileLAN)
	JoinRetry    time.Duration // pause between join attempts (default 2s)
	Logger       *slog.Logger
}

// DefaultConfig returns a Config with the LAN profile and a 2 s join retry.
func DefaultConfig() Config {
	return Config{Profile: ProfileLAN, JoinRetry: 2 * time.Second, Tags: map[string]string{}}
}

// ParseKey decodes a base64 gossip key and checks its length.
func ParseKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("gossip key: not base64: %w", err)
	}
	if len(k) != KeyLen {
		return nil, fmt.Errorf("gossip key: %d bytes, want %d", len(k), KeyLen)
	}
	return k, nil
}

// ReadKeyFile reads a base64 gossip key from path.
func ReadKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gossip key file: %w", err)
	}
	return ParseKey(string(b))
}

// EventType is what happened to a member.
type EventType string

// The event types.
const (
	MemberJoin   EventType = "join"
	MemberLeave  EventType = "leave"  // left gracefully
	MemberFailed EventType = "failed" // unreachable: the failure detector gave up on it
	MemberUpdate EventType = "update" // tags changed
	MemberReap   EventType = "reap"   // forgotten after failing or leaving long enough
)

// Member is a copy of one member's state.
type Member struct {
	Name   string            `json:"name"`
	Addr   string            `json:"address"`
	Tags   map[string]string `json:"tags"`
	Status string            `json:"state"` // alive, leaving, left, failed
}

// Event is a membership change of one member.
type Event struct {
	Type   EventType
	Member Member
	At     time.Time
}

// Gossip is a running member of the cluster. It is safe for concurrent use.
type Gossip struct {
	serf   *serf.Serf
	events chan Event
	log    *slog.Logger
	done   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
	joined atomic.Bool // a join succeeded (or there was nothing to join)
}

// New starts a member, listening at once (so a taken port fails here), and starts joining
// cfg.Join in the background until one answers or Shutdown.
func New(cfg Config) (*Gossip, error) {
	if cfg.NodeName == "" {
		return nil, errors.New("gossip: node name is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.JoinRetry <= 0 {
		cfg.JoinRetry = 2 * time.Second
	}
	sc := serf.DefaultConfig()
	sc.NodeName = cfg.NodeName
	sc.Tags = cfg.Tags
	mc, err := memberlistConfig(cfg.Profile)
	if err != nil {
		return nil, err
	}
	sc.MemberlistConfig = mc
	sc.ReconnectInterval = reconnectInterval
	if cfg.SnapshotFile != "" {
		sc.SnapshotPath = cfg.SnapshotFile
		sc.RejoinAfterLeave = true // a restart after a graceful stop must find the cluster again
	}
	host, port, err := splitHostPort(cfg.Bind)
	if err != nil {
		return nil, fmt.Errorf("gossip bind: %w", err)
	}
	sc.MemberlistConfig.BindAddr, sc.MemberlistConfig.BindPort = host, port
	sc.MemberlistConfig.AdvertisePort = port
	if cfg.Advertise != "" {
		ahost, aport, err := splitHostPort(cfg.Advertise)
		if err != nil {
			return nil, fmt.Errorf("gossip advertise: %w", err)
		}
		sc.MemberlistConfig.AdvertiseAddr, sc.MemberlistConfig.AdvertisePort = ahost, aport
	}
	keys := cfg.Keys
	if cfg.KeyringFile != "" {
		saved, err := readKeyring(cfg.KeyringFile)
		switch {
		case err == nil:
			keys = saved // a rotated keyring wins over the configured key
		case errors.Is(err, os.ErrNotExist) && len(keys) > 0:
			if err := writeKeyring(cfg.KeyringFile, keys); err != nil {
				return nil, err
			}
		case !errors.Is(err, os.ErrNotExist):
			return nil, err
		}
		sc.KeyringFile = cfg.KeyringFile // serf rewrites it on every rotation
	}
	if len(keys) > 0 {
		kr, err := memberlist.NewKeyring(keys, keys[0])
		if err != nil {
			return nil, fmt.Errorf("gossip keyring: %w", err)
		}
		sc.MemberlistConfig.Keyring = kr
	}
	logger := log.New(slogWriter{cfg.Logger}, "", 0)
	sc.Logger = logger
	sc.MemberlistConfig.Logger = logger
	serfEvents := make(chan serf.Event, 1024)
	sc.EventCh = serfEvents

	if err := portFree(host, port); err != nil {
		// Checked first because serf leaves a goroutine behind when memberlist cannot listen.
		return nil, fmt.Errorf("gossip: start member %s on %s: %w", cfg.NodeName, cfg.Bind, err)
	}
	s, err := serf.Create(sc)
	if err != nil {
		return nil, fmt.Errorf("gossip: start member %s on %s: %w", cfg.NodeName, cfg.Bind, err)
	}
	g := &Gossip{serf: s, events: make(chan Event, 1024), log: cfg.Logger, done: make(chan struct{})}
	g.wg.Go(func() { g.forward(serfEvents) })
	if len(cfg.Join) > 0 {
		g.wg.Go(func() { g.joinLoop(cfg.Join, cfg.JoinRetry) })
	} else {
		g.joined.Store(true)
	}
	return g, nil
}

func splitHostPort(addr string) (string, int, error) {
	if addr == "" {
		return "", 0, errors.New("address is required")
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		host, portStr = addr, strconv.Itoa(DefaultPort)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q: bad port", addr)
	}
	return host, port, nil
}

// portFree checks that host:port can be bound for TCP and UDP (port 0 always can).
func portFree(host string, port int) error {
	if port == 0 {
		return nil
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("gossip port: %w", err)
	}
	defer ln.Close()
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("gossip port: %w", err)
	}
	return pc.Close()
}

// readKeyring reads serf's keyring file: a JSON list of base64 keys, the primary first.
func readKeyring(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read keyring: %w", err)
	}
	var encoded []string
	if err := json.Unmarshal(b, &encoded); err != nil {
		return nil, fmt.Errorf("keyring %s: %w", path, err)
	}
	if len(encoded) == 0 {
		return nil, fmt.Errorf("keyring %s: no keys", path)
	}
	keys := make([][]byte, len(encoded))
	for i, e := range encoded {
		if keys[i], err = ParseKey(e); err != nil {
			return nil, fmt.Errorf("keyring %s: %w", path, err)
		}
	}
	return keys, nil
}

// writeKeyring writes keys in serf's keyring file format (a JSON list of base64 keys).
func writeKeyring(path string, keys [][]byte) error {
	enc := make([]string, len(keys))
	for i, k := range keys {
		enc[i] = `"` + base64.StdEncoding.EncodeToString(k) + `"`
	}
	if err := os.WriteFile(path, []byte("["+strings.Join(enc, ",")+"]\n"), 0o600); err != nil {
		return fmt.Errorf("write keyring: %w", err)
	}
	return nil
}

// joinLoop joins addrs, retrying until one answers or the member shuts down.
func (g *Gossip) joinLoop(addrs []string, retry time.Duration) {
	for {
		n, err := g.serf.Join(addrs, true)
		if err == nil && n > 0 {
			g.log.Info("gossip joined", "contacted", n)
			g.joined.Store(true)
			return
		}
		g.log.Warn("gossip join failed; retrying", "err", err, "in", retry.String())
		select {
		case <-g.done:
			return
		case <-time.After(retry):
		}
	}
}

// forward copies serf's member events into Events.
func (g *Gossip) forward(in <-chan serf.Event) {
	for {
		select {
		case <-g.done:
			return
		case ev := <-in:
			me, ok := ev.(serf.MemberEvent)
			if !ok {
				continue
			}
			t, ok := eventTypes[me.Type]
			if !ok {
				continue
			}
			for _, m := range me.Members {
				t := t
				if t == MemberFailed && m.Tags[TagLeaving] != "" {
					// It announced its leave: serf's leave message lost the race to
					// memberlist's "left", which serf then reports as a failure.
					t = MemberLeave
				}
				select {
				case g.events <- Event{Type: t, Member: copyMember(m), At: time.Now()}:
				case <-g.done:
					return
				}
			}
		}
	}
}

var eventTypes = map[serf.EventType]EventType{
	serf.EventMemberJoin: MemberJoin, serf.EventMemberLeave: MemberLeave, serf.EventMemberFailed: MemberFailed,
	serf.EventMemberUpdate: MemberUpdate, serf.EventMemberReap: MemberReap,
}

func copyMember(m serf.Member) Member {
	tags := make(map[string]string, len(m.Tags))
	for k, v := range m.Tags {
		tags[k] = v
	}
	return Member{Name: m.Name, Addr: net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port))), Tags: tags, Status: m.Status.String()}
}

// Join joins addrs now, once; the number of members that answered is returned.
func (g *Gossip) Join(addrs []string) (int, error) {
	n, err := g.serf.Join(addrs, true)
	if err != nil {
		return n, fmt.Errorf("gossip join: %w", err)
	}
	return n, nil
}

// Running reports whether the member still takes part in the cluster: serf shuts itself down
// when it loses a node name conflict, and a member that left or shut down is out too.
func (g *Gossip) Running() bool { return g.serf.State() == serf.SerfAlive }

// Events delivers membership changes; a consumer must keep reading it. It is closed by Shutdown.
func (g *Gossip) Events() <-chan Event { return g.events }

// Members returns a copy of every member this node knows, itself included.
func (g *Gossip) Members() []Member {
	ms := g.serf.Members()
	out := make([]Member, len(ms))
	for i, m := range ms {
		out[i] = copyMember(m)
	}
	return out
}

// Joined reports whether this member has joined the cluster: one of Config.Join answered, or
// there was nothing to join.
func (g *Gossip) Joined() bool { return g.joined.Load() }

// Local returns a copy of this member's own state.
func (g *Gossip) Local() Member { return copyMember(g.serf.LocalMember()) }

// SetTags replaces this member's tags and tells the cluster.
func (g *Gossip) SetTags(tags map[string]string) error {
	if err := g.serf.SetTags(tags); err != nil {
		return fmt.Errorf("gossip set tags: %w", err)
	}
	return nil
}

// LocalName is this member's node name.
func (g *Gossip) LocalName() string { return g.serf.LocalMember().Name }

// Leave tells the cluster this member is leaving (so peers do not take it for failed): it tags
// itself TagLeaving, lets that spread, then leaves, waiting at most timeout in all, and shuts
// down.
func (g *Gossip) Leave(timeout time.Duration) error {
	left := make(chan error, 1)
	go func() {
		tags := maps.Clone(g.serf.LocalMember().Tags)
		if tags == nil {
			tags = map[string]string{}
		}
		tags[TagLeaving] = "true"
		if err := g.serf.SetTags(tags); err == nil && len(g.serf.Members()) > 1 {
			time.Sleep(min(leaveAnnounce, timeout/2))
		}
		left <- g.serf.Leave()
	}()
	var err error
	select {
	case err = <-left:
	case <-time.After(timeout):
		err = fmt.Errorf("gossip leave: not done within %s", timeout)
	}
	return errors.Join(err, g.Shutdown())
}

// Shutdown stops the member at once, without telling the cluster (peers will find it failed).
func (g *Gossip) Shutdown() error {
	var err error
	g.once.Do(func() {
		close(g.done)
		err = g.serf.Shutdown()
		g.wg.Wait()
		close(g.events) // forward, its only sender, has returned
	})
	if err != nil {
		return fmt.Errorf("gossip shutdown: %w", err)
	}
	return nil
}

// KeyStatus is a key and how many members hold it.
type KeyStatus struct {
	Key     string // base64
	Members int    // members holding it
	Primary int    // members encrypting with it
}

// KeyReport is what a keyring operation heard back from the cluster.
type KeyReport struct {
	Keys      []KeyStatus       // ListKeys only: every key some member holds, primary first
	Members   int               // members the cluster had when asked
	Responses int               // members that answered
	Errors    map[string]string // member name → why it failed
}

// Fingerprint names a key without revealing it: "sha256:" and the first 8 bytes of its
// SHA-256, in hex. Logs and APIs show this, never the key.
func Fingerprint(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:8])
}

// keyOpts makes every answer to a keyring query travel by two extra members too, so one lost
// packet does not lose it.
var keyOpts = &serf.KeyRequestOptions{RelayFactor: 2}

// keyAttempts is how many times a keyring operation is asked when some member did not answer
// (serf's queries are best effort; the operations are idempotent).
const keyAttempts = 3

// askCluster runs op until every member answered, an answer is an error, or keyAttempts.
func askCluster(op func() (*serf.KeyResponse, error)) (*serf.KeyResponse, error) {
	var resp *serf.KeyResponse
	var err error
	for range keyAttempts {
		resp, err = op()
		if err == nil || resp == nil || resp.NumErr > 0 || len(resp.Messages) > 0 {
			break
		}
	}
	return resp, err
}

// ListKeys asks the cluster which keys its members hold.
func (g *Gossip) ListKeys() (KeyReport, error) {
	resp, err := askCluster(func() (*serf.KeyResponse, error) { return g.serf.KeyManager().ListKeysWithOptions(keyOpts) })
	rep := keyReport(resp)
	if resp != nil {
		for k, n := range resp.Keys {
			rep.Keys = append(rep.Keys, KeyStatus{Key: k, Members: n, Primary: resp.PrimaryKeys[k]})
		}
		slices.SortFunc(rep.Keys, func(a, b KeyStatus) int {
			return cmp.Or(cmp.Compare(b.Primary, a.Primary), cmp.Compare(a.Key, b.Key))
		})
	}
	if err != nil {
		return rep, fmt.Errorf("list gossip keys: %w", err)
	}
	return rep, nil
}

// InstallKey adds key (base64) to every member's keyring.
func (g *Gossip) InstallKey(key string) (KeyReport, error) {
	return keyOp("install", key, g.serf.KeyManager().InstallKeyWithOptions)
}

// UseKey makes key (already installed) the one every member encrypts with.
func (g *Gossip) UseKey(key string) (KeyReport, error) {
	return keyOp("use", key, g.serf.KeyManager().UseKeyWithOptions)
}

// RemoveKey removes key (not the one in use) from every member's keyring.
func (g *Gossip) RemoveKey(key string) (KeyReport, error) {
	return keyOp("remove", key, g.serf.KeyManager().RemoveKeyWithOptions)
}

// ErrBadKey wraps a key that is not base64 of KeyLen bytes.
var ErrBadKey = errors.New("bad gossip key")

func keyOp(name, key string, op func(string, *serf.KeyRequestOptions) (*serf.KeyResponse, error)) (KeyReport, error) {
	if _, err := ParseKey(key); err != nil {
		return KeyReport{}, fmt.Errorf("%w: %w", ErrBadKey, err)
	}
	resp, err := askCluster(func() (*serf.KeyResponse, error) { return op(key, keyOpts) })
	rep := keyReport(resp)
	if err != nil {
		return rep, fmt.Errorf("%s gossip key %s: %w", name, Fingerprint(key), err)
	}
	return rep, nil
}

func keyReport(resp *serf.KeyResponse) KeyReport {
	if resp == nil {
		return KeyReport{}
	}
	rep := KeyReport{Members: resp.NumNodes, Responses: resp.NumResp}
	if len(resp.Messages) > 0 {
		rep.Errors = maps.Clone(resp.Messages)
	}
	return rep
}

// slogWriter turns serf's and memberlist's log lines into records: [ERR] lines (a name
// conflict, a packet no key decrypts) as errors, [WARN] as warnings, the rest as debug.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level := slog.LevelDebug
	switch {
	case strings.Contains(line, "[ERR]"):
		level = slog.LevelError
	case strings.Contains(line, "[WARN]"):
		level = slog.LevelWarn
	}
	w.log.Log(context.Background(), level, line)
	return len(p), nil
}
