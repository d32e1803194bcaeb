package bolt

// History lives in top-level buckets, three per UTC day, so retention deletes whole buckets
// instead of walking keys, and a query opens only the days its range touches:
//
//	h:YYYYMMDD  raw samples: key tenant\x00service\x00instance\x00 + 8-byte big-endian UnixNano;
//	            value the instance's status byte, then per check a uvarint name length, the
//	            name, its status byte and its latency (float64 bits, 8 bytes big-endian)
//	t:YYYYMMDD  transitions: key as samples + the bucket's 8-byte big-endian sequence, so
//	            transitions of one instant keep the order they were written in, across writes
//	            too; value storedTransition as JSON (rare, so readable beats compact)
//	r:YYYYMMDD  hourly roll-ups of the samples: key tenant\x00service\x00instance\x00 + the
//	            hour's 8-byte big-endian UnixNano + the check's name ("" for the instance's own
//	            status); value samples, up, latency_n (uint64) and latency_sum, latency_max
//	            (float64 bits), 40 bytes big-endian
//
// Every key starts with its instance's prefix and then its time, so one instance's range is a
// seek and a forward scan, and the \x00 after the service keeps "orders" from matching
// "orders2". Statuses are bytes: 0 passing, 1 warning, 2 critical, 3 unknown (anything else).
// The buckets did not change schemaVersion: they are created when first written, and a hub that
// does not know them leaves them alone.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/centralhub/centralhub/hub"
	"github.com/centralhub/centralhub/pkg/status"
)

const (
	prefixSamples     = "h:"
	prefixTransitions = "t:"
	prefixRollups     = "r:"
	dayLayout         = "20060102"
	nanosPerDay       = int64(24 * time.Hour)
	rollupSize        = 40
)

// storedTransition is a transition's value; its instance and time are in the key.
type storedTransition struct {
	Check  string       `json:"check"`
	From   status.Check `json:"from"`
	To     status.Check `json:"to"`
	Output string       `json:"output,omitempty"`
}

// statusCode is a status as the byte samples keep.
func statusCode(c status.Check) byte { return byte(c.Code()) }

// isUp reports whether a status byte counts as available: passing or warning.
func isUp(b byte) bool { return b <= 1 }

// unixNanos is t as keys hold it, clamped to what UnixNano can express (before 1970 sorts as
// 1970), so a query's open-ended bound still compares correctly.
func unixNanos(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, 0)):
		return 0
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

func timeKey(ns int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(ns)) }

// dayBucket names the bucket of the UTC day holding ns: UTC days start at multiples of 24 h
// from the Unix epoch.
func dayBucket(prefix string, ns int64) []byte {
	return []byte(prefix + time.Unix(0, ns-ns%nanosPerDay).UTC().Format(dayLayout))
}

// floorTo is ns truncated to a multiple of step counted from the Unix epoch, as PostgreSQL's
// date_bin(step, at, 'epoch') does, so both stores bucket alike.
func floorTo(ns, step int64) int64 {
	r := ns % step
	if r < 0 {
		r += step
	}
	return ns - r
}

func servicePrefix(tenant, service string) []byte {
	return []byte(tenant + "\x00" + service + "\x00")
}

// rollup is one roll-up row.
type rollup struct {
	samples, up, n uint64
	sum, max       float64
}

func (r *rollup) add(o rollup) {
	if o.n > 0 {
		if r.n == 0 {
			r.max = o.max
		} else {
			r.max = max(r.max, o.max)
		}
	}
	r.samples += o.samples
	r.up += o.up
	r.n += o.n
	r.sum += o.sum
}

func decodeRollup(v []byte) (rollup, bool) {
	if len(v) != rollupSize {
		return rollup{}, false
	}
	return rollup{
		samples: binary.BigEndian.Uint64(v),
		up:      binary.BigEndian.Uint64(v[8:]),
		n:       binary.BigEndian.Uint64(v[16:]),
		sum:     math.Float64frombits(binary.BigEndian.Uint64(v[24:])),
		max:     math.Float64frombits(binary.BigEndian.Uint64(v[32:])),
	}, true
}

