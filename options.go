package scoped

import (
	"fmt"
	"time"
)

// Defaults for the engine's options.
const (
	DefaultMaxAttempts   = 100
	DefaultBackoffBase   = 500 * time.Microsecond
	DefaultBackoffMax    = 100 * time.Millisecond
	DefaultMaxValueSize  = 1 << 20
	DefaultCacheScopes   = 4096
	DefaultCacheBytes    = 64 << 20
	DefaultMaxBatchCalls = 256
	DefaultMaxBatchBytes = 16 << 20
)

// Option changes a setting of an Engine; see New. An option given an
// invalid setting makes New panic, saying which.
type Option func(*options)

type options struct {
	maxAttempts   int
	backoffBase   time.Duration
	backoffMax    time.Duration
	maxValueSize  int
	cacheScopes   int
	cacheBytes    int
	maxBatchCalls int
	maxBatchBytes int
	hooks         Hooks
	now           func() time.Time
	invalid       []string // what New refuses, one line per bad option
}

func defaultOptions() options {
	return options{
		maxAttempts:   DefaultMaxAttempts,
		backoffBase:   DefaultBackoffBase,
		backoffMax:    DefaultBackoffMax,
		maxValueSize:  DefaultMaxValueSize,
		cacheScopes:   DefaultCacheScopes,
		cacheBytes:    DefaultCacheBytes,
		maxBatchCalls: DefaultMaxBatchCalls,
		maxBatchBytes: DefaultMaxBatchBytes,
		now:           time.Now,
	}
}

// refuse records that an option was given an invalid setting.
func (o *options) refuse(format string, args ...any) {
	o.invalid = append(o.invalid, fmt.Sprintf(format, args...))
}

// WithMaxAttempts sets how many times a call tries to commit before it
// fails: with ErrTooManyConflicts when other writers committed first, or
// with the store's error when the store was unavailable. n must be at least
// 1.
func WithMaxAttempts(n int) Option {
	return func(o *options) {
		if n < 1 {
			o.refuse("WithMaxAttempts(%d): a call needs at least 1 attempt", n)
		}
		o.maxAttempts = n
	}
}

// WithBackoff sets the wait between attempts. The first retry after a
// conflict is immediate, on the record the conflict returned. After the
// n-th failed attempt in a row (a second conflict, or any attempt the store
// was unavailable for) the engine waits a random duration (full jitter)
// below base·2^(n-1), capped at max, and reads the record again when it was
// a conflict. Zero for either never waits; neither may be negative.
func WithBackoff(base, max time.Duration) Option {
	return func(o *options) {
		if base < 0 || max < 0 {
			o.refuse("WithBackoff(%v, %v): durations must not be negative", base, max)
		}
		o.backoffBase, o.backoffMax = base, max
	}
}

// WithMaxValueSize sets the largest encoded value, in bytes, that the engine
// writes. A call whose change makes the value bigger fails with
// ErrValueTooLarge, and nothing of it is written; the other calls committed
// with it are not affected. n must be at least 1.
func WithMaxValueSize(n int) Option {
	return func(o *options) {
		if n < 1 {
			o.refuse("WithMaxValueSize(%d): the limit must be at least 1 byte", n)
		}
		o.maxValueSize = n
	}
}

// WithCache bounds the cache of last seen records, which lets a write cost
// one round trip instead of two: at most maxScopes scopes holding at most
// maxBytes of values, least recently used first out. Records of scopes in
// use are kept regardless. Zero for either disables the cache; neither may
// be negative.
func WithCache(maxScopes, maxBytes int) Option {
	return func(o *options) {
		if maxScopes < 0 || maxBytes < 0 {
			o.refuse("WithCache(%d, %d): bounds must not be negative", maxScopes, maxBytes)
		}
		o.cacheScopes, o.cacheBytes = maxScopes, maxBytes
	}
}

// WithMaxBatch bounds the calls on one scope that are committed together:
// at most calls of them, and at most as many as make bytes when each is
// counted at the size of the scope's value (each handler decodes and
// encodes it, and a conflict runs them all again). Calls beyond wait for
// the next batch. Both must be at least 1; WithMaxBatch(1, 1) turns group
// commit off.
func WithMaxBatch(calls, bytes int) Option {
	return func(o *options) {
		if calls < 1 || bytes < 1 {
			o.refuse("WithMaxBatch(%d, %d): bounds must be at least 1", calls, bytes)
		}
		o.maxBatchCalls, o.maxBatchBytes = calls, bytes
	}
}

// batchBound returns how many calls a batch on a value of size bytes may
// hold.
func (o *options) batchBound(size int) int {
	return max(1, min(o.maxBatchCalls, o.maxBatchBytes/max(size, 1)))
}

// WithClock sets the clock that ExpireAfter counts from, time.Now by
// default. Whether a record has expired is decided by the store's clock
// (the Redis server's, say), so the two should agree. now must not be nil.
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now == nil {
			o.refuse("WithClock(nil): a clock is needed")
			return
		}
		o.now = now
	}
}
