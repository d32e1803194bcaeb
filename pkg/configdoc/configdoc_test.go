package configdoc_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"strings"
	"testing"
	"time"

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
		{"env bad key", "env", "1A=x\n", nil, `line 1: the text before '=' is not a valid key (letters, digits, '_', '.', '-', starting with a letter or '_')`},
		{"env empty key", "env", "A=1\n=x\n", nil, `line 2: the text before '=' is not a valid key`},
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
		// names run together as one word
		{"PGPASSWORD", true}, {"DBPASSWORD", true}, {"dbpassword", true}, {"PGPASS", true},
		{"AUTHTOKEN", true}, {"ACCESSTOKEN", true}, {"accesstoken", true}, {"mysecret", true},
		{"dbcredentials", true}, {"smtppasswd", true}, {"rootpwd", true}, {"SENTRYDSN", true},
		{"stripeapikey", true}, {"awsaccesskeys", true}, {"sslkey", true}, {"authtokens.github", true},
		{"dbpasswords.0", true}, {"dbcreds.user", true},
		// a bare key after tls, ssl, client, hmac, session or jwt
		{"tls.key", true}, {"ssl_key", true}, {"client_key", true}, {"hmacKey", true},
		{"session_key", true}, {"jwt_key", true}, {"server.tls.key", true}, {"api.key", true},
		{"SSL_KEYS", true}, {"client.keys.0", true},
		// words holding a stem that name no secret
		{"tokenizers", false}, {"tokenize", false}, {"secretary", false}, {"compass", false},
		{"encompass", false}, {"trespass", false}, {"tokenizer.model", false},
		{"tls.cert", false}, {"ssl.enabled", false}, {"client.id", false}, {"session.ttl", false},
		{"jwt.issuer", false}, {"keys.0", false}, {"client.public_key", false}, {"passkey_enabled", false},

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

