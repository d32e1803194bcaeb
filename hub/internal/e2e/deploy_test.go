package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"debug/elf"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/centralhub/centralhub/hub/internal/pgtest"
	"github.com/centralhub/centralhub/pkg/auth"
)

// deployRoot is the repository root, seen from this package.
const deployRoot = "../../.."

// The project's own images; every other image is third-party and must be pinned.
const (
	deployHubImage   = "centralhub/hub"
	deployAgentImage = "centralhub/agent"
)

// TestDeploy checks what deploy/ ships without a Docker engine or a cluster: the binaries the
// Dockerfiles copy, built with the Dockerfiles' own flags, are static and run (with the images'
// health checks); every YAML and JSON file parses; the images, ports, flags and environment
// variables agree across the Dockerfiles, compose, the Kubernetes manifests and the binaries;
// the agent configurations load with the agent's own loader; third-party images are pinned; and
// `kustomize build` renders the expected objects and no RBAC.
func TestDeploy(t *testing.T) {
	hubDF := deployParseDockerfile(t, "deploy/docker/hub.Dockerfile")
	agentDF := deployParseDockerfile(t, "deploy/docker/agent.Dockerfile")
	bins := t.TempDir()
	const version = "deploy-test-1.2.3"
	hubStatic := deployBuild(t, hubDF, version, filepath.Join(bins, "hub"))
	agentStatic := deployBuild(t, agentDF, version, filepath.Join(bins, "agent"))

	t.Run("Dockerfiles", func(t *testing.T) { deployCheckDockerfiles(t, hubDF, agentDF) })
	t.Run("StaticBinaries", func(t *testing.T) {
		deployCheckStatic(t, hubStatic, agentStatic, version, hubDF, agentDF)
	})
	t.Run("PlaceholderSecretsRefused", func(t *testing.T) { deployCheckPlaceholders(t, hubStatic, agentStatic) })
	t.Run("FilesParse", deployCheckFilesParse)
	t.Run("Consistency", func(t *testing.T) { deployCheckConsistency(t, hubStatic, agentStatic, hubDF, agentDF) })
	t.Run("AgentConfigs", func(t *testing.T) { deployCheckAgentConfigs(t, agentStatic, hubDF, agentDF) })
	t.Run("ComposeOnLoopback", func(t *testing.T) { deployCheckComposeOnLoopback(t, hubStatic, agentStatic) })
	t.Run("PinnedImages", func(t *testing.T) { deployCheckPinned(t, hubDF, agentDF) })
	t.Run("Kustomize", deployCheckKustomize)
}

func deployRead(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployRoot, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// --- Dockerfiles ---------------------------------------------------------------------------

// deployDockerfile is what the tests read from a Dockerfile.
type deployDockerfile struct {
	path        string
	from        []string          // FROM images, stage references left out
	goBuildEnv  []string          // the assignments before `go build` on its RUN line
	goBuildArgs []string          // the flags after `go build`, before -o
	goPackage   string            // the package it builds
	expose      []string          // "7000/tcp", ...
	env         map[string]string // ENV
	labels      map[string]string // LABEL
	user        string            // the last USER
	entrypoint  []string
	cmd         []string
	healthcheck []string // the HEALTHCHECK's CMD
}

func deployParseDockerfile(t *testing.T, rel string) *deployDockerfile {
	t.Helper()
	df := &deployDockerfile{path: rel, env: map[string]string{}, labels: map[string]string{}}
	var lines []string
	var cur strings.Builder
	for _, l := range strings.Split(string(deployRead(t, rel)), "\n") {
		tl := strings.TrimSpace(l)
		if strings.HasPrefix(tl, "#") || (tl == "" && cur.Len() == 0) {
			continue
		}
		if strings.HasSuffix(tl, "\\") {
			cur.WriteString(strings.TrimSuffix(tl, "\\") + " ")
			continue
		}
		cur.WriteString(tl)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	stages := map[string]bool{}
	jsonArray := func(s string) []string {
		var a []string
		if err := json.Unmarshal([]byte(strings.TrimSpace(s)), &a); err != nil {
			t.Fatalf("%s: %q is not a JSON array (exec form): %v", rel, s, err)
		}
		return a
	}
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			f := strings.Fields(rest)
			if !stages[f[0]] {
				df.from = append(df.from, f[0])
			}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				stages[f[2]] = true
			}
		case "RUN":
			words, err := deploySplitShell(rest)
			if err != nil {
				t.Fatalf("%s: RUN %s: %v", rel, rest, err)
			}
			i := slices.Index(words, "go")
			if i < 0 || i+1 >= len(words) || words[i+1] != "build" {
				continue
			}
			df.goBuildEnv = words[:i]
			for j := i + 2; j < len(words); j++ {
				if words[j] == "-o" {
					j++
					continue
				}
				if strings.HasPrefix(words[j], "./") {
					df.goPackage = words[j]
					continue
				}
				df.goBuildArgs = append(df.goBuildArgs, words[j])
			}
		case "EXPOSE":
			for _, p := range strings.Fields(rest) {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				df.expose = append(df.expose, strings.ToLower(p))
			}
		case "ENV", "LABEL":
			words, err := deploySplitShell(rest)
			if err != nil {
				t.Fatalf("%s: %s %s: %v", rel, instr, rest, err)
			}
			into := df.env
			if strings.ToUpper(instr) == "LABEL" {
				into = df.labels
			}
			for _, w := range words {
				k, v, ok := strings.Cut(w, "=")
				if !ok {
					t.Fatalf("%s: %s %s: want KEY=value pairs", rel, instr, rest)
				}
				into[k] = v
			}
		case "USER":
			df.user = rest
		case "ENTRYPOINT":
			df.entrypoint = jsonArray(rest)
		case "CMD":
			df.cmd = jsonArray(rest)
		case "HEALTHCHECK":
			_, c, ok := strings.Cut(rest, "CMD ")
			if !ok {
				t.Fatalf("%s: HEALTHCHECK without CMD", rel)
			}
			df.healthcheck = jsonArray(c)
		}
	}
	if df.goPackage == "" {
		t.Fatalf("%s: no RUN line with `go build ... ./<package>`", rel)
	}
	return df
}

// deploySplitShell splits a shell command line into words, honouring single and double quotes
// and backslash escapes; variables are left as written.
func deploySplitShell(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated '")
			}
			w.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				w.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, errors.New(`unterminated "`)
			}
			inWord = true
		case c == '\\' && i+1 < len(s):
			i++
			w.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// deployBuild builds df's binary as its RUN line does (its environment assignments, its flags,
