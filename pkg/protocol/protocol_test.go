package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"github.com/centralhub/centralhub/pkg/status"
)

// validJSON is a realistic report as an agent sends it.
const validJSON = `{
  "version": 1,
  "tenant": "default",
  "service": "checkout",
  "instance": "checkout-7f9c.eu-west-1",
  "address": "10.0.3.17:8080",
  "agent_version": "1.4.2",
  "runbook": "https://runbooks.example.com/checkout",
  "tags": ["prod", "eu-west-1", "team:payments"],
  "meta": {"region": "eu-west-1", "az": "eu-west-1b"},
  "boot": 1764201600000000000,
  "seq": 42,
  "sent_at": "2025-11-27T04:00:10Z",
  "interval": "10s",
  "depends_on": ["postgres", "redis", "payments-api"],
  "checks": [
    {"name": "http", "kind": "http", "status": "passing", "output": "HTTP 200 in 12ms",
     "latency_ms": 12.3, "checked_at": "2025-11-27T04:00:09Z"},
    {"name": "db", "kind": "tcp", "status": "warning", "output": "slow connect",
     "latency_ms": 850, "checked_at": "2025-11-27T04:00:08Z", "component": "postgres",
     "critical": true, "runbook": "https://runbooks.example.com/postgres"},
    {"name": "disk", "kind": "script", "status": "unknown", "output": "",
     "latency_ms": 0, "checked_at": "0001-01-01T00:00:00Z"}
  ],
  "config": {"status": "drifted", "version": "v17",
    "problems": [{"file": "/etc/checkout/app.yaml", "key": "pool.max", "reason": "want 50, have 20"}]}
}`

// validReport returns a fresh, valid report for tests to break one field of.
func validReport() *Report {
	return &Report{
		Version:      Version,
		Tenant:       "default",
		Service:      "checkout",
		Instance:     "checkout-1",
		Address:      "10.0.3.17:8080",
		AgentVersion: "1.4.2",
		Runbook:      "https://runbooks.example.com/checkout",
		Tags:         []string{"prod", "eu"},
		Meta:         map[string]string{"region": "eu-west-1"},
		Boot:         1764201600000000000,
		Seq:          1,
		SentAt:       time.Date(2025, 11, 27, 4, 0, 10, 0, time.UTC),
		Interval:     Duration(10 * time.Second),
		DependsOn:    []string{"postgres", "redis"},
		Checks: []CheckResult{
			{Name: "http", Kind: "http", Status: status.Passing, Output: "200 OK", LatencyMS: 12.5,
				CheckedAt: time.Date(2025, 11, 27, 4, 0, 9, 0, time.UTC)},
			{Name: "db", Kind: "tcp", Status: status.Critical, Output: "connection refused",
				Component: "postgres", Critical: true, Runbook: "https://runbooks.example.com/pg",
				ComponentMeta: map[string]string{"stand-in": "true"}},
		},
		Config: ConfigState{Status: ConfigInSync, Version: "v3"},
	}
}

