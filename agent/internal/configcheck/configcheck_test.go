package configcheck

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/agent/internal/hubclient"
	"github.com/centralhub/centralhub/agent/internal/hubtest"
	"github.com/centralhub/centralhub/pkg/configdoc"
	"github.com/centralhub/centralhub/pkg/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// logBuffer collects the checker's logs, to show they carry no values.
type logBuffer struct{ bytes.Buffer }

func (b *logBuffer) logger() *slog.Logger { return slog.New(slog.NewJSONHandler(b, nil)) }

// write writes content to dir/name with mode and returns the path.
func write(t *testing.T, dir, name, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

// checkOf is a config check of path with the defaults config validation fills in, and a long
// interval: tests drive passes themselves unless they Run.
func checkOf(t *testing.T, path string) config.ConfigCheck {
	t.Helper()
	format, err := configdoc.FormatOf(path)
	if err != nil {
		format = "yaml"
	}
	return config.ConfigCheck{Path: path, Format: format, Interval: time.Hour, ReloadTimeout: 10 * time.Second}
}

// sender is a real hub client pointed at the fake hub.
func sender(t *testing.T, hub *hubtest.Hub) *hubclient.Sender {
	t.Helper()
	s, err := hubclient.NewSender(hubclient.SenderConfig{
		URLs: []string{hub.URL()}, Token: hubclient.StaticToken("agent-token"), UserAgent: "centralhub-agent/test",
		Logger: discard(), Metrics: hubclient.NewMetrics(prometheus.NewRegistry()),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newChecker(t *testing.T, hub *hubtest.Hub, log *slog.Logger, checks ...config.ConfigCheck) *Checker {
	t.Helper()
	opts := Options{Service: "orders", Logger: log}
	if hub != nil {
		opts.Hub = sender(t, hub)
	}
	if opts.Logger == nil {
		opts.Logger = discard()
	}
	c, err := New(checks, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// pass runs one pass over every file, as Run's first does.
func pass(c *Checker) protocol.ConfigState {
	for _, f := range c.files {
		c.check(context.Background(), f)
	}
	return c.State()
}

func wantState(t *testing.T, got protocol.ConfigState, status, version string, problems ...protocol.ConfigProblem) {
	t.Helper()
	if problems == nil {
		problems = []protocol.ConfigProblem{}
	}
	want := protocol.ConfigState{Status: status, Version: version, Problems: problems}
	if got.Status != want.Status || got.Version != want.Version || !slices.Equal(got.Problems, want.Problems) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Fatalf("state =\n%s\nwant\n%s", g, w)
	}
}

func TestLocalChecks(t *testing.T) {
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	tests := []struct {
		name    string
		files   map[string]string // name → content, written with mode 0640 unless modes says
		modes   map[string]os.FileMode
		checks  func() []config.ConfigCheck
		status  string
		problem []protocol.ConfigProblem
	}{
		{
			name:   "no config checks",
			checks: func() []config.ConfigCheck { return nil },
			status: protocol.ConfigNone,
		},
		{
			name:  "in sync",
			files: map[string]string{"ok.yaml": "db:\n  url: postgres://db/orders\n  password: hunter2\nnats: {url: 'nats://n:4222'}\n"},
			checks: func() []config.ConfigCheck {
				c := checkOf(t, p("ok.yaml"))
				c.RequiredKeys = []string{"db.url", "nats"} // nats is a section
				c.Secret = true
				return []config.ConfigCheck{c}
			},
			status: protocol.ConfigInSync,
		},
		{
			name:   "missing",
			checks: func() []config.ConfigCheck { return []config.ConfigCheck{checkOf(t, p("missing.yaml"))} },
			status: protocol.ConfigInvalid,
			problem: []protocol.ConfigProblem{
				{File: p("missing.yaml"), Reason: "missing"},
			},
		},
		{
			name:   "a directory",
			checks: func() []config.ConfigCheck { return []config.ConfigCheck{checkOf(t, dir)} },
			status: protocol.ConfigInvalid,
			problem: []protocol.ConfigProblem{
				{File: dir, Reason: "a directory, not a file"},
			},
		},
		{
			name: "parse errors per format",
			files: map[string]string{
				"bad.yaml": "db:\n  url: x\n   pool: 1\n",
				"bad.json": "{\n  \"db\": {\"url\": \"x\",}\n}\n",
				"bad.toml": "[db]\nurl = 'x'\npassword = hunter2\n",
				".env":     "DB_URL=x\nDB_PASSWORD='hunter2\n",
			},
			checks: func() []config.ConfigCheck {
				return []config.ConfigCheck{checkOf(t, p("bad.yaml")), checkOf(t, p("bad.json")), checkOf(t, p("bad.toml")), checkOf(t, p(".env"))}
			},
			status: protocol.ConfigInvalid,
			problem: []protocol.ConfigProblem{
				{File: p("bad.yaml"), Reason: "invalid yaml: line 3: mapping values are not allowed in this context"},
				{File: p("bad.json"), Reason: "invalid json: line 2, column 21: invalid character '}' looking for beginning of object key string"},
				{File: p("bad.toml"), Reason: `invalid toml: line 3 (last key "db.password"): expected value but found "…" instead`},
				{File: p(".env"), Reason: `invalid env: line 2: key "DB_PASSWORD": unterminated single-quoted value (a value ends on its line)`},
			},
		},
		{
			name:  "required keys missing",
			files: map[string]string{"req.json": `{"db": {"url": "x"}, "nats": {"url": "y"}}`},
			checks: func() []config.ConfigCheck {
				c := checkOf(t, p("req.json"))
				c.RequiredKeys = []string{"db.url", "redis.url", "nats", "db.pool.max"}
				return []config.ConfigCheck{c}
			},
			status: protocol.ConfigInvalid,
			problem: []protocol.ConfigProblem{
				{File: p("req.json"), Key: "redis.url", Reason: "required key missing"},
				{File: p("req.json"), Key: "db.pool.max", Reason: "required key missing"},
			},
		},
		{
			name:  "world-readable secret file",
			files: map[string]string{"secret.env": "TOKEN=abc\n"},
			modes: map[string]os.FileMode{"secret.env": 0o644},
			checks: func() []config.ConfigCheck {
				c := checkOf(t, p("secret.env"))
				c.Secret = true
				return []config.ConfigCheck{c}
			},
			status: protocol.ConfigInvalid,
			problem: []protocol.ConfigProblem{
				{File: p("secret.env"), Reason: "world-readable (mode 0644) and holds secrets"},
			},
		},
		{
			name:  "world-readable secret file that does not parse",
			files: map[string]string{"secret2.yaml": "a: [\n"},
			modes: map[string]os.FileMode{"secret2.yaml": 0o604},
			checks: func() []config.ConfigCheck {
				c := checkOf(t, p("secret2.yaml"))
				c.Secret = true
				return []config.ConfigCheck{c}
			},
			status: protocol.ConfigInvalid,
			problem: []protocol.ConfigProblem{
				{File: p("secret2.yaml"), Reason: "world-readable (mode 0604) and holds secrets"},
				{File: p("secret2.yaml"), Reason: "invalid yaml: line 1: did not find expected node content"},
			},
		},
		{
			name: "world-readable file with secret-looking keys",
			files: map[string]string{
				"keys.toml": "[db]\nurl = 'x'\npassword = 'hunter2'\n[stripe]\napi_key = 'sk'\n",
				"one.yaml":  "jwt_secret: s\nport: 1\n",
				"none.yaml": "port: 1\nkeys: [a]\n",
			},
			modes: map[string]os.FileMode{"keys.toml": 0o644, "one.yaml": 0o666, "none.yaml": 0o644},
			checks: func() []config.ConfigCheck {
				return []config.ConfigCheck{checkOf(t, p("keys.toml")), checkOf(t, p("one.yaml")), checkOf(t, p("none.yaml"))}
			},
			status: protocol.ConfigInvalid,
			problem: []protocol.ConfigProblem{
				{File: p("keys.toml"), Key: "db.password", Reason: "world-readable (mode 0644) and holds secret-looking keys (this one and 1 more)"},
				{File: p("one.yaml"), Key: "jwt_secret", Reason: "world-readable (mode 0666) and holds a secret-looking key"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for name, content := range tt.files {
				mode := os.FileMode(0o640)
				if m, ok := tt.modes[name]; ok {
					mode = m
				}
				write(t, dir, name, content, mode)
			}
			c := newChecker(t, nil, nil, tt.checks()...)
			wantState(t, c.State(), tt.status, "", tt.problem...) // New's local pass
			wantState(t, pass(c), tt.status, "", tt.problem...)
		})
	}
}

func TestDesiredConfig(t *testing.T) {
	hub := hubtest.New(t)
	dir := t.TempDir()
	path := write(t, dir, "orders.yaml", "db:\n  url: postgres://db/orders\n  password: hunter2\n  pool: {max: 20}\nlog_level: debug\n", 0o600)
	var logs logBuffer
	c := newChecker(t, hub, logs.logger(), func() config.ConfigCheck {
		cc := checkOf(t, path)
		cc.CompareDesired = true
		return cc
	}())

	// Nothing stored on the hub (404): nothing to compare with.
	wantState(t, pass(c), protocol.ConfigInSync, "")

	// The same config as JSON: in sync, whatever the format.
	hub.SetDesiredConfig(t, "orders", 3, `{"db": {"url": "postgres://db/orders", "password": "hunter2", "pool": {"max": 20.0}}, "log_level": "debug"}`)
	wantState(t, pass(c), protocol.ConfigInSync, "3")

	// A different desired config: drifted, one problem per key, no values.
	hub.SetDesiredConfig(t, "orders", 4, `{"db": {"url": "postgres://db-2/orders", "password": "correct-horse", "pool": {"max": 20}}, "cache": {"ttl": "5m"}}`)
	drifted := []protocol.ConfigProblem{
		{File: path, Key: "cache.ttl", Reason: "missing (desired version 4 has it)"},
		{File: path, Key: "db.password", Reason: "differs from desired version 4"},
		{File: path, Key: "db.url", Reason: "differs from desired version 4"},
		{File: path, Key: "log_level", Reason: "not in desired version 4"},
	}
	st := pass(c)
	wantState(t, st, protocol.ConfigDrifted, "4", drifted...)
	report, err := json.Marshal(protocol.Report{Config: st})
	if err != nil {
		t.Fatal(err)
	}
	for _, value := range []string{"hunter2", "correct-horse", "db-2", "postgres://", "5m", "debug"} {
		if bytes.Contains(report, []byte(value)) {
			t.Errorf("report shows the value %q: %s", value, report)
		}
		if strings.Contains(logs.String(), value) {
			t.Errorf("logs show the value %q: %s", value, logs.String())
		}
	}

	// The next pass asks with If-None-Match and the hub answers 304: same state.
	wantState(t, pass(c), protocol.ConfigDrifted, "4", drifted...)
	gets := hub.ConfigGets()
	last := gets[len(gets)-1]
	if last.IfNoneMatch != `"4"` || last.Status != 304 || last.Token != "agent-token" {
		t.Fatalf("last GET = %+v, want If-None-Match \"4\" answered 304 with the agent's token", last)
	}
	if gets[0].IfNoneMatch != "" {
		t.Errorf("first GET sent If-None-Match %q, want none", gets[0].IfNoneMatch)
	}

	// The hub unreachable: the file is still compared with version 4.
	hub.SetConfigStatus(503)
	wantState(t, pass(c), protocol.ConfigDrifted, "4", drifted...)
	hub.SetConfigStatus(0)

	// The file fixed by hand to match version 4.
	write(t, dir, "orders.yaml", "cache: {ttl: 5m}\ndb:\n  url: postgres://db-2/orders\n  password: correct-horse\n  pool:\n    max: 20\n", 0o600)
	wantState(t, pass(c), protocol.ConfigInSync, "4")

	// A file problem wins over drift: invalid, with the drift still listed.
	write(t, dir, "orders.yaml", "cache: {ttl: 5m}\ndb:\n  url: postgres://db-2/orders\n  password: correct-horse\n  pool:\n    max: 20\n", 0o644)
	wantState(t, pass(c), protocol.ConfigInvalid, "4",
		protocol.ConfigProblem{File: path, Key: "db.password", Reason: "world-readable (mode 0644) and holds a secret-looking key"})
}

func TestDesiredConfigRemoved(t *testing.T) {
	hub := hubtest.New(t)
	path := write(t, t.TempDir(), "app.env", "PORT=8080\n", 0o600)
	cc := checkOf(t, path)
	cc.CompareDesired = true
	c := newChecker(t, hub, nil, cc)
	hub.SetDesiredConfig(t, "orders", 1, `{"PORT": 8081}`)
	wantState(t, pass(c), protocol.ConfigDrifted, "1", protocol.ConfigProblem{File: path, Key: "PORT", Reason: "differs from desired version 1"})
	hub.SetDesiredConfig(t, "orders", 2, `{"PORT": 8080}`)
	wantState(t, pass(c), protocol.ConfigInSync, "2")
	hub.SetConfigStatus(404) // deleted on the hub
	wantState(t, pass(c), protocol.ConfigInSync, "")
}

func TestApply(t *testing.T) {
	desired := `{"db": {"url": "postgres://db-2/orders", "password": "correct horse", "pool": {"max": 20, "ratio": 1.5}}, "hosts": ["a", "b"], "debug": false}`
	flatDesired := `{"DB_URL": "postgres://db-2/orders", "DB_PASSWORD": "correct horse #1", "POOL_MAX": 20, "DEBUG": false}`
	for _, tc := range []struct {
		file, old, desired string
		mode               os.FileMode
	}{
		{"orders.yaml", "db:\n  url: postgres://db/orders\n", desired, 0o640},
		{"orders.json", `{"db": {"url": "postgres://db/orders"}}`, desired, 0o600},
		{"orders.toml", "[db]\nurl = 'postgres://db/orders'\n", desired, 0o660},
		{".env", "DB_URL=postgres://db/orders\n", flatDesired, 0o600},
	} {
		t.Run(tc.file, func(t *testing.T) {
			hub := hubtest.New(t)
			dir := t.TempDir()
			path := write(t, dir, tc.file, tc.old, tc.mode)
			marker := filepath.Join(dir, "marker")
			cc := checkOf(t, path)
			cc.CompareDesired, cc.Apply = true, true
			cc.ReloadCommand = []string{"/bin/sh", "-c", "echo reloaded > " + marker}
			var logs logBuffer
			c := newChecker(t, hub, logs.logger(), cc)
			hub.SetDesiredConfig(t, "orders", 3, tc.desired)

			wantState(t, pass(c), protocol.ConfigInSync, "3")

			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			obj := decode(t, tc.desired)
			rendered, err := configdoc.Render(cc.Format, obj)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(data, rendered) {
				t.Errorf("file =\n%s\nwant the desired config rendered as %s:\n%s", data, cc.Format, rendered)
			}
			got, err := configdoc.Parse(cc.Format, data)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := configdoc.FromObject(obj)
			if !maps.Equal(got, want) {
				t.Errorf("file parses to %q, want %q", got, want)
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != tc.mode {
				t.Errorf("mode after apply = %v (%v), want %v", fi.Mode().Perm(), err, tc.mode)
			}
			if m, err := os.ReadFile(marker); err != nil || string(m) != "reloaded\n" {
				t.Errorf("reload marker = %q, %v; want the reload command to have run", m, err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 2 {
				t.Errorf("directory holds %d entries, want the file and the marker (no temporary files)", len(entries))
			}
			if strings.Contains(logs.String(), "correct horse") || !strings.Contains(logs.String(), "applied desired config") {
				t.Errorf("logs: %s", logs.String())
			}

			// In sync now: the next pass writes nothing and reloads nothing.
			if err := os.Remove(marker); err != nil {
				t.Fatal(err)
			}
			wantState(t, pass(c), protocol.ConfigInSync, "3")
			if _, err := os.Stat(marker); !os.IsNotExist(err) {
				t.Errorf("the reload command ran again for a file in sync")
			}
		})
	}
}

func decode(t *testing.T, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		t.Fatal(err)
	}
	return obj
}

func TestApplyCreatesMissingFile(t *testing.T) {
	hub := hubtest.New(t)
	path := filepath.Join(t.TempDir(), "secrets.env")
	cc := checkOf(t, path)
	cc.CompareDesired, cc.Apply = true, true
	c := newChecker(t, hub, nil, cc)
	wantState(t, c.State(), protocol.ConfigInvalid, "", protocol.ConfigProblem{File: path, Reason: "missing"})
	hub.SetDesiredConfig(t, "orders", 1, `{"API_TOKEN": "t0k3n"}`)
	wantState(t, pass(c), protocol.ConfigInSync, "1")
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("created file: %v, %v; want mode 0600 (it holds a secret-looking key)", fi, err)
	}
}

func TestApplyReloadFails(t *testing.T) {
	hub := hubtest.New(t)
	dir := t.TempDir()
	path := write(t, dir, "orders.yaml", "port: 1\n", 0o600)
	okFile := filepath.Join(dir, "reload-ok")
	cc := checkOf(t, path)
	cc.CompareDesired, cc.Apply = true, true
	// A reload script may print config lines, secrets included: its output is logged on the
	// agent with the desired config's secret values redacted, and never put into the problem,
	// which viewers, alerts and webhooks see.
	cc.ReloadCommand = []string{"/bin/sh", "-c", `test -e "$0" && exit 0; echo "orders: cannot reload: db.password=hunter2 rejected" >&2; echo more; exit 1`, okFile}
	var logs logBuffer
	c := newChecker(t, hub, logs.logger(), cc)
	hub.SetDesiredConfig(t, "orders", 3, `{"port": 2, "db": {"password": "hunter2"}}`)
	failed := protocol.ConfigProblem{File: path, Reason: "apply version 3: reload command exited 1"}

	st := pass(c)
	wantState(t, st, protocol.ConfigInvalid, "3", failed)
	if f, _ := configdoc.Parse("yaml", must(os.ReadFile(path))); f["port"] != "2" {
		t.Fatalf("file not written before the reload: %q", f)
	}
	if report := must(json.Marshal(protocol.Report{Config: st})); bytes.Contains(report, []byte("hunter2")) {
		t.Errorf("the report shows the reload command's output: %s", report)
	}
	if !strings.Contains(logs.String(), `"level":"WARN","msg":"reload command failed","file":"`+path+`","version":3,"command":"/bin/sh","err":"reload command exited 1","output":"orders: cannot reload: db.password=<redacted> rejected\nmore\n"}`) {
		t.Errorf("the agent's log lacks the reload command's output, its secrets redacted, at warn:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "hunter2") {
		t.Errorf("a secret of the desired config reached the agent's log:\n%s", logs.String())
	}
	// The file is as written but the service did not take it: the reload is retried and the
	// failure stays.
	wantState(t, pass(c), protocol.ConfigInvalid, "3", failed)
	// Once the reload works, the problem goes.
	write(t, dir, "reload-ok", "", 0o600)
	wantState(t, pass(c), protocol.ConfigInSync, "3")
}

func must[T any](b T, err error) T {
	if err != nil {
		panic(err)
	}
	return b
}

func TestApplyFailures(t *testing.T) {
	for _, tc := range []struct {
		name, file, desired string
		reload              []string
		timeout             time.Duration
		want                string
	}{
		{
			name: "reload times out", file: "a.yaml", desired: `{"port": 2}`,
			reload: []string{"/bin/sh", "-c", "echo starting; sleep 30"}, timeout: 100 * time.Millisecond,
			want: "apply version 3: reload command timed out after 100ms",
		},
		{
			name: "reload cannot start", file: "a.yaml", desired: `{"port": 2}`,
			reload: []string{"/nonexistent/reload"}, timeout: 10 * time.Second,
			want: `apply version 3: reload command: fork/exec /nonexistent/reload: no such file or directory`,
		},
		{
			name: "nested object for a .env file", file: "app.env", desired: `{"db": {"url": "x"}}`,
			want: `apply version 3: render: render env: key "db" holds an object or array; a .env file holds only flat KEY=value lines`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hub := hubtest.New(t)
			path := write(t, t.TempDir(), tc.file, "port=1\n", 0o600)
			if tc.file == "a.yaml" {
				write(t, filepath.Dir(path), tc.file, "port: 1\n", 0o600)
			}
			cc := checkOf(t, path)
			cc.CompareDesired, cc.Apply = true, true
			cc.ReloadCommand, cc.ReloadTimeout = tc.reload, cmpOr(tc.timeout, time.Second)
			c := newChecker(t, hub, nil, cc)
			hub.SetDesiredConfig(t, "orders", 3, tc.desired)
			st := pass(c)
			if st.Status != protocol.ConfigInvalid || len(st.Problems) == 0 || st.Problems[0] != (protocol.ConfigProblem{File: path, Reason: tc.want}) {
				t.Fatalf("state = %+v, want invalid with %q", st, tc.want)
			}
		})
	}
}

func cmpOr(d, fallback time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return fallback
}

func TestApplyWriteFails(t *testing.T) {
	hub := hubtest.New(t)
	path := filepath.Join(t.TempDir(), "no-such-dir", "a.yaml") // fails even for root
	cc := checkOf(t, path)
	cc.CompareDesired, cc.Apply = true, true
	c := newChecker(t, hub, nil, cc)
	hub.SetDesiredConfig(t, "orders", 3, `{"port": 2}`)
	st := pass(c)
	if st.Status != protocol.ConfigInvalid || len(st.Problems) != 2 || st.Problems[0].Reason != "missing" ||
		st.Problems[1].Reason != "apply version 3: write: create temporary file in "+filepath.Dir(path)+": no such file or directory" {
		t.Fatalf("state = %+v, want missing and a write problem", st)
	}
}

// TestRunSignalsChanges runs the checker on a short interval: a file going bad changes the
// state and signals Changed; Run returns when its context ends.
func TestRunSignalsChanges(t *testing.T) {
	dir := t.TempDir()
	path := write(t, dir, "a.json", `{"port": 1}`, 0o600)
	cc := checkOf(t, path)
	cc.Interval = 20 * time.Millisecond
	c := newChecker(t, nil, nil, cc)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	defer func() { cancel(); <-done }()

	write(t, dir, "a.json", `{"port": `, 0o600)
	deadline := time.After(10 * time.Second)
	for c.State().Status != protocol.ConfigInvalid {
		select {
		case <-c.Changed():
		case <-deadline:
			t.Fatalf("state stayed %+v", c.State())
		}
	}
	write(t, dir, "a.json", `{"port": 2}`, 0o600)
	for c.State().Status != protocol.ConfigInSync {
		select {
		case <-c.Changed():
		case <-deadline:
			t.Fatalf("state stayed %+v", c.State())
		}
	}
}

func TestProblemsCapped(t *testing.T) {
	hub := hubtest.New(t)
	var b strings.Builder
	for i := range 200 {
		b.WriteString("k" + strings.Repeat("x", i) + "=1\n")
	}
	path := write(t, t.TempDir(), "big.env", b.String(), 0o600)
	cc := checkOf(t, path)
	cc.CompareDesired = true
	c := newChecker(t, hub, nil, cc)
	hub.SetDesiredConfig(t, "orders", 1, `{}`)
	st := pass(c)
	if st.Status != protocol.ConfigDrifted || len(st.Problems) != protocol.MaxProblems ||
		st.Problems[protocol.MaxProblems-1].Reason != "73 more problems not shown" {
		t.Fatalf("status %s, %d problems, last %+v", st.Status, len(st.Problems), st.Problems[len(st.Problems)-1])
	}
	rep := protocol.Report{Version: protocol.Version, Tenant: "default", Service: "orders", Instance: "i", Boot: 1, Seq: 1,
		Interval: protocol.Duration(time.Second), Config: st}
	if err := rep.Validate(); err != nil {
		t.Fatalf("a report with the capped problems does not validate: %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	cc := config.ConfigCheck{Path: "/a.yaml", Format: "yaml", Interval: time.Second, ReloadTimeout: time.Second, CompareDesired: true}
	if _, err := New([]config.ConfigCheck{cc}, Options{Logger: discard()}); err == nil {
		t.Error("New accepted compare_desired without a hub")
	}
	cc.CompareDesired, cc.Format = false, "ini"
	if _, err := New([]config.ConfigCheck{cc}, Options{Logger: discard()}); err == nil {
		t.Error("New accepted an unknown format")
	}
	if _, err := New(nil, Options{}); err == nil {
		t.Error("New accepted no logger")
	}
}

// snapshot describes every entry of dir: a link by its target, a file by its mode, inode and
// content, so that a test can tell that nothing in dir was written, created or removed.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string, len(entries))
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		fi, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			out[e.Name()] = "link to " + must(os.Readlink(path))
		case fi.Mode().IsRegular():
			// The inode changes when a file is replaced; the content is hashed when readable.
			desc := fmt.Sprintf("%v inode %d", fi.Mode(), fi.Sys().(*syscall.Stat_t).Ino)
			if data, err := os.ReadFile(path); err == nil {
				desc += fmt.Sprintf(" sha256 %x", sha256.Sum256(data))
			}
			out[e.Name()] = desc
		default:
			out[e.Name()] = fi.Mode().String()
		}
	}
	return out
}

// TestApplyRefused: cases where apply must write nothing and run no reload command, and
// report why (or, for a file it could not read, only the file's own problem).
func TestApplyRefused(t *testing.T) {
	const old = "port: 1\n"
	big := old + "# " + strings.Repeat("x", MaxFileSize) + "\n"
	for _, tc := range []struct {
		name    string
		files   map[string]string // name → content, mode 0600; "->name" makes a link to name
		path    string            // the checked file, in the test's directory
		desired string
		change  func(c *Checker)
		root    bool // root bypasses what the case needs: skipped as root
		want    []string
	}{
		{
			name:  "the hub sent redacted values",
			files: map[string]string{"a.yaml": old}, path: "a.yaml",
			desired: `{"port": 2, "db": {"password": "<redacted>"}}`,
			want: []string{
				"apply version 3: the hub sent redacted values (is the token an agent token?)",
				"db.password: missing (desired version 3 has it)",
				"port: differs from desired version 3",
			},
		},
		{
			name:  "the rendering reads back as another config",
			files: map[string]string{"a.yaml": old}, path: "a.yaml",
			desired: `{"port": 2}`,
			change: func(c *Checker) {
				c.render = func(string, map[string]any) ([]byte, error) { return []byte("port: 3\n"), nil }
			},
			want: []string{"apply version 3: the desired config cannot be written as yaml faithfully", "port: differs from desired version 3"},
		},
		{
			name:  "the rendering does not parse",
			files: map[string]string{"a.toml": "port = 1\n"}, path: "a.toml",
			desired: `{"port": 2}`,
			change: func(c *Checker) {
				c.render = func(string, map[string]any) ([]byte, error) { return []byte("port = \n"), nil }
			},
			want: []string{"apply version 3: the desired config cannot be written as toml faithfully", "port: differs from desired version 3"},
		},
		{
			name:  "a symbolic link",
			files: map[string]string{"target.yaml": old, "a.yaml": "->target.yaml"}, path: "a.yaml",
			desired: `{"port": 2}`,
			want:    []string{"apply version 3: is a symbolic link: apply does not write through links", "port: differs from desired version 3"},
		},
		{
			name:  "a dangling symbolic link",
			files: map[string]string{"a.yaml": "->nowhere.yaml"}, path: "a.yaml",
			desired: `{"port": 2}`,
			want:    []string{"missing", "apply version 3: is a symbolic link: apply does not write through links"},
		},
		{
			name:  "larger than 4 MiB",
			files: map[string]string{"a.yaml": big}, path: "a.yaml",
			desired: `{"port": 2}`,
			want:    []string{"larger than 4 MiB"},
		},
		{
			name:  "unreadable",
			files: map[string]string{"a.yaml": old}, path: "a.yaml",
			desired: `{"port": 2}`,
			root:    true,
			want:    []string{"unreadable: permission denied"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root && os.Geteuid() == 0 {
				t.Skip("root reads a file of mode 0000: this case runs as another user only")
			}
			hub := hubtest.New(t)
			dir := t.TempDir()
			for name, content := range tc.files {
				if target, ok := strings.CutPrefix(content, "->"); ok {
					if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
						t.Fatal(err)
					}
					continue
				}
				write(t, dir, name, content, 0o600)
			}
			path := filepath.Join(dir, tc.path)
			if tc.root {
				if err := os.Chmod(path, 0); err != nil {
					t.Fatal(err)
				}
			}
			cc := checkOf(t, path)
			cc.CompareDesired, cc.Apply = true, true
			cc.ReloadCommand = []string{"/bin/sh", "-c", "echo reloaded > " + filepath.Join(dir, "marker")}
			c := newChecker(t, hub, nil, cc)
			if tc.change != nil {
				tc.change(c)
			}
			hub.SetDesiredConfig(t, "orders", 3, tc.desired)
			before := snapshot(t, dir)

			for range 2 { // the same on the next pass: no apply loop
				var want []protocol.ConfigProblem
				for _, w := range tc.want {
					key, reason, ok := strings.Cut(w, ": ")
					if !ok || strings.HasPrefix(w, "apply ") || strings.HasPrefix(w, "unreadable") {
						key, reason = "", w
					}
					want = append(want, protocol.ConfigProblem{File: path, Key: key, Reason: reason})
				}
				wantState(t, pass(c), protocol.ConfigInvalid, "3", want...)
				if after := snapshot(t, dir); !maps.Equal(before, after) {
					t.Fatalf("the directory changed (a write or a reload):\nbefore %v\nafter  %v", before, after)
				}
			}
		})
	}
}

// TestApplyFollowSymlinks: with follow_symlinks a link's target is replaced and the link kept.
func TestApplyFollowSymlinks(t *testing.T) {
	hub := hubtest.New(t)
	dir := t.TempDir()
	target := write(t, dir, "target.yaml", "port: 1\n", 0o640)
	path := filepath.Join(dir, "a.yaml")
	if err := os.Symlink("target.yaml", path); err != nil {
		t.Fatal(err)
	}
	cc := checkOf(t, path)
	cc.CompareDesired, cc.Apply, cc.FollowSymlinks = true, true, true
	c := newChecker(t, hub, nil, cc)
	hub.SetDesiredConfig(t, "orders", 3, `{"port": 2}`)
	wantState(t, pass(c), protocol.ConfigInSync, "3")
	if link, err := os.Readlink(path); err != nil || link != "target.yaml" {
		t.Errorf("link = %q, %v; want it kept", link, err)
	}
	if got := string(must(os.ReadFile(target))); got != "port: 2\n" {
		t.Errorf("target = %q, want the desired config", got)
	}
}

// TestApplyTightensMode: secrets written into an existing file take the bits of others away
// (the group's stay); a file without secrets keeps its mode.
func TestApplyTightensMode(t *testing.T) {
	for _, tc := range []struct {
		name      string
		secret    bool
		desired   string
		mode      os.FileMode
		want      os.FileMode
		tightened bool
	}{
		{name: "secret-looking key, world-readable", desired: `{"db": {"password": "correct horse"}}`, mode: 0o644, want: 0o640, tightened: true},
		{name: "secret: true, world-writable", secret: true, desired: `{"port": 2}`, mode: 0o666, want: 0o660, tightened: true},
		{name: "secret-looking key, others execute", desired: `{"api_key": "k"}`, mode: 0o751, want: 0o750, tightened: true},
		{name: "secret, group-readable", secret: true, desired: `{"port": 2}`, mode: 0o640, want: 0o640},
		{name: "no secrets, world-readable", desired: `{"port": 2}`, mode: 0o644, want: 0o644},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hub := hubtest.New(t)
			path := write(t, t.TempDir(), "a.yaml", "port: 1\n", tc.mode)
			cc := checkOf(t, path)
			cc.CompareDesired, cc.Apply, cc.Secret = true, true, tc.secret
			var logs logBuffer
			c := newChecker(t, hub, logs.logger(), cc)
			hub.SetDesiredConfig(t, "orders", 3, tc.desired)
			st := pass(c)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tc.want {
				t.Errorf("mode after apply = %04o, want %04o", fi.Mode().Perm(), tc.want)
			}
			if tc.want&0o004 == 0 {
				wantState(t, st, protocol.ConfigInSync, "3")
			}
			msg := fmt.Sprintf(`"msg":"tightened the mode of the config file: it holds secrets","file":%q,"version":3,"from":"%04o","to":"%04o"`, path, tc.mode, tc.want)
			if got := strings.Contains(logs.String(), msg); got != tc.tightened {
				t.Errorf("log of the tightened mode: %v, want %v:\n%s", got, tc.tightened, logs.String())
			}
		})
	}
}

// TestApplyKeepsOwner: the file written keeps the old one's owner, or else its group; when
// neither can be kept it is still written and the problem stays until the owner is back.
// Giving the test file another owner needs root.
func TestApplyKeepsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the test file another owner")
	}
	const uid, gid = 4242, 4343
	eperm := func(*os.File, int, int) error {
		return &fs.PathError{Op: "fchown", Path: "/tmp/.a.yaml.tmp-1", Err: syscall.EPERM}
	}
	for _, tc := range []struct {
		name             string
		chown            func(f *os.File, uid, gid int) error // nil: the real one
		wantUID, wantGID int
		want             string // the problem; "" for none
	}{
		{name: "owner kept", wantUID: uid, wantGID: gid},
		{
			name: "group kept",
			chown: func(f *os.File, u, g int) error {
				if u != -1 {
					return eperm(f, u, g)
				}
				return f.Chown(u, g)
			},
			wantUID: 0, wantGID: gid,
		},
		{
			name: "neither kept", chown: eperm, wantUID: 0, wantGID: 0,
			want: "apply version 3: written, but its owner (uid 4242, gid 4343) could not be kept: operation not permitted",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hub := hubtest.New(t)
			path := write(t, t.TempDir(), "a.yaml", "port: 1\n", 0o600)
			if err := os.Chown(path, uid, gid); err != nil {
				t.Fatal(err)
			}
			cc := checkOf(t, path)
			cc.CompareDesired, cc.Apply = true, true
			c := newChecker(t, hub, nil, cc)
			if tc.chown != nil {
				c.chown = tc.chown
			}
			hub.SetDesiredConfig(t, "orders", 3, `{"port": 2}`)
			var problems []protocol.ConfigProblem
			status := protocol.ConfigInSync
			if tc.want != "" {
				problems, status = []protocol.ConfigProblem{{File: path, Reason: tc.want}}, protocol.ConfigInvalid
			}
			wantState(t, pass(c), status, "3", problems...)
			if got := string(must(os.ReadFile(path))); got != "port: 2\n" {
				t.Fatalf("file = %q, want it written", got)
			}
			if !ownedBy(path, tc.wantUID, tc.wantGID) {
				t.Errorf("the file is not owned by %d:%d", tc.wantUID, tc.wantGID)
			}
			// The problem stays while the file is as written, until its owner is back.
			wantState(t, pass(c), status, "3", problems...)
			if err := os.Chown(path, uid, gid); err != nil {
				t.Fatal(err)
			}
			wantState(t, pass(c), protocol.ConfigInSync, "3")
		})
	}
}

