package httpapi

import (
	"context"
	"net/http"
	"strings"
	"sync"

	"github.com/centralhub/centralhub/pkg/auth"
)

type principalKey struct{}

// claimsFrom returns the verified claims authenticate put into ctx.
func claimsFrom(ctx context.Context) *auth.Claims {
	c, _ := ctx.Value(principalKey{}).(*auth.Claims)
	return c
}

// authenticate verifies the bearer token and puts its claims into the request context; a
// missing or bad token gets 401 with WWW-Authenticate: Bearer.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		scheme, token, ok := strings.Cut(h, " ")
		if h == "" || !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
			s.metrics.authFailures.WithLabelValues("missing").Inc()
			s.writeError(w, r, &Error{Status: http.StatusUnauthorized, Message: "missing bearer token"})
			return
		}
		claims, err := s.tokens.verify(strings.TrimSpace(token))
		if err != nil {
			s.metrics.authFailures.WithLabelValues("invalid").Inc()
			s.writeError(w, r, &Error{Status: http.StatusUnauthorized, Message: "invalid token"})
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, claims)))
	})
}

// errClientCertRequired is the answer of an agent route to a request without a verified client
// certificate when the hub requires one. 403, not 401: the token was fine, and a 401 would
// send the agent to re-read it.
var errClientCertRequired = &Error{Status: http.StatusForbidden, Message: "client certificate required"}

// requireClientCert lets through, when Config.RequireClientCert is set, only a request whose
// TLS connection presented a client certificate that the listener verified against its client
// CAs; anything else gets 403 and counts as centralhub_auth_failures_total{reason="client_cert"}.
// Any certificate from those CAs will do: it is not tied to the token's service or instance.
func (s *Server) requireClientCert(next http.Handler) http.Handler {
	if !s.cfg.RequireClientCert {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			s.metrics.authFailures.WithLabelValues("client_cert").Inc()
			s.writeError(w, r, errClientCertRequired)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// require lets through a principal whose role allows want (viewer < operator < admin).
func (s *Server) require(want auth.Role) func(http.Handler) http.Handler {
	return s.roleCheck(func(c *auth.Claims) bool { return c.Role.Allows(want) }, want)
}

// requireExact lets through only the role want itself.
func (s *Server) requireExact(want auth.Role) func(http.Handler) http.Handler {
	return s.roleCheck(func(c *auth.Claims) bool { return c.Role == want }, want)
}

func (s *Server) roleCheck(ok func(*auth.Claims) bool, want auth.Role) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c := claimsFrom(r.Context())
			if c == nil || !ok(c) {
				s.metrics.authFailures.WithLabelValues("forbidden").Inc()
				s.writeError(w, r, forbidden("role %s may not use this route (needs %s)", roleOf(c), want))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func roleOf(c *auth.Claims) auth.Role {
	if c == nil {
		return "none"
	}
	return c.Role
}

// metricsGuard guards /metrics: role metrics or admin, or anyone with MetricsPublic.
func (s *Server) metricsGuard(next http.Handler) http.Handler {
	if s.cfg.MetricsPublic {
		return next
	}
	return s.authenticate(s.roleCheck(func(c *auth.Claims) bool {
		return c.Role == auth.Metrics || c.Role == auth.Admin
	}, auth.Metrics)(next))
}

// tokenCache remembers verified tokens until they expire, so an agent's token is checked
// cryptographically once rather than on every report. Only tokens that verified are kept,
// keyed by their whole text, so a changed byte misses the cache.
type tokenCache struct {
	keys    *auth.Keys
	mu      sync.RWMutex
	entries map[string]*auth.Claims
}

const tokenCacheMax = 50_000

func newTokenCache(keys *auth.Keys) *tokenCache {
	return &tokenCache{keys: keys, entries: make(map[string]*auth.Claims)}
}

func (t *tokenCache) verify(token string) (*auth.Claims, error) {
	now := t.keys.Now()
	t.mu.RLock()
	c, ok := t.entries[token]
	t.mu.RUnlock()
	if ok {
		if now.Before(c.ExpiresAt.Time) {
			return c, nil
		}
		t.mu.Lock()
		delete(t.entries, token)
		t.mu.Unlock()
	}
	c, err := t.keys.Verify(token)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	if len(t.entries) >= tokenCacheMax {
		clear(t.entries)
	}
	t.entries[token] = c
	t.mu.Unlock()
	return c, nil
}
