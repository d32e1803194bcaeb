package configdoc_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/centralhub/centralhub/pkg/configdoc"
)

// decodeObject decodes a JSON object as the hub stores it (UseNumber).
func decodeObject(t testing.TB, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return obj
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, format, in string
		want             configdoc.Flat
		wantErr          string // substring; "" for success
	}{
		// nesting, arrays, empties
		{"yaml nested", "yaml", "db:\n  pool:\n    max: 20\n", configdoc.Flat{"db.pool.max": "20"}, ""},
		{"yaml array", "yaml", "hosts: [a, b]\n", configdoc.Flat{"hosts.0": "a", "hosts.1": "b"}, ""},
		{"yaml array of maps", "yaml", "s:\n  - {x: 1}\n  - {x: 2}\n", configdoc.Flat{"s.0.x": "1", "s.1.x": "2"}, ""},
		{"yaml empties", "yaml", "a: {}\nb: []\nc: null\nd: ''\ne:\n", configdoc.Flat{"a": "", "b": "", "c": "", "d": "", "e": ""}, ""},
		{"yaml empty document", "yaml", "", configdoc.Flat{}, ""},
		{"yaml comment only", "yaml", "# nothing\n", configdoc.Flat{}, ""},
		{"yaml null document", "yaml", "~\n", configdoc.Flat{}, ""},
		{"yaml dotted key", "yaml", "db.url: x\n", configdoc.Flat{"db.url": "x"}, ""},
		{"yaml non-string keys", "yaml", "1: one\ntrue: yes\n", configdoc.Flat{"1": "one", "true": "yes"}, ""},
		{"yaml anchors and merge", "yaml", "base: &b {x: 1}\nderived:\n  <<: *b\n  y: 2\n", configdoc.Flat{"base.x": "1", "derived.x": "1", "derived.y": "2"}, ""},
		{"yaml scalars", "yaml", "s: hello\nb: true\nf: false\ni: 42\nneg: -7\nhex: 0x1F\n", configdoc.Flat{"s": "hello", "b": "true", "f": "false", "i": "42", "neg": "-7", "hex": "31"}, ""},
		{"yaml quoted stays string", "yaml", "a: 'true'\nb: \"042\"\n", configdoc.Flat{"a": "true", "b": "042"}, ""},
		{"yaml floats", "yaml", "a: 1.5\nb: 1000.0\nc: 1e3\nd: -0.0\ne: .inf\nf: -.inf\ng: .nan\nh: 1e-7\ni: 1e21\nj: 0.000001\n",
			configdoc.Flat{"a": "1.5", "b": "1000", "c": "1000", "d": "0", "e": "inf", "f": "-inf", "g": "nan", "h": "1e-07", "i": "1e+21", "j": "0.000001"}, ""},
		{"yaml timestamps", "yaml", "a: 2024-05-01T10:00:00+02:00\nb: 2024-05-01T08:00:00.500Z\nc: 2024-05-01\nd: 2024-05-01 10:00:00\ne: '2024-05-01 10:00:00'\n",
			configdoc.Flat{"a": "2024-05-01T10:00:00+02:00", "b": "2024-05-01T08:00:00.5Z", "c": "2024-05-01", "d": "2024-05-01T10:00:00", "e": "2024-05-01 10:00:00"}, ""},
		{"yaml syntax error names the line", "yaml", "a: 1\nb: [\n", nil, "line 2"},
		{"yaml duplicate key", "yaml", "a: 1\na: 2\n", nil, "already defined"},
		{"yaml top-level list", "yaml", "- a\n- b\n", nil, "want a mapping"},
		{"yaml two documents", "yaml", "a: 1\n---\nb: 2\n", nil, "second YAML document"},
		{"yaml collision", "yaml", "db.url: x\ndb:\n  url: y\n", nil, `key "db.url" appears twice`},
		{"yaml empty key", "yaml", "db:\n  '': x\n", nil, `key "db": holds an empty key`},
		{"yaml bad indentation", "yaml", "a:\n  b: 1\n c: 2\n", nil, "line 2: did not find expected key"},

		{"json nested", "json", `{"db": {"pool": {"max": 20}}, "hosts": ["a", "b"]}`, configdoc.Flat{"db.pool.max": "20", "hosts.0": "a", "hosts.1": "b"}, ""},
		{"json scalars", "json", `{"s": "x", "t": true, "f": false, "n": null, "e": {}, "l": []}`, configdoc.Flat{"s": "x", "t": "true", "f": "false", "n": "", "e": "", "l": ""}, ""},
		{"json numbers", "json", `{"a": 1e3, "b": 1.5, "c": -0, "d": 12345678901234567890, "e": 1e-7, "f": 1E+21, "g": 1234567.5, "h": -9223372036854775808, "i": 1.0}`,
			configdoc.Flat{"a": "1000", "b": "1.5", "c": "0", "d": "12345678901234567890", "e": "1e-07", "f": "1e+21", "g": "1234567.5", "h": "-9223372036854775808", "i": "1"}, ""},
		{"json empty file", "json", "  \n", configdoc.Flat{}, ""},
		{"json syntax error names line and column", "json", "{\n  \"a\": 1,\n}", nil, "line 3, column 1"},
		{"json truncated", "json", "{\n  \"a\": ", nil, "line 2"},
		{"json top-level array", "json", `[1, 2]`, nil, "the top level is an array; want an object"},
		{"json trailing data", "json", `{"a": 1} {"b": 2}`, nil, "data after the top-level object"},
		{"json empty key", "json", `{"": 1}`, nil, "empty key at the top level"},

		{"toml tables", "toml", "[db.pool]\nmax = 20\n[[s]]\nx = 1\n[[s]]\nx = 2\n", configdoc.Flat{"db.pool.max": "20", "s.0.x": "1", "s.1.x": "2"}, ""},
		{"toml scalars", "toml", "s = 'x'\nt = true\ni = 0x1F\nf = 1.5\ng = 1e3\nh = inf\nn = nan\ne = {}\nl = []\n",
			configdoc.Flat{"s": "x", "t": "true", "i": "31", "f": "1.5", "g": "1000", "h": "inf", "n": "nan", "e": "", "l": ""}, ""},
		{"toml timestamps", "toml", "a = 2024-05-01T10:00:00+02:00\nb = 2024-05-01 08:00:00.500Z\nc = 2024-05-01\nd = 2024-05-01T10:00:00\ne = 10:00:00\n",
			configdoc.Flat{"a": "2024-05-01T10:00:00+02:00", "b": "2024-05-01T08:00:00.5Z", "c": "2024-05-01", "d": "2024-05-01T10:00:00", "e": "10:00:00"}, ""},
		{"toml quoted dotted key collides", "toml", "\"db.url\" = 'x'\n[db]\nurl = 'y'\n", nil, "appears twice"},
		{"toml syntax error names line and key", "toml", "a = 1\nb = \n", nil, `line 2 (last key "b")`},
		{"toml duplicate key", "toml", "a = 1\na = 2\n", nil, "line 2"},

		{"env basics", "env", "# comment\n\nexport A=1\nB = two words \nC='single # kept'\nD=\"esc\\n\\\"q\\\" \\\\ \\$x\"\n",
			configdoc.Flat{"A": "1", "B": "two words", "C": "single # kept", "D": "esc\n\"q\" \\ \\$x"}, ""},
		{"env comments", "env", "A=x # comment\nB=x#not\nC= # only a comment\nD=#kept\nE='q' # c\n", configdoc.Flat{"A": "x", "B": "x#not", "C": "", "D": "#kept", "E": "q"}, ""},
		{"env no interpolation", "env", "A=$HOME\nB=\"${HOME}\"\n", configdoc.Flat{"A": "$HOME", "B": "${HOME}"}, ""},
		{"env dotted keys and CRLF", "env", "db.url=x\r\ndb.pool-max=20\r\n", configdoc.Flat{"db.url": "x", "db.pool-max": "20"}, ""},
		{"env empty value", "env", "A=\nB=''\n", configdoc.Flat{"A": "", "B": ""}, ""},
		{"env missing equals", "env", "A=1\nB\n", nil, "line 2: want KEY=value"},
		{"env bad key", "env", "1A=x\n", nil, `line 1: key "1A"`},
		{"env unterminated", "env", "A=\"x\n", nil, "line 1: key \"A\": unterminated double-quoted value"},
		{"env text after quote", "env", "A='x' y\n", nil, "text after the closing quote"},
		{"env duplicate", "env", "A=1\nB=2\nA=3\n", nil, `line 3: key "A": already set on line 1`},

		{"unknown format", "ini", "a=1", nil, "unknown config format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := configdoc.Parse(tc.format, []byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse error = %v, want one containing %q (got %v)", err, tc.wantErr, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !maps.Equal(got, tc.want) {
				t.Errorf("Parse =\n %q\nwant\n %q", got, tc.want)
			}
		})
	}
}

