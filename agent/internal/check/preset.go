package check

import (
	"fmt"
	"net/http"
	"net/url"

	"github.com/centralhub/centralhub/agent/internal/config"
)

// Preset kinds: HTTP checks of a product's documented readiness endpoint.
const (
	PresetClickHouse = "clickhouse"
	PresetArangoDB   = "arangodb"
	PresetWeaviate   = "weaviate"
)

// presets says, per preset kind, which path of the server's base URL is asked and what a ready
// server answers, as each product documents it.
var presets = map[string]struct {
	path         string
	bodyContains string
}{
	// ClickHouse's HTTP interface answers GET /ping with 200 and "Ok.\n".
	PresetClickHouse: {"/ping", "Ok."},
	// ArangoDB answers 200 while it accepts writes, 503 during start-up, shutdown, maintenance
	// or read-only mode, and on a passive follower.
	PresetArangoDB: {"/_admin/server/availability", ""},
	// Weaviate's readiness probe: 200 when ready to serve, 503 otherwise.
	PresetWeaviate: {"/v1/.well-known/ready", ""},
}

// NewPreset returns the HTTP prober of a preset kind for the server at c.URL: a GET of the
// product's readiness path, passing on a 2xx answer (with its expected body, where it has one).
func NewPreset(kind string, c *config.PresetCheck, userAgent string) (*HTTP, error) {
	p, ok := presets[kind]
	if !ok {
		return nil, fmt.Errorf("no preset %q", kind)
	}
	base, err := url.Parse(c.URL)
	if err != nil {
		return nil, fmt.Errorf("%s url: %w", kind, err)
	}
	h, err := NewHTTP(&config.HTTPCheck{
		URL:           base.JoinPath(p.path).String(),
		Method:        config.DefaultHTTPMethod,
		ExpectStatus:  config.DefaultExpectStatus,
		BodyContains:  p.bodyContains,
		TLSSkipVerify: c.TLSSkipVerify,
	}, userAgent)
	if err != nil || c.TLS == nil {
		return h, err
	}
	tc, err := clientTLS(c.TLS, base.Hostname())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	tc.InsecureSkipVerify = tc.InsecureSkipVerify || c.TLSSkipVerify
	h.client.Transport.(*http.Transport).TLSClientConfig = tc
	return h, nil
}
