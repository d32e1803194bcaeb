package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/pkg/auth"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// flakyAlertStore is the alert engine's store in these tests: the bolt store, with writes (and
// audit reads) failing while told to.
type flakyAlertStore struct {
	hub.AlertStore
	failWrites, failReads atomic.Bool
}

// errDiskOnFire must never reach a client.
var errDiskOnFire = errors.New("bolt: write /var/lib/centralhub/secret-path: disk on fire")

// WriteAlerts fails while failWrites is set.
func (s *flakyAlertStore) WriteAlerts(ctx context.Context, w hub.AlertWrites) error {
	if s.failWrites.Load() {
		return errDiskOnFire
	}
	return s.AlertStore.WriteAlerts(ctx, w)
}

// ListAudit fails while failReads is set.
func (s *flakyAlertStore) ListAudit(ctx context.Context, q hub.AuditQuery) ([]hub.AuditEntry, error) {
	if s.failReads.Load() {
		return nil, errDiskOnFire
	}
	return s.AlertStore.ListAudit(ctx, q)
}

// tokenOf issues a token of role for tenant with subject sub, so the audit log can tell actors
// apart.
func (e *env) tokenOf(sub string, role auth.Role, tenant string) string {
	e.t.Helper()
	tok, err := e.keys.Issue(auth.IssueRequest{Role: role, Subject: sub, Tenant: tenant, TTL: time.Hour})
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// report posts one agent report of tenant/service/instance whose check web has status web and
// whose check db, probing the critical component postgres-main, has status db.
func (e *env) report(tenant, service, instance string, web, db status.Check) {
	e.t.Helper()
	bootSeq.Lock()
	bootSeq.seq++
	seq := bootSeq.seq
	bootSeq.Unlock()
	rep := protocol.Report{Version: 1, Tenant: tenant, Service: service, Instance: instance, Boot: 1, Seq: seq,
		Interval: protocol.Duration(10 * time.Second),
		Checks: []protocol.CheckResult{
			{Name: "web", Kind: "http", Status: web, Output: "HTTP 500"},
			{Name: "db", Kind: "tcp", Status: db, Component: "postgres-main", Critical: true},
		}}
	body, err := json.Marshal(rep)
	if err != nil {
		e.t.Fatal(err)
	}
	if r := e.do("POST", "/api/v1/agent/reports", e.token(auth.Agent, tenant, service), body); r.code != 200 {
		e.t.Fatalf("report %s/%s/%s: %d %s", tenant, service, instance, r.code, r.body)
	}
}

// evaluate runs one evaluation of the alert rules at the env's clock.
func (e *env) evaluate() {
	e.t.Helper()
	if err := e.alerts.Evaluate(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

// fire makes the conditions the reports posted so far hold long enough to fire: the built-in
// rules wait 30 s, and an instance turns stale only after more than 3 × its 10 s interval.
func (e *env) fire() {
	e.t.Helper()
	e.evaluate()
	e.clock.Add(30 * time.Second)
	e.evaluate()
}

// alertEnv has two firing alerts on component orders of tenant default (instance_critical and
// service_unhealthy, with service_degraded pending) and the same on billing of tenant beta;
// payments of default is healthy.
func alertEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, false)
	e.report("default", "orders", "o1", status.Critical, status.Passing)
	e.report("default", "payments", "p1", status.Passing, status.Passing)
	e.report("beta", "billing", "b1", status.Critical, status.Passing)
	e.fire()
	return e
}

type alertsBody struct {
	Alerts []hub.Alert `json:"alerts"`
	Count  int         `json:"count"`
}

type silenceBody struct {
	hub.Silence
	State string `json:"state"`
}

type auditBody struct {
	Entries []hub.AuditEntry `json:"entries"`
	Count   int              `json:"count"`
}

func decode[T any](t *testing.T, r resp) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Fatalf("decode %T: %v: %s", v, err, r.body)
	}
	return v
}

// silenceJSON is a silence of the orders service for the next hour, of tenant when set.
func (e *env) silenceJSON(tenant string) []byte {
	now := e.clock.Now()
	m := map[string]any{
		"matchers":  []map[string]any{{"name": "service", "value": "orders"}},
		"starts_at": now.Format(time.RFC3339), "ends_at": now.Add(time.Hour).Format(time.RFC3339),
		"comment": "deploy",
	}
	if tenant != "" {
		m["tenant"] = tenant
	}
	b, _ := json.Marshal(m)
	return b
}

// createSilence creates a silence with tok and returns its ID.
func (e *env) createSilence(tok, query string, body []byte) string {
	e.t.Helper()
	r := e.do("POST", "/api/v1/dashboard/silences"+query, tok, body)
	if r.code != 201 {
		e.t.Fatalf("create silence: %d %s", r.code, r.body)
	}
	return decode[silenceBody](e.t, r).ID
}

