package protocol_test

import (
	"testing"

	"github.com/centralhub/centralhub/pkg/protocol"
)

// benchReport is a typical heartbeat: five checks with outputs, latencies and times, two of
// them probing components, as the load runs of `make bench` send (about 1.4 KB).
const benchReport = `{"version":1,"tenant":"default","service":"svc-042","instance":"i-04217",` +
	`"address":"10.0.16.121:8080","agent_version":"bench-1.0.0","runbook":"https://wiki.example/runbooks/svc-042",` +
	`"tags":["bench","zone-c"],"meta":{"pod":"svc-042-i-04217","zone":"c"},"boot":1764215000000000000,` +
	`"seq":1234,"sent_at":"2026-11-27T04:40:01.123456789Z","interval":"10s","depends_on":["svc-043","postgres-main"],` +
	`"checks":[` +
	`{"name":"web","kind":"http","status":"passing","output":"HTTP 200 OK in 8.0 ms","latency_ms":7.968,` +
	`"checked_at":"2026-11-27T04:39:58.931202095Z"},` +
	`{"name":"db","kind":"tcp","status":"passing","output":"connected to 10.1.0.5:5432 in 0.32 ms","latency_ms":0.321,` +
	`"checked_at":"2026-11-27T04:39:52.957044216Z","component":"postgres-main","critical":true},` +
	`{"name":"cache","kind":"tcp","status":"passing","output":"connected to 10.1.0.6:6379 in 0.16 ms","latency_ms":0.156,` +
	`"checked_at":"2026-11-27T04:39:59.489615963Z","component":"redis-main"},` +
	`{"name":"queue","kind":"exec","status":"passing","output":"queue depth 90 (max 100)","latency_ms":27.883,` +
	`"checked_at":"2026-11-27T04:39:55.727494715Z"},` +
	`{"name":"upstream","kind":"http","status":"passing","output":"HTTP 200 OK in 25.8 ms","latency_ms":25.783,` +
	`"checked_at":"2026-11-27T04:39:58.564430055Z","runbook":"https://wiki.example/runbooks/svc-042#upstream"}],` +
	`"config":{"status":"in_sync","version":"v4","problems":[]}}`

// BenchmarkDecodeReport decodes and validates one report, as the hub does for every ingest
// (the body already in memory).
func BenchmarkDecodeReport(b *testing.B) {
	body := []byte(benchReport)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		rep, err := protocol.Unmarshal(body)
		if err != nil {
			b.Fatal(err)
		}
		if err := rep.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}
