package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/testenv"
)

// The end-to-end tests run the built command, without -race: it is a process
// of its own, and the load is what it measures.

// buildCounter builds the command into a temporary directory.
func buildCounter(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and loads the command")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "counter")
	out, err := exec.Command(goCmd, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// backend is a store for the command: its -store and -mysql-pool arguments.
type backend struct {
	name  string
	store func(t *testing.T, prefix string) []string
}

var backends = []backend{
	{"file", func(t *testing.T, _ string) []string { return []string{"-store", t.TempDir()} }},
	{"redis", func(t *testing.T, prefix string) []string {
		c := testenv.Redis(t) // skips the test if Redis does not answer
		t.Cleanup(func() { testenv.DeleteKeys(t, c, "scoped:{"+prefix+"*") })
		return []string{"-store", "redis://" + testenv.RedisAddr() + "/0"}
	}},
	{"mysql", func(t *testing.T, prefix string) []string {
		db := testenv.MySQL(t) // skips the test if MySQL does not answer
		t.Cleanup(func() {
			if _, err := db.Exec("DELETE FROM scoped_scopes WHERE name LIKE ?", prefix+"%"); err != nil {
				t.Errorf("cleaning up: %v", err)
			}
		})
		return []string{"-store", testenv.MySQLDSN(), "-mysql-pool", "8"}
	}},
	{"postgres", func(t *testing.T, prefix string) []string {
		pool := testenv.Postgres(t) // skips the test if PostgreSQL does not answer
		t.Cleanup(func() {
			// The command creates the default table if it is missing.
			if _, err := pool.Exec(context.Background(), "DELETE FROM scoped_scopes WHERE name LIKE $1", prefix+"%"); err != nil {
				t.Errorf("cleaning up: %v", err)
			}
		})
		return []string{"-store", testenv.PostgresURL(), "-mysql-pool", "8"}
	}},
}

// process is the command, serving.
type process struct {
	cmd    *exec.Cmd
	url    string
	stderr *os.File
	exited chan error
}

// start runs the built command with -serve and args, and waits until it
// prints the URL it serves.
func start(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"-serve", "-addr", "127.0.0.1:0"}, args...)...)
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, stderr: stderr, exited: make(chan error, 1)}
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		if url, ok := strings.CutPrefix(lines.Text(), "serving "); ok {
			p.url = url
			break
		}
	}
	go func() {
		io.Copy(io.Discard, stdout)
		p.exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			b, _ := os.ReadFile(stderr.Name())
			t.Logf("the command's stderr:\n%s", b)
		}
	})
	if p.url == "" {
		cmd.Process.Kill()
		t.Fatalf("the command printed no URL")
	}
	return p
}

// storedCalls reads the count of each scope straight from the store.
func storedCalls(t *testing.T, storeArgs []string, names ...string) map[string]int {
	t.Helper()
	st, err := openStore(t.Context(), storeArgs[1], 2)
	if err != nil {
		t.Fatal(err)
	}
	defer st.close()
	e := scoped.New(st.store)
	defer e.Close(context.Background())
	got := map[string]int{}
	for _, name := range names {
		n, err := scoped.View(t.Context(), e, name, func(s *scoped.Scope) (int, error) {
			return scoped.Get[int](s, "calls")
		})
		if err != nil {
			t.Fatalf("reading %s: %v", name, err)
		}
		got[name] = n
	}
	return got
}

// newClient returns a keep-alive client of at most conns connections. It
// counts in resets the reads and writes that failed with ECONNRESET or EPIPE,
// which the transport may otherwise hide by sending a GET again.
func newClient(conns int, resets *atomic.Int64) *http.Client {
	var d net.Dialer
	return &http.Client{
		Transport: &http.Transport{
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := d.DialContext(ctx, network, addr)
				if err != nil {
					return nil, err
				}
				return &watchedConn{Conn: c, resets: resets}, nil
			},
		},
		Timeout: 30 * time.Second,
	}
}

// watchedConn counts the resets of its connection.
type watchedConn struct {
	net.Conn
	resets *atomic.Int64
}

func (c *watchedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.note(err)
	return n, err
}

func (c *watchedConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.note(err)
	return n, err
}

func (c *watchedConn) note(err error) {
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		c.resets.Add(1)
	}
}

// targets are the scopes a load sends to, by connection: global twice as
// often as ann, ann twice as often as bob.
var targets = []struct{ query, scope string }{
	{"", "global"}, {"", "global"}, {"", "global"}, {"", "global"},
	{"?user=ann", "user:ann"}, {"?user=ann", "user:ann"}, {"?user=bob", "user:bob"},
}