// TestRenderRoundTrip is the property Render promises: for every object,
// Parse(format, Render(format, obj)) is FromObject(obj), in yaml, json and toml, and in env for
// the flat objects. An object lists the formats that refuse it, with the refusal.
func TestRenderRoundTrip(t *testing.T) {
	nested := `{"db": {"url": "postgres://db:5432/orders?sslmode=disable", "password": "p@ss: 'w\"ord' #1",
		"pool": {"max": 20, "ratio": 1.5, "tiny": 1e-9, "huge": 1e300}},
		"hosts": ["a", "b c"], "matrix": [[1, 2], []], "servers": [{"name": "x", "port": 1}, {"name": "y", "port": 2}],
		"flags": {"yes": "true", "num": "042", "date": "2024-05-01", "null": null, "empty": {}},
		"multi": "line one\nline two\n", "unicode": "zürich ☃", "dotted.key": "v", "neg": -0.5, "int": -3, "off": false}`
	flat := `{"DB_URL": "postgres://db/orders", "DB_PASSWORD": "p@ss 'w\"ord' #1 $HOME \\n", "PORT": 8080,
		"RATIO": 1.5, "DEBUG": true, "EMPTY": "", "NONE": null, "MULTI": "a\nb", "QUOTE": "it's", "db.url": "x",
		"LEADING": " space", "HASH": "#x", "TAB": "a\tb"}`
	// numbers at and beyond the 64-bit edges, and floats near the exponent-form bounds
	numbers := `{"big": 1e20, "bigint": 100000000000000000000, "negbig": -1e20, "negbigint": -100000000000000000000,
		"i64max": 9223372036854775807, "i64min": -9223372036854775808, "belowmin": -9223372036854775809,
		"two64": 18446744073709551616, "e20frac": 1.5e20, "e21": 1e21, "huge": 1e300,
		"negzero": -0, "negzerof": -0.0, "tiny": 1e-7, "small": 0.000001, "denormal": 5e-324, "tenth": 0.1,
		"int": 42, "float": 42.0, "neg": -17, "list": [1e20, -0, 1e-7, 18446744073709551616]}`
	// strings that, written plain, a YAML (1.2 or 1.1), TOML or .env reader would take for
	// something else
	lookalikes := `{"true": "true", "False": "False", "hex": "0x1F", "oct": "0o17", "bin": "0b101", "leading0": "012",
		"date": "2024-05-01", "shortdate": "2024-5-1", "datetime": "2024-05-01T10:00:00Z", "spaced": "2024-05-01 10:00:00",
		"null": "null", "Null": "NULL", "tilde": "~", "yes": "yes", "No": "NO", "on": "on", "Off": "Off", "y": "y",
		"num": "42", "neg": "-7", "plus": "+1", "float": "1.5", "exp": "1e3", "dot": ".5", "inf": ".inf", "nan": "NaN",
		"under": "1_000", "sexa": "1:20", "time": "10:00:00", "merge": "<<", "equals": "=", "empty": "",
		"space": " x ", "multi": "a\nb", "trailing": "a \nb\n", "cr": "a\rb", "tab": "\t", "quotes": "'\"",
		"hash": "# not a comment", "colon": "a: b", "dash": "- x", "at": "@x", "backtick": "` + "`x" + `",
		"brackets": "[a, b]", "braces": "{a: 1}", "amp": "&anchor", "star": "*alias", "bang": "!tag", "pct": "%x",
		"nul": "\u0000", "bom": "\ufeffx", "backslash": "C:\\dir\\", "dollar": "$HOME",
		"linesep": "a\u2028b", "nel": "a\u0085b", "blanks": "   ", "del": "\u007f", "esc": "\u001b[0m"}`
	keys := `{"zürich": {"☃": "snow", "日本": 1}, "a b": "c", "x.y": {"z": 1}, "-": 1, "#": "h", "key:colon": 1,
		"true": {"null": 2, "1": 3, "~": 4, "yes": 5, "<<": 6, "2024-05-01": 7, "0x1F": 8}, "multi\nline": 1, "tab\tkey": 2, "quote'\"": 3}`
	nesting := `{"m": [[1, [2, []]], [], [{}], [{"a": null}]], "mixed": [1, "a", true, null, {"x": 1}, [2]],
		"tables": [{"a": {"b": [{"c": 1}]}}, {}], "deep": {"a": {"b": {"c": {"d": {}}}}}, "nulls": [null, null]}`
	flatLookalikes := `{"A": "true", "B": "0x1F", "C": "2024-05-01", "D": "null", "E": "~", "F": "yes", "G": " sp ",
		"H": "a\nb", "I": "it's \"q\"", "J": "\\n", "K": "#x", "L": "$HOME", "M": "", "N": "=x", "O": "é ☃",
		"P": "a\tb", "Q": "'", "R": "\"", "S": "x #y", "T": "a\rb", "U": "x\\", "V": "'q' #c", "W": "export X=1",
		"db.url": "x", "db-pool": "y", "_u": "z", "NUM": 8080, "NEG": -0, "BIG": 1e20, "BOOL": false, "NUL": null}`
	for _, tc := range []struct {
		name, object string
		goObj        map[string]any    // when object is "": values Go code may hold
		refuse       map[string]string // format → what its error says
	}{
		{"go values", "", map[string]any{
			"negzero": math.Copysign(0, -1), "f32": float32(0.1), "i8": int8(-8), "u32": uint32(1 << 31),
			"big": 1e20, "at": time.Date(2024, 5, 1, 10, 0, 0, 500, time.FixedZone("", 2*3600)),
			"utc": time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC), "i64": int64(math.MinInt64),
		}, nil},
		{"go uint64 beyond int64", "", map[string]any{"u": uint64(1 << 63)}, map[string]string{"toml": "does not fit"}},
		{"go infinities", "", map[string]any{"inf": math.Inf(1), "ninf": math.Inf(-1), "nan": math.NaN()},
			map[string]string{"json": "unsupported value"}},
		{"nested", nested, nil, map[string]string{"env": "holds an object or array"}},
		{"flat", flat, nil, nil},
		{"numbers", numbers, nil, map[string]string{"env": "holds an object or array"}},
		{"uint64 beyond int64", `{"u64max": 18446744073709551615, "big": 12345678901234567890, "two63": 9223372036854775808}`, nil,
			map[string]string{"toml": "does not fit TOML's 64 bits"}},
		{"string lookalikes", lookalikes, nil, nil},
		{"keys", keys, nil, map[string]string{"env": `key "#"`}},
		{"nesting", nesting, nil, map[string]string{"env": "holds an object or array"}},
		{"flat lookalikes", flatLookalikes, nil, nil},
		{"empty", `{}`, nil, nil},
	} {
		obj := tc.goObj
		if tc.object != "" {
			obj = decodeObject(t, tc.object)
		}
		want, err := configdoc.FromObject(obj)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for _, format := range configdoc.Formats {
			t.Run(tc.name+" "+format, func(t *testing.T) {
				out, err := configdoc.Render(format, obj)
				if refusal, ok := tc.refuse[format]; ok {
					if err == nil || !strings.Contains(err.Error(), refusal) {
						t.Fatalf("Render = %v, want an error containing %q; rendered:\n%s", err, refusal, out)
					}
					return
				}
				if err != nil {
					t.Fatalf("Render: %v", err)
				}
				got, err := configdoc.Parse(format, out)
				if err != nil {
					t.Fatalf("Parse(Render):\n%s\n%v", out, err)
				}
				if !maps.Equal(got, want) {
					for _, k := range want.Keys() {
						if g, ok := got[k]; !ok || g != want[k] {
							t.Errorf("key %q: got %q (present %v), want %q", k, g, ok, want[k])
						}
					}
					for k, g := range got {
						if _, ok := want[k]; !ok {
							t.Errorf("unexpected key %q = %q", k, g)
						}
					}
					t.Errorf("rendered:\n%s", out)
				}
			})
		}
	}
}

