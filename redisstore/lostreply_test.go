package redisstore_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/testenv"
	"github.com/scoped-go/scoped/lua"
	"github.com/scoped-go/scoped/redisstore"
)

// A compare-and-set that the server ran but whose reply was lost counts
// once. The proxy closes the client's connection instead of forwarding the
// reply to the armed EVALSHA of cas.lua, optionally after a rival engine
// (another process) committed on top of it. go-redis would send a command
// again on a new connection after EOF, and a second run of the EVALSHA would
// find the version moved and answer with a conflict, which the engine would
// take as a failure of its write; so redisstore sends cas.lua as a command
// go-redis never retries. The store returns the error, and the engine sends
// the same write again to learn the outcome: it must neither apply the
// increment twice nor report ErrTooManyConflicts, which says that nothing
// was written. The cases with and without client retries must agree.
func TestLostReplyOfCompareAndSet(t *testing.T) {
	srv := testenv.StartRedis(t)
	for _, tt := range []struct {
		name        string
		maxRetries  int  // go-redis Options.MaxRetries; 0 is its default, 3
		rival       bool // another engine commits once the reply is lost
		maxAttempts int  // the engine's WithMaxAttempts
	}{
		{"GoRedisRetries", 0, false, scoped.DefaultMaxAttempts},
		{"GoRedisRetriesAfterRival", 0, true, scoped.DefaultMaxAttempts},
		{"GoRedisRetriesOneAttempt", 0, false, 1},
		{"NoClientRetries", -1, false, scoped.DefaultMaxAttempts},
		{"NoClientRetriesAfterRival", -1, true, scoped.DefaultMaxAttempts},
		{"NoClientRetriesOneAttempt", -1, false, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			testLostReply(t, srv.Addr(), tt.maxRetries, tt.rival, tt.maxAttempts)
		})
	}
}

func testLostReply(t *testing.T, addr string, maxRetries int, rival bool, maxAttempts int) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	prefix := testenv.UniqueName("scopedtest:") + ":"
	p := startReplyDropper(t, addr, []byte(casSHA()))
	c := redis.NewClient(&redis.Options{Addr: p.Addr(), MaxRetries: maxRetries})
	t.Cleanup(func() { c.Close() })
	s := redisstore.New(c, redisstore.WithPrefix(prefix))
	e := scoped.New(s, scoped.WithMaxAttempts(maxAttempts))

	direct := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { direct.Close() })
	other := redisstore.New(direct, redisstore.WithPrefix(prefix))
	increments := 2
	if rival {
		increments++
		p.onDrop = func() {
			if _, err := scoped.Update(ctx, scoped.New(other), "n", increment); err != nil {
				t.Errorf("rival increment: %v", err)
			}
		}
	}

	// The first write loads cas.lua into the server's cache, so that the
	// armed EVALSHA is not answered NOSCRIPT.
	if n, err := scoped.Update(ctx, e, "n", increment); err != nil || n != 1 {
		t.Fatalf("first increment = %d, %v", n, err)
	}
	sentBefore := p.sent.Load()
	p.armed.Store(true)
	n, err := scoped.Update(ctx, e, "n", increment)
	if p.dropped.Load() != 1 {
		t.Fatalf("the proxy dropped %d replies, want 1", p.dropped.Load())
	}
	rec, lerr := other.Load(ctx, "n")
	if lerr != nil {
		t.Fatal(lerr)
	}
	stored, rerr := scoped.Read[int](ctx, scoped.New(other), "n")
	if rerr != nil {
		t.Fatal(rerr)
	}
	t.Logf("increment with its reply lost returned %d, %v; the server received its EVALSHA of cas.lua %d times; "+
		"after %d increments the counter is %d at version %d",
		n, err, p.sent.Load()-sentBefore, increments, stored, rec.Version)
	switch {
	case err == nil && n != 2:
		t.Errorf("the increment with its reply lost returned %d, want 2", n)
	case err != nil && !errors.Is(err, scoped.ErrCommitUnknown):
		t.Errorf("the increment with its reply lost failed with %v, which says it was not written; but the server ran it", err)
	}
	if stored != increments || rec.Version != uint64(increments) {
		t.Errorf("after %d increments the counter is %d at version %d, want %d at version %d",
			increments, stored, rec.Version, increments, increments)
	}
}

// casSHA returns the SHA1 that EVALSHA sends for cas.lua.
func casSHA() string {
	sum := sha1.Sum([]byte(lua.CAS()))
	return hex.EncodeToString(sum[:])
}