// TestEquivalentFormats: one config written in every format has one canonical form and one
// checksum, equal to that of the JSON object the hub stores.
func TestEquivalentFormats(t *testing.T) {
	for _, tc := range []struct {
		name   string
		object string
		files  map[string]string
	}{
		{
			name:   "service config",
			object: `{"db": {"url": "postgres://db:5432/orders", "pool": {"max": 20, "ratio": 1.5}}, "debug": false, "hosts": ["a", "b"], "started": "2024-05-01T10:00:00Z", "limit": 1e3, "empty": ""}`,
			files: map[string]string{
				"yaml": "db:\n  url: postgres://db:5432/orders\n  pool: {max: 20, ratio: 1.50}\ndebug: false\nhosts:\n  - a\n  - b\nstarted: 2024-05-01T10:00:00Z\nlimit: 1000\nempty:\n",
				"json": `{"limit": 1000.0, "empty": null, "hosts": ["a", "b"], "debug": false, "started": "2024-05-01T10:00:00Z", "db": {"url": "postgres://db:5432/orders", "pool": {"ratio": 15e-1, "max": 20}}}`,
				"toml": "debug = false\nhosts = ['a', 'b']\nstarted = 2024-05-01T10:00:00Z\nlimit = 1_000\nempty = ''\n[db]\nurl = \"postgres://db:5432/orders\"\n[db.pool]\nmax = 20\nratio = 1.5\n",
				"env":  "db.url=postgres://db:5432/orders\ndb.pool.max=20\ndb.pool.ratio=1.5\ndebug=false\nhosts.0=a\nhosts.1=b\nstarted=2024-05-01T10:00:00Z\nlimit=1000\nempty=\n",
			},
		},
		{
			name:   "empty",
			object: `{}`,
			files:  map[string]string{"yaml": "", "json": "{}", "toml": "", "env": "# nothing\n"},
		},
		{
			name:   "flat env-style keys",
			object: `{"DB_PASSWORD": "s3 cr#t", "PORT": 8080}`,
			files: map[string]string{
				"yaml": "DB_PASSWORD: 's3 cr#t'\nPORT: 8080\n",
				"json": `{"PORT": 8080, "DB_PASSWORD": "s3 cr#t"}`,
				"toml": "DB_PASSWORD = \"s3 cr#t\"\nPORT = 8080\n",
				"env":  "export DB_PASSWORD=\"s3 cr#t\"\nPORT=8080 # the port\n",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := configdoc.FromObject(decodeObject(t, tc.object))
			if err != nil {
				t.Fatal(err)
			}
			for _, format := range configdoc.Formats {
				got, err := configdoc.Parse(format, []byte(tc.files[format]))
				if err != nil {
					t.Fatalf("%s: %v", format, err)
				}
				if !maps.Equal(got, want) {
					t.Errorf("%s =\n %q\nwant\n %q", format, got, want)
				}
				if got.Checksum() != want.Checksum() {
					t.Errorf("%s checksum %s, want %s", format, got.Checksum(), want.Checksum())
				}
			}
		})
	}
}