func (r *rollup) encode(b []byte) {
	binary.BigEndian.PutUint64(b, r.samples)
	binary.BigEndian.PutUint64(b[8:], r.up)
	binary.BigEndian.PutUint64(b[16:], r.n)
	binary.BigEndian.PutUint64(b[24:], math.Float64bits(r.sum))
	binary.BigEndian.PutUint64(b[32:], math.Float64bits(r.max))
}

// rollupRow names one roll-up row of a write while its samples are summed; its key is built
// once the sums are done, one per row instead of one per sample.
type rollupRow struct {
	key   hub.InstanceKey
	check string
	hour  int64
}

// historyPut is one key to put into a day bucket, and for a roll-up row what to add to it.
type historyPut struct {
	bucket, key, val []byte
	sum              rollup
}

func comparePuts(a, b historyPut) int {
	return cmp.Or(bytes.Compare(a.bucket, b.bucket), bytes.Compare(a.key, b.key))
}

// historyWrite is a write's history, encoded before its transaction so the writer lock is
// held only to put it.
type historyWrite struct {
	samples     []historyPut // in bucket and key order: bbolt appends faster than it inserts
	transitions []historyPut // in write order; the key still lacks its sequence
	rollups     []historyPut // the rows to add to, in bucket and key order
}

// prepareHistory encodes w's samples and transitions and sums its samples per roll-up row, so
// each row is read and written once per write.
func prepareHistory(w *hub.Writes) (*historyWrite, error) {
	h := &historyWrite{}
	if len(w.Samples) > 0 {
		h.samples, h.rollups = prepareSamples(w.Samples)
	}
	if len(w.Transitions) > 0 {
		h.transitions = make([]historyPut, len(w.Transitions))
	}
	for i := range w.Transitions {
		t := &w.Transitions[i]
		v, err := json.Marshal(storedTransition{Check: t.Check, From: t.From, To: t.To, Output: t.Output})
		if err != nil {
			return nil, fmt.Errorf("encode transition of %s: %w", t.Key, err)
		}
		ns := unixNanos(t.At)
		key := make([]byte, 0, len(t.Key.Tenant)+len(t.Key.Service)+len(t.Key.Instance)+3+16)
		key = append(append(key, instanceKey(t.Key)...), 0)
		key = binary.BigEndian.AppendUint64(key, uint64(ns))
		h.transitions[i] = historyPut{bucket: dayBucket(prefixTransitions, ns), key: key, val: v}
	}
	return h, nil
}

