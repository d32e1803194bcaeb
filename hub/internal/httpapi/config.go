package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/pkg/auth"
	"github.com/centralhub/centralhub/pkg/configdoc"
	"github.com/centralhub/centralhub/pkg/protocol"
)

// The limits of a desired config. The body cap bounds everything; the others keep a config
// what a service's config file can be, and the agents' comparison cheap. Nesting is bounded
// by configdoc.MaxDepth (64 levels), checked before the body is decoded.
const (
	maxConfigBody     = 1 << 20  // bytes of the PUT body
	maxConfigKeys     = 10_000   // keys of its canonical (flattened) form
	maxConfigKeyLen   = 1 << 10  // bytes of one flattened key
	maxConfigValueLen = 64 << 10 // bytes of one flattened value
)

// putRetries bounds how often an unconditional write that keeps stored secrets is tried again
// after another write slipped in between reading the stored config and writing the new one.
const putRetries = 3

// errConfigStoreRead is what a reader sees when the store cannot be read and this hub
// remembers no copy of the config.
var errConfigStoreRead = &Error{Status: http.StatusServiceUnavailable, Message: "store unavailable; retry",
	RetryAfter: errStoreDown.RetryAfter}

// staleWarning is the Warning header of a desired config answered from memory because the
// store could not be read (RFC 7234's warn-code 110, "Response is Stale").
const staleWarning = `110 - "store unavailable; this copy may be stale"`

// ConfigMemory is a hub.ConfigStore that remembers, per tenant and service, the last desired
// config read from or written to the store it wraps, so that GET /api/v1/config/{service}
// answers from memory while that store is away: the hub wraps Config.Configs in one. Every
// read and write still goes to the store, which stays the truth (several hubs may share it);
// the memory only answers when a read fails. It holds at most one copy of each desired config
// stored, and is safe for concurrent use.
type ConfigMemory struct {
	hub.ConfigStore

	mu   sync.Mutex
	seq  uint64 // raised by every copy remembered
	last map[configKey]rememberedConfig
}

type configKey struct{ tenant, service string }

// rememberedConfig is a copy of a desired config and the seq it was remembered at.
type rememberedConfig struct {
	cfg hub.DesiredConfig
	seq uint64
}

// NewConfigMemory wraps store in a ConfigMemory that remembers nothing yet.
func NewConfigMemory(store hub.ConfigStore) *ConfigMemory {
	return &ConfigMemory{ConfigStore: store, last: map[configKey]rememberedConfig{}}
}

// GetDesiredConfig reads the store and remembers what it read; a store that holds none makes
// it forget its copy.
func (m *ConfigMemory) GetDesiredConfig(ctx context.Context, tenant, service string) (hub.DesiredConfig, error) {
	start := m.now()
	cfg, err := m.ConfigStore.GetDesiredConfig(ctx, tenant, service)
	switch {
	case err == nil:
		m.remember(start, configKey{tenant, service}, cfg)
	case errors.Is(err, hub.ErrNoDesiredConfig):
		m.forget(start, configKey{tenant, service})
	}
	return cfg, err
}

// PutDesiredConfig writes to the store and remembers what it stored.
func (m *ConfigMemory) PutDesiredConfig(ctx context.Context, w hub.ConfigWrite) (hub.DesiredConfig, error) {
	start := m.now()
	stored, err := m.ConfigStore.PutDesiredConfig(ctx, w)
	if err == nil {
		m.remember(start, configKey{w.Config.Tenant, w.Config.Service}, stored)
	}
	return stored, err
}

// Remembered returns a copy of the last desired config of tenant's service that this memory
// read or wrote, if it holds one.
func (m *ConfigMemory) Remembered(tenant, service string) (hub.DesiredConfig, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.last[configKey{tenant, service}]
	r.cfg.Config = bytes.Clone(r.cfg.Config)
	return r.cfg, ok
}

// now is the seq a store call starts at: what was remembered after it is newer than the call.
func (m *ConfigMemory) now() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.seq
}

// remember keeps a copy of cfg as k's, read or written by a store call that began at start.
// A copy remembered since then of a higher version stays: the call that read cfg overlapped
// the write of that version, so cfg may be the older. Otherwise the latest call wins, also
// when the version went down (a store restored from a backup).
func (m *ConfigMemory) remember(start uint64, k configKey, cfg hub.DesiredConfig) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old, ok := m.last[k]
	if ok && old.seq > start && old.cfg.Version > cfg.Version {
		return
	}
	m.seq++
	if ok && sameConfig(&old.cfg, &cfg) {
		m.last[k] = rememberedConfig{old.cfg, m.seq} // what an agent's poll reads: no copy
		return
	}
	cfg.Config = bytes.Clone(cfg.Config)
	m.last[k] = rememberedConfig{cfg, m.seq}
}

