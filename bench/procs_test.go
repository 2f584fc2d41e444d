package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/scoped-go/scoped"
)

// The cross-process benchmarks re-execute the test binary, running only
// TestIncrementChild, once per process. The parent passes a childSpec in
// the environment; the child sets up its workers, prints childReady, waits
// for a line on its standard input, runs, and prints childResultPrefix
// followed by its childResult in JSON. Only the run is timed.
const (
	childEnv          = "SCOPED_BENCH_CHILD"
	childReady        = "scoped-bench-child: ready"
	childResultPrefix = "scoped-bench-child: result "
)

// childSpec is what one child process does.
type childSpec struct {
	Backend    string
	Namespace  string
	Contention string
	Goroutines int
	Ops        int // increments, split among the goroutines
}

// childResult is what one child process did.
type childResult struct {
	Ops      int
	Stats    scoped.Stats
	Requests *uint64     // network requests, if the backend counts them
	Latency  [][2]uint64 // histogram.sparse
	Mallocs  uint64      // heap allocations during the run
	Bytes    uint64      // bytes allocated during the run
	Err      string      // why the run failed, if it did
}

// procsCases are the cross-process benchmarks: procs processes of g
// goroutines each, all on one hot scope.
var procsCases = []struct {
	backend  string
	procs, g int
}{
	{"redis", 4, 16},
	{"redis", 2, 32},
	{"file", 4, 16},
}

// BenchmarkIncrementProcs increments one hot msgpack counter from several
// processes at once, each with its own engine and its own goroutines.
func BenchmarkIncrementProcs(b *testing.B) {
	for _, pc := range procsCases {
		be, ok := backendNamed(pc.backend)
		if !ok {
			b.Fatalf("no backend %q", pc.backend)
		}
		name := fmt.Sprintf("%s/%s/p%dxg%d", pc.backend, hot, pc.procs, pc.g)
		b.Run(name, func(b *testing.B) { benchIncrementProcs(b, be, pc.procs, pc.g) })
	}
}

func benchIncrementProcs(b *testing.B, be backend, procs, g int) {
	b.ReportAllocs() // shows allocs/op and B/op, which the children's counts replace
	ns := be.namespace(b)
	shares := split(b.N, procs)
	children := make([]*child, procs)
	for i := range children {
		children[i] = startChild(b, childSpec{
			Backend: be.name, Namespace: ns, Contention: hot, Goroutines: g, Ops: shares[i],
		})
	}
	b.ResetTimer()
	for _, c := range children {
		c.release(b)
	}
	results := make([]childResult, procs)
	for i, c := range children {
		results[i] = c.result(b)
	}
	b.StopTimer()

	var lat histogram
	var st scoped.Stats
	var mallocs, bytes uint64
	for i, r := range results {
		if r.Err != "" {
			b.Fatalf("process %d: %s", i, r.Err)
		}
		if r.Ops != shares[i] {
			b.Fatalf("process %d made %d increments of %d", i, r.Ops, shares[i])
		}
		if err := lat.addSparse(r.Latency); err != nil {
			b.Fatalf("process %d: %v", i, err)
		}
		st = addStats(st, r.Stats)
		mallocs += r.Mallocs
		bytes += r.Bytes
	}
	store, _ := be.open(b, ns)
	verifyCounters(b, scoped.New(store), hot, []int{b.N})
	reportEngineMetrics(b, &lat, st)
	if requests, ok := sumRequests(results); ok {
		reportRequests(b, requests)
	}
	// The parent allocates next to nothing: report the children's.
	b.ReportMetric(float64(mallocs)/float64(b.N), "allocs/op")
	b.ReportMetric(float64(bytes)/float64(b.N), "B/op")
}

// sumRequests returns the network requests of all children, and whether
// every one counted them.
func sumRequests(results []childResult) (uint64, bool) {
	var n uint64
	for _, r := range results {
		if r.Requests == nil {
			return 0, false
		}
		n += *r.Requests
	}
	return n, true
}

// child is a running child process.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  *bufio.Scanner
	stderr *bytes.Buffer
}

// startChild starts a process running spec and waits until it is ready. It
// is killed at b's cleanup if still running.
func startChild(b *testing.B, spec childSpec) *child {
	b.Helper()
	js, err := json.Marshal(spec)
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.CommandContext(b.Context(), os.Args[0], "-test.run=^TestIncrementChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+string(js))
	c := &child{cmd: cmd, stderr: new(bytes.Buffer)}
	cmd.Stderr = c.stderr
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	c.lines = bufio.NewScanner(stdout)
	c.lines.Buffer(nil, 1<<20)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		c.stdin.Close()
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	if _, err := c.await(childReady); err != nil {
		b.Fatal(err)
	}
	return c
}

// release tells the child to start.
func (c *child) release(b *testing.B) {
	b.Helper()
	if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
		b.Fatalf("releasing child: %v", err)
	}
}

// result waits for the child's result and for its exit.
func (c *child) result(b *testing.B) childResult {
	b.Helper()
	line, err := c.await(childResultPrefix)
	if err != nil {
		b.Fatal(err)
	}
	var r childResult
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, childResultPrefix)), &r); err != nil {
		b.Fatalf("child result %q: %v", line, err)
	}
	for c.lines.Scan() { // drain the pipe before Wait
	}
	if err := c.cmd.Wait(); err != nil {
		b.Fatalf("child: %v\n%s", err, c.stderr)
	}
	return r
}

// await reads the child's output up to the first line that begins with
// prefix, and returns that line.
func (c *child) await(prefix string) (string, error) {
	var seen []string
	for c.lines.Scan() {
		line := c.lines.Text()
		if strings.HasPrefix(line, prefix) {
			return line, nil
		}
		seen = append(seen, line)
	}
	return "", fmt.Errorf("child exited before %q (%v):\n%s\n%s", prefix, c.lines.Err(), strings.Join(seen, "\n"), c.stderr)
}

// TestIncrementChild is one process of BenchmarkIncrementProcs. It runs
// only as such, when the parent sets SCOPED_BENCH_CHILD.
func TestIncrementChild(t *testing.T) {
	js := os.Getenv(childEnv)
	if js == "" {
		t.Skip("a child process of BenchmarkIncrementProcs; runs only when started by it")
	}
	var spec childSpec
	if err := json.Unmarshal([]byte(js), &spec); err != nil {
		t.Fatalf("$%s: %v", childEnv, err)
	}
	be, ok := backendNamed(spec.Backend)
	if !ok {
		t.Fatalf("$%s: no backend %q", childEnv, spec.Backend)
	}
	store, requests := be.open(t, spec.Namespace)
	e := scoped.New(store)
	scopes := make([]string, spec.Goroutines)
	for w := range scopes {
		scopes[w] = scopeOf(spec.Contention, w)
	}
	c := newCrew(t.Context(), split(spec.Ops, spec.Goroutines), engineIncrement(e, scopes))
	fmt.Println(childReady)
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		t.Fatalf("waiting for the parent: %v", err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	sent := requests.count()
	err := c.run()
	sent = requests.count() - sent
	runtime.ReadMemStats(&after)
	r := childResult{
		Ops:     c.ops(),
		Stats:   e.Stats(),
		Latency: c.latency().sparse(),
		Mallocs: after.Mallocs - before.Mallocs,
		Bytes:   after.TotalAlloc - before.TotalAlloc,
	}
	if requests != nil {
		r.Requests = &sent
	}
	if err != nil {
		r.Err = err.Error()
	}
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println(childResultPrefix + string(out))
}
