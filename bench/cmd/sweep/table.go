package main

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// find returns the result of the given dimensions, or nil.
func (rep *report) find(kind, backend, contention string, procs, goroutines int) *result {
	for _, r := range rep.Results {
		if r.Kind == kind && r.Backend == backend && r.Contention == contention && r.Procs == procs && r.Goroutines == goroutines {
			return r
		}
	}
	return nil
}

// incrAt returns the INCR baseline at the given concurrency, or nil.
func (rep *report) incrAt(concurrency int) *result {
	return rep.find(kindIncr, "redis", "", 1, concurrency)
}

// watchMultiAt returns the WATCH/MULTI baseline of the given contention and
// concurrency, or nil.
func (rep *report) watchMultiAt(contention string, concurrency int) *result {
	return rep.find(kindWatchMulti, "redis", contention, 1, concurrency)
}

// ratio returns r's ops/s over base's, and whether both are known.
func ratio(r, base *result) (float64, bool) {
	if r == nil || base == nil {
		return 0, false
	}
	a, ok1 := r.Metric(unitOpsPerSec)
	b, ok2 := base.Metric(unitOpsPerSec)
	if !ok1 || !ok2 || b == 0 {
		return 0, false
	}
	return a / b, true
}

var (
	kindOrder    = []string{kindIncr, kindWatchMulti, kindEngine, kindProcs}
	backendOrder = []string{"redis", "file", "mysql", "postgres"}
)

// rank orders s by its place in order, unknown values last.
func rank(order []string, s string) int {
	if i := slices.Index(order, s); i >= 0 {
		return i
	}
	return len(order)
}

// sorted returns the results grouped as the table shows them: baselines,
// then each backend in process, then across processes.
func sorted(rs []*result) []*result {
	out := slices.Clone(rs)
	slices.SortStableFunc(out, func(a, b *result) int {
		return cmp.Or(
			cmp.Compare(rank(kindOrder, a.Kind), rank(kindOrder, b.Kind)),
			cmp.Compare(rank(backendOrder, a.Backend), rank(backendOrder, b.Backend)),
			strings.Compare(a.Backend, b.Backend),
			strings.Compare(a.Contention, b.Contention),
			cmp.Compare(a.Concurrency(), b.Concurrency()),
			cmp.Compare(b.Procs, a.Procs),
		)
	})
	return out
}

// writeTable writes the results as a markdown table, with each one's ops/s
// as a multiple of the baselines' at the same concurrency.
func writeTable(w io.Writer, rep *report) {
	fmt.Fprintln(w, "| benchmark | goroutines | ops/s | × INCR | × WATCH/MULTI | retries/op | round trips/op | requests/op | p50 | p99 | allocs/op | B/op |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, r := range sorted(rep.Results) {
		contention := cmp.Or(r.Contention, "hot")
		cells := []string{
			"`" + strings.TrimPrefix(r.Name, "Benchmark") + "`",
			goroutinesCell(r),
			metricCell(r, unitOpsPerSec, formatCount),
			ratioCell(r, rep.incrAt(r.Concurrency())),
			ratioCell(r, rep.watchMultiAt(contention, r.Concurrency())),
			metricCell(r, unitRetries, formatSmall),
			metricCell(r, unitRoundTrips, formatSmall),
			metricCell(r, unitRequests, formatSmall),
			metricCell(r, unitP50, formatNanos),
			metricCell(r, unitP99, formatNanos),
			metricCell(r, unitAllocs, formatCount),
			metricCell(r, unitBytes, formatCount),
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
}

func goroutinesCell(r *result) string {
	if r.Procs > 1 {
		return fmt.Sprintf("%d × %d", r.Procs, r.Goroutines)
	}
	return strconv.Itoa(r.Goroutines)
}

func metricCell(r *result, unit string, format func(float64) string) string {
	if v, ok := r.Metric(unit); ok {
		return format(v)
	}
	return "—"
}

func ratioCell(r, base *result) string {
	if x, ok := ratio(r, base); ok {
		return formatRatio(x)
	}
	return "—"
}

// formatCount formats a count with thousands separators, and with one
// decimal when it is a fraction below 10.
func formatCount(v float64) string {
	if v < 10 && v != math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	s := strconv.FormatFloat(v, 'f', 0, 64)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// formatSmall formats a per-op count with three significant digits.
func formatSmall(v float64) string {
	if v == 0 {
		return "0"
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

func formatRatio(x float64) string {
	if x >= 100 {
		return fmt.Sprintf("%.0f×", x)
	}
	return fmt.Sprintf("%.2f×", x)
}

// formatNanos formats a latency in nanoseconds with a fitting unit.
func formatNanos(v float64) string {
	d := time.Duration(v)
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%d ns", d)
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", v/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.2f ms", v/1e6)
	default:
		return fmt.Sprintf("%.2f s", v/1e9)
	}
}
