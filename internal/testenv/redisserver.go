package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisStartTimeout bounds how long a private redis-server may take to
// answer after it was started.
const redisStartTimeout = 20 * time.Second

// RedisServer is a private redis-server process that a test started on a
// free loopback port, with a t.TempDir() as its working directory. It is
// killed at the test's cleanup, whatever the outcome. Kill and Restart may
// be called from any goroutine.
type RedisServer struct {
	port int
	dir  string
	args []string
	// conf, for a Sentinel: its configuration file, which it rewrites, in
	// dir; the server runs with --sentinel.
	conf string

	mu   sync.Mutex
	proc *redisProcess // nil while killed
}

// redisProcess is one run of redis-server.
type redisProcess struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has been waited for
}

// StartRedis starts a private redis-server with the extra configuration args
// (as on its command line, e.g. "--appendonly", "yes") and waits until it
// answers. Without redis-server on $PATH the test is stopped as by
// Unavailable.
func StartRedis(t testing.TB, args ...string) *RedisServer {
	t.Helper()
	return startRedis(t, false, args)
}

// Addr returns the server's host:port.
func (s *RedisServer) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port returns the server's TCP port.
func (s *RedisServer) Port() int { return s.port }

// Dir returns the server's working directory, where it keeps its data.
func (s *RedisServer) Dir() string { return s.dir }

// Kill stops the server with SIGKILL, as a crash would, and waits until
// the process is gone. Killing a stopped server does nothing.
func (s *RedisServer) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return nil
	}
	err := s.proc.kill()
	s.proc = nil
	return err
}

// Freeze stops the server with SIGSTOP: it keeps its connections but
// answers nothing, as a hung machine would, until it is killed. Freezing a
// stopped server does nothing.
func (s *RedisServer) Freeze() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return nil
	}
	return stopProcess(s.proc.cmd.Process)
}

// Thaw resumes a frozen server with SIGCONT. Thawing a stopped server does
// nothing.
func (s *RedisServer) Thaw() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return nil
	}
	return resumeProcess(s.proc.cmd.Process)
}

// Restart starts the server again on the same port and directory, with the
// same configuration, and waits until it answers. A running server is
// killed first.
func (s *RedisServer) Restart(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		if err := s.proc.kill(); err != nil {
			return err
		}
		s.proc = nil
	}
	p, err := s.launch(ctx)
	if err != nil {
		return err
	}
	s.proc = p
	return nil
}

// startRedis starts a server on a free port, trying other ports if another
// process took the chosen one first. cluster asks for the cluster bus port
// (port+10000) to be free as well.
func startRedis(t testing.TB, cluster bool, args []string) *RedisServer {
	t.Helper()
	return startServer(t, &RedisServer{args: args}, cluster)
}

// startServer starts s, whose args and conf are set, in a new directory on
// a free port.
func startServer(t testing.TB, s *RedisServer, cluster bool) *RedisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		Unavailable(t, "redis-server", err)
	}
	s.dir = t.TempDir()
	t.Cleanup(func() {
		if err := s.Kill(); err != nil {
			t.Errorf("redis-server on port %d: %v", s.port, err)
		}
	})
	var errs []error
	for range 5 {
		s.port = freePort(cluster)
		ctx, cancel := context.WithTimeout(context.Background(), redisStartTimeout)
		p, err := s.launch(ctx)
		cancel()
		if err == nil {
			s.mu.Lock()
			s.proc = p
			s.mu.Unlock()
			return s
		}
		errs = append(errs, err)
	}
	t.Fatalf("starting redis-server: %v", errors.Join(errs...))
	return nil
}

// launch runs redis-server on s's port and directory and waits until that
// very process answers PING.
func (s *RedisServer) launch(ctx context.Context) (*redisProcess, error) {
	var argv []string
	if s.conf != "" {
		conf := filepath.Join(s.dir, "sentinel.conf")
		if err := os.WriteFile(conf, []byte(s.conf), 0o600); err != nil {
			return nil, err
		}
		argv = []string{conf, "--sentinel"} // the file must come first
	}
	argv = append(argv,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--daemonize", "no",
		"--logfile", "redis.log",
	)
	if s.conf == "" {
		// No snapshots; a replica's first sync starts at once, not 5 s
		// later (Redis 7's default delay for a diskless sync).
		argv = append(argv, "--save", "", "--repl-diskless-sync-delay", "0")
	}
	argv = append(argv, s.args...)
	cmd := exec.Command("redis-server", argv...)
	cmd.Dir = s.dir
	cmd.SysProcAttr = killWithParent()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("redis-server: %w", err)
	}
	p := &redisProcess{cmd: cmd, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.exited)
	}()
	if err := p.awaitReady(ctx, s.Addr(), s.conf != ""); err != nil {
		p.kill()
		return nil, fmt.Errorf("redis-server on port %d: %w%s", s.port, err, s.logTail())
	}
	return p, nil
}

// awaitReady polls addr until the server there has loaded its data (a
// Sentinel has none) and says it is this process (another process may
// hold the port).
func (p *redisProcess) awaitReady(ctx context.Context, addr string, sentinel bool) error {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	defer c.Close()
	pid := "\r\nprocess_id:" + strconv.Itoa(p.cmd.Process.Pid) + "\r\n"
	var last error
	for {
		select {
		case <-p.exited:
			return fmt.Errorf("exited at start (%v)", p.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last: %v)", ctx.Err(), last)
		case <-time.After(20 * time.Millisecond):
		}
		info, err := c.Info(ctx, "server", "persistence").Result()
		switch {
		case err != nil:
			last = err
		case !strings.Contains(info, pid):
			return errors.New("another process answers on its port")
		case sentinel, strings.Contains(info, "\r\nloading:0\r\n"):
			return nil
		default:
			last = errors.New("loading its data")
		}
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *redisProcess) kill() error {
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	<-p.exited
	return nil
}

// LogTail returns the end of the server's log (redis.log in its
// directory), for a test's message: empty if there is none.
func (s *RedisServer) LogTail() string {
	b, err := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimSpace(b))
}

// logTail returns the end of the server's log, for an error message.
func (s *RedisServer) logTail() string {
	if tail := s.LogTail(); tail != "" {
		return "; its log ends:\n" + tail
	}
	return ""
}

// freePort returns a loopback port that nothing listens on right now, below
// the ephemeral range so that outgoing connections do not take it; with
// cluster, port+10000 is free as well.
func freePort(cluster bool) int {
	for {
		port := 10000 + rand.IntN(12000)
		if !portFree(port) || cluster && !portFree(port+10000) {
			continue
		}
		return port
	}
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
