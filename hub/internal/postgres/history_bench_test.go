package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/centralhub/centralhub/hub/internal/pgtest"
	"github.com/centralhub/centralhub/hub/internal/postgres"
	"github.com/centralhub/centralhub/hub/internal/storetest"
)

// weekEnd ends the benchmarks' week: mid-day, so the week touches 8 daily partitions.
var weekEnd = time.Date(2026, 3, 11, 14, 0, 0, 0, time.UTC)

// weekStore is a fresh schema holding storetest.FillWeek's week, analyzed.
func weekStore(b *testing.B) *postgres.Store {
	b.Helper()
	ctx := context.Background()
	url := pgtest.Schema(b)
	s, err := postgres.Open(ctx, url, postgres.Options{Migrate: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	storetest.FillWeek(b, s, weekEnd)

	// A real database has the statistics autovacuum's ANALYZE keeps (it analyzes the daily
	// partitions as they fill); without them the planner guesses at tables it has never
	// seen. The partitioned parent is analyzed too, which autovacuum never does.
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `ANALYZE history_samples, history_transitions, history_hourly`); err != nil {
		b.Fatalf("analyze: %v", err)
	}
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