func TestAlertRoutesRoles(t *testing.T) {
	e := alertEnv(t)
	admin := e.tokenOf("root", auth.Admin, auth.AllTenants)
	forged := rawToken(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-another"), jwt.MapClaims{
		"sub": "mallory", "role": "admin", "tenant": "*", "iss": "centralhub", "iat": e.now.Unix(), "exp": e.now.Add(time.Hour).Unix()})
	cases := []struct {
		role               string
		token              string
		read, write, audit int // the status of GET alerts and silences; of every write; of GET audit
	}{
		{"viewer", e.tokenOf("v", auth.Viewer, "default"), 200, 403, 403},
		{"operator", e.tokenOf("o", auth.Operator, "default"), 200, 200, 403},
		{"admin", e.tokenOf("a", auth.Admin, "default"), 200, 200, 200},
		{"metrics", e.tokenOf("m", auth.Metrics, "default"), 403, 403, 403},
		{"agent", e.token(auth.Agent, "default", "orders"), 403, 403, 403},
		{"forged", forged, 401, 401, 401},
	}
	for _, tc := range cases {
		t.Run(tc.role, func(t *testing.T) {
			victim := e.createSilence(admin, "", e.silenceJSON("default")) // what a refused delete must leave
			check := func(method, path string, body []byte, want int) resp {
				t.Helper()
				r := e.do(method, path, tc.token, body)
				if r.code != want {
					t.Fatalf("%s %s: %d %s, want %d", method, path, r.code, r.body, want)
				}
				if want >= 400 && !strings.Contains(r.body, `"error":`) {
					t.Fatalf("%s %s: error body %s", method, path, r.body)
				}
				return r
			}
			check("GET", "/api/v1/dashboard/alerts", nil, tc.read)
			check("GET", "/api/v1/dashboard/silences", nil, tc.read)
			check("GET", "/api/v1/dashboard/audit", nil, tc.audit)
			check("POST", "/api/v1/dashboard/alerts/orders/acknowledge", []byte(`{"comment":"on it"}`), tc.write)
			check("DELETE", "/api/v1/dashboard/alerts/orders/acknowledge", nil, tc.write)
			created, deleted := tc.write, tc.write
			if tc.write == 200 {
				created, deleted = 201, 204
			}
			r := check("POST", "/api/v1/dashboard/silences", e.silenceJSON(""), created)
			if created == 201 {
				check("DELETE", "/api/v1/dashboard/silences/"+decode[silenceBody](t, r).ID, nil, deleted)
			}
			check("DELETE", "/api/v1/dashboard/silences/"+victim, nil, deleted)
			left := 204 // a refused delete leaves the silence for the admin to delete
			if deleted == 204 {
				left = 404
			}
			if r := e.do("DELETE", "/api/v1/dashboard/silences/"+victim, admin, nil); r.code != left {
				t.Fatalf("admin's delete after %s's: %d %s, want %d", tc.role, r.code, r.body, left)
			}
		})
	}
	if r := e.do("GET", "/api/v1/dashboard/alerts?state=firing", admin, nil); strings.Contains(r.body, `"acknowledged":true`) {
		t.Fatalf("refused or undone acknowledgements left an ack: %s", r.body)
	}
}

