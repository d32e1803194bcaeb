package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/centralhub/centralhub/pkg/auth"
)

// The files under test, relative to this package's directory.
var (
	promDir    = filepath.Join("..", "..", "..", "deploy", "prometheus")
	grafanaDir = filepath.Join("..", "..", "..", "deploy", "grafana")
	promOpsDoc = filepath.Join("..", "..", "..", "docs", "operations.md")
)

// promRequire returns the paths of the named binaries of Debian's prometheus package, skipping
// the test when one is missing (failing under CI=true, which installs it).
func promRequire(t *testing.T, bins ...string) []string {
	t.Helper()
	var paths []string
	for _, b := range bins {
		p, err := exec.LookPath(b)
		if err != nil {
			lacks(t, b+" is missing: apt-get install -y prometheus (scripts/ci-services.sh does)")
		}
		paths = append(paths, p)
	}
	return paths
}

// promtool runs promtool and fails the test with its output when it fails.
func promtool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := promtoolOutput(dir, args...)
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func promtoolOutput(dir string, args ...string) (string, error) {
	cmd := exec.Command("promtool", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func promWriteYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// promEtc makes a stand-in for /etc/prometheus in a temporary directory: the rules and a token
// file at the paths the configurations name under /etc/prometheus.
func promEtc(t *testing.T, token string) string {
	t.Helper()
	etc := filepath.Join(t.TempDir(), "etc-prometheus")
	for _, d := range []string{"rules", "secrets"} {
		if err := os.MkdirAll(filepath.Join(etc, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	rules, err := filepath.Glob(filepath.Join(promDir, "rules", "*.yml"))
	if err != nil || len(rules) == 0 {
		t.Fatalf("no rules in %s/rules: %v", promDir, err)
	}
	for _, r := range rules {
		b, err := os.ReadFile(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(etc, "rules", filepath.Base(r)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(etc, "secrets", "metrics-token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return etc
}

// promRebaseEtc rewrites every /etc/prometheus/ path in a configuration's text to etc.
func promRebaseEtc(t *testing.T, path, etc string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(b), "/etc/prometheus/", etc+"/")
}

// promWithoutKubernetesSD replaces each job's kubernetes_sd_configs with static_configs of one
// placeholder target and returns the kubernetes_sd_configs it removed, by job.
func promWithoutKubernetesSD(t *testing.T, cfg map[string]any) map[string][]any {
	t.Helper()
	removed := map[string][]any{}
	for _, j := range cfg["scrape_configs"].([]any) {
		job := j.(map[string]any)
		sd, ok := job["kubernetes_sd_configs"].([]any)
		if !ok {
			continue
		}
		delete(job, "kubernetes_sd_configs")
		job["static_configs"] = []any{map[string]any{"targets": []any{"10.0.0.1:7000"}}}
		removed[job["job_name"].(string)] = sd
	}
	return removed
}

// promCheckKubernetesSD checks the kubernetes_sd_configs blocks that a promtool built without
// Kubernetes discovery cannot: pod role, and selectors that are valid label selectors.
func promCheckKubernetesSD(t *testing.T, sds map[string][]any) {
	t.Helper()
	selector := regexp.MustCompile(`^[a-z0-9A-Z._/-]+(=|==|!=)[a-zA-Z0-9._-]*(,[a-z0-9A-Z._/-]+(=|==|!=)[a-zA-Z0-9._-]*)*$`)
	if len(sds) == 0 {
		t.Fatal("kubernetes.yml has no kubernetes_sd_configs")
	}
	for job, list := range sds {
		for _, c := range list {
			sd := c.(map[string]any)
			for k := range sd {
				if !slices.Contains([]string{"role", "selectors", "namespaces"}, k) {
					t.Errorf("%s: kubernetes_sd_configs key %q is not one this test knows", job, k)
				}
			}
			if sd["role"] != "pod" {
				t.Errorf("%s: role %v, want pod", job, sd["role"])
			}
			sels, _ := sd["selectors"].([]any)
			for _, s := range sels {
				sel := s.(map[string]any)
				if sel["role"] != "pod" {
					t.Errorf("%s: selector role %v, want pod (the discovery role)", job, sel["role"])
				}
				for _, k := range []string{"label", "field"} {
					if v, ok := sel[k]; ok && !selector.MatchString(fmt.Sprint(v)) {
						t.Errorf("%s: selector %s %q is not a label selector", job, k, v)
					}
				}
			}
		}
	}
}

// TestPrometheusConfig checks deploy/prometheus and deploy/grafana with promtool and parsers:
// both scrape configurations, the rules and their unit tests, every YAML and JSON file, the
// alerts' labels and annotations, and the dashboard's structure and PromQL.
func TestPrometheusConfig(t *testing.T) {
	promRequire(t, "promtool")
	etc := promEtc(t, "placeholder-token")
	tmp := t.TempDir()

	t.Run("prometheus.yml", func(t *testing.T) {
		path := filepath.Join(tmp, "prometheus.yml")
		if err := os.WriteFile(path, []byte(promRebaseEtc(t, filepath.Join(promDir, "prometheus.yml"), etc)), 0o600); err != nil {
			t.Fatal(err)
		}
		out := promtool(t, tmp, "check", "config", path)
		if !strings.Contains(out, "centralhub.yml") {
			t.Errorf("promtool did not check the rules through rule_files:\n%s", out)
		}
	})

	t.Run("kubernetes.yml", func(t *testing.T) {
		text := promRebaseEtc(t, filepath.Join(promDir, "kubernetes.yml"), etc)
		path := filepath.Join(tmp, "kubernetes.yml")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := promtoolOutput(tmp, "check", "config", path)
		if err == nil {
			return // a promtool with Kubernetes discovery checked all of it
		}
		if !strings.Contains(out, "field kubernetes_sd_configs not found") {
			t.Fatalf("promtool check config kubernetes.yml: %v\n%s", err, out)
		}
		// Debian builds Prometheus without Kubernetes discovery: promtool checks everything
		// else (authorization, relabelling) with the discovery replaced by a static target,
		// and the discovery blocks are checked here.
		var cfg map[string]any
		if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
			t.Fatal(err)
		}
		promCheckKubernetesSD(t, promWithoutKubernetesSD(t, cfg))
		static := filepath.Join(tmp, "kubernetes-static.yml")
		promWriteYAML(t, static, cfg)
		promtool(t, tmp, "check", "config", static)
		t.Logf("this promtool has no Kubernetes discovery; checked kubernetes.yml with it replaced by static_configs")
	})

	t.Run("rules", func(t *testing.T) {
		rules, _ := filepath.Glob(filepath.Join(promDir, "rules", "*.yml"))
		promtool(t, ".", append([]string{"check", "rules"}, rules...)...)
		tests, _ := filepath.Glob(filepath.Join(promDir, "tests", "*.yml"))
		if len(tests) == 0 {
			t.Fatal("no rule unit tests in deploy/prometheus/tests")
		}
		promtool(t, ".", append([]string{"test", "rules"}, tests...)...)
	})

	t.Run("alerts", promCheckAlerts)

	t.Run("files parse", func(t *testing.T) {
		n := 0
		for _, root := range []string{promDir, grafanaDir} {
			err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				b, err := os.ReadFile(path)
				if err != nil {
					return err
				}
				switch filepath.Ext(path) {
				case ".yml", ".yaml":
					n++
					dec := yaml.NewDecoder(strings.NewReader(string(b)))
					for {
						var v any
						if err := dec.Decode(&v); errors.Is(err, io.EOF) {
							break
						} else if err != nil {
							t.Errorf("%s: %v", path, err)
							break
						}
					}
				case ".json":
					n++
					var v any
					if err := json.Unmarshal(b, &v); err != nil {
						t.Errorf("%s: %v", path, err)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if n < 6 {
			t.Errorf("only %d YAML and JSON files under deploy/prometheus and deploy/grafana", n)
		}
	})

	t.Run("dashboard", func(t *testing.T) {
		d := grafanaDashboard(t)
		grafanaCheck(t, d)
		// Every query is valid PromQL: promtool checks them as recording rules, with the
		// dashboard's variables replaced by values.
		var rules []any
		for i, q := range d.queries() {
			rules = append(rules, map[string]any{"record": fmt.Sprintf("dashboard:query_%d", i), "expr": grafanaToPromQL(q.expr, ".+")})
		}
		path := filepath.Join(tmp, "dashboard-queries.yml")
		promWriteYAML(t, path, map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
		promtool(t, tmp, "check", "rules", path)
	})
}

// promRules is the shape of a Prometheus rules file.
type promRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record      string            `yaml:"record"`
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func promReadRules(t *testing.T) promRules {
	t.Helper()
	var all promRules
	files, _ := filepath.Glob(filepath.Join(promDir, "rules", "*.yml"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var r promRules
		if err := yaml.Unmarshal(b, &r); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		all.Groups = append(all.Groups, r.Groups...)
	}
	return all
}

var promRunbookURL = regexp.MustCompile(`^docs/operations\.md#([a-z0-9-]+)$`)

// promCheckAlerts: every alert has a severity operators can route on, a summary, a
// description and a runbook link into docs/operations.md whose anchor is one of its headings.
func promCheckAlerts(t *testing.T) {
	t.Helper()
	anchors := map[string][]string{}
	alerts := 0
	for _, g := range promReadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts++
			if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
				t.Errorf("alert %s: severity %q, want critical, warning or info", r.Alert, s)
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("alert %s: no %s annotation", r.Alert, a)
				}
			}
			m := promRunbookURL.FindStringSubmatch(r.Annotations["runbook_url"])
			if m == nil {
				t.Errorf("alert %s: runbook_url %q is not docs/operations.md#<anchor>", r.Alert, r.Annotations["runbook_url"])
				continue
			}
			anchors[m[1]] = append(anchors[m[1]], r.Alert)
		}
	}
	if alerts < 10 {
		t.Errorf("only %d alerts", alerts)
	}
	t.Run("runbook anchors", func(t *testing.T) {
		doc, err := os.ReadFile(promOpsDoc)
		if err != nil {
			t.Fatal(err)
		}
		have := promDocAnchors(string(doc))
		for a, who := range anchors {
			if !have[a] {
				t.Errorf("runbook anchor #%s (alerts %s) is not a heading or anchor of %s", a, strings.Join(who, ", "), promOpsDoc)
			}
		}
	})
}

// promDocAnchors returns the anchors GitHub makes for a document's headings (lowercased,
// punctuation dropped, spaces turned to hyphens, repeats numbered) and its explicit
// <a id|name="..."> anchors.
func promDocAnchors(doc string) map[string]bool {
	out := map[string]bool{}
	seen := map[string]int{}
	inFence := false
	for line := range strings.SplitSeq(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		for _, m := range regexp.MustCompile(`<a\s+(?:id|name)="([^"]+)"`).FindAllStringSubmatch(line, -1) {
			out[m[1]] = true
		}
		h, ok := strings.CutPrefix(line, "#")
		if !ok {
			continue
		}
		h = strings.TrimLeft(h, "#")
		if !strings.HasPrefix(h, " ") {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(h)) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
				b.WriteRune(r)
			}
		}
		slug := b.String()
		if n := seen[slug]; n > 0 {
			out[fmt.Sprintf("%s-%d", slug, n)] = true
		} else {
			out[slug] = true
		}
		seen[slug]++
	}
	return out
}

// grafanaDash is the part of a Grafana dashboard the tests read.
type grafanaDash struct {
	UID           string         `json:"uid"`
	Title         string         `json:"title"`
	SchemaVersion int            `json:"schemaVersion"`
	Panels        []grafanaPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string             `json:"name"`
			Type       string             `json:"type"`
			Query      json.RawMessage    `json:"query"`
			Definition string             `json:"definition"`
			Datasource *grafanaDatasource `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

type grafanaDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaPanel struct {
	ID         int                `json:"id"`
	Type       string             `json:"type"`
	Title      string             `json:"title"`
	Datasource *grafanaDatasource `json:"datasource"`
	GridPos    struct{ H, W, X, Y int }
	Targets    []struct {
		Expr       string             `json:"expr"`
		RefID      string             `json:"refId"`
		Datasource *grafanaDatasource `json:"datasource"`
	} `json:"targets"`
	Panels []grafanaPanel `json:"panels"`
}

func grafanaDashboard(t *testing.T) grafanaDash {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(grafanaDir, "centralhub.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDash
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// allPanels lists the dashboard's panels, those inside collapsed rows included.
func (d grafanaDash) allPanels() []grafanaPanel {
	var out []grafanaPanel
	for _, p := range d.Panels {
		out = append(out, p)
		out = append(out, p.Panels...)
	}
	return out
}

// grafanaQuery is one PromQL query of the dashboard and where it is.
type grafanaQuery struct{ where, expr string }

var grafanaLabelValues = regexp.MustCompile(`^label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$`)

// queries lists the PromQL of every panel target and of every variable's label_values query.
func (d grafanaDash) queries() []grafanaQuery {
	var out []grafanaQuery
	for _, p := range d.allPanels() {
		for _, tg := range p.Targets {
			out = append(out, grafanaQuery{fmt.Sprintf("panel %q target %s", p.Title, tg.RefID), tg.Expr})
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		if m := grafanaLabelValues.FindStringSubmatch(v.Definition); m != nil {
			out = append(out, grafanaQuery{fmt.Sprintf("variable %s", v.Name), m[1]})
		}
	}
	return out
}

// grafanaToPromQL replaces the dashboard's variables with values Prometheus accepts: the job
// and instance regexps with match, the rate interval with one minute.
func grafanaToPromQL(expr, match string) string {
	return strings.NewReplacer("$__rate_interval", "1m", "$agent_job", match, "$job", match, "$instance", match).Replace(expr)
}

// grafanaCheck: schema, a data source variable every panel and target uses, unique panel
// ids, a layout inside the 24-column grid, and a query in every target.
func grafanaCheck(t *testing.T, d grafanaDash) {
	t.Helper()
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
		t.Errorf("dashboard uid %q title %q schemaVersion %d", d.UID, d.Title, d.SchemaVersion)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
		if v.Type == "datasource" && string(v.Query) != `"prometheus"` {
			t.Errorf("variable %s: query %s, want \"prometheus\"", v.Name, v.Query)
		}
		if v.Type == "query" && (v.Datasource == nil || v.Datasource.UID != "${datasource}") {
			t.Errorf("variable %s does not query the ${datasource} variable", v.Name)
		}
	}
	if vars["datasource"] != "datasource" {
		t.Fatalf("no datasource variable of type datasource: %v", vars)
	}
	ids := map[int]string{}
	targets := 0
	for _, p := range d.allPanels() {
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", prev, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		if p.GridPos.W < 1 || p.GridPos.X < 0 || p.GridPos.X+p.GridPos.W > 24 || p.GridPos.H < 1 {
			t.Errorf("panel %q: gridPos %+v outside the 24-column grid", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.Type != "prometheus" || p.Datasource.UID != "${datasource}" {
			t.Errorf("panel %q: datasource %+v, want the ${datasource} variable", p.Title, p.Datasource)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			targets++
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q target %s has no expr", p.Title, tg.RefID)
			}
			if tg.Datasource != nil && tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q target %s: datasource %+v", p.Title, tg.RefID, tg.Datasource)
			}
		}
	}
	if targets < 30 {
		t.Errorf("only %d queries in the dashboard", targets)
	}
}

// PromQL words that are not metric names.
var (
	promqlAggregators = promSet("sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
		"bottomk", "topk", "quantile")
	promqlFunctions = promSet("abs", "absent", "absent_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min",
		"day_of_month", "day_of_week", "day_of_year", "days_in_month", "delta", "deriv", "exp", "floor",
		"histogram_count", "histogram_fraction", "histogram_quantile", "histogram_sum", "holt_winters", "hour",
		"idelta", "increase", "irate", "label_join", "label_replace", "ln", "log2", "log10", "minute", "month",
		"predict_linear", "rate", "resets", "round", "scalar", "sgn", "sort", "sort_desc", "sqrt", "time",
		"timestamp", "vector", "year", "avg_over_time", "min_over_time", "max_over_time", "sum_over_time",
		"count_over_time", "quantile_over_time", "stddev_over_time", "stdvar_over_time", "last_over_time",
		"present_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh", "cos", "cosh", "sin", "sinh",
		"tan", "tanh", "deg", "rad", "pi")
	promqlGrouping = promSet("by", "without", "on", "ignoring", "group_left", "group_right")
	promqlKeywords = promSet("bool", "and", "or", "unless", "offset", "atan2", "inf", "nan", "start", "end")
)

func promSet(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

// promqlMetricNames returns the metric names a PromQL expression selects. It skips string
// literals, label matchers ({...}), ranges and subqueries ([...]), Grafana variables, numbers
// and durations, the label lists of by, without, on, ignoring, group_left and group_right, and
// keywords; an identifier followed by "(" must be a function or aggregation it knows.
func promqlMetricNames(expr string) ([]string, error) {
	var names []string
	s := expr
	i := 0
	skipTo := func(open, close byte) error { // s[i] == open; moves i past the matching close
		depth := 0
		for i < len(s) {
			switch c := s[i]; {
			case c == '"' || c == '\'' || c == '`':
				if err := promqlSkipString(s, &i); err != nil {
					return err
				}
				continue
			case c == open:
				depth++
			case c == close:
				depth--
				if depth == 0 {
					i++
					return nil
				}
			}
			i++
		}
		return fmt.Errorf("unbalanced %c in %q", open, expr)
	}
	nextNonSpace := func(j int) byte {
		for j < len(s) && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r') {
			j++
		}
		if j < len(s) {
			return s[j]
		}
		return 0
	}
	isIdentStart := func(c byte) bool { return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
	isIdent := func(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			if err := promqlSkipString(s, &i); err != nil {
				return nil, err
			}
		case c == '{':
			if err := skipTo('{', '}'); err != nil {
				return nil, err
			}
		case c == '[':
			if err := skipTo('[', ']'); err != nil {
				return nil, err
			}
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '$':
			i++
			if i < len(s) && s[i] == '{' {
				if err := skipTo('{', '}'); err != nil {
					return nil, err
				}
			}
			for i < len(s) && isIdent(s[i]) {
				i++
			}
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
				i++
			}
			if i+1 < len(s) && (s[i] == 'e' || s[i] == 'E') && (s[i+1] == '+' || s[i+1] == '-') {
				i += 2
			}
			for i < len(s) && isIdent(s[i]) { // exponent digits, hex digits, duration units
				i++
			}
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			word := s[i:j]
			i = j
			lower := strings.ToLower(word)
			next := nextNonSpace(i)
			switch {
			case promqlGrouping[lower]:
				if next == '(' {
					for s[i] != '(' {
						i++
					}
					if err := skipTo('(', ')'); err != nil {
						return nil, err
					}
				}
			case promqlKeywords[lower], promqlAggregators[word]:
			case next == '(':
				if !promqlFunctions[word] {
					return nil, fmt.Errorf("unknown function %s in %q", word, expr)
				}
			default:
				names = append(names, word)
			}
		default:
			i++
		}
	}
	return names, nil
}

func promqlSkipString(s string, i *int) error {
	q := s[*i]
	j := *i + 1
	for j < len(s) {
		if s[j] == '\\' && q != '`' {
			j += 2
			continue
		}
		if s[j] == q {
			*i = j + 1
			return nil
		}
		j++
	}
	return fmt.Errorf("unterminated string in %q", s)
}

func TestPromqlMetricNames(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string
	}{
		{`up{job="centralhub-hub"} == 0`, []string{"up"}},
		{`sum by (job, le) (rate(a_bucket{x=~"a|b", y="}"}[5m] offset 1h))`, []string{"a_bucket"}},
		{`count by (status) (max by (tenant, service, status) (b{job=~"$job"}) == 1)`, []string{"b"}},
		{`x:y:rate5m / on (job) group_left () (sum(c) without (instance) + d[5m:1m])`, []string{"x:y:rate5m", "c", "d"}},
		{`histogram_quantile(0.99, sum by (le) (rate(e_bucket[$__rate_interval]))) > 1e-3 and f > bool 2`, []string{"e_bucket", "f"}},
		{`sum(g) by (h) / count(i) > 0.5`, []string{"g", "i"}},
		{`absent(up{job="x"}) or vector(0) # comment naming j`, []string{"up"}},
	} {
		got, err := promqlMetricNames(c.expr)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%s: %v %v, want %v", c.expr, got, err, c.want)
		}
	}
	if _, err := promqlMetricNames(`sumx(rate(a[5m]))`); err == nil {
		t.Error("an unknown function was taken for a metric")
	}
}