// ${VERSION} as version) from the repository root into out.
func deployBuild(t *testing.T, df *deployDockerfile, version, out string) string {
	t.Helper()
	expand := func(s string) string {
		return strings.NewReplacer("${VERSION}", version, "$VERSION", version).Replace(s)
	}
	args := []string{"build"}
	for _, a := range df.goBuildArgs {
		args = append(args, expand(a))
	}
	args = append(args, "-o", out, df.goPackage)
	cmd := exec.Command("go", args...)
	cmd.Dir = deployRoot
	cmd.Env = append(os.Environ(), df.goBuildEnv...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: go %s: %v\n%s", df.path, strings.Join(args, " "), err, b)
	}
	return out
}

func deployCheckDockerfiles(t *testing.T, dfs ...*deployDockerfile) {
	// The Makefile's build target, with $(LDFLAGS) and $(VERSION) spelt out, is the Dockerfiles'
	// build: same -trimpath, same -ldflags.
	mk := string(deployRead(t, "Makefile"))
	ldflags := regexp.MustCompile(`(?m)^LDFLAGS\s*:=\s*(.*)$`).FindStringSubmatch(mk)
	if ldflags == nil {
		t.Fatal("Makefile: no LDFLAGS")
	}
	goWork := regexp.MustCompile(`(?m)^go (\S+)$`).FindStringSubmatch(string(deployRead(t, "go.work")))
	if goWork == nil {
		t.Fatal("go.work: no go line")
	}
	for _, df := range dfs {
		if !slices.Contains(df.goBuildEnv, "CGO_ENABLED=0") {
			t.Errorf("%s: go build runs without CGO_ENABLED=0: %q", df.path, df.goBuildEnv)
		}
		found := false
		for _, l := range strings.Split(mk, "\n") {
			if !strings.Contains(l, "go build") && !strings.Contains(l, "$(GO) build") || !strings.Contains(l, df.goPackage) || strings.Contains(l, "CGO_ENABLED") {
				continue
			}
			words, err := deploySplitShell(strings.NewReplacer("$(GO)", "go", "$(LDFLAGS)", strings.TrimSpace(ldflags[1]), "$(VERSION)", "${VERSION}").Replace(strings.TrimSpace(l)))
			if err != nil {
				t.Fatal(err)
			}
			var mkArgs []string
			for i := 2; i < len(words); i++ {
				if words[i] == "-o" {
					i++
				} else if words[i] != df.goPackage {
					mkArgs = append(mkArgs, words[i])
				}
			}
			found = true
			if !slices.Equal(mkArgs, df.goBuildArgs) {
				t.Errorf("%s builds with %q, the Makefile's build target with %q", df.path, df.goBuildArgs, mkArgs)
			}
		}
		if !found {
			t.Errorf("Makefile: no build line for %s", df.goPackage)
		}
		if len(df.from) == 0 || !strings.HasPrefix(df.from[0], "golang:"+goWork[1]+"-") {
			t.Errorf("%s: builder %q is not golang:%s-… (go.work's Go)", df.path, df.from, goWork[1])
		}
		if uid, _, _ := strings.Cut(df.user, ":"); uid == "" || uid == "0" || strings.Trim(uid, "0123456789") != "" {
			t.Errorf("%s: USER %q is not a numeric non-root user", df.path, df.user)
		}
		for _, l := range []string{"title", "version", "revision", "source"} {
			if df.labels["org.opencontainers.image."+l] == "" {
				t.Errorf("%s: no org.opencontainers.image.%s label", df.path, l)
			}
		}
		if df.labels["org.opencontainers.image.version"] != "${VERSION}" {
			t.Errorf("%s: the version label is %q, want ${VERSION}", df.path, df.labels["org.opencontainers.image.version"])
		}
		if len(df.healthcheck) == 0 || len(df.entrypoint) == 0 || len(df.expose) == 0 {
			t.Errorf("%s: want HEALTHCHECK, ENTRYPOINT and EXPOSE", df.path)
		}
	}
}

// --- the static binaries -------------------------------------------------------------------

func deployCheckStatic(t *testing.T, hubBin, agentBin, version string, hubDF, agentDF *deployDockerfile) {
	for _, bin := range []string{hubBin, agentBin} {
		if err := deployIsStatic(bin); err != nil {
			t.Errorf("%s: %v", filepath.Base(bin), err)
		}
	}
	if out, err := exec.Command(hubBin, "version").Output(); err != nil || strings.TrimSpace(string(out)) != version {
		t.Errorf("hub version = %q, %v; want %s (the -X path of the Dockerfile's ldflags)", out, err, version)
	}
	if out, err := exec.Command(agentBin, "--version").Output(); err != nil || !strings.Contains(string(out), version) {
		t.Errorf("agent --version = %q, %v; want %s", out, err, version)
	}

	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		t.Fatal(err)
	}
	secret := base64.StdEncoding.EncodeToString(raw)
	keys, err := auth.NewKeys([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	listen := freePort(t)
	hubURL := "http://" + listen
	start(t, "static hub", []string{"HUB_JWT_SECRET=" + secret}, hubBin,
		"serve", "--listen", listen, "--data-dir", filepath.Join(dir, "data"), "--log-level", "warn")
	eventually(t, 20*time.Second, "static hub /health", func() error {
		res, err := http.Get(hubURL + "/health")
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("GET /health: %s", res.Status)
		}
		return nil
	})

	// The image's HEALTHCHECK, as written, with HUB_LISTEN naming this hub's port.
	hc := deployLocalCommand(hubDF.healthcheck, map[string]string{"/hub": hubBin})
	if out, code := deployRun(hc, "HUB_LISTEN=:"+deployPort(t, listen)); code != 0 {
		t.Errorf("%q with HUB_LISTEN=:%s exited %d:\n%s", hubDF.healthcheck, deployPort(t, listen), code, out)
	}
	if out, code := deployRun([]string{hubBin, "healthcheck", "--url", hubURL + "/health"}); code != 0 {
		t.Errorf("hub healthcheck --url %s/health exited %d:\n%s", hubURL, code, out)
	}
	closed := freePort(t)
	if out, code := deployRun([]string{hubBin, "healthcheck", "--url", "http://" + closed + "/health", "--timeout", "2s"}); code != 1 {
		t.Errorf("hub healthcheck against the closed %s exited %d, want 1:\n%s", closed, code, out)
	}
	if out, code := deployRun(hc, "HUB_LISTEN=:"+deployPort(t, closed)); code != 1 {
		t.Errorf("the image's HEALTHCHECK against the closed %s exited %d, want 1:\n%s", closed, code, out)
	}

	// The static agent reports to the static hub; its image's HEALTHCHECK passes, and fails
	// for a configuration whose listener nobody serves.
	token, err := keys.Issue(auth.IssueRequest{Role: auth.Agent, Subject: "deploy", Tenant: "default", Service: "orders", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "agent-token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	agentYAML := func(name, listen string) string {
		path := filepath.Join(dir, name+".yaml")
		cfg := fmt.Sprintf("service: orders\ninstance: %s\ninterval: 1s\nlisten: %s\nmetrics_listen: %s\nhub:\n  url: %s\n  token_file: %s\nchecks:\n  - name: hub\n    http: {url: %q}\n",
			name, listen, freePort(t), hubURL, tokenFile, hubURL+"/health")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	running := agentYAML("orders-1", freePort(t))
	start(t, "static agent", nil, agentBin, "--config", running)
	admin, err := keys.Issue(auth.IssueRequest{Role: auth.Admin, Subject: "deploy", Tenant: auth.AllTenants, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the static agent's instance passing on the static hub", func() error {
		var doc healthDoc
		if code, body := getJSON(t, hubURL+"/api/v1/dashboard/health", admin, &doc); code != 200 {
			return fmt.Errorf("dashboard/health: %d %s", code, body)
		}
		for _, s := range doc.Services {
			for _, in := range s.Instances {
				if s.Name == "orders" && in.Instance == "orders-1" && in.Status == "passing" {
					return nil
				}
			}
		}
		return fmt.Errorf("orders/orders-1 not passing: %+v", doc.Services)
	})
	agentHC := func(config string) []string {
		return deployLocalCommand(agentDF.healthcheck, map[string]string{"/agent": agentBin, "/etc/centralhub/agent.yaml": config})
	}
	if out, code := deployRun(agentHC(running)); code != 0 {
		t.Errorf("the agent image's HEALTHCHECK exited %d:\n%s", code, out)
	}
	if out, code := deployRun(agentHC(agentYAML("orders-2", freePort(t)))); code != 1 {
		t.Errorf("the agent image's HEALTHCHECK against a closed listener exited %d, want 1:\n%s", code, out)
	}
	if out, code := deployRun(agentHC(filepath.Join(dir, "missing.yaml"))); code != 1 {
		t.Errorf("the agent image's HEALTHCHECK without a configuration exited %d, want 1:\n%s", code, out)
	}
}

// deployIsStatic says why an ELF binary is not static: an interpreter or needed libraries.
func deployIsStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("has a PT_INTERP program header (dynamically linked)")
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return err
	}
	if len(libs) > 0 {
		return fmt.Errorf("needs shared libraries %q", libs)
	}
	return nil
}