func TestAlertActionsAudited(t *testing.T) {
	e := alertEnv(t)
	alice := e.tokenOf("alice", auth.Operator, "default")
	r := e.do("POST", "/api/v1/dashboard/alerts/orders/acknowledge", alice, []byte(`{"comment":"on it","expires_in":"2h"}`))
	acked := decode[alertsBody](t, r)
	if r.code != 200 || acked.Count != 2 || len(acked.Alerts) != 2 {
		t.Fatalf("ack: %d %s", r.code, r.body)
	}
	for _, a := range acked.Alerts {
		if !a.Acknowledged || a.Ack == nil || a.Ack.By != "alice" || a.Ack.Comment != "on it" || a.Ack.ExpiresAt == nil ||
			!a.Ack.ExpiresAt.Equal(e.clock.Now().Add(2*time.Hour)) || a.Component != "orders" || a.Tenant != "default" {
			t.Fatalf("acked alert: %+v", a)
		}
	}
	checkShape(t, r.body)
	if r := e.do("POST", "/api/v1/dashboard/alerts/orders/acknowledge", alice, []byte(`{"expires_in":"7d"}`)); r.code != 200 {
		t.Fatalf("ack again for 7d: %d %s", r.code, r.body)
	}
	if r := e.do("DELETE", "/api/v1/dashboard/alerts/orders/acknowledge", alice, nil); r.code != 200 ||
		decode[alertsBody](t, r).Count != 2 || strings.Contains(r.body, `"acknowledged":true`) {
		t.Fatalf("un-ack: %d %s", r.code, r.body)
	}
	// An empty body acknowledges without comment or expiry.
	if r := e.do("POST", "/api/v1/dashboard/alerts/orders/acknowledge", alice, nil); r.code != 200 ||
		!strings.Contains(r.body, `"ack":{"by":"alice","comment":"","at":"`) || !strings.Contains(r.body, `"expires_at":null`) {
		t.Fatalf("ack without a body: %d %s", r.code, r.body)
	}
	r = e.do("POST", "/api/v1/dashboard/silences", alice, e.silenceJSON(""))
	sil := decode[silenceBody](t, r)
	if r.code != 201 || r.header.Get("Location") != "/api/v1/dashboard/silences/"+sil.ID || sil.ID == "" ||
		sil.Tenant != "default" || sil.CreatedBy != "alice" || sil.State != "active" {
		t.Fatalf("create silence: %d %s %v", r.code, r.body, r.header)
	}
	checkSilenceShape(t, r.body)
	r = e.do("GET", "/api/v1/dashboard/silences", alice, nil)
	var list struct {
		Silences []json.RawMessage `json:"silences"`
		Count    int               `json:"count"`
	}
	if err := json.Unmarshal([]byte(r.body), &list); err != nil || list.Count != 1 || len(list.Silences) != 1 {
		t.Fatalf("list silences: %s", r.body)
	}
	checkSilenceShape(t, string(list.Silences[0]))
	if r := e.do("DELETE", "/api/v1/dashboard/silences/"+sil.ID, alice, nil); r.code != 204 || r.body != "" {
		t.Fatalf("delete silence: %d %q", r.code, r.body)
	}
	if r := e.do("GET", "/api/v1/dashboard/silences", alice, nil); r.body != "{\"silences\":[],\"count\":0}\n" {
		t.Fatalf("silences after delete: %s", r.body)
	}

	r = e.do("GET", "/api/v1/dashboard/audit", e.tokenOf("root", auth.Admin, auth.AllTenants), nil)
	audit := decode[auditBody](t, r)
	var got []string
	for _, a := range audit.Entries {
		got = append(got, fmt.Sprintf("%s %s %s %s", a.Actor, a.Role, a.Action, a.Target))
	}
	want := []string{ // newest first
		"alice operator silence.delete " + sil.ID,
		"alice operator silence.create " + sil.ID,
		"alice operator acknowledge orders",
		"alice operator unacknowledge orders",
		"alice operator acknowledge orders",
		"alice operator acknowledge orders",
	}
	if !slices.Equal(got, want) || audit.Count != len(want) {
		t.Fatalf("audit:\n got %q\nwant %q", got, want)
	}
	if !strings.Contains(audit.Entries[5].Detail, "on it") {
		t.Fatalf("the first ack's detail lacks its comment: %+v", audit.Entries[5])
	}
	for q, n := range map[string]int{"?limit=2": 2, "?since=" + e.clock.Now().Format(time.RFC3339): 6,
		"?since=" + e.clock.Now().Add(time.Second).Format(time.RFC3339): 0, "?tenant=beta": 0} {
		r := e.do("GET", "/api/v1/dashboard/audit"+q, e.tokenOf("root", auth.Admin, auth.AllTenants), nil)
		if b := decode[auditBody](t, r); r.code != 200 || b.Count != n || len(b.Entries) != n {
			t.Errorf("audit%s: %d %s, want %d entries", q, r.code, r.body, n)
		}
	}
}

