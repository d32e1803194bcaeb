package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/centralhub/centralhub/pkg/status"
)

// The operator commands (hub status, services, alerts, ack) are clients of a running hub's
// dashboard API. They print tables for people and, with --json, the API's own JSON for scripts.

var opsUsage = map[string]string{
	"status": `usage: hub status [flags]

Overall status, services and instances by status, firing and acknowledged alerts, the worst
services and why (GET /api/v1/dashboard/summary), and the hub's own health and version (GET /health).
Exit code, as monitoring plugins use it: 0 healthy, 1 degraded (or the hub itself degraded),
2 unhealthy, 3 unknown (nothing reporting) or the status could not be read.
--json prints {"hub": <GET /health>, "summary": <GET /api/v1/dashboard/summary>}.
`,
	"services": `usage: hub services [--status S] [--service NAME] [flags]

Services worst first (GET /api/v1/dashboard/health, read a page at a time), or with --service
NAME that service's instances and checks. --status healthy|degraded|unhealthy|unknown keeps
those services only. --json prints dashboard/health's shape with every page joined.
`,
	"alerts": `usage: hub alerts [--state pending|firing|resolved] [--component C] [--service S] [--limit N] [flags]

Alerts, firing first, then pending, then resolved (GET /api/v1/dashboard/alerts).
`,
	"ack": `usage: hub ack COMPONENT --comment TEXT [--expires-in 2h] [flags]
       hub ack COMPONENT --remove [flags]

Acknowledges every firing alert on COMPONENT (POST /api/v1/dashboard/alerts/COMPONENT/acknowledge),
recording the token's subject and the comment; the acknowledgement holds until the alert
resolves or --expires-in (at most 7d) passes. --remove un-acknowledges them (DELETE). Needs an
operator token.
`,
}

// ops runs one of the operator commands and returns its exit code: for status the status's
// (see opsUsage), for the others 0, or 1 after an error printed as "hub <command>: <reason>".
func ops(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer, getenv env) int {
	code, err := runOps(ctx, cmd, args, stdout, stderr, getenv)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "hub %s: %v\n", cmd, err)
		if cmd == "status" {
			return statusError
		}
		return 1
	}
	return code
}

// The exit codes of hub status.
const (
	statusHealthy   = 0
	statusDegraded  = 1
	statusUnhealthy = 2
	statusError     = 3 // unknown: nothing reports, or the status could not be read
)

func runOps(ctx context.Context, cmd string, args []string, stdout, stderr io.Writer, getenv env) (int, error) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, opsUsage[cmd], "\nFlags (the token comes from --token-file or env HUB_TOKEN):\n")
		fs.PrintDefaults()
	}
	f := bindOpsFlags(fs, getenv)
	var (
		statusFilter, service          *string
		state, component, alertService *string
		limit                          *int
		comment, expiresIn             *string
		remove                         *bool
	)
	switch cmd {
	case "services":
		statusFilter = fs.String("status", "", "only services of this status: healthy, degraded, unhealthy or unknown")
		service = fs.String("service", "", "show this service's instances and checks")
	case "alerts":
		state = fs.String("state", "", "only alerts in this state: pending, firing or resolved")
		component = fs.String("component", "", "only alerts on this component")
		alertService = fs.String("service", "", "only alerts of this service")
		limit = fs.Int("limit", 0, "at most this many alerts (0: all)")
	case "ack":
		comment = fs.String("comment", "", "why, and who is on it (required unless --remove)")
		expiresIn = fs.String("expires-in", "", "the acknowledgement lapses after this (90m, 2h, 7d; at most 7d)")
		remove = fs.Bool("remove", false, "un-acknowledge instead")
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return 0, err
	}
	// The command's own arguments are checked before the token and the hub are.
	switch {
	case cmd == "ack" && len(pos) != 1:
		return 0, errors.New("want exactly one COMPONENT (hub ack COMPONENT --comment TEXT)")
	case cmd != "ack" && len(pos) > 0:
		return 0, fmt.Errorf("unexpected argument %q", pos[0])
	case cmd == "services":
		if err := checkServicesFlags(*statusFilter, *service); err != nil {
			return 0, err
		}
	case cmd == "alerts":
		if err := checkAlertsFlags(*state, *limit); err != nil {
			return 0, err
		}
	case cmd == "ack":
		if err := checkAckFlags(*comment, *expiresIn, *remove); err != nil {
			return 0, err
		}
	}
	c, err := f.client(getenv)
	if err != nil {
		return 0, err
	}
	defer c.http.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	switch cmd {
	case "status":
		return runStatus(ctx, c, f, stdout)
	case "services":
		return 0, runServices(ctx, c, f, *statusFilter, *service, stdout)
	case "alerts":
		return 0, runAlerts(ctx, c, f, *state, *component, *alertService, *limit, stdout)
	case "ack":
		return 0, runAck(ctx, c, f, pos[0], *comment, *expiresIn, *remove, stdout)
	}
	return 0, fmt.Errorf("unknown command %q", cmd)
}

