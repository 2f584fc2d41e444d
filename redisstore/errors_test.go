package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
)

// replyError is an error reply as go-redis returns it: a redis.Error.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

var _ redis.Error = replyError("")

func TestRefused(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{replyError("LOADING Redis is loading the dataset in memory"), true},
		{replyError("BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."), true},
		{replyError("BUSY Redis is busy running a function. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."), true},
		{replyError("READONLY You can't write against a read only replica."), true},
		{replyError("READONLY You can't write against a read only replica. script: 1f2e, on @user_script:31."), true},
		{replyError("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."), true},
		{replyError("TRYAGAIN Multiple keys request during rehashing of slot"), true},
		{replyError("CLUSTERDOWN The cluster is down"), true},
		{replyError("CLUSTERDOWN Hash slot not served"), true},
		{replyError("NOREPLICAS Not enough good replicas to write."), true},
		{replyError("OOM command not allowed when used memory > 'maxmemory'."), true},
		{replyError("ERR max number of clients reached"), true},
		{fmt.Errorf("redisstore: compare-and-set: %w", replyError("LOADING Redis is loading the dataset in memory")), true},

		// Not refusals: the script may have run, or these are no replies.
		{replyError("BUSYKEY Target key name already exists."), false},
		{replyError("BUSYGROUP Consumer Group name already exists"), false},
		{replyError("LOADINGX"), false},
		{replyError("ERR Error running script (call to f_1f2e): @user_script:31: something"), false},
		{replyError("WRONGTYPE Operation against a key holding the wrong kind of value"), false},
		{replyError("NOSCRIPT No matching script. Please use EVAL."), false},
		{replyError("MOVED 3999 127.0.0.1:6381"), false},
		{replyError("NOPERM this user has no permissions to run the 'evalsha' command"), false},
		{replyError("ERR unknown command"), false},
		{errors.New("LOADING but not a reply"), false},
		{io.EOF, false},
		{nil, false},
	} {
		if got := refused(tt.err); got != tt.want {
			t.Errorf("refused(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestUnsent(t *testing.T) {
	refusedDial := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"canceled", context.Canceled, true},
		{"deadline", context.DeadlineExceeded, true},
		{"wrapped deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{"pool timeout", redis.ErrPoolTimeout, true},
		{"pool exhausted", redis.ErrPoolExhausted, true},
		{"closed client", redis.ErrClosed, true},
		{"dial refused", refusedDial, true},
		{"dial timeout", &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}, true},
		{"wrapped dial", fmt.Errorf("x: %w", refusedDial), true},

		{"read timeout", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, false},
		{"write reset", &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.ECONNRESET)}, false},
		{"read reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, false},
		{"eof", io.EOF, false},
		{"unexpected eof", io.ErrUnexpectedEOF, false},
		{"i/o deadline", os.ErrDeadlineExceeded, false},
		{"reply", replyError("LOADING Redis is loading the dataset in memory"), false},
		{"other", errors.New("redis: connection pool: something"), false},
		{"nil", nil, false},
	} {
		if got := unsent(tt.err); got != tt.want {
			t.Errorf("unsent(%s: %v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

func TestConnFailure(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"dial refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, true},
		{"read reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{"write broken pipe", &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}, true},
		{"read timeout", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, true},
		{"i/o deadline", os.ErrDeadlineExceeded, true},
		{"eof", io.EOF, true},
		{"wrapped unexpected eof", fmt.Errorf("x: %w", io.ErrUnexpectedEOF), true},

		{"canceled", context.Canceled, false},
		{"deadline", context.DeadlineExceeded, false},
		{"pool timeout", redis.ErrPoolTimeout, false},
		{"closed client", redis.ErrClosed, false},
		{"reply", replyError("CLUSTERDOWN The cluster is down"), false},
		{"nil", nil, false},
	} {
		if got := connFailure(tt.err); got != tt.want {
			t.Errorf("connFailure(%s: %v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

func TestCertainty(t *testing.T) {
	loading := replyError("LOADING Redis is loading the dataset in memory")
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	single := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	cluster := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}})
	ring := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": "127.0.0.1:1"}})
	t.Cleanup(func() { single.Close(); cluster.Close(); ring.Close() })
	for _, tt := range []struct {
		name                      string
		client                    redis.UniversalClient
		directLoading, directDial bool
		pipedLoading, pipedDial   bool
	}{
		{"Client", single, true, true, true, true},
		{"Ring", ring, true, true, true, true},
		{"ClusterClient", cluster, true, true, true, false},
		{"other", otherClient{single}, false, false, false, false},
	} {
		direct, piped := certaintyOf(tt.client)
		for _, c := range []struct {
			what string
			sure certainty
			err  error
			want bool
		}{
			{"direct LOADING", direct, loading, tt.directLoading},
			{"direct dial", direct, dial, tt.directDial},
			{"pipelined LOADING", piped, loading, tt.pipedLoading},
			{"pipelined dial", piped, dial, tt.pipedDial},
			{"direct EOF", direct, io.EOF, false},
			{"pipelined EOF", piped, io.EOF, false},
		} {
			err := c.sure.mark(c.err)
			if got := errors.Is(err, scoped.ErrNotApplied); got != c.want {
				t.Errorf("%s: %s marked not applied: %v, want %v", tt.name, c.what, got, c.want)
			}
			if !errors.Is(err, c.err) || err.Error() != c.err.Error() {
				t.Errorf("%s: %s marked as %v, which lost the cause %v", tt.name, c.what, err, c.err)
			}
		}
	}
	if err := (certainty{true, true}).mark(nil); err != nil {
		t.Errorf("mark(nil) = %v", err)
	}
}

// otherClient is a redis.UniversalClient that is none of go-redis's own.
type otherClient struct{ redis.UniversalClient }
