package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
)

// Errors that prove a script was not run. A Store marks an error with
// scoped.NotApplied only when the server cannot have run the script and
// never will (see scoped.Store). Two kinds of go-redis errors say so:
//
//   - refusals: error replies with which the server refuses a command
//     before running it, or which a script raises before or at its first
//     write (the scripts write last, only their first write can be refused,
//     and they never catch these: see lua/cas.lua);
//   - unsent: failures of go-redis before it wrote the command: the
//     connection could not be dialled, no pooled connection came before the
//     pool's timeout or the context's end, or the client is closed.
//
// What go-redis v9.23.0 does, read in its source: a context is used only
// while waiting (for a pool turn, a dial, a retry's backoff). During I/O it
// is at most a socket deadline (Options.ContextTimeoutEnabled), whose expiry
// is a net.Error "i/o timeout" that matches neither context.Canceled nor
// context.DeadlineExceeded. So a context error from go-redis means the
// command was not written in that attempt. A command whose NoRetry says true
// (cas.lua, casmany.lua) is sent again only after a failure before writing,
// so for it the last attempt's error covers them all; a pipeline holding one
// is never sent again on a single node or a Ring. A Redis Cluster pipeline
// is: it re-sends the commands of a node it could not reach, and a command
// keeps the error of its first attempt when a later one fails after writing
// it. So on a ClusterClient the errors of a pipelined call prove only
// through refusals (see certaintyOf).
//
// Load is a read: go-redis may have sent it in an earlier attempt than the
// one whose error is returned, but a read changes nothing, so its errors
// are marked by the same rules. So are List's: each page is a SCAN sent on
// its own (never in a pipeline), and a context that ended before a page is
// sent is marked as for any call not sent.

// refusals are the prefixes of the error replies that prove a script was not
// run, or raised an error before or at its first write:
var refusals = []string{
	"LOADING ",     // the server is loading its data: commands are refused
	"BUSY ",        // another script or function runs: commands are refused
	"READONLY ",    // a replica: raised by the script's first write (or the command)
	"MASTERDOWN ",  // a stale replica: raised by the script's first read
	"TRYAGAIN ",    // Cluster resharding: refused before running
	"CLUSTERDOWN ", // Cluster not serving the slot: refused before running
	"NOREPLICAS ",  // min-replicas-to-write unmet: raised by the first write
	"OOM ",         // maxmemory: raised by the first write (HSET; DEL never is)
}

// maxClients is the reply a server sends on a connection it refuses, and
// closes, before reading anything from it.
const maxClients = "ERR max number of clients reached"

// refused reports whether err is a Redis error reply proving that the
// script did not write, and never will.
func refused(err error) bool {
	var reply redis.Error
	if !errors.As(err, &reply) {
		return false
	}
	msg := reply.Error()
	for _, p := range refusals {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return msg == maxClients
}

// redirected reports whether err is a Redis Cluster node's MOVED or ASK
// reply: the node does not serve the key's slot, or no longer holds the
// key, and ran nothing. Only the reply of a node's own client proves that:
// a ClusterClient follows redirections, and a command sent again in one of
// its pipelines may keep the MOVED of its first attempt.
func redirected(err error) bool {
	return redis.HasErrorPrefix(err, "MOVED ") || redis.HasErrorPrefix(err, "ASK ")
}

// unsent reports whether err is a failure of go-redis before it wrote the
// command.
func unsent(err error) bool {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return true // a wait for the pool, a dial or a backoff ended
	case errors.Is(err, redis.ErrPoolTimeout), errors.Is(err, redis.ErrPoolExhausted), errors.Is(err, redis.ErrClosed):
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// connFailure reports whether err is a failure of the connection to a
// server, whether or not the command was written: a dial, read or write
// that failed (refused, reset, timed out) or a connection closed under the
// command (EOF). On a Redis Cluster it may mean that the node is gone and
// its slots have another primary.
func connFailure(err error) bool {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return true
	}
	var ne net.Error // a socket deadline; not the context's, which is a net.Error too
	return errors.As(err, &ne) && ne.Timeout() && !errors.Is(err, context.DeadlineExceeded)
}

// certainty says which go-redis errors of one way of sending prove that a
// command was not run.
type certainty struct {
	refusals bool // Redis error replies (refused)
	unsent   bool // failures before writing (unsent)
}

// mark returns err, marked with scoped.NotApplied if it proves that the
// command was not run.
func (c certainty) mark(err error) error {
	if err != nil && (c.refusals && refused(err) || c.unsent && unsent(err)) {
		return scoped.NotApplied(err)
	}
	return err
}

// certaintyOf returns what the errors of calls sent on their own (direct)
// and in pipelines (piped) prove, for the go-redis clients whose retries
// were read. Any other implementation of redis.UniversalClient proves
// nothing.
func certaintyOf(client redis.UniversalClient) (direct, piped certainty) {
	switch client.(type) {
	case *redis.Client, *redis.Ring:
		return certainty{true, true}, certainty{true, true}
	case *redis.ClusterClient:
		return certainty{true, true}, certainty{refusals: true}
	}
	return certainty{}, certainty{}
}

// Errors of WithReplicas.
var (
	// ErrNotReplicated is matched by a *ReplicationError: the primary
	// performed a write, but WAIT did not count the replicas that
	// WithReplicas asks for before its timeout (or its reply was lost). It
	// does not match scoped.ErrNotApplied: the write is on the primary, and
	// may be lost if a replica without it is promoted. The engine sends the
	// same write again to learn its outcome, and that copy waits as well, so
	// a write that never reached the replicas ends as scoped.ErrCommitUnknown,
	// never as a success.
	ErrNotReplicated = errors.New("redisstore: write not acknowledged by enough replicas")

	// ErrReplicasUnsupported is returned, matching scoped.ErrNotApplied, by
	// every write of a Store made WithReplicas on a client other than a
	// *redis.Client (a single node, or Sentinel's failover client) or a
	// *redis.ClusterClient: a Ring splits a pipeline by shard, and gives no
	// way to send a write and its WAIT on one connection of the write's
	// shard. Nothing is sent.
	ErrReplicasUnsupported = errors.New("redisstore: WithReplicas needs a *redis.Client (single node or Sentinel) or a *redis.ClusterClient, not a Ring")
)

// ReplicationError reports a write performed on the primary that too few
// replicas acknowledged. It matches ErrNotReplicated, and unwraps to WAIT's
// own error when WAIT failed.
type ReplicationError struct {
	Want int   // the replicas asked for (WithReplicas)
	Got  int64 // the replicas WAIT counted; 0 when it failed
	Err  error // WAIT's error, nil when it answered
}

// Error gives the replicas asked for and counted, or WAIT's error.
func (e *ReplicationError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("redisstore: write not acknowledged by %d replicas: WAIT failed: %v", e.Want, e.Err)
	}
	return fmt.Sprintf("redisstore: write acknowledged by %d replicas of the %d asked for", e.Got, e.Want)
}

// Is reports whether target is ErrNotReplicated.
func (e *ReplicationError) Is(target error) bool { return target == ErrNotReplicated }

// Unwrap returns WAIT's error.
func (e *ReplicationError) Unwrap() error { return e.Err }