func prepareSamples(samples []hub.Sample) (puts, rollups []historyPut) {
	// One slab for every key and value: bbolt keeps what Put is given until the commit, so
	// each needs bytes of its own, but not an allocation of its own.
	size := 0
	for i := range samples {
		s := &samples[i]
		size += len(s.Key.Tenant) + len(s.Key.Service) + len(s.Key.Instance) + 3 + 8 + 1
		for _, c := range s.Checks {
			size += binary.MaxVarintLen64 + len(c.Name) + 9
		}
	}
	slab := make([]byte, 0, size)
	sums := make(map[rollupRow]*rollup)
	add := func(row rollupRow, one rollup) {
		if r := sums[row]; r != nil {
			r.add(one)
		} else {
			sums[row] = &one
		}
	}
	var (
		dayStart int64 = -1
		day      []byte
	)
	puts = make([]historyPut, len(samples))
	for i := range samples {
		s := &samples[i]
		ns := unixNanos(s.At)
		if d := ns - ns%nanosPerDay; d != dayStart {
			dayStart, day = d, dayBucket(prefixSamples, ns)
		}
		start := len(slab)
		slab = append(slab, s.Key.Tenant...)
		slab = append(slab, 0)
		slab = append(slab, s.Key.Service...)
		slab = append(slab, 0)
		slab = append(slab, s.Key.Instance...)
		slab = append(slab, 0)
		slab = binary.BigEndian.AppendUint64(slab, uint64(ns))
		key := slab[start:len(slab):len(slab)]
		start = len(slab)
		code := statusCode(s.Status)
		slab = append(slab, code)
		for _, c := range s.Checks {
			slab = binary.AppendUvarint(slab, uint64(len(c.Name)))
			slab = append(slab, c.Name...)
			slab = append(slab, statusCode(c.Status))
			slab = binary.BigEndian.AppendUint64(slab, math.Float64bits(c.LatencyMS))
		}
		puts[i] = historyPut{bucket: day, key: key, val: slab[start:len(slab):len(slab)]}

		hour := floorTo(ns, int64(time.Hour))
		one := rollup{samples: 1}
		if isUp(code) {
			one.up = 1
		}
		add(rollupRow{s.Key, "", hour}, one)
		for _, c := range s.Checks {
			one := rollup{samples: 1, n: 1, sum: c.LatencyMS, max: c.LatencyMS}
			if isUp(statusCode(c.Status)) {
				one.up = 1
			}
			add(rollupRow{s.Key, c.Name, hour}, one)
		}
	}
	slices.SortFunc(puts, comparePuts)

	rollups = make([]historyPut, 0, len(sums))
	for row, r := range sums {
		key := make([]byte, 0, len(row.key.Tenant)+len(row.key.Service)+len(row.key.Instance)+3+8+len(row.check))
		key = append(append(key, instanceKey(row.key)...), 0)
		key = binary.BigEndian.AppendUint64(key, uint64(row.hour))
		key = append(key, row.check...)
		rollups = append(rollups, historyPut{bucket: dayBucket(prefixRollups, row.hour), key: key, sum: *r})
	}
	slices.SortFunc(rollups, comparePuts)
	return puts, rollups
}

// write puts h into tx, creating the day buckets it needs.
func (h *historyWrite) write(tx *bbolt.Tx) error {
	var (
		name []byte
		b    *bbolt.Bucket
	)
	// Puts come grouped by bucket (transitions mostly are), so remembering the last one
	// saves a lookup per key.
	bucket := func(n []byte) (*bbolt.Bucket, error) {
		if b != nil && bytes.Equal(n, name) {
			return b, nil
		}
		nb, err := tx.CreateBucketIfNotExists(n)
		if err != nil {
			return nil, fmt.Errorf("create %s bucket: %w", n, err)
		}
		name, b = n, nb
		return b, nil
	}
	for _, p := range h.samples {
		b, err := bucket(p.bucket)
		if err != nil {
			return err
		}
		if err := b.Put(p.key, p.val); err != nil {
			return fmt.Errorf("put sample: %w", err)
		}
	}
	for _, p := range h.transitions {
		b, err := bucket(p.bucket)
		if err != nil {
			return err
		}
		// The bucket's sequence, not the write's index: it orders transitions of one instant
		// across writes too, and both share the day's bucket.
		seq, err := b.NextSequence()
		if err != nil {
			return fmt.Errorf("transition sequence: %w", err)
		}
		if err := b.Put(binary.BigEndian.AppendUint64(p.key, seq), p.val); err != nil {
			return fmt.Errorf("put transition: %w", err)
		}
	}
	vals := make([]byte, rollupSize*len(h.rollups))
	for i, p := range h.rollups {
		b, err := bucket(p.bucket)
		if err != nil {
			return err
		}
		r := p.sum
		// A row of the wrong size cannot be added to; it is replaced rather than failing
		// every later write of its hour.
		if old, ok := decodeRollup(b.Get(p.key)); ok {
			old.add(r)
			r = old
		}
		v := vals[i*rollupSize : (i+1)*rollupSize]
		r.encode(v)
		if err := b.Put(p.key, v); err != nil {
			return fmt.Errorf("put roll-up: %w", err)
		}
	}
	return nil
}

