package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/centralhub/centralhub/hub/internal/bolt"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/hub/internal/loadtest"
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
	File             string   `json:"file"`
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
}

// verify opens the hub's bbolt file read-only and checks it against what the wrk run sent: all
// instances stored, with the run's boot, none beyond the last seq sent, and the shortfall from
// the last seq sent no more than the requests that were not answered 2xx could explain
// (connections in flight when wrk stopped, socket errors and non-2xx answers). An instance at
// its last seq must have a last_seen inside the run, which shows heartbeats reached the store
// with their times.
func verify(_ context.Context, args []string, stdout io.Writer) error {
	fs := newFlags("verify")
	dbPath := fs.String("db", "", "the hub's store file (required)")
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
	if *dbPath == "" || *wrkPath == "" || *conns < 1 || *since <= 0 || *until <= *since {
		return errors.New("--db, --wrk, --connections, --since and --until are required")
	}
	var w wrkResult
	if err := readJSONFile(*wrkPath, &w); err != nil {
		return err
	}
	last, err := w.lastSeqs(*f, *startSeq)
	if err != nil {
		return err
	}
	stored, unexpected, err := readStore(*dbPath, *f)
	if err != nil {
		return err
	}

	res := verifyResult{File: *dbPath, Unexpected: unexpected, LastSeenMinUnixN: 1<<63 - 1}
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
		return fmt.Errorf("%s: %v", *dbPath, res.Problems)
	}
	fmt.Fprintf(stdout, "verified %s: %d/%d instances stored, %d at their last seq sent, %d behind by %d in all (allowed %d: in flight or not answered 2xx)\n",
		*dbPath, res.Stored, f.Instances, res.AtLastSent, res.Lagging, res.LagSum, res.LagAllowance)
	return nil
}

// readStore reads the fleet's instances from a bbolt store file opened read-only, through the
// store's own reader (so heartbeat records count as the hub means them), by instance number, and
// counts instances that belong neither to the fleet nor to the barrier service.
func readStore(path string, f loadtest.Fleet) (map[int]hub.Instance, int, error) {
	st, err := bolt.OpenReadOnly(path)
	if err != nil {
		return nil, 0, err
	}
	defer st.Close()
	all, err := st.LoadInstances(context.Background())
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
