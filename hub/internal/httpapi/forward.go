package httpapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"time"
)

// forwardedHeader marks a request one hub forwarded to another, so it is never forwarded twice.
const forwardedHeader = "X-Centralhub-Forwarded"

// forwardTimeout bounds a forwarded request.
const forwardTimeout = 15 * time.Second

var errNoLeader = &Error{Status: http.StatusServiceUnavailable, Message: "no hub leads alerting right now (one takes over within seconds); retry", RetryAfter: 2 * time.Second}

// newForwardClient returns the client of forwarded changes: bounded by forwardTimeout, no
// redirects followed (the caller's token must not travel elsewhere), and tc's TLS settings for
// an https leader (Go's defaults when nil).
func newForwardClient(tc *tls.Config) *http.Client {
	c := &http.Client{Timeout: forwardTimeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if tc != nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = tc.Clone()
		c.Transport = t
	}
	return c
}

// toLeader serves a change to alerts here when this hub leads, and otherwise forwards it,
// with the caller's token, to the hub that does (which checks the token again) and relays its
// answer. The caller's role was checked here first.
func (s *Server) toLeader(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.Leader == nil {
			next.ServeHTTP(w, r)
			return
		}
		self, url, err := s.cfg.Leader(r.Context())
		switch {
		case self:
			next.ServeHTTP(w, r)
			return
		case r.Header.Get(forwardedHeader) != "", err != nil, url == "":
			// Forwarded here by a hub that took this one for the leader: leadership is moving.
			if err != nil {
				s.log.Warn("cannot tell which hub leads", "err", err)
			}
			s.writeError(w, r, errNoLeader)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxActionBody))
		if err != nil {
			s.writeError(w, r, badRequest("read body: %v", err))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), forwardTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, r.Method, strings.TrimSuffix(url, "/")+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			s.log.Error("forward to the leader", "err", err)
			s.writeError(w, r, errNoLeader)
			return
		}
		for _, h := range []string{"Authorization", "Content-Type"} {
			if v := r.Header.Get(h); v != "" {
				req.Header.Set(h, v)
			}
		}
		req.Header.Set(forwardedHeader, "1")
		res, err := s.forward.Do(req)
		if err != nil {
			s.log.Warn("the leading hub did not answer a forwarded change", "leader", url, "err", err)
			s.writeError(w, r, errNoLeader)
			return
		}
		defer res.Body.Close()
		for _, h := range []string{"Content-Type", "Retry-After", "WWW-Authenticate"} {
			if v := res.Header.Get(h); v != "" {
				w.Header().Set(h, v)
			}
		}
		w.WriteHeader(res.StatusCode)
		_, _ = io.Copy(w, io.LimitReader(res.Body, 4<<20))
	})
}
