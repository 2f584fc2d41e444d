//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package file_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/fallback/file"
)

// The test binary runs itself as a child process when childEnv names a
// role: "increment" (childWorkers goroutines doing childIncrements
// increments each, then exit) or "crash" (one goroutine incrementing until
// killed). Either prints a line to stdout for every increment whose call
// returned, and works in the directory named by childDirEnv. The role
// "transfer" moves money between scopes (many_process_test.go).
const (
	childEnv        = "SCOPED_FILE_TEST_CHILD"
	childDirEnv     = "SCOPED_FILE_TEST_DIR"
	childWorkers    = 5
	childIncrements = 50
	padSize         = 64 << 10
)

// counter is the scope the children increment: a number and a pad that
// repeats its low byte, so that a record of a torn write would show.
type counter struct {
	N   int
	Pad []byte
}

func (c *counter) increment() {
	c.N++
	c.Pad = bytes.Repeat([]byte{byte(c.N)}, padSize)
}

// consistent reports whether c is a counter written by increment.
func (c counter) consistent() bool {
	return c.N == 0 && c.Pad == nil || len(c.Pad) == padSize && bytes.Count(c.Pad, []byte{byte(c.N)}) == padSize
}

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		if err := runChild(role, os.Getenv(childDirEnv)); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runChild(role, dir string) error {
	switch role {
	case "transfer":
		return runTransfers(dir)
	}
	s, err := file.Open(dir)
	if err != nil {
		return err
	}
	e := scoped.New(s)
	ctx := context.Background()
	increment := func() error {
		if _, err := scoped.Update(ctx, e, "counter", func(c *counter) (int, error) {
			c.increment()
			return c.N, nil
		}); err != nil {
			return err
		}
		_, err := fmt.Println("ack")
		return err
	}
	switch role {
	case "increment":
		errs := make(chan error, childWorkers)
		var wg sync.WaitGroup
		for range childWorkers {
			wg.Go(func() {
				for range childIncrements {
					if err := increment(); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		return <-errs
	case "crash":
		for {
			if err := increment(); err != nil {
				return err
			}
			// A scope deleted and re-created over and over: its record
			// file comes and goes, and must survive the kills too.
			if _, err := scoped.Run(ctx, e, "toggle", func(s *scoped.Scope) (struct{}, error) {
				if s.Has("on") {
					return struct{}{}, s.Delete("on")
				}
				return struct{}{}, s.Set("on", true)
			}); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("unknown role %q", role)
}

// child is a running child process and the acknowledgements it sent.
type child struct {
	cmd    *exec.Cmd
	acks   chan struct{} // one per acknowledged increment; closed at EOF
	acked  int           // acknowledgements received so far
	stderr bytes.Buffer
}

func startChild(t *testing.T, role, dir string) *child {
	t.Helper()
	c := &child{acks: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0])
	c.cmd.Env = append(os.Environ(), childEnv+"="+role, childDirEnv+"="+dir)
	c.cmd.Stderr = &c.stderr
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.acks)
		lines := bufio.NewScanner(out)
		for lines.Scan() {
			c.acks <- struct{}{}
		}
	}()
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil { // a test that failed early
			c.cmd.Process.Kill()
			for range c.acks {
			}
			c.cmd.Wait()
		}
	})
	return c
}

// waitAcks waits until a and b acknowledged n increments between them.
func waitAcks(t *testing.T, n int, a, b *child) {
	t.Helper()
	for a.acked+b.acked < n {
		c := a
		select {
		case _, ok := <-a.acks:
			if ok {
				a.acked++
				continue
			}
		case _, ok := <-b.acks:
			if c = b; ok {
				b.acked++
				continue
			}
		}
		err := c.cmd.Wait()
		t.Fatalf("child ended after %d acknowledgements (%v): %s", c.acked, err, c.stderr.Bytes())
	}
}

// waitOwnAcks waits until c acknowledged n increments in all.
func (c *child) waitOwnAcks(t *testing.T, n int) {
	t.Helper()
	for c.acked < n {
		if _, ok := <-c.acks; !ok {
			err := c.cmd.Wait()
			t.Fatalf("child ended after %d acknowledgements (%v): %s", c.acked, err, c.stderr.Bytes())
		}
		c.acked++
	}
}

// wait waits for the child to exit, counting its acknowledgements, and
// fails the test if it did not succeed.
func (c *child) wait(t *testing.T) {
	t.Helper()
	for range c.acks {
		c.acked++
	}
	if err := c.cmd.Wait(); err != nil {
		t.Fatalf("child: %v: %s", err, c.stderr.Bytes())
	}
}

// kill kills the child with SIGKILL and counts the acknowledgements it
// sent before it died.
func (c *child) kill(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatal(err)
	}
	for range c.acks {
		c.acked++
	}
	err := c.cmd.Wait()
	if status, ok := c.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !status.Signaled() || status.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v before it was killed: %s", err, c.stderr.Bytes())
	}
}

