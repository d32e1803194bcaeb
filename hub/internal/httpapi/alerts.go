package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/alert"
	"github.com/centralhub/centralhub/pkg/auth"
	"github.com/centralhub/centralhub/pkg/protocol"
)

// Alerts is what the API needs of the alert engine.
// The changes are durable, with their audit entries, when they return; they fail with
// alert.ErrNotFound, *alert.InputError (naming the field) or *alert.StoreError (nothing
// changed), which writeError maps to 404, 400 and 503.
type Alerts interface {
	// List returns the alerts q selects and how many there are before q.Limit.
	List(q alert.Query) ([]hub.Alert, int)
	// Counts returns how many visible alerts fire and how many of those are acknowledged.
	Counts(visible func(string) bool) (firing, acknowledged int)
	// Acknowledge acknowledges the firing alerts on tenant's component.
	Acknowledge(ctx context.Context, tenant, component string, by alert.Principal, comment string, expiresIn time.Duration) ([]hub.Alert, error)
	// Unacknowledge removes the acknowledgement of the alerts on tenant's component.
	Unacknowledge(ctx context.Context, tenant, component string, by alert.Principal) ([]hub.Alert, error)
	// Silences returns the visible silences.
	Silences(visible func(string) bool) []alert.SilenceView
	// CreateSilence validates and stores s with by as its creator.
	CreateSilence(ctx context.Context, s hub.Silence, by alert.Principal) (alert.SilenceView, error)
	// DeleteSilence removes silence id when visible allows its tenant.
	DeleteSilence(ctx context.Context, id string, visible func(string) bool, by alert.Principal) error
	// Audit returns the audit entries q selects, newest first.
	Audit(ctx context.Context, q hub.AuditQuery) ([]hub.AuditEntry, error)
}

var _ Alerts = (*alert.Engine)(nil)

// maxActionBody caps the body of an acknowledgement or a new silence.
const maxActionBody = 64 << 10

// defaultAuditPage is how many audit entries GET audit returns without ?limit=.
const defaultAuditPage = 100

// errStoreDown is what a client sees when a change could not be made durable; the store's own
// error is logged, never sent.
var errStoreDown = &Error{Status: http.StatusServiceUnavailable, Message: "store unavailable: the change was not saved; retry",
	RetryAfter: 5 * time.Second}

type alertList struct {
	Alerts []hub.Alert `json:"alerts"`
	Count  int         `json:"count"`
}

type silenceList struct {
	Silences []alert.SilenceView `json:"silences"`
	Count    int                 `json:"count"`
}

type auditList struct {
	Entries []hub.AuditEntry `json:"entries"`
	Count   int              `json:"count"`
}

// principal is who acts on the request's behalf.
func principal(r *http.Request) alert.Principal {
	c := claimsFrom(r.Context())
	return alert.Principal{Subject: c.Subject, Role: string(c.Role), Tenant: c.Tenant}
}

// tenantsFor is which tenants a read route shows: the token's, narrowed to one by ?tenant=
// (see namedTenant).
func tenantsFor(r *http.Request) (func(string) bool, error) {
	visible, _ := visibility(r)
	if !r.URL.Query().Has("tenant") {
		return visible, nil
	}
	tenant, err := namedTenant(r)
	if err != nil {
		return nil, err
	}
	return func(t string) bool { return t == tenant }, nil
}

// queryName returns the query parameter name, checked as a service or component name when set.
func queryName(r *http.Request, name string) (string, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return "", nil
	}
	if err := protocol.ValidName(v); err != nil {
		return "", badRequest("query %s: %v", name, err)
	}
	return v, nil
}

// listAlerts lists the alerts the token sees, filtered by ?state=, ?component=, ?service= and
// ?tenant=; count is how many match before ?limit=.
func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request) error {
	q := alert.Query{}
	switch st := hub.AlertState(r.URL.Query().Get("state")); st {
	case "", hub.AlertPending, hub.AlertFiring, hub.AlertResolved:
		q.State = st
	default:
		return badRequest("query state: %q is not pending, firing or resolved", st)
	}
	var err error
	if q.Component, err = queryName(r, "component"); err != nil {
		return err
	}
	if q.Service, err = queryName(r, "service"); err != nil {
		return err
	}
	if q.Limit, err = queryInt(r, "limit", 0, maxPage); err != nil {
		return err
	}
	if q.Visible, err = tenantsFor(r); err != nil {
		return err
	}
	alerts, total := s.cfg.Alerts.List(q)
	writeJSON(w, http.StatusOK, alertList{Alerts: orEmpty(alerts), Count: total})
	return nil
}

// ackRequest is the optional body of an acknowledgement.
type ackRequest struct {
	Comment   string `json:"comment"`
	ExpiresIn string `json:"expires_in"` // a Go duration or whole days ("7d"); "" for no expiry
}

