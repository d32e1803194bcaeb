package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/centralhub/centralhub/hub/internal/loadtest"
	"github.com/centralhub/centralhub/pkg/protocol"
	"github.com/centralhub/centralhub/pkg/status"
)

// storeMetrics are the store gauges and counters of the hub's /metrics that drain reads.
type storeMetrics struct {
	pending, writes, writeErrors float64
}

// getStoreMetrics reads centralhub_store_pending_writes, centralhub_store_writes_total and
// centralhub_store_write_errors_total from the hub's /metrics (Prometheus text format) and
// fails when one is missing, so a renamed metric stops the benchmark instead of fooling it.
func getStoreMetrics(ctx context.Context, c *http.Client, base, auth string) (storeMetrics, error) {
	var m storeMetrics
	body, err := getBody(ctx, c, strings.TrimRight(base, "/")+"/metrics", auth)
	if err != nil {
		return m, err
	}
	want := map[string]*float64{
		"centralhub_store_pending_writes":     &m.pending,
		"centralhub_store_writes_total":       &m.writes,
		"centralhub_store_write_errors_total": &m.writeErrors,
	}
	found := 0
	for line := range strings.Lines(string(body)) {
		name, value, ok := strings.Cut(strings.TrimSpace(line), " ")
		dst := want[name]
		if !ok || dst == nil {
			continue
		}
		if *dst, err = strconv.ParseFloat(strings.TrimSpace(value), 64); err != nil {
			return m, fmt.Errorf("metrics: %s: %w", name, err)
		}
		found++
	}
	if found != len(want) {
		return m, fmt.Errorf("metrics: want %d store series, found %d (renamed?)", len(want), found)
	}
	return m, nil
}

// hubIngest is the hub's own view of ingest in GET /api/v1/dashboard/metrics (admin of all
// tenants), reported alongside; drain does not depend on it.
type hubIngest struct {
	Ingest *struct {
		Total uint64  `json:"total"`
		P50MS float64 `json:"p50_ms"`
		P99MS float64 `json:"p99_ms"`
	} `json:"ingest"`
}

func getBody(ctx context.Context, c *http.Client, url, auth string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("request %s: %w", url, err)
	}
	req.Header.Set("Authorization", auth)
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("get %s: status %d", url, resp.StatusCode)
	}
	return body, nil
}

// drainResult is what `loadgen drain` writes to --out.
type drainResult struct {
	DrainedAtUnixNano int64   `json:"drained_at_unix_nano"` // when the barrier write was answered
	WaitedMS          float64 `json:"waited_ms"`            // from the start of drain
	WritesBefore      float64 `json:"writes_before"`        // centralhub_store_writes_total
	WritesAfter       float64 `json:"writes_after"`
	PendingAfter      float64 `json:"pending_writes_after"` // centralhub_store_pending_writes
	WriteErrors       float64 `json:"write_errors"`
	BarrierOutcome    string  `json:"barrier_outcome"`
	HubIngestTotal    uint64  `json:"hub_ingest_total,omitempty"`
	HubIngestP50MS    float64 `json:"hub_ingest_p50_ms,omitempty"` // the hub's own view, last samples
	HubIngestP99MS    float64 `json:"hub_ingest_p99_ms,omitempty"`
}

// drain waits until the hub's write queue has drained: it polls centralhub_store_pending_writes
// until it is 0 (state changes, heartbeats waiting for the batch, and writes under way all
// count), then sends a state-changing report for a barrier instance and waits for its "stored"
// answer, which the registry's single writer gives only after every state change applied before
// it is durable; the metrics read after it must show no pending writes and at least one more
// committed store write.
func drain(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("drain")
	base := fs.String("url", "", "hub base URL (required)")
	adminPath := fs.String("admin-token", "", "admin token file, for /metrics (required)")
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
	before, err := getStoreMetrics(ctx, s.client, *base, admin)
	for ; err == nil && before.pending > 0; before, err = getStoreMetrics(ctx, s.client, *base, admin) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("pending writes still %.0f after %s", before.pending, *timeout)
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
	after, err := getStoreMetrics(ctx, s.client, *base, admin)
	if err != nil {
		return err
	}
	res := drainResult{
		DrainedAtUnixNano: drainedAt.UnixNano(), WaitedMS: float64(drainedAt.Sub(start).Microseconds()) / 1000,
		WritesBefore: before.writes, WritesAfter: after.writes, PendingAfter: after.pending,
		WriteErrors: after.writeErrors, BarrierOutcome: outcome,
	}
	var hi hubIngest
	if b, err := getBody(ctx, s.client, strings.TrimRight(*base, "/")+"/api/v1/dashboard/metrics", admin); err == nil &&
		json.Unmarshal(b, &hi) == nil && hi.Ingest != nil {
		res.HubIngestTotal, res.HubIngestP50MS, res.HubIngestP99MS = hi.Ingest.Total, hi.Ingest.P50MS, hi.Ingest.P99MS
	}
	if *out != "" {
		if err := writeJSONFile(*out, res); err != nil {
			return err
		}
	}
	switch {
	case outcome != "stored":
		return fmt.Errorf("barrier report answered %q, want stored", outcome)
	case res.PendingAfter != 0 || res.WritesAfter <= res.WritesBefore:
		return fmt.Errorf("after the barrier: pending writes %.0f, store writes %.0f → %.0f", res.PendingAfter, res.WritesBefore, res.WritesAfter)
	case res.WriteErrors > 0:
		return fmt.Errorf("the hub counted %.0f failed store writes", res.WriteErrors)
	}
	fmt.Fprintf(stdout, "drained after %.0f ms (store writes %.0f → %.0f)\n", res.WaitedMS, res.WritesBefore, res.WritesAfter)
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
