package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/bolt"
	"github.com/centralhub/centralhub/hub/internal/loadtest"
	"github.com/centralhub/centralhub/hub/internal/postgres"
)

// wrkResult is what scripts/bench/ingest.lua's done() writes.
type wrkResult struct {
	Threads    int   `json:"threads"`
	DurationUS int64 `json:"duration_us"`
	Requests   int64 `json:"requests"` // answered, whatever the status
	Bytes      int64 `json:"bytes"`
	Errors     struct {
		Connect int64 `json:"connect"`
		Read    int64 `json:"read"`
		Write   int64 `json:"write"`
		Status  int64 `json:"status"` // answers with a status of 400 or more
		Timeout int64 `json:"timeout"`
	} `json:"errors"`
	LatencyUS struct {
		Min   float64 `json:"min"`
		Mean  float64 `json:"mean"`
		Stdev float64 `json:"stdev"`
		Max   float64 `json:"max"`
		P50   float64 `json:"p50"`
		P90   float64 `json:"p90"`
		P99   float64 `json:"p99"`
		P999  float64 `json:"p999"`
	} `json:"latency_us"`
	Generated []uint64 `json:"generated"` // requests made per thread
}

// ok2xx is the number of answers with a 2xx status (the hub and the bare handler never answer
// 1xx or 3xx, and wrk counts 4xx and 5xx as status errors).
func (w *wrkResult) ok2xx() int64 { return w.Requests - w.Errors.Status }

// socketErrors are the requests that got no answer because of a connection problem.
func (w *wrkResult) socketErrors() int64 {
	return w.Errors.Connect + w.Errors.Read + w.Errors.Write + w.Errors.Timeout
}

// lastSeqs returns, for each instance of f, the seq of the last report the wrk run made for
// it (startSeq-1, the registration, when it made none): ingest.lua's thread t reports for the
// instances j with j%T == t round-robin in rising order, so its request count fixes them all.
func (w *wrkResult) lastSeqs(f loadtest.Fleet, startSeq uint64) ([]uint64, error) {
	T := w.Threads
	if T < 1 || len(w.Generated) != T {
		return nil, fmt.Errorf("wrk result: %d threads but %d request counts", T, len(w.Generated))
	}
	last := make([]uint64, f.Instances)
	for j := range f.Instances {
		t, p := j%T, uint64(j/T)
		owned := uint64((f.Instances - t + T - 1) / T)
		n := w.Generated[t]
		count := n / owned
		if p < n%owned {
			count++
		}
		last[j] = startSeq + count - 1
	}
	return last, nil
}

// verifyResult is what `loadgen verify` writes to --out.
type verifyResult struct {
	File             string   `json:"file"`    // the store file, or the database as postgres.Describe names it (no password)
	Store            string   `json:"store"`   // "bbolt" or "postgres"
	Stored           int      `json:"stored"`  // fleet instances found
	Missing          int      `json:"missing"` // fleet instances not found
	Unexpected       int      `json:"unexpected"`
	WrongBoot        int      `json:"wrong_boot"`
	Ahead            int      `json:"ahead"`        // stored seq beyond the last one sent: impossible
	AtLastSent       int      `json:"at_last_sent"` // stored seq is the last one sent
	Lagging          int      `json:"lagging"`      // stored seq is behind the last one sent
	LagSum           uint64   `json:"lag_sum"`      // sum of (last sent - stored) over the fleet
	LagAllowance     int64    `json:"lag_allowance"`
	LastSeenTooOld   int      `json:"last_seen_too_old"` // at the last seq sent but last_seen before the run
	LastSeenTooNew   int      `json:"last_seen_too_new"` // last_seen after the drain
	SentTotal        uint64   `json:"sent_total"`
	OK               bool     `json:"ok"`
	Problems         []string `json:"problems,omitempty"`
	LastSeenMinUnixN int64    `json:"last_seen_min_unix_nano"`
	LastSeenMaxUnixN int64    `json:"last_seen_max_unix_nano"`

	// What the store holds of the run, counted the same way on both stores over the window
	// [since, until): from the start of wrk until the write queue had drained.
	SinceUnixN int64 `json:"since_unix_nano"`
	UntilUnixN int64 `json:"until_unix_nano"`
	// DurableReports are the run's reports the store holds: per instance of the run's boot,
	// its stored seq less the registration's (start seq - 1), up to the last seq sent.
	DurableReports uint64 `json:"durable_reports"`
	// HistorySamples are the fleet's instance samples in the window (Availability, raw).
	HistorySamples  int64 `json:"history_samples"`
	ChecksPerSample int   `json:"checks_per_sample"`
	// HistorySampleRows = samples × (checks + 1): PostgreSQL's rows (one per check and one
	// for the instance), the same unit on bbolt, which keeps a sample as one record.
	HistorySampleRows int64 `json:"history_sample_rows"`
	// HistoryCheckPoints are the check results of the window's samples as the history query
	// counts them (its latency points' samples): samples × checks, or the count is wrong.
	HistoryCheckPoints int64 `json:"history_check_points"`
	// HistoryTransitions are the fleet's status transitions in the window (QueryHistory).
	HistoryTransitions int64 `json:"history_transitions"`
	// RowsDurable = durable reports + history sample rows + transitions.
	RowsDurable      int64   `json:"rows_durable"`
	ReportsPerSecond float64 `json:"reports_per_second"` // durable reports ÷ the window
	RowsPerSecond    float64 `json:"rows_per_second"`    // durable rows ÷ the window
}