// promRef is a metric name used by the rules or the dashboard, and where.
type promRef struct{ name, where string }

// promReferences lists the metric names of every rule expression and dashboard query, and the
// names of the recording rules.
func promReferences(t *testing.T) (refs []promRef, recorded map[string]bool) {
	t.Helper()
	recorded = map[string]bool{}
	add := func(where, expr string) {
		names, err := promqlMetricNames(expr)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		if len(names) == 0 {
			t.Errorf("%s: no metric in %q", where, expr)
		}
		for _, n := range names {
			refs = append(refs, promRef{n, where})
		}
	}
	for _, g := range promReadRules(t).Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				recorded[r.Record] = true
			}
			add(fmt.Sprintf("rule %s%s (group %s)", r.Record, r.Alert, g.Name), r.Expr)
		}
	}
	for _, q := range grafanaDashboard(t).queries() {
		add("dashboard "+q.where, q.expr)
	}
	return refs, recorded
}

// promExposition holds the metric names (sample names, so a histogram's _bucket, _sum and _count)
// and the families (from # TYPE) of a /metrics answer.
type promExposition struct{ samples, families map[string]bool }

func promParseExposition(text string) promExposition {
	e := promExposition{samples: map[string]bool{}, families: map[string]bool{}}
	for line := range strings.SplitSeq(text, "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				e.families[f[0]] = true
			}
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		if k := strings.IndexAny(line, "{ "); k > 0 {
			e.samples[line[:k]] = true
		}
	}
	return e
}