// TestRenderYAMLQuotesLookalikes: a string that a YAML 1.1 reader (PyYAML) would take for a
// boolean or a number is quoted, though yaml.v3 would read it plain as a string.
func TestRenderYAMLQuotesLookalikes(t *testing.T) {
	out, err := configdoc.Render("yaml", map[string]any{"a": "yes", "b": "off", "c": "1:20", "d": "plain", "on": 1})
	if err != nil {
		t.Fatal(err)
	}
	want := "a: \"yes\"\nb: \"off\"\nc: \"1:20\"\nd: plain\n\"on\": 1\n"
	if string(out) != want {
		t.Errorf("Render yaml =\n%s\nwant\n%s", out, want)
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
		// the second line of a value written across two lines, unquoted
		{"env", "CERT=MIIBIjANBgkq\nhunter2+ZmFrZQ/secret==\n", "line 2: the text before '=' is not a valid key"},
		{"env", "A=1\nhunter2 x=y\n", "line 2: the text before '=' is not a valid key"},
		{"env", "1hunter2=x\n", "line 1: the text before '=' is not a valid key"},
		// toml quotes pieces of a value in single quotes
		{"toml", "password = 0xhunter2\n", `line 1 (last key "password"): not a hexadecimal number: '…'`},
		{"toml", "password = 0ohunter2\n", "not an octal number: '…'"},
		{"toml", "password = 0bhunter2\n", "not a binary number: '…'"},
		{"toml", "password = +0xhunter2\n", "cannot use sign with non-decimal numbers: '…'"},
		{"toml", "password = +inhunter2\n", "invalid float: '…'"},
		{"toml", "password = 'hunter2'\npassword = 'x'\n", "Key 'password' has already been defined"},
		{"toml", "[hunter2 x]\n", "expected '.' or ']' to end table name, but got 'x' instead"},
	} {
		t.Run(tc.format+" "+tc.in, func(t *testing.T) {
			_, err := configdoc.Parse(tc.format, []byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse error = %v, want one containing %q", err, tc.want)
			}
			// "0xh": the start of the value, which is all toml quotes of it.
			for _, piece := range []string{"hunter", "0xh", "0oh", "0bh", "+0x", "+in", "ZmFrZQ"} {
				if strings.Contains(err.Error(), piece) {
					t.Errorf("Parse error %q shows a value", err)
				}
			}
		})
	}
}