// ackTarget is the tenant and {component} an acknowledgement route is about.
func ackTarget(r *http.Request) (tenant, component string, err error) {
	component = mux.Vars(r)["component"]
	if err := protocol.ValidName(component); err != nil {
		return "", "", badRequest("component: %v", err)
	}
	tenant, err = namedTenant(r)
	return tenant, component, err
}

// acknowledge acknowledges the firing alerts on {component} of the request's tenant.
func (s *Server) acknowledge(w http.ResponseWriter, r *http.Request) error {
	tenant, component, err := ackTarget(r)
	if err != nil {
		return err
	}
	var req ackRequest
	if err := decodeBody(r, &req, true); err != nil {
		return err
	}
	expiresIn, err := parseExpiry(req.ExpiresIn)
	if err != nil {
		return err
	}
	alerts, err := s.cfg.Alerts.Acknowledge(r.Context(), tenant, component, principal(r), req.Comment, expiresIn)
	if errors.Is(err, alert.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("no firing alert on component %s in tenant %s", component, tenant)}
	}
	if err != nil {
		return fmt.Errorf("acknowledge %s/%s: %w", tenant, component, err)
	}
	writeJSON(w, http.StatusOK, alertList{Alerts: orEmpty(alerts), Count: len(alerts)})
	return nil
}

// unacknowledge removes the acknowledgement of the alerts on {component} of the request's
// tenant.
func (s *Server) unacknowledge(w http.ResponseWriter, r *http.Request) error {
	tenant, component, err := ackTarget(r)
	if err != nil {
		return err
	}
	alerts, err := s.cfg.Alerts.Unacknowledge(r.Context(), tenant, component, principal(r))
	if errors.Is(err, alert.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("no acknowledged alert on component %s in tenant %s", component, tenant)}
	}
	if err != nil {
		return fmt.Errorf("unacknowledge %s/%s: %w", tenant, component, err)
	}
	writeJSON(w, http.StatusOK, alertList{Alerts: orEmpty(alerts), Count: len(alerts)})
	return nil
}

// parseExpiry parses an acknowledgement's expires_in: a Go duration ("90m", "2h") or whole days
// ("7d"), positive and at most alert.MaxAckExpiry; "" is no expiry.
func parseExpiry(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	const maxDays = int(alert.MaxAckExpiry / (24 * time.Hour))
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, badRequest("expires_in: %q is not a duration such as 90m, 2h or 7d", s)
		}
		if n < 1 || n > maxDays { // checked before multiplying, which could overflow
			return 0, badRequest("expires_in: %s must be positive and at most %dd", s, maxDays)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, badRequest("expires_in: %q is not a duration such as 90m, 2h or 7d", s)
		}
	}
	if d <= 0 || d > alert.MaxAckExpiry {
		return 0, badRequest("expires_in: %s must be positive and at most %dd", s, maxDays)
	}
	return d, nil
}

func (s *Server) listSilences(w http.ResponseWriter, r *http.Request) error {
	visible, err := tenantsFor(r)
	if err != nil {
		return err
	}
	list := orEmpty(s.cfg.Alerts.Silences(visible))
	writeJSON(w, http.StatusOK, silenceList{Silences: list, Count: len(list)})
	return nil
}

// silenceRequest is a new silence as a client sends it. The fields the hub sets are taken
// only to refuse them by name.
type silenceRequest struct {
	Tenant    string          `json:"tenant"`
	Matchers  []hub.Matcher   `json:"matchers"`
	StartsAt  string          `json:"starts_at"`
	EndsAt    string          `json:"ends_at"`
	Schedule  *hub.Schedule   `json:"schedule"`
	Comment   string          `json:"comment"`
	ID        json.RawMessage `json:"id"`
	CreatedBy json.RawMessage `json:"created_by"`
	CreatedAt json.RawMessage `json:"created_at"`
	State     json.RawMessage `json:"state"`
}