// forDays calls fn with each existing day bucket of prefix whose day overlaps [from, until),
// found by seeking among the top-level buckets rather than trying every day of the range.
func forDays(ctx context.Context, tx *bbolt.Tx, prefix string, from, until int64, fn func(b *bbolt.Bucket) error) error {
	if from >= until {
		return nil
	}
	first, last := dayBucket(prefix, from), dayBucket(prefix, until-1)
	c := tx.Cursor()
	for k, _ := c.Seek(first); k != nil && bytes.Compare(k, last) <= 0; k, _ = c.Next() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if len(k) != len(last) {
			continue
		}
		if b := tx.Bucket(k); b != nil {
			if err := fn(b); err != nil {
				return err
			}
		}
	}
	return nil
}

// scanFunc receives an entry of a history bucket: its instance's name, the key after the
// instance's prefix (time first) and the value. All are valid only until it returns.
type scanFunc func(instance, rest, v []byte) error

// scanHistory calls fn with the entries of b that belong to instance (every instance when "")
// of the service whose prefix is svc and whose time lies in [from, until). It seeks each
// instance's range and past the instance's remaining keys, so it reads only what it returns
// plus a key per instance.
func scanHistory(ctx context.Context, b *bbolt.Bucket, svc []byte, instance string, from, until int64, fn scanFunc) error {
	c := b.Cursor()
	lo, hi := timeKey(from), timeKey(until)
	if instance != "" {
		p := make([]byte, 0, len(svc)+len(instance)+1+8)
		p = append(append(append(p, svc...), instance...), 0)
		return scanInstance(c, p, len(svc), lo, hi, fn)
	}
	var p []byte
	k, _ := c.Seek(svc)
	for k != nil && bytes.HasPrefix(k, svc) {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := bytes.IndexByte(k[len(svc):], 0)
		if n < 0 { // not a key of ours
			k, _ = c.Next()
			continue
		}
		p = append(p[:0], k[:len(svc)+n+1]...)
		if err := scanInstance(c, p, len(svc), lo, hi, fn); err != nil {
			return err
		}
		// prefix+instance+"\x01" sorts right after every key of the instance.
		p[len(p)-1] = 1
		k, _ = c.Seek(p)
	}
	return nil
}

// scanInstance scans the keys under the instance prefix p (the service's prefix is its first
// svcLen bytes) whose time bytes are in [lo, hi).
func scanInstance(c *bbolt.Cursor, p []byte, svcLen int, lo, hi []byte, fn scanFunc) error {
	seek := append(p[:len(p):len(p)], lo...)
	instance := p[svcLen : len(p)-1]
	for k, v := c.Seek(seek); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		rest := k[len(p):]
		if len(rest) < 8 {
			continue
		}
		if bytes.Compare(rest[:8], hi) >= 0 {
			return nil
		}
		if err := fn(instance, rest, v); err != nil {
			return err
		}
	}
	return nil
}

// series is one check's latency points while a query sums them. Points mostly arrive in time
// order (one instance's keys are), so the index of them by time is built only once one
// arrives out of order.
type series struct {
	at   []int64
	sums []rollup
	idx  map[int64]int
}

func (s *series) add(at int64, r rollup) {
	n := len(s.at)
	if s.idx == nil {
		switch {
		case n > 0 && s.at[n-1] == at:
			s.sums[n-1].add(r)
			return
		case n == 0 || s.at[n-1] < at:
			s.at, s.sums = append(s.at, at), append(s.sums, r)
			return
		}
		s.idx = make(map[int64]int, n)
		for i, t := range s.at {
			s.idx[t] = i
		}
	}
	if i, ok := s.idx[at]; ok {
		s.sums[i].add(r)
		return
	}
	s.idx[at] = n
	s.at, s.sums = append(s.at, at), append(s.sums, r)
}

// latencies are a query's series by check name.
type latencies map[string]*series

func (l latencies) add(check []byte, at int64, r rollup) {
	s := l[string(check)]
	if s == nil {
		s = &series{}
		l[string(check)] = s
	}
	s.add(at, r)
}

