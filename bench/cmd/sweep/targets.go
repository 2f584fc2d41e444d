package main

import (
	"fmt"
	"io"
	"strings"
)

// target is one of the performance targets of the engine, checked against
// one run.
type target struct {
	Goal     string
	Measured string
	Status   string // statusMet, statusNotMet or statusNotMeasured
}

const (
	statusMet         = "met"
	statusNotMet      = "**not met**"
	statusNotMeasured = "not measured"
)

// targets checks the engine's performance targets against rep. Every
// comparison is between benchmarks of the same run.
func targets(rep *report) []target {
	redis := func(contention string, g int) *result { return rep.find(kindEngine, "redis", contention, 1, g) }
	var ts []target

	atLeast := func(goal string, r, base *result, min float64) {
		x, ok := ratio(r, base)
		if !ok {
			ts = append(ts, target{goal, "—", statusNotMeasured})
			return
		}
		ts = append(ts, target{goal, formatRatio(x), status(x >= min)})
	}
	atLeast("per-scope, Redis, 64 goroutines: ≥ 0.8× INCR ops/s", redis(perScopeName, 64), rep.incrAt(64), 0.8)
	atLeast("per-scope, Redis, 64 goroutines, with pipelining: ≥ 1.5× INCR ops/s", redis(perScopeName, 64), rep.incrAt(64), 1.5)
	atLeast("hot, Redis, 64 goroutines: ≥ 2× INCR ops/s", redis(hotName, 64), rep.incrAt(64), 2)
	atLeast("hot, Redis, 64 goroutines: ≥ 100× WATCH/MULTI ops/s", redis(hotName, 64), rep.watchMultiAt(hotName, 64), 100)

	hot64 := redis(hotName, 64)
	if v, ok := metric(hot64, unitRetries); ok {
		ts = append(ts, target{"hot, Redis, 64 goroutines: ≤ 0.01 retries/op", formatSmall(v), status(v <= 0.01)})
	} else {
		ts = append(ts, target{"hot, Redis, 64 goroutines: ≤ 0.01 retries/op", "—", statusNotMeasured})
	}
	p99, ok1 := metric(hot64, unitP99)
	incrP99, ok2 := metric(rep.incrAt(64), unitP99)
	if ok1 && ok2 {
		ts = append(ts, target{"hot, Redis, 64 goroutines: p99 ≤ INCR's p99",
			formatNanos(p99) + " vs " + formatNanos(incrP99), status(p99 <= incrP99)})
	} else {
		ts = append(ts, target{"hot, Redis, 64 goroutines: p99 ≤ INCR's p99", "—", statusNotMeasured})
	}

	atLeast("hot, Redis, 8 goroutines: ≥ 0.7× INCR ops/s", redis(hotName, 8), rep.incrAt(8), 0.7)
	atLeast("hot, Redis, 2 processes × 32 goroutines: ≥ 1× INCR ops/s (64 goroutines)",
		rep.find(kindProcs, "redis", hotName, 2, 32), rep.incrAt(64), 1)

	var retries []string
	procsOK, anyProcs := true, false
	for _, r := range sorted(rep.Results) {
		if r.Kind != kindProcs {
			continue
		}
		anyProcs = true
		v, ok := metric(r, unitRetries)
		if !ok {
			procsOK = false
			continue
		}
		retries = append(retries, fmt.Sprintf("%s %s", strings.TrimPrefix(r.Name, "BenchmarkIncrementProcs/"), formatSmall(v)))
	}
	for _, f := range rep.Failed {
		if strings.HasPrefix(f.Name, "BenchmarkIncrementProcs/") {
			procsOK = false
			retries = append(retries, strings.TrimPrefix(f.Name, "BenchmarkIncrementProcs/")+" failed")
		}
	}
	goal := "cross-process: retries/op reported and bounded, every run finishes"
	if anyProcs || !procsOK {
		ts = append(ts, target{goal, strings.Join(retries, "; "), status(procsOK)})
	} else {
		ts = append(ts, target{goal, "—", statusNotMeasured})
	}

	var missing []string
	anyEngine := false
	for _, r := range rep.Results {
		if r.Kind == kindEngine || r.Kind == kindProcs {
			anyEngine = true
			if _, ok := r.Metric(unitAllocs); !ok {
				missing = append(missing, r.Name)
			}
		}
	}
	switch {
	case !anyEngine:
		ts = append(ts, target{"allocs/op reported", "—", statusNotMeasured})
	case len(missing) > 0:
		ts = append(ts, target{"allocs/op reported", "missing in " + strings.Join(missing, ", "), statusNotMet})
	default:
		ts = append(ts, target{"allocs/op reported", "every engine benchmark", statusMet})
	}
	return ts
}

// Contentions as benchmark names spell them.
const (
	hotName      = "hot"
	perScopeName = "per-scope"
)

func metric(r *result, unit string) (float64, bool) {
	if r == nil {
		return 0, false
	}
	return r.Metric(unit)
}

func status(met bool) string {
	if met {
		return statusMet
	}
	return statusNotMet
}

// writeTargets writes the targets as a markdown table.
func writeTargets(w io.Writer, ts []target) {
	fmt.Fprintln(w, "| target | measured | status |")
	fmt.Fprintln(w, "|---|---|---|")
	for _, t := range ts {
		fmt.Fprintf(w, "| %s | %s | %s |\n", t.Goal, t.Measured, t.Status)
	}
}