func TestChecksum(t *testing.T) {
	sum := func(s string) string {
		h := sha256.Sum256([]byte(s))
		return "sha256:" + hex.EncodeToString(h[:])
	}
	for _, tc := range []struct {
		name string
		flat configdoc.Flat
		want string
	}{
		{"empty", configdoc.Flat{}, sum("")},
		{"nil", nil, sum("")},
		{"netstrings in key order", configdoc.Flat{"b": "", "a": "1"}, sum("1:a,1:1,1:b,0:,")},
		{"bytes, not runes", configdoc.Flat{"é": "ü"}, sum("2:é,2:ü,")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.flat.Checksum(); got != tc.want {
				t.Errorf("Checksum = %s, want %s", got, tc.want)
			}
		})
	}
	// Pairs whose concatenations agree must still differ.
	for _, pair := range [][2]configdoc.Flat{
		{{"a": "b,1:c"}, {"a": "b", "c": ""}},
		{{"ab": "c"}, {"a": "bc"}},
		{{"a": ""}, {}},
	} {
		if pair[0].Checksum() == pair[1].Checksum() {
			t.Errorf("%q and %q share a checksum", pair[0], pair[1])
		}
	}
}

func TestKeys(t *testing.T) {
	got := configdoc.Flat{"b": "", "a.b": "", "a": "", "B": ""}.Keys()
	want := []string{"B", "a", "a.b", "b"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Keys = %q, want %q", got, want)
	}
}

