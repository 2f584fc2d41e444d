package bench

import (
	"testing"

	"github.com/scoped-go/scoped"
)

// Units of the metrics every benchmark reports beside ns/op. bench/cmd/sweep
// reads them by these names.
const (
	unitOpsPerSec  = "ops/s"          // increments per second of wall time
	unitRetries    = "retries/op"     // attempts beyond each increment's first
	unitRoundTrips = "round-trips/op" // Store calls (engine) or requests (baselines)
	unitRequests   = "requests/op"    // network requests, counted at the client
	unitP50        = "p50-ns"         // median latency of one increment
	unitP99        = "p99-ns"         // 99th percentile latency
)

// reportMetrics reports the metrics of a run of b.N increments, timed by
// b's timer, with the given retries and round trips in total.
func reportMetrics(b *testing.B, lat *histogram, retries, roundTrips uint64) {
	b.Helper()
	n := float64(b.N)
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(n/s, unitOpsPerSec)
	}
	b.ReportMetric(float64(retries)/n, unitRetries)
	b.ReportMetric(float64(roundTrips)/n, unitRoundTrips)
	b.ReportMetric(float64(lat.quantile(0.50)), unitP50)
	b.ReportMetric(float64(lat.quantile(0.99)), unitP99)
}

// reportRequests reports n network requests for b.N increments, where the
// client can count them.
func reportRequests(b *testing.B, n uint64) {
	b.ReportMetric(float64(n)/float64(b.N), unitRequests)
}

// reportEngineMetrics reports the metrics of b.N increments made through
// engines whose counters add up to st.
func reportEngineMetrics(b *testing.B, lat *histogram, st scoped.Stats) {
	b.Helper()
	if st.Calls != uint64(b.N) {
		b.Fatalf("the engines counted %d calls for %d increments", st.Calls, b.N)
	}
	reportMetrics(b, lat, st.Retries, st.Loads+st.Writes)
}

// addStats returns the sum of two engines' counters.
func addStats(a, b scoped.Stats) scoped.Stats {
	return scoped.Stats{
		Calls:     a.Calls + b.Calls,
		Loads:     a.Loads + b.Loads,
		Writes:    a.Writes + b.Writes,
		Conflicts: a.Conflicts + b.Conflicts,
		Retries:   a.Retries + b.Retries,
	}
}
