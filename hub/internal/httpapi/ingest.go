package httpapi

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/centralhub/centralhub/hub/internal/registry"
	"github.com/centralhub/centralhub/pkg/protocol"
)

var (
	bodyPool   = sync.Pool{New: func() any { return new(bytes.Buffer) }}
	reportPool = sync.Pool{New: func() any { return new(protocol.Report) }}
)

type ingestAnswer struct {
	Outcome string `json:"outcome"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
}

// postReport ingests one agent report: capped body, decoded, validated, matched against the
// token's tenant and service, then applied to the registry.
func (s *Server) postReport(w http.ResponseWriter, r *http.Request) error {
	start := time.Now()
	ans, err := s.ingestReport(r)
	if err != nil {
		return err
	}
	d := time.Since(start)
	s.ingest.Observe(d)
	s.metrics.ingestTime.Observe(d.Seconds())
	s.metrics.reports.WithLabelValues(ans.Outcome).Inc()
	code := http.StatusOK
	if ans.Outcome == registry.Queued.String() {
		code = http.StatusAccepted
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, err = w.Write(ans.appendJSON(make([]byte, 0, 96)))
	return err
}

// appendJSON renders the answer without reflection: it is written for every report. Its words
// are fixed ASCII (outcomes, statuses, reasons built from numbers), which strconv quotes exactly
// as JSON does.
func (a ingestAnswer) appendJSON(b []byte) []byte {
	b = append(b, `{"outcome":`...)
	b = strconv.AppendQuote(b, a.Outcome)
	b = append(b, `,"status":`...)
	b = strconv.AppendQuote(b, a.Status)
	if a.Reason != "" {
		b = append(b, `,"reason":`...)
		b = strconv.AppendQuote(b, a.Reason)
	}
	return append(b, "}\n"...)
}

func (s *Server) reject(reason string, err error) error {
	s.metrics.rejected.WithLabelValues(reason).Inc()
	return err
}

func (s *Server) ingestReport(r *http.Request) (ingestAnswer, error) {
	buf := bodyPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bodyPool.Put(buf)
	if _, err := buf.ReadFrom(http.MaxBytesReader(nil, r.Body, s.cfg.MaxBody)); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return ingestAnswer{}, s.reject(rejectTooLarge, &Error{Status: http.StatusRequestEntityTooLarge, Message: "report body is larger than the limit of " + formatBytes(s.cfg.MaxBody)})
		}
		return ingestAnswer{}, s.reject(rejectMalformed, badRequest("read report body: %v", err))
	}
	// The registry copies what it keeps, so the report goes back to the pool afterwards.
	rep := reportPool.Get().(*protocol.Report)
	defer reportPool.Put(rep)
	if err := protocol.UnmarshalInto(buf.Bytes(), rep); err != nil {
		return ingestAnswer{}, s.reject(rejectMalformed, badRequest("%v", err))
	}
	if err := rep.Validate(); err != nil {
		if errors.Is(err, protocol.ErrVersion) {
			return ingestAnswer{}, s.reject(rejectVersion, badRequest("%v", err))
		}
		return ingestAnswer{}, s.reject(rejectInvalid, badRequest("invalid report: %v", err))
	}
	c := claimsFrom(r.Context())
	if rep.Tenant != c.Tenant {
		return ingestAnswer{}, s.reject(rejectForbidden, forbidden("token is for tenant %q, report names %q", c.Tenant, rep.Tenant))
	}
	if rep.Service != c.Service {
		return ingestAnswer{}, s.reject(rejectForbidden, forbidden("token is for service %q, report names %q", c.Service, rep.Service))
	}
	res, err := s.cfg.Registry.Apply(r.Context(), rep)
	switch {
	case errors.Is(err, registry.ErrRateLimited):
		return ingestAnswer{}, s.reject(rejectRateLimited, &Error{Status: http.StatusTooManyRequests, Message: err.Error(), RetryAfter: time.Second})
	case errors.Is(err, registry.ErrStopped):
		return ingestAnswer{}, s.reject(rejectUnavailable, &Error{Status: http.StatusServiceUnavailable, Message: "hub is shutting down"})
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The client gave up waiting; its change is still written, and its retry is answered
		// once it is durable. 499 is the conventional "client closed request".
		return ingestAnswer{}, s.reject(rejectCancelled, &Error{Status: statusClientClosed, Message: "request cancelled by the client"})
	case err != nil:
		return ingestAnswer{}, err
	}
	return ingestAnswer{Outcome: res.Outcome.String(), Status: string(res.Status), Reason: res.Reason}, nil
}

func formatBytes(n int64) string {
	switch {
	case n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