func names(n int, prefix string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

func checks(n int) []CheckResult {
	out := make([]CheckResult, n)
	for i := range out {
		out[i] = CheckResult{Name: fmt.Sprintf("c%d", i), Kind: "http", Status: status.Passing}
	}
	return out
}

func meta(n int) map[string]string {
	out := make(map[string]string, n)
	for i := range n {
		out[fmt.Sprintf("k%d", i)] = "v"
	}
	return out
}

func TestValidateValid(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(r *Report)
	}{
		{"as built", func(*Report) {}},
		{"no optional lists", func(r *Report) {
			r.Tags, r.Meta, r.DependsOn, r.Checks = nil, nil, nil, nil
			r.Address, r.AgentVersion, r.Runbook = "", "", ""
		}},
		{"empty config status", func(r *Report) { r.Config = ConfigState{} }},
		{"config none", func(r *Report) { r.Config.Status = ConfigNone }},
		{"config drifted", func(r *Report) { r.Config.Status = ConfigDrifted }},
		{"config invalid with problems", func(r *Report) {
			r.Config.Status = ConfigInvalid
			r.Config.Problems = []ConfigProblem{{File: "/etc/a.yaml", Key: "x", Reason: "bad"}}
		}},
		{"interval at minimum", func(r *Report) { r.Interval = Duration(MinInterval) }},
		{"interval at maximum", func(r *Report) { r.Interval = Duration(MaxInterval) }},
		{"name of 128 bytes", func(r *Report) { r.Service = strings.Repeat("s", 128) }},
		{"name with dots, dashes and underscores", func(r *Report) { r.Instance = "host-1.eu_west.2" }},
		{"name starting with a digit", func(r *Report) { r.Tenant = "9tenant" }},
		{"texts at their limits", func(r *Report) {
			r.Address = strings.Repeat("a", MaxText)
			r.AgentVersion = strings.Repeat("v", MaxText)
			r.Runbook = strings.Repeat("r", MaxText)
			r.Checks[0].Output = strings.Repeat("o", MaxOutput)
			r.Checks[0].Runbook = strings.Repeat("r", MaxText)
			r.Config.Version = strings.Repeat("v", 128)
		}},
		{"lists at their limits", func(r *Report) {
			r.Tags = names(MaxTags, "t")
			r.Meta = meta(MaxMeta)
			r.DependsOn = names(MaxDependsOn, "d")
			r.Checks = checks(MaxChecks)
			r.Config.Problems = make([]ConfigProblem, MaxProblems)
		}},
		{"every check status", func(r *Report) {
			r.Checks = checks(4)
			for i, s := range []status.Check{status.Passing, status.Warning, status.Critical, status.Unknown} {
				r.Checks[i].Status = s
			}
		}},
		{"zero latency", func(r *Report) { r.Checks[0].LatencyMS = 0 }},
		{"tags are free text", func(r *Report) { r.Tags = []string{"team:payments"} }},
		{"large seq", func(r *Report) { r.Seq = math.MaxUint64 }},
		{"component_meta at its limits", func(r *Report) {
			m := map[string]string{strings.Repeat("k", MaxComponentMetaKey): strings.Repeat("v", MaxComponentMetaValue)}
			for i := range MaxComponentMeta - 1 {
				m[fmt.Sprintf("k%d", i)] = ""
			}
			r.Checks[1].ComponentMeta = m
		}},
		{"empty component_meta needs no component", func(r *Report) { r.Checks[0].ComponentMeta = map[string]string{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := validReport()
			tt.mutate(r)
			before, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			after, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(before, after) {
				t.Errorf("Validate changed the report:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

func TestValidateInvalid(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name      string
		mutate    func(r *Report)
		wantField string
	}{
		{"tenant empty", func(r *Report) { r.Tenant = "" }, "tenant"},
		{"tenant too long", func(r *Report) { r.Tenant = long(129) }, "tenant"},
		{"tenant starts with a dash", func(r *Report) { r.Tenant = "-acme" }, "tenant"},
		{"tenant with a space", func(r *Report) { r.Tenant = "ac me" }, "tenant"},
		{"tenant wildcard", func(r *Report) { r.Tenant = "*" }, "tenant"},
		{"service empty", func(r *Report) { r.Service = "" }, "service"},
		{"service with a slash", func(r *Report) { r.Service = "a/b" }, "service"},
		{"service non-ASCII", func(r *Report) { r.Service = "caf\u00e9" }, "service"},
		{"instance empty", func(r *Report) { r.Instance = "" }, "instance"},
		{"instance starts with a dot", func(r *Report) { r.Instance = ".host" }, "instance"},
		{"address too long", func(r *Report) { r.Address = long(MaxText + 1) }, "address"},
		{"agent_version too long", func(r *Report) { r.AgentVersion = long(MaxText + 1) }, "agent_version"},
		{"runbook too long", func(r *Report) { r.Runbook = long(MaxText + 1) }, "runbook"},
		{"boot zero", func(r *Report) { r.Boot = 0 }, "boot"},
		{"boot negative", func(r *Report) { r.Boot = -1 }, "boot"},
		{"seq zero", func(r *Report) { r.Seq = 0 }, "seq"},
		{"interval zero", func(r *Report) { r.Interval = 0 }, "interval"},
		{"interval negative", func(r *Report) { r.Interval = Duration(-10 * time.Second) }, "interval"},
		{"interval below minimum", func(r *Report) { r.Interval = Duration(MinInterval - time.Nanosecond) }, "interval"},
		{"interval above maximum", func(r *Report) { r.Interval = Duration(MaxInterval + time.Nanosecond) }, "interval"},
		{"too many tags", func(r *Report) { r.Tags = names(MaxTags+1, "t") }, "tags"},
		{"empty tag", func(r *Report) { r.Tags = []string{"ok", ""} }, "tags[1]"},
		{"tag too long", func(r *Report) { r.Tags = []string{long(129)} }, "tags[0]"},
		{"too much meta", func(r *Report) { r.Meta = meta(MaxMeta + 1) }, "meta"},
		{"meta empty key", func(r *Report) { r.Meta = map[string]string{"": "v"} }, "meta."},
		{"meta key too long", func(r *Report) { r.Meta = map[string]string{long(129): "v"} }, "meta." + long(129)},
		{"meta value too long", func(r *Report) { r.Meta = map[string]string{"k": long(MaxText + 1)} }, "meta.k"},
		{"too many dependencies", func(r *Report) { r.DependsOn = names(MaxDependsOn+1, "d") }, "depends_on"},
		{"bad first dependency", func(r *Report) { r.DependsOn = []string{"bad name"} }, "depends_on[0]"},
		{"empty second dependency", func(r *Report) { r.DependsOn = []string{"ok", ""} }, "depends_on[1]"},
		{"too many checks", func(r *Report) { r.Checks = checks(MaxChecks + 1) }, "checks"},
		{"check status not a word", func(r *Report) { r.Checks[1].Status = "ok" }, "checks[1].status"},
		{"check status empty", func(r *Report) { r.Checks[0].Status = "" }, "checks[0].status"},
		{"check status wrong case", func(r *Report) { r.Checks[0].Status = "PASSING" }, "checks[0].status"},
		{"check name empty", func(r *Report) { r.Checks[0].Name = "" }, "checks[0].name"},
		{"check name bad", func(r *Report) { r.Checks[1].Name = "db check" }, "checks[1].name"},
		{"check kind empty", func(r *Report) { r.Checks[0].Kind = "" }, "checks[0].kind"},
		{"check output too long", func(r *Report) { r.Checks[1].Output = long(MaxOutput + 1) }, "checks[1].output"},
		{"check latency negative", func(r *Report) { r.Checks[0].LatencyMS = -0.5 }, "checks[0].latency_ms"},
		{"check latency NaN", func(r *Report) { r.Checks[0].LatencyMS = math.NaN() }, "checks[0].latency_ms"},
		{"check component bad", func(r *Report) { r.Checks[1].Component = "post gres" }, "checks[1].component"},
		{"check runbook too long", func(r *Report) { r.Checks[1].Runbook = long(MaxText + 1) }, "checks[1].runbook"},
		{"component_meta without component", func(r *Report) {
			r.Checks[0].ComponentMeta = map[string]string{"stand-in": "true"}
		}, "checks[0].component_meta"},
		{"too much component_meta", func(r *Report) { r.Checks[1].ComponentMeta = meta(MaxComponentMeta + 1) }, "checks[1].component_meta"},
		{"component_meta key not a name", func(r *Report) {
			r.Checks[1].ComponentMeta = map[string]string{"stand in": "true"}
		}, "checks[1].component_meta"},
		{"component_meta key empty", func(r *Report) { r.Checks[1].ComponentMeta = map[string]string{"": "x"} }, "checks[1].component_meta"},
		{"component_meta key too long", func(r *Report) {
			r.Checks[1].ComponentMeta = map[string]string{long(MaxComponentMetaKey + 1): "x"}
		}, "checks[1].component_meta"},
		{"component_meta value too long", func(r *Report) {
			r.Checks[1].ComponentMeta = map[string]string{"relay": long(MaxComponentMetaValue + 1)}
		}, "checks[1].component_meta"},
		{"duplicate check name", func(r *Report) { r.Checks[1].Name = r.Checks[0].Name }, "checks[1].name"},
		{"duplicate check name later", func(r *Report) {
			r.Checks = checks(5)
			r.Checks[4].Name = r.Checks[2].Name
		}, "checks[4].name"},
		{"first bad check wins", func(r *Report) {
			r.Checks[0].Status = "bad"
			r.Checks[1].Name = ""
		}, "checks[0].status"},
		{"config status unknown", func(r *Report) { r.Config.Status = "synced" }, "config.status"},
		{"config version too long", func(r *Report) { r.Config.Version = long(129) }, "config.version"},
		{"too many config problems", func(r *Report) { r.Config.Problems = make([]ConfigProblem, MaxProblems+1) }, "config.problems"},
		{"config problem file too long", func(r *Report) {
			r.Config.Problems = []ConfigProblem{{File: long(MaxText + 1)}}
		}, "config.problems[0]"},
		{"config problem reason too long", func(r *Report) {
			r.Config.Problems = []ConfigProblem{{File: "a"}, {Reason: long(MaxText + 1)}}
		}, "config.problems[1]"},
		{"names are checked before limits", func(r *Report) {
			r.Service = ""
			r.Seq = 0
		}, "service"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := validReport()
			tt.mutate(r)
			err := r.Validate()
			if err == nil {
				t.Fatalf("Validate accepted the report, want an error on %q", tt.wantField)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate error %v (%T) is not a *FieldError", err, err)
			}
			if fe.Field != tt.wantField {
				t.Errorf("FieldError.Field = %q, want %q (error: %v)", fe.Field, tt.wantField, err)
			}
			if fe.Reason == "" {
				t.Errorf("FieldError for %q has no reason", fe.Field)
			}
			if errors.Is(err, ErrVersion) {
				t.Errorf("error %v wraps ErrVersion, want only a field error", err)
			}
		})
	}
}

func TestValidateVersion(t *testing.T) {
	for _, v := range []int{0, -1, 2, 100} {
		t.Run(fmt.Sprint(v), func(t *testing.T) {
			r := validReport()
			r.Version = v
			err := r.Validate()
			if !errors.Is(err, ErrVersion) {
				t.Fatalf("Validate with version %d = %v, want an error wrapping ErrVersion", v, err)
			}
			if !strings.HasPrefix(err.Error(), "version: ") {
				t.Errorf("error %q does not name the version field", err)
			}
		})
	}
	t.Run("checked first", func(t *testing.T) {
		r := &Report{Version: 2} // everything else is wrong too
		if err := r.Validate(); !errors.Is(err, ErrVersion) {
			t.Fatalf("Validate = %v, want ErrVersion before any field error", err)
		}
	})
}

func TestFieldErrorString(t *testing.T) {
	err := error(&FieldError{Field: "checks[1].status", Reason: "bad"})
	if got, want := err.Error(), "checks[1].status: bad"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestValidName(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"a", true},
		{"0", true},
		{"web-1", true},
		{"a.b_c-d", true},
		{strings.Repeat("a", 128), true},
		{"", false},
		{strings.Repeat("a", 129), false},
		{"-a", false},
		{"_a", false},
		{".a", false},
		{"a b", false},
		{"a/b", false},
		{"a:b", false},
		{"*", false},
		{"a\n", false},
		{"\u00e9", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%.20q", tt.in), func(t *testing.T) {
			err := ValidName(tt.in)
			if (err == nil) != tt.ok {
				t.Errorf("ValidName(%q) = %v, want ok=%v", tt.in, err, tt.ok)
			}
		})
	}
}

func TestDecodeValid(t *testing.T) {
	r, err := Decode(strings.NewReader(validJSON))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if err := r.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if r.Service != "checkout" || r.Seq != 42 || r.Boot != 1764201600000000000 {
		t.Errorf("decoded identity = %q seq %d boot %d", r.Service, r.Seq, r.Boot)
	}
	if got := time.Duration(r.Interval); got != 10*time.Second {
		t.Errorf("interval = %v, want 10s", got)
	}
	if !r.SentAt.Equal(time.Date(2025, 11, 27, 4, 0, 10, 0, time.UTC)) {
		t.Errorf("sent_at = %v", r.SentAt)
	}
	if len(r.Checks) != 3 || r.Checks[1].Status != status.Warning || !r.Checks[1].Critical ||
		r.Checks[1].Component != "postgres" || r.Checks[0].LatencyMS != 12.3 {
		t.Errorf("checks = %+v", r.Checks)
	}
	if r.Config.Status != ConfigDrifted || len(r.Config.Problems) != 1 || r.Config.Problems[0].Key != "pool.max" {
		t.Errorf("config = %+v", r.Config)
	}
	if r.Meta["az"] != "eu-west-1b" || len(r.DependsOn) != 3 || len(r.Tags) != 3 {
		t.Errorf("meta %v depends_on %v tags %v", r.Meta, r.DependsOn, r.Tags)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		body string
		// wantField is the FieldError.Field expected, or "" when the error must not be a
		// FieldError; wantText must appear in the message.
		wantField string
		wantText  string
	}{
		{"empty body", "", "", "empty body"},
		{"only whitespace", " \n\t ", "", "empty body"},
		{"truncated object", `{"version": 1,`, "", "decode report"},
		{"not JSON", `hello`, "", "decode report"},
		{"trailing garbage", `{"version": 1} x`, "", "trailing data"},
		{"second object", `{"version": 1}{"version": 1}`, "", "trailing data"},
		{"trailing number", `{"version": 1} 1`, "", "trailing data"},
		{"stray closing brace", `{"version": 1}}`, "", "trailing data"},
		{"stray closing bracket", `{"version": 1}]`, "", "trailing data"},
		{"top-level array", `[]`, "", "decode report"},
		{"top-level string", `"report"`, "", "decode report"},
		{"seq as string", `{"seq": "x"}`, "seq", "want uint64"},
		{"seq negative", `{"seq": -1}`, "seq", ""},
		{"version as string", `{"version": "1"}`, "version", "got JSON string"},
		{"boot as float", `{"boot": 1.5}`, "boot", ""},
		{"tenant as number", `{"tenant": 7}`, "tenant", "got JSON number"},
		{"tags as string", `{"tags": "prod"}`, "tags", ""},
		{"tag as number", `{"tags": [1]}`, "tags", ""},
		{"meta value as number", `{"meta": {"a": 1}}`, "meta", ""},
		{"depends_on as object", `{"depends_on": {}}`, "depends_on", ""},
		{"checks as object", `{"checks": {}}`, "checks", ""},
		{"config as array", `{"config": []}`, "config", ""},
		{"bad interval word", `{"interval": "soon"}`, "interval", `"soon"`},
		{"interval as number", `{"interval": 10}`, "interval", "non-string"},
		{"sent_at as number", `{"sent_at": 5}`, "", "decode report"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Decode(strings.NewReader(tt.body))
			if err == nil {
				t.Fatalf("Decode(%q) = %+v, want an error", tt.body, r)
			}
			if r != nil {
				t.Errorf("Decode returned a report with its error")
			}
			var fe *FieldError
			isField := errors.As(err, &fe)
			switch {
			case tt.wantField == "" && isField:
				t.Errorf("Decode error is a FieldError on %q, want a plain error: %v", fe.Field, err)
			case tt.wantField != "" && !isField:
				t.Errorf("Decode error %v (%T) is not a FieldError, want one on %q", err, err, tt.wantField)
			case tt.wantField != "" && fe.Field != tt.wantField:
				t.Errorf("FieldError.Field = %q, want %q (error: %v)", fe.Field, tt.wantField, err)
			}
			if !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("error %q does not contain %q", err, tt.wantText)
			}
		})
	}
}

// TestDecodeNestedTypeError pins only what any encoding/json version gives for a nested type
// error: a FieldError whose field starts with the list and ends with the member.
func TestDecodeNestedTypeError(t *testing.T) {
	tests := []struct {
		body, prefix, suffix string
	}{
		{`{"checks": [{"name": "a"}, {"status": 1}]}`, "checks", "status"},
		{`{"checks": [{"latency_ms": "fast"}]}`, "checks", "latency_ms"},
		{`{"config": {"problems": [{"file": 1}]}}`, "config", "file"},
		{`{"config": {"version": 3}}`, "config", "version"},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			_, err := Decode(strings.NewReader(tt.body))
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Decode error %v (%T) is not a FieldError", err, err)
			}
			if !strings.HasPrefix(fe.Field, tt.prefix) || !strings.HasSuffix(fe.Field, tt.suffix) {
				t.Errorf("FieldError.Field = %q, want %q...%q", fe.Field, tt.prefix, tt.suffix)
			}
		})
	}
}