func checkServicesFlags(statusFilter, service string) error {
	if statusFilter == "" {
		return nil
	}
	switch status.Service(statusFilter) {
	case status.Healthy, status.Degraded, status.Unhealthy, status.ServiceUnknown:
	default:
		return fmt.Errorf("--status: %q is not healthy, degraded, unhealthy or unknown", statusFilter)
	}
	if service != "" {
		return errors.New("--status: not with --service")
	}
	return nil
}

func checkAlertsFlags(state string, limit int) error {
	switch state {
	case "", "pending", "firing", "resolved":
	default:
		return fmt.Errorf("--state: %q is not pending, firing or resolved", state)
	}
	if limit < 0 {
		return errors.New("--limit: must not be negative")
	}
	return nil
}

func checkAckFlags(comment, expiresIn string, remove bool) error {
	if remove {
		if comment != "" || expiresIn != "" {
			return errors.New("--remove: takes no --comment or --expires-in")
		}
		return nil
	}
	if strings.TrimSpace(comment) == "" {
		return errors.New("--comment: required: say why, and who is on it (an acknowledgement without a reason helps nobody)")
	}
	return nil
}

// parseInterspersed parses flags before and after positional arguments (hub ack orders
// --comment x as well as hub ack --comment x orders) and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// opsFlags are the flags every operator command takes.
type opsFlags struct {
	url, tokenFile, tenant, caFile string
	json                           bool
	timeout                        time.Duration
}

func bindOpsFlags(fs *flag.FlagSet, getenv env) *opsFlags {
	f := &opsFlags{}
	fs.StringVar(&f.url, "url", envOr(getenv, "HUB_URL", "http://127.0.0.1:7000"), "base URL of the hub (env HUB_URL)")
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding the token (default: env HUB_TOKEN)")
	fs.StringVar(&f.tenant, "tenant", "", "one tenant, for a token of every tenant (*)")
	fs.StringVar(&f.caFile, "ca-file", envOr(getenv, "HUB_CA_FILE", ""), "PEM CA certificates to verify an https hub with, besides the system's (env HUB_CA_FILE)")
	fs.BoolVar(&f.json, "json", false, "print the API's JSON, indented")
	fs.DurationVar(&f.timeout, "timeout", 10*time.Second, "give up after this long")
	return f
}

// opsClient calls one hub's API with one token.
type opsClient struct {
	base   string // scheme://host[:port][/prefix], no trailing slash
	token  string
	tenant string
	http   *http.Client
	limit  time.Duration // the --timeout, for messages
}

func (f *opsFlags) client(getenv env) (*opsClient, error) {
	u, err := url.Parse(f.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--url: %q is not an http:// or https:// URL of a hub", f.url)
	}
	if f.timeout <= 0 {
		return nil, errors.New("--timeout: must be positive")
	}
	token, err := opsToken(f.tokenFile, getenv)
	if err != nil {
		return nil, err
	}
	transport, err := cliTransport(f.caFile)
	if err != nil {
		return nil, err
	}
	return &opsClient{
		base: strings.TrimRight(u.String(), "/"), token: token, tenant: f.tenant, limit: f.timeout,
		http: &http.Client{Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // never resend the token to wherever a redirect points
		}},
	}, nil
}

