package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/centralhub/centralhub/hub/internal/loadtest"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// hubMetrics is the part of GET /api/v1/dashboard/metrics that drain reads.
type hubMetrics struct {
	Ingest struct {
		Total uint64  `json:"total"`
		P50MS float64 `json:"p50_ms"`
		P99MS float64 `json:"p99_ms"`
	} `json:"ingest"`
	Registry struct {
		Instances     int    `json:"instances"`
		PendingWrites int    `json:"pending_writes"`
		Flushes       uint64 `json:"flushes"`
		WriteErrors   uint64 `json:"write_errors"`
	} `json:"registry"`
}

func getMetrics(ctx context.Context, c *http.Client, base, auth string) (hubMetrics, error) {
	var m hubMetrics
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/api/v1/dashboard/metrics", nil)
	if err != nil {
		return m, fmt.Errorf("metrics request: %w", err)
	}
	req.Header.Set("Authorization", auth)
	resp, err := c.Do(req)
	if err != nil {
		return m, fmt.Errorf("get metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return m, fmt.Errorf("get metrics: status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return m, fmt.Errorf("decode metrics: %w", err)
	}
	return m, nil
}

// drainResult is what `loadgen drain` writes to --out.
type drainResult struct {
	DrainedAtUnixNano int64   `json:"drained_at_unix_nano"` // when the barrier write was answered
	WaitedMS          float64 `json:"waited_ms"`            // from the start of drain
	FlushesBefore     uint64  `json:"flushes_before"`
	FlushesAfter      uint64  `json:"flushes_after"`
	PendingAfter      int     `json:"pending_writes_after"`
	WriteErrors       uint64  `json:"write_errors"`
	Instances         int     `json:"instances"` // in the registry, with the barrier instance
	BarrierOutcome    string  `json:"barrier_outcome"`
	HubIngestTotal    uint64  `json:"hub_ingest_total"`
	HubIngestP50MS    float64 `json:"hub_ingest_p50_ms"` // the hub's own view, last 2048 reports
	HubIngestP99MS    float64 `json:"hub_ingest_p99_ms"`
}

// drain waits until the hub's write queue has drained: it polls pending_writes until it is 0,
// then sends a state-changing report for a barrier instance and waits for its "stored" answer.
// The registry has one writer that writes everything pending with every store transaction,
// so that answer means every report applied before it is durable; the metrics read after it
// must show pending_writes 0 and at least one more committed flush.
func drain(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("drain")
	base := fs.String("url", "", "hub base URL (required)")
	adminPath := fs.String("admin-token", "", "admin (or viewer) token file, for the metrics route (required)")
	tokensPath := fs.String("tokens", "", "agent tokens file, for the barrier service (required)")
	timeout := fs.Duration("timeout", 60*time.Second, "give up after this long")
	out := fs.String("out", "", "write the result as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	admin, err := readToken(*adminPath)
	if err != nil {
		return err
	}
	s, err := newSender(*base, *tokensPath, 1)
	if err != nil {
		return err
	}
	before, err := getMetrics(ctx, s.client, *base, admin)
	for ; err == nil && before.Registry.PendingWrites > 0; before, err = getMetrics(ctx, s.client, *base, admin) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("pending_writes still %d after %s", before.Registry.PendingWrites, *timeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err != nil {
		return err
	}

	body, err := json.Marshal(barrierReport(time.Now()))
	if err != nil {
		return fmt.Errorf("encode barrier report: %w", err)
	}
	outcome, err := postBarrier(ctx, s, body)
	if err != nil {
		return err
	}
	drainedAt := time.Now()
	after, err := getMetrics(ctx, s.client, *base, admin)
	if err != nil {
		return err
	}
	res := drainResult{
		DrainedAtUnixNano: drainedAt.UnixNano(), WaitedMS: float64(drainedAt.Sub(start).Microseconds()) / 1000,
		FlushesBefore: before.Registry.Flushes, FlushesAfter: after.Registry.Flushes,
		PendingAfter: after.Registry.PendingWrites, WriteErrors: after.Registry.WriteErrors,
		Instances: after.Registry.Instances, BarrierOutcome: outcome,
		HubIngestTotal: after.Ingest.Total, HubIngestP50MS: after.Ingest.P50MS, HubIngestP99MS: after.Ingest.P99MS,
	}
	if *out != "" {
		if err := writeJSONFile(*out, res); err != nil {
			return err
		}
	}
	switch {
	case outcome != "stored":
		return fmt.Errorf("barrier report answered %q, want stored", outcome)
	case res.PendingAfter != 0 || res.FlushesAfter <= res.FlushesBefore:
		return fmt.Errorf("after the barrier: pending_writes %d, flushes %d → %d", res.PendingAfter, res.FlushesBefore, res.FlushesAfter)
	case res.WriteErrors > 0:
		return fmt.Errorf("the hub counted %d failed store writes", res.WriteErrors)
	}
	fmt.Fprintf(stdout, "drained after %.0f ms (flushes %d → %d)\n", res.WaitedMS, res.FlushesBefore, res.FlushesAfter)
	return nil
}

// barrierReport is a new boot of the barrier instance: always a state change, so the hub
// answers it only once it is durable.
func barrierReport(now time.Time) *protocol.Report {
	return &protocol.Report{
		Version: protocol.Version, Tenant: protocol.DefaultTenant, Service: loadtest.BarrierService,
		Instance: "barrier", Boot: now.UnixNano(), Seq: 1, SentAt: now, Interval: protocol.Duration(time.Minute),
		Checks: []protocol.CheckResult{{Name: "barrier", Kind: "bench", Status: status.Passing,
			Output: fmt.Sprintf("barrier %d", rand.Uint32()), CheckedAt: now}},
	}
}

func postBarrier(ctx context.Context, s *sender, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, strings.NewReader(string(body)))
	if err != nil {
		return "", fmt.Errorf("barrier request: %w", err)
	}
	tok, ok := s.tokens[loadtest.BarrierService]
	if !ok {
		return "", errors.New("the tokens file has no token for " + loadtest.BarrierService)
	}
	req.Header.Set("Authorization", tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("post barrier report: %w", err)
	}
	defer resp.Body.Close()
	var ans struct {
		Outcome string `json:"outcome"`
		Error   string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		return "", fmt.Errorf("decode barrier answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("barrier report: status %d: %s", resp.StatusCode, ans.Error)
	}
	return ans.Outcome, nil
}