// Four processes, each with five goroutines, make 250 increments each of
// one scope through their own engines: the counter ends at exactly 1,000.
func TestMultiProcessIncrements(t *testing.T) {
	const processes = 4
	dir := t.TempDir()
	children := make([]*child, processes)
	for i := range children {
		children[i] = startChild(t, "increment", dir)
	}
	for _, c := range children {
		c.wait(t)
		if c.acked != childWorkers*childIncrements {
			t.Fatalf("a child acknowledged %d increments, want %d", c.acked, childWorkers*childIncrements)
		}
	}
	got := readCounter(t, dir)
	if want := processes * childWorkers * childIncrements; got.N != want {
		t.Fatalf("counter = %d, want %d", got.N, want)
	}
}

// Two processes increment one scope until each is killed with SIGKILL at a
// random moment, round after round. After every round each scope decodes,
// and the counter grew by the increments acknowledged in the round, or by
// those and at most one in flight per process.
func TestCrashSafety(t *testing.T) {
	const rounds = 20
	dir := t.TempDir()
	var before int
	for round := range rounds {
		a, b := startChild(t, "crash", dir), startChild(t, "crash", dir)
		// Wait for acknowledgements from either: while both run, the
		// engine may let one of them lose every commit to the other, as it
		// retries after a backoff with the record it had before it.
		waitAcks(t, 1+rand.IntN(20), a, b)
		time.Sleep(rand.N(2 * time.Millisecond))
		a.kill(t)
		// The survivor goes on past whatever the dead process left behind.
		b.waitOwnAcks(t, b.acked+1+rand.IntN(5))
		time.Sleep(rand.N(2 * time.Millisecond))
		b.kill(t)

		got := readCounter(t, dir)
		acked := a.acked + b.acked
		if got.N < before+acked || got.N > before+acked+2 {
			t.Fatalf("round %d: counter went from %d to %d with %d acknowledged increments; want %d to %d",
				round, before, got.N, acked, before+acked, before+acked+2)
		}
		before = got.N
		e := scoped.New(open(t, dir))
		if _, err := scoped.View(t.Context(), e, "toggle", func(s *scoped.Scope) (bool, error) { return s.Has("on"), nil }); err != nil {
			t.Fatalf("round %d: scope toggle: %v", round, err)
		}
	}
	// After the sweep of a last Open the directory holds the lock files
	// and the records of the two scopes, if toggle has one, and nothing
	// else.
	open(t, dir)
	for _, name := range readDir(t, dir) {
		if name != ".locks" && name != "counter.rec" && name != "toggle.rec" {
			t.Errorf("%s is left after Open", filepath.Join(dir, name))
		}
	}
	if locks := readDir(t, filepath.Join(dir, ".locks")); len(locks) != lockStripes {
		t.Errorf("%d lock files, want %d", len(locks), lockStripes)
	}
	t.Logf("%d increments over %d rounds of two killed processes", before, rounds)
}

// readCounter opens dir and returns the counter, which must be consistent.
func readCounter(t *testing.T, dir string) counter {
	t.Helper()
	c, err := scoped.Read[counter](t.Context(), scoped.New(open(t, dir)), "counter")
	if err != nil {
		t.Fatalf("counter: %v", err)
	}
	if !c.consistent() {
		t.Fatalf("counter %d holds a pad of %d bytes that does not match it", c.N, len(c.Pad))
	}
	return c
}