// opsToken is cliToken with the operator commands' own advice when no token is given.
func opsToken(path string, getenv env) (string, error) {
	if v, _ := getenv("HUB_TOKEN"); path == "" && v == "" {
		return "", errors.New("no token: set HUB_TOKEN or pass --token-file (a viewer token or better; operator to acknowledge)")
	}
	tok, err := cliToken(path, getenv)
	if err == nil && tok == "" {
		err = fmt.Errorf("--token-file %s: the file is empty", path)
	}
	return tok, err
}

// cliTransport is the client commands' transport: TLS 1.2 or later, verified against the
// system's roots plus the PEM CAs in caFile (when set), and a proxy from the environment for
// https only, so a token (or a key, or a backup) never crosses a proxy in clear text.
func cliTransport(caFile string) (*http.Transport, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = func(r *http.Request) (*url.URL, error) {
		if r.URL.Scheme != "https" {
			return nil, nil
		}
		return http.ProxyFromEnvironment(r)
	}
	transport.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pool, err := caPool(caFile, "--ca-file")
		if err != nil {
			return nil, err
		}
		transport.TLSClientConfig.RootCAs = pool
	}
	return transport, nil
}

// caPool is the system's roots plus the PEM certificates in path; errors name the setting.
func caPool(path, setting string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", setting, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: %s: no PEM certificate in it", setting, path)
	}
	return pool, nil
}

// apiError is an answer other than 2xx, with the reason the API gave.
type apiError struct {
	status string // "403 Forbidden"
	code   int
	reason string
}

func (e *apiError) Error() string {
	msg := e.status + ": " + e.reason
	if e.code == http.StatusUnauthorized {
		msg += " (check HUB_TOKEN or --token-file)"
	}
	return msg
}

// call sends a request to path with query q (and ?tenant= when --tenant is set) and returns the
// answer's JSON body. body, when not nil, is sent as JSON.
func (c *opsClient) call(ctx context.Context, method, path string, q url.Values, body any) ([]byte, error) {
	if q == nil {
		q = url.Values{}
	}
	if c.tenant != "" {
		q.Set("tenant", c.tenant)
	}
	target := c.base + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, fmt.Errorf("--url: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, c.answerError(resp, raw, method+" "+path)
	}
	if !json.Valid(raw) {
		return nil, fmt.Errorf("%s %s answered %s without JSON; is --url %s a hub?", method, path, resp.Status, c.base)
	}
	return raw, nil
}

// answerError is the apiError of a non-2xx answer to request ("GET /path") with body raw.
func (c *opsClient) answerError(resp *http.Response, raw []byte, request string) error {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(raw, &e) != nil || e.Error == "" {
		e.Error = fmt.Sprintf("not an answer of the Central Hub API (%s); is --url %s a hub?", request, c.base)
	}
	return &apiError{status: resp.Status, code: resp.StatusCode, reason: e.Error}
}

// transportError says what went wrong reaching the hub, naming its URL.
func (c *opsClient) transportError(ctx context.Context, err error) error {
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("no answer from the hub at %s within %s (--timeout)", c.base, c.limit)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	hint := ""
	var unknownCA x509.UnknownAuthorityError
	if errors.As(err, &unknownCA) {
		hint = " (pass --ca-file or set HUB_CA_FILE to the CA that signed the hub's certificate)"
	}
	return fmt.Errorf("cannot reach the hub at %s: %v%s", c.base, err, hint)
}

// getJSON calls GET path and decodes the answer into v, returning the raw JSON too.
func (c *opsClient) getJSON(ctx context.Context, path string, q url.Values, v any) (json.RawMessage, error) {
	raw, err := c.call(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("GET %s: unexpected answer: %w", path, err)
	}
	return raw, nil
}