// Documents nested n levels deep, each holding one value under a key of n parts.
func deepJSONObjects(n int) string {
	return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n)
}
func deepJSONArrays(n int) string {
	return `{"a":` + strings.Repeat("[", n-1) + "1" + strings.Repeat("]", n-1) + "}"
}
func deepTOMLArrays(n int) string {
	return "a = " + strings.Repeat("[", n-1) + "1" + strings.Repeat("]", n-1) + "\n"
}
func deepTOMLInline(n int) string {
	return "a = " + strings.Repeat("{a = ", n-1) + "1" + strings.Repeat("}", n-1) + "\n"
}
func deepTOMLDottedKey(n int) string { return strings.Repeat("a.", n-1) + "a = 1\n" }
func deepTOMLHeader(n int) string    { return "[" + strings.Repeat("a.", n-2) + "a]\nb = 1\n" }
func deepTOMLArrayHeader(n int) string {
	return "[[" + strings.Repeat("a.", n-3) + "a]]\nb = 1\n"
}
func deepYAMLFlow(n int) string {
	return "a: " + strings.Repeat("[", n-1) + "1" + strings.Repeat("]", n-1) + "\n"
}
func deepYAMLBlock(n int) string {
	var b strings.Builder
	for i := range n - 1 {
		b.WriteString(strings.Repeat("  ", i) + "a:\n")
	}
	return b.String() + strings.Repeat("  ", n-1) + "a: 1\n"
}

// TestNestingLimit: a document nested MaxDepth levels deep parses; one level more is refused,
// and a pathological one (100,000 levels, which would overflow the TOML parser's stack) is
// refused by the scan before the parser runs.
func TestNestingLimit(t *testing.T) {
	if configdoc.MaxDepth != 64 {
		t.Fatalf("MaxDepth = %d; the documentation says 64", configdoc.MaxDepth)
	}
	for _, tc := range []struct {
		name, format string
		doc          func(n int) string
	}{
		{"json objects", "json", deepJSONObjects},
		{"json arrays", "json", deepJSONArrays},
		{"toml arrays", "toml", deepTOMLArrays},
		{"toml inline tables", "toml", deepTOMLInline},
		{"toml dotted key", "toml", deepTOMLDottedKey},
		{"toml header", "toml", deepTOMLHeader},
		{"toml array of tables header", "toml", deepTOMLArrayHeader},
		{"yaml flow", "yaml", deepYAMLFlow},
		{"yaml block", "yaml", deepYAMLBlock},
	} {
		t.Run(tc.name, func(t *testing.T) {
			flat, err := configdoc.Parse(tc.format, []byte(tc.doc(configdoc.MaxDepth)))
			if err != nil {
				t.Fatalf("%d levels: %v", configdoc.MaxDepth, err)
			}
			if keys := flat.Keys(); len(keys) != 1 || strings.Count(keys[0], ".")+1 != configdoc.MaxDepth {
				t.Fatalf("%d levels: %q, want one key of %d parts", configdoc.MaxDepth, keys, configdoc.MaxDepth)
			}
			depths := []int{configdoc.MaxDepth + 1, 100_000}
			if tc.name == "yaml block" {
				depths = depths[:1] // 100,000 levels of indentation are 10 GB
			}
			for _, n := range depths {
				_, err := configdoc.Parse(tc.format, []byte(tc.doc(n)))
				if !errors.Is(err, configdoc.ErrTooDeep) || !strings.Contains(err.Error(), "nested deeper than 64 levels") {
					t.Errorf("%d levels: error %v, want %v", n, err, configdoc.ErrTooDeep)
				}
			}
		})
	}
}

