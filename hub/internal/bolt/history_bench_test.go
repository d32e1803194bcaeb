package bolt_test

import (
	"testing"
	"time"

	"github.com/centralhub/centralhub/hub/internal/bolt"
	"github.com/centralhub/centralhub/hub/internal/storetest"
)

// weekEnd ends the benchmarks' week: mid-day, so the week touches 8 daily buckets.
var weekEnd = time.Date(2026, 3, 11, 14, 0, 0, 0, time.UTC)

// weekStore is a fresh store holding storetest.FillWeek's week.
func weekStore(b *testing.B) *bolt.Store {
	b.Helper()
	s, err := bolt.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	storetest.FillWeek(b, s, weekEnd)
	return s
}

// BenchmarkHistoryWeek is the 7-day view of one instance with 5 checks: 840 points from the
// hourly roll-ups (goal: under 50 ms).
func BenchmarkHistoryWeek(b *testing.B) {
	storetest.BenchQuery(b, weekStore(b), storetest.WeekQuery(weekEnd), storetest.WeekPoints, storetest.WeekPointSamples)
}

// BenchmarkHistoryRawHour is the last hour of the same instance from raw samples: 1,800
// points (goal: under 20 ms).
func BenchmarkHistoryRawHour(b *testing.B) {
	storetest.BenchQuery(b, weekStore(b), storetest.RawHourQuery(weekEnd), storetest.RawHourPoints, storetest.RawHourPointSamples)
}

// BenchmarkHistoryUptimeWeek is the instance's 7-day uptime from the hourly roll-ups.
func BenchmarkHistoryUptimeWeek(b *testing.B) {
	storetest.BenchUptimeWeek(b, weekStore(b), weekEnd)
}