// printJSON writes raw indented, as the API sent it otherwise.
func printJSON(w io.Writer, raw []byte) error {
	var buf bytes.Buffer
	if err := json.Indent(&buf, bytes.TrimSpace(raw), "", "  "); err != nil {
		return err
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}

// --- hub status ---

type opsSummary struct {
	Status    string         `json:"status"`
	Services  map[string]int `json:"services"`
	Instances map[string]int `json:"instances"`
	Alerts    struct {
		Firing       int `json:"firing"`
		Acknowledged int `json:"acknowledged"`
	} `json:"alerts"`
	Worst []struct {
		Tenant string `json:"tenant"`
		Name   string `json:"name"`
		Status string `json:"status"`
		Why    string `json:"why"`
	} `json:"worst"`
}

type opsHubHealth struct {
	Status  string `json:"status"`
	Version string `json:"version"`
}

// statusCode is hub status's exit code for the overall status and the hub's own health.
func statusCode(overall, hubHealth string) int {
	code := statusError
	switch status.Service(overall) {
	case status.Healthy:
		code = statusHealthy
	case status.Degraded:
		code = statusDegraded
	case status.Unhealthy:
		code = statusUnhealthy
	}
	if hubHealth != "healthy" && code == statusHealthy {
		code = statusDegraded
	}
	return code
}

func runStatus(ctx context.Context, c *opsClient, f *opsFlags, stdout io.Writer) (int, error) {
	var sum opsSummary
	sumRaw, err := c.getJSON(ctx, "/api/v1/dashboard/summary", nil, &sum)
	if err != nil {
		return 0, err
	}
	var hh opsHubHealth
	hhRaw, err := c.getJSON(ctx, "/health", nil, &hh)
	if err != nil {
		return 0, err
	}
	code := statusCode(sum.Status, hh.Status)
	if f.json {
		both, err := json.Marshal(struct {
			Hub     json.RawMessage `json:"hub"`
			Summary json.RawMessage `json:"summary"`
		}{hhRaw, sumRaw})
		if err != nil {
			return 0, err
		}
		return code, printJSON(stdout, both)
	}
	counts := func(m map[string]int, keys ...string) string {
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%d %s", m[k], k)
		}
		return strings.Join(parts, ", ")
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "STATUS\t%s\n", cell(sum.Status))
	fmt.Fprintf(tw, "HUB\t%s, version %s, %s\n", cell(hh.Status), cell(hh.Version), c.base)
	fmt.Fprintf(tw, "SERVICES\t%s\n", counts(sum.Services, "healthy", "degraded", "unhealthy", "unknown"))
	fmt.Fprintf(tw, "INSTANCES\t%s\n", counts(sum.Instances, "passing", "warning", "critical", "unknown"))
	fmt.Fprintf(tw, "ALERTS\t%d firing, %d acknowledged\n", sum.Alerts.Firing, sum.Alerts.Acknowledged)
	if err := tw.Flush(); err != nil {
		return 0, err
	}
	if len(sum.Worst) > 0 {
		fmt.Fprintln(stdout)
		tw = tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SERVICE\tTENANT\tSTATUS\tWHY")
		for _, o := range sum.Worst {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", cell(o.Name), cell(o.Tenant), cell(o.Status), cell(o.Why))
		}
		if err := tw.Flush(); err != nil {
			return 0, err
		}
		notHealthy := 0
		for k, n := range sum.Services {
			if k != string(status.Healthy) {
				notHealthy += n
			}
		}
		if notHealthy > len(sum.Worst) {
			fmt.Fprintf(stdout, "(the worst %d of %d services not healthy; hub services lists them all)\n", len(sum.Worst), notHealthy)
		}
	}
	return code, nil
}

// --- hub services ---

type opsCheck struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Output string `json:"output"`
}

type opsInstance struct {
	Instance string     `json:"instance"`
	Status   string     `json:"status"`
	LastSeen time.Time  `json:"last_seen"`
	Checks   []opsCheck `json:"checks"`
}

type opsService struct {
	Tenant      string        `json:"tenant"`
	Name        string        `json:"name"`
	Status      string        `json:"status"`
	Maintenance bool          `json:"maintenance"`
	Instances   []opsInstance `json:"instances"`
}

// opsHealthPage is one answer of dashboard/health, its services kept as sent.
type opsHealthPage struct {
	Status     json.RawMessage   `json:"status"`
	Total      int               `json:"total"`
	Services   []json.RawMessage `json:"services"`
	Components json.RawMessage   `json:"components"`
}

// servicesPage is how many services hub services asks for at a time.
var servicesPage = 500

