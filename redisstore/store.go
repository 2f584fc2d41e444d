// Package redisstore is the Redis backend of scoped: each scope is one Redis
// hash, read and written by Lua scripts so that a load or a compare-and-set
// is one round trip.
//
// It takes any redis.UniversalClient: a single node, Sentinel or Cluster.
// A scope's key is prefix + "{" + name + "}", so that every key of a scope
// shares one hash slot.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
)

// DefaultPrefix begins every key unless WithPrefix says otherwise.
const DefaultPrefix = "scoped:"

// Store is a scoped.Store on Redis. It is safe for concurrent use.
type Store struct {
	prefix string
	calls  pipeliner
}

// Defaults of WithPipelining.
const (
	DefaultMaxDirect    = 8
	DefaultMaxPipelines = 4
)

var _ scoped.Store = (*Store)(nil)

// Option changes a setting of a Store.
type Option func(*Store)

// WithPrefix sets the prefix of every key, DefaultPrefix by default. A
// prefix holding '{' changes which part of the key Redis Cluster hashes.
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

// WithoutPipelining sends every call on its own.
func WithoutPipelining() Option {
	return func(s *Store) { s.calls.maxDirect = math.MaxInt }
}

// New returns a Store that keeps scopes in client. The caller keeps
// ownership of client and closes it. A Store starts goroutines only while
// pipelines are in flight, and needs no closing.
func New(client redis.UniversalClient, opts ...Option) *Store {
	s := &Store{prefix: DefaultPrefix}
	s.calls = pipeliner{client: client, maxDirect: DefaultMaxDirect, maxFlush: DefaultMaxPipelines}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// Key returns the Redis key of the scope name.
func (s *Store) Key(name string) string {
	return s.prefix + "{" + name + "}"
}

// Load implements scoped.Store.
func (s *Store) Load(ctx context.Context, name string) (scoped.Record, error) {
	reply, err := s.calls.run(ctx, loadScript, []string{s.Key(name)})
	if err != nil {
		return scoped.Record{}, fmt.Errorf("redisstore: load: %w", err)
	}
	return parseRecord(name, reply)
}

// CompareAndSet implements scoped.Store.
func (s *Store) CompareAndSet(ctx context.Context, name string, expected scoped.Revision, value []byte, writer scoped.Token) (scoped.Record, bool, error) {
	if len(value) == 0 {
		return scoped.Record{}, false, errors.New("redisstore: compare-and-set of an empty value")
	}
	return s.cas(ctx, name, expected.Version, value, writer)
}

// Delete implements scoped.Store.
func (s *Store) Delete(ctx context.Context, name string, expected scoped.Revision) (scoped.Record, bool, error) {
	return s.cas(ctx, name, expected.Version, nil, scoped.NewToken())
}

func (s *Store) cas(ctx context.Context, name string, expected uint64, value []byte, writer scoped.Token) (scoped.Record, bool, error) {
	if expected == math.MaxUint64 {
		return scoped.Record{}, false, fmt.Errorf("redisstore: scope %q: version %d cannot grow", name, expected)
	}
	next := expected + 1
	reply, err := s.calls.run(ctx, casScript, []string{s.Key(name)},
		strconv.FormatUint(expected, 10), strconv.FormatUint(next, 10), writer[:], value)
	if err != nil {
		return scoped.Record{}, false, fmt.Errorf("redisstore: compare-and-set: %w", err)
	}
	if len(reply) == 1 && reply[0] == int64(1) {
		return scoped.Record{Value: value, Version: next, Writer: writer}, true, nil
	}
	if len(reply) != 4 || reply[0] != int64(0) {
		return scoped.Record{}, false, fmt.Errorf("redisstore: compare-and-set: unexpected reply %v", reply)
	}
	rec, err := parseRecord(name, reply[1:])
	return rec, false, err
}

// parseRecord reads {version, writer, value} as the scripts return it.
func parseRecord(name string, reply []any) (scoped.Record, error) {
	if len(reply) != 3 {
		return scoped.Record{}, fmt.Errorf("redisstore: unexpected reply of %d elements", len(reply))
	}
	version, ok1 := reply[0].(string)
	writer, ok2 := reply[1].(string)
	value, ok3 := reply[2].(string)
	if !ok1 || !ok2 || !ok3 {
		return scoped.Record{}, fmt.Errorf("redisstore: unexpected reply %v", reply)
	}
	corrupt := func(err error) (scoped.Record, error) {
		return scoped.Record{}, &scoped.CorruptValueError{Scope: name, Err: err}
	}
	var rec scoped.Record
	var err error
	if rec.Version, err = strconv.ParseUint(version, 10, 64); err != nil {
		return corrupt(fmt.Errorf("version: %w", err))
	}
	switch {
	case len(writer) == scoped.TokenSize:
		copy(rec.Writer[:], writer)
	case writer != "" || rec.Version != 0:
		return corrupt(fmt.Errorf("writer token of %d bytes at version %d", len(writer), rec.Version))
	}
	if value != "" {
		rec.Value = []byte(value)
	}
	return rec, nil
}
