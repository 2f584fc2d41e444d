package redisstore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/testenv"
	"github.com/scoped-go/scoped/redisstore"
)

// modes are the two ways a store sends a call: on its own, or in a pipeline.
var modes = []struct {
	name string
	opt  redisstore.Option
}{
	{"direct", redisstore.WithoutPipelining()},
	{"pipelined", redisstore.WithPipelining(0, 1)},
}

// Error replies that refuse a script before it writes make errors matching
// scoped.ErrNotApplied, through go-redis's own parsing, on their own and in
// pipelines; other replies do not. The server is a fake that answers every
// script call with the reply.
func TestRefusalReplies(t *testing.T) {
	for _, tt := range []struct {
		reply string
		want  bool
	}{
		{"LOADING Redis is loading the dataset in memory", true},
		{"BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.", true},
		{"READONLY You can't write against a read only replica. script: 1f2e, on @user_script:31.", true},
		{"MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.", true},
		{"TRYAGAIN Multiple keys request during rehashing of slot", true},
		{"CLUSTERDOWN Hash slot not served", true},
		{"NOREPLICAS Not enough good replicas to write.", true},
		{"OOM command not allowed when used memory > 'maxmemory'.", true},
		{"ERR max number of clients reached", true},
		{"ERR Error running script (call to f_1f2e): @user_script:31: something", false},
		{"BUSYKEY Target key name already exists.", false},
		{"NOPERM this user has no permissions to run the 'evalsha' command", false},
		{"MOVED 3999 127.0.0.1:6381", false},
	} {
		t.Run(strings.Fields(tt.reply)[0], func(t *testing.T) {
			addr := startFakeRedis(t, tt.reply)
			for _, mode := range modes {
				c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
				t.Cleanup(func() { c.Close() })
				s := redisstore.New(c, mode.opt)
				ctx := t.Context()
				rev := scoped.Revision{Version: 1, Writer: scoped.NewToken()}
				_, err1 := s.Load(ctx, "a")
				_, _, err2 := s.CompareAndSet(ctx, "a", rev, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()})
				_, _, err3 := s.Delete(ctx, "a", rev)
				_, _, err4 := s.CompareAndSetMany(ctx, []scoped.Change{
					{Name: "a", Expected: rev, Action: scoped.ActionSet, Write: scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()}},
					{Name: "b", Action: scoped.ActionCheck},
				})
				for i, err := range []error{err1, err2, err3, err4} {
					what := []string{"Load", "CompareAndSet", "Delete", "CompareAndSetMany"}[i]
					if err == nil || !strings.Contains(err.Error(), tt.reply) {
						t.Errorf("%s %s: %v; want the reply %q", mode.name, what, err, tt.reply)
					}
					if got := errors.Is(err, scoped.ErrNotApplied); got != tt.want {
						t.Errorf("%s %s: %v matches scoped.ErrNotApplied: %v, want %v", mode.name, what, err, got, tt.want)
					}
				}
			}
		})
	}
}