// TestNestingLimitScans: the scans that run before the parsers count brackets and dots in
// the document's structure, not in its strings or comments, and say where they stopped.
func TestNestingLimitScans(t *testing.T) {
	deep := strings.Repeat("[", 100) + strings.Repeat("{", 100) + "." + strings.Repeat("a.", 100)
	for _, tc := range []struct {
		name, format, in string
		want             configdoc.Flat
		wantErr          string // "" for success
	}{
		{"json string", "json", `{"a": "` + deep + `", "b": "\"` + deep + `"}`, configdoc.Flat{"a": deep, "b": `"` + deep}, ""},
		{"json position", "json", "{\"a\":\n" + deepJSONArrays(70)[5:], nil, "line 2, column 64: nested deeper than 64 levels"},
		{"toml strings", "toml", `a = "` + deep + `"` + "\nb = '" + deep + "'\n" +
			`c = """` + "\n" + deep + "\n" + `"""` + "\nd = '''" + deep + "'''\n",
			configdoc.Flat{"a": deep, "b": deep, "c": deep + "\n", "d": deep}, ""},
		{"toml escaped quote", "toml", `a = "\"` + deep + `"`, configdoc.Flat{"a": `"` + deep}, ""},
		{"toml quoted key", "toml", `"` + deep + `" = 1`, configdoc.Flat{deep: "1"}, ""},
		{"toml comment", "toml", "# " + deep + "\na = 1 # " + deep + "\n", configdoc.Flat{"a": "1"}, ""},
		{"toml floats and dates", "toml", "a = [" + strings.Repeat("1.5, 1979-05-27T07:32:00.5Z, ", 100) + "]\n", nil, ""},
		{"toml multi-line array", "toml", "a = [\n  [1],\n  # ]]]\n  [2, {b.c = 3}],\n]\nd = 4\n",
			configdoc.Flat{"a.0.0": "1", "a.1.0": "2", "a.1.1.b.c": "3", "d": "4"}, ""},
		{"toml position", "toml", "a = 1\n\nb = '''\n\n'''\n" + deepTOMLArrays(65), nil, "line 6: nested deeper than 64 levels"},
		// A header through an array of tables is one level deeper than the scan counts: the
		// check after decoding refuses it.
		{"toml header under an array of tables", "toml", "[[a]]\n[a." + strings.Repeat("b.", 61) + "b]\nc = 1\n",
			nil, `key "` + ("a.0." + strings.Repeat("b.", 62))[:64] + `…": nested deeper than 64 levels`},
		{"yaml quoted", "yaml", `a: "` + deep + `"`, configdoc.Flat{"a": deep}, ""},
		// An alias counts at the depth it is used: x holds 59 levels, from level 2 to 60; the
		// alias is at level 6 (under the root and four sequences) in y, 7 in z.
		{"yaml alias fits", "yaml", "x: &x " + deepYAMLFlow(60)[3:] + "y: [[[[*x]]]]\n", nil, ""},
		{"yaml alias", "yaml", "x: &x " + deepYAMLFlow(60)[3:] + "z: [[[[[*x]]]]]\n", nil, "line 2: nested deeper than 64 levels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := configdoc.Parse(tc.format, []byte(tc.in))
			switch {
			case tc.wantErr != "":
				if err == nil || err.Error() != tc.wantErr || !errors.Is(err, configdoc.ErrTooDeep) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case tc.want != nil && !maps.Equal(got, tc.want):
				t.Fatalf("Parse = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestFromObjectDepth: FromObject refuses an object built deeper than MaxDepth without
// writing every level's key, and RedactObject hides what is too deep to have a canonical key.
func TestFromObjectDepth(t *testing.T) {
	build := func(n int) map[string]any {
		var v any = "x"
		for range n - 1 {
			v = map[string]any{"password": v}
		}
		return map[string]any{"a": v}
	}
	if _, err := configdoc.FromObject(build(configdoc.MaxDepth)); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{configdoc.MaxDepth + 1, 100_000} {
		if _, err := configdoc.FromObject(build(n)); !errors.Is(err, configdoc.ErrTooDeep) {
			t.Errorf("%d levels: error %v, want %v", n, err, configdoc.ErrTooDeep)
		}
	}
	got, _ := json.Marshal(configdoc.RedactObject(build(100_000)))
	redacted, _ := json.Marshal(configdoc.Redacted)
	if want := `{"a":` + strings.Repeat(`{"password":`, configdoc.MaxDepth-1) + string(redacted) + strings.Repeat("}", configdoc.MaxDepth); string(got) != want {
		t.Errorf("RedactObject of 100,000 levels = %.200s… (%d bytes)", got[max(len(got)-200, 0):], len(got))
	}
}
