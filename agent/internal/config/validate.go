package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/centralhub/centralhub/pkg/gossip"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// MinCheckInterval is the shortest check interval Validate accepts.
const MinCheckInterval = 100 * time.Millisecond

// Validate checks c after defaults are applied and returns the first problem as a *FieldError
// naming the YAML field. It changes nothing.
func (c *Config) Validate() error {
	if c.Service == "" {
		return &FieldError{"service", "required"}
	}
	for _, f := range []struct{ field, value string }{
		{"service", c.Service}, {"instance", c.Instance}, {"tenant", c.Tenant},
	} {
		if err := protocol.ValidName(f.value); err != nil {
			return &FieldError{f.field, err.Error()}
		}
	}
	if err := validListen(c.Listen); err != nil {
		return &FieldError{"listen", err.Error()}
	}
	if c.MetricsListen != "" {
		if err := validListen(c.MetricsListen); err != nil {
			return &FieldError{"metrics_listen", err.Error()}
		}
		if _, port, _ := net.SplitHostPort(c.Listen); c.MetricsListen == c.Listen && port != "0" {
			return &FieldError{"metrics_listen", "must differ from listen (listen already serves /metrics)"}
		}
	}
	if err := c.Hub.validate(); err != nil {
		return err
	}
	if c.Gossip != nil {
		if err := c.Gossip.validate(); err != nil {
			return err
		}
	}
	seen := make(map[string]int, len(c.Checks))
	for i := range c.Checks {
		at := fmt.Sprintf("checks[%d]", i)
		if err := c.Checks[i].validate(at); err != nil {
			return err
		}
		if j, dup := seen[c.Checks[i].Name]; dup {
			return &FieldError{at + ".name", fmt.Sprintf("%q is already the name of checks[%d]", c.Checks[i].Name, j)}
		}
		seen[c.Checks[i].Name] = i
	}
	if err := c.validateConfigChecks(); err != nil {
		return err
	}
	return c.validateReportLimits()
}

// validateReportLimits builds the report this configuration produces and lets the protocol's own
// validation judge the limits it shares with the hub (tags, meta, depends_on, text lengths, the
// report interval, component names). Its field names match the YAML keys.
func (c *Config) validateReportLimits() error {
	rep := protocol.Report{
		Version: protocol.Version, Tenant: c.Tenant, Service: c.Service, Instance: c.Instance,
		Address: c.Address, Runbook: c.Runbook, Tags: c.Tags, Meta: c.Meta,
		Boot: 1, Seq: 1, Interval: protocol.Duration(c.Interval), DependsOn: c.DependsOn,
		Config: protocol.ConfigState{Status: protocol.ConfigNone},
	}
	for i := range c.Checks {
		ch := &c.Checks[i]
		rep.Checks = append(rep.Checks, protocol.CheckResult{
			Name: ch.Name, Kind: ch.Kind(), Status: status.Unknown,
			Component: ch.Component, Critical: ch.Critical, Runbook: ch.Runbook, ComponentMeta: ch.ComponentMeta,
		})
	}
	err := rep.Validate()
	var fe *protocol.FieldError
	if errors.As(err, &fe) {
		return &FieldError{fe.Field, fe.Reason}
	}
	return err
}

func (h *Hub) validate() error {
	if h.URL == "" {
		return &FieldError{"hub.url", "required (or set " + EnvHubURL + ")"}
	}
	if err := validHubURL(h.URL); err != nil {
		return &FieldError{"hub.url", err.Error()}
	}
	seen := map[string]string{strings.TrimRight(h.URL, "/"): "hub.url"}
	for i, u := range h.URLs {
		at := fmt.Sprintf("hub.urls[%d]", i)
		if err := validHubURL(u); err != nil {
			return &FieldError{at, err.Error()}
		}
		if prev, dup := seen[strings.TrimRight(u, "/")]; dup {
			return &FieldError{at, "same as " + prev}
		}
		seen[strings.TrimRight(u, "/")] = at
	}
	if h.Token == "" && h.TokenFile == "" {
		return &FieldError{"hub.token_file", "required (or set " + EnvToken + ")"}
	}
	return h.validateTLS()
}