// fakeSource answers FetchDesiredConfig with what a test sets, as the hub would.
type fakeSource struct {
	mu sync.Mutex
	dc *hubclient.DesiredConfig
}

func (s *fakeSource) set(version int64, object, checksum string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dc = &hubclient.DesiredConfig{Service: "orders", Version: version, Config: map[string]any{}, Checksum: checksum}
	if err := json.Unmarshal([]byte(object), &s.dc.Config); err != nil {
		panic(err)
	}
}

func (s *fakeSource) FetchDesiredConfig(_ context.Context, _ string, known int64) (*hubclient.DesiredConfig, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.dc == nil:
		return nil, hubclient.ErrNoDesiredConfig
	case s.dc.Version == known:
		return nil, hubclient.ErrNotModified
	}
	dc := *s.dc
	return &dc, nil
}

// TestDesiredChecksumMismatch: a desired config whose checksum from the hub is not the
// agent's is a failed fetch, logged once: the last good one stays, and is what apply writes.
func TestDesiredChecksumMismatch(t *testing.T) {
	sum := func(object string) string {
		var obj map[string]any
		if err := json.Unmarshal([]byte(object), &obj); err != nil {
			t.Fatal(err)
		}
		return must(configdoc.FromObject(obj)).Checksum()
	}
	dir := t.TempDir()
	path := write(t, dir, "a.yaml", "port: 1\n", 0o600)
	cc := checkOf(t, path)
	cc.CompareDesired, cc.Apply = true, true
	src := &fakeSource{}
	var logs logBuffer
	c, err := New([]config.ConfigCheck{cc}, Options{Service: "orders", Hub: src, Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}

	src.set(1, `{"port": 1}`, sum(`{"port": 1}`))
	wantState(t, pass(c), protocol.ConfigInSync, "1")

	src.set(2, `{"port": 2}`, sum(`{"port": 3}`))
	for range 2 {
		wantState(t, pass(c), protocol.ConfigInSync, "1")
	}
	if got := string(must(os.ReadFile(path))); got != "port: 1\n" {
		t.Fatalf("file = %q: written from a desired config whose checksum did not match", got)
	}
	if n := strings.Count(logs.String(), "fetch desired config failed"); n != 1 {
		t.Errorf("the mismatch was logged %d times, want once:\n%s", n, logs.String())
	}

	src.set(2, `{"port": 2}`, sum(`{"port": 2}`))
	wantState(t, pass(c), protocol.ConfigInSync, "2")
	if got := string(must(os.ReadFile(path))); got != "port: 2\n" {
		t.Fatalf("file = %q, want version 2 applied", got)
	}
}