func promScrape(t *testing.T, url, token string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("scrape %s: %d %s", url, res.StatusCode, b)
	}
	return string(b)
}

// promFleet is a hub with gossip and a webhook receiver and two agents (orders and payments)
// with gossip and metrics listeners, on loopback addresses of their own with the ports of
// deploy/compose: the hub on 7000, the agents' metrics on 9101.
type promFleet struct {
	hub                 *hubProc
	hubIP               string
	agentIPs            map[string]string // service → IP
	metricsToken, admin string
}

// promLoopback returns three loopback IPs 127.a.b.1-3 on which 7000 and 9101 are free.
func promLoopback(t *testing.T) [3]string {
	t.Helper()
	free := func(addr string) bool {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return false
		}
		_ = ln.Close()
		return true
	}
	for range 50 {
		base := fmt.Sprintf("127.%d.%d.", 100+rand.IntN(150), 1+rand.IntN(250))
		ips := [3]string{base + "1", base + "2", base + "3"}
		if free(ips[0]+":7000") && free(ips[1]+":9101") && free(ips[2]+":9101") {
			return ips
		}
	}
	t.Fatal("no loopback addresses with ports 7000 and 9101 free")
	return [3]string{}
}

func startPromFleet(t *testing.T) *promFleet {
	t.Helper()
	ips := promLoopback(t)
	f := &promFleet{hubIP: ips[0], agentIPs: map[string]string{"orders": ips[1], "payments": ips[2]},
		metricsToken: issue(t, auth.Metrics, auth.AllTenants, ""), admin: issue(t, auth.Admin, auth.AllTenants, "")}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(hook.Close)
	dir := t.TempDir()
	keyFile := gossipKeyFile(t, dir)
	hubGossip := freePortOn(t, f.hubIP)
	cfg := writeHubConfig(t, dir, fmt.Sprintf("alerts:\n  receivers:\n    - name: hook\n      webhook: {url: %q}\n", hook.URL+"/hook"))
	f.hub = startHub(t, dir+"/data", f.hubIP+":7000", "--config", cfg, "--gossip-bind", hubGossip, "--gossip-key-file", keyFile)
	tg := newTarget(t)
	for _, svc := range []string{"orders", "payments"} {
		ip := f.agentIPs[svc]
		bind := freePortOn(t, ip)
		extra := fmt.Sprintf("interval: 1s\nmetrics_listen: %s:9101\ngossip:\n  bind: %s\n  join: [%q]\n  key_file: %s\n  keyring_file: %s\n",
			ip, bind, hubGossip, keyFile, filepath.Join(dir, svc+".keyring"))
		startAgent(t, agentConfigWith(t, dir, f.hub.url, svc, svc+"-1", checksYAML("http://"+tg.addr+"/healthz", tg.addr), extra))
	}
	for _, svc := range []string{"orders", "payments"} {
		waitStatus(t, f.hub, svc, svc+"-1", "passing", 30*time.Second)
	}
	return f
}

