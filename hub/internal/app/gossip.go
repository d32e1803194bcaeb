package app

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/centralhub/centralhub/pkg/gossip"
)

// gossipLeaveTimeout bounds the graceful leave at stop.
const gossipLeaveTimeout = 5 * time.Second

// startGossip starts the hub's gossip member. apiAddr is the address the API listens on.
func startGossip(cfg Config, apiAddr string, log *slog.Logger) (*gossip.Gossip, error) {
	gc := cfg.Gossip
	key, err := gossipKey(cfg)
	if err != nil {
		return nil, err
	}
	profile, err := gossip.ParseProfile(gc.Profile)
	if err != nil {
		return nil, fmt.Errorf("gossip.profile: %w", err)
	}
	api := advertisedAPI(gc, apiAddr)
	c := gossip.DefaultConfig()
	c.NodeName = hubNodeName(api)
	c.Bind, c.Advertise, c.Join, c.Profile, c.Logger = gc.Bind, gc.Advertise, gc.Join, profile, log.With("component", "gossip")
	c.Keys = [][]byte{key}
	c.KeyringFile = gc.KeyringFile
	if c.KeyringFile == "" {
		c.KeyringFile = filepath.Join(cfg.DataDir, "gossip-keyring")
	}
	// The snapshot lets a restarted hub rejoin the members it knew by itself: after a graceful
	// leave nobody else would reach out to it.
	c.SnapshotFile = filepath.Join(cfg.DataDir, "gossip-snapshot")
	c.Tags = map[string]string{gossip.TagRole: gossip.RoleHub, gossip.TagAPI: api}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(c.KeyringFile), 0o700); err != nil {
		return nil, fmt.Errorf("gossip.keyring_file: %w", err)
	}
	g, err := gossip.New(c)
	if err != nil {
		return nil, err
	}
	if host, _, _ := net.SplitHostPort(api); unspecified(host) {
		// Neither the listener nor the gossip settings name a host: use the address gossip
		// advertises, which memberlist picked from the host's interfaces.
		ghost, _, _ := net.SplitHostPort(g.Local().Addr)
		_, port, _ := net.SplitHostPort(api)
		api = net.JoinHostPort(ghost, port)
		if err := g.SetTags(map[string]string{gossip.TagRole: gossip.RoleHub, gossip.TagAPI: api}); err != nil {
			_ = g.Shutdown()
			return nil, err
		}
	}
	log.Info("gossip on", "bind", gc.Bind, "node", c.NodeName, "api", api, "profile", string(profile), "join", []string(gc.Join))
	return g, nil
}

// hubNodeName is the hub's gossip node name, unique in the cluster: hub/ and its API address, or
// when that names no host, hub/, the host name and the API port.
func hubNodeName(api string) string {
	host, port, err := net.SplitHostPort(api)
	if err == nil && unspecified(host) {
		name, herr := os.Hostname()
		if herr != nil || name == "" {
			name = "unknown-host"
		}
		return "hub/" + net.JoinHostPort(name, port)
	}
	return "hub/" + api
}

// advertisedAPI is the API address the hub's gossip tags carry.
func advertisedAPI(gc GossipConfig, listenAddr string) string {
	if gc.APIAddress != "" {
		return gc.APIAddress
	}
	host, port, err := net.SplitHostPort(listenAddr)
	if err != nil || !unspecified(host) {
		return listenAddr
	}
	for _, a := range []string{gc.Advertise, gc.Bind} {
		h, _, err := net.SplitHostPort(a)
		if err != nil {
			h = a
		}
		if !unspecified(h) {
			return net.JoinHostPort(h, port)
		}
	}
	return net.JoinHostPort("", port)
}

func unspecified(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// gossipKey reads gossip.key_file, or with --dev and no key file the development key kept in
// the data directory (created when missing), so that a dev cluster is encrypted too.
func gossipKey(cfg Config) ([]byte, error) {
	if cfg.Gossip.KeyFile != "" {
		k, err := gossip.ReadKeyFile(cfg.Gossip.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("gossip.key_file: %w", err)
		}
		return k, nil
	}
	if !cfg.Dev {
		return nil, errors.New("gossip.key_file: required unless --dev")
	}
	path := DevGossipKeyPath(cfg.DataDir)
	if k, err := gossip.ReadKeyFile(path); err == nil {
		return k, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("dev gossip key: %w", err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	k := make([]byte, gossip.KeyLen)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("generate dev gossip key: %w", err)
	}
	if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write dev gossip key: %w", err)
	}
	return k, nil
}

// DevGossipKeyPath is where --dev keeps its gossip key; the demo hands it to its agents.
func DevGossipKeyPath(dataDir string) string { return filepath.Join(dataDir, "dev-gossip-key") }
