package main

import (
	"os"
	"strings"
	"testing"
)

func parseSample(t *testing.T) *report {
	t.Helper()
	f, err := os.Open("testdata/sample.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestParseDimensions(t *testing.T) {
	rep := parseSample(t)
	if rep.CPU != "Test CPU @ 3.0GHz" {
		t.Errorf("CPU = %q", rep.CPU)
	}
	want := []struct {
		name, kind, backend, contention string
		procs, goroutines               int
	}{
		{"BenchmarkBaseline/incr/g1", kindIncr, "redis", "", 1, 1},
		{"BenchmarkBaseline/incr/g64", kindIncr, "redis", "", 1, 64},
		{"BenchmarkBaseline/watch-multi/hot/g64", kindWatchMulti, "redis", "hot", 1, 64},
		{"BenchmarkBaseline/watch-multi/per-scope/g64", kindWatchMulti, "redis", "per-scope", 1, 64},
		{"BenchmarkIncrement/redis/hot/g1", kindEngine, "redis", "hot", 1, 1},
		{"BenchmarkIncrement/redis/hot/g64", kindEngine, "redis", "hot", 1, 64},
		{"BenchmarkIncrement/redis/per-scope/g64", kindEngine, "redis", "per-scope", 1, 64},
		{"BenchmarkIncrementProcs/redis/hot/p2xg32", kindProcs, "redis", "hot", 2, 32},
	}
	if len(rep.Results) != len(want) {
		t.Fatalf("%d results, want %d", len(rep.Results), len(want))
	}
	for i, w := range want {
		r := rep.Results[i]
		if r.Name != w.name || r.Kind != w.kind || r.Backend != w.backend || r.Contention != w.contention ||
			r.Procs != w.procs || r.Goroutines != w.goroutines {
			t.Errorf("result %d = %+v, want %+v", i, r, w)
		}
	}
}

// Repeated lines (-count) give one result with the median of each metric.
func TestParseMedians(t *testing.T) {
	rep := parseSample(t)
	r := rep.find(kindEngine, "redis", "hot", 1, 64)
	if r == nil {
		t.Fatal("redis/hot/g64 missing")
	}
	if r.Runs != 2 {
		t.Errorf("Runs = %d, want 2", r.Runs)
	}
	for unit, want := range map[string]float64{
		unitOpsPerSec: 700000, unitRetries: 0.002, unitRoundTrips: 0.05, unitP99: 2000000, unitAllocs: 6, unitNsPerOp: 1125,
	} {
		if got, ok := r.Metric(unit); !ok || got != want {
			t.Errorf("%s = %v (%v), want %v", unit, got, ok, want)
		}
	}
	if r.Concurrency() != 64 || rep.Results[7].Concurrency() != 64 {
		t.Errorf("concurrencies %d and %d, want 64", r.Concurrency(), rep.Results[7].Concurrency())
	}
}

// Failures keep only the benchmark that failed, not its parents; skips and
// failures carry the line they logged.
func TestParseOutcomes(t *testing.T) {
	rep := parseSample(t)
	if len(rep.Failed) != 1 || rep.Failed[0].Name != "BenchmarkIncrementProcs/redis/hot/p4xg16" ||
		rep.Failed[0].Reason != `procs_test.go:123: child exited before "ready"` {
		t.Errorf("Failed = %+v", rep.Failed)
	}
	if len(rep.Skipped) != 1 || rep.Skipped[0].Name != "BenchmarkIncrement/mysql/hot/g1" ||
		!strings.Contains(rep.Skipped[0].Reason, "does not answer") {
		t.Errorf("Skipped = %+v", rep.Skipped)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, input, want string }{
		{"odd fields", "BenchmarkIncrement/redis/hot/g1-2 100 5 ns/op 7\n", "malformed"},
		{"bad count", "BenchmarkIncrement/redis/hot/g1-2 many 5 ns/op\n", "iteration count"},
		{"bad value", "BenchmarkIncrement/redis/hot/g1-2 100 fast ns/op\n", "bad value"},
		{"unknown name", "BenchmarkSomethingElse-2 100 5 ns/op\n", "dimensions"},
		{"zero goroutines", "BenchmarkIncrement/redis/hot/g0-2 100 5 ns/op\n", "bad count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(strings.NewReader(tt.input))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("parse = %v, want an error about %q", err, tt.want)
			}
		})
	}
}

// Output of several passes, one after another, gives each benchmark's
// median over all of them and each failure once.
func TestParsePasses(t *testing.T) {
	sample, err := os.ReadFile("testdata/sample.txt")
	if err != nil {
		t.Fatal(err)
	}
	twice := string(sample) + string(sample)
	rep, err := parse(strings.NewReader(twice))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 8 || len(rep.Failed) != 1 || len(rep.Skipped) != 1 {
		t.Fatalf("%d results, %d failed, %d skipped; want 8, 1, 1", len(rep.Results), len(rep.Failed), len(rep.Skipped))
	}
	r := rep.find(kindEngine, "redis", "hot", 1, 64)
	if r.Runs != 4 || r.Metrics[unitOpsPerSec] != 700000 {
		t.Fatalf("hot/g64: %d runs, %v ops/s; want 4 and 700000", r.Runs, r.Metrics[unitOpsPerSec])
	}
}