// forget drops the copy of k's config after a store call that began at start found none,
// unless a copy was remembered since (a write the call overlapped).
func (m *ConfigMemory) forget(start uint64, k configKey) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.last[k]; ok && old.seq <= start {
		delete(m.last, k)
	}
}

// sameConfig reports whether a and b are the same version, written alike.
func sameConfig(a, b *hub.DesiredConfig) bool {
	return a.Version == b.Version && a.Checksum == b.Checksum && a.UpdatedBy == b.UpdatedBy &&
		a.UpdatedAt.Equal(b.UpdatedAt) && bytes.Equal(a.Config, b.Config)
}

// configTarget is the tenant and {service} a config route is about.
func configTarget(r *http.Request) (tenant, service string, err error) {
	service = mux.Vars(r)["service"]
	if err := protocol.ValidName(service); err != nil {
		return "", "", badRequest("service: %v", err)
	}
	tenant, err = namedTenant(r)
	return tenant, service, err
}

// etag is the entity tag of a desired config's version.
func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// parseVersionTag reads one entity tag as a version: "3", 3 or W/"3".
func parseVersionTag(s string) (int64, bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "W/")
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil && v >= 0
}

// noneMatch reports whether an If-None-Match header names version (or is "*").
func noneMatch(header string, version int64) bool {
	for _, tag := range strings.Split(header, ",") {
		if strings.TrimSpace(tag) == "*" {
			return true
		}
		if v, ok := parseVersionTag(tag); ok && v == version {
			return true
		}
	}
	return false
}

// ifMatch reads the If-Match header: nil when absent, else the one version it names.
func ifMatch(r *http.Request) (*int64, error) {
	h := r.Header.Get("If-Match")
	if h == "" {
		return nil, nil
	}
	v, ok := parseVersionTag(h)
	if !ok {
		return nil, badRequest(`If-Match: %q is not one version such as "3" (the ETag a GET returned)`, h)
	}
	return &v, nil
}

// getConfig answers the desired config of {service}: in full, with the checksum of the real
// values, to that service's agent (which compares and applies it); to viewers, operators and
// admins with the values of secret-looking keys redacted and the checksum of that redacted form
// (see redactConfig). ETag is the version; If-None-Match naming it is 304. While the store
// cannot be read, a Config.Configs that is a ConfigMemory answers with the copy it remembers,
// under the same rules, with a Warning header saying it may be stale; with no copy it is 503.
func (s *Server) getConfig(w http.ResponseWriter, r *http.Request) error {
	tenant, service, err := configTarget(r)
	if err != nil {
		return err
	}
	c := claimsFrom(r.Context())
	if c.Role == auth.Agent && c.Service != service {
		return forbidden("token is for service %q; it cannot read the config of %q", c.Service, service)
	}
	cfg, err := s.cfg.Configs.GetDesiredConfig(r.Context(), tenant, service)
	if errors.Is(err, hub.ErrNoDesiredConfig) {
		return &Error{Status: http.StatusNotFound, Message: "no desired config for " + service}
	}
	if err != nil {
		remembered, ok := hub.DesiredConfig{}, false
		if mem, isMem := s.cfg.Configs.(*ConfigMemory); isMem {
			remembered, ok = mem.Remembered(tenant, service)
		}
		if !ok {
			s.log.Error("desired config read failed", "tenant", tenant, "service", service, "err", err)
			return errConfigStoreRead
		}
		s.log.Warn("desired config read failed; answering from memory", "tenant", tenant, "service", service,
			"version", remembered.Version, "err", err)
		cfg = remembered
		w.Header().Set("Warning", staleWarning)
	}
	w.Header().Set("ETag", etag(cfg.Version))
	if h := r.Header.Get("If-None-Match"); h != "" && noneMatch(h, cfg.Version) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	if c.Role != auth.Agent {
		if cfg.Config, cfg.Checksum, err = redactConfig(cfg.Config); err != nil {
			return fmt.Errorf("redact desired config of %s/%s: %w", tenant, service, err)
		}
	}
	return writeConfig(w, http.StatusOK, &cfg)
}