// validateTLS checks hub.ca_file, hub.cert_file and hub.key_file: the pair goes together, the
// files exist, and some hub URL is https (they apply to nothing else, and a client certificate
// set for plain HTTP is a mistake better caught than ignored).
func (h *Hub) validateTLS() error {
	switch {
	case h.CertFile != "" && h.KeyFile == "":
		return &FieldError{"hub.key_file", "required with hub.cert_file"}
	case h.KeyFile != "" && h.CertFile == "":
		return &FieldError{"hub.cert_file", "required with hub.key_file"}
	}
	for _, f := range []struct{ key, path string }{{"hub.ca_file", h.CAFile}, {"hub.cert_file", h.CertFile}, {"hub.key_file", h.KeyFile}} {
		if f.path == "" {
			continue
		}
		if fi, err := os.Stat(f.path); err != nil {
			return &FieldError{f.key, err.Error()}
		} else if !fi.Mode().IsRegular() {
			return &FieldError{f.key, f.path + ": not a regular file"}
		}
	}
	if !h.TLS() {
		return nil
	}
	for _, u := range h.ReportURLs() {
		if strings.HasPrefix(strings.ToLower(u), "https://") {
			return nil
		}
	}
	key := "hub.ca_file"
	if h.CAFile == "" {
		key = "hub.cert_file"
	}
	return &FieldError{key, "set, but no hub URL is https: TLS settings apply to https hubs only"}
}

// validate checks the gossip section, reading the key file so that a missing or bad key stops
// the agent at start-up rather than when it first gossips.
func (g *Gossip) validate() error {
	if err := validIPPort(g.Bind, true); err != nil {
		return &FieldError{"gossip.bind", err.Error()}
	}
	if g.Advertise != "" {
		if err := validIPPort(g.Advertise, false); err != nil {
			return &FieldError{"gossip.advertise", err.Error()}
		}
	}
	if len(g.Join) == 0 {
		return &FieldError{"gossip.join", "at least one host:port is required"}
	}
	for i, addr := range g.Join {
		host, port, err := net.SplitHostPort(addr)
		if err == nil && host == "" {
			err = errors.New("no host")
		}
		if err == nil {
			err = validPort(port, false)
		}
		if err != nil {
			return &FieldError{fmt.Sprintf("gossip.join[%d]", i), fmt.Sprintf("%q: want host:port: %v", addr, err)}
		}
	}
	if g.KeyFile == "" {
		return &FieldError{"gossip.key_file", "required: a file holding a base64 32-byte key"}
	}
	if fi, err := os.Stat(g.KeyFile); err == nil && !fi.Mode().IsRegular() {
		return &FieldError{"gossip.key_file", fmt.Sprintf("%s: not a regular file", g.KeyFile)}
	}
	if _, err := gossip.ReadKeyFile(g.KeyFile); err != nil {
		return &FieldError{"gossip.key_file", err.Error()}
	}
	if _, err := gossip.ParseProfile(g.Profile); err != nil {
		return &FieldError{"gossip.profile", err.Error()}
	}
	return nil
}

// validIPPort checks an IP:port that memberlist binds or advertises (it takes no host names).
// Port 0, allowed when zeroOK, picks a free port.
func validIPPort(addr string, zeroOK bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q: want IP:port: %w", addr, err)
	}
	if net.ParseIP(host) == nil {
		return fmt.Errorf("%q: want IP:port: %q is not an IP address", addr, host)
	}
	if err := validPort(port, zeroOK); err != nil {
		return fmt.Errorf("%q: %w", addr, err)
	}
	return nil
}

func validPort(port string, zeroOK bool) error {
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || (n == 0 && !zeroOK) {
		return fmt.Errorf("bad port %q", port)
	}
	return nil
}

func validHubURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: scheme must be http or https", s)
	}
	if u.Host == "" {
		return fmt.Errorf("%q: no host", s)
	}
	if u.User != nil {
		return fmt.Errorf("%q: must not carry credentials (use token_file)", s)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q: must not have a query or fragment", s)
	}
	return nil
}

func validListen(addr string) error {
	if addr == "" {
		return errors.New("required")
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%q: want host:port: %w", addr, err)
	}
	return nil
}