// verifyStore is what verify reads of a store; bbolt's and PostgreSQL's both are one.
type verifyStore interface {
	LoadInstances(ctx context.Context) ([]hub.Instance, error)
	hub.HistoryStore
	Close() error
}

// verify opens the hub's store — a bbolt file read-only (--db) or the PostgreSQL database
// (--database-url) — and checks it against what the wrk run sent: all instances stored, with
// the run's boot, none beyond the last seq sent, and the shortfall from the last seq sent no
// more than the requests that were not answered 2xx could explain (connections in flight when
// wrk stopped, socket errors and non-2xx answers). An instance at its last seq must have a
// last_seen inside the run, which shows heartbeats reached the store with their times. It then
// counts what the run made durable in [--since, --until): the reports, and the history rows
// (instance samples with their checks, transitions) read through the store's history methods.
func verify(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("verify")
	dbPath := fs.String("db", "", "the hub's store file (this or --database-url is required)")
	dbURL := fs.String("database-url", "", "the hub's PostgreSQL database (this or --db is required)")
	wrkPath := fs.String("wrk", "", "the wrk result written by ingest.lua (required)")
	startSeq := fs.Uint64("start-seq", 2, "seq of each instance's first report in the wrk run")
	conns := fs.Int64("connections", 0, "wrk's connections (-c), the most requests in flight (required)")
	since := fs.Int64("since", 0, "unix nanoseconds when the wrk run started (required)")
	until := fs.Int64("until", 0, "unix nanoseconds when the queue had drained (required)")
	out := fs.String("out", "", "write the result as JSON to this file")
	f := fleetFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := f.Validate(); err != nil {
		return err
	}
	if (*dbPath == "") == (*dbURL == "") {
		return errors.New("give one of --db and --database-url")
	}
	if *wrkPath == "" || *conns < 1 || *since <= 0 || *until <= *since {
		return errors.New("--wrk, --connections, --since and --until are required")
	}
	var w wrkResult
	if err := readJSONFile(*wrkPath, &w); err != nil {
		return err
	}
	last, err := w.lastSeqs(*f, *startSeq)
	if err != nil {
		return err
	}
	st, res, err := openStore(ctx, *dbPath, *dbURL)
	if err != nil {
		return err
	}
	defer st.Close()
	stored, unexpected, err := readStore(ctx, st, *f)
	if err != nil {
		return err
	}

	res.Unexpected, res.LastSeenMinUnixN = unexpected, 1<<63-1
	res.SinceUnixN, res.UntilUnixN = *since, *until
	res.LagAllowance = *conns + w.socketErrors() + w.Errors.Status
	for _, n := range w.Generated {
		res.SentTotal += n
	}
	for j := range f.Instances {
		in, ok := stored[j]
		if !ok {
			res.Missing++
			continue
		}
		res.Stored++
		if in.Boot != f.Boot {
			res.WrongBoot++
		} else if s := min(in.Seq, last[j]); s >= *startSeq {
			res.DurableReports += s - (*startSeq - 1)
		}
		ls := in.LastSeen.UnixNano()
		res.LastSeenMinUnixN = min(res.LastSeenMinUnixN, ls)
		res.LastSeenMaxUnixN = max(res.LastSeenMaxUnixN, ls)
		if ls > *until {
			res.LastSeenTooNew++
		}
		switch {
		case in.Seq > last[j]:
			res.Ahead++
		case in.Seq == last[j]:
			res.AtLastSent++
			if last[j] >= *startSeq && ls < *since {
				res.LastSeenTooOld++
			}
		default:
			res.Lagging++
			res.LagSum += last[j] - in.Seq
		}
	}
	if err := countHistory(ctx, st, *f, time.Unix(0, *since), time.Unix(0, *until), &res); err != nil {
		return err
	}
	window := float64(*until-*since) / 1e9
	res.RowsDurable = int64(res.DurableReports) + res.HistorySampleRows + res.HistoryTransitions
	res.ReportsPerSecond, res.RowsPerSecond = float64(res.DurableReports)/window, float64(res.RowsDurable)/window

	for _, p := range []struct {
		bad  bool
		what string
	}{
		{res.Missing > 0, fmt.Sprintf("%d of %d instances missing", res.Missing, f.Instances)},
		{res.Unexpected > 0, fmt.Sprintf("%d unexpected keys", res.Unexpected)},
		{res.WrongBoot > 0, fmt.Sprintf("%d instances with another boot", res.WrongBoot)},
		{res.Ahead > 0, fmt.Sprintf("%d instances ahead of the last seq sent", res.Ahead)},
		{int64(res.LagSum) > res.LagAllowance, fmt.Sprintf("stored seqs are %d reports behind what was sent, but only %d requests went unanswered or failed: answered reports were lost", res.LagSum, res.LagAllowance)},
		{res.LastSeenTooOld > 0, fmt.Sprintf("%d instances at their last seq with a last_seen from before the run", res.LastSeenTooOld)},
		{res.LastSeenTooNew > 0, fmt.Sprintf("%d instances with a last_seen after the drain", res.LastSeenTooNew)},
		{res.HistoryCheckPoints != res.HistorySamples*int64(res.ChecksPerSample), fmt.Sprintf("history: %d check results in %d instance samples of %d checks each (want %d)",
			res.HistoryCheckPoints, res.HistorySamples, res.ChecksPerSample, res.HistorySamples*int64(res.ChecksPerSample))},
	} {
		if p.bad {
			res.Problems = append(res.Problems, p.what)
		}
	}
	res.OK = len(res.Problems) == 0
	if *out != "" {
		if err := writeJSONFile(*out, res); err != nil {
			return err
		}
	}
	if !res.OK {
		return fmt.Errorf("%s: %v", res.File, res.Problems)
	}
	fmt.Fprintf(stdout, "verified %s: %d/%d instances stored, %d at their last seq sent, %d behind by %d in all (allowed %d: in flight or not answered 2xx); "+
		"durable in %.2f s: %d reports (%.0f/s), %d history samples (%d rows) and %d transitions, %d rows in all (%.0f/s)\n",
		res.File, res.Stored, f.Instances, res.AtLastSent, res.Lagging, res.LagSum, res.LagAllowance,
		window, res.DurableReports, res.ReportsPerSecond, res.HistorySamples, res.HistorySampleRows, res.HistoryTransitions, res.RowsDurable, res.RowsPerSecond)
	return nil
}