// checkShape checks every alert in a list has exactly the fields DESIGN.md gives, and an ack
// exactly its own.
func checkShape(t *testing.T, body string) {
	t.Helper()
	var list struct {
		Alerts []map[string]json.RawMessage `json:"alerts"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Alerts) == 0 {
		t.Fatalf("alert list: %v %s", err, body)
	}
	want := "ack acknowledged check component fingerprint fired_at flapping id impacted instance resolved_at rule runbook service " +
		"severity silenced_by started_at state summary suppressed_by tenant"
	for _, a := range list.Alerts {
		if got := keys(a); got != want {
			t.Fatalf("alert fields:\n got %s\nwant %s", got, want)
		}
		var ack map[string]json.RawMessage
		if err := json.Unmarshal(a["ack"], &ack); err == nil && ack != nil {
			if got := keys(ack); got != "at by comment expires_at" {
				t.Fatalf("ack fields: %s", got)
			}
		}
	}
}

func checkSilenceShape(t *testing.T, body string) {
	t.Helper()
	var s map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatal(err)
	}
	if got, want := keys(s), "comment created_at created_by ends_at id matchers starts_at state tenant"; got != want {
		t.Fatalf("silence fields:\n got %s\nwant %s", got, want)
	}
}

func keys(m map[string]json.RawMessage) string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	slices.Sort(k)
	return strings.Join(k, " ")
}

func TestAlertValidation(t *testing.T) {
	e := alertEnv(t)
	op := e.tokenOf("o", auth.Operator, "default")
	admin := e.tokenOf("root", auth.Admin, auth.AllTenants)
	past := func(d time.Duration) string { return e.clock.Now().Add(-d).Format(time.RFC3339) }
	ack := "/api/v1/dashboard/alerts/orders/acknowledge"
	silences := "/api/v1/dashboard/silences"
	cases := []struct {
		name, method, path, body string
		code                     int
		want                     string // the error names the field
	}{
		{"expires_in not a duration", "POST", ack, `{"expires_in":"forever"}`, 400, `expires_in: \"forever\" is not a duration`},
		{"expires_in over 7 days", "POST", ack, `{"expires_in":"8d"}`, 400, "expires_in: 8d must be positive and at most 7d"},
		{"expires_in in hours over 7 days", "POST", ack, `{"expires_in":"169h"}`, 400, "expires_in: 169h must be positive"},
		{"expires_in negative", "POST", ack, `{"expires_in":"-1h"}`, 400, "expires_in: -1h must be positive"},
		{"expires_in zero", "POST", ack, `{"expires_in":"0s"}`, 400, "expires_in: 0s must be positive"},
		{"expires_in negative days", "POST", ack, `{"expires_in":"-1d"}`, 400, "expires_in: -1d must be positive"},
		{"expires_in days that overflow", "POST", ack, `{"expires_in":"-106751991167301d"}`, 400, "must be positive"},
		{"expires_in fractional days", "POST", ack, `{"expires_in":"1.5d"}`, 400, `expires_in: \"1.5d\" is not a duration`},
		{"expires_in a number", "POST", ack, `{"expires_in":7200}`, 400, "expires_in: want a JSON string, not number"},
		{"ack unknown field", "POST", ack, `{"comment":"x","until":"2h"}`, 400, `unknown field \"until\"`},
		{"ack not json", "POST", ack, `{"comment":`, 400, "body: not valid JSON"},
		{"ack two objects", "POST", ack, `{} {}`, 400, "body: more after the JSON object"},
		{"ack comment too long", "POST", ack, `{"comment":"` + strings.Repeat("x", 2001) + `"}`, 400, "comment: longer than 2000 bytes"},
		{"ack body over 64 KiB", "POST", ack, `{"comment":"` + strings.Repeat("x", 64<<10) + `"}`, 413, "64 KiB"},
		{"ack bad component", "POST", "/api/v1/dashboard/alerts/Bad%20Name/acknowledge", `{}`, 400, "component:"},
		{"un-ack bad component", "DELETE", "/api/v1/dashboard/alerts/Bad%20Name/acknowledge", ``, 400, "component:"},
		{"ack bad tenant query", "POST", ack + "?tenant=Bad%20Name", `{}`, 400, "query tenant"},
		{"list bad state", "GET", "/api/v1/dashboard/alerts?state=burning", ``, 400, `query state: \"burning\" is not pending, firing or resolved`},
		{"list bad service", "GET", "/api/v1/dashboard/alerts?service=Bad%20Name", ``, 400, "query service"},
		{"list bad component", "GET", "/api/v1/dashboard/alerts?component=" + strings.Repeat("x", 200), ``, 400, "query component"},
		{"list limit over the maximum", "GET", "/api/v1/dashboard/alerts?limit=10001", ``, 400, "query limit"},
		{"list negative limit", "GET", "/api/v1/dashboard/alerts?limit=-1", ``, 400, "query limit"},
		{"audit bad since", "GET", "/api/v1/dashboard/audit?since=yesterday", ``, 400, `query since: \"yesterday\" is not an RFC 3339 time`},
		{"audit bad limit", "GET", "/api/v1/dashboard/audit?limit=10001", ``, 400, "query limit"},
		{"silence without matchers", "POST", silences, `{"starts_at":"2026-03-04T05:06:07Z","ends_at":"2026-03-04T07:06:07Z"}`, 400, "matchers: at least one is required"},
		{"silence with id", "POST", silences, `{"id":"x","matchers":[{"name":"service","value":"orders"}]}`, 400, "id: set by the hub"},
		{"silence with created_by", "POST", silences, `{"created_by":"bob","matchers":[{"name":"service","value":"orders"}]}`, 400, "created_by: set by the hub"},
		{"silence with created_at", "POST", silences, `{"created_at":"2026-03-04T05:06:07Z"}`, 400, "created_at: set by the hub"},
		{"silence unknown field", "POST", silences, `{"matchers":[{"name":"service","value":"orders"}],"duration":"1h"}`, 400, `unknown field \"duration\"`},
		{"silence matcher unknown field", "POST", silences, `{"matchers":[{"name":"service","value":"orders","regex":true}]}`, 400, `unknown field \"regex\"`},
		{"silence bad starts_at", "POST", silences, `{"matchers":[{"name":"service","value":"orders"}],"starts_at":"tomorrow"}`, 400, `starts_at: \"tomorrow\" is not an RFC 3339 time`},
		{"silence without ends_at", "POST", silences, `{"matchers":[{"name":"service","value":"orders"}],"starts_at":"2026-03-04T05:06:07Z"}`, 400, "ends_at: required"},
		{"silence already over", "POST", silences, `{"matchers":[{"name":"service","value":"orders"}],"starts_at":"` + past(2*time.Hour) + `","ends_at":"` + past(time.Hour) + `"}`, 400, "ends_at: already past"},
		{"silence bad tenant", "POST", silences, `{"tenant":"Bad Name","matchers":[{"name":"service","value":"orders"}]}`, 400, "tenant:"},
		{"silence matchers not a list", "POST", silences, `{"matchers":"service=orders"}`, 400, "matchers: want a JSON array, not string"},
		{"silence empty body", "POST", silences, ``, 400, "body: empty"},
		{"silence not an object", "POST", silences, `[]`, 400, "body: want a JSON object"},
	}
	before := e.do("GET", "/api/v1/dashboard/alerts", admin, nil).body
	auditBefore := e.do("GET", "/api/v1/dashboard/audit", admin, nil).body
	silencesBefore := e.do("GET", "/api/v1/dashboard/silences", admin, nil).body
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok := op
			if strings.Contains(tc.path, "/audit") {
				tok = admin
			}
			r := e.do(tc.method, tc.path, tok, []byte(tc.body))
			if r.code != tc.code || !strings.Contains(r.body, tc.want) {
				t.Fatalf("%d %s, want %d naming %q", r.code, r.body, tc.code, tc.want)
			}
		})
	}
	if after := e.do("GET", "/api/v1/dashboard/alerts", admin, nil).body; after != before {
		t.Errorf("refused requests changed the alerts:\nbefore %s\nafter  %s", before, after)
	}
	if after := e.do("GET", "/api/v1/dashboard/audit", admin, nil).body; after != auditBefore || auditBefore != "{\"entries\":[],\"count\":0}\n" {
		t.Errorf("refused requests were audited:\nbefore %s\nafter  %s", auditBefore, after)
	}
	if after := e.do("GET", "/api/v1/dashboard/silences", admin, nil).body; after != silencesBefore {
		t.Errorf("refused requests changed the silences: %s", after)
	}
}