// TestMetricNamesExist: every metric the rules and the dashboard name is in the real /metrics
// of a running hub (centralhub_*, go_*, process_*) or agent (centralhub_agent_*), every
// recording rule they use is defined, and every centralhub_ family either exposes is on the
// dashboard.
func TestMetricNamesExist(t *testing.T) {
	f := startPromFleet(t)
	hubText := promScrape(t, f.hub.url+"/metrics", f.metricsToken)
	agentText := promScrape(t, "http://"+f.agentIPs["orders"]+":9101/metrics", "")
	// A dashboard panel for agent gossip needs the agent to have counted its members.
	eventually(t, 20*time.Second, "agent gossip members in /metrics", func() error {
		agentText = promScrape(t, "http://"+f.agentIPs["orders"]+":9101/metrics", "")
		if !strings.Contains(agentText, `centralhub_agent_gossip_members{state="alive"} 3`) {
			return errors.New("the agent does not see three alive members yet")
		}
		return nil
	})
	hub, agent := promParseExposition(hubText), promParseExposition(agentText)

	refs, recorded := promReferences(t)
	used := map[string]bool{}
	var missing []string
	for _, r := range refs {
		used[r.name] = true
		var ok bool
		var from string
		switch {
		case strings.Contains(r.name, ":"):
			ok, from = recorded[r.name], "the recording rules"
		case strings.HasPrefix(r.name, "centralhub_agent_"):
			ok, from = agent.samples[r.name], "the agent's /metrics"
		case strings.HasPrefix(r.name, "centralhub_"), strings.HasPrefix(r.name, "go_"), strings.HasPrefix(r.name, "process_"):
			ok, from = hub.samples[r.name], "the hub's /metrics"
		case r.name == "up":
			ok = true
		default:
			from = "any known source (centralhub_, go_, process_, up, recording rules)"
		}
		if !ok {
			missing = append(missing, fmt.Sprintf("%s (%s) is not in %s", r.name, r.where, from))
		}
	}
	slices.Sort(missing)
	for _, m := range slices.Compact(missing) {
		t.Error(m)
	}

	// The reverse: each centralhub_ family is on the dashboard, so a new metric gets a panel.
	dashUsed := map[string]bool{}
	for _, q := range grafanaDashboard(t).queries() {
		names, _ := promqlMetricNames(q.expr)
		for _, n := range names {
			dashUsed[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")] = true
			dashUsed[n] = true
		}
	}
	for _, e := range []promExposition{hub, agent} {
		for fam := range e.families {
			if strings.HasPrefix(fam, "centralhub_") && !dashUsed[fam] {
				t.Errorf("%s is exposed but no dashboard panel shows it (deploy/grafana/centralhub.json)", fam)
			}
		}
	}
	if len(used) < 40 {
		t.Errorf("only %d distinct metric names referenced", len(used))
	}
}

// promAPI answers a GET of Prometheus's HTTP API, decoding data into into.
func promAPI(base, path string, into any) error {
	res, err := http.Get(base + path)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("%s: %d %s", path, res.StatusCode, b)
	}
	if env.Status != "success" {
		return fmt.Errorf("%s: %s", path, env.Error)
	}
	return json.Unmarshal(env.Data, into)
}