// startFakeRedis starts a TCP server that speaks enough RESP for go-redis:
// it answers HELLO with an unknown-command error (the client falls back to
// RESP2), EVALSHA and EVAL with the error reply, and anything else with OK.
// It stops at the test's cleanup.
func startFakeRedis(t *testing.T, reply string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn)
			mu.Unlock()
			wg.Go(func() { serveFake(conn, reply) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func serveFake(conn net.Conn, reply string) {
	defer conn.Close()
	r := bufio.NewReader(conn)
	for {
		args, err := readCommand(r)
		if err != nil {
			return
		}
		var out string
		switch strings.ToLower(args[0]) {
		case "hello":
			out = "-ERR unknown command 'HELLO'\r\n"
		case "evalsha", "eval":
			out = "-" + reply + "\r\n"
		default:
			out = "+OK\r\n"
		}
		if _, err := io.WriteString(conn, out); err != nil {
			return
		}
	}
}

// readCommand reads one command, an array of bulk strings.
func readCommand(r *bufio.Reader) ([]string, error) {
	line := func(prefix byte) (int, error) {
		s, err := r.ReadString('\n')
		if err != nil {
			return 0, err
		}
		if len(s) < 3 || s[0] != prefix {
			return 0, fmt.Errorf("unexpected line %q", s)
		}
		return strconv.Atoi(strings.TrimSpace(s[1:]))
	}
	n, err := line('*')
	if err != nil {
		return nil, err
	}
	args := make([]string, n)
	for i := range args {
		size, err := line('$')
		if err != nil {
			return nil, err
		}
		buf := make([]byte, size+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		args[i] = string(buf[:size])
	}
	if n == 0 {
		return nil, errors.New("empty command")
	}
	return args, nil
}

// isReply reports whether err holds a Redis error reply beginning with
// prefix.
func isReply(err error, prefix string) bool {
	var reply redis.Error
	return errors.As(err, &reply) && strings.HasPrefix(reply.Error(), prefix)
}

// A replica refuses writes (READONLY, raised by the script's write: it
// declares no flags, so Redis runs it and refuses its first write), and a
// replica whose master is gone with replica-serve-stale-data no refuses
// reads too (MASTERDOWN). Both match scoped.ErrNotApplied and change
// nothing.
func TestReplicaRefusals(t *testing.T) {
	master := testenv.StartRedis(t, "--repl-diskless-sync-delay", "0") // sync at once
	replica := testenv.StartRedis(t, "--replicaof", "127.0.0.1", strconv.Itoa(master.Port()),
		"--replica-serve-stale-data", "no")
	mc := redis.NewClient(&redis.Options{Addr: master.Addr()})
	rc := redis.NewClient(&redis.Options{Addr: replica.Addr(), MaxRetries: -1})
	t.Cleanup(func() { mc.Close(); rc.Close() })
	ctx := t.Context()
	rec, ok, err := redisstore.New(mc).CompareAndSet(ctx, "a", scoped.Revision{}, scoped.Write{Value: []byte("one"), Writer: scoped.NewToken()})
	if !ok || err != nil {
		t.Fatalf("CompareAndSet on the master = %v, %v", ok, err)
	}
	awaitReplica(t, redisstore.New(rc), rec)

	for _, mode := range modes {
		s := redisstore.New(rc, mode.opt)
		checkRefused(t, mode.name+" CompareAndSet", "READONLY", func() error {
			_, _, err := s.CompareAndSet(ctx, "a", rec.Revision(), scoped.Write{Value: []byte("two"), Writer: scoped.NewToken()})
			return err
		})
		checkRefused(t, mode.name+" CompareAndSet of a new scope", "READONLY", func() error {
			_, _, err := s.CompareAndSet(ctx, "b", scoped.Revision{}, scoped.Write{Value: []byte("two"), Writer: scoped.NewToken()})
			return err
		})
		checkRefused(t, mode.name+" Delete", "READONLY", func() error {
			_, _, err := s.Delete(ctx, "a", rec.Revision())
			return err
		})
		// Nothing to write: a replica can answer that.
		if _, ok, err := s.Delete(ctx, "b", scoped.Revision{}); !ok || err != nil {
			t.Errorf("%s Delete of a scope without a record on a replica = %v, %v; want success", mode.name, ok, err)
		}
	}
	if got, err := redisstore.New(mc).Load(ctx, "a"); err != nil || got.Revision() != rec.Revision() {
		t.Fatalf("Load on the master after the refused writes = %+v, %v; want %+v", got, err, rec)
	}

	if err := master.Kill(); err != nil {
		t.Fatal(err)
	}
	awaitInfo(t, rc, "replication", "master_link_status:down")
	for _, mode := range modes {
		s := redisstore.New(rc, mode.opt)
		checkRefused(t, mode.name+" Load", "MASTERDOWN", func() error {
			_, err := s.Load(ctx, "a")
			return err
		})
		checkRefused(t, mode.name+" CompareAndSet", "MASTERDOWN", func() error {
			_, _, err := s.CompareAndSet(ctx, "a", rec.Revision(), scoped.Write{Value: []byte("two"), Writer: scoped.NewToken()})
			return err
		})
		checkRefused(t, mode.name+" Delete", "MASTERDOWN", func() error {
			_, _, err := s.Delete(ctx, "a", rec.Revision())
			return err
		})
	}
}

// checkRefused runs call and checks that it fails with the refusal, an error
// matching scoped.ErrNotApplied.
func checkRefused(t *testing.T, what, refusal string, call func() error) {
	t.Helper()
	if err := call(); !isReply(err, refusal) || !errors.Is(err, scoped.ErrNotApplied) {
		t.Errorf("%s: %v; want a %s reply matching scoped.ErrNotApplied", what, err, refusal)
	}
}

// awaitReplica waits until s, on a replica, loads rec.
func awaitReplica(t *testing.T, s *redisstore.Store, rec scoped.Record) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := s.Load(t.Context(), "a")
		if err == nil && got.Revision() == rec.Revision() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica did not catch up: Load = %+v, %v", got, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// awaitInfo waits until the INFO section of c holds line.
func awaitInfo(t *testing.T, c *redis.Client, section, line string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, err := c.Info(t.Context(), section).Result()
		if err == nil && strings.Contains(info, "\r\n"+line+"\r\n") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("INFO %s never said %s: %v\n%s", section, line, err, info)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A server busy with a script that runs past busy-reply-threshold refuses
// every other script with BUSY: errors matching scoped.ErrNotApplied, and
// nothing is written.
func TestBusyRefusals(t *testing.T) {
	srv := testenv.StartRedis(t, "--busy-reply-threshold", "20")
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1})
	busy := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, ReadTimeout: 20 * time.Second})
	t.Cleanup(func() { c.Close(); busy.Close() })
	ctx := t.Context()
	rec, ok, err := redisstore.New(c).CompareAndSet(ctx, "a", scoped.Revision{}, scoped.Write{Value: []byte("one"), Writer: scoped.NewToken()})
	if !ok || err != nil {
		t.Fatalf("CompareAndSet = %v, %v", ok, err)
	}
	stores := []*redisstore.Store{redisstore.New(c, modes[0].opt), redisstore.New(c, modes[1].opt)}
	for _, s := range stores { // the scripts are cached, so that the calls below are EVALSHA
		if _, err := s.Load(ctx, "a"); err != nil {
			t.Fatal(err)
		}
	}

	var wg sync.WaitGroup
	wg.Go(func() { busy.Eval(ctx, "while true do end", nil) }) // ends with SCRIPT KILL
	t.Cleanup(wg.Wait)
	killed := false
	t.Cleanup(func() {
		if !killed {
			c.ScriptKill(context.Background())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !isReply(c.Get(ctx, "probe").Err(), "BUSY ") {
		if time.Now().After(deadline) {
			t.Fatal("the server never answered BUSY")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i, s := range stores {
		checkRefused(t, modes[i].name+" Load", "BUSY", func() error {
			_, err := s.Load(ctx, "a")
			return err
		})
		checkRefused(t, modes[i].name+" CompareAndSet", "BUSY", func() error {
			_, _, err := s.CompareAndSet(ctx, "a", rec.Revision(), scoped.Write{Value: []byte("two"), Writer: scoped.NewToken()})
			return err
		})
		checkRefused(t, modes[i].name+" Delete", "BUSY", func() error {
			_, _, err := s.Delete(ctx, "a", rec.Revision())
			return err
		})
	}
	if err := c.ScriptKill(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	killed = true
	wg.Wait()
	if got, err := stores[0].Load(ctx, "a"); err != nil || got.Revision() != rec.Revision() {
		t.Fatalf("Load after the refused writes = %+v, %v; want %+v", got, err, rec)
	}
}
