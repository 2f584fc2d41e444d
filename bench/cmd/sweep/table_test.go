package main

import (
	"strings"
	"testing"
)

// Rows are grouped baselines first, and each ratio divides by the baseline
// of the same run at the same concurrency.
func TestWriteTable(t *testing.T) {
	var b strings.Builder
	writeTable(&b, parseSample(t))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2+8 {
		t.Fatalf("%d lines, want a header, a rule and 8 rows:\n%s", len(lines), b.String())
	}
	wantRows := []string{
		"| `Baseline/incr/g1` | 1 | 50,000 | 1.00× | — | 0 | 1 | 1 | 19 µs | 40 µs | 6 | 200 |",
		"| `Baseline/incr/g64` | 64 | 200,000 | 1.00× | 100× | 0 | 1 | — | 300 µs | 2.00 ms | 8 | 300 |",
		"| `Baseline/watch-multi/hot/g64` | 64 | 2,000 | 0.01× | 1.00× | 8 | 27 | — | 30.00 ms | 100.00 ms | 500 | 30,000 |",
		"| `Baseline/watch-multi/per-scope/g64` | 64 | 10,000 | 0.05× | 1.00× | 0 | 3 | — | 5.00 ms | 20.00 ms | 80 | 10,000 |",
		"| `Increment/redis/hot/g1` | 1 | 40,000 | 0.80× | — | 0 | 1 | — | 24 µs | 50 µs | 27 | 990 |",
		"| `Increment/redis/hot/g64` | 64 | 700,000 | 3.50× | 350× | 0.002 | 0.05 | — | 450 µs | 2.00 ms | 6 | 400 |",
		"| `Increment/redis/per-scope/g64` | 64 | 100,000 | 0.50× | 10.00× | 0 | 1.3 | 0.5 | 3.00 ms | 9.00 ms | 47 | 8,000 |",
		"| `IncrementProcs/redis/hot/p2xg32` | 2 × 32 | 250,000 | 1.25× | 125× | 0.004 | 0.065 | — | 250 µs | 700 µs | 9 | 490 |",
	}
	for i, want := range wantRows {
		if lines[2+i] != want {
			t.Errorf("row %d:\n got %s\nwant %s", i, lines[2+i], want)
		}
	}
}

// Each backend's rows come in the order of backendOrder, postgres after
// mysql, and an unknown backend after them all.
func TestBackendOrder(t *testing.T) {
	var rs []*result
	for _, be := range []string{"other", "postgres", "mysql", "file", "redis"} {
		rs = append(rs, &result{Name: "BenchmarkIncrement/" + be + "/hot/g1", Kind: kindEngine, Backend: be, Contention: "hot", Procs: 1, Goroutines: 1})
	}
	var got []string
	for _, r := range sorted(rs) {
		got = append(got, r.Backend)
	}
	if want := "redis file mysql postgres other"; strings.Join(got, " ") != want {
		t.Fatalf("backends in the order %v; want %s", got, want)
	}
	if backendColors["postgres"] == "" {
		t.Fatal("postgres has no color of its own in the chart")
	}
}

func TestFormats(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{formatCount(1234567.4), "1,234,567"},
		{formatCount(999), "999"},
		{formatCount(6), "6"},
		{formatCount(2.5), "2.5"},
		{formatSmall(0), "0"},
		{formatSmall(0.0012345), "0.00123"},
		{formatNanos(850), "850 ns"},
		{formatNanos(12_400), "12 µs"},
		{formatNanos(3_456_000), "3.46 ms"},
		{formatNanos(2_500_000_000), "2.50 s"},
		{formatRatio(0.456), "0.46×"},
		{formatRatio(123.4), "123×"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestTargets(t *testing.T) {
	ts := targets(parseSample(t))
	want := []struct{ goal, measured, status string }{
		{"per-scope, Redis, 64 goroutines: ≥ 0.8×", "0.50×", statusNotMet},
		{"with pipelining: ≥ 1.5×", "0.50×", statusNotMet},
		{"hot, Redis, 64 goroutines: ≥ 2× INCR", "3.50×", statusMet},
		{"≥ 100× WATCH/MULTI", "350×", statusMet},
		{"≤ 0.01 retries/op", "0.002", statusMet},
		{"p99 ≤ INCR's p99", "2.00 ms vs 2.00 ms", statusMet},
		{"8 goroutines", "—", statusNotMeasured},
		{"2 processes × 32 goroutines", "1.25×", statusMet},
		{"cross-process", "redis/hot/p2xg32 0.004; redis/hot/p4xg16 failed", statusNotMet},
		{"allocs/op reported", "every engine benchmark", statusMet},
	}
	if len(ts) != len(want) {
		t.Fatalf("%d targets, want %d: %+v", len(ts), len(want), ts)
	}
	for i, w := range want {
		if !strings.Contains(ts[i].Goal, w.goal) || ts[i].Measured != w.measured || ts[i].Status != w.status {
			t.Errorf("target %d = %+v, want %+v", i, ts[i], w)
		}
	}
}