type promSample struct {
	Metric map[string]string `json:"metric"`
}

func promQuery(base, q string) ([]promSample, error) {
	var data struct {
		ResultType string       `json:"resultType"`
		Result     []promSample `json:"result"`
	}
	err := promAPI(base, "/api/v1/query?query="+url.QueryEscape(q), &data)
	return data.Result, err
}

// promKubernetesPods stands in for Kubernetes pod discovery: target groups as the pod role makes
// them for deploy/kubernetes's pods (one per declared container port, with the container's name,
// port and protocol), with the labels and annotations the relabelling of kubernetes.yml reads.
// Several must be dropped.
func promKubernetesPods(f *promFleet) []map[string]any {
	type port struct{ container, number, protocol string }
	pod := func(name, ip, phase string, meta map[string]string, ports ...port) []map[string]any {
		var out []map[string]any
		for _, p := range ports {
			l := map[string]string{
				"__meta_kubernetes_namespace": "centralhub", "__meta_kubernetes_pod_name": name,
				"__meta_kubernetes_pod_ip": ip, "__meta_kubernetes_pod_phase": phase,
				"__meta_kubernetes_pod_container_name":          p.container,
				"__meta_kubernetes_pod_container_port_number":   p.number,
				"__meta_kubernetes_pod_container_port_protocol": p.protocol,
			}
			for k, v := range meta {
				l[k] = v
			}
			out = append(out, map[string]any{"targets": []string{ip + ":" + p.number}, "labels": l})
		}
		return out
	}
	hub := map[string]string{
		"__meta_kubernetes_pod_label_app_kubernetes_io_name":      "centralhub",
		"__meta_kubernetes_pod_label_app_kubernetes_io_component": "hub",
	}
	hubPorts := []port{{"hub", "7000", "TCP"}, {"hub", "7946", "TCP"}, {"hub", "7946", "UDP"}}
	app := func(name string, annotations ...string) map[string]string {
		m := map[string]string{"__meta_kubernetes_pod_label_app_kubernetes_io_name": name}
		for i := 0; i+1 < len(annotations); i += 2 {
			m["__meta_kubernetes_pod_annotation_"+annotations[i]] = annotations[i+1]
		}
		return m
	}
	agentPorts := []port{{"app", "8080", "TCP"}, {"agent", "9101", "TCP"}, {"agent", "7946", "TCP"}, {"agent", "7946", "UDP"}}
	var groups []map[string]any
	for _, g := range [][]map[string]any{
		// A hub: its API port is kept, the gossip ports dropped.
		pod("centralhub-hub-0", f.hubIP, "Running", hub, hubPorts...),
		// A hub still starting: dropped.
		pod("centralhub-hub-1", "127.0.0.9", "Pending", hub, hubPorts...),
		// orders as deploy/kubernetes/orders.yaml annotates it: scraped once, on the agent's 9101.
		pod("orders-0", f.agentIPs["orders"], "Running",
			app("orders", "prometheus_io_scrape", "true", "prometheus_io_port", "9101", "prometheus_io_path", "/metrics"), agentPorts...),
		// payments without the port and path annotations: 9101 and /metrics all the same.
		pod("payments-0", f.agentIPs["payments"], "Running", app("payments", "prometheus_io_scrape", "true"), agentPorts...),
		// An annotated pod without an agent sidecar (its app serves 9101 itself), and an agent
		// pod not annotated: dropped.
		pod("billing-0", "127.0.0.10", "Running", app("billing", "prometheus_io_scrape", "true"), port{"app", "9101", "TCP"}),
		pod("shipping-0", "127.0.0.11", "Running", app("shipping"), agentPorts...),
	} {
		groups = append(groups, g...)
	}
	return groups
}