func TestAlertNotFound(t *testing.T) {
	e := alertEnv(t)
	op := e.tokenOf("o", auth.Operator, "default")
	for _, tc := range []struct{ method, path, want string }{
		{"POST", "/api/v1/dashboard/alerts/payments/acknowledge", "no firing alert on component payments in tenant default"},
		{"POST", "/api/v1/dashboard/alerts/nosuch/acknowledge", "no firing alert on component nosuch in tenant default"},
		{"DELETE", "/api/v1/dashboard/alerts/orders/acknowledge", "no acknowledged alert on component orders in tenant default"},
		{"DELETE", "/api/v1/dashboard/silences/0123456789abcdef", `no silence \"0123456789abcdef\"`},
	} {
		if r := e.do(tc.method, tc.path, op, nil); r.code != 404 || !strings.Contains(r.body, tc.want) {
			t.Errorf("%s %s: %d %s, want 404 %q", tc.method, tc.path, r.code, r.body, tc.want)
		}
	}
	// A resolved alert is not firing: it cannot be acknowledged.
	e.report("default", "orders", "o1", status.Passing, status.Passing)
	e.report("beta", "billing", "b1", status.Passing, status.Passing)
	e.report("default", "payments", "p1", status.Passing, status.Passing)
	e.fire()
	if r := e.do("GET", "/api/v1/dashboard/alerts?state=resolved&component=orders", op, nil); decode[alertsBody](t, r).Count != 2 {
		t.Fatalf("orders' alerts did not resolve: %s", r.body)
	}
	if r := e.do("POST", "/api/v1/dashboard/alerts/orders/acknowledge", op, nil); r.code != 404 {
		t.Fatalf("ack of resolved alerts: %d %s", r.code, r.body)
	}
}

