package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
)

// DefaultPrefix begins every key unless WithPrefix says otherwise.
const DefaultPrefix = "scoped:"

// Store is a scoped.Store on Redis. It is safe for concurrent use.
type Store struct {
	prefix string
	calls  pipeliner
	// unsupported: WithReplicas on a client that cannot follow every
	// write with WAIT on its connection (ErrReplicasUnsupported).
	unsupported bool
	// unconfirmed: with WithReplicas, creates whose outcome a Load decides
	// (replicas.go).
	unconfirmed unconfirmed
}

// Defaults of WithPipelining and WithPipelineBounds.
const (
	DefaultMaxDirect        = 8       // calls sent on their own at once
	DefaultMaxPipelines     = 4       // pipelines in flight at once
	DefaultMaxPipelineCalls = 256     // calls in one pipeline
	DefaultMaxPipelineBytes = 1 << 20 // bytes of keys and arguments in one pipeline
)

var _ scoped.Store = (*Store)(nil)

// Option changes a setting of a Store.
type Option func(*Store)

// WithPrefix sets the prefix of every key, DefaultPrefix by default: a
// scope's key is the prefix followed by its name. Redis Cluster hashes the
// hash tag of the whole key (the text between its first '{' and the first
// '}' after it, if not empty), so any '{' in the prefix takes precedence
// over the names' braces: a prefix holding a hash tag ("{app}:") puts every
// scope of the store in one slot. Keep '{' out of the prefix to let the
// names choose their slots (see CompareAndSetMany).
func WithPrefix(prefix string) Option {
	return func(s *Store) { s.prefix = prefix }
}

// WithPipelining sets when concurrent calls share round trips: a call is sent
// on its own while fewer than maxDirect calls are in flight and no pipeline
// is; past that, calls queue and are sent together in pipelines, at most
// maxPipelines in flight.
// The defaults are DefaultMaxDirect and DefaultMaxPipelines.
func WithPipelining(maxDirect, maxPipelines int) Option {
	return func(s *Store) { s.calls.maxDirect, s.calls.maxFlush = maxDirect, max(maxPipelines, 1) }
}

// WithPipelineBounds sets how much one pipeline holds: at most maxCalls
// calls, and at most maxBytes bytes of keys and arguments (values, writer
// tokens, versions, expiry times; a call larger than maxBytes is sent in a
// pipeline of its own). Queued calls beyond the bounds wait for the next pipeline. The
// defaults are DefaultMaxPipelineCalls and DefaultMaxPipelineBytes; values
// below 1 count as 1.
func WithPipelineBounds(maxCalls, maxBytes int) Option {
	return func(s *Store) { s.calls.maxCalls, s.calls.maxBytes = max(maxCalls, 1), max(maxBytes, 1) }
}

// WithReplicas makes every write wait for n replicas: each compare-and-set
// and delete is followed, in the same round trip and on the same
// connection, by WAIT n timeout (a pipeline of several writes ends with one
// WAIT, which covers them all). A write that WAIT counts fewer than n
// replicas for, within timeout, fails with a *ReplicationError (matching
// ErrNotReplicated, not scoped.ErrNotApplied: the primary has it); the
// engine then sends it again, and that copy waits too, so the caller gets
// scoped.ErrCommitUnknown unless n replicas acknowledge it. (The copy that
// finds its own record rewrites it, unchanged, before its WAIT: WAIT waits
// for its connection's last write only. A create is looked for by a Load,
// not sent again: a Load that finds a create of this Store whose WAIT
// failed, in the last minute, rewrites and waits in the same way, in a
// second round trip.) A
// success then means that n replicas had the write when it was
// acknowledged, so a failover that promotes one of them keeps it (Sentinel
// promotes the replica with the most data). Other Loads do not wait, and
// may return writes that no replica has yet, as any read of a primary may.
// A refused write's WAIT is not looked at: the engine only retries on the
// record it returns, and a retry against a record that a failover lost is
// refused in turn.
//
// n of 0 or less turns waiting off. timeout is rounded up to a millisecond,
// at least one (WAIT 0 would block without end); keep it below the client's
// ReadTimeout (3 s by default), past which go-redis gives up on the reply
// and the outcome is unknown. A *redis.Client (single node, or
// redis.NewFailoverClient for Sentinel) and a *redis.ClusterClient can
// wait: on a ClusterClient each write is sent on its own (never in a
// pipeline), with its WAIT, on one connection of the master of its slot
// (MasterForKey), and a MOVED or ASK reply is a refusal after which the
// client reloads its slot map. With a Ring every write fails with
// ErrReplicasUnsupported.
func WithReplicas(n int, timeout time.Duration) Option {
	return func(s *Store) {
		s.calls.replicas = max(n, 0)
		s.calls.waitMillis = max(int64((timeout+time.Millisecond-1)/time.Millisecond), 1)
	}
}