func TestEndToEnd(t *testing.T) {
	bin := buildCounter(t)
	const conns, requests = 200, 20000
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			prefix := testenv.UniqueName("e2e-counter-") + "/"
			storeArgs := b.store(t, prefix)
			p := start(t, bin, append([]string{"-prefix", prefix}, storeArgs...)...)

			var resets atomic.Int64
			client := newClient(conns, &resets)
			defer client.CloseIdleConnections()
			var ok [7]atomic.Int64 // 200 responses by target
			var failures atomic.Int64
			begin := time.Now()
			var wg sync.WaitGroup
			for c := range conns {
				wg.Go(func() {
					target := c % len(targets)
					for range requests / conns {
						if _, err := get(t.Context(), client, p.url+targets[target].query); err != nil {
							if failures.Add(1) <= 5 {
								t.Error(err)
							}
							continue
						}
						ok[target].Add(1)
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(begin)
			t.Logf("%d requests over %d connections in %v: %.0f/s", requests, conns, elapsed.Round(time.Millisecond), requests/elapsed.Seconds())
			if n := failures.Load(); n > 0 {
				t.Errorf("%d requests failed", n)
			}
			if n := resets.Load(); n > 0 {
				t.Errorf("%d connections were reset", n)
			}

			want := map[string]int{}
			answered := 0
			for i, tg := range targets {
				want[prefix+tg.scope] += int(ok[i].Load())
				answered += int(ok[i].Load())
			}
			written := map[string]string{"scoped_call_kind": "run", "scoped_call_outcome": "written"}
			if n := sum(t, scrape(t, client, p.url+"metrics"), "scoped_calls_total", written); n != float64(answered) {
				t.Errorf("/metrics counts %v written runs, answered 200 %d times", n, answered)
			}
			client.CloseIdleConnections() // else the command drains them for -drain
			p.cmd.Process.Signal(syscall.SIGTERM)
			if err := <-p.exited; err != nil {
				t.Errorf("the command exited: %v", err)
			}
			p.exited <- nil // for the cleanup
			got := storedCalls(t, storeArgs, prefix+"global", prefix+"user:ann", prefix+"user:bob")
			for name, n := range want {
				if got[name] != n {
					t.Errorf("%s: stored %d, answered 200 %d times", name, got[name], n)
				}
			}
			logs, err := os.ReadFile(p.stderr.Name())
			if err != nil || !strings.Contains(string(logs), "msg=request method=GET path=/ status=200") {
				t.Errorf("no request log on stderr: %v", err)
			}
			if got[prefix+"user:bob"] == got[prefix+"user:ann"] {
				t.Errorf("the users' counts are the same: %v", got)
			}
		})
	}
}

// TestShutdownUnderLoad sends SIGTERM while clients keep sending: every
// request answered 200 is stored, none is answered otherwise, and no
// connection is reset; once the server stops listening, the clients' new
// connections are refused. The command exits 0.
func TestShutdownUnderLoad(t *testing.T) {
	bin := buildCounter(t)
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			prefix := testenv.UniqueName("e2e-counter-") + "/"
			storeArgs := b.store(t, prefix)
			p := start(t, bin, append([]string{"-prefix", prefix}, storeArgs...)...)

			const conns = 50
			var resets atomic.Int64
			client := newClient(conns, &resets)
			defer client.CloseIdleConnections()
			var acked, refused atomic.Int64
			var errs []error
			var mu sync.Mutex
			var wg sync.WaitGroup
			for range conns {
				wg.Go(func() {
					for {
						_, err := get(t.Context(), client, p.url)
						if err == nil {
							acked.Add(1)
							continue
						}
						if errors.Is(err, syscall.ECONNREFUSED) {
							refused.Add(1)
						} else {
							mu.Lock()
							errs = append(errs, err)
							mu.Unlock()
						}
						return
					}
				})
			}
			for acked.Load() < 2000 {
				time.Sleep(10 * time.Millisecond)
			}
			signalled := acked.Load()
			p.cmd.Process.Signal(syscall.SIGTERM)
			wg.Wait()
			if err := <-p.exited; err != nil {
				t.Errorf("the command exited: %v", err)
			}
			p.exited <- nil // for the cleanup
			t.Logf("%d requests answered 200 (%d before SIGTERM); %d clients then refused", acked.Load(), signalled, refused.Load())
			if n := resets.Load(); n > 0 {
				t.Errorf("%d connections were reset", n)
			}
			if len(errs) > 0 {
				t.Errorf("%d clients failed otherwise than refused: %v", len(errs), errors.Join(errs...))
			}
			got := storedCalls(t, storeArgs, prefix+"global")[prefix+"global"]
			if got != int(acked.Load()) {
				t.Errorf("stored %d, answered 200 %d times", got, acked.Load())
			}
		})
	}
}
