package linearize

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/scoped-go/scoped"
)

// Environment of a child process of CheckProcesses: the place its engines
// use, its index, and the file it writes its history to.
const (
	childPlaceEnv   = "SCOPED_LINEARIZE_PLACE"
	childIndexEnv   = "SCOPED_LINEARIZE_CHILD"
	childHistoryEnv = "SCOPED_LINEARIZE_HISTORY"
)

// Place returns where a test's processes keep their scopes (a directory, a
// key prefix, a table): in the test, the result of newPlace, which may
// register its cleanup; in a child process of CheckProcesses, the parent's,
// without calling newPlace.
func Place(t testing.TB, newPlace func() string) string {
	t.Helper()
	if place, ok := os.LookupEnv(childPlaceEnv); ok {
		return place
	}
	return newPlace()
}

// result is what a child writes: its history and how many calls failed.
type result struct {
	History History
	Failed  int
}

// CheckProcesses runs w in processes child processes (the test binary,
// running t's test alone), which call open to get their engines on place
// (from Place), and fails t unless the history merged from all of them is
// linearizable. Each child makes its share of w's calls with its share of
// the workers, its own client numbers, and times from WallClock, so that
// the times of all compare.
//
// In a child, CheckProcesses runs its share and writes its history for the
// parent; t's test must do nothing after it.
func CheckProcesses(t *testing.T, processes int, w Workload, place string, open func(place string) []*scoped.Engine) {
	t.Helper()
	if index, ok := os.LookupEnv(childIndexEnv); ok {
		runChild(t, index, processes, w, open(place))
		return
	}
	dir := t.TempDir()
	cmds := make([]*exec.Cmd, processes)
	outputs := make([]*bytes.Buffer, processes)
	for i := range cmds {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run="+runPattern(t.Name()), "-test.count=1")
		cmd.Env = append(os.Environ(),
			childPlaceEnv+"="+place,
			childIndexEnv+"="+strconv.Itoa(i),
			childHistoryEnv+"="+filepath.Join(dir, strconv.Itoa(i)+".json"))
		outputs[i] = new(bytes.Buffer)
		cmd.Stdout, cmd.Stderr = outputs[i], outputs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { // a test that failed before it waited for cmd
			if cmd.ProcessState == nil {
				cmd.Process.Kill()
				cmd.Wait()
			}
		})
		cmds[i] = cmd
	}
	var merged History
	var failed int
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v\n%s", i, err, outputs[i])
		}
		b, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(i)+".json"))
		if err != nil {
			t.Fatalf("child %d wrote no history: %v\n%s", i, err, outputs[i])
		}
		var r result
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("child %d: history: %v", i, err)
		}
		merged = append(merged, r.History...)
		failed += r.Failed
	}
	Assert(t, merged, failed)
}

// runChild runs the share of w of the child index, one of processes, on
// engines, and writes its history.
func runChild(t *testing.T, index string, processes int, w Workload, engines []*scoped.Engine) {
	t.Helper()
	i, err := strconv.Atoi(index)
	if err != nil {
		t.Fatalf("$%s: %v", childIndexEnv, err)
	}
	share := w
	share.Workers = max(1, w.Workers/processes)
	share.Ops = w.Ops / processes
	r := NewRecorder(WallClock)
	Record(t.Context(), r, engines, share, i*share.Workers)
	var res result
	res.History, res.Failed = r.History()
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(os.Getenv(childHistoryEnv), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// runPattern returns the -test.run pattern that matches the test name
// alone.
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}
