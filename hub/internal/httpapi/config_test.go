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

// redactedChecksumOf is the checksum of the redacted canonical form of a JSON object: what
// every reader but the service's agent is given.
func redactedChecksumOf(t *testing.T, doc string) string {
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
	return flat.Redacted().Checksum()
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
	if r.code != 200 || r.header.Get("ETag") != `"1"` || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("first PUT: %d %v %s", r.code, r.header, r.body)
	}
	// The checksum of the real values would let a reader who sees every other value test
	// guesses of a secret offline: only the service's agent gets it.
	realSum, redactedSum := checksumOf(t, ordersConfig), redactedChecksumOf(t, ordersConfig)
	if realSum == redactedSum {
		t.Fatal("the redacted form has the real checksum")
	}
	stored := decode[configDoc](t, r)
	if stored.Version != 1 || stored.UpdatedBy != "alice" || stored.UpdatedAt != "2026-03-04T05:06:07Z" ||
		stored.Checksum != redactedSum || stored.Config["api_key"] != configdoc.Redacted {
		t.Fatalf("PUT answer: %s", r.body)
	}

	redacted := `{"tenant":"default","service":"orders","version":1,"config":{"api_key":"<redacted>",` +
		`"db":{"password":"<redacted>","pool":{"idle":1.50,"max":20},"url":"postgres://db.internal/orders"},` +
		`"empty":null,"feature":{"enabled":true,"ratio":1e3},"hosts":["a","b"],"note":"<keep> & tidy",` +
		`"tokens":["<redacted>","<redacted>"]},"checksum":"` + redactedSum + `",` +
		`"updated_by":"alice","updated_at":"2026-03-04T05:06:07Z"}` + "\n"
	full := strings.NewReplacer(`"api_key":"<redacted>"`, `"api_key":"k-123"`, `"password":"<redacted>"`, `"password":"s3cret"`,
		`"tokens":["<redacted>","<redacted>"]`, `"tokens":["t-1","t-2"]`, redactedSum, realSum).Replace(redacted)
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
			if tc.code == 200 && (r.header.Get("ETag") != `"1"` || r.header.Get("Cache-Control") != "no-store") {
				t.Fatalf("ETag %q, Cache-Control %q", r.header.Get("ETag"), r.header.Get("Cache-Control"))
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
		if r.code != tc.code || r.header.Get("ETag") != `"1"` || r.header.Get("Cache-Control") != "no-store" || (tc.code == 304 && r.body != "") {
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
	// 20 levels of 60-byte keys: one flattened key of 1,219 bytes.
	long := strings.Repeat(`{"`+strings.Repeat("k", 60)+`":`, 20) + "1" + strings.Repeat("}", 20)
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
		{"a key over 1 KiB", long, 400, "longer than 1024 bytes"},
		// Refused by a scan before the decoder builds any level of it.
		{"100,000 levels of objects", strings.Repeat(`{"a":`, 100_000) + "1" + strings.Repeat("}", 100_000), 400,
			"body: line 1, column 321: nested deeper than 64 levels"},
		{"100,000 levels of arrays", `{"a":` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + "}", 400,
			"body: line 1, column 69: nested deeper than 64 levels"},
		{"65 levels", `{"a":` + strings.Repeat("[", 64) + strings.Repeat("]", 64) + "}", 400, "nested deeper than 64 levels"},
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
	// 64 levels are allowed: brackets in strings do not count.
	deepest := `{"a":` + strings.Repeat("[", 63) + `"[[{{"` + strings.Repeat("]", 63) + "}"
	if r := e.putConfig("/api/v1/config/orders", admin, deepest, nil); r.code != 200 {
		t.Fatalf("64 levels: %d %s", r.code, protocolTruncate(r.body))
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

// TestConfigReadsFromMemory: while the store cannot be read, a hub whose desired configs are a
// ConfigMemory answers GET with the last copy it read or wrote, under the same rules, saying
// it may be stale; with no copy it is still 503.
func TestConfigReadsFromMemory(t *testing.T) {
	e := newEnvWith(t, func(c *httpapi.Config) { c.Configs = httpapi.NewConfigMemory(c.Configs) })
	admin, agent := e.token(auth.Admin, "default", ""), e.token(auth.Agent, "default", "orders")
	// orders: written through this hub; payments: written by another hub, read by this one.
	if r := e.putConfig("/api/v1/config/orders", admin, ordersConfig, nil); r.code != 200 {
		t.Fatalf("setup: %d %s", r.code, r.body)
	}
	other := hub.DesiredConfig{Tenant: "default", Service: "payments", Config: []byte(`{"password":"p4ss","port":8080}`),
		Checksum: checksumOf(t, `{"password":"p4ss","port":8080}`), UpdatedBy: "bob", UpdatedAt: e.now}
	if _, err := e.store.PutDesiredConfig(context.Background(), hub.ConfigWrite{Config: other, Role: "admin"}); err != nil {
		t.Fatal(err)
	}
	type view struct{ path, token string }
	views := []view{
		{"/api/v1/config/orders", agent}, {"/api/v1/config/orders", admin},
		{"/api/v1/config/payments", e.token(auth.Agent, "default", "payments")}, {"/api/v1/config/payments", e.token(auth.Viewer, "default", "")},
	}
	fresh := map[view]resp{}
	for _, v := range views {
		r := e.do("GET", v.path, v.token, nil)
		if r.code != 200 || r.header.Get("Warning") != "" {
			t.Fatalf("GET %s with the store up: %d %v %s", v.path, r.code, r.header, r.body)
		}
		fresh[v] = r
	}

	e.configStore.failReads.Store(true)
	const warning = `110 - "store unavailable; this copy may be stale"`
	for _, v := range views {
		r := e.do("GET", v.path, v.token, nil)
		if r.code != 200 || r.body != fresh[v].body || r.header.Get("ETag") != fresh[v].header.Get("ETag") ||
			r.header.Get("Warning") != warning || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s with the store down: %d %v %s, want %s with a Warning", v.path, r.code, r.header, r.body, fresh[v].body)
		}
		r = e.doWith("GET", v.path, v.token, nil, map[string]string{"If-None-Match": fresh[v].header.Get("ETag")})
		if r.code != 304 || r.body != "" || r.header.Get("ETag") != fresh[v].header.Get("ETag") || r.header.Get("Warning") != warning {
			t.Errorf("GET %s with If-None-Match and the store down: %d %v %q", v.path, r.code, r.header, r.body)
		}
	}
	// Nothing remembered: of a service never read, or of another tenant, 503 as before.
	for _, v := range []view{{"/api/v1/config/billing", admin}, {"/api/v1/config/orders", e.token(auth.Admin, "beta", "")}} {
		r := e.do("GET", v.path, v.token, nil)
		if r.code != 503 || r.header.Get("Retry-After") != "5" || r.header.Get("Warning") != "" ||
			r.body != "{\"error\":\"store unavailable; retry\"}\n" {
			t.Errorf("GET %s with nothing remembered and the store down: %d %v %s", v.path, r.code, r.header, r.body)
		}
	}
	// The memory answers reads only: a write that keeps stored secrets reads them from the store.
	if r := e.putConfig("/api/v1/config/orders", admin, `{"password":"<redacted>"}`, nil); r.code != 503 {
		t.Errorf("PUT keeping secrets with reads failing: %d %s", r.code, r.body)
	}
	// A write remembers what it stored.
	if r := e.putConfig("/api/v1/config/orders", admin, `{"a":"2"}`, nil); r.code != 200 {
		t.Fatalf("PUT with reads failing: %d %s", r.code, r.body)
	}
	if r := e.do("GET", "/api/v1/config/orders", agent, nil); r.code != 200 || r.header.Get("ETag") != `"2"` ||
		decode[configDoc](t, r).Config["a"] != "2" || r.header.Get("Warning") != warning {
		t.Errorf("GET after a write, with the store down: %d %v %s", r.code, r.header, r.body)
	}
	e.configStore.failReads.Store(false)
	if r := e.do("GET", "/api/v1/config/orders", agent, nil); r.code != 200 || r.header.Get("Warning") != "" {
		t.Errorf("GET with the store back: %d %v %s", r.code, r.header, r.body)
	}
}

// stubConfigStore holds one desired config, or none; during, when set, runs once inside the
// next read, after the read and before it returns, as a write that overlaps it would.
type stubConfigStore struct {
	cfg    *hub.DesiredConfig
	during func()
}

func (s *stubConfigStore) GetDesiredConfig(_ context.Context, tenant, service string) (hub.DesiredConfig, error) {
	cfg, err := hub.DesiredConfig{}, hub.ErrNoDesiredConfig
	if s.cfg != nil {
		cfg, err = *s.cfg, nil
	}
	if f := s.during; f != nil {
		s.during = nil
		f()
	}
	return cfg, err
}

func (s *stubConfigStore) PutDesiredConfig(_ context.Context, w hub.ConfigWrite) (hub.DesiredConfig, error) {
	c := w.Config
	c.Version = 1
	if s.cfg != nil {
		c.Version = s.cfg.Version + 1
	}
	s.cfg = &c
	return c, nil
}

// TestConfigMemoryOrder: a read that overlaps a write never replaces the copy of what was
// written with the older version it read, nor forgets it; otherwise the latest call wins.
func TestConfigMemoryOrder(t *testing.T) {
	ctx := context.Background()
	write := func(m *httpapi.ConfigMemory, doc string) {
		t.Helper()
		if _, err := m.PutDesiredConfig(ctx, hub.ConfigWrite{Config: hub.DesiredConfig{Tenant: "t", Service: "s", Config: []byte(doc)}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		steps func(st *stubConfigStore, m *httpapi.ConfigMemory)
		want  string // the remembered config; "" for none
	}{
		{"a read", func(st *stubConfigStore, m *httpapi.ConfigMemory) {
			st.cfg = &hub.DesiredConfig{Tenant: "t", Service: "s", Version: 4, Config: []byte(`{"v":4}`)}
			_, _ = m.GetDesiredConfig(ctx, "t", "s")
		}, `{"v":4}`},
		{"a write during a read", func(st *stubConfigStore, m *httpapi.ConfigMemory) {
			write(m, `{"v":1}`)
			st.during = func() { write(m, `{"v":2}`) }
			_, _ = m.GetDesiredConfig(ctx, "t", "s") // reads version 1
		}, `{"v":2}`},
		{"a first write during a read that found none", func(st *stubConfigStore, m *httpapi.ConfigMemory) {
			st.during = func() { write(m, `{"v":1}`) }
			_, _ = m.GetDesiredConfig(ctx, "t", "s")
		}, `{"v":1}`},
		{"a read finding none", func(st *stubConfigStore, m *httpapi.ConfigMemory) {
			write(m, `{"v":1}`)
			st.cfg = nil
			_, _ = m.GetDesiredConfig(ctx, "t", "s")
		}, ""},
		{"a store restored to an older version", func(st *stubConfigStore, m *httpapi.ConfigMemory) {
			write(m, `{"v":1}`)
			write(m, `{"v":2}`)
			st.cfg = &hub.DesiredConfig{Tenant: "t", Service: "s", Version: 1, Config: []byte(`{"v":1}`)}
			_, _ = m.GetDesiredConfig(ctx, "t", "s")
		}, `{"v":1}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := &stubConfigStore{}
			m := httpapi.NewConfigMemory(st)
			tc.steps(st, m)
			got, ok := m.Remembered("t", "s")
			if (tc.want == "") == ok || (ok && string(got.Config) != tc.want) {
				t.Fatalf("Remembered = %s, %v; want %q", got.Config, ok, tc.want)
			}
			if _, ok := m.Remembered("other", "s"); ok {
				t.Fatal("a copy of another tenant's config")
			}
		})
	}
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
