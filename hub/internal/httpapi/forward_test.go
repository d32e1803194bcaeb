package httpapi_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/centralhub/centralhub/hub/internal/httpapi"
	"github.com/centralhub/centralhub/pkg/auth"
	"github.com/centralhub/centralhub/pkg/tlstest"
)

// TestChangesGoToTheLeader: on a hub that does not lead, changes to alerts are forwarded with
// the caller's token to the leader, whose answer comes back; its own role check comes first,
// and with no leader (or a loop) the answer is 503.
func TestChangesGoToTheLeader(t *testing.T) {
	leader := newEnv(t, false)
	var mode atomic.Int32 // 0: forward to leader, 1: no leader known
	follower := newEnvWith(t, func(c *httpapi.Config) {
		c.Leader = func(context.Context) (bool, string, error) {
			if mode.Load() == 1 {
				return false, "", errors.New("no leader recorded")
			}
			return false, leader.srv.URL, nil
		}
	})
	op := follower.token(auth.Operator, "default", "")
	r := follower.do("POST", "/api/v1/dashboard/silences", op, follower.silenceJSON(""))
	if r.code != 201 {
		t.Fatalf("silence through the follower: %d %s", r.code, r.body)
	}
	id := decode[silenceBody](t, r).ID
	if s := leader.alerts.Silences(func(string) bool { return true }); len(s) != 1 || s[0].ID != id || s[0].CreatedBy != "t" {
		t.Fatalf("the leader holds %+v, want the forwarded silence", s)
	}
	if s := follower.alerts.Silences(func(string) bool { return true }); len(s) != 0 {
		t.Fatalf("the follower made the change itself: %+v", s)
	}
	// The leader's answers come back as they are: a bad body is its 400.
	if r := follower.do("POST", "/api/v1/dashboard/silences", op, []byte(`{"matchers": []}`)); r.code != 400 || !strings.Contains(r.body, "matchers") {
		t.Fatalf("bad silence through the follower: %d %s", r.code, r.body)
	}
	if r := follower.do("POST", "/api/v1/dashboard/alerts/orders/acknowledge", op, []byte(`{"comment": "x"}`)); r.code != 404 {
		t.Fatalf("acknowledge of nothing through the follower: %d %s", r.code, r.body)
	}
	// A viewer is refused by the follower itself.
	if r := follower.do("POST", "/api/v1/dashboard/silences", follower.token(auth.Viewer, "default", ""), follower.silenceJSON("")); r.code != 403 {
		t.Fatalf("viewer's silence: %d %s", r.code, r.body)
	}
	// Reads are the follower's own.
	if r := follower.do("GET", "/api/v1/dashboard/silences", op, nil); r.code != 200 {
		t.Fatalf("silences on the follower: %d %s", r.code, r.body)
	}
	mode.Store(1)
	r = follower.do("POST", "/api/v1/dashboard/silences", op, follower.silenceJSON(""))
	if r.code != 503 || !strings.Contains(r.body, "leads") || r.header.Get("Retry-After") == "" {
		t.Fatalf("with no leader: %d %s", r.code, r.body)
	}
	// A request another hub forwarded is never forwarded again.
	mode.Store(0)
	r = follower.doWith("DELETE", "/api/v1/dashboard/silences/"+id, op, nil, map[string]string{"X-Centralhub-Forwarded": "1"})
	if r.code != 503 {
		t.Fatalf("forwarded twice: %d %s", r.code, r.body)
	}
	if r := follower.do("DELETE", "/api/v1/dashboard/silences/"+id, op, nil); r.code != 204 && r.code != 200 {
		t.Fatalf("delete through the follower: %d %s", r.code, r.body)
	}
	if s := leader.alerts.Silences(func(string) bool { return true }); len(s) != 0 {
		t.Fatalf("the leader still holds %+v", s)
	}
}

// TestForwardToAnHTTPSLeader: a leader at an https URL is verified. Trusting the CA of its
// certificate (tls.ca_file), the follower forwards; with only the system roots it refuses to
// send the caller's token there and answers 503.
func TestForwardToAnHTTPSLeader(t *testing.T) {
	leader := newEnv(t, false)
	ca := tlstest.NewCA(t, "hubs CA")
	srv := httptest.NewUnstartedServer(leader.srv.Config.Handler)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server(t, "leader").TLS(t)}, MinVersion: tls.VersionTLS12}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	srv.StartTLS()
	t.Cleanup(srv.Close)
	leaderAt := func(context.Context) (bool, string, error) { return false, srv.URL, nil }

	trusting := newEnvWith(t, func(c *httpapi.Config) {
		c.Leader = leaderAt
		c.ForwardTLS = &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
	})
	op := trusting.token(auth.Operator, "default", "")
	if r := trusting.do("POST", "/api/v1/dashboard/silences", op, trusting.silenceJSON("")); r.code != 201 {
		t.Fatalf("silence through a follower trusting the leader's CA: %d %s", r.code, r.body)
	}
	if s := leader.alerts.Silences(func(string) bool { return true }); len(s) != 1 {
		t.Fatalf("the leader holds %d silences, want the forwarded one", len(s))
	}

	untrusting := newEnvWith(t, func(c *httpapi.Config) { c.Leader = leaderAt })
	if r := untrusting.do("POST", "/api/v1/dashboard/silences", op, untrusting.silenceJSON("")); r.code != 503 {
		t.Fatalf("silence through a follower that cannot verify the leader: %d %s", r.code, r.body)
	}
	if s := leader.alerts.Silences(func(string) bool { return true }); len(s) != 1 {
		t.Fatalf("the leader holds %d silences after an unverified forward, want 1", len(s))
	}
}