// deployLocalCommand is an image's command with its paths replaced by local ones.
func deployLocalCommand(cmd []string, paths map[string]string) []string {
	out := make([]string, len(cmd))
	for i, a := range cmd {
		if p, ok := paths[a]; ok {
			a = p
		}
		out[i] = a
	}
	return out
}

// deployRun runs argv with extra environment and returns its combined output and exit code;
// a command still running after 30 s is killed (exit code -1).
func deployRun(argv []string, env ...string) (string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return string(out) + "\n(killed after 30s)", -1
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		return err.Error(), -1
	}
	return string(out), 0
}

func deployPort(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// deployCheckPlaceholders: what deploy/kubernetes/secrets ships must be refused, so a forgotten
// replacement fails loudly instead of running with a known secret.
func deployCheckPlaceholders(t *testing.T, hubBin, agentBin string) {
	dir := t.TempDir()
	jwt := filepath.Join(deployRoot, "deploy/kubernetes/secrets/jwt-secret")
	out, code := deployRun([]string{hubBin, "serve", "--listen", freePort(t), "--data-dir", dir}, "HUB_JWT_SECRET=", "HUB_JWT_SECRET_FILE="+jwt)
	if code == 0 || !strings.Contains(out, "refusing to start") {
		t.Errorf("hub serve with the placeholder JWT secret exited %d:\n%s", code, out)
	}
	good := base64.StdEncoding.EncodeToString([]byte("0123456789abcdefghijklmnopqrstuvwxyz"))
	gossipKey := filepath.Join(deployRoot, "deploy/kubernetes/secrets/gossip-key")
	out, code = deployRun([]string{hubBin, "serve", "--listen", freePort(t), "--data-dir", dir, "--gossip-bind", "127.0.0.1:0", "--gossip-key-file", gossipKey},
		"HUB_JWT_SECRET="+good)
	if code == 0 || !strings.Contains(out, "gossip") {
		t.Errorf("hub serve with the placeholder gossip key exited %d:\n%s", code, out)
	}
	cfg := filepath.Join(dir, "agent.yaml")
	yml := fmt.Sprintf("service: orders\nhub: {url: \"http://127.0.0.1:7000\", token_file: /t}\ngossip: {join: [\"127.0.0.1:7946\"], key_file: %s}\n", gossipKey)
	if err := os.WriteFile(cfg, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := deployRun([]string{agentBin, "--validate", "--config", cfg}); code != 2 || !strings.Contains(out, "gossip.key_file") {
		t.Errorf("agent --validate with the placeholder gossip key exited %d:\n%s", code, out)
	}
}

// --- every file parses ---------------------------------------------------------------------

// deployFiles lists the files under deploy/ with one of exts, leaving out compose's secrets.
func deployFiles(t *testing.T, exts ...string) []string {
	t.Helper()
	var files []string
	root := filepath.Join(deployRoot, "deploy")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(deployRoot, path)
		if d.IsDir() && rel == filepath.Join("deploy", "compose", "secrets") {
			return filepath.SkipDir // made by up.sh, git-ignored, not YAML
		}
		if !d.IsDir() && slices.Contains(exts, filepath.Ext(path)) {
			files = append(files, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// deployYAMLDocs decodes every document of a YAML file.
func deployYAMLDocs(rel string, data []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", rel, len(docs)+1, err)
		}
		var v any // resolves anchors, aliases and merge keys as the tools will
		if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", rel, len(docs)+1, err)
		}
		docs = append(docs, &n)
	}
}

func deployCheckFilesParse(t *testing.T) {
	yamls := deployFiles(t, ".yaml", ".yml")
	for _, rel := range yamls {
		docs, err := deployYAMLDocs(rel, deployRead(t, rel))
		if err != nil {
			t.Error(err)
		} else if len(docs) == 0 {
			t.Errorf("%s: no YAML document", rel)
		}
	}
	jsons := deployFiles(t, ".json")
	for _, rel := range jsons {
		var v any
		if err := json.Unmarshal(deployRead(t, rel), &v); err != nil {
			t.Errorf("%s: %v", rel, err)
		}
	}
	for _, want := range []string{"deploy/compose/compose.yaml", "deploy/compose/alertmanager.yml", "deploy/kubernetes/kustomization.yaml", "deploy/kubernetes/hub.yaml"} {
		if !slices.Contains(yamls, filepath.FromSlash(want)) {
			t.Errorf("%s was not found among %q", want, yamls)
		}
	}
	t.Logf("%d YAML and %d JSON files parse", len(yamls), len(jsons))
}

// --- consistency ---------------------------------------------------------------------------

// deployComposeFile is the part of compose.yaml the checks read.
type deployComposeFile struct {
	Services map[string]deployComposeService `yaml:"services"`
	Secrets  map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

type deployComposeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Entrypoint  []string          `yaml:"entrypoint"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	NetworkMode string            `yaml:"network_mode"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
}

func deployCompose(t *testing.T) deployComposeFile {
	t.Helper()
	var c deployComposeFile
	if err := yaml.Unmarshal(deployRead(t, "deploy/compose/compose.yaml"), &c); err != nil {
		t.Fatalf("deploy/compose/compose.yaml: %v", err)
	}
	return c
}

// deployObject is the part of a Kubernetes object the checks read.
type deployObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Replicas *int           `yaml:"replicas"`
		Selector map[string]any `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"metadata"`
			Spec deployPodSpec `yaml:"spec"`
		} `yaml:"template"`
		// Service
		ClusterIP                string `yaml:"clusterIP"`
		PublishNotReadyAddresses bool   `yaml:"publishNotReadyAddresses"`
		Ports                    []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort any    `yaml:"targetPort"`
			Protocol   string `yaml:"protocol"`
		} `yaml:"ports"`
		// PodDisruptionBudget
		MinAvailable any `yaml:"minAvailable"`
	} `yaml:"spec"`
}

