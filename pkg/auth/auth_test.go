package auth_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/centralhub/centralhub/pkg/auth"
)

// goodSecret is a strong 48-byte secret: many distinct bytes and no known default inside.
var goodSecret = []byte("Kq7vZ2xW9mLp4Rb8Nc1Hy3Jf5Gd0Ts6UaEoYiPkQwXzBnMv")

// epoch is the fake clock's time in the tests below.
var epoch = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func newKeys(t *testing.T, opts ...auth.Option) (*auth.Keys, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: epoch}
	k, err := auth.NewKeys(goodSecret, append([]auth.Option{auth.WithClock(clock.Now)}, opts...)...)
	if err != nil {
		t.Fatalf("NewKeys: %v", err)
	}
	return k, clock
}

func TestCheckSecret(t *testing.T) {
	distinct32 := make([]byte, 32)
	for i := range distinct32 {
		distinct32[i] = byte(i)
	}
	pad := func(s string, n int) []byte {
		b := []byte(s)
		for i := 0; len(b) < n; i++ {
			b = append(b, goodSecret[i%len(goodSecret)])
		}
		return b
	}
	tests := []struct {
		name   string
		secret []byte
		ok     bool
	}{
		{"nil", nil, false},
		{"empty", []byte{}, false},
		{"31 bytes", goodSecret[:31], false},
		{"1 byte", []byte("x"), false},
		{"32 bytes", goodSecret[:32], true},
		{"48 bytes", goodSecret, true},
		{"32 distinct binary bytes", distinct32, true},
		{"known default alone", []byte("change-me-in-production"), false},
		{"known default padded to 32", pad("change-me-in-production", 32), false},
		{"known default padded to 54", pad("change-me-in-production", 54), false},
		{"known default padded behind", append(goodSecret[:20:20], "change-me-in-production"...), false},
		{"known default in upper case", pad("CHANGE-ME-IN-PRODUCTION", 40), false},
		{"short default padded", pad("secret", 37), false},
		{"your-256-bit-secret padded", pad("your-256-bit-secret", 40), false},
		{"known default with 32 other bytes", pad("change-me-in-production", 55), true},
		{"one byte repeated", []byte(strings.Repeat("a", 64)), false},
		{"seven distinct bytes", []byte(strings.Repeat("abcdefg", 8)), false},
		{"eight distinct bytes", []byte(strings.Repeat("abcdfghj", 5)), true},
		{"two bytes alternating", []byte(strings.Repeat("xy", 20)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := auth.CheckSecret(tt.secret)
			if tt.ok {
				if err != nil {
					t.Fatalf("CheckSecret(%q) = %v, want nil", tt.secret, err)
				}
				return
			}
			if !errors.Is(err, auth.ErrWeakSecret) {
				t.Fatalf("CheckSecret(%q) = %v, want an error wrapping ErrWeakSecret", tt.secret, err)
			}
			if _, err := auth.NewKeys(tt.secret); !errors.Is(err, auth.ErrWeakSecret) {
				t.Errorf("NewKeys(%q) = %v, want ErrWeakSecret", tt.secret, err)
			}
		})
	}
}

func TestParseRole(t *testing.T) {
	for _, r := range auth.Roles {
		t.Run(string(r), func(t *testing.T) {
			got, err := auth.ParseRole(string(r))
			if err != nil || got != r {
				t.Errorf("ParseRole(%q) = %q, %v", r, got, err)
			}
		})
	}
	for _, s := range []string{"", "Admin", "root", "viewer ", "*"} {
		t.Run("bad "+s, func(t *testing.T) {
			if got, err := auth.ParseRole(s); err == nil {
				t.Errorf("ParseRole(%q) = %q, want an error", s, got)
			}
		})
	}
}

