package scoped

import "time"

// Defaults for the engine's options.
const (
	DefaultMaxAttempts  = 100
	DefaultBackoffBase  = 500 * time.Microsecond
	DefaultBackoffMax   = 100 * time.Millisecond
	DefaultMaxValueSize = 1 << 20
	DefaultCacheScopes  = 4096
	DefaultCacheBytes   = 64 << 20
)

// Option changes a setting of an Engine; see New.
type Option func(*options)

type options struct {
	maxAttempts  int
	backoffBase  time.Duration
	backoffMax   time.Duration
	maxValueSize int
	cacheScopes  int
	cacheBytes   int
}

func defaultOptions() options {
	return options{
		maxAttempts:  DefaultMaxAttempts,
		backoffBase:  DefaultBackoffBase,
		backoffMax:   DefaultBackoffMax,
		maxValueSize: DefaultMaxValueSize,
		cacheScopes:  DefaultCacheScopes,
		cacheBytes:   DefaultCacheBytes,
	}
}

// WithMaxAttempts sets how many commits a call tries before it fails with
// ErrTooManyConflicts. Values below 1 mean 1.
func WithMaxAttempts(n int) Option {
	return func(o *options) { o.maxAttempts = max(n, 1) }
}

// WithBackoff sets the wait between attempts after conflicts. The first
// retry after a conflict is immediate, on the record the conflict returned.
// After the n-th conflict in a row (n ≥ 2) the engine waits a random
// duration (full jitter) below base·2^(n-2), capped at max, and then reads
// the record again. A zero base or max never waits.
func WithBackoff(base, max time.Duration) Option {
	return func(o *options) { o.backoffBase, o.backoffMax = base, max }
}

// WithMaxValueSize sets the largest encoded value, in bytes, that the engine
// writes. A handler whose change makes the value bigger fails with
// ErrValueTooLarge, and nothing of it is written.
func WithMaxValueSize(n int) Option {
	return func(o *options) { o.maxValueSize = n }
}

// WithCache bounds the cache of last seen records, which lets a write cost
// one round trip instead of two: at most maxScopes scopes holding at most
// maxBytes of values, least recently used first out. Records of scopes in
// use are kept regardless. Zero for either disables the cache.
func WithCache(maxScopes, maxBytes int) Option {
	return func(o *options) { o.cacheScopes, o.cacheBytes = max(maxScopes, 0), max(maxBytes, 0) }
}