type deployPodSpec struct {
	AutomountServiceAccountToken *bool `yaml:"automountServiceAccountToken"`
	SecurityContext              struct {
		RunAsNonRoot *bool `yaml:"runAsNonRoot"`
	} `yaml:"securityContext"`
	Containers []deployContainer `yaml:"containers"`
	Volumes    []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
		} `yaml:"secret"`
		Projected *struct {
			Sources []struct {
				Secret *struct {
					Name string `yaml:"name"`
				} `yaml:"secret"`
				ConfigMap *struct {
					Name string `yaml:"name"`
				} `yaml:"configMap"`
			} `yaml:"sources"`
		} `yaml:"projected"`
	} `yaml:"volumes"`
}

type deployContainer struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
		Protocol      string `yaml:"protocol"`
	} `yaml:"ports"`
	StartupProbe   *deployProbe `yaml:"startupProbe"`
	LivenessProbe  *deployProbe `yaml:"livenessProbe"`
	ReadinessProbe *deployProbe `yaml:"readinessProbe"`
	Resources      struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
}

type deployProbe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
	Exec *struct {
		Command []string `yaml:"command"`
	} `yaml:"exec"`
}

// deployProbePath is the path an httpGet probe asks for ("" for none).
func deployProbePath(p *deployProbe) string {
	if p == nil || p.HTTPGet == nil {
		return ""
	}
	return p.HTTPGet.Path
}

// ports is the container's ports as "7000/tcp".
func (c *deployContainer) ports() []string {
	var ps []string
	for _, p := range c.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = "TCP"
		}
		ps = append(ps, fmt.Sprintf("%d/%s", p.ContainerPort, strings.ToLower(proto)))
	}
	return ps
}

// port resolves a probe's or Service's port, a number or the name of a container port.
func (c *deployContainer) port(p any) (int, bool) {
	switch v := p.(type) {
	case int:
		return v, true
	case string:
		for _, cp := range c.Ports {
			if cp.Name == v {
				return cp.ContainerPort, true
			}
		}
	}
	return 0, false
}