// replyDropper is a TCP proxy to a Redis server. Once armed, it forwards the
// next command holding marker and then, instead of forwarding the server's
// reply, calls onDrop and closes the client's connection: the server ran
// the command, the client never learns its outcome. It assumes, as go-redis
// does outside pipelines, one command in flight per connection.
type replyDropper struct {
	ln      net.Listener
	target  string
	marker  []byte
	onDrop  func() // set before arming; nil does nothing
	armed   atomic.Bool
	sent    atomic.Int64 // chunks holding marker forwarded to the server
	dropped atomic.Int64 // replies dropped
	wg      sync.WaitGroup
}

// startReplyDropper listens on a free loopback port, forwarding to target,
// until the test's cleanup.
func startReplyDropper(t *testing.T, target string, marker []byte) *replyDropper {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &replyDropper{ln: ln, target: target, marker: marker}
	var mu sync.Mutex
	var conns []net.Conn
	p.wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, client, server)
			mu.Unlock()
			p.pipe(client, server)
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		p.wg.Wait()
	})
	return p
}

// Addr returns the proxy's address.
func (p *replyDropper) Addr() string { return p.ln.Addr().String() }

// pipe copies between client and server in both directions, dropping the
// reply to an armed command.
func (p *replyDropper) pipe(client, server net.Conn) {
	var dropNext atomic.Bool
	closeBoth := func() { client.Close(); server.Close() }
	p.wg.Go(func() {
		defer closeBoth()
		buf := make([]byte, 64<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				if bytes.Contains(buf[:n], p.marker) {
					p.sent.Add(1)
					if p.armed.CompareAndSwap(true, false) {
						dropNext.Store(true)
					}
				}
				if _, werr := server.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	})
	p.wg.Go(func() {
		defer closeBoth()
		buf := make([]byte, 64<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 && dropNext.Load() {
				p.dropped.Add(1)
				if p.onDrop != nil {
					p.onDrop()
				}
				return
			}
			if n > 0 {
				if _, werr := client.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	})
}

// The same for a transaction over two scopes: its casmany.lua is sent once
// by go-redis, and the engine learns whether it was performed by sending it
// again. It is applied exactly once, and the caller learns so or gets
// scoped.ErrCommitUnknown, never an error saying it was not written.
func TestLostReplyOfCompareAndSetMany(t *testing.T) {
	srv := testenv.StartRedis(t)
	for _, tt := range []struct {
		name       string
		maxRetries int
		rival      bool
	}{
		{"GoRedisRetries", 0, false},
		{"GoRedisRetriesAfterRival", 0, true},
		{"NoClientRetries", -1, false},
		{"NoClientRetriesAfterRival", -1, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			prefix := testenv.UniqueName("scopedtest:") + ":"
			sum := sha1.Sum([]byte(lua.CASMany()))
			p := startReplyDropper(t, srv.Addr(), []byte(hex.EncodeToString(sum[:])))
			c := redis.NewClient(&redis.Options{Addr: p.Addr(), MaxRetries: tt.maxRetries})
			t.Cleanup(func() { c.Close() })
			e := scoped.New(redisstore.New(c, redisstore.WithPrefix(prefix)))
			direct := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			t.Cleanup(func() { direct.Close() })
			other := redisstore.New(direct, redisstore.WithPrefix(prefix))
			names := []string{"{l}a", "{l}b"}
			want := []int{2, 2}
			if tt.rival {
				want[0]++
				p.onDrop = func() {
					if _, err := scoped.Update(ctx, scoped.New(other), names[0], increment); err != nil {
						t.Errorf("rival increment: %v", err)
					}
				}
			}
			both := func() error {
				_, err := scoped.Transact(ctx, e, names, func(tx *scoped.Tx) (struct{}, error) {
					for _, name := range names {
						n, err := scoped.TxValue[int](tx, name)
						if err != nil {
							return struct{}{}, err
						}
						*n++
					}
					return struct{}{}, nil
				})
				return err
			}
			// The first loads casmany.lua into the server's cache.
			if err := both(); err != nil {
				t.Fatalf("first transaction: %v", err)
			}
			p.armed.Store(true)
			err := both()
			if p.dropped.Load() != 1 {
				t.Fatalf("the proxy dropped %d replies, want 1", p.dropped.Load())
			}
			if err != nil && !errors.Is(err, scoped.ErrCommitUnknown) {
				t.Errorf("the transaction with its reply lost failed with %v, which says it was not written; but the server ran it", err)
			}
			for i, name := range names {
				rec, err := other.Load(ctx, name)
				if err != nil {
					t.Fatal(err)
				}
				if n, err := scoped.Read[int](ctx, scoped.New(other), name); err != nil || n != want[i] || rec.Version != uint64(want[i]) {
					t.Errorf("%s = %d, %v at version %d; want %d", name, n, err, rec.Version, want[i])
				}
			}
			t.Logf("transaction with its reply lost: %v", err)
		})
	}
}
