package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/httpapi"
	"github.com/centralhub/centralhub/pkg/auth"
	"github.com/centralhub/centralhub/pkg/configdoc"
)

// flakyConfigStore is the API's desired configs in these tests: the bolt store, with reads and
// writes failing while told to.
type flakyConfigStore struct {
	hub.ConfigStore
	failWrites, failReads atomic.Bool
}

// GetDesiredConfig fails while failReads is set.
func (s *flakyConfigStore) GetDesiredConfig(ctx context.Context, tenant, service string) (hub.DesiredConfig, error) {
	if s.failReads.Load() {
		return hub.DesiredConfig{}, errDiskOnFire
	}
	return s.ConfigStore.GetDesiredConfig(ctx, tenant, service)
}

// PutDesiredConfig fails while failWrites is set.
func (s *flakyConfigStore) PutDesiredConfig(ctx context.Context, w hub.ConfigWrite) (hub.DesiredConfig, error) {
	if s.failWrites.Load() {
		return hub.DesiredConfig{}, errDiskOnFire
	}
	return s.ConfigStore.PutDesiredConfig(ctx, w)
}

// ordersConfig is a desired config with secrets at every depth: a nested password, a top-level
// api_key, a list under a collection word, and plain values of every JSON type.
const ordersConfig = `{
	"db": {"url": "postgres://db.internal/orders", "password": "s3cret", "pool": {"max": 20, "idle": 1.50}},
	"api_key": "k-123",
	"tokens": ["t-1", "t-2"],
	"hosts": ["a", "b"],
	"feature": {"enabled": true, "ratio": 1e3},
	"note": "<keep> & tidy",
	"empty": null
}`

// configDoc is the shape of a desired config answer.
type configDoc struct {
	Tenant    string         `json:"tenant"`
	Service   string         `json:"service"`
	Version   int64          `json:"version"`
	Config    map[string]any `json:"config"`
	Checksum  string         `json:"checksum"`
	UpdatedBy string         `json:"updated_by"`
	UpdatedAt string         `json:"updated_at"`
}

// checksumOf is the checksum configdoc gives a JSON object.
func checksumOf(t *testing.T, doc string) string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		t.Fatal(err)
	}
	flat, err := configdoc.FromObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	return flat.Checksum()
}

func (e *env) putConfig(path, token, body string, header map[string]string) resp {
	e.t.Helper()
	return e.doWith("PUT", path, token, []byte(body), header)
}

// state is what a client can see of tenant's desired config of service and of the audit log,
// to check that a refused request changed nothing.
func (e *env) configState(tenant, service string) string {
	e.t.Helper()
	root := e.tokenOf("root", auth.Admin, auth.AllTenants)
	agent := e.token(auth.Agent, tenant, service)
	return e.do("GET", "/api/v1/config/"+service, agent, nil).body + "\n" +
		e.do("GET", "/api/v1/dashboard/audit", root, nil).body
}