func TestAlertTenantIsolation(t *testing.T) {
	e := alertEnv(t)
	opA := e.tokenOf("a-op", auth.Operator, "default")
	adminA := e.tokenOf("a-admin", auth.Admin, "default")
	opB := e.tokenOf("b-op", auth.Operator, "beta")
	root := e.tokenOf("root", auth.Admin, auth.AllTenants)
	silB := e.createSilence(opB, "", e.silenceJSON(""))
	if r := e.do("POST", "/api/v1/dashboard/alerts/billing/acknowledge", opB, nil); r.code != 200 {
		t.Fatalf("beta acks its own billing: %d %s", r.code, r.body)
	}
	e.do("DELETE", "/api/v1/dashboard/alerts/billing/acknowledge", opB, nil)
	bBefore := e.do("GET", "/api/v1/dashboard/alerts?tenant=beta", root, nil).body

	// A tenant's token acts only in its own tenant: a component it names is looked up there, so
	// tenant beta's billing is simply not found (404, the answer for a name nobody uses, which
	// tells nothing of beta); naming beta with ?tenant= is refused (403), as on every route that
	// names a tenant.
	cases := []struct {
		name, method, path, body string
		code                     int
	}{
		{"ack B's component", "POST", "/api/v1/dashboard/alerts/billing/acknowledge", "", 404},
		{"ack naming tenant B", "POST", "/api/v1/dashboard/alerts/billing/acknowledge?tenant=beta", "", 403},
		{"un-ack naming tenant B", "DELETE", "/api/v1/dashboard/alerts/billing/acknowledge?tenant=beta", "", 403},
		{"list naming tenant B", "GET", "/api/v1/dashboard/alerts?tenant=beta", "", 403},
		{"list B's silences", "GET", "/api/v1/dashboard/silences?tenant=beta", "", 403},
		{"delete B's silence", "DELETE", "/api/v1/dashboard/silences/" + silB, "", 404},
		{"silence for tenant B", "POST", "/api/v1/dashboard/silences", string(e.silenceJSON("beta")), 403},
		{"silence naming tenant B", "POST", "/api/v1/dashboard/silences?tenant=beta", string(e.silenceJSON("")), 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if r := e.do(tc.method, tc.path, opA, []byte(tc.body)); r.code != tc.code {
				t.Fatalf("%d %s, want %d", r.code, r.body, tc.code)
			}
		})
	}
	for path, tok := range map[string]string{"/api/v1/dashboard/alerts": opA, "/api/v1/dashboard/silences": opA, "/api/v1/dashboard/audit": adminA} {
		if r := e.do("GET", path, tok, nil); r.code != 200 || strings.Contains(r.body, "beta") || strings.Contains(r.body, "billing") ||
			strings.Contains(r.body, silB) {
			t.Errorf("%s shows tenant beta to tenant default: %d %s", path, r.code, r.body)
		}
	}
	if r := e.do("GET", "/api/v1/dashboard/audit?tenant=beta", adminA, nil); r.code != 403 {
		t.Errorf("default's admin reads beta's audit: %d %s", r.code, r.body)
	}
	if after := e.do("GET", "/api/v1/dashboard/alerts?tenant=beta", root, nil).body; after != bBefore {
		t.Errorf("tenant default changed beta's alerts:\nbefore %s\nafter  %s", bBefore, after)
	}
	if r := e.do("GET", "/api/v1/dashboard/silences", opB, nil); decode[silenceList](t, r).Count != 1 {
		t.Errorf("beta's silence is gone: %s", r.body)
	}
	// An admin of every tenant sees and acts on both, and names the tenant of a new silence.
	if r := e.do("GET", "/api/v1/dashboard/alerts?state=firing", root, nil); decode[alertsBody](t, r).Count != 4 {
		t.Errorf("root's alerts: %s", r.body)
	}
	if r := e.do("GET", "/api/v1/dashboard/audit", root, nil); decode[auditBody](t, r).Count != 3 {
		t.Errorf("root's audit: %s", r.body)
	}
	if r := e.do("POST", "/api/v1/dashboard/alerts/billing/acknowledge?tenant=beta", root, nil); r.code != 200 {
		t.Errorf("root acks beta's billing: %d %s", r.code, r.body)
	}
	for _, tc := range []struct{ query, body, tenant string }{
		{"", string(e.silenceJSON("beta")), "beta"},
		{"?tenant=beta", string(e.silenceJSON("")), "beta"},
		{"", string(e.silenceJSON("")), "default"},
	} {
		r := e.do("POST", "/api/v1/dashboard/silences"+tc.query, root, []byte(tc.body))
		if s := decode[silenceBody](t, r); r.code != 201 || s.Tenant != tc.tenant {
			t.Errorf("root's silence %s %s: %d %s, want tenant %s", tc.query, tc.body, r.code, r.body, tc.tenant)
		}
	}
}

type silenceList struct {
	Silences []silenceBody `json:"silences"`
	Count    int           `json:"count"`
}

