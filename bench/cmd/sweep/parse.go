package main

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Kinds of benchmark, from their names.
const (
	kindIncr       = "incr"        // BenchmarkBaseline/incr/g<G>
	kindWatchMulti = "watch-multi" // BenchmarkBaseline/watch-multi/<contention>/g<G>
	kindEngine     = "engine"      // BenchmarkIncrement/<backend>/<contention>/g<G>
	kindProcs      = "procs"       // BenchmarkIncrementProcs/<backend>/<contention>/p<P>xg<G>
)

// Metric units, as the benchmarks report them.
const (
	unitNsPerOp    = "ns/op"
	unitOpsPerSec  = "ops/s"
	unitRetries    = "retries/op"
	unitRoundTrips = "round-trips/op"
	unitRequests   = "requests/op"
	unitP50        = "p50-ns"
	unitP99        = "p99-ns"
	unitAllocs     = "allocs/op"
	unitBytes      = "B/op"
)

// result is one benchmark: its dimensions, parsed from its name, and the
// median of each metric over its runs.
type result struct {
	Name       string // without the -GOMAXPROCS suffix
	Kind       string
	Backend    string // redis for the baselines
	Contention string // hot or per-scope; empty for INCR
	Procs      int    // processes (1 in process)
	Goroutines int    // goroutines per process
	Metrics    map[string]float64
	Runs       int // lines measured; the metrics are their medians

	samples map[string][]float64
}

// Concurrency returns the number of goroutines incrementing, in all
// processes.
func (r *result) Concurrency() int { return r.Procs * r.Goroutines }

// Metric returns the metric of unit and whether it was reported.
func (r *result) Metric(unit string) (float64, bool) {
	v, ok := r.Metrics[unit]
	return v, ok
}

// outcome is a benchmark that did not produce a result.
type outcome struct {
	Name   string
	Reason string // the first line it logged
}

// report is what parse reads from `go test -bench` output.
type report struct {
	CPU     string // the "cpu:" header line
	Results []*result
	Failed  []outcome
	Skipped []outcome
}

var (
	gomaxprocsSuffix = regexp.MustCompile(`-\d+$`)
	engineName       = regexp.MustCompile(`^BenchmarkIncrement/([^/]+)/(hot|per-scope)/g(\d+)$`)
	procsName        = regexp.MustCompile(`^BenchmarkIncrementProcs/([^/]+)/(hot|per-scope)/p(\d+)xg(\d+)$`)
	incrName         = regexp.MustCompile(`^BenchmarkBaseline/incr/g(\d+)$`)
	watchMultiName   = regexp.MustCompile(`^BenchmarkBaseline/watch-multi/(hot|per-scope)/g(\d+)$`)
)

// parseName returns a result with the dimensions named by name (without
// its -GOMAXPROCS suffix).
func parseName(name string) (*result, error) {
	r := &result{Name: name, Procs: 1, Metrics: map[string]float64{}, samples: map[string][]float64{}}
	var err error
	atoi := func(s string) int {
		n, e := strconv.Atoi(s)
		if e != nil || n < 1 {
			err = fmt.Errorf("benchmark %s: bad count %q", name, s)
		}
		return n
	}
	if m := engineName.FindStringSubmatch(name); m != nil {
		r.Kind, r.Backend, r.Contention, r.Goroutines = kindEngine, m[1], m[2], atoi(m[3])
	} else if m := procsName.FindStringSubmatch(name); m != nil {
		r.Kind, r.Backend, r.Contention, r.Procs, r.Goroutines = kindProcs, m[1], m[2], atoi(m[3]), atoi(m[4])
	} else if m := incrName.FindStringSubmatch(name); m != nil {
		r.Kind, r.Backend, r.Goroutines = kindIncr, "redis", atoi(m[1])
	} else if m := watchMultiName.FindStringSubmatch(name); m != nil {
		r.Kind, r.Backend, r.Contention, r.Goroutines = kindWatchMulti, "redis", m[1], atoi(m[2])
	} else {
		return nil, fmt.Errorf("benchmark %s: name does not give its dimensions", name)
	}
	return r, err
}

// parse reads the output of `go test -bench` (with or without -v, any
// -count) and returns its results, in the order they first appear.
func parse(in io.Reader) (*report, error) {
	rep := &report{}
	byName := map[string]*result{}
	var firstLog string
	sc := bufio.NewScanner(in)
	sc.Buffer(nil, 1<<20)
	for lineNo := 1; sc.Scan(); lineNo++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "cpu: "):
			rep.CPU = strings.TrimPrefix(line, "cpu: ")
		case strings.HasPrefix(trimmed, "--- FAIL: Benchmark"), strings.HasPrefix(trimmed, "--- SKIP: Benchmark"):
			fields := strings.Fields(trimmed)
			o := outcome{Name: gomaxprocsSuffix.ReplaceAllString(fields[2], ""), Reason: firstLog}
			if fields[1] == "FAIL:" {
				rep.Failed = append(rep.Failed, o)
			} else {
				rep.Skipped = append(rep.Skipped, o)
			}
		case strings.HasPrefix(line, "Benchmark"):
			firstLog = ""
			fields := strings.Fields(line)
			if len(fields) == 1 {
				continue // -v names a benchmark as it starts
			}
			if err := addLine(rep, byName, fields); err != nil {
				return nil, fmt.Errorf("line %d: %w", lineNo, err)
			}
		case strings.HasPrefix(line, "    ") && firstLog == "":
			firstLog = trimmed // the first line a benchmark logged
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, r := range rep.Results {
		r.Runs = len(r.samples[unitNsPerOp])
		for unit, vs := range r.samples {
			r.Metrics[unit] = median(vs)
		}
	}
	rep.Failed, rep.Skipped = leaves(rep.Failed), leaves(rep.Skipped)
	return rep, nil
}

// addLine adds one result line, split into fields: the name, the
// iteration count, then value and unit pairs.
func addLine(rep *report, byName map[string]*result, fields []string) error {
	if len(fields) < 4 || len(fields)%2 != 0 {
		return fmt.Errorf("malformed benchmark line %q", strings.Join(fields, " "))
	}
	if _, err := strconv.Atoi(fields[1]); err != nil {
		return fmt.Errorf("benchmark %s: bad iteration count %q", fields[0], fields[1])
	}
	name := gomaxprocsSuffix.ReplaceAllString(fields[0], "")
	r := byName[name]
	if r == nil {
		var err error
		if r, err = parseName(name); err != nil {
			return err
		}
		byName[name] = r
		rep.Results = append(rep.Results, r)
	}
	for i := 2; i < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil {
			return fmt.Errorf("benchmark %s: bad value %q of %s", name, fields[i], fields[i+1])
		}
		r.samples[fields[i+1]] = append(r.samples[fields[i+1]], v)
	}
	return nil
}

// leaves drops the outcomes of parent benchmarks that only failed because a
// sub-benchmark did, and repeats of an outcome (-count, several passes).
func leaves(failed []outcome) []outcome {
	var out []outcome
	for _, o := range failed {
		parent := slices.ContainsFunc(failed, func(c outcome) bool { return strings.HasPrefix(c.Name, o.Name+"/") })
		seen := slices.ContainsFunc(out, func(c outcome) bool { return c.Name == o.Name })
		if !parent && !seen {
			out = append(out, o)
		}
	}
	return out
}

// median returns the median of vs, which is not empty.
func median(vs []float64) float64 {
	s := slices.Sorted(slices.Values(vs))
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}