func TestDecodeReadError(t *testing.T) {
	errRead := errors.New("body too large")
	tests := []struct {
		name string
		r    io.Reader
	}{
		{"before the object", iotest.ErrReader(errRead)},
		{"inside the object", io.MultiReader(strings.NewReader(`{"version": 1, "ten`), iotest.ErrReader(errRead))},
		{"after the object", io.MultiReader(strings.NewReader(validJSON), iotest.ErrReader(errRead))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Decode(tt.r)
			if !errors.Is(err, errRead) {
				t.Fatalf("Decode = %v, %v; want an error wrapping the read error", r, err)
			}
		})
	}
}

func TestDecodeTrailingWhitespace(t *testing.T) {
	r, err := Decode(strings.NewReader(validJSON + "\n\r\n\t  "))
	if err != nil {
		t.Fatalf("Decode with trailing whitespace: %v", err)
	}
	if err := r.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
}

func TestDecodeOneByteAtATime(t *testing.T) {
	r, err := Decode(iotest.OneByteReader(strings.NewReader(validJSON + " ")))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if r.Seq != 42 {
		t.Errorf("seq = %d, want 42", r.Seq)
	}
}

func TestDurationJSON(t *testing.T) {
	tests := []struct {
		d    time.Duration
		json string
	}{
		{10 * time.Second, `"10s"`},
		{1500 * time.Millisecond, `"1.5s"`},
		{time.Hour + 2*time.Minute + 3*time.Second, `"1h2m3s"`},
		{24 * time.Hour, `"24h0m0s"`},
		{time.Nanosecond, `"1ns"`},
		{0, `"0s"`},
		{-5 * time.Second, `"-5s"`},
		{math.MaxInt64, `"2562047h47m16.854775807s"`},
	}
	for _, tt := range tests {
		t.Run(tt.json, func(t *testing.T) {
			b, err := json.Marshal(Duration(tt.d))
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.json {
				t.Errorf("Marshal(%v) = %s, want %s", tt.d, b, tt.json)
			}
			var d Duration
			if err := json.Unmarshal(b, &d); err != nil {
				t.Fatalf("Unmarshal(%s): %v", b, err)
			}
			if time.Duration(d) != tt.d {
				t.Errorf("round trip of %v = %v", tt.d, time.Duration(d))
			}
		})
	}
}