func TestRoleAllows(t *testing.T) {
	roles := []auth.Role{auth.Viewer, auth.Operator, auth.Admin, auth.Agent, auth.Metrics}
	// allowed[holder] is the set of roles the holder may act as.
	allowed := map[auth.Role][]auth.Role{
		auth.Viewer:   {auth.Viewer},
		auth.Operator: {auth.Viewer, auth.Operator},
		auth.Admin:    {auth.Viewer, auth.Operator, auth.Admin, auth.Agent, auth.Metrics},
		auth.Agent:    {auth.Agent},
		auth.Metrics:  {auth.Metrics},
		"root":        nil,
		"":            nil,
	}
	for holder, allows := range allowed {
		for _, want := range roles {
			exp := false
			for _, a := range allows {
				exp = exp || a == want
			}
			t.Run(string(holder)+"_"+string(want), func(t *testing.T) {
				if got := holder.Allows(want); got != exp {
					t.Errorf("Role(%q).Allows(%q) = %v, want %v", holder, want, got, exp)
				}
			})
		}
	}
}

func TestSeesTenant(t *testing.T) {
	tests := []struct {
		claim, tenant string
		want          bool
	}{
		{"acme", "acme", true},
		{"acme", "globex", false},
		{"acme", "*", false},
		{"default", "default", true},
		{auth.AllTenants, "acme", true},
		{auth.AllTenants, "default", true},
	}
	for _, tt := range tests {
		t.Run(tt.claim+"_"+tt.tenant, func(t *testing.T) {
			c := &auth.Claims{Tenant: tt.claim}
			if got := c.SeesTenant(tt.tenant); got != tt.want {
				t.Errorf("claims with tenant %q SeesTenant(%q) = %v, want %v", tt.claim, tt.tenant, got, tt.want)
			}
		})
	}
}

func TestIssueVerifyRoundTrip(t *testing.T) {
	tests := []struct {
		name       string
		req        auth.IssueRequest
		wantTenant string
	}{
		{"viewer, default tenant", auth.IssueRequest{Role: auth.Viewer, Subject: "alice", TTL: time.Hour}, "default"},
		{"operator", auth.IssueRequest{Role: auth.Operator, Subject: "bob", Tenant: "acme", TTL: time.Minute}, "acme"},
		{"admin, all tenants", auth.IssueRequest{Role: auth.Admin, Subject: "root", Tenant: auth.AllTenants, TTL: 24 * time.Hour}, auth.AllTenants},
		{"metrics", auth.IssueRequest{Role: auth.Metrics, Subject: "prometheus", TTL: time.Hour}, "default"},
		{"agent", auth.IssueRequest{Role: auth.Agent, Subject: "checkout-1", Tenant: "acme", Service: "checkout", TTL: 720 * time.Hour}, "acme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, _ := newKeys(t)
			tok, err := k.Issue(tt.req)
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			assertHS256(t, tok)
			c, err := k.Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.Role != tt.req.Role || c.Subject != tt.req.Subject || c.Tenant != tt.wantTenant || c.Service != tt.req.Service {
				t.Errorf("claims = role %q sub %q tenant %q service %q, want %q %q %q %q",
					c.Role, c.Subject, c.Tenant, c.Service, tt.req.Role, tt.req.Subject, tt.wantTenant, tt.req.Service)
			}
			if c.Issuer != auth.DefaultIssuer {
				t.Errorf("iss = %q, want %q", c.Issuer, auth.DefaultIssuer)
			}
			if c.IssuedAt == nil || !c.IssuedAt.Equal(epoch) {
				t.Errorf("iat = %v, want %v", c.IssuedAt, epoch)
			}
			if c.ExpiresAt == nil || !c.ExpiresAt.Equal(epoch.Add(tt.req.TTL)) {
				t.Errorf("exp = %v, want %v", c.ExpiresAt, epoch.Add(tt.req.TTL))
			}
			if c.NotBefore != nil {
				t.Errorf("nbf = %v, want none", c.NotBefore)
			}
		})
	}
}

