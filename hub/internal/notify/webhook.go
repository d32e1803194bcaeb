package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/centralhub/centralhub/hub"
)

// WebhookConfig configures a Webhook receiver.
type WebhookConfig struct {
	URL             string        // http(s) absolute URL with a host
	Timeout         time.Duration // per attempt; 0: 10s
	BearerTokenFile string        // optional; the file's trimmed content is sent as "Authorization: Bearer ..."; re-read on every send; never logged
}

// validate checks c; its errors are *FieldError under prefix.
func (c WebhookConfig) validate(prefix string) error {
	if _, err := parseHTTPURL(field(prefix, "url"), c.URL); err != nil {
		return err
	}
	if c.Timeout < 0 {
		return &FieldError{field(prefix, "timeout"), "must not be negative"}
	}
	return nil
}

// Webhook is a Receiver that POSTs each notification as JSON to a URL.
type Webhook struct {
	name      string
	endpoint  *url.URL
	timeout   time.Duration
	tokenFile string
	userAgent string
	client    *http.Client
	now       func() time.Time
}

// webhookPayload is the JSON body a Webhook posts.
type webhookPayload struct {
	Version  string    `json:"version"` // of this payload's shape: "1"
	ID       string    `json:"id"`      // the notification's; an idempotency key
	Receiver string    `json:"receiver"`
	Event    Event     `json:"event"`  // firing, repeat or resolved
	Status   string    `json:"status"` // firing or resolved
	SentAt   time.Time `json:"sent_at"`
	Alert    hub.Alert `json:"alert"`
}

// NewWebhook returns a Webhook receiver named name that posts to cfg.URL and identifies itself
// as centralhub/version.
func NewWebhook(name string, cfg WebhookConfig, version string) (*Webhook, error) {
	if err := checkName("name", name); err != nil {
		return nil, fmt.Errorf("webhook receiver: %w", err)
	}
	if err := cfg.validate("webhook"); err != nil {
		return nil, err
	}
	u, err := parseHTTPURL("webhook.url", cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = defaultTimeout
	}
	return &Webhook{
		name:      name,
		endpoint:  u,
		timeout:   cfg.Timeout,
		tokenFile: cfg.BearerTokenFile,
		userAgent: "centralhub/" + version,
		client:    newHTTPClient(),
		now:       time.Now,
	}, nil
}

// Name returns the receiver's name.
func (w *Webhook) Name() string { return w.name }

// Send makes one attempt to POST n. An answer other than 2xx, 408, 429 or 5xx gives a
// Permanent error.
func (w *Webhook) Send(ctx context.Context, n Notification) error {
	status := string(hub.AlertFiring)
	if n.Event == EventResolved {
		status = string(hub.AlertResolved)
	}
	body, err := json.Marshal(webhookPayload{
		Version:  "1",
		ID:       n.ID,
		Receiver: w.name,
		Event:    n.Event,
		Status:   status,
		SentAt:   w.now().UTC(),
		Alert:    n.Alert,
	})
	if err != nil {
		return Permanent(fmt.Errorf("encode webhook payload: %w", err))
	}
	header := http.Header{}
	header.Set("User-Agent", w.userAgent)
	header.Set("X-Centralhub-Notification-Id", n.ID)
	var token string
	if w.tokenFile != "" {
		if token, err = readToken(w.tokenFile); err != nil {
			return err // retryable: the file may be being rotated
		}
		header.Set("Authorization", "Bearer "+token)
	}
	if err := postJSON(ctx, w.client, w.endpoint, w.timeout, body, header, token); err != nil {
		return fmt.Errorf("webhook %s: %w", w.name, err)
	}
	return nil
}

// readToken reads a bearer token file. Its errors name the file, never the content.
func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read bearer token file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("bearer token file %s: empty", path)
	}
	if strings.ContainsFunc(token, func(r rune) bool { return !unicode.IsPrint(r) || r > unicode.MaxASCII }) {
		return "", fmt.Errorf("bearer token file %s: not printable ASCII", path)
	}
	return token, nil
}