func TestConfigRoutesRoles(t *testing.T) {
	e := newEnv(t, false)
	admin := e.tokenOf("alice", auth.Admin, "default")
	r := e.putConfig("/api/v1/config/orders", admin, ordersConfig, nil)
	if r.code != 200 || r.header.Get("ETag") != `"1"` {
		t.Fatalf("first PUT: %d %v %s", r.code, r.header, r.body)
	}
	stored := decode[configDoc](t, r)
	if stored.Version != 1 || stored.UpdatedBy != "alice" || stored.UpdatedAt != "2026-03-04T05:06:07Z" ||
		stored.Checksum != checksumOf(t, ordersConfig) || stored.Config["api_key"] != configdoc.Redacted {
		t.Fatalf("PUT answer: %s", r.body)
	}

	redacted := `{"tenant":"default","service":"orders","version":1,"config":{"api_key":"<redacted>",` +
		`"db":{"password":"<redacted>","pool":{"idle":1.50,"max":20},"url":"postgres://db.internal/orders"},` +
		`"empty":null,"feature":{"enabled":true,"ratio":1e3},"hosts":["a","b"],"note":"<keep> & tidy",` +
		`"tokens":["<redacted>","<redacted>"]},"checksum":"` + checksumOf(t, ordersConfig) + `",` +
		`"updated_by":"alice","updated_at":"2026-03-04T05:06:07Z"}` + "\n"
	full := strings.Replace(strings.Replace(strings.Replace(redacted, `"api_key":"<redacted>"`, `"api_key":"k-123"`, 1),
		`"password":"<redacted>"`, `"password":"s3cret"`, 1), `"tokens":["<redacted>","<redacted>"]`, `"tokens":["t-1","t-2"]`, 1)
	if r.body != redacted {
		t.Fatalf("PUT answer:\n got %s\nwant %s", r.body, redacted)
	}
	cases := []struct {
		name  string
		token string
		path  string
		code  int
		body  string // "" to check the code only
	}{
		{"viewer reads redacted", e.token(auth.Viewer, "default", ""), "/api/v1/config/orders", 200, redacted},
		{"operator reads redacted", e.token(auth.Operator, "default", ""), "/api/v1/config/orders", 200, redacted},
		{"admin reads redacted", admin, "/api/v1/config/orders", 200, redacted},
		{"admin of every tenant reads redacted", e.token(auth.Admin, auth.AllTenants, ""), "/api/v1/config/orders", 200, redacted},
		{"that service's agent reads every value", e.token(auth.Agent, "default", "orders"), "/api/v1/config/orders", 200, full},
		{"agent of another service", e.token(auth.Agent, "default", "payments"), "/api/v1/config/orders", 403, ""},
		{"agent of another tenant sees its own tenant's", e.token(auth.Agent, "beta", "orders"), "/api/v1/config/orders", 404,
			`{"error":"no desired config for orders"}` + "\n"},
		{"agent naming another tenant", e.token(auth.Agent, "beta", "orders"), "/api/v1/config/orders?tenant=default", 403, ""},
		{"viewer of another tenant", e.token(auth.Viewer, "beta", ""), "/api/v1/config/orders", 404, ""},
		{"viewer naming another tenant", e.token(auth.Viewer, "beta", ""), "/api/v1/config/orders?tenant=default", 403, ""},
		{"metrics token", e.token(auth.Metrics, "default", ""), "/api/v1/config/orders", 403, ""},
		{"no token", "", "/api/v1/config/orders", 401, ""},
		{"unknown service", e.token(auth.Viewer, "default", ""), "/api/v1/config/orders2", 404,
			`{"error":"no desired config for orders2"}` + "\n"},
		{"bad service name", e.token(auth.Viewer, "default", ""), "/api/v1/config/bad%20name", 400, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("GET", tc.path, tc.token, nil)
			if r.code != tc.code || (tc.body != "" && r.body != tc.body) || !strings.Contains(r.body, "{") {
				t.Fatalf("%d %s, want %d %s", r.code, r.body, tc.code, tc.body)
			}
			if tc.code == 200 && r.header.Get("ETag") != `"1"` {
				t.Fatalf("ETag %q", r.header.Get("ETag"))
			}
			if tc.code == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
	t.Logf("GET as a viewer: %s", e.do("GET", "/api/v1/config/orders", e.token(auth.Viewer, "default", ""), nil).body)
	t.Logf("GET as the agent: %s", e.do("GET", "/api/v1/config/orders", e.token(auth.Agent, "default", "orders"), nil).body)

	before := e.configState("default", "orders")
	for _, tok := range []string{e.token(auth.Operator, "default", ""), e.token(auth.Viewer, "default", ""),
		e.token(auth.Agent, "default", "orders"), e.token(auth.Metrics, auth.AllTenants, "")} {
		if r := e.putConfig("/api/v1/config/orders", tok, `{"a":"b"}`, nil); r.code != 403 || !strings.Contains(r.body, "needs admin") {
			t.Errorf("PUT by a non-admin: %d %s", r.code, r.body)
		}
	}
	if after := e.configState("default", "orders"); after != before {
		t.Fatalf("refused writes changed the config or the audit:\n%s\n%s", before, after)
	}

	e.clock.Add(90e9)
	r = e.putConfig("/api/v1/config/orders", e.tokenOf("bob", auth.Admin, "default"), `{"db":{"url":"postgres://db2/orders"}}`, nil)
	if got := decode[configDoc](t, r); r.code != 200 || got.Version != 2 || got.UpdatedBy != "bob" ||
		got.UpdatedAt != "2026-03-04T05:07:37Z" || r.header.Get("ETag") != `"2"` {
		t.Fatalf("second PUT: %d %v %s", r.code, r.header, r.body)
	}

	// The audit log says who changed which config, when, and to which version; never a value.
	audit := e.do("GET", "/api/v1/dashboard/audit", e.tokenOf("root", auth.Admin, auth.AllTenants), nil)
	entries := decode[auditBody](t, audit).Entries
	if len(entries) != 2 || entries[0].Actor != "bob" || entries[0].Action != "config.put" || entries[0].Target != "orders" ||
		entries[0].Detail != "version 2" || entries[0].Role != "admin" || entries[0].Tenant != "default" ||
		!entries[0].At.Equal(e.now.Add(90e9)) || entries[1].Actor != "alice" || entries[1].Detail != "version 1" {
		t.Fatalf("audit: %s", audit.body)
	}
	for _, secret := range []string{"s3cret", "k-123", "t-1", "postgres://"} {
		if strings.Contains(audit.body, secret) {
			t.Fatalf("the audit log holds %q: %s", secret, audit.body)
		}
	}
}

func TestConfigConditionalWrites(t *testing.T) {
	e := newEnv(t, false)
	admin := e.token(auth.Admin, "default", "")
	for range 2 {
		if r := e.putConfig("/api/v1/config/orders", admin, `{"a":"1"}`, nil); r.code != 200 {
			t.Fatalf("setup: %d %s", r.code, r.body)
		}
	}
	cases := []struct {
		name, path, ifMatch string
		code                int
		version             int64  // when 200
		errorHas            string // when not 200
	}{
		{"stale version", "/api/v1/config/orders", `"1"`, 412, 0, "desired config of orders is at version 2, not 1"},
		{"future version", "/api/v1/config/orders", `"7"`, 412, 0, "at version 2, not 7"},
		{"create-only over a stored one", "/api/v1/config/orders", `"0"`, 412, 0, "at version 2, not 0"},
		{"a version where none is stored", "/api/v1/config/orders2", `"1"`, 412, 0, "no desired config for orders2 is stored"},
		{"not a version", "/api/v1/config/orders", `"abc"`, 400, 0, "If-Match"},
		{"a list", "/api/v1/config/orders", `"1", "2"`, 400, 0, "If-Match"},
		{"negative", "/api/v1/config/orders", `"-1"`, 400, 0, "If-Match"},
		{"quoted match", "/api/v1/config/orders", `"2"`, 200, 3, ""},
		{"bare match", "/api/v1/config/orders", `3`, 200, 4, ""},
		{"weak match", "/api/v1/config/orders", `W/"4"`, 200, 5, ""},
		{"create-only where none is stored", "/api/v1/config/orders2", `"0"`, 200, 1, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			service := strings.TrimPrefix(tc.path, "/api/v1/config/")
			before := e.configState("default", service)
			r := e.putConfig(tc.path, admin, `{"a":"2"}`, map[string]string{"If-Match": tc.ifMatch})
			if r.code != tc.code {
				t.Fatalf("%d %s", r.code, r.body)
			}
			if tc.code == 200 {
				if got := decode[configDoc](t, r); got.Version != tc.version || r.header.Get("ETag") != fmt.Sprintf(`"%d"`, tc.version) {
					t.Fatalf("stored version %d, ETag %s; want %d", got.Version, r.header.Get("ETag"), tc.version)
				}
				return
			}
			if !strings.Contains(decode[errorResp](t, r).Error, tc.errorHas) {
				t.Fatalf("error %s does not say %q", r.body, tc.errorHas)
			}
			if after := e.configState("default", service); after != before {
				t.Fatalf("a refused write changed something:\n%s\n%s", before, after)
			}
		})
	}
}

type errorResp struct {
	Error string `json:"error"`
}

func TestConfigIfNoneMatch(t *testing.T) {
	e := newEnv(t, false)
	if r := e.putConfig("/api/v1/config/orders", e.token(auth.Admin, "default", ""), `{"a":"1"}`, nil); r.code != 200 {
		t.Fatalf("setup: %d %s", r.code, r.body)
	}
	agent := e.token(auth.Agent, "default", "orders")
	for _, tc := range []struct {
		header string
		code   int
	}{{`"1"`, 304}, {`1`, 304}, {`"0", "1"`, 304}, {`*`, 304}, {`"2"`, 200}, {`"x"`, 200}} {
		r := e.doWith("GET", "/api/v1/config/orders", agent, nil, map[string]string{"If-None-Match": tc.header})
		if r.code != tc.code || r.header.Get("ETag") != `"1"` || (tc.code == 304 && r.body != "") {
			t.Errorf("If-None-Match %s: %d %v %q", tc.header, r.code, r.header, r.body)
		}
	}
}

func TestConfigBadBodies(t *testing.T) {
	e := newEnv(t, false)
	admin := e.token(auth.Admin, "default", "")
	if r := e.putConfig("/api/v1/config/orders", admin, `{"db":{"password":"s3cret"}}`, nil); r.code != 200 {
		t.Fatalf("setup: %d %s", r.code, r.body)
	}
	var many strings.Builder
	many.WriteString("{")
	for i := range 10_001 {
		if i > 0 {
			many.WriteString(",")
		}
		fmt.Fprintf(&many, `"k%d":1`, i)
	}
	many.WriteString("}")
	deep := strings.Repeat(`{"abcdefgh":`, 120) + "1" + strings.Repeat("}", 120)
	cases := []struct {
		name, body string
		code       int
		errorHas   string
	}{
		{"empty", "", 400, "empty"},
		{"an array", `[{"a":1}]`, 400, "not an array"},
		{"a string", `"a=1"`, 400, "not a string"},
		{"null", `null`, 400, "not null"},
		{"a number", `42`, 400, "not a number"},
		{"bad JSON", `{"a": 1,}`, 400, "not valid JSON"},
		{"truncated", `{"a": {"b": 1}`, 400, "not valid JSON"},
		{"trailing data", `{"a": 1} {"b": 2}`, 400, "more after"},
		{"an empty key", `{"": 1}`, 400, "empty key"},
		{"a nested empty key", `{"db": {"": 1}}`, 400, "empty key"},
		{"one key twice once flattened", `{"db.url": "x", "db": {"url": "y"}}`, 400, `"db.url" appears twice`},
		{"too many keys", many.String(), 400, "10001 keys once flattened; at most 10000"},
		{"a value over 64 KiB", `{"blob": "` + strings.Repeat("x", 64<<10+1) + `"}`, 400, `key "blob": value longer than 64 KiB`},
		{"a key over 1 KiB", deep, 400, "longer than 1024 bytes"},
		{"over 1 MiB", `{"blob": "` + strings.Repeat("x", 1<<20) + `"}`, 413, "larger than the limit of 1 MiB"},
		{"a redacted secret with nothing stored", `{"db": {"password": "<redacted>"}, "api": {"token": "<redacted>"}}`, 400,
			`key "api.token": <redacted> stands for the stored value, and none is stored`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := e.configState("default", "orders")
			r := e.putConfig("/api/v1/config/orders", admin, tc.body, nil)
			if r.code != tc.code || !strings.Contains(decode[errorResp](t, r).Error, tc.errorHas) {
				t.Fatalf("%d %s, want %d with %q", r.code, protocolTruncate(r.body), tc.code, tc.errorHas)
			}
			if after := e.configState("default", "orders"); after != before {
				t.Fatal("a refused write changed the config or the audit log")
			}
		})
	}
	// A refused write to a service with nothing stored stores nothing either.
	if r := e.putConfig("/api/v1/config/payments", admin, `[]`, nil); r.code != 400 {
		t.Fatalf("bad body for a new service: %d %s", r.code, r.body)
	}
	if r := e.do("GET", "/api/v1/config/payments", admin, nil); r.code != 404 {
		t.Fatalf("a refused write created a config: %d %s", r.code, r.body)
	}
}