// WithoutPipelining sends every call on its own.
func WithoutPipelining() Option {
	return func(s *Store) { s.calls.maxDirect = math.MaxInt }
}

// New returns a Store that keeps scopes in client. The caller keeps
// ownership of client and closes it. A Store starts goroutines only while
// pipelines are in flight, and needs no closing.
func New(client redis.UniversalClient, opts ...Option) *Store {
	s := &Store{prefix: DefaultPrefix}
	s.calls = pipeliner{
		client:    client,
		maxDirect: DefaultMaxDirect,
		maxFlush:  DefaultMaxPipelines,
		maxCalls:  DefaultMaxPipelineCalls,
		maxBytes:  DefaultMaxPipelineBytes,
	}
	s.calls.directSure, s.calls.pipedSure = certaintyOf(client)
	s.calls.cluster, _ = client.(*redis.ClusterClient)
	for _, opt := range opts {
		opt(s)
	}
	if _, single := client.(*redis.Client); s.calls.replicas > 0 && !single && s.calls.cluster == nil {
		s.unsupported = true
	}
	return s
}

// Key returns the Redis key of the scope name: the store's prefix followed
// by name. A hash tag in name ("{user42}:cart") is the key's hash tag, as
// long as the prefix holds no '{'.
func (s *Store) Key(name string) string {
	return s.prefix + name
}

// Load implements scoped.Store.
func (s *Store) Load(ctx context.Context, name string) (scoped.Record, error) {
	res := s.calls.run(ctx, loadScript, false, []string{s.Key(name)})
	rec, err := s.loaded(name, res.reply, res.err)
	if err == nil && s.calls.replicas > 0 && rec.Exists() && s.unconfirmed.has(rec.Writer) {
		return s.confirm(ctx, name, rec.Writer)
	}
	return rec, err
}

// loaded returns the record of load.lua's reply, or its error.
func (s *Store) loaded(name string, reply []any, err error) (scoped.Record, error) {
	if err != nil {
		return scoped.Record{}, fmt.Errorf("redisstore: load: %w", err)
	}
	if what, ok := foreign(reply); ok {
		return scoped.Record{}, corrupt(name, what)
	}
	if len(reply) != 4 {
		return scoped.Record{}, fmt.Errorf("redisstore: load: unexpected reply %v", reply)
	}
	return parseRecord(name, reply)
}

// CompareAndSet implements scoped.Store. A write with an expiry time sets
// it on the key (PEXPIREAT) in the same script; one without clears it.
func (s *Store) CompareAndSet(ctx context.Context, name string, expected scoped.Revision, next scoped.Write) (scoped.Record, bool, error) {
	if err := checkWrite(name, expected, next); err != nil {
		return scoped.Record{}, false, err
	}
	version := expected.Version + 1
	expiry, expiresAt := expiryArg(next.ExpiresAt)
	ok, cur, err := s.cas(ctx, name, expected, strconv.FormatUint(version, 10), next.Writer[:], next.Value, expiry)
	if err != nil || !ok {
		return cur, false, err
	}
	return scoped.Record{Value: next.Value, Version: version, Writer: next.Writer, ExpiresAt: expiresAt}, true, nil
}

// expiryArg returns cas.lua's expiry argument for the expiry time at (the
// zero time: never), and the time the record then keeps: at to the
// millisecond. A time before 1970 becomes the first millisecond after: it
// has passed either way, and PEXPIREAT takes no negative time.
func expiryArg(at time.Time) (string, time.Time) {
	if at.IsZero() {
		return "", time.Time{}
	}
	ms := max(at.UnixMilli(), 1)
	return strconv.FormatInt(ms, 10), time.UnixMilli(ms)
}

// Delete implements scoped.Store: the scope's key is removed.
func (s *Store) Delete(ctx context.Context, name string, expected scoped.Revision) (scoped.Record, bool, error) {
	ok, cur, err := s.cas(ctx, name, expected, "", nil, nil, "")
	return cur, ok, err
}

