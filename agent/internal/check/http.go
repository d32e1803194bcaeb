package check

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/centralhub/centralhub/agent/internal/config"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// maxHTTPBody is how much of a response body an HTTP check reads, for body_contains and output.
const maxHTTPBody = 64 << 10

// HTTP requests a URL and passes when the status is in expect_status and the body contains
// body_contains. Redirects are not followed: the first response's status is the one judged, so
// expect_status "300-399" is meaningful. Each run opens a fresh connection.
type HTTP struct {
	url          string
	shown        string // url with any password masked, for outputs
	method       string
	expect       config.StatusRanges
	bodyContains string
	headers      map[string]string
	userAgent    string
	client       *http.Client
}

// NewHTTP returns the prober for an http check; the configuration must have passed Validate.
func NewHTTP(c *config.HTTPCheck, userAgent string) (*HTTP, error) {
	expect, err := config.ParseStatusRanges(c.ExpectStatus)
	if err != nil {
		return nil, fmt.Errorf("expect_status: %w", err)
	}
	method := c.Method
	if method == "" {
		method = http.MethodGet
	}
	transport := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		DisableKeepAlives:   true,
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: c.TLSSkipVerify}, //nolint:gosec // the user asked for it
	}
	shown := c.URL
	if u, err := url.Parse(c.URL); err == nil {
		shown = u.Redacted() // a password in the URL never reaches outputs, reports or the dashboard
	}
	return &HTTP{
		url:          c.URL,
		shown:        shown,
		method:       method,
		expect:       expect,
		bodyContains: c.BodyContains,
		headers:      c.Headers,
		userAgent:    userAgent,
		client: &http.Client{
			Transport: transport,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
	}, nil
}

// Probe implements Prober.
func (h *HTTP) Probe(ctx context.Context) Result {
	req, err := http.NewRequestWithContext(ctx, h.method, h.url, nil)
	if err != nil {
		return Result{status.Critical, fmt.Sprintf("%s %s: %v", h.method, h.shown, err)}
	}
	for k, v := range h.headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	if req.Header.Get("User-Agent") == "" && h.userAgent != "" {
		req.Header.Set("User-Agent", h.userAgent)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return Result{status.Critical, err.Error()}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHTTPBody))
	head := fmt.Sprintf("%s %s: %s", h.method, h.shown, resp.Status)
	if err != nil {
		return Result{status.Critical, fmt.Sprintf("%s: read body: %v", head, err)}
	}
	snippet := protocol.Truncate(strings.TrimSpace(string(body)), protocol.MaxOutput/2)
	switch {
	case !h.expect.Contains(resp.StatusCode):
		return Result{status.Critical, fmt.Sprintf("%s (want %s)\n%s", head, h.expect, snippet)}
	case h.bodyContains != "" && !strings.Contains(string(body), h.bodyContains):
		return Result{status.Critical, fmt.Sprintf("%s: body does not contain %q\n%s", head, h.bodyContains, snippet)}
	}
	return Result{status.Passing, head}
}