// putConfig stores the body, a JSON object, as the next version of {service}'s desired config.
// With If-Match the write applies only to the version it names (412 otherwise); without, it
// replaces whatever is stored. A secret-looking key whose value is configdoc.Redacted keeps its
// stored value, so a config read redacted can be edited and sent back. The write and its
// audit entry are durable before the answer: the stored document, redacted, with the checksum
// of the redacted form and its ETag.
func (s *Server) putConfig(w http.ResponseWriter, r *http.Request) error {
	tenant, service, err := configTarget(r)
	if err != nil {
		return err
	}
	ifVersion, err := ifMatch(r)
	if err != nil {
		return err
	}
	obj, err := decodeConfigBody(r)
	if err != nil {
		return err
	}
	c := claimsFrom(r.Context())
	var stored hub.DesiredConfig
	for attempt := 1; ; attempt++ {
		cfg := hub.DesiredConfig{Tenant: tenant, Service: service, UpdatedBy: c.Subject,
			UpdatedAt: s.cfg.Now().UTC().Truncate(time.Microsecond)}
		write := hub.ConfigWrite{IfVersion: ifVersion, Role: string(c.Role)}
		body := obj
		if hasRedacted("", obj) {
			// The placeholders stand for the stored values: of the version the write replaces,
			// which the condition makes sure of.
			base, err := s.cfg.Configs.GetDesiredConfig(r.Context(), tenant, service)
			if err != nil && !errors.Is(err, hub.ErrNoDesiredConfig) {
				s.log.Error("desired config read failed", "tenant", tenant, "service", service, "err", err)
				return errStoreDown
			}
			if ifVersion != nil && *ifVersion != base.Version {
				return versionConflict(service, &hub.VersionConflictError{Current: base.Version}, *ifVersion)
			}
			if body, err = keepSecrets(obj, base.Config); err != nil {
				return err
			}
			write.IfVersion = &base.Version
		}
		if cfg.Config, cfg.Checksum, err = canonical(body); err != nil {
			return err
		}
		write.Config = cfg
		stored, err = s.cfg.Configs.PutDesiredConfig(r.Context(), write)
		var conflict *hub.VersionConflictError
		switch {
		case errors.As(err, &conflict) && ifVersion == nil && attempt < putRetries:
			continue // another write came between the read of the stored secrets and this one
		case errors.As(err, &conflict) && ifVersion != nil:
			return versionConflict(service, conflict, *ifVersion)
		case errors.As(err, &conflict):
			return &Error{Status: http.StatusConflict, Message: fmt.Sprintf("desired config of %s keeps changing; retry", service)}
		case err != nil:
			s.log.Error("desired config write failed", "tenant", tenant, "service", service, "err", err)
			return errStoreDown
		}
		break
	}
	s.log.Info("desired config stored", "tenant", tenant, "service", service, "version", stored.Version, "by", c.Subject)
	w.Header().Set("ETag", etag(stored.Version))
	if stored.Config, stored.Checksum, err = redactConfig(stored.Config); err != nil {
		return fmt.Errorf("redact desired config of %s/%s: %w", tenant, service, err)
	}
	return writeConfig(w, http.StatusOK, &stored)
}

// versionConflict is the 412 of a write whose If-Match named want while current is stored.
func versionConflict(service string, conflict *hub.VersionConflictError, want int64) error {
	msg := fmt.Sprintf("desired config of %s is at version %d, not %d (If-Match): read it again, reapply your change and retry",
		service, conflict.Current, want)
	if conflict.Current == 0 {
		msg = fmt.Sprintf("no desired config for %s is stored, not version %d (If-Match): retry without If-Match, or with If-Match: \"0\"", service, want)
	}
	return &Error{Status: http.StatusPreconditionFailed, Message: msg}
}

// decodeConfigBody reads the PUT body: one JSON object of at most maxConfigBody, numbers kept
// as written.
func decodeConfigBody(r *http.Request) (map[string]any, error) {
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxConfigBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &Error{Status: http.StatusRequestEntityTooLarge, Message: "body is larger than the limit of " + formatBytes(maxConfigBody)}
		}
		return nil, badRequest("read body: %v", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, badRequest("body: empty; want the desired config as a JSON object")
	}
	if err := configdoc.CheckJSONDepth(b); err != nil {
		return nil, badRequest("body: %v", err) // before the decoder builds every level
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, badRequest("body: not valid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, badRequest("body: more after the JSON object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest("body: want the desired config as a JSON object, not %s", jsonValueKind(v))
	}
	return obj, nil
}

// jsonValueKind names the JSON type of a decoded value.
func jsonValueKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	}
	return "a number"
}

// canonical checks obj against the limits of a desired config and returns it encoded as the
// store keeps it (compact, keys sorted, numbers as sent) with the checksum of its canonical form.
func canonical(obj map[string]any) (json.RawMessage, string, error) {
	flat, err := configdoc.FromObject(obj)
	if err != nil {
		return nil, "", badRequest("config: %v", err)
	}
	if len(flat) > maxConfigKeys {
		return nil, "", badRequest("config: %d keys once flattened; at most %d", len(flat), maxConfigKeys)
	}
	for _, k := range flat.Keys() {
		switch {
		case len(k) > maxConfigKeyLen:
			return nil, "", badRequest("config: key %q…: longer than %d bytes once flattened", k[:64], maxConfigKeyLen)
		case len(flat[k]) > maxConfigValueLen:
			return nil, "", badRequest("config: key %q: value longer than %s", k, formatBytes(maxConfigValueLen))
		}
	}
	doc, err := encodeJSON(obj)
	if err != nil {
		return nil, "", fmt.Errorf("encode desired config: %w", err)
	}
	return doc, flat.Checksum(), nil
}