// TestPrometheusScrapes runs a real Prometheus over a running hub and two agents with
// deploy/prometheus's configuration — the compose jobs with the compose host names replaced by
// the test's loopback addresses (same ports, same token file), the Kubernetes jobs with pod
// discovery replaced by a file of pod targets, and the rules — and reads its API: every target
// up, a job without the token refused with 401, hub and agent series and recording rules
// queryable, every rule evaluating without error, no alert on a healthy fleet, and every
// dashboard query accepted.
func TestPrometheusScrapes(t *testing.T) {
	bins := promRequire(t, "prometheus")
	f := startPromFleet(t)
	etc := promEtc(t, f.metricsToken)
	dir := t.TempDir()

	hosts := strings.NewReplacer("hub:7000", f.hubIP+":7000", "orders:9101", f.agentIPs["orders"]+":9101",
		"payments:9101", f.agentIPs["payments"]+":9101", "alertmanager:9093", freePort(t))
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(hosts.Replace(promRebaseEtc(t, filepath.Join(promDir, "prometheus.yml"), etc))), &cfg); err != nil {
		t.Fatal(err)
	}
	cfg["global"] = map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"}
	jobs := cfg["scrape_configs"].([]any)
	var hubJob map[string]any
	for _, j := range jobs {
		if j.(map[string]any)["job_name"] == "centralhub-hub" {
			hubJob = j.(map[string]any)
		}
	}
	if hubJob == nil || hubJob["authorization"] == nil {
		t.Fatalf("prometheus.yml has no centralhub-hub job with authorization: %v", jobs)
	}
	noToken := map[string]any{}
	for k, v := range hubJob {
		noToken[k] = v
	}
	delete(noToken, "authorization")
	noToken["job_name"] = "centralhub-hub-no-token"
	jobs = append(jobs, noToken)

	// The Kubernetes jobs, renamed, with their discovery replaced by a file.
	podsFile := filepath.Join(dir, "pods.json")
	b, _ := json.Marshal(promKubernetesPods(f))
	if err := os.WriteFile(podsFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var k8s map[string]any
	if err := yaml.Unmarshal([]byte(promRebaseEtc(t, filepath.Join(promDir, "kubernetes.yml"), etc)), &k8s); err != nil {
		t.Fatal(err)
	}
	for _, j := range k8s["scrape_configs"].([]any) {
		job := j.(map[string]any)
		if job["kubernetes_sd_configs"] == nil {
			t.Fatalf("kubernetes.yml job %v has no kubernetes_sd_configs", job["job_name"])
		}
		delete(job, "kubernetes_sd_configs")
		job["file_sd_configs"] = []any{map[string]any{"files": []any{podsFile}}}
		job["job_name"] = job["job_name"].(string) + "-k8s"
		jobs = append(jobs, job)
	}
	cfg["scrape_configs"] = jobs
	cfgFile := filepath.Join(dir, "prometheus.yml")
	promWriteYAML(t, cfgFile, cfg)

	listen := freePort(t)
	base := "http://" + listen
	start(t, "prometheus", nil, bins[0], "--config.file="+cfgFile, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+listen)
	waitOK(t, 30*time.Second, "prometheus ready", base+"/-/ready")

	type promTarget struct {
		Labels     map[string]string `json:"labels"`
		ScrapePool string            `json:"scrapePool"`
		Health     string            `json:"health"`
		LastError  string            `json:"lastError"`
	}
	var targets struct {
		Active []promTarget `json:"activeTargets"`
	}
	want := map[string][]string{ // job → instances, sorted
		"centralhub-hub":          {f.hubIP + ":7000"},
		"centralhub-agent":        {f.agentIPs["orders"] + ":9101", f.agentIPs["payments"] + ":9101"},
		"centralhub-hub-no-token": {f.hubIP + ":7000"},
		"centralhub-hub-k8s":      {f.hubIP + ":7000"},
		"centralhub-agent-k8s":    {f.agentIPs["orders"] + ":9101", f.agentIPs["payments"] + ":9101"},
	}
	eventually(t, 30*time.Second, "every target scraped", func() error {
		if err := promAPI(base, "/api/v1/targets?state=active", &targets); err != nil {
			return err
		}
		got := map[string][]string{}
		for _, tg := range targets.Active {
			job := tg.Labels["job"]
			got[job] = append(got[job], tg.Labels["instance"])
			switch {
			case job == "centralhub-hub-no-token":
				if tg.Health != "down" || !strings.Contains(tg.LastError, "401") {
					return fmt.Errorf("%s: health %q, error %q; want down with 401", job, tg.Health, tg.LastError)
				}
			case tg.Health != "up":
				return fmt.Errorf("%s %s: health %q, error %q", job, tg.Labels["instance"], tg.Health, tg.LastError)
			}
			if strings.HasSuffix(job, "-k8s") && (tg.Labels["namespace"] != "centralhub" || tg.Labels["pod"] == "") {
				return fmt.Errorf("%s %s: labels %v lack namespace and pod", job, tg.Labels["instance"], tg.Labels)
			}
		}
		for j := range got {
			sort.Strings(got[j])
		}
		for j, w := range want {
			if !slices.Equal(got[j], w) {
				return fmt.Errorf("job %s targets %v, want %v (all: %v)", j, got[j], w, got)
			}
		}
		if len(got) != len(want) {
			return fmt.Errorf("jobs %v, want %v", got, want)
		}
		return nil
	})

	// Series from the hub and the agents, and recording rules over them.
	for _, c := range []struct {
		query, job string
		n          int
	}{
		{`centralhub_build_info{job="centralhub-hub"}`, "centralhub-hub", 1},
		{`centralhub_store_up{job="centralhub-hub"} == 1`, "centralhub-hub", 1},
		{`centralhub_agent_reports_sent_total{job="centralhub-agent", result="ok"} > 0`, "centralhub-agent", 2},
		{`centralhub_build_info{job="centralhub-hub-k8s", namespace="centralhub", pod="centralhub-hub-0"}`, "centralhub-hub-k8s", 1},
		{`centralhub_agent_reports_sent_total{job="centralhub-agent-k8s", result="ok", app=~"orders|payments"}`, "centralhub-agent-k8s", 2},
		{`job:centralhub_instances:max{job="centralhub-hub", status="passing"} == 2`, "centralhub-hub", 1},
		{`instance:centralhub_ingest_reports:rate5m{job="centralhub-hub", outcome="heartbeat"} > 0`, "centralhub-hub", 1},
		{`job:centralhub_services_by_status:count{job="centralhub-hub", status="healthy"} == 2`, "centralhub-hub", 1},
		{`instance:centralhub_agent_reports_sent:rate5m{job="centralhub-agent", result="ok"} > 0`, "centralhub-agent", 2},
	} {
		eventually(t, 30*time.Second, c.query, func() error {
			res, err := promQuery(base, c.query)
			if err != nil {
				return err
			}
			if len(res) != c.n {
				return fmt.Errorf("%d series, want %d: %v", len(res), c.n, res)
			}
			for _, s := range res {
				if s.Metric["job"] != c.job {
					return fmt.Errorf("job %q, want %q: %v", s.Metric["job"], c.job, s.Metric)
				}
			}
			return nil
		})
	}

	// Every rule has evaluated without error, and none alerts on this healthy fleet.
	eventually(t, 30*time.Second, "every rule evaluated", func() error {
		var rules struct {
			Groups []struct {
				Name  string `json:"name"`
				Rules []struct {
					Name      string `json:"name"`
					Health    string `json:"health"`
					LastError string `json:"lastError"`
					State     string `json:"state"`
				} `json:"rules"`
			} `json:"groups"`
		}
		if err := promAPI(base, "/api/v1/rules", &rules); err != nil {
			return err
		}
		n := 0
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				n++
				if r.Health == "err" {
					t.Fatalf("rule %s (group %s) fails: %s", r.Name, g.Name, r.LastError)
				}
				if r.Health != "ok" {
					return fmt.Errorf("rule %s: health %q", r.Name, r.Health)
				}
			}
		}
		if n < 20 {
			return fmt.Errorf("%d rules loaded", n)
		}
		return nil
	})
	var alerts struct {
		Alerts []struct {
			Labels map[string]string `json:"labels"`
			State  string            `json:"state"`
		} `json:"alerts"`
	}
	if err := promAPI(base, "/api/v1/alerts", &alerts); err != nil {
		t.Fatal(err)
	}
	for _, a := range alerts.Alerts {
		// A scrape that times out on a loaded machine makes up 0 for a second: pending, not
		// firing, and not the rules' fault.
		if a.State == "pending" && slices.Contains([]string{"CentralHubDown", "CentralHubAgentMetricsDown"}, a.Labels["alertname"]) {
			t.Logf("alert %s pending: %v", a.Labels["alertname"], a.Labels)
			continue
		}
		t.Errorf("alert %s is %s on a healthy fleet: %v", a.Labels["alertname"], a.State, a.Labels)
	}

	// Every dashboard query runs and returns series, except those that filter for trouble
	// (rejections, failures, drops, unhealthy services), which a healthy fleet has none of.
	filtered := regexp.MustCompile(`(>|==)\s*[0-9.]+\s*$`)
	empty := 0
	queries := grafanaDashboard(t).queries()
	for _, q := range queries {
		expr := strings.NewReplacer("$__rate_interval", "1m", "$agent_job", "centralhub-agent", "$job", "centralhub-hub", "$instance", ".+").Replace(q.expr)
		res, err := promQuery(base, expr)
		if err != nil {
			t.Errorf("dashboard %s: %v", q.where, err)
		}
		if len(res) == 0 {
			empty++
			if !filtered.MatchString(q.expr) {
				t.Errorf("dashboard %s returns nothing: %s", q.where, expr)
			}
		}
	}
	t.Logf("%d targets; %d dashboard queries, %d of them filtering for trouble and empty", len(targets.Active), len(queries), empty)
}

func TestPromDocAnchors(t *testing.T) {
	doc := "# Operating\n## Troubleshoot\n### Hub down\n### Store down (`centralhub_store_up`)\n" +
		"```\n# not a heading\n```\n### Hub down\n<a id=\"leadership\"></a>\n#### Ingest: rejections & rate limits\n"
	got := promDocAnchors(doc)
	for _, a := range []string{"operating", "troubleshoot", "hub-down", "hub-down-1", "store-down-centralhub_store_up", "leadership", "ingest-rejections--rate-limits"} {
		if !got[a] {
			t.Errorf("no anchor %s in %v", a, got)
		}
	}
	if got["not-a-heading"] {
		t.Error("a line in a code block made an anchor")
	}
}