// appendPoints appends l's points to out, by check, then time.
func (l latencies) appendPoints(out []hub.LatencyPoint) []hub.LatencyPoint {
	checks := make([]string, 0, len(l))
	for c := range l {
		checks = append(checks, c)
	}
	slices.Sort(checks)
	for _, c := range checks {
		s := l[c]
		start := len(out)
		for i, at := range s.at {
			r := &s.sums[i]
			if r.n == 0 {
				continue
			}
			out = append(out, hub.LatencyPoint{Check: c, At: time.Unix(0, at).UTC(), AvgMS: r.sum / float64(r.n), MaxMS: r.max, Samples: int64(r.n)})
		}
		if s.idx != nil {
			slices.SortFunc(out[start:], func(a, b hub.LatencyPoint) int { return a.At.Compare(b.At) })
		}
	}
	return out
}

// eachCheck calls fn with each check of an encoded sample.
func eachCheck(v []byte, fn func(name []byte, status byte, latency float64)) error {
	if len(v) == 0 {
		return fmt.Errorf("empty sample")
	}
	for i := 1; i < len(v); {
		n, w := binary.Uvarint(v[i:])
		if w <= 0 || n > uint64(len(v)-i-w) || uint64(len(v)-i-w)-n < 9 {
			return fmt.Errorf("corrupt sample")
		}
		i += w
		name := v[i : i+int(n)]
		i += int(n)
		fn(name, v[i], math.Float64frombits(binary.BigEndian.Uint64(v[i+1:])))
		i += 9
	}
	return nil
}

// transitionRecord is a stored transition with what orders it.
type transitionRecord struct {
	at  int64
	seq uint64
	hub.TransitionRecord
}

// QueryHistory implements hub.HistoryStore: latency from the hourly roll-ups when q.Hourly(),
// else from raw samples, and transitions, all in one read transaction.
func (s *Store) QueryHistory(ctx context.Context, q hub.HistoryQuery) (hub.History, error) {
	if q.Step <= 0 {
		return hub.History{}, fmt.Errorf("query history: step must be positive")
	}
	h := hub.History{Transitions: []hub.TransitionRecord{}, Latency: []hub.LatencyPoint{}}
	svc := servicePrefix(q.Tenant, q.Service)
	since, until, step := unixNanos(q.Since), unixNanos(q.Until), int64(q.Step)
	err := s.db.View(func(tx *bbolt.Tx) error {
		lat := latencies{}
		if q.Hourly() {
			from := floorTo(since, int64(time.Hour))
			err := forDays(ctx, tx, prefixRollups, from, until, func(b *bbolt.Bucket) error {
				return scanHistory(ctx, b, svc, q.Instance, from, until, func(_, rest, v []byte) error {
					if len(rest) == 8 {
						return nil // the instance's own row: no latency
					}
					r, ok := decodeRollup(v)
					if !ok {
						return fmt.Errorf("corrupt roll-up row")
					}
					lat.add(rest[8:], floorTo(int64(binary.BigEndian.Uint64(rest)), step), r)
					return nil
				})
			})
			if err != nil {
				return err
			}
		} else {
			err := forDays(ctx, tx, prefixSamples, since, until, func(b *bbolt.Bucket) error {
				return scanHistory(ctx, b, svc, q.Instance, since, until, func(_, rest, v []byte) error {
					at := floorTo(int64(binary.BigEndian.Uint64(rest)), step)
					return eachCheck(v, func(name []byte, _ byte, latency float64) {
						lat.add(name, at, rollup{samples: 1, n: 1, sum: latency, max: latency})
					})
				})
			})
			if err != nil {
				return err
			}
		}
		h.Latency = lat.appendPoints(h.Latency)

		var recs []transitionRecord
		err := forDays(ctx, tx, prefixTransitions, since, until, func(b *bbolt.Bucket) error {
			return scanHistory(ctx, b, svc, q.Instance, since, until, func(instance, rest, v []byte) error {
				if len(rest) != 16 {
					return fmt.Errorf("corrupt transition key")
				}
				var st storedTransition
				if err := json.Unmarshal(v, &st); err != nil {
					return fmt.Errorf("decode transition: %w", err)
				}
				at := int64(binary.BigEndian.Uint64(rest))
				recs = append(recs, transitionRecord{at: at, seq: binary.BigEndian.Uint64(rest[8:]), TransitionRecord: hub.TransitionRecord{
					Instance: string(instance),
					Transition: hub.Transition{
						Key: hub.InstanceKey{Tenant: q.Tenant, Service: q.Service, Instance: string(instance)},
						At:  time.Unix(0, at).UTC(), Check: st.Check, From: st.From, To: st.To, Output: st.Output,
					},
				}})
				return nil
			})
		})
		if err != nil {
			return err
		}
		// Keys order one instance's transitions; the service's interleave by time, then by
		// the order they were written in.
		slices.SortFunc(recs, func(a, b transitionRecord) int { return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.seq, b.seq)) })
		if q.Limit > 0 && len(recs) > q.Limit {
			recs, h.Truncated = recs[len(recs)-q.Limit:], true
		}
		for i := range recs {
			h.Transitions = append(h.Transitions, recs[i].TransitionRecord)
		}
		return nil
	})
	if err != nil {
		return hub.History{}, fmt.Errorf("query history: %w", err)
	}
	return h, nil
}