func (c *deployContainer) envValue(name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// deployObjects decodes Kubernetes objects from YAML documents.
func deployObjects(t *testing.T, rel string, data []byte) []deployObject {
	t.Helper()
	docs, err := deployYAMLDocs(rel, data)
	if err != nil {
		t.Fatal(err)
	}
	var objs []deployObject
	for _, d := range docs {
		var o deployObject
		if err := d.Decode(&o); err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		if o.Kind != "" {
			objs = append(objs, o)
		}
	}
	return objs
}

// deployManifests is every object of the Kubernetes manifests as written (before kustomize).
func deployManifests(t *testing.T) []deployObject {
	t.Helper()
	var objs []deployObject
	for _, rel := range deployFiles(t, ".yaml", ".yml") {
		if !strings.HasPrefix(rel, filepath.Join("deploy", "kubernetes")+string(filepath.Separator)) {
			continue
		}
		for _, o := range deployObjects(t, rel, deployRead(t, rel)) {
			if o.Kind != "Kustomization" && o.Kind != "" && o.Kind != "Namespace" {
				objs = append(objs, o)
			}
		}
	}
	return objs
}

// deployImageName is an image reference without its tag or digest.
func deployImageName(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	slash := strings.LastIndex(ref, "/") + 1
	if i := strings.Index(ref[slash:], ":"); i >= 0 {
		ref = ref[:slash+i]
	}
	return ref
}

// deployUse is one command line of a project binary found in deploy/.
type deployUse struct {
	where string
	image string   // deployHubImage or deployAgentImage
	argv  []string // without the program
}

func deployCheckConsistency(t *testing.T, hubBin, agentBin string, hubDF, agentDF *deployDockerfile) {
	compose := deployCompose(t)
	objs := deployManifests(t)
	var uses []deployUse
	hubEnv := map[string]string{} // HUB_* name → where it is set

	// Dockerfiles: the entrypoint with its default command, and the health check.
	for _, df := range []*deployDockerfile{hubDF, agentDF} {
		if len(df.entrypoint) == 0 || len(df.healthcheck) == 0 {
			t.Fatalf("%s: no ENTRYPOINT or HEALTHCHECK", df.path)
		}
		img := deployHubImage
		if df == agentDF {
			img = deployAgentImage
		}
		uses = append(uses,
			deployUse{df.path + " ENTRYPOINT+CMD", img, append(slices.Clone(df.entrypoint[1:]), df.cmd...)},
			deployUse{df.path + " HEALTHCHECK", img, df.healthcheck[1:]})
		for k := range df.env {
			if strings.HasPrefix(k, "HUB_") {
				hubEnv[k] = df.path
			}
		}
	}
	if hubDF.entrypoint[0] != "/hub" || agentDF.entrypoint[0] != "/agent" || hubDF.healthcheck[0] != "/hub" || agentDF.healthcheck[0] != "/agent" {
		t.Errorf("entrypoints %q, %q and health checks %q, %q: want /hub and /agent", hubDF.entrypoint, agentDF.entrypoint, hubDF.healthcheck, agentDF.healthcheck)
	}

	// Compose.
	exposed := map[string][]string{deployHubImage: hubDF.expose, deployAgentImage: agentDF.expose}
	dockerfileOf := map[string]string{deployHubImage: "deploy/docker/hub.Dockerfile", deployAgentImage: "deploy/docker/agent.Dockerfile"}
	composeImages := map[string][]string{}
	for _, name := range deployKeys(compose.Services) {
		s := compose.Services[name]
		img := deployImageName(s.Image)
		where := "compose service " + name
		if strings.HasPrefix(img, "centralhub/") {
			if _, ok := exposed[img]; !ok {
				t.Errorf("%s: image %q is neither %s nor %s", where, s.Image, deployHubImage, deployAgentImage)
				continue
			}
			composeImages[img] = append(composeImages[img], name)
			if s.Build == nil || s.Build.Context != "../.." || s.Build.Dockerfile != dockerfileOf[img] {
				t.Errorf("%s: builds %+v, want context ../.. and %s", where, s.Build, dockerfileOf[img])
			}
			argv := s.Command
			if len(s.Entrypoint) > 0 {
				argv = append(slices.Clone(s.Entrypoint[1:]), s.Command...)
			}
			uses = append(uses, deployUse{where + " command", img, argv})
			if s.Healthcheck != nil && len(s.Healthcheck.Test) > 2 && s.Healthcheck.Test[0] == "CMD" {
				uses = append(uses, deployUse{where + " healthcheck", img, s.Healthcheck.Test[2:]})
			}
			for _, p := range s.Ports {
				cp := p[strings.LastIndex(p, ":")+1:]
				if !strings.Contains(cp, "/") {
					cp += "/tcp"
				}
				if !slices.Contains(exposed[img], cp) {
					t.Errorf("%s: publishes %s, which %s does not EXPOSE (%q)", where, p, dockerfileOf[img], exposed[img])
				}
			}
		}
		for k, v := range s.Environment {
			if img == deployHubImage && strings.HasPrefix(k, "HUB_") {
				hubEnv[k] = where
			}
			if deployLooksSecret(k) && !strings.HasSuffix(k, "_FILE") {
				t.Errorf("%s: %s=%q: secrets come from files (a *_FILE variable), never inline", where, k, v)
			}
		}
		if img == deployHubImage {
			deployCheckListenPorts(t, where, hubDF, s.Environment["HUB_LISTEN"], s.Environment["HUB_GOSSIP_BIND"])
		}
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join(deployRoot, "deploy/compose", src)); err != nil {
					t.Errorf("%s: mounts %s: %v", where, src, err)
				}
			}
		}
	}
	for name, s := range compose.Secrets {
		if !strings.HasPrefix(s.File, "./secrets/") {
			t.Errorf("compose secret %s: file %q, want one under ./secrets/", name, s.File)
		}
	}
	if len(composeImages[deployHubImage]) != 1 || len(composeImages[deployAgentImage]) < 2 {
		t.Errorf("compose runs %q: want one hub and the agent sidecars", composeImages)
	}
	for _, name := range composeImages[deployAgentImage] {
		if nm := compose.Services[name].NetworkMode; !strings.HasPrefix(nm, "service:") {
			t.Errorf("compose service %s: network_mode %q, want service:<its app> (a sidecar)", name, nm)
		}
	}

	// Kubernetes manifests.
	k8sImages := map[string]int{}
	for _, o := range objs {
		if o.Kind != "Deployment" {
			continue
		}
		for _, c := range o.Spec.Template.Spec.Containers {
			img := deployImageName(c.Image)
			where := fmt.Sprintf("Deployment %s container %s", o.Metadata.Name, c.Name)
			if !strings.HasPrefix(img, "centralhub/") {
				continue
			}
			if _, ok := exposed[img]; !ok {
				t.Errorf("%s: image %q is neither %s nor %s", where, c.Image, deployHubImage, deployAgentImage)
				continue
			}
			k8sImages[img]++
			argv := c.Args
			if len(c.Command) > 0 {
				argv = append(slices.Clone(c.Command[1:]), c.Args...)
			}
			uses = append(uses, deployUse{where + " args", img, argv})
			got, want := slices.Sorted(slices.Values(c.ports())), slices.Sorted(slices.Values(exposed[img]))
			if !slices.Equal(got, want) {
				t.Errorf("%s: container ports %q, but %s EXPOSEs %q", where, got, dockerfileOf[img], want)
			}
			for _, p := range []*deployProbe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
				switch {
				case p == nil:
				case p.HTTPGet != nil:
					port, ok := c.port(p.HTTPGet.Port)
					if !ok || !slices.Contains(exposed[img], fmt.Sprintf("%d/tcp", port)) {
						t.Errorf("%s: probe of %s on port %v, which %s does not EXPOSE", where, p.HTTPGet.Path, p.HTTPGet.Port, dockerfileOf[img])
					}
				case p.Exec != nil && len(p.Exec.Command) > 1:
					uses = append(uses, deployUse{where + " exec probe", img, p.Exec.Command[1:]})
				}
			}
			for _, e := range c.Env {
				if img == deployHubImage && strings.HasPrefix(e.Name, "HUB_") {
					hubEnv[e.Name] = where
				}
				if deployLooksSecret(e.Name) && !strings.HasSuffix(e.Name, "_FILE") {
					t.Errorf("%s: env %s: secrets come from files (a *_FILE variable), never inline", where, e.Name)
				}
			}
			if img == deployHubImage {
				deployCheckListenPorts(t, where, hubDF, c.envValue("HUB_LISTEN"), c.envValue("HUB_GOSSIP_BIND"))
			}
		}
	}
	if k8sImages[deployHubImage] != 1 || k8sImages[deployAgentImage] != 1 {
		t.Errorf("the manifests run %v: want the hub and one agent sidecar", k8sImages)
	}
	if got := string(deployRead(t, "deploy/kubernetes/kustomization.yaml")); !strings.Contains(got, "name: "+deployHubImage+"\n") || !strings.Contains(got, "name: "+deployAgentImage+"\n") {
		t.Errorf("kustomization.yaml: want images entries for %s and %s", deployHubImage, deployAgentImage)
	}

	// up.sh issues tokens with `hub token issue`, directly or through its issue function.
	issueCall := regexp.MustCompile(`^\s*issue \S+ (.*)$`)
	for _, l := range strings.Split(string(deployRead(t, "deploy/compose/up.sh")), "\n") {
		_, after, ok := strings.Cut(l, "hub token issue")
		if m := issueCall.FindStringSubmatch(l); m != nil {
			after, ok = m[1], true
		}
		if !ok || strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		words, err := deploySplitShell(strings.TrimSpace(after))
		if err != nil {
			t.Fatalf("up.sh: %q: %v", l, err)
		}
		argv := []string{"token", "issue"}
		for _, w := range words {
			if w == "|" || w == ">" || strings.HasPrefix(w, ")") || strings.HasSuffix(w, ")") || w == "\"$@\"" || w == "$@" {
				break
			}
			argv = append(argv, w)
		}
		uses = append(uses, deployUse{"up.sh: " + strings.TrimSpace(l), deployHubImage, argv})
	}

	// Every flag used exists in the binary's --help.
	helps := map[string]string{}
	help := func(bin string, sub []string) string {
		key := bin + " " + strings.Join(sub, " ")
		if h, ok := helps[key]; ok {
			return h
		}
		out, code := deployRun(append(append([]string{bin}, sub...), "--help"))
		if code != 0 {
			t.Errorf("%s --help exited %d:\n%s", key, code, out)
		}
		helps[key] = out
		return out
	}
	checked := 0
	for _, u := range uses {
		bin, argv := agentBin, u.argv
		var sub []string
		if u.image == deployHubImage {
			bin = hubBin
			if len(argv) == 0 {
				t.Errorf("%s: no hub subcommand", u.where)
				continue
			}
			n := 1
			if argv[0] == "token" || argv[0] == "keys" || argv[0] == "migrate" {
				n = 2
			}
			sub, argv = argv[:n], argv[n:]
		}
		h := help(bin, sub)
		for _, a := range argv {
			if !strings.HasPrefix(a, "-") {
				continue
			}
			name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if !regexp.MustCompile(`(?m)^\s+-` + regexp.QuoteMeta(name) + `(\s|$)`).MatchString(h) {
				t.Errorf("%s: %s %s: flag %s is not in its --help", u.where, filepath.Base(bin), strings.Join(sub, " "), a)
			}
			checked++
		}
	}

	// Every HUB_* variable set is one `hub serve --help` names.
	serveHelp := help(hubBin, []string{"serve"})
	for _, k := range deployKeys(hubEnv) {
		if !regexp.MustCompile(`\b` + k + `\b`).MatchString(serveHelp) {
			t.Errorf("%s sets %s, which `hub serve --help` does not mention", hubEnv[k], k)
		}
	}
	t.Logf("%d command lines, %d flags, %d HUB_* variables checked", len(uses), checked, len(hubEnv))
}

