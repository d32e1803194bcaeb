// Package auth issues and verifies Central Hub's HS256 JSON Web Tokens and defines the roles
// they carry: viewer < operator < admin for people, and agent and metrics apart.
package auth

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/centralhub/centralhub/pkg/protocol"
)

// DefaultIssuer is the `iss` claim written and required unless configured otherwise.
const DefaultIssuer = "centralhub"

// DefaultLeeway is the clock skew tolerated on exp, nbf and iat.
const DefaultLeeway = 30 * time.Second

// MinSecretLen is the shortest HMAC secret the hub accepts, in bytes.
const MinSecretLen = 32

// AllTenants is the tenant claim of an admin (or metrics) token that sees every tenant.
const AllTenants = "*"

// Role is what a token's holder may do.
type Role string

// The roles. Viewer, Operator and Admin are ordered; Agent and Metrics stand apart.
const (
	Viewer   Role = "viewer"
	Operator Role = "operator"
	Admin    Role = "admin"
	Agent    Role = "agent"
	Metrics  Role = "metrics"
)

// Roles lists every role, for help texts and validation.
var Roles = []Role{Admin, Operator, Viewer, Metrics, Agent}

// ParseRole returns the Role named s or an error listing the roles.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown role %q (want admin, operator, viewer, metrics or agent)", s)
}

func (r Role) level() int {
	switch r {
	case Viewer:
		return 1
	case Operator:
		return 2
	case Admin:
		return 3
	}
	return 0
}

// Allows reports whether a holder of r may do what needs role want. Admin allows everything;
// viewer < operator < admin; agent and metrics allow only themselves.
func (r Role) Allows(want Role) bool {
	if r == Admin {
		return true
	}
	if want.level() > 0 {
		return r.level() >= want.level()
	}
	return (r == Agent || r == Metrics) && r == want
}

// Claims are the claims of a Central Hub token.
type Claims struct {
	Role    Role   `json:"role"`
	Tenant  string `json:"tenant"`
	Service string `json:"service,omitempty"`
	jwt.RegisteredClaims
}

// SeesTenant reports whether the holder may see and act on tenant t.
func (c *Claims) SeesTenant(t string) bool {
	return c.Tenant == AllTenants || c.Tenant == t
}

// validate checks the Central Hub claims that golang-jwt does not know about.
func (c *Claims) validate() error {
	if _, err := ParseRole(string(c.Role)); err != nil {
		return err
	}
	if c.Subject == "" {
		return errors.New("missing sub")
	}
	if c.IssuedAt == nil {
		return errors.New("missing iat")
	}
	if c.Tenant == AllTenants {
		if c.Role != Admin && c.Role != Metrics {
			return errors.New("only admin and metrics tokens may have tenant \"*\"")
		}
	} else if err := protocol.ValidName(c.Tenant); err != nil {
		return fmt.Errorf("tenant: %w", err)
	}
	if c.Role == Agent {
		if err := protocol.ValidName(c.Service); err != nil {
			return fmt.Errorf("agent token service: %w", err)
		}
	}
	return nil
}

// ErrWeakSecret is wrapped by CheckSecret's errors.
var ErrWeakSecret = errors.New("weak JWT secret")

// knownDefaults are secrets seen in examples and old configurations, longest first so that a
// longer default is cut out whole before a shorter one inside it.
var knownDefaults = []string{
	"change-me-in-production", "your-256-bit-secret", "central-hub-secret", "your-secret-key",
	"development", "supersecret", "centralhub", "jwt-secret", "change-me", "change_me", "changeme",
	"password", "default", "secret", "test",
}

// CheckSecret returns an error wrapping ErrWeakSecret when secret is missing, shorter than
// MinSecretLen bytes, made of fewer than 8 distinct bytes, or built from known defaults: what is
// left once every known default is cut out must still be MinSecretLen bytes.
func CheckSecret(secret []byte) error {
	if len(secret) == 0 {
		return fmt.Errorf("%w: missing (set HUB_JWT_SECRET or HUB_JWT_SECRET_FILE, or run with --dev)", ErrWeakSecret)
	}
	rest := strings.ToLower(string(secret))
	for _, d := range knownDefaults {
		if !strings.Contains(rest, d) {
			continue
		}
		if rest = strings.ReplaceAll(rest, d, ""); len(rest) < MinSecretLen {
			return fmt.Errorf("%w: it is built from the known default %q", ErrWeakSecret, d)
		}
	}
	if len(secret) < MinSecretLen {
		return fmt.Errorf("%w: %d bytes, want at least %d", ErrWeakSecret, len(secret), MinSecretLen)
	}
	distinct := map[byte]struct{}{}
	for _, b := range secret {
		distinct[b] = struct{}{}
	}
	if len(distinct) < 8 {
		return fmt.Errorf("%w: only %d distinct bytes", ErrWeakSecret, len(distinct))
	}
	return nil
}

// Keys signs and verifies tokens with one HMAC secret.
type Keys struct {
	secret []byte
	issuer string
	leeway time.Duration
	now    func() time.Time
}

// Option changes a Keys at construction.
type Option func(*Keys)

// WithIssuer sets the issuer written and required (default DefaultIssuer).
func WithIssuer(iss string) Option { return func(k *Keys) { k.issuer = iss } }

// WithLeeway sets the tolerated clock skew (default DefaultLeeway).
func WithLeeway(d time.Duration) Option { return func(k *Keys) { k.leeway = d } }

// WithClock sets the clock used for iat, exp and nbf (tests inject a fake one).
func WithClock(now func() time.Time) Option { return func(k *Keys) { k.now = now } }

// NewKeys returns Keys for secret, refusing a weak one (see CheckSecret).
func NewKeys(secret []byte, opts ...Option) (*Keys, error) {
	if err := CheckSecret(secret); err != nil {
		return nil, err
	}
	k := &Keys{secret: append([]byte(nil), secret...), issuer: DefaultIssuer, leeway: DefaultLeeway, now: time.Now}
	for _, o := range opts {
		o(k)
	}
	return k, nil
}

// IssueRequest describes a token to sign.
type IssueRequest struct {
	Role    Role
	Subject string
	Tenant  string // default protocol.DefaultTenant
	Service string // required for agent tokens
	TTL     time.Duration
}

// Issue signs a token for req.
func (k *Keys) Issue(req IssueRequest) (string, error) {
	if req.Tenant == "" {
		req.Tenant = protocol.DefaultTenant
	}
	if req.TTL <= 0 {
		return "", errors.New("ttl must be positive")
	}
	now := k.now()
	c := Claims{
		Role: req.Role, Tenant: req.Tenant, Service: req.Service,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    k.issuer,
			Subject:   req.Subject,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(req.TTL)),
		},
	}
	if err := c.validate(); err != nil {
		return "", fmt.Errorf("issue token: %w", err)
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(k.secret)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}

// ErrInvalidToken is wrapped by every Verify error.
var ErrInvalidToken = errors.New("invalid token")

// Verify checks a token's signature (HS256 only), exp (required), nbf, iat, issuer and the
// Central Hub claims, and returns its claims.
func (k *Keys) Verify(token string) (*Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return k.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(k.issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(k.leeway),
		jwt.WithTimeFunc(k.now),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return &c, nil
}

// Now returns the time of the Keys' clock, so callers that cache verified claims agree on it.
func (k *Keys) Now() time.Time { return k.now() }