// silence checks what the engine does not: the fields the hub sets, the times' format and the
// tenant, given the tenant the request defaults to.
func (req *silenceRequest) silence(r *http.Request) (hub.Silence, error) {
	for _, f := range []struct {
		name string
		v    json.RawMessage
	}{{"id", req.ID}, {"created_by", req.CreatedBy}, {"created_at", req.CreatedAt}, {"state", req.State}} {
		if f.v != nil {
			return hub.Silence{}, badRequest("%s: set by the hub; leave it out", f.name)
		}
	}
	s := hub.Silence{Tenant: req.Tenant, Matchers: req.Matchers, Schedule: req.Schedule, Comment: req.Comment}
	for _, t := range []struct {
		name string
		v    string
		to   *time.Time
	}{{"starts_at", req.StartsAt, &s.StartsAt}, {"ends_at", req.EndsAt, &s.EndsAt}} {
		if t.v == "" {
			continue
		}
		v, err := time.Parse(time.RFC3339, t.v)
		if err != nil {
			return hub.Silence{}, badRequest("%s: %q is not an RFC 3339 time such as 2026-03-04T05:06:07Z", t.name, t.v)
		}
		*t.to = v
	}
	if s.Tenant == "" {
		tenant, err := namedTenant(r)
		if err != nil {
			return hub.Silence{}, err
		}
		s.Tenant = tenant
	} else {
		if err := protocol.ValidName(s.Tenant); err != nil {
			return hub.Silence{}, badRequest("tenant: %v", err)
		}
		if c := claimsFrom(r.Context()); !c.SeesTenant(s.Tenant) {
			return hub.Silence{}, forbidden("token is for tenant %q; it cannot silence tenant %q", c.Tenant, s.Tenant)
		}
	}
	return s, nil
}

func (s *Server) createSilence(w http.ResponseWriter, r *http.Request) error {
	var req silenceRequest
	if err := decodeBody(r, &req, false); err != nil {
		return err
	}
	sil, err := req.silence(r)
	if err != nil {
		return err
	}
	v, err := s.cfg.Alerts.CreateSilence(r.Context(), sil, principal(r))
	if err != nil {
		return fmt.Errorf("create silence: %w", err)
	}
	w.Header().Set("Location", "/api/v1/dashboard/silences/"+v.ID)
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// deleteSilence removes a silence of a tenant the token sees; any other is 404, so a token
// learns nothing of other tenants' silences.
func (s *Server) deleteSilence(w http.ResponseWriter, r *http.Request) error {
	id := mux.Vars(r)["id"]
	visible, _ := visibility(r)
	err := s.cfg.Alerts.DeleteSilence(r.Context(), id, visible, principal(r))
	if errors.Is(err, alert.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("no silence %q", id)}
	}
	if err != nil {
		return fmt.Errorf("delete silence %s: %w", id, err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// audit lists audit entries, newest first: a tenant's admin sees its tenant's, an admin of
// every tenant all of them or ?tenant='s.
func (s *Server) audit(w http.ResponseWriter, r *http.Request) error {
	limit, err := queryInt(r, "limit", defaultAuditPage, maxPage)
	if err != nil {
		return err
	}
	if limit == 0 { // never unbounded
		limit = maxPage
	}
	q := hub.AuditQuery{Limit: limit}
	if v := r.URL.Query().Get("since"); v != "" {
		if q.Since, err = time.Parse(time.RFC3339, v); err != nil {
			return badRequest("query since: %q is not an RFC 3339 time such as 2026-03-04T05:06:07Z", v)
		}
	}
	if c := claimsFrom(r.Context()); c.Tenant != auth.AllTenants || r.URL.Query().Has("tenant") {
		if q.Tenant, err = namedTenant(r); err != nil {
			return err
		}
	}
	entries, err := s.cfg.Alerts.Audit(r.Context(), q)
	var storeErr *alert.StoreError
	if errors.As(err, &storeErr) { // a read: nothing was lost, so errStoreDown's words do not fit
		s.log.Error("audit read failed", "err", err)
		return &Error{Status: http.StatusServiceUnavailable, Message: "store unavailable; retry", RetryAfter: errStoreDown.RetryAfter}
	}
	if err != nil {
		return fmt.Errorf("list audit: %w", err)
	}
	writeJSON(w, http.StatusOK, auditList{Entries: orEmpty(entries), Count: len(entries)})
	return nil
}

// decodeBody decodes a JSON body of at most maxActionBody into v, refusing unknown fields and
// trailing data; an empty body leaves v as it is when optional.
func decodeBody(r *http.Request, v any, optional bool) error {
	b, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxActionBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &Error{Status: http.StatusRequestEntityTooLarge, Message: "body is larger than the limit of " + formatBytes(maxActionBody)}
		}
		return badRequest("read body: %v", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		if optional {
			return nil
		}
		return badRequest("body: empty; want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		switch {
		case errors.As(err, &typeErr) && typeErr.Field != "":
			return badRequest("%s: want a JSON %s, not %s", typeErr.Field, jsonKind(typeErr.Type), typeErr.Value)
		case errors.As(err, &typeErr):
			return badRequest("body: want a JSON object, not %s", typeErr.Value)
		case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
			return badRequest("body: not valid JSON: %v", err)
		}
		// encoding/json names an unknown field only in its message: json: unknown field "x".
		return badRequest("body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("body: more after the JSON object")
	}
	return nil
}

// jsonKind names the JSON type a Go type decodes from.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map, reflect.Pointer:
		return "object"
	}
	return "number"
}
