package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/centralhub/centralhub/hub"
)

// defaultResendInterval is how often an Alertmanager receiver re-sends the firing alerts.
const defaultResendInterval = time.Minute

// AlertmanagerConfig configures an Alertmanager receiver.
type AlertmanagerConfig struct {
	URL            string        // base URL of Alertmanager, e.g. http://127.0.0.1:9093; alerts are posted to <URL>/api/v2/alerts
	Timeout        time.Duration // per attempt; 0: 10s
	ResendInterval time.Duration // how often firing alerts are re-sent (Alertmanager resolves an alert it stops hearing about); 0: 1m
	Log            *slog.Logger  // where Run reports failed re-sends; nil: slog.Default()
}

// validate checks c; its errors are *FieldError under prefix.
func (c AlertmanagerConfig) validate(prefix string) error {
	if _, err := parseHTTPURL(field(prefix, "url"), c.URL); err != nil {
		return err
	}
	if c.Timeout < 0 {
		return &FieldError{field(prefix, "timeout"), "must not be negative"}
	}
	if c.ResendInterval < 0 {
		return &FieldError{field(prefix, "resend_interval"), "must not be negative"}
	}
	return nil
}

// Alertmanager is a Receiver that posts alerts to the Prometheus Alertmanager v2 API, and whose
// Run re-sends the firing ones so that Alertmanager keeps them active.
type Alertmanager struct {
	name     string
	endpoint *url.URL // <URL>/api/v2/alerts
	timeout  time.Duration
	resend   time.Duration
	active   func() []hub.Alert
	log      *slog.Logger
	client   *http.Client
	now      func() time.Time
	postMu   sync.Mutex // one post at a time: a re-send and a resolve never cross
}

// postableAlert is an alert in the shape Alertmanager's POST /api/v2/alerts takes (an array of
// them).
type postableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// NewAlertmanager returns an Alertmanager receiver named name. active returns the alerts Run
// re-sends every ResendInterval: the firing alerts that were notified. It may be nil: Run then
// re-sends nothing.
func NewAlertmanager(name string, cfg AlertmanagerConfig, active func() []hub.Alert) (*Alertmanager, error) {
	if err := checkName("name", name); err != nil {
		return nil, fmt.Errorf("alertmanager receiver: %w", err)
	}
	if err := cfg.validate("alertmanager"); err != nil {
		return nil, err
	}
	base, err := parseHTTPURL("alertmanager.url", cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = defaultTimeout
	}
	if cfg.ResendInterval == 0 {
		cfg.ResendInterval = defaultResendInterval
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Alertmanager{
		name:     name,
		endpoint: base.JoinPath("api", "v2", "alerts"),
		timeout:  cfg.Timeout,
		resend:   cfg.ResendInterval,
		active:   active,
		log:      cfg.Log.With("component", "notify", "receiver", name),
		client:   newHTTPClient(),
		now:      time.Now,
	}, nil
}

// Name returns the receiver's name.
func (a *Alertmanager) Name() string { return a.name }

// Send makes one attempt to post n's alert: firing (for firing and repeat) or resolved.
func (a *Alertmanager) Send(ctx context.Context, n Notification) error {
	a.postMu.Lock()
	defer a.postMu.Unlock()
	if err := a.post(ctx, []postableAlert{a.postable(n.Alert, n.Event == EventResolved)}); err != nil {
		return fmt.Errorf("alertmanager %s: %w", a.name, err)
	}
	return nil
}

// Run re-sends, at once and then every ResendInterval, all the alerts active returns, in one
// request, until ctx ends; then it returns nil. A failed re-send is logged and made again at
// the next interval: Alertmanager keeps an alert for four intervals.
func (a *Alertmanager) Run(ctx context.Context) error {
	t := time.NewTicker(a.resend)
	defer t.Stop()
	for {
		if err := a.resendActive(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("re-send firing alerts to alertmanager", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// resendActive posts what active returns, when there is any.
func (a *Alertmanager) resendActive(ctx context.Context) error {
	if a.active == nil {
		return nil
	}
	// Held from the snapshot to the post: a resolve Send of an alert in the snapshot then goes
	// after this post, never before it (which would leave Alertmanager holding it firing).
	a.postMu.Lock()
	defer a.postMu.Unlock()
	alerts := a.active()
	if len(alerts) == 0 {
		return nil
	}
	batch := make([]postableAlert, len(alerts))
	for i, al := range alerts {
		batch[i] = a.postable(al, al.State == hub.AlertResolved)
	}
	if err := a.post(ctx, batch); err != nil {
		return fmt.Errorf("re-send %d alerts: %w", len(batch), err)
	}
	return nil
}

// post makes one attempt to post batch.
func (a *Alertmanager) post(ctx context.Context, batch []postableAlert) error {
	body, err := json.Marshal(batch)
	if err != nil {
		return Permanent(fmt.Errorf("encode alerts: %w", err))
	}
	header := http.Header{}
	header.Set("User-Agent", "centralhub")
	return postJSON(ctx, a.client, a.endpoint, a.timeout, body, header, "")
}

// postable maps al to Alertmanager's shape. A firing alert ends four resend intervals from now
// unless re-sent; a resolved one ends when it resolved.
func (a *Alertmanager) postable(al hub.Alert, resolved bool) postableAlert {
	labels := map[string]string{}
	for _, l := range [...]struct{ name, value string }{
		{"alertname", al.Rule},
		{"tenant", al.Tenant},
		{"component", al.Component},
		{"severity", string(al.Severity)},
		{"service", al.Service},
		{"instance", al.Instance},
		{"check", al.Check},
	} {
		if l.value != "" { // to Alertmanager an empty label is an absent one
			labels[l.name] = l.value
		}
	}
	ann := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			ann[k] = v
		}
	}
	set("summary", al.Summary)
	set("runbook_url", al.Runbook)
	set("impacted", strings.Join(al.Impacted, ","))
	if al.Ack != nil {
		set("acknowledged_by", al.Ack.By)
		set("ack_comment", al.Ack.Comment)
	}
	set("suppressed_by", al.SuppressedBy)

	now := a.now()
	p := postableAlert{Labels: labels, Annotations: ann, StartsAt: al.StartedAt}
	if al.FiredAt != nil {
		p.StartsAt = *al.FiredAt
	}
	switch {
	case !resolved:
		p.EndsAt = now.Add(4 * a.resend)
	case al.ResolvedAt != nil:
		p.EndsAt = *al.ResolvedAt
	default:
		p.EndsAt = now
	}
	if !p.StartsAt.IsZero() && p.EndsAt.Before(p.StartsAt) {
		p.EndsAt = p.StartsAt // Alertmanager rejects an alert that ends before it starts
	}
	p.StartsAt, p.EndsAt = p.StartsAt.UTC(), p.EndsAt.UTC()
	return p
}