// encodeJSON encodes v compact, without escaping <, > and & (configdoc.Redacted stays legible).
func encodeJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// writeConfig writes a desired config document.
func writeConfig(w http.ResponseWriter, code int, c *hub.DesiredConfig) error {
	b, err := encodeJSON(c)
	if err != nil {
		return fmt.Errorf("encode desired config: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, err = w.Write(append(b, '\n'))
	return err
}

// decodeObject decodes a stored config (a JSON object), numbers kept as written.
func decodeObject(doc []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// redactConfig returns doc with the values of secret-looking keys replaced by
// configdoc.Redacted, and the checksum of its redacted canonical form. The checksum of the real
// values is not for readers who see only the redacted ones: with every other value known, it
// would let them test guesses of a short secret offline.
func redactConfig(doc json.RawMessage) (json.RawMessage, string, error) {
	obj, err := decodeObject(doc)
	if err != nil {
		return nil, "", err
	}
	flat, err := configdoc.FromObject(obj)
	if err != nil {
		return nil, "", err
	}
	redacted, err := encodeJSON(configdoc.RedactObject(obj))
	if err != nil {
		return nil, "", err
	}
	return redacted, flat.Redacted().Checksum(), nil
}

// hasRedacted reports whether v, under the dotted key prefix, holds configdoc.Redacted as the
// value of a secret-looking key.
func hasRedacted(prefix string, v any) bool {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if hasRedacted(joinKey(prefix, k), e) {
				return true
			}
		}
	case []any:
		for i, e := range v {
			if hasRedacted(joinKey(prefix, strconv.Itoa(i)), e) {
				return true
			}
		}
	case string:
		return v == configdoc.Redacted && configdoc.IsSecretKey(prefix)
	}
	return false
}

func joinKey(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}

// keepSecrets returns obj with every configdoc.Redacted value of a secret-looking key replaced
// by the value at the same place in the stored config; a placeholder with nothing stored for it
// is the client's mistake.
func keepSecrets(obj map[string]any, storedDoc json.RawMessage) (map[string]any, error) {
	var stored map[string]any
	if len(storedDoc) > 0 {
		var err error
		if stored, err = decodeObject(storedDoc); err != nil {
			return nil, fmt.Errorf("decode stored desired config: %w", err)
		}
	}
	out, err := mergeSecrets("", obj, stored, true)
	if err != nil {
		return nil, err
	}
	return out.(map[string]any), nil
}

// mergeSecrets is keepSecrets for the value v at key, with old the stored value at the same
// place (have says whether there is one).
func mergeSecrets(key string, v, old any, have bool) (any, error) {
	switch v := v.(type) {
	case map[string]any:
		om, _ := old.(map[string]any)
		out := make(map[string]any, len(v))
		for k, e := range v {
			oe, ok := om[k]
			m, err := mergeSecrets(joinKey(key, k), e, oe, ok)
			if err != nil {
				return nil, err
			}
			out[k] = m
		}
		return out, nil
	case []any:
		ol, _ := old.([]any)
		out := make([]any, len(v))
		for i, e := range v {
			var oe any
			ok := i < len(ol)
			if ok {
				oe = ol[i]
			}
			m, err := mergeSecrets(joinKey(key, strconv.Itoa(i)), e, oe, ok)
			if err != nil {
				return nil, err
			}
			out[i] = m
		}
		return out, nil
	case string:
		if v != configdoc.Redacted || !configdoc.IsSecretKey(key) {
			return v, nil
		}
		if !have {
			return nil, badRequest("config: key %q: %s stands for the stored value, and none is stored; send the value itself", key, configdoc.Redacted)
		}
		return old, nil
	}
	return v, nil
}

// configReaders lets through that service's agent (checked by the handler, which knows the
// service), with a client certificate when the hub requires one of agents, and viewers,
// operators and admins.
func (s *Server) configReaders(next http.Handler) http.Handler {
	agent := s.requireClientCert(next)
	return s.roleCheck(func(c *auth.Claims) bool { return c.Role == auth.Agent || c.Role.Allows(auth.Viewer) }, auth.Viewer)(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if claimsFrom(r.Context()).Role == auth.Agent {
				agent.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(w, r)
		}))
}