// deployCheckListenPorts: the API and gossip ports set through the environment are exposed.
func deployCheckListenPorts(t *testing.T, where string, hubDF *deployDockerfile, listen, gossipBind string) {
	t.Helper()
	for _, c := range []struct{ v, proto string }{{listen, "tcp"}, {gossipBind, "tcp"}, {gossipBind, "udp"}} {
		if c.v == "" {
			continue
		}
		_, port, err := net.SplitHostPort(c.v)
		if err != nil || !slices.Contains(hubDF.expose, port+"/"+c.proto) {
			t.Errorf("%s: %s (%s), but %s EXPOSEs %q", where, c.v, c.proto, hubDF.path, hubDF.expose)
		}
	}
}

// deployLooksSecret says whether an environment variable's name suggests a secret value.
func deployLooksSecret(name string) bool {
	for _, w := range []string{"PASSWORD", "SECRET", "TOKEN", "DATABASE_URL", "KEY"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

func deployKeys[M ~map[string]V, V any](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// --- agent configurations ------------------------------------------------------------------

// deployCheckAgentConfigs loads every agent configuration under deploy/ with the agent's own
// loader (`agent --validate`), its gossip key_file pointed at a key of the test's, and checks
// its ports against the images'.
func deployCheckAgentConfigs(t *testing.T, agentBin string, hubDF, agentDF *deployDockerfile) {
	dir := t.TempDir()
	key := gossipKeyFile(t, dir)
	var found []string
	for _, rel := range deployFiles(t, ".yaml", ".yml") {
		data := deployRead(t, rel)
		var cfg struct {
			Service       string `yaml:"service"`
			Listen        string `yaml:"listen"`
			MetricsListen string `yaml:"metrics_listen"`
			Hub           *struct {
				URL  string   `yaml:"url"`
				URLs []string `yaml:"urls"`
			} `yaml:"hub"`
			Gossip *struct {
				Bind    string   `yaml:"bind"`
				Join    []string `yaml:"join"`
				KeyFile string   `yaml:"key_file"`
			} `yaml:"gossip"`
		}
		if yaml.Unmarshal(data, &cfg) != nil || cfg.Service == "" || cfg.Hub == nil {
			continue // not an agent configuration
		}
		found = append(found, rel)
		path := filepath.Join(dir, strings.ReplaceAll(rel, string(filepath.Separator), "_"))
		if cfg.Gossip != nil && cfg.Gossip.KeyFile != "" {
			data = regexp.MustCompile(`(key_file:\s*)`+regexp.QuoteMeta(cfg.Gossip.KeyFile)).ReplaceAll(data, []byte("${1}"+key))
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if out, code := deployRun([]string{agentBin, "--validate", "--config", path}); code != 0 {
			t.Errorf("%s: agent --validate exited %d:\n%s", rel, code, out)
		}
		if !strings.HasPrefix(rel, filepath.Join("deploy", "examples")) {
			deployCheckAgentPorts(t, rel, cfg.MetricsListen, false, agentDF)
			if cfg.Gossip != nil {
				deployCheckAgentPorts(t, rel, cfg.Gossip.Bind, true, agentDF)
				for _, j := range cfg.Gossip.Join {
					_, port, _ := net.SplitHostPort(j)
					if !slices.Contains(hubDF.expose, port+"/tcp") || !slices.Contains(hubDF.expose, port+"/udp") {
						t.Errorf("%s: gossip.join %s, but the hub image EXPOSEs %q", rel, j, hubDF.expose)
					}
				}
			}
			for _, u := range append([]string{cfg.Hub.URL}, cfg.Hub.URLs...) {
				if _, port, _ := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")); !slices.Contains(hubDF.expose, port+"/tcp") {
					t.Errorf("%s: hub %s, but the hub image EXPOSEs %q", rel, u, hubDF.expose)
				}
			}
		}
	}
	for _, want := range []string{"deploy/compose/agents/orders.yaml", "deploy/compose/agents/payments.yaml", "deploy/kubernetes/orders-agent.yaml", "deploy/examples/agent.yaml"} {
		if !slices.Contains(found, filepath.FromSlash(want)) {
			t.Errorf("%s is not among the agent configurations found: %q", want, found)
		}
	}
}

func deployCheckAgentPorts(t *testing.T, rel, addr string, both bool, agentDF *deployDockerfile) {
	t.Helper()
	if addr == "" {
		return
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil || !slices.Contains(agentDF.expose, port+"/tcp") || (both && !slices.Contains(agentDF.expose, port+"/udp")) {
		t.Errorf("%s: %s, but the agent image EXPOSEs %q", rel, addr, agentDF.expose)
	}
}

// --- compose, as processes on loopback ----------------------------------------------------

// deployCheckComposeOnLoopback runs compose's hub and agents without Docker: the static hub with
// the hub service's command and environment, on a PostgreSQL schema of the test server, and an
// agent with each sidecar's configuration file, every container path and service name mapped to
// a file or an address on loopback. Each demo service turns passing with its checks (its app and
// PostgreSQL), the agents join the hub's gossip, and their metrics listeners serve /metrics.
func deployCheckComposeOnLoopback(t *testing.T, hubBin, agentBin string) {
	dbURL := pgtest.Schema(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	pgAddr := u.Host
	if u.Port() == "" {
		pgAddr = net.JoinHostPort(u.Hostname(), "5432")
	}
	compose := deployCompose(t)
	dir := t.TempDir()
	secrets := filepath.Join(dir, "secrets")
	if err := os.Mkdir(secrets, 0o700); err != nil {
		t.Fatal(err)
	}
	writeSecret := func(name, content string) {
		if err := os.WriteFile(filepath.Join(secrets, name), []byte(content+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeSecret("jwt-secret", secret) // the harness's, so its helpers' tokens verify
	key, err := os.ReadFile(gossipKeyFile(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	writeSecret("gossip-key", strings.TrimSpace(string(key)))
	writeSecret("database-url", dbURL)
	alertmanager := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(alertmanager.Close)

	listen, gossipAddr := freePort(t), freePortOn(t, "127.0.0.1")
	hubSvc := compose.Services["hub"]
	var env []string
	for _, k := range deployKeys(hubSvc.Environment) {
		v := hubSvc.Environment[k]
		switch {
		case strings.HasPrefix(v, "/run/secrets/"):
			v = filepath.Join(secrets, strings.TrimPrefix(v, "/run/secrets/"))
		case k == "HUB_LISTEN":
			v = listen
		case k == "HUB_API_URL":
			v = "http://" + listen
		case k == "HUB_GOSSIP_BIND":
			v = gossipAddr
		case k == "HUB_DATA_DIR":
			v = filepath.Join(dir, "hub-data")
		case k == "HUB_ALERTMANAGER_URL":
			v = alertmanager.URL
		case strings.Contains(v, "/") || strings.Contains(v, ":"):
			t.Fatalf("compose hub: %s=%s: the test does not know where that is on loopback", k, v)
		}
		env = append(env, k+"="+v)
	}
	h := &hubProc{proc: start(t, "compose hub", env, hubBin, hubSvc.Command...), url: "http://" + listen}
	eventually(t, 30*time.Second, "compose hub ready", func() error {
		res, err := http.Get(h.url + "/ready")
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("ready: %s", res.Status)
		}
		return nil
	})

	services := []string{"orders", "payments"}
	metrics := map[string]string{}
	for _, name := range services {
		svc, ok := compose.Services[name+"-agent"]
		if !ok {
			t.Fatalf("compose has no service %s-agent", name)
		}
		var config string
		for _, v := range svc.Volumes {
			if src, dst, _ := strings.Cut(v, ":"); strings.HasPrefix(dst, "/etc/centralhub/agent.yaml") {
				config = src
			}
		}
		data := deployRead(t, filepath.Join("deploy/compose", config))
		app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/health" {
				http.NotFound(w, r)
			}
		}))
		t.Cleanup(app.Close)
		tokenFile := filepath.Join(secrets, name+"-agent-token")
		writeSecret(name+"-agent-token", issue(t, auth.Agent, "default", name))
		metrics[name] = freePort(t)
		cfg := strings.NewReplacer(
			"http://hub:7000", h.url,
			`"hub:7946"`, `"`+gossipAddr+`"`,
			"postgres:5432", pgAddr,
			"127.0.0.1:8080", app.Listener.Addr().String(),
			"listen: 127.0.0.1:7001", "listen: "+freePort(t),
			"metrics_listen: 0.0.0.0:9101", "metrics_listen: "+metrics[name],
			"bind: 0.0.0.0:7946", "bind: "+freePortOn(t, "127.0.0.1"),
			"/run/secrets/agent-token", tokenFile,
			"/run/secrets/gossip-key", filepath.Join(secrets, "gossip-key"),
			"/var/lib/centralhub/", filepath.Join(dir, name+"-agent-data")+"/",
		).Replace(string(data))
		for _, left := range []string{"0.0.0.0", "/run/", "/var/lib/", "://hub", `"hub:`, "postgres:5432"} {
			if strings.Contains(cfg, left) {
				t.Fatalf("%s: the test does not know where %q is on loopback:\n%s", config, left, cfg)
			}
		}
		if err := os.MkdirAll(filepath.Join(dir, name+"-agent-data"), 0o700); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name+"-agent.yaml")
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		start(t, "compose "+name+"-agent", nil, agentBin, "--config", path)
	}
	for _, name := range services {
		waitStatus(t, h, name, name+"-1", "passing", 30*time.Second, "web=passing", "postgres=passing")
	}
	eventually(t, 30*time.Second, "both agents alive in the hub's gossip", func() error {
		states := memberStates(t, h)
		for _, name := range services {
			if st := states["default/"+name+"/"+name+"-1"]; st != "alive" {
				return fmt.Errorf("members %v", states)
			}
		}
		return nil
	})
	for name, addr := range metrics {
		res, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(b), "centralhub_agent_") {
			t.Errorf("%s agent's metrics_listen: %s\n%.300s", name, res.Status, b)
		}
	}
}

// --- pinned third-party images -------------------------------------------------------------

var deployVersionTag = regexp.MustCompile(`^v?\d+\.\d+(\.\d+)?([.-][0-9A-Za-z.-]+)?$`)

func deployCheckPinned(t *testing.T, dfs ...*deployDockerfile) {
	refs := map[string]string{} // image reference → where
	for _, df := range dfs {
		for _, f := range df.from {
			if f != "scratch" {
				refs[f] = df.path
			}
		}
	}
	compose := deployCompose(t)
	for name, s := range compose.Services {
		refs[s.Image] = "compose service " + name
	}
	for _, o := range deployManifests(t) {
		for _, c := range o.Spec.Template.Spec.Containers {
			refs[c.Image] = fmt.Sprintf("%s %s container %s", o.Kind, o.Metadata.Name, c.Name)
		}
	}
	third := 0
	for _, ref := range deployKeys(refs) {
		name := deployImageName(ref)
		if name == deployHubImage || name == deployAgentImage {
			continue
		}
		third++
		if strings.HasPrefix(name, "centralhub/") {
			t.Errorf("%s: %s is not one of the project's images", refs[ref], ref)
			continue
		}
		if _, digest, ok := strings.Cut(ref, "@sha256:"); ok && len(digest) == 64 {
			continue
		}
		tag := strings.TrimPrefix(strings.TrimPrefix(ref, name), ":")
		// The version part of a tag such as 16.6-bookworm is what pins it.
		if v, _, _ := strings.Cut(tag, "-"); tag == "" || tag == "latest" || !deployVersionTag.MatchString(v) {
			t.Errorf("%s: %q is not pinned to a version tag (want e.g. name:1.2.3)", refs[ref], ref)
		}
	}
	if third < 4 {
		t.Errorf("found only %d third-party images: %q", third, deployKeys(refs))
	}
}

// --- kustomize -----------------------------------------------------------------------------

func deployCheckKustomize(t *testing.T) {
	kustomize, err := exec.LookPath("kustomize")
	if err != nil {
		lacks(t, "kustomize is not on PATH: GOBIN=/usr/local/bin go install sigs.k8s.io/kustomize/kustomize/v5@v5.7.1 (scripts/ci-services.sh does)")
	}
	cmd := exec.Command(kustomize, "build", "deploy/kubernetes")
	cmd.Dir = deployRoot
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kustomize build deploy/kubernetes: %v\n%s", err, stderr.String())
	}
	objs := deployObjects(t, "kustomize build", out)
	kinds := map[string]int{}
	names := map[string]bool{}
	byName := map[string]deployObject{}
	for _, o := range objs {
		kinds[o.Kind]++
		names[o.Kind+"/"+o.Metadata.Name] = true
		byName[o.Kind+"/"+o.Metadata.Name] = o
	}
	if kinds["Deployment"] != 2 || kinds["Service"] < 2 || kinds["PodDisruptionBudget"] != 1 || kinds["Secret"] < 1 || kinds["ConfigMap"] < 1 || kinds["Namespace"] != 1 {
		t.Errorf("rendered kinds %v: want 2 Deployments, 2+ Services, a PodDisruptionBudget, Secrets, a ConfigMap, the Namespace", kinds)
	}
	for _, k := range []string{"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ServiceAccount"} {
		if kinds[k] > 0 {
			t.Errorf("renders %d %s: the hub and the agent need no Kubernetes API", kinds[k], k)
		}
	}

	hub, ok := byName["Deployment/centralhub"]
	if !ok {
		t.Fatalf("no Deployment centralhub among %v", names)
	}
	if hub.Spec.Replicas == nil || *hub.Spec.Replicas != 2 {
		t.Errorf("Deployment centralhub: replicas %v, want 2", hub.Spec.Replicas)
	}
	hubC := hub.Spec.Template.Spec.Containers[0]
	if got, want := deployProbePath(hubC.ReadinessProbe)+" "+deployProbePath(hubC.LivenessProbe), "/ready /health"; got != want {
		t.Errorf("hub probes: readiness and liveness %q, want %q", got, want)
	}
	if !strings.HasPrefix(hubC.Image, deployHubImage+":") {
		t.Errorf("hub image %q: want %s with the kustomization's tag", hubC.Image, deployHubImage)
	}
	for _, env := range []string{"HUB_DATABASE_URL_FILE", "HUB_JWT_SECRET_FILE", "HUB_GOSSIP_KEY_FILE", "HUB_GOSSIP_JOIN"} {
		if hubC.envValue(env) == "" {
			t.Errorf("hub container: %s is not set", env)
		}
	}

	gossip, ok := byName["Service/centralhub-gossip"]
	if !ok || gossip.Spec.ClusterIP != "None" || !gossip.Spec.PublishNotReadyAddresses {
		t.Errorf("Service centralhub-gossip: %+v, want headless with publishNotReadyAddresses", gossip.Spec)
	}
	var protos []string
	for _, p := range gossip.Spec.Ports {
		protos = append(protos, fmt.Sprintf("%d/%s", p.Port, p.Protocol))
	}
	if slices.Sort(protos); !slices.Equal(protos, []string{"7946/TCP", "7946/UDP"}) {
		t.Errorf("Service centralhub-gossip ports %q, want 7946 TCP and UDP", protos)
	}
	if pdb := byName["PodDisruptionBudget/centralhub"]; fmt.Sprint(pdb.Spec.MinAvailable) != "1" {
		t.Errorf("PodDisruptionBudget centralhub: minAvailable %v, want 1", pdb.Spec.MinAvailable)
	}
	if svc, ok := byName["Service/centralhub"]; !ok || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 7000 {
		t.Errorf("Service centralhub: %+v, want port 7000", svc.Spec.Ports)
	}

	orders, ok := byName["Deployment/orders"]
	if !ok {
		t.Fatalf("no Deployment orders among %v", names)
	}
	var agent *deployContainer
	for i, c := range orders.Spec.Template.Spec.Containers {
		if deployImageName(c.Image) == deployAgentImage {
			agent = &orders.Spec.Template.Spec.Containers[i]
		}
	}
	if agent == nil || len(orders.Spec.Template.Spec.Containers) < 2 {
		t.Fatalf("Deployment orders: want the app and the agent as a sidecar, got %+v", orders.Spec.Template.Spec.Containers)
	}
	if port, _ := strconv.Atoi(orders.Spec.Template.Metadata.Annotations["prometheus.io/port"]); port == 0 || !slices.Contains(agent.ports(), fmt.Sprintf("%d/tcp", port)) {
		t.Errorf("Deployment orders: prometheus.io/port %q is not the agent's metrics port %q", orders.Spec.Template.Metadata.Annotations["prometheus.io/port"], agent.ports())
	}

	// Every pod: no service account token, non-root, read-only, no capabilities, resources; and
	// every Secret and ConfigMap it mounts is rendered (with kustomize's hashed names).
	for _, o := range objs {
		if o.Kind != "Deployment" {
			continue
		}
		ps := o.Spec.Template.Spec
		if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
			t.Errorf("Deployment %s: automountServiceAccountToken must be false", o.Metadata.Name)
		}
		if ps.SecurityContext.RunAsNonRoot == nil || !*ps.SecurityContext.RunAsNonRoot {
			t.Errorf("Deployment %s: the pod must run as non-root", o.Metadata.Name)
		}
		for _, c := range ps.Containers {
			sc := c.SecurityContext
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
				!slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
				t.Errorf("Deployment %s container %s: want readOnlyRootFilesystem, no privilege escalation, capabilities drop ALL", o.Metadata.Name, c.Name)
			}
			if c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
				t.Errorf("Deployment %s container %s: want memory requests and limits", o.Metadata.Name, c.Name)
			}
		}
		for _, v := range ps.Volumes {
			var refs []string
			if v.ConfigMap != nil {
				refs = append(refs, "ConfigMap/"+v.ConfigMap.Name)
			}
			if v.Secret != nil {
				refs = append(refs, "Secret/"+v.Secret.SecretName)
			}
			if v.Projected != nil {
				for _, s := range v.Projected.Sources {
					if s.Secret != nil {
						refs = append(refs, "Secret/"+s.Secret.Name)
					}
					if s.ConfigMap != nil {
						refs = append(refs, "ConfigMap/"+s.ConfigMap.Name)
					}
				}
			}
			for _, r := range refs {
				if !names[r] {
					t.Errorf("Deployment %s volume %s: %s is not rendered", o.Metadata.Name, v.Name, r)
				}
			}
		}
	}
	t.Logf("kustomize build: %v", kinds)
}
