package hubclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ConfigPath is the hub route of the desired configs; the service name follows it.
const ConfigPath = "/api/v1/config/"

// maxDesiredConfig caps the hub's answer to a desired-config GET (the hub caps a stored config
// at 1 MiB; the rest is its envelope).
const maxDesiredConfig = 2 << 20

// DesiredConfig is a service's desired config as the hub stores it: the admin's JSON object
// and the version of that write.
type DesiredConfig struct {
	Tenant    string         `json:"tenant"`
	Service   string         `json:"service"`
	Version   int64          `json:"version"` // rises with every write; ETag "<version>"
	Config    map[string]any `json:"config"`  // numbers as json.Number
	Checksum  string         `json:"checksum"`
	UpdatedBy string         `json:"updated_by"`
	UpdatedAt time.Time      `json:"updated_at"`
}

// Errors of FetchDesiredConfig that are answers, not failures.
var (
	ErrNotModified     = errors.New("desired config not modified")              // 304: the known version is current
	ErrNoDesiredConfig = errors.New("no desired config stored for the service") // 404
)

// FetchDesiredConfig GETs the desired config of service from the hubs the sender reports to,
// with the same token, client and timeouts. known is the version the caller holds (0 for
// none), sent as If-None-Match: "<known>"; the hub's 304 returns ErrNotModified and its 404
// ErrNoDesiredConfig. A network error, a 429 or a 5xx moves on to the next hub (in the order
// reports fail over, gossip's view included); after a 401 the token is re-read and the same
// hub asked once more. Safe for concurrent use, and independent of Run.
func (s *Sender) FetchDesiredConfig(ctx context.Context, service string, known int64) (*DesiredConfig, error) {
	states := s.hubStates()
	first := s.preferAlive(int(s.configHub.Load()), states)
	var errs []error
	for _, idx := range append([]int{first}, s.failoverOrder(first, states)...) {
		dc, err := s.fetchDesired(ctx, idx, service, known)
		if err == nil || errors.Is(err, ErrNotModified) || errors.Is(err, ErrNoDesiredConfig) {
			s.configHub.Store(int32(idx))
			return dc, err
		}
		var final *finalError
		if errors.As(err, &final) || ctx.Err() != nil {
			return nil, err
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("fetch desired config: %w", errors.Join(errs...))
}

// finalError is a hub's answer that another hub would give too (400, 401 twice, 403): no
// failover.
type finalError struct{ err error }

func (e *finalError) Error() string { return e.err.Error() }
func (e *finalError) Unwrap() error { return e.err }

// fetchDesired asks the hub at cfg.URLs[idx], retrying once with a re-read token after a 401.
func (s *Sender) fetchDesired(ctx context.Context, idx int, service string, known int64) (*DesiredConfig, error) {
	base := strings.TrimRight(s.cfg.URLs[idx], "/")
	target := base + ConfigPath + url.PathEscape(service)
	for attempt := 0; ; attempt++ {
		token, err := s.cfg.Token.Token(attempt > 0)
		if err != nil {
			return nil, &finalError{fmt.Errorf("token: %w", err)}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return nil, &finalError{fmt.Errorf("build desired config request: %w", err)}
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "application/json")
		if s.cfg.UserAgent != "" {
			req.Header.Set("User-Agent", s.cfg.UserAgent)
		}
		if known > 0 {
			req.Header.Set("If-None-Match", `"`+strconv.FormatInt(known, 10)+`"`)
		}
		resp, err := s.client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("GET %s: %w", target, err)
		}
		switch code := resp.StatusCode; {
		case code == http.StatusOK:
			return decodeDesired(resp, target)
		case code == http.StatusNotModified:
			readReason(resp)
			return nil, ErrNotModified
		case code == http.StatusNotFound:
			readReason(resp)
			return nil, ErrNoDesiredConfig
		case code == http.StatusUnauthorized && attempt == 0:
			readReason(resp) // re-read the token and ask again
		case code == http.StatusUnauthorized || code == http.StatusForbidden || code == http.StatusBadRequest:
			return nil, &finalError{fmt.Errorf("GET %s: hub answered %d: %s", target, code, readReason(resp))}
		default:
			return nil, fmt.Errorf("GET %s: hub answered %d: %s", target, code, readReason(resp))
		}
	}
}

func decodeDesired(resp *http.Response, target string) (*DesiredConfig, error) {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDesiredConfig+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: read body: %w", target, err)
	}
	if len(body) > maxDesiredConfig {
		return nil, &finalError{fmt.Errorf("GET %s: answer larger than %d bytes", target, maxDesiredConfig)}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var dc DesiredConfig
	if err := dec.Decode(&dc); err != nil {
		return nil, &finalError{fmt.Errorf("GET %s: decode desired config: %w", target, err)}
	}
	switch {
	case dc.Version <= 0:
		return nil, &finalError{fmt.Errorf("GET %s: desired config has version %d; want one above 0", target, dc.Version)}
	case dc.Config == nil:
		return nil, &finalError{fmt.Errorf("GET %s: desired config has no config object", target)}
	}
	return &dc, nil
}