// assertHS256 checks the header of an issued token.
func assertHS256(t *testing.T, tok string) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatalf("header: %v", err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatalf("header: %v", err)
	}
	if h["alg"] != "HS256" || h["typ"] != "JWT" {
		t.Errorf("header = %v, want alg HS256 typ JWT", h)
	}
}

func TestIssueRefuses(t *testing.T) {
	tests := []struct {
		name string
		req  auth.IssueRequest
	}{
		{"zero ttl", auth.IssueRequest{Role: auth.Viewer, Subject: "a"}},
		{"negative ttl", auth.IssueRequest{Role: auth.Viewer, Subject: "a", TTL: -time.Second}},
		{"unknown role", auth.IssueRequest{Role: "root", Subject: "a", TTL: time.Hour}},
		{"empty role", auth.IssueRequest{Subject: "a", TTL: time.Hour}},
		{"no subject", auth.IssueRequest{Role: auth.Viewer, TTL: time.Hour}},
		{"all tenants for an operator", auth.IssueRequest{Role: auth.Operator, Subject: "a", Tenant: auth.AllTenants, TTL: time.Hour}},
		{"all tenants for an agent", auth.IssueRequest{Role: auth.Agent, Subject: "a", Service: "s", Tenant: auth.AllTenants, TTL: time.Hour}},
		{"bad tenant", auth.IssueRequest{Role: auth.Viewer, Subject: "a", Tenant: "a b", TTL: time.Hour}},
		{"agent without service", auth.IssueRequest{Role: auth.Agent, Subject: "a", TTL: time.Hour}},
		{"agent with a bad service", auth.IssueRequest{Role: auth.Agent, Subject: "a", Service: "-x", TTL: time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, _ := newKeys(t)
			if tok, err := k.Issue(tt.req); err == nil {
				t.Errorf("Issue(%+v) = %q, want an error", tt.req, tok)
			}
		})
	}
}

func TestVerifyAsTimePasses(t *testing.T) {
	k, clock := newKeys(t)
	tok, err := k.Issue(auth.IssueRequest{Role: auth.Viewer, Subject: "alice", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		at   time.Time
		ok   bool
	}{
		{"when issued", epoch, true},
		{"half way", epoch.Add(30 * time.Minute), true},
		{"at expiry", epoch.Add(time.Hour), true},
		{"just inside the leeway", epoch.Add(time.Hour + auth.DefaultLeeway - time.Second), true},
		{"just beyond the leeway", epoch.Add(time.Hour + auth.DefaultLeeway + time.Second), false},
		{"a day later", epoch.Add(25 * time.Hour), false},
		{"clock behind, inside the leeway", epoch.Add(-auth.DefaultLeeway + time.Second), true},
		{"clock behind, beyond the leeway", epoch.Add(-auth.DefaultLeeway - time.Second), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock.Set(tt.at)
			if got := k.Now(); !got.Equal(tt.at) {
				t.Fatalf("Keys.Now() = %v, want the fake clock's %v", got, tt.at)
			}
			_, err := k.Verify(tok)
			if tt.ok && err != nil {
				t.Errorf("Verify at %v: %v", tt.at, err)
			}
			if !tt.ok && !errors.Is(err, auth.ErrInvalidToken) {
				t.Errorf("Verify at %v = %v, want ErrInvalidToken", tt.at, err)
			}
		})
	}
}

