// Package storeurl opens the scoped.Store that a URL, a DSN or a path names,
// for the commands of this repository (the counter example, scopectl):
//
//	redis://[user:password@]host:port[/db]       Redis, parsed by redis.ParseURL
//	rediss://...                                  Redis over TLS
//	mysql://DSN, or a DSN holding tcp( or unix(   MySQL or MariaDB (a go-sql-driver DSN)
//	postgres://..., postgresql://...              PostgreSQL, parsed by pgxpool.ParseConfig
//	file:PATH, file://PATH, or any other string   a local directory (the file fallback)
//
// The scheme is matched whatever its case. Each store has its package's
// defaults: redisstore.DefaultPrefix, mysql.DefaultTable,
// postgres.DefaultTable (created if missing).
//
//	st, err := storeurl.Open(ctx, "redis://127.0.0.1:6379/0")
//	if err != nil {
//		return err
//	}
//	defer st.Close() // after the engine's Close
//	e := scoped.New(st.Store)
package storeurl

import (
	"context"
	"errors"
	"strings"

	"github.com/scoped-go/scoped"
)

// DefaultPool is the most connections of a MySQL or PostgreSQL pool unless
// WithPool says otherwise.
const DefaultPool = 16

// ErrInvalidTarget is matched by the error of Open when the target cannot
// be parsed, or an option is out of range: nothing was opened or dialled.
var ErrInvalidTarget = errors.New("storeurl: invalid store target")

// Opened is a store that Open opened.
type Opened struct {
	Store       scoped.Store // the store, for scoped.New
	Description string       // what and where, for logs: never a password
	close       func()
}

// Close releases the store's connections. Call it once the engine over
// Store is closed.
func (o *Opened) Close() { o.close() }

// Option changes how Open opens a store.
type Option func(*options)

// options are the settings of Open.
type options struct {
	pool int
}

// WithPool bounds a MySQL or PostgreSQL pool to n connections (DefaultPool
// by default). A call that finds the pool full waits for a connection. n
// must be at least 1.
func WithPool(n int) Option {
	return func(o *options) { o.pool = n }
}

// Open opens the store that target names (see the package doc). It checks
// that a Redis server answers, and creates the MySQL or PostgreSQL table if
// missing, within ctx. An error matching ErrInvalidTarget means target or an
// option is wrong as written; any other error, that the store could not be
// reached or opened.
func Open(ctx context.Context, target string, opts ...Option) (*Opened, error) {
	o := options{pool: DefaultPool}
	for _, opt := range opts {
		opt(&o)
	}
	scheme, rest, _ := strings.Cut(target, ":")
	switch strings.ToLower(scheme) {
	case "redis", "rediss":
		return openRedis(ctx, target)
	case "postgres", "postgresql":
		return openPostgres(ctx, strings.ToLower(scheme)+":"+rest, o.pool) // pgx wants the scheme in lower case
	case "mysql":
		return openMySQL(ctx, strings.TrimPrefix(rest, "//"), o.pool)
	case "file":
		return openFile(strings.TrimPrefix(rest, "//"))
	}
	if strings.Contains(target, "tcp(") || strings.Contains(target, "unix(") {
		return openMySQL(ctx, target, o.pool)
	}
	return openFile(target)
}

// invalidError is the error of a target or option that cannot be used: it
// reads as its cause and matches ErrInvalidTarget.
type invalidError struct{ err error }

// invalid marks err as the error of a target or option that cannot be used.
func invalid(err error) error { return invalidError{err} }

// Error is the cause's message, as the parser or the option gave it.
func (e invalidError) Error() string { return e.err.Error() }

// Unwrap returns the cause.
func (e invalidError) Unwrap() error { return e.err }

// Is reports whether target is ErrInvalidTarget.
func (e invalidError) Is(target error) bool { return target == ErrInvalidTarget }