func runServices(ctx context.Context, c *opsClient, f *opsFlags, statusFilter, service string, stdout io.Writer) error {
	var doc opsHealthPage
	if service != "" {
		if _, err := c.getJSON(ctx, "/api/v1/dashboard/health", url.Values{"service": {service}}, &doc); err != nil {
			return err
		}
	} else {
		for offset := 0; ; {
			var page opsHealthPage
			q := url.Values{"limit": {strconv.Itoa(servicesPage)}, "offset": {strconv.Itoa(offset)}}
			if _, err := c.getJSON(ctx, "/api/v1/dashboard/health", q, &page); err != nil {
				return err
			}
			if offset == 0 {
				doc = page
				doc.Services = nil
			}
			doc.Services = append(doc.Services, page.Services...)
			offset += len(page.Services)
			if len(page.Services) == 0 || offset >= page.Total {
				break
			}
		}
	}
	services := make([]opsService, 0, len(doc.Services))
	kept := doc.Services[:0:0]
	for _, raw := range doc.Services {
		var s opsService
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("GET /api/v1/dashboard/health: unexpected answer: %w", err)
		}
		if statusFilter == "" || s.Status == statusFilter {
			services = append(services, s)
			kept = append(kept, raw)
		}
	}
	if service != "" && len(services) == 0 {
		tenant := c.tenant
		if tenant == "" {
			tenant = "the token's (default for a token of every tenant)"
		}
		return fmt.Errorf("no service %s in tenant %s", service, tenant)
	}
	if f.json {
		doc.Services, doc.Total = kept, len(kept)
		if doc.Services == nil {
			doc.Services = []json.RawMessage{}
		}
		b, err := json.Marshal(doc)
		if err != nil {
			return err
		}
		return printJSON(stdout, b)
	}
	now := time.Now()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if service != "" {
		s := services[0]
		fmt.Fprintln(tw, "INSTANCE\tSTATUS\tCHECK\tSTATUS\tOUTPUT")
		for _, in := range s.Instances {
			if len(in.Checks) == 0 {
				fmt.Fprintf(tw, "%s\t%s\t-\t-\t\n", cell(in.Instance), cell(in.Status))
			}
			for _, ch := range in.Checks {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cell(in.Instance), cell(in.Status), cell(ch.Name), cell(ch.Status), clipRunes(cell(ch.Output), 100))
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s (tenant %s): %s, %s instances passing\n", cell(s.Name), cell(s.Tenant), serviceStatus(s), passingOf(s))
		return nil
	}
	if len(services) == 0 {
		if statusFilter != "" {
			fmt.Fprintf(stdout, "no %s services\n", statusFilter)
		} else {
			fmt.Fprintln(stdout, "no services")
		}
		return nil
	}
	// Worst first; the API's order (tenant, name) within a status.
	slices.SortStableFunc(services, func(a, b opsService) int {
		return status.Service(a.Status).Rank() - status.Service(b.Status).Rank()
	})
	fmt.Fprintln(tw, "NAME\tTENANT\tSTATUS\tINSTANCES\tLAST REPORT")
	for _, s := range services {
		var last time.Time
		for _, in := range s.Instances {
			if in.LastSeen.After(last) {
				last = in.LastSeen
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cell(s.Name), cell(s.Tenant), serviceStatus(s), passingOf(s), agoText(now, last))
	}
	return tw.Flush()
}

func serviceStatus(s opsService) string {
	if s.Maintenance {
		return cell(s.Status) + " (maintenance)"
	}
	return cell(s.Status)
}

// passingOf is "passing/total" of a service's instances.
func passingOf(s opsService) string {
	passing := 0
	for _, in := range s.Instances {
		if in.Status == string(status.Passing) {
			passing++
		}
	}
	return fmt.Sprintf("%d/%d", passing, len(s.Instances))
}

// --- hub alerts ---

type opsAlert struct {
	Component string     `json:"component"`
	Service   string     `json:"service"`
	Instance  string     `json:"instance"`
	Rule      string     `json:"rule"`
	Severity  string     `json:"severity"`
	State     string     `json:"state"`
	Summary   string     `json:"summary"`
	StartedAt time.Time  `json:"started_at"`
	FiredAt   *time.Time `json:"fired_at"`
	Resolved  *time.Time `json:"resolved_at"`
	Ack       *struct {
		By        string     `json:"by"`
		Comment   string     `json:"comment"`
		ExpiresAt *time.Time `json:"expires_at"`
	} `json:"ack"`
}

type opsAlertList struct {
	Alerts []opsAlert `json:"alerts"`
	Count  int        `json:"count"`
}

func runAlerts(ctx context.Context, c *opsClient, f *opsFlags, state, component, service string, limit int, stdout io.Writer) error {
	q := url.Values{}
	for k, v := range map[string]string{"state": state, "component": component, "service": service} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var list opsAlertList
	raw, err := c.getJSON(ctx, "/api/v1/dashboard/alerts", q, &list)
	if err != nil {
		return err
	}
	if f.json {
		return printJSON(stdout, raw)
	}
	if len(list.Alerts) == 0 {
		fmt.Fprintln(stdout, "no alerts")
		return nil
	}
	now := time.Now()
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATE\tSEVERITY\tCOMPONENT\tSERVICE\tRULE\tSINCE\tACK\tSUMMARY")
	for _, a := range list.Alerts {
		since := a.StartedAt
		if a.State == "firing" && a.FiredAt != nil {
			since = *a.FiredAt
		} else if a.State == "resolved" && a.Resolved != nil {
			since = *a.Resolved
		}
		ack := "-"
		if a.Ack != nil {
			ack = clipRunes(cell(a.Ack.By)+": "+cell(a.Ack.Comment), 40)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cell(a.State), cell(a.Severity), cell(a.Component), orDash(cell(a.Service)),
			cell(a.Rule), agoText(now, since), ack, clipRunes(cell(a.Summary), 100))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if list.Count > len(list.Alerts) {
		fmt.Fprintf(stdout, "(%d of %d alerts; raise --limit for more)\n", len(list.Alerts), list.Count)
	}
	return nil
}

// --- hub ack ---

func runAck(ctx context.Context, c *opsClient, f *opsFlags, component, comment, expiresIn string, remove bool, stdout io.Writer) error {
	path := "/api/v1/dashboard/alerts/" + url.PathEscape(component) + "/acknowledge"
	var (
		raw []byte
		err error
	)
	if remove {
		raw, err = c.call(ctx, http.MethodDelete, path, nil, nil)
	} else {
		raw, err = c.call(ctx, http.MethodPost, path, nil, map[string]string{"comment": comment, "expires_in": expiresIn})
	}
	if err != nil {
		return err
	}
	if f.json {
		return printJSON(stdout, raw)
	}
	var list opsAlertList
	if err := json.Unmarshal(raw, &list); err != nil {
		return fmt.Errorf("unexpected answer: %w", err)
	}
	noun := "alerts"
	if list.Count == 1 {
		noun = "alert"
	}
	if remove {
		fmt.Fprintf(stdout, "un-acknowledged %d %s on %s\n", list.Count, noun, cell(component))
		return nil
	}
	line := fmt.Sprintf("acknowledged %d firing %s on %s", list.Count, noun, cell(component))
	if len(list.Alerts) > 0 && list.Alerts[0].Ack != nil {
		a := list.Alerts[0].Ack
		line += " as " + cell(a.By)
		if a.ExpiresAt != nil {
			line += ", until " + a.ExpiresAt.Local().Format(time.RFC3339)
		}
	}
	fmt.Fprintln(stdout, line)
	return nil
}

// --- formatting ---

// cell makes s safe for one table cell: control characters (tabs, newlines, escape
// sequences an agent's check output might carry) become spaces.
func cell(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}

// clipRunes shortens s to n runes, marking the cut.
func clipRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-3]) + "..."
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// agoText is how long before now t was, in at most two units ("45s ago", "3m12s ago", "2h5m ago",
// "3d4h ago"); "-" for the zero time.
func agoText(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds ago", s)
	case s < 3600:
		return fmt.Sprintf("%dm%ds ago", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%dm ago", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd%dh ago", s/86400, s%86400/3600)
}
