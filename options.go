package scoped

import "time"

// Defaults for the engine's options.
const (
	DefaultMaxAttempts  = 100
	DefaultBackoffBase  = 500 * time.Microsecond
	DefaultBackoffMax   = 100 * time.Millisecond
	DefaultMaxValueSize = 1 << 20
	DefaultCacheSize    = 4096
)

// Option changes a setting of an Engine; see New.
type Option func(*options)

type options struct {
	maxAttempts  int
	backoffBase  time.Duration
	backoffMax   time.Duration
	maxValueSize int
	cacheSize    int
}

func defaultOptions() options {
	return options{
		maxAttempts:  DefaultMaxAttempts,
		backoffBase:  DefaultBackoffBase,
		backoffMax:   DefaultBackoffMax,
		maxValueSize: DefaultMaxValueSize,
		cacheSize:    DefaultCacheSize,
	}
}

// WithMaxAttempts sets how many commits a call tries before it fails with
// ErrTooManyConflicts. Values below 1 mean 1.
func WithMaxAttempts(n int) Option {
	return func(o *options) { o.maxAttempts = max(n, 1) }
}

// WithBackoff sets the wait between attempts after a conflict: a random
// duration (full jitter) below base·2^(n-1) for the n-th conflict in a row,
// capped at max. Zero base retries at once.
func WithBackoff(base, max time.Duration) Option {
	return func(o *options) { o.backoffBase, o.backoffMax = base, max }
}

// WithMaxValueSize sets the largest encoded value, in bytes, that the engine
// writes. A bigger value fails with ErrValueTooLarge before any I/O.
func WithMaxValueSize(n int) Option {
	return func(o *options) { o.maxValueSize = n }
}

// WithCacheSize sets how many scopes' last seen records the engine keeps, so
// that a write costs one round trip instead of two. Zero disables the cache.
func WithCacheSize(n int) Option {
	return func(o *options) { o.cacheSize = max(n, 0) }
}