// openStore opens the store verify reads: the bbolt file at path read-only (a running hub
// holds its lock, so it is given a copy), or the PostgreSQL database at url, whose schema the
// hub has brought up; the result names it without a password.
func openStore(ctx context.Context, path, url string) (verifyStore, verifyResult, error) {
	if path != "" {
		st, err := bolt.OpenReadOnly(path)
		if err != nil {
			return nil, verifyResult{}, err
		}
		return st, verifyResult{File: path, Store: "bbolt"}, nil
	}
	st, err := postgres.Open(ctx, url, postgres.Options{})
	if err != nil {
		return nil, verifyResult{}, err
	}
	return st, verifyResult{File: postgres.Describe(url), Store: "postgres"}, nil
}

// readStore reads the fleet's instances through the store's own reader (so heartbeat records
// count as the hub means them), by instance number, and counts instances that belong neither
// to the fleet nor to the barrier service.
func readStore(ctx context.Context, st verifyStore, f loadtest.Fleet) (map[int]hub.Instance, int, error) {
	all, err := st.LoadInstances(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("read store: %w", err)
	}
	out := make(map[int]hub.Instance, f.Instances)
	unexpected := 0
	for _, in := range all {
		j, ok := f.Index(in.Key)
		if !ok {
			if in.Key.Service != loadtest.BarrierService {
				unexpected++
			}
			continue
		}
		out[j] = in
	}
	return out, unexpected, nil
}

// countHistory counts the fleet's history in [since, until) service by service through the
// store's history methods, the same on both stores: instance samples (Availability over raw
// samples), the check results in them (the samples of QueryHistory's latency points, 1-minute
// steps) and transitions (QueryHistory without a limit).
func countHistory(ctx context.Context, st verifyStore, f loadtest.Fleet, since, until time.Time, res *verifyResult) error {
	res.ChecksPerSample = loadtest.Checks
	for s := range f.Services() {
		q := hub.HistoryQuery{Tenant: f.Key(s * f.PerService).Tenant, Service: loadtest.ServiceName(s),
			Since: since, Until: until, Step: time.Minute}
		a, err := st.Availability(ctx, q, false)
		if err != nil {
			return fmt.Errorf("count samples of %s: %w", q.Service, err)
		}
		h, err := st.QueryHistory(ctx, q)
		if err != nil {
			return fmt.Errorf("count history of %s: %w", q.Service, err)
		}
		res.HistorySamples += a.Samples
		for _, p := range h.Latency {
			res.HistoryCheckPoints += p.Samples
		}
		res.HistoryTransitions += int64(len(h.Transitions))
	}
	res.HistorySampleRows = res.HistorySamples * int64(res.ChecksPerSample+1)
	return nil
}