func (c *Check) validate(at string) error {
	if err := protocol.ValidName(c.Name); err != nil {
		return &FieldError{at + ".name", err.Error()}
	}
	switch kinds := c.kinds(); len(kinds) {
	case 0:
		return &FieldError{at, "needs one kind: http, tcp, exec, ttl, tls, or a probe such as postgres or redis"}
	case 1:
	default:
		return &FieldError{at, fmt.Sprintf("has %s; a check has exactly one kind", strings.Join(kinds, " and "))}
	}
	if c.Interval < MinCheckInterval {
		return &FieldError{at + ".interval", fmt.Sprintf("must be at least %s", MinCheckInterval)}
	}
	if c.Timeout <= 0 {
		return &FieldError{at + ".timeout", "must be greater than 0"}
	}
	if c.Rise < 1 {
		return &FieldError{at + ".rise", "must be at least 1"}
	}
	if c.Fall < 1 {
		return &FieldError{at + ".fall", "must be at least 1"}
	}
	if len(c.ComponentMeta) > 0 {
		if c.Component == "" {
			return &FieldError{at + ".component_meta", "needs component"}
		}
		if err := protocol.ValidComponentMeta(c.ComponentMeta); err != nil {
			return &FieldError{at + ".component_meta", err.Error()}
		}
	}
	switch {
	case c.HTTP != nil:
		return c.HTTP.validate(at + ".http")
	case c.TCP != nil:
		if _, port, err := net.SplitHostPort(c.TCP.Address); err != nil || port == "" {
			return &FieldError{at + ".tcp.address", fmt.Sprintf("%q: want host:port", c.TCP.Address)}
		}
	case c.TLS != nil:
		return c.TLS.validate(at + ".tls")
	case c.Exec != nil:
		if len(c.Exec.Command) == 0 || c.Exec.Command[0] == "" {
			return &FieldError{at + ".exec.command", "needs the program and its arguments, such as [\"/usr/local/bin/check\", \"-v\"]"}
		}
	case c.TTL != nil:
		if c.TTL.TTL <= 0 {
			return &FieldError{at + ".ttl.ttl", "must be greater than 0"}
		}
		if c.Rise != 1 || c.Fall != 1 {
			return &FieldError{at, "rise and fall do not apply to ttl checks: each update applies at once"}
		}
	default:
		return c.validateProbe(at)
	}
	return nil
}

func (t *TLSCheck) validate(at string) error {
	if _, port, err := net.SplitHostPort(t.Address); err != nil || port == "" {
		return &FieldError{at + ".address", fmt.Sprintf("%q: want host:port", t.Address)}
	}
	if t.ServerName == "" {
		return &FieldError{at + ".server_name", "required when the address has no host"}
	}
	if t.CriticalDays < 0 {
		return &FieldError{at + ".critical_days", "must not be negative"}
	}
	if t.WarnDays < t.CriticalDays {
		return &FieldError{at + ".warn_days", fmt.Sprintf("%d is below critical_days (%d)", t.WarnDays, t.CriticalDays)}
	}
	return nil
}

func (h *HTTPCheck) validate(at string) error {
	u, err := url.Parse(h.URL)
	switch {
	case h.URL == "":
		return &FieldError{at + ".url", "required"}
	case err != nil:
		return &FieldError{at + ".url", err.Error()}
	case u.Scheme != "http" && u.Scheme != "https":
		return &FieldError{at + ".url", fmt.Sprintf("%q: scheme must be http or https", h.URL)}
	case u.Host == "":
		return &FieldError{at + ".url", fmt.Sprintf("%q: no host", h.URL)}
	}
	if !isToken(h.Method) {
		return &FieldError{at + ".method", fmt.Sprintf("%q is not an HTTP method", h.Method)}
	}
	if _, err := ParseStatusRanges(h.ExpectStatus); err != nil {
		return &FieldError{at + ".expect_status", err.Error()}
	}
	for k := range h.Headers {
		if !isToken(k) {
			return &FieldError{at + ".headers", fmt.Sprintf("%q is not a header name", k)}
		}
	}
	return nil
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Lo, Hi int }

// StatusRanges is a set of HTTP status codes, as written in expect_status.
type StatusRanges []StatusRange

// ParseStatusRanges reads "200-299", "200" or "200,204,300-399". Codes are 100 to 599.
func ParseStatusRanges(s string) (StatusRanges, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("empty; want codes or ranges such as \"200-299\" or \"200,204\"")
	}
	var out StatusRanges
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			hi = lo
		}
		l, errL := statusCode(lo)
		h, errH := statusCode(hi)
		if err := errors.Join(errL, errH); err != nil {
			return nil, fmt.Errorf("%q: %w", part, err)
		}
		if l > h {
			return nil, fmt.Errorf("%q: range runs backwards", part)
		}
		out = append(out, StatusRange{l, h})
	}
	return out, nil
}

func statusCode(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 100 || n > 599 {
		return 0, fmt.Errorf("%q is not a status code from 100 to 599", s)
	}
	return n, nil
}

// Contains reports whether code is in the set.
func (r StatusRanges) Contains(code int) bool {
	for _, sr := range r {
		if code >= sr.Lo && code <= sr.Hi {
			return true
		}
	}
	return false
}

// String writes the set back in expect_status syntax.
func (r StatusRanges) String() string {
	parts := make([]string, len(r))
	for i, sr := range r {
		if sr.Lo == sr.Hi {
			parts[i] = strconv.Itoa(sr.Lo)
		} else {
			parts[i] = fmt.Sprintf("%d-%d", sr.Lo, sr.Hi)
		}
	}
	return strings.Join(parts, ",")
}