// TestAlertListFilters builds firing, pending and resolved alerts in tenant default and
// filters them. A critical single-instance service raises instance_critical and
// service_unhealthy (30 s) and service_degraded (1 m, which counts unhealthy as degraded or
// worse); a pending alert whose condition ends is forgotten, not resolved.
func TestAlertListFilters(t *testing.T) {
	e := newEnv(t, false)
	// t0: orders and payments critical, orders' probe of postgres-main critical too.
	e.report("default", "orders", "o1", status.Critical, status.Critical)
	e.report("default", "payments", "p1", status.Critical, status.Passing)
	e.fire()
	// t0+30s: payments recovers; search turns critical.
	e.report("default", "orders", "o1", status.Critical, status.Critical)
	e.report("default", "payments", "p1", status.Passing, status.Passing)
	e.report("default", "search", "s1", status.Critical, status.Passing)
	e.evaluate()
	// t0+60s: payments' alerts resolve, search's fire, orders' service_degraded fires; ledger
	// turns critical. Firing: orders ×3, postgres-main, search ×2; pending: search's
	// service_degraded, ledger ×3; resolved: payments ×2.
	e.clock.Add(30 * time.Second)
	e.report("default", "orders", "o1", status.Critical, status.Critical)
	e.report("default", "search", "s1", status.Critical, status.Passing)
	e.report("default", "ledger", "l1", status.Critical, status.Passing)
	e.evaluate()

	viewer := e.token(auth.Viewer, "default", "")
	cases := []struct {
		query        string
		count, n     int
		state        hub.AlertState
		component    string
		service      string
		firstAndLast string // the states of the first and last alert listed
	}{
		{query: "", count: 12, n: 12, firstAndLast: "firing resolved"},
		{query: "?state=firing", count: 6, n: 6, state: hub.AlertFiring},
		{query: "?state=pending", count: 4, n: 4, state: hub.AlertPending},
		{query: "?state=pending&service=ledger", count: 3, n: 3, state: hub.AlertPending, service: "ledger"},
		{query: "?state=resolved", count: 2, n: 2, state: hub.AlertResolved, service: "payments"},
		{query: "?component=orders", count: 3, n: 3, component: "orders"},
		{query: "?component=postgres-main", count: 1, n: 1, component: "postgres-main", service: "-"},
		{query: "?service=orders", count: 3, n: 3, service: "orders"},
		{query: "?service=search&state=firing", count: 2, n: 2, service: "search", state: hub.AlertFiring},
		{query: "?component=nosuch", count: 0, n: 0},
		{query: "?limit=3", count: 12, n: 3, firstAndLast: "firing firing"},
		{query: "?state=resolved&limit=1", count: 2, n: 1, state: hub.AlertResolved},
		{query: "?limit=0", count: 12, n: 12},
		{query: "?tenant=default&state=pending", count: 4, n: 4, state: hub.AlertPending},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			r := e.do("GET", "/api/v1/dashboard/alerts"+tc.query, viewer, nil)
			b := decode[alertsBody](t, r)
			if r.code != 200 || b.Count != tc.count || len(b.Alerts) != tc.n {
				t.Fatalf("%d: count %d, %d alerts; want %d, %d: %s", r.code, b.Count, len(b.Alerts), tc.count, tc.n, r.body)
			}
			for _, a := range b.Alerts {
				svc := tc.service
				if svc == "-" {
					svc = ""
				}
				if (tc.state != "" && a.State != tc.state) || (tc.component != "" && a.Component != tc.component) ||
					(tc.service != "" && a.Service != svc) {
					t.Fatalf("%s/%s %s %s does not match", a.Component, a.Service, a.Rule, a.State)
				}
			}
			if tc.firstAndLast != "" {
				if got := string(b.Alerts[0].State) + " " + string(b.Alerts[len(b.Alerts)-1].State); got != tc.firstAndLast {
					t.Fatalf("first and last: %s, want %s", got, tc.firstAndLast)
				}
			}
		})
	}
	// A resolved alert says when; a pending one has not fired.
	r := e.do("GET", "/api/v1/dashboard/alerts?state=resolved", viewer, nil)
	for _, a := range decode[alertsBody](t, r).Alerts {
		if a.ResolvedAt == nil || a.FiredAt == nil {
			t.Fatalf("resolved alert without its times: %+v", a)
		}
	}
	checkShape(t, r.body)
	r = e.do("GET", "/api/v1/dashboard/alerts?state=pending", viewer, nil)
	for _, a := range decode[alertsBody](t, r).Alerts {
		if a.FiredAt != nil || a.ResolvedAt != nil {
			t.Fatalf("pending alert with times: %+v", a)
		}
	}
}