// Availability implements hub.HistoryStore: raw, it reads the status byte that leads each
// sample; hourly, the instance-level roll-up rows of the hours from q.Since's on.
func (s *Store) Availability(ctx context.Context, q hub.HistoryQuery, hourly bool) (hub.Availability, error) {
	var a hub.Availability
	svc := servicePrefix(q.Tenant, q.Service)
	since, until := unixNanos(q.Since), unixNanos(q.Until)
	err := s.db.View(func(tx *bbolt.Tx) error {
		if hourly {
			from := floorTo(since, int64(time.Hour))
			return forDays(ctx, tx, prefixRollups, from, until, func(b *bbolt.Bucket) error {
				return scanHistory(ctx, b, svc, q.Instance, from, until, func(_, rest, v []byte) error {
					if len(rest) != 8 {
						return nil // a check's row
					}
					r, ok := decodeRollup(v)
					if !ok {
						return fmt.Errorf("corrupt roll-up row")
					}
					a.Samples += int64(r.samples)
					a.Up += int64(r.up)
					return nil
				})
			})
		}
		return forDays(ctx, tx, prefixSamples, since, until, func(b *bbolt.Bucket) error {
			return scanHistory(ctx, b, svc, q.Instance, since, until, func(_, _, v []byte) error {
				if len(v) == 0 {
					return fmt.Errorf("empty sample")
				}
				a.Samples++
				if isUp(v[0]) {
					a.Up++
				}
				return nil
			})
		})
	})
	if err != nil {
		return hub.Availability{}, fmt.Errorf("query availability: %w", err)
	}
	return a, nil
}

// historyDay returns the UTC midnight of a history bucket's day, and whether name is one.
func historyDay(name []byte) (time.Time, bool) {
	if len(name) != 2+len(dayLayout) {
		return time.Time{}, false
	}
	switch string(name[:2]) {
	case prefixSamples, prefixTransitions, prefixRollups:
	default:
		return time.Time{}, false
	}
	d, err := time.Parse(dayLayout, string(name[2:]))
	return d, err == nil
}

// MaintainHistory implements hub.HistoryStore: it deletes the day buckets whose whole day is
// older than now-retention. Buckets are created as writes need them, so nothing is prepared
// ahead. The buckets to drop are found in a read transaction, so a pass that drops nothing
// costs no fsynced commit.
func (s *Store) MaintainHistory(ctx context.Context, now time.Time, retention time.Duration) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("maintain history: %w", err)
	}
	cutoff := now.Add(-retention)
	var drop [][]byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
			if d, ok := historyDay(name); ok && !d.Add(24*time.Hour).After(cutoff) {
				drop = append(drop, bytes.Clone(name))
			}
			return nil
		})
	})
	if err != nil {
		return fmt.Errorf("maintain history: %w", err)
	}
	if len(drop) == 0 {
		return nil
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		for _, name := range drop {
			if err := ctx.Err(); err != nil {
				return err
			}
			// Another pass may have dropped it since the read.
			if err := tx.DeleteBucket(name); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
				return fmt.Errorf("delete %s bucket: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("maintain history: %w", err)
	}
	return nil
}