func TestFormatOf(t *testing.T) {
	for _, tc := range []struct{ path, want string }{
		{"/etc/orders/config.yaml", "yaml"},
		{"app.YML", "yaml"},
		{"/srv/app.json", "json"},
		{"pyproject.toml", "toml"},
		{"/srv/.env", "env"},
		{"/srv/.env.local", "env"},
		{"/srv/.env.production", "env"},
		{"orders.env", "env"},
		{"/etc/orders/config", ""},
		{"config.ini", ""},
		{"environment.txt", ""},
		{"/srv/.envrc", ""},
	} {
		t.Run(tc.path, func(t *testing.T) {
			got, err := configdoc.FormatOf(tc.path)
			if tc.want == "" {
				if !errors.Is(err, configdoc.ErrFormat) {
					t.Fatalf("FormatOf = %q, %v; want an ErrFormat error", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("FormatOf = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestIsSecretKey(t *testing.T) {
	for _, tc := range []struct {
		key  string
		want bool
	}{
		{"password", true}, {"db.password", true}, {"DB_PASSWORD", true}, {"dbPassword", true},
		{"db-passwd", true}, {"smtp.pass", true}, {"db_pwd", true}, {"gpg.passphrase", true},
		{"jwt_secret", true}, {"client_secret", true}, {"Secrets", true},
		{"GITHUB_TOKEN", true}, {"refreshToken", true}, {"oauth2_token", true},
		{"api_key", true}, {"apiKey", true}, {"APIKey", true}, {"API_KEY", true}, {"apikey", true},
		{"stripe.api-key", true}, {"tls.private_key", true}, {"privateKey", true},
		{"AWS_SECRET_ACCESS_KEY", true}, {"aws.access_key", true}, {"jwt.signing_key", true},
		{"credential", true}, {"gcp.credentials", true}, {"redis.auth", true},
		{"http.authorization", true}, {"db.dsn", true}, {"sentry_dsn", true},
		{"tokens.0", true}, {"api_tokens.1", true},
		{"credentials.aws", true}, {"api_keys.stripe", true}, {"secrets.db.user", true},
		{"tokens_issued_count", true}, // a false positive, on the safe side

		{"key", false}, {"keys", false}, {"monkey", false}, {"keyspace", false}, {"cache.key", false},
		{"hotkeys", false}, {"db.url", false}, {"db.user", false}, {"username", false},
		{"bypass", false}, {"author", false}, {"passenger", false}, {"tokenizer", false},
		{"pool.max", false}, {"hosts.0", false}, {"0", false}, {"", false},
		{"auth.enabled", false}, {"password_policy.min_length", false}, {"public_key", false},
	} {
		t.Run(tc.key, func(t *testing.T) {
			if got := configdoc.IsSecretKey(tc.key); got != tc.want {
				t.Errorf("IsSecretKey(%q) = %v, want %v", tc.key, got, tc.want)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	obj := decodeObject(t, `{"db": {"url": "postgres://x", "password": "hunter2", "pool": {"max": 20}},
		"api_keys": {"stripe": "sk_live"}, "tokens": ["a", "b"], "jwt_secret": {}, "auth": null,
		"hosts": ["h1"], "empty_token": []}`)
	got := configdoc.RedactObject(obj)
	want := decodeObject(t, `{"db": {"url": "postgres://x", "password": "<redacted>", "pool": {"max": 20}},
		"api_keys": {"stripe": "<redacted>"}, "tokens": ["<redacted>", "<redacted>"], "jwt_secret": "<redacted>",
		"auth": "<redacted>", "hosts": ["h1"], "empty_token": "<redacted>"}`)
	gotJSON, _ := json.Marshal(got)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("RedactObject =\n %s\nwant\n %s", gotJSON, wantJSON)
	}
	if _, ok := got["db"].(map[string]any)["pool"].(map[string]any)["max"].(json.Number); !ok {
		t.Errorf("RedactObject changed a number's type")
	}
	if obj["db"].(map[string]any)["password"] != "hunter2" {
		t.Errorf("RedactObject changed its input")
	}

	// Flat.Redacted hides the same keys as RedactObject.
	flat, err := configdoc.FromObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	flatOfRedacted, err := configdoc.FromObject(got)
	if err != nil {
		t.Fatal(err)
	}
	if r := flat.Redacted(); !maps.Equal(r, flatOfRedacted) {
		t.Errorf("Flat.Redacted =\n %q\nFromObject(RedactObject) =\n %q", r, flatOfRedacted)
	}
	if flat["db.password"] != "hunter2" {
		t.Errorf("Redacted changed its receiver")
	}
}

func TestDiff(t *testing.T) {
	have := configdoc.Flat{"a": "1", "b": "2", "c": "3", "e": "secret-value"}
	want := configdoc.Flat{"a": "1", "b": "20", "d": "4", "e": "other-value"}
	got := configdoc.Diff(have, want)
	wantDiff := []configdoc.Difference{
		{Key: "b", Reason: configdoc.DiffDiffers},
		{Key: "c", Reason: configdoc.DiffUnexpected},
		{Key: "d", Reason: configdoc.DiffMissing},
		{Key: "e", Reason: configdoc.DiffDiffers},
	}
	if len(got) != len(wantDiff) {
		t.Fatalf("Diff = %+v, want %+v", got, wantDiff)
	}
	for i := range got {
		if got[i] != wantDiff[i] {
			t.Errorf("Diff[%d] = %+v, want %+v", i, got[i], wantDiff[i])
		}
	}
	if d := configdoc.Diff(have, have); d != nil {
		t.Errorf("Diff of equal configs = %+v, want nil", d)
	}
	if d := configdoc.Diff(nil, configdoc.Flat{}); d != nil {
		t.Errorf("Diff of empty configs = %+v, want nil", d)
	}
}

func TestRenderRoundTrip(t *testing.T) {
	nested := `{"db": {"url": "postgres://db:5432/orders?sslmode=disable", "password": "p@ss: 'w\"ord' #1",
		"pool": {"max": 20, "ratio": 1.5, "tiny": 1e-9, "huge": 1e300}},
		"hosts": ["a", "b c"], "matrix": [[1, 2], []], "servers": [{"name": "x", "port": 1}, {"name": "y", "port": 2}],
		"flags": {"yes": "true", "num": "042", "date": "2024-05-01", "null": null, "empty": {}},
		"multi": "line one\nline two\n", "unicode": "zürich ☃", "dotted.key": "v", "neg": -0.5, "int": -3, "off": false}`
	flat := `{"DB_URL": "postgres://db/orders", "DB_PASSWORD": "p@ss 'w\"ord' #1 $HOME \\n", "PORT": 8080,
		"RATIO": 1.5, "DEBUG": true, "EMPTY": "", "NONE": null, "MULTI": "a\nb", "QUOTE": "it's", "db.url": "x",
		"LEADING": " space", "HASH": "#x", "TAB": "a\tb"}`
	for _, tc := range []struct {
		format, object string
	}{
		{"yaml", nested}, {"json", nested}, {"toml", nested},
		{"yaml", flat}, {"json", flat}, {"toml", flat}, {"env", flat},
		{"yaml", `{"big": 12345678901234567890}`}, {"json", `{"big": 12345678901234567890}`},
		{"yaml", `{}`}, {"json", `{}`}, {"toml", `{}`}, {"env", `{}`},
	} {
		t.Run(tc.format, func(t *testing.T) {
			obj := decodeObject(t, tc.object)
			want, err := configdoc.FromObject(obj)
			if err != nil {
				t.Fatal(err)
			}
			out, err := configdoc.Render(tc.format, obj)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			got, err := configdoc.Parse(tc.format, out)
			if err != nil {
				t.Fatalf("Parse(Render):\n%s\n%v", out, err)
			}
			if !maps.Equal(got, want) {
				t.Errorf("Parse(Render) =\n %q\nwant\n %q\nrendered:\n%s", got, want, out)
			}
		})
	}
}

func TestRenderRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, format, object, wantErr string
	}{
		{"env nested object", "env", `{"db": {"url": "x"}}`, `key "db" holds an object or array`},
		{"env array", "env", `{"hosts": ["a"]}`, `key "hosts" holds an object or array`},
		{"env bad key", "env", `{"1X": "a"}`, `key "1X"`},
		{"toml integer beyond int64", "toml", `{"n": 18446744073709551615}`, "does not fit"},
		{"collision", "yaml", `{"a.b": 1, "a": {"b": 2}}`, "appears twice"},
		{"empty key", "json", `{"": 1}`, "empty key"},
		{"unknown format", "ini", `{}`, "unknown config format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := configdoc.Render(tc.format, decodeObject(t, tc.object))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Render = %q, %v; want an error containing %q", out, err, tc.wantErr)
			}
		})
	}
}

func TestRenderJSONShape(t *testing.T) {
	out, err := configdoc.Render("json", decodeObject(t, `{"b": {"c": 1e3}, "a": "<x>"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"a\": \"<x>\",\n  \"b\": {\n    \"c\": 1e3\n  }\n}\n"
	if string(out) != want {
		t.Errorf("Render json =\n%s\nwant\n%s", out, want)
	}
}

func TestFromObjectTypes(t *testing.T) {
	got, err := configdoc.FromObject(map[string]any{
		"i": 3, "i64": int64(-4), "u": uint8(5), "f32": float32(1.1), "f": 2.5,
		"m": map[any]any{1: "one"}, "tables": []map[string]any{{"x": 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := configdoc.Flat{"i": "3", "i64": "-4", "u": "5", "f32": "1.1", "f": "2.5", "m.1": "one", "tables.0.x": "1"}
	if !maps.Equal(got, want) {
		t.Errorf("FromObject = %q, want %q", got, want)
	}
	if _, err := configdoc.FromObject(map[string]any{"c": make(chan int)}); err == nil || !strings.Contains(err.Error(), `key "c"`) {
		t.Errorf("FromObject(chan) error = %v, want one naming key c", err)
	}
}

// TestParseErrorsHideValues: a parse error names lines and keys, never a value of the file.
func TestParseErrorsHideValues(t *testing.T) {
	for _, tc := range []struct{ format, in, want string }{
		{"toml", "password = hunter2\n", `line 1 (last key "password"): expected value but found "…" instead`},
		{"toml", "password = 'hunter2' junk\n", "line 1: expected a top-level item"},
		{"yaml", "password: !!int hunter2\n", "cannot decode !!str `…` as a !!int"},
		{"yaml", "password: \"hunter2\n", "line 2"},
		{"json", `{"password": hunter2}`, "line 1, column 14: invalid character 'h'"},
		{"env", "password=\"hunter2\n", `line 1: key "password": unterminated double-quoted value`},
	} {
		t.Run(tc.format+" "+tc.in, func(t *testing.T) {
			_, err := configdoc.Parse(tc.format, []byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse error = %v, want one containing %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter") {
				t.Errorf("Parse error %q shows a value", err)
			}
		})
	}
}