func TestSummaryAlertCounts(t *testing.T) {
	e := newEnv(t, false)
	e.report("default", "orders", "o1", status.Critical, status.Passing)
	e.report("beta", "billing", "b1", status.Critical, status.Passing)
	type counts struct{ Firing, Acknowledged int }
	summary := func(tok string) counts {
		t.Helper()
		r := e.do("GET", "/api/v1/dashboard/summary", tok, nil)
		var s struct{ Alerts counts }
		if err := json.Unmarshal([]byte(r.body), &s); err != nil || r.code != 200 {
			t.Fatalf("summary: %d %s", r.code, r.body)
		}
		return s.Alerts
	}
	viewer, root := e.token(auth.Viewer, "default", ""), e.tokenOf("root", auth.Admin, auth.AllTenants)
	steps := []struct {
		name       string
		do         func()
		own, every counts // the default viewer's, and root's
	}{
		{"pending", e.evaluate, counts{0, 0}, counts{0, 0}},
		{"firing", func() { e.clock.Add(30 * time.Second); e.evaluate() }, counts{2, 0}, counts{4, 0}},
		{"acknowledged", func() {
			if r := e.do("POST", "/api/v1/dashboard/alerts/orders/acknowledge", e.tokenOf("o", auth.Operator, "default"), nil); r.code != 200 {
				t.Fatalf("ack: %d %s", r.code, r.body)
			}
		}, counts{2, 2}, counts{4, 2}},
		{"un-acknowledged", func() {
			e.do("DELETE", "/api/v1/dashboard/alerts/orders/acknowledge", e.tokenOf("o", auth.Operator, "default"), nil)
		}, counts{2, 0}, counts{4, 0}},
	}
	for _, s := range steps {
		s.do()
		if got := summary(viewer); got != s.own {
			t.Errorf("%s: default viewer's counts %+v, want %+v", s.name, got, s.own)
		}
		if got := summary(root); got != s.every {
			t.Errorf("%s: root's counts %+v, want %+v", s.name, got, s.every)
		}
	}
}

func TestAlertStoreUnavailable(t *testing.T) {
	e := alertEnv(t)
	op := e.tokenOf("o", auth.Operator, "default")
	admin := e.tokenOf("root", auth.Admin, auth.AllTenants)
	sil := e.createSilence(op, "", e.silenceJSON(""))
	if r := e.do("POST", "/api/v1/dashboard/alerts/orders/acknowledge", op, nil); r.code != 200 {
		t.Fatalf("ack: %d %s", r.code, r.body)
	}
	alertsBefore := e.do("GET", "/api/v1/dashboard/alerts", admin, nil).body
	auditBefore := e.do("GET", "/api/v1/dashboard/audit", admin, nil).body

	e.alertStore.failWrites.Store(true)
	for _, tc := range []struct {
		method, path string
		body         []byte
	}{
		{"POST", "/api/v1/dashboard/alerts/orders/acknowledge", []byte(`{"comment":"again"}`)},
		{"DELETE", "/api/v1/dashboard/alerts/orders/acknowledge", nil},
		{"POST", "/api/v1/dashboard/silences", e.silenceJSON("")},
		{"DELETE", "/api/v1/dashboard/silences/" + sil, nil},
	} {
		r := e.do(tc.method, tc.path, op, tc.body)
		if r.code != 503 || r.header.Get("Retry-After") != "5" ||
			r.body != "{\"error\":\"store unavailable: the change was not saved; retry\"}\n" {
			t.Errorf("%s %s with the store down: %d %v %s", tc.method, tc.path, r.code, r.header, r.body)
		}
	}
	e.alertStore.failWrites.Store(false)
	if after := e.do("GET", "/api/v1/dashboard/alerts", admin, nil).body; after != alertsBefore {
		t.Errorf("failed writes changed the alerts:\nbefore %s\nafter  %s", alertsBefore, after)
	}
	if after := e.do("GET", "/api/v1/dashboard/audit", admin, nil).body; after != auditBefore {
		t.Errorf("failed writes were audited:\nbefore %s\nafter  %s", auditBefore, after)
	}
	if r := e.do("GET", "/api/v1/dashboard/silences", op, nil); decode[silenceList](t, r).Count != 1 {
		t.Errorf("silences after failed writes: %s", r.body)
	}

	e.alertStore.failReads.Store(true)
	r := e.do("GET", "/api/v1/dashboard/audit", admin, nil)
	if r.code != 503 || r.header.Get("Retry-After") != "5" || strings.Contains(r.body, "disk on fire") || !strings.Contains(r.body, "store unavailable") {
		t.Errorf("audit with the store down: %d %v %s", r.code, r.header, r.body)
	}
	e.alertStore.failReads.Store(false)
}