func TestVerifyOptions(t *testing.T) {
	issuer, _ := newKeys(t)
	tok, err := issuer.Issue(auth.IssueRequest{Role: auth.Viewer, Subject: "alice", TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("other issuer refuses", func(t *testing.T) {
		k, _ := newKeys(t, auth.WithIssuer("other-hub"))
		if _, err := k.Verify(tok); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("Verify = %v, want ErrInvalidToken", err)
		}
	})
	t.Run("custom issuer round trip", func(t *testing.T) {
		k, _ := newKeys(t, auth.WithIssuer("other-hub"))
		tok, err := k.Issue(auth.IssueRequest{Role: auth.Viewer, Subject: "alice", TTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		c, err := k.Verify(tok)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if c.Issuer != "other-hub" {
			t.Errorf("iss = %q, want other-hub", c.Issuer)
		}
		if _, err := issuer.Verify(tok); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("default-issuer keys accepted an other-hub token: %v", err)
		}
	})
	t.Run("no leeway", func(t *testing.T) {
		k, clock := newKeys(t, auth.WithLeeway(0))
		clock.Set(epoch.Add(time.Minute + time.Second))
		if _, err := k.Verify(tok); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("Verify one second after exp with no leeway = %v, want ErrInvalidToken", err)
		}
	})
	t.Run("wider leeway", func(t *testing.T) {
		k, clock := newKeys(t, auth.WithLeeway(5*time.Minute))
		clock.Set(epoch.Add(time.Minute + 4*time.Minute))
		if _, err := k.Verify(tok); err != nil {
			t.Errorf("Verify inside a 5m leeway: %v", err)
		}
	})
	t.Run("secret is copied", func(t *testing.T) {
		secret := append([]byte(nil), goodSecret...)
		k, err := auth.NewKeys(secret, auth.WithClock(func() time.Time { return epoch }))
		if err != nil {
			t.Fatal(err)
		}
		for i := range secret {
			secret[i] = 'x'
		}
		if _, err := k.Verify(tok); err != nil {
			t.Errorf("Verify after the caller reused its secret buffer: %v", err)
		}
	})
}

// signed signs claims with method and key, as an attacker or a foreign issuer could.
func signed(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// unsigned builds header.claims. with an empty signature.
func unsigned(t *testing.T, header map[string]any, claims jwt.MapClaims) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(header) + "." + enc(claims) + "."
}

// headerTrick signs claims with HS256 and the real secret but claims another alg in the header.
func headerTrick(t *testing.T, alg string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["alg"] = alg
	ss, err := tok.SigningString()
	if err != nil {
		t.Fatal(err)
	}
	sig, err := jwt.SigningMethodHS256.Sign(ss, goodSecret)
	if err != nil {
		t.Fatal(err)
	}
	return ss + "." + tok.EncodeSegment(sig)
}

// baseClaims are valid viewer claims at epoch, with changes applied (a nil value deletes).
func baseClaims(changes jwt.MapClaims) jwt.MapClaims {
	c := jwt.MapClaims{
		"sub":    "alice",
		"role":   "viewer",
		"tenant": "default",
		"iss":    auth.DefaultIssuer,
		"iat":    epoch.Unix(),
		"exp":    epoch.Add(time.Hour).Unix(),
	}
	for k, v := range changes {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

func TestVerifyAttacks(t *testing.T) {
	leeway := auth.DefaultLeeway
	otherSecret := []byte("a-completely-different-but-strong-key-9f8e7d6c5b4a")
	// badAlg is what golang-jwt says, one way or the other, about an alg other than HS256.
	badAlg := []error{jwt.ErrTokenSignatureInvalid, jwt.ErrTokenUnverifiable}
	tests := []struct {
		name  string
		token func(t *testing.T) string
		// why the token is refused: one of the golang-jwt errors in is, or text in the message.
		is   []error
		text string
	}{
		{name: "empty", token: func(*testing.T) string { return "" }, is: []error{jwt.ErrTokenMalformed}},
		{name: "garbage", token: func(*testing.T) string { return "garbage" }, is: []error{jwt.ErrTokenMalformed}},
		{name: "three garbage parts", token: func(*testing.T) string { return "a.b.c" }, is: []error{jwt.ErrTokenMalformed}},
		{name: "bearer prefix left on", token: func(t *testing.T) string {
			return "Bearer " + signed(t, jwt.SigningMethodHS256, goodSecret, baseClaims(nil))
		}, is: []error{jwt.ErrTokenMalformed}},
		{name: "alg none", token: func(t *testing.T) string {
			return unsigned(t, map[string]any{"alg": "none", "typ": "JWT"}, baseClaims(nil))
		}, is: badAlg},
		{name: "alg None", token: func(t *testing.T) string {
			return unsigned(t, map[string]any{"alg": "None", "typ": "JWT"}, baseClaims(nil))
		}, is: badAlg},
		{name: "alg none with the admin role", token: func(t *testing.T) string {
			return unsigned(t, map[string]any{"alg": "none", "typ": "JWT"},
				baseClaims(jwt.MapClaims{"role": "admin", "tenant": "*"}))
		}, is: badAlg},
		{name: "no alg", token: func(t *testing.T) string {
			return unsigned(t, map[string]any{"typ": "JWT"}, baseClaims(nil))
		}, is: badAlg},
		{name: "HS256 header, signature stripped", token: func(t *testing.T) string {
			tok := signed(t, jwt.SigningMethodHS256, goodSecret, baseClaims(nil))
			return tok[:strings.LastIndex(tok, ".")+1]
		}, is: []error{jwt.ErrTokenSignatureInvalid}},
		{name: "HS384 with the right secret", token: func(t *testing.T) string {
			return signed(t, jwt.SigningMethodHS384, goodSecret, baseClaims(nil))
		}, is: badAlg},
		{name: "HS512 with the right secret", token: func(t *testing.T) string {
			return signed(t, jwt.SigningMethodHS512, goodSecret, baseClaims(nil))
		}, is: badAlg},
		{name: "RS256 header, HMAC signature", token: func(t *testing.T) string { return headerTrick(t, "RS256", baseClaims(nil)) }, is: badAlg},
		{name: "ES256 header, HMAC signature", token: func(t *testing.T) string { return headerTrick(t, "ES256", baseClaims(nil)) }, is: badAlg},
		{name: "hs256 header in lower case", token: func(t *testing.T) string { return headerTrick(t, "hs256", baseClaims(nil)) }, is: badAlg},
		{name: "HS256 with another secret", token: func(t *testing.T) string {
			return signed(t, jwt.SigningMethodHS256, otherSecret, baseClaims(nil))
		}, is: []error{jwt.ErrTokenSignatureInvalid}},
		{name: "HS256 with an empty-ish secret", token: func(t *testing.T) string {
			return signed(t, jwt.SigningMethodHS256, []byte("x"), baseClaims(nil))
		}, is: []error{jwt.ErrTokenSignatureInvalid}},
		{name: "payload swapped to admin", token: func(t *testing.T) string {
			good := strings.Split(signed(t, jwt.SigningMethodHS256, goodSecret, baseClaims(nil)), ".")
			evil := strings.Split(signed(t, jwt.SigningMethodHS256, otherSecret,
				baseClaims(jwt.MapClaims{"role": "admin"})), ".")
			return good[0] + "." + evil[1] + "." + good[2]
		}, is: []error{jwt.ErrTokenSignatureInvalid}},
		{name: "expired beyond the leeway", token: func(t *testing.T) string {
			return signed(t, jwt.SigningMethodHS256, goodSecret, baseClaims(jwt.MapClaims{
				"iat": epoch.Add(-time.Hour).Unix(), "exp": epoch.Add(-leeway - time.Second).Unix()}))
		}, is: []error{jwt.ErrTokenExpired}},
		{name: "expired long ago", token: func(t *testing.T) string {
			return signed(t, jwt.SigningMethodHS256, goodSecret, baseClaims(jwt.MapClaims{
				"iat": epoch.Add(-48 * time.Hour).Unix(), "exp": epoch.Add(-24 * time.Hour).Unix()}))
		}, is: []error{jwt.ErrTokenExpired}},
		{name: "nbf beyond the leeway", token: func(t *testing.T) string {
			return signed(t, jwt.SigningMethodHS256, goodSecret, baseClaims(jwt.MapClaims{
				"nbf": epoch.Add(leeway + time.Second).Unix()}))
		}, is: []error{jwt.ErrTokenNotValidYet}},
		{name: "iat in the future beyond the leeway", token: func(t *testing.T) string {
			return signed(t, jwt.SigningMethodHS256, goodSecret, baseClaims(jwt.MapClaims{
				"iat": epoch.Add(leeway + time.Minute).Unix()}))
		}, is: []error{jwt.ErrTokenUsedBeforeIssued}},
		{name: "wrong issuer", token: func(t *testing.T) string {
			return signed(t, jwt.SigningMethodHS256, goodSecret, baseClaims(jwt.MapClaims{"iss": "evil"}))
		}, is: []error{jwt.ErrTokenInvalidIssuer}},
		{name: "missing issuer", token: func(t *testing.T) string {
			return signed(t, jwt.SigningMethodHS256, goodSecret, baseClaims(jwt.MapClaims{"iss": nil}))
		}, is: []error{jwt.ErrTokenRequiredClaimMissing, jwt.ErrTokenInvalidIssuer}},
		{name: "missing exp", token: func(t *testing.T) string {
			return signed(t, jwt.SigningMethodHS256, goodSecret, baseClaims(jwt.MapClaims{"exp": nil}))
		}, is: []error{jwt.ErrTokenRequiredClaimMissing}},
		{name: "exp not a number", token: func(t *testing.T) string {
			return signed(t, jwt.SigningMethodHS256, goodSecret, baseClaims(jwt.MapClaims{"exp": "tomorrow"}))
		}, is: []error{jwt.ErrTokenMalformed}},
		{name: "missing iat", token: func(t *testing.T) string {
			return signed(t, jwt.SigningMethodHS256, goodSecret, baseClaims(jwt.MapClaims{"iat": nil}))
		}, text: "missing iat"},
		{name: "missing sub", token: func(t *testing.T) string {
			return signed(t, jwt.SigningMethodHS256, goodSecret, baseClaims(jwt.MapClaims{"sub": nil}))
		}, text: "missing sub"},
		{name: "unknown role", token: func(t *testing.T) string {
			return signed(t, jwt.SigningMethodHS256, goodSecret, baseClaims(jwt.MapClaims{"role": "superuser"}))
		}, text: "unknown role"},
		{name: "missing role", token: func(t *testing.T) string {
			return signed(t, jwt.SigningMethodHS256, goodSecret, baseClaims(jwt.MapClaims{"role": nil}))
		}, text: "unknown role"},
		{name: "role not a string", token: func(t *testing.T) string {
			return signed(t, jwt.SigningMethodHS256, goodSecret, baseClaims(jwt.MapClaims{"role": 3}))
		}, is: []error{jwt.ErrTokenMalformed}},
		{name: "tenant * on a viewer", token: func(t *testing.T) string {
			return signed(t, jwt.SigningMethodHS256, goodSecret, baseClaims(jwt.MapClaims{"tenant": "*"}))
		}, text: `tenant "*"`},
		{name: "tenant * on an operator", token: func(t *testing.T) string {
			return signed(t, jwt.SigningMethodHS256, goodSecret, baseClaims(jwt.MapClaims{"role": "operator", "tenant": "*"}))
		}, text: `tenant "*"`},
		{name: "tenant * on an agent", token: func(t *testing.T) string {
			return signed(t, jwt.SigningMethodHS256, goodSecret, baseClaims(jwt.MapClaims{
				"role": "agent", "tenant": "*", "service": "checkout"}))
		}, text: `tenant "*"`},
		{name: "missing tenant", token: func(t *testing.T) string {
			return signed(t, jwt.SigningMethodHS256, goodSecret, baseClaims(jwt.MapClaims{"tenant": nil}))
		}, text: "tenant: "},
		{name: "bad tenant name", token: func(t *testing.T) string {
			return signed(t, jwt.SigningMethodHS256, goodSecret, baseClaims(jwt.MapClaims{"tenant": "../etc"}))
		}, text: "tenant: "},
		{name: "agent without service", token: func(t *testing.T) string {
			return signed(t, jwt.SigningMethodHS256, goodSecret, baseClaims(jwt.MapClaims{"role": "agent"}))
		}, text: "service"},
		{name: "agent with a bad service", token: func(t *testing.T) string {
			return signed(t, jwt.SigningMethodHS256, goodSecret, baseClaims(jwt.MapClaims{
				"role": "agent", "service": "check out"}))
		}, text: "service"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, _ := newKeys(t)
			tok := tt.token(t)
			c, err := k.Verify(tok)
			if err == nil {
				t.Fatalf("Verify accepted %q with claims %+v", tok, c)
			}
			if !errors.Is(err, auth.ErrInvalidToken) {
				t.Errorf("Verify error %v does not wrap ErrInvalidToken", err)
			}
			refusedFor := tt.text != "" && strings.Contains(err.Error(), tt.text)
			for _, want := range tt.is {
				refusedFor = refusedFor || errors.Is(err, want)
			}
			if !refusedFor {
				t.Errorf("Verify refused for another reason: %v (want %v %q)", err, tt.is, tt.text)
			}
			if c != nil {
				t.Errorf("Verify returned claims %+v with its error", c)
			}
		})
	}
}

// TestVerifyAccepts is the other half of TestVerifyAttacks: tokens crafted by hand that must pass,
// so the refusals above are not refusing everything.
func TestVerifyAccepts(t *testing.T) {
	leeway := auth.DefaultLeeway
	tests := []struct {
		name   string
		claims jwt.MapClaims
		want   auth.Role
	}{
		{"plain viewer", baseClaims(nil), auth.Viewer},
		{"expired within the leeway", baseClaims(jwt.MapClaims{
			"iat": epoch.Add(-time.Hour).Unix(), "exp": epoch.Add(-leeway + time.Second).Unix()}), auth.Viewer},
		{"nbf within the leeway", baseClaims(jwt.MapClaims{"nbf": epoch.Add(leeway - time.Second).Unix()}), auth.Viewer},
		{"nbf in the past", baseClaims(jwt.MapClaims{"nbf": epoch.Add(-time.Minute).Unix()}), auth.Viewer},
		{"iat slightly ahead, within the leeway", baseClaims(jwt.MapClaims{"iat": epoch.Add(leeway - time.Second).Unix()}), auth.Viewer},
		{"admin of all tenants", baseClaims(jwt.MapClaims{"role": "admin", "tenant": "*"}), auth.Admin},
		{"agent with service", baseClaims(jwt.MapClaims{"role": "agent", "service": "checkout"}), auth.Agent},
		{"metrics", baseClaims(jwt.MapClaims{"role": "metrics"}), auth.Metrics},
		{"unknown extra claim", baseClaims(jwt.MapClaims{"jti": "abc", "x-custom": true}), auth.Viewer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, _ := newKeys(t)
			c, err := k.Verify(signed(t, jwt.SigningMethodHS256, goodSecret, tt.claims))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.Role != tt.want || c.Subject != "alice" {
				t.Errorf("claims role %q sub %q, want %q alice", c.Role, c.Subject, tt.want)
			}
		})
	}
}

// TestAllTenantsTokens: admin and metrics tokens may span every tenant; nothing else may.
func TestAllTenantsTokens(t *testing.T) {
	k, err := auth.NewKeys([]byte("k8Jq2Lm9Zx4Vb7Nc1Hy6Tr3We5Pa0SdFgQ"))
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range auth.Roles {
		req := auth.IssueRequest{Role: role, Subject: "s", Tenant: auth.AllTenants, TTL: time.Hour}
		if role == auth.Agent {
			req.Service = "orders"
		}
		tok, err := k.Issue(req)
		want := role == auth.Admin || role == auth.Metrics
		if (err == nil) != want {
			t.Fatalf("%s with tenant *: issue error %v, want allowed=%v", role, err, want)
		}
		if want {
			if c, err := k.Verify(tok); err != nil || !c.SeesTenant("anything") {
				t.Fatalf("%s: %+v %v", role, c, err)
			}
		}
	}
}