// cas runs cas.lua: it writes value (deletes the record if value is empty)
// as version next by writer, expiring at expiry (cas.lua's ARGV[6]), if the
// current revision is expected. It returns whether it did, or else the
// current record. With WithReplicas, a write performed (or found performed:
// the record is writer's) that too few replicas acknowledged is an error.
func (s *Store) cas(ctx context.Context, name string, expected scoped.Revision, next string, writer, value []byte, expiry string) (bool, scoped.Record, error) {
	op := "compare-and-set"
	if len(value) == 0 {
		op = "delete"
	}
	if s.unsupported {
		return false, scoped.Record{}, fmt.Errorf("redisstore: %s: %w", op, scoped.NotApplied(ErrReplicasUnsupported))
	}
	var expectedWriter []byte
	if !expected.Writer.IsZero() {
		expectedWriter = expected.Writer[:]
	}
	args := []any{strconv.FormatUint(expected.Version, 10), expectedWriter, next, writer, value, expiry}
	if s.calls.replicas > 0 {
		args = append(args, "1") // a copy that finds its own record writes, for WAIT
	}
	res := s.calls.run(ctx, casScript, true, []string{s.Key(name)}, args...)
	reply, err := res.reply, res.err
	if err == nil && res.unsynced != nil && len(reply) == 1 && reply[0] == int64(1) {
		err = res.unsynced // performed, not acknowledged
	}
	if err != nil {
		if s.calls.replicas > 0 && expected.IsZero() && len(writer) == scoped.TokenSize && !errors.Is(err, scoped.ErrNotApplied) {
			s.unconfirmed.add(scoped.Token(writer)) // a create a Load will look for
		}
		return false, scoped.Record{}, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	if what, ok := foreign(reply); ok {
		// The script wrote nothing, and never will: the engine may act
		// on that, and still sees a CorruptValueError.
		return false, scoped.Record{}, scoped.NotApplied(corrupt(name, what))
	}
	switch {
	case len(reply) == 1 && reply[0] == int64(1):
		return true, scoped.Record{}, nil
	case len(reply) == 5 && reply[0] == int64(0):
		rec, err := parseRecord(name, reply[1:])
		if err != nil {
			return false, rec, scoped.NotApplied(err) // a conflict: nothing was written
		}
		if res.unsynced != nil && len(writer) == scoped.TokenSize && rec.Writer == scoped.Token(writer) {
			// This very write, found by a copy of it: the engine would
			// take the record as committed.
			return false, scoped.Record{}, fmt.Errorf("redisstore: %s: %w", op, res.unsynced)
		}
		return false, rec, nil
	}
	return false, scoped.Record{}, fmt.Errorf("redisstore: %s: unexpected reply %v", op, reply)
}

// foreign reports whether reply is the scripts' answer for a key they did
// not write, {-1, what}, and returns what.
func foreign(reply []any) (string, bool) {
	if len(reply) != 2 || reply[0] != int64(-1) {
		return "", false
	}
	what, _ := reply[1].(string)
	return what, true
}

// corrupt returns the error for a scope whose key the scripts did not
// write, as the scripts describe it.
func corrupt(name, what string) error {
	var err error
	switch what {
	case "WRONGTYPE":
		err = errors.New("the key is not a hash (WRONGTYPE)")
	case "NOVERSION":
		err = errors.New("the key is a hash without a version field")
	default:
		err = fmt.Errorf("the key was not written by redisstore (%s)", what)
	}
	return &scoped.CorruptValueError{Scope: name, Err: err}
}

// parseRecord reads {version, writer, value, expiry} as the scripts return
// it: an empty version for a scope without a record, an empty expiry for a
// record that never expires. A version is in the decimal form the scripts
// write, without leading zeros.
func parseRecord(name string, reply []any) (scoped.Record, error) {
	version, ok1 := reply[0].(string)
	writer, ok2 := reply[1].(string)
	value, ok3 := reply[2].(string)
	expiry, ok4 := reply[3].(string)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return scoped.Record{}, fmt.Errorf("redisstore: unexpected reply %v", reply)
	}
	if version == "" {
		return scoped.Record{}, nil
	}
	fail := func(format string, args ...any) (scoped.Record, error) {
		return scoped.Record{}, &scoped.CorruptValueError{Scope: name, Err: fmt.Errorf(format, args...)}
	}
	var rec scoped.Record
	var err error
	if rec.Version, err = strconv.ParseUint(version, 10, 64); err != nil {
		return fail("version: %w", err)
	}
	if rec.Version == 0 {
		return fail("version 0 stored")
	}
	if strconv.FormatUint(rec.Version, 10) != version {
		// cas.lua compares versions as strings: every write would conflict.
		return fail("version %q not in decimal form", version)
	}
	if len(writer) != scoped.TokenSize {
		return fail("writer token of %d bytes at version %d", len(writer), rec.Version)
	}
	copy(rec.Writer[:], writer)
	if rec.Writer.IsZero() {
		return fail("zero writer token at version %d", rec.Version)
	}
	if value != "" {
		rec.Value = []byte(value)
	}
	if expiry != "" {
		ms, err := strconv.ParseInt(expiry, 10, 64)
		if err != nil || ms <= 0 {
			return fail("expiry time %q at version %d", expiry, rec.Version)
		}
		rec.ExpiresAt = time.UnixMilli(ms)
	}
	return rec, nil
}