func TestDurationUnmarshal(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{in: `"10s"`, want: 10 * time.Second},
		{in: `"250ms"`, want: 250 * time.Millisecond},
		{in: `"1m30s"`, want: 90 * time.Second},
		{in: `"2h"`, want: 2 * time.Hour},
		{in: `10`, wantErr: true},
		{in: `"10"`, wantErr: true},
		{in: `""`, wantErr: true},
		{in: `"soon"`, wantErr: true},
		{in: `true`, wantErr: true},
		{in: `{}`, wantErr: true},
		{in: `"99999999999h"`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d := Duration(time.Minute)
			err := json.Unmarshal([]byte(tt.in), &d)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Unmarshal(%s) = %v, want an error", tt.in, time.Duration(d))
				}
				if time.Duration(d) != time.Minute {
					t.Errorf("failed Unmarshal changed the value to %v", time.Duration(d))
				}
				return
			}
			if err != nil {
				t.Fatalf("Unmarshal(%s): %v", tt.in, err)
			}
			if time.Duration(d) != tt.want {
				t.Errorf("Unmarshal(%s) = %v, want %v", tt.in, time.Duration(d), tt.want)
			}
		})
	}
}

func TestReportJSONRoundTrip(t *testing.T) {
	in := validReport()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"interval":"10s"`)) {
		t.Errorf("interval not written as a duration string: %s", b)
	}
	out, err := Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if err := out.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	again, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, again) {
		t.Errorf("round trip changed the report:\nfirst  %s\nsecond %s", b, again)
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name string
		s    string
		max  int
		want string
	}{
		{"short stays", "hello", 10, "hello"},
		{"exact stays", "hello", 5, "hello"},
		{"empty stays", "", 0, ""},
		{"ascii cut", "hello world", 8, "hello..."},
		{"room for the mark only", "hello", 3, "..."},
		{"no room for the mark", "hello", 2, "he"},
		{"one byte", "hello", 1, "h"},
		{"zero", "hello", 0, ""},
		{"negative", "hello", -1, ""},
		// "é" is 2 bytes, "€" 3, "😀" 4.
		{"two-byte rune not split", "aé" + "xyz", 5, "a..."},
		{"two-byte rune kept whole", "aéxyzw", 6, "aé..."},
		{"three-byte rune not split", "€€€", 7, "€..."},
		{"three-byte rune mid", "€€€", 8, "€..."},
		{"three-byte rune kept", "€€€x", 9, "€€..."},
		{"four-byte rune not split", "😀😀", 6, "..."},
		{"four-byte rune kept", "😀😀", 7, "😀..."},
		{"no room for the mark, rune not split", "€€", 2, ""},
		{"no room for the mark, rune kept", "é€", 2, "é"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Truncate(tt.s, tt.max)
			if got != tt.want {
				t.Errorf("Truncate(%q, %d) = %q, want %q", tt.s, tt.max, got, tt.want)
			}
		})
	}
}

// TestTruncateProperties cuts many strings at every length: the result is valid UTF-8, at most
// max bytes, and a prefix of the input plus the mark when it was cut with room for the mark.
func TestTruncateProperties(t *testing.T) {
	inputs := []string{
		"",
		"plain ascii output of a check",
		"héllo wörld – ünïcödé",
		"日本語のテキストです",
		"😀🙂🙃😉😊😇",
		"mixed: a é € 😀 b",
		strings.Repeat("€", 50),
	}
	for _, s := range inputs {
		for n := -1; n <= len(s)+2; n++ {
			got := Truncate(s, n)
			if !utf8.ValidString(got) {
				t.Errorf("Truncate(%q, %d) = %q, not valid UTF-8", s, n, got)
			}
			if len(got) > max(n, 0) {
				t.Errorf("Truncate(%q, %d) = %q, %d bytes > max", s, n, got, len(got))
			}
			if len(s) <= n {
				if got != s {
					t.Errorf("Truncate(%q, %d) = %q, want it unchanged", s, n, got)
				}
				continue
			}
			body := got
			if n >= 3 {
				if !strings.HasSuffix(got, "...") {
					t.Errorf("Truncate(%q, %d) = %q, want the cut marked with ...", s, n, got)
				}
				body = strings.TrimSuffix(got, "...")
			}
			if !strings.HasPrefix(s, body) {
				t.Errorf("Truncate(%q, %d) = %q, not a prefix of the input", s, n, got)
			}
			// The cut drops less than one rune besides the room for the mark.
			if n >= 3 && len(body) < n-3-(utf8.UTFMax-1) {
				t.Errorf("Truncate(%q, %d) = %q, cut more than needed", s, n, got)
			}
		}
	}
}

func TestTruncateInvalidUTF8(t *testing.T) {
	s := "ab\xff\xfecd" + strings.Repeat("x", 20)
	for max := 0; max < len(s); max++ {
		got := Truncate(s, max)
		if !utf8.ValidString(got) || len(got) > max {
			t.Errorf("Truncate(%q, %d) = %q (%d bytes, valid %v)", s, max, got, len(got), utf8.ValidString(got))
		}
	}
}

func FuzzDecodeValidate(f *testing.F) {
	f.Add([]byte(validJSON))
	if b, err := json.Marshal(validReport()); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"version":1,"tenant":"t","service":"s","instance":"i","boot":1,"seq":1,"interval":"1s"}`))
	f.Add([]byte(`{"version":2,"tenant":"t","service":"s","instance":"i","boot":1,"seq":1,"interval":"1s"}`))
	f.Add([]byte(`{"version":1,"tenant":"t","service":"s","instance":"i","boot":1,"seq":1,"interval":"1s",` +
		`"checks":[{"name":"a","kind":"k","status":"passing"},{"name":"a","kind":"k","status":"ok"}]}`))
	f.Add([]byte(`{"version":1,"meta":{"":"x"},"depends_on":["bad name"],"interval":"-1s"}`))
	f.Add([]byte(`{"version":1,"tenant":"t","service":"s","instance":"i","boot":1,"seq":1,"interval":"1s",` +
		`"checks":[{"name":"a","kind":"tcp","status":"passing","component":"kafka","component_meta":{"stand-in":"true"}},` +
		`{"name":"b","kind":"tcp","status":"passing","component_meta":{}},{"name":"c","kind":"tcp","status":"passing","component_meta":{"x":"y"}}]}`))
	f.Add([]byte(`{"seq": "x"}`))
	f.Add([]byte(`{"interval": 10}`))
	f.Add([]byte(`{"version": 1}}`))
	f.Add([]byte(`{"tenant": "\ud800\u00e9", "sent_at": "2025-01-01T00:00:00+23:59"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Decode(bytes.NewReader(data))
		if err != nil {
			if r != nil {
				t.Fatalf("Decode returned a report with error %v", err)
			}
			return
		}
		verr := r.Validate()
		var fe *FieldError
		if verr != nil && !errors.As(verr, &fe) && !errors.Is(verr, ErrVersion) {
			t.Fatalf("Validate error %v (%T) is neither a FieldError nor ErrVersion", verr, verr)
		}
		b, err := json.Marshal(r)
		if err != nil {
			if verr == nil {
				t.Fatalf("a valid report does not marshal: %v", err)
			}
			return
		}
		r2, err := Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("re-decoding a marshalled report: %v\n%s", err, b)
		}
		verr2 := r2.Validate()
		if (verr == nil) != (verr2 == nil) {
			t.Fatalf("validity changed in the round trip: before %v, after %v\n%s", verr, verr2, b)
		}
		if verr != nil {
			return
		}
		b2, err := json.Marshal(r2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, b2) {
			t.Fatalf("a valid report changed in the round trip:\nfirst  %s\nsecond %s", b, b2)
		}
	})
}

// TestUnmarshalIntoResets: a pooled report keeps nothing of the previous one, in its fields or
// in the reused checks array.
func TestUnmarshalIntoResets(t *testing.T) {
	var rep Report
	first := `{"version":1,"tenant":"a","service":"s","instance":"i","runbook":"https://secret.example","boot":1,"seq":1,"interval":"10s",
		"checks":[{"name":"c1","kind":"http","status":"critical","output":"tenant a's output","component":"pg","critical":true,"runbook":"r1","component_meta":{"stand-in":"true"}},
		{"name":"c2","kind":"tcp","status":"passing"}]}`
	if err := UnmarshalInto([]byte(first), &rep); err != nil {
		t.Fatal(err)
	}
	second := `{"version":1,"tenant":"b","service":"s","instance":"i","boot":1,"seq":1,"interval":"10s","checks":[{"name":"x","kind":"tcp","status":"passing"}]}`
	if err := UnmarshalInto([]byte(second), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Runbook != "" || len(rep.Checks) != 1 {
		t.Fatalf("fields of the previous report survived: runbook %q, %d checks", rep.Runbook, len(rep.Checks))
	}
	c := rep.Checks[0]
	if c.Output != "" || c.Component != "" || c.Critical || c.Runbook != "" || c.ComponentMeta != nil {
		t.Fatalf("the reused check kept the previous one's fields: %+v", c)
	}
	if full := rep.Checks[:cap(rep.Checks)]; len(full) > 1 && full[1].Name != "" {
		t.Fatalf("the reused array still holds the previous report's check: %+v", full[1])
	}
}