func protocolTruncate(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}

// TestConfigRedactedRoundTrip: an admin reads a config redacted, edits a plain value and sends
// it back; the secrets keep their stored values, and the checksum is the real config's.
func TestConfigRedactedRoundTrip(t *testing.T) {
	e := newEnv(t, false)
	admin := e.token(auth.Admin, "default", "")
	agent := e.token(auth.Agent, "default", "orders")
	if r := e.putConfig("/api/v1/config/orders", admin, ordersConfig, nil); r.code != 200 {
		t.Fatalf("setup: %d %s", r.code, r.body)
	}
	read := e.do("GET", "/api/v1/config/orders", admin, nil)
	doc := decode[configDoc](t, read)
	doc.Config["db"].(map[string]any)["url"] = "postgres://db2.internal/orders"
	doc.Config["note"] = configdoc.Redacted // not a secret-looking key: stored as written
	body, err := json.Marshal(doc.Config)
	if err != nil {
		t.Fatal(err)
	}
	r := e.putConfig("/api/v1/config/orders", admin, string(body), map[string]string{"If-Match": read.header.Get("ETag")})
	if r.code != 200 || decode[configDoc](t, r).Version != 2 {
		t.Fatalf("PUT back: %d %s", r.code, r.body)
	}
	want := strings.Replace(strings.Replace(ordersConfig, "db.internal", "db2.internal", 1), `"<keep> & tidy"`, `"<redacted>"`, 1)
	got := e.do("GET", "/api/v1/config/orders", agent, nil)
	var gotCfg, wantCfg map[string]any
	_ = json.Unmarshal([]byte(decode[struct {
		Config json.RawMessage `json:"config"`
	}](t, got).Config), &gotCfg)
	_ = json.Unmarshal([]byte(want), &wantCfg)
	if g, w := mustJSON(t, gotCfg), mustJSON(t, wantCfg); g != w {
		t.Fatalf("after the round trip the agent reads\n %s\nwant %s", g, w)
	}
	if sum := decode[configDoc](t, got).Checksum; sum != checksumOf(t, want) {
		t.Fatalf("checksum %s is not the real config's", sum)
	}
	// The stored secret survives an unconditional round trip too.
	if r := e.putConfig("/api/v1/config/orders", admin, `{"api_key": "<redacted>", "x": "1"}`, nil); r.code != 200 {
		t.Fatalf("unconditional PUT keeping a secret: %d %s", r.code, r.body)
	}
	if got := decode[configDoc](t, e.do("GET", "/api/v1/config/orders", agent, nil)); got.Config["api_key"] != "k-123" || got.Version != 3 {
		t.Fatalf("after the unconditional PUT: %+v", got)
	}
	// A stale If-Match with placeholders is refused before anything is merged.
	if r := e.putConfig("/api/v1/config/orders", admin, `{"api_key": "<redacted>"}`, map[string]string{"If-Match": `"2"`}); r.code != 412 {
		t.Fatalf("stale If-Match with placeholders: %d %s", r.code, r.body)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestConfigTenants: a token of every tenant names the tenant with ?tenant= (default
// "default"); configs of same-named services of two tenants, and of similar names, stay apart.
func TestConfigTenants(t *testing.T) {
	e := newEnv(t, false)
	root := e.token(auth.Admin, auth.AllTenants, "")
	for _, tc := range []struct{ path, body string }{
		{"/api/v1/config/orders?tenant=beta", `{"who":"beta/orders"}`},
		{"/api/v1/config/orders", `{"who":"default/orders"}`},
		{"/api/v1/config/orders2", `{"who":"default/orders2"}`},
	} {
		if r := e.putConfig(tc.path, root, tc.body, nil); r.code != 200 {
			t.Fatalf("PUT %s: %d %s", tc.path, r.code, r.body)
		}
	}
	for _, tc := range []struct {
		token, path, who string
		code             int
	}{
		{root, "/api/v1/config/orders?tenant=beta", "beta/orders", 200},
		{root, "/api/v1/config/orders", "default/orders", 200},
		{root, "/api/v1/config/orders2", "default/orders2", 200},
		{root, "/api/v1/config/orders2?tenant=beta", "", 404},
		{root, "/api/v1/config/orders?tenant=bad%20name", "", 400},
		{e.token(auth.Viewer, "beta", ""), "/api/v1/config/orders", "beta/orders", 200},
		{e.token(auth.Agent, "beta", "orders"), "/api/v1/config/orders", "beta/orders", 200},
		{e.token(auth.Agent, "beta", "orders"), "/api/v1/config/orders?tenant=beta", "beta/orders", 200},
		{e.token(auth.Agent, "default", "orders2"), "/api/v1/config/orders2", "default/orders2", 200},
		{e.token(auth.Agent, "default", "orders2"), "/api/v1/config/orders", "", 403},
		{e.token(auth.Admin, "beta", ""), "/api/v1/config/orders2", "", 404},
	} {
		r := e.do("GET", tc.path, tc.token, nil)
		if r.code != tc.code {
			t.Fatalf("GET %s: %d %s, want %d", tc.path, r.code, r.body, tc.code)
		}
		if got := decode[configDoc](t, r); tc.code == 200 && (got.Config["who"] != tc.who || got.Tenant+"/"+got.Service != tc.who) {
			t.Fatalf("GET %s: %s, want %s", tc.path, r.body, tc.who)
		}
	}
	// A tenant's admin writes its own tenant only.
	if r := e.putConfig("/api/v1/config/orders?tenant=default", e.token(auth.Admin, "beta", ""), `{}`, nil); r.code != 403 {
		t.Fatalf("beta admin writing default: %d %s", r.code, r.body)
	}
	if r := e.putConfig("/api/v1/config/orders", e.token(auth.Admin, "beta", ""), `{"who":"beta again"}`, nil); r.code != 200 || decode[configDoc](t, r).Version != 2 {
		t.Fatalf("beta admin writing beta: %d %s", r.code, r.body)
	}
}

func TestConfigStoreUnavailable(t *testing.T) {
	e := newEnv(t, false)
	admin := e.token(auth.Admin, "default", "")
	if r := e.putConfig("/api/v1/config/orders", admin, `{"password":"s3cret","a":"1"}`, nil); r.code != 200 {
		t.Fatalf("setup: %d %s", r.code, r.body)
	}
	before := e.configState("default", "orders")
	e.configStore.failWrites.Store(true)
	for _, body := range []string{`{"a":"2"}`, `{"password":"<redacted>","a":"2"}`} {
		r := e.putConfig("/api/v1/config/orders", admin, body, nil)
		if r.code != 503 || r.header.Get("Retry-After") != "5" ||
			r.body != "{\"error\":\"store unavailable: the change was not saved; retry\"}\n" {
			t.Errorf("PUT with the store down: %d %v %s", r.code, r.header, r.body)
		}
	}
	e.configStore.failWrites.Store(false)
	if after := e.configState("default", "orders"); after != before {
		t.Fatalf("failed writes changed something:\n%s\n%s", before, after)
	}
	e.configStore.failReads.Store(true)
	for _, tok := range []string{admin, e.token(auth.Agent, "default", "orders")} {
		r := e.do("GET", "/api/v1/config/orders", tok, nil)
		if r.code != 503 || r.header.Get("Retry-After") != "5" || strings.Contains(r.body, "disk on fire") ||
			!strings.Contains(r.body, "store unavailable") {
			t.Errorf("GET with the store down: %d %v %s", r.code, r.header, r.body)
		}
	}
	// A write that keeps stored secrets reads them first: with reads failing it is a 503.
	if r := e.putConfig("/api/v1/config/orders", admin, `{"password":"<redacted>"}`, nil); r.code != 503 {
		t.Errorf("PUT keeping secrets with reads failing: %d %s", r.code, r.body)
	}
	e.configStore.failReads.Store(false)
}

// TestConfigWritesStayOnEveryHub: several hubs on one database each write desired configs
// themselves (the store checks the version), so a hub that does not lead, or cannot tell who
// does, still serves them.
func TestConfigWritesStayOnEveryHub(t *testing.T) {
	follower := newEnvWith(t, func(c *httpapi.Config) {
		c.Leader = func(context.Context) (bool, string, error) { return false, "", errors.New("no leader recorded") }
	})
	if r := follower.putConfig("/api/v1/config/orders", follower.token(auth.Admin, "default", ""), `{"a":"1"}`, nil); r.code != 200 {
		t.Fatalf("PUT on a hub that does not lead: %d %s", r.code, r.body)
	}
}
