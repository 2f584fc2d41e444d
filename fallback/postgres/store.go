package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scoped-go/scoped"
)

// maxMessageSize is the largest protocol message, its length word
// included, that pgx sends: it refuses a bigger one. It is PostgreSQL's
// PQ_LARGE_MESSAGE_LIMIT (MaxAllocSize - 1), which the server applies to a
// Bind or a result row without the length word, and is below bytea's own
// limit, a varlena of 1 GiB - 1 bytes header included.
const maxMessageSize = 0x3fffffff - 1

// messageOverhead is the room left in a message for what a statement or a
// result row carries besides the value: the statement's name, a scope name
// of up to 512 bytes, versions, writers, format codes and length words.
const messageOverhead = 1024

// Store is a scoped.Store on a PostgreSQL table. It is safe for concurrent
// use.
type Store struct {
	pool       *pgxpool.Pool
	table      string // quoted, ready for a statement
	sql        statements
	valueLimit int // the largest value written, in bytes
	now        func() time.Time
	tableName  string // the table's name, unquoted, without its schema
	lockSeed   int64  // the seed of the hashes of names that CompareAndSetMany locks
}

var (
	_ scoped.Store   = (*Store)(nil)
	_ scoped.Sweeper = (*Store)(nil)
)

// Option changes a setting of a Store.
type Option func(*config)

type config struct {
	table        string
	maxValueSize int
	now          func() time.Time
}

// WithTable sets the table of the scopes, DefaultTable by default: a name
// of ASCII letters, digits and '_' not beginning with a digit, at most 63
// bytes, optionally preceded by a schema name and '.'. It is quoted as
// written, so case matters. New refuses any other name with a *TableError.
// Without a schema, the table is looked for on the session's search_path
// when a connection first prepares the store's statements.
func WithTable(table string) Option {
	return func(c *config) { c.table = table }
}

// WithMaxValueSize sets the largest value, in bytes, that the store writes;
// a bigger one fails with a *scoped.ValueTooLargeError without any I/O. The
// protocol's limit (see the package documentation) applies as well. Zero or
// less leaves only that limit, the default.
func WithMaxValueSize(n int) Option {
	return func(c *config) { c.maxValueSize = max(n, 0) }
}

// WithClock sets the clock that decides whether a record has expired,
// time.Now by default. Its time is sent with every statement: the
// process's clock decides, not the server's (see the package doc).
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// New returns a Store that keeps scopes in a table reached through pool. It
// does no I/O: the table must exist before the first call (see CreateTable
// and DDL). The caller keeps ownership of the pool, and closes it when the
// store is no longer used; the store holds nothing else.
func New(pool *pgxpool.Pool, opts ...Option) (*Store, error) {
	if pool == nil {
		return nil, errors.New("scoped/postgres: New with a nil *pgxpool.Pool")
	}
	c := config{table: DefaultTable, now: time.Now}
	for _, opt := range opts {
		opt(&c)
	}
	table, err := quoteTable(c.table)
	if err != nil {
		return nil, err
	}
	limit := maxMessageSize
	if n := pool.Config().ConnConfig.MaxProtocolMessageBodyLen; n > 0 && n < limit {
		limit = n // pgx refuses to read a bigger reply, such as a Load of the value
	}
	limit -= messageOverhead
	seed := fnv.New64a()
	seed.Write([]byte(table))
	s := &Store{pool: pool, table: table, sql: newStatements(table), valueLimit: limit, now: c.now, tableName: c.table, lockSeed: int64(seed.Sum64())}
	if _, name, ok := strings.Cut(c.table, "."); ok {
		s.tableName = name
	}
	if c.maxValueSize > 0 && c.maxValueSize < limit {
		s.valueLimit = c.maxValueSize
	}
	return s, nil
}

// Load implements scoped.Store with one SELECT.
func (s *Store) Load(ctx context.Context, name string) (scoped.Record, error) {
	conn, err := s.start(ctx, name, s.sql.load)
	if err != nil {
		return scoped.Record{}, err
	}
	defer conn.Release()
	rec, err := s.read(ctx, conn, name, s.nowMilli())
	if err != nil {
		return scoped.Record{}, fmt.Errorf("scoped/postgres: load: %w", err)
	}
	return rec, nil
}

// CompareAndSet implements scoped.Store with one statement, which either
// writes or answers the current record: an INSERT when expected is the
// zero Revision (which replaces an expired row), an UPDATE otherwise.
func (s *Store) CompareAndSet(ctx context.Context, name string, expected scoped.Revision, next scoped.Write) (scoped.Record, bool, error) {
	value, writer := next.Value, next.Writer
	switch {
	case len(value) == 0:
		return scoped.Record{}, false, scoped.NotApplied(errors.New("scoped/postgres: compare-and-set of an empty value"))
	case len(value) > s.valueLimit:
		return scoped.Record{}, false, scoped.NotApplied(&scoped.ValueTooLargeError{Scope: name, Size: len(value), Limit: s.valueLimit})
	case expected.Version >= math.MaxInt64:
		return scoped.Record{}, false, versionError(name, expected.Version)
	case expected.IsZero():
		return s.create(ctx, name, next)
	}
	conn, err := s.start(ctx, name, s.sql.update)
	if err != nil {
		return scoped.Record{}, false, err
	}
	defer conn.Release()
	version := expected.Version + 1
	cur, ok, err := s.guarded(ctx, conn, name, s.sql.update,
		name, int64(expected.Version), expected.Writer[:], int64(version), writer[:], value, expiryParam(next.ExpiresAt), s.nowMilli())
	if err != nil {
		return scoped.Record{}, false, fmt.Errorf("scoped/postgres: update: %w", err)
	}
	if ok {
		return next.Record(version), true, nil
	}
	return cur, false, nil
}

// Delete implements scoped.Store with one DELETE that answers the current
// record when it is refused. Expecting the zero Revision, it is one SELECT,
// which finds no row, or refuses the delete.
func (s *Store) Delete(ctx context.Context, name string, expected scoped.Revision) (scoped.Record, bool, error) {
	if expected.Version > math.MaxInt64 {
		return scoped.Record{}, false, versionError(name, expected.Version)
	}
	if expected.IsZero() {
		// Nothing to remove: the delete succeeds if there is no record.
		// It writes nothing whatever happens, so any failure is one that
		// was not applied.
		conn, err := s.start(ctx, name, s.sql.load)
		if err != nil {
			return scoped.Record{}, false, err
		}
		defer conn.Release()
		cur, err := s.read(ctx, conn, name, s.nowMilli())
		if err != nil {
			return scoped.Record{}, false, scoped.NotApplied(fmt.Errorf("scoped/postgres: delete: %w", err))
		}
		return cur, !cur.Exists(), nil
	}
	conn, err := s.start(ctx, name, s.sql.delete)
	if err != nil {
		return scoped.Record{}, false, err
	}
	defer conn.Release()
	cur, ok, err := s.guarded(ctx, conn, name, s.sql.delete, name, int64(expected.Version), expected.Writer[:], s.nowMilli())
	if err != nil {
		return scoped.Record{}, false, fmt.Errorf("scoped/postgres: delete: %w", err)
	}
	return cur, ok, nil
}

// start checks what a call can check without I/O, the name and the
// context, acquires a connection of the pool and prepares the statement sql
// on it if it is not yet (pgx keeps a connection's prepared statements, so
// that is once per connection). The caller releases the connection. Every
// error it returns is from before the statement was sent, and matches
// scoped.ErrNotApplied: the pool's Acquire fails only before anything of the
// call is written (its context ended, the pool is closed, a new connection
// could not be made or was refused), and a statement that failed to prepare
// did not run.
func (s *Store) start(ctx context.Context, name, sql string) (*pgxpool.Conn, error) {
	if err := scoped.ValidateName(name); err != nil {
		return nil, scoped.NotApplied(err)
	}
	return s.acquire(ctx, sql)
}

// acquire is start without the name: it acquires a connection and
// prepares every statement of sqls on it, and every error it returns
// matches scoped.ErrNotApplied.
func (s *Store) acquire(ctx context.Context, sqls ...string) (*pgxpool.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, scoped.NotApplied(fmt.Errorf("scoped/postgres: %w", err))
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, scoped.NotApplied(fmt.Errorf("scoped/postgres: acquire a connection: %w", err))
	}
	for _, sql := range sqls {
		if err := s.prepare(ctx, conn, sql); err != nil {
			conn.Release()
			return nil, err
		}
	}
	return conn, nil
}

// prepare prepares sql on conn, if it is not yet; every error it returns
// matches scoped.ErrNotApplied.
func (s *Store) prepare(ctx context.Context, conn *pgxpool.Conn, sql string) error {
	if _, err := conn.Conn().Prepare(ctx, sql, sql); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "42P01" { // undefined_table
			return scoped.NotApplied(fmt.Errorf("scoped/postgres: table %s does not exist (call CreateTable, or run Store.DDL): %w", s.table, err))
		}
		if errors.As(err, &pe) && pe.Code == "42703" { // undefined_column
			return scoped.NotApplied(fmt.Errorf("scoped/postgres: table %s lacks a column, made by an earlier version of this package (call CreateTable to add it): %w", s.table, err))
		}
		return scoped.NotApplied(fmt.Errorf("scoped/postgres: prepare a statement: %w", err))
	}
	return nil
}

// create inserts the first record of a scope, or replaces its expired one,
// or answers the live record it has.
func (s *Store) create(ctx context.Context, name string, next scoped.Write) (scoped.Record, bool, error) {
	conn, err := s.start(ctx, name, s.sql.create)
	if err != nil {
		return scoped.Record{}, false, err
	}
	defer conn.Release()
	var (
		version    int64
		by, stored []byte
		expires    pgtype.Int8
	)
	err = conn.QueryRow(ctx, s.sql.create, name, next.Writer[:], next.Value, expiryParam(next.ExpiresAt), s.nowMilli()).Scan(&version, &by, &stored, &expires)
	if err != nil {
		return scoped.Record{}, false, fmt.Errorf("scoped/postgres: insert: %w", classify(err))
	}
	if bytes.Equal(by, next.Writer[:]) {
		// The row holds this write's token, which no other write has: it
		// is this write's row, at version 1 (a later write would have
		// replaced the token).
		return next.Record(uint64(version)), true, nil
	}
	cur, err := record(name, version, by, stored, expires)
	if err != nil {
		return scoped.Record{}, false, scoped.NotApplied(err) // the write was refused
	}
	return cur, false, nil
}

// guarded runs sql, the update or delete statement made by writeStatement,
// with args, and returns the current record and false if it was refused, or
// true if it applied.
func (s *Store) guarded(ctx context.Context, conn *pgxpool.Conn, name, sql string, args ...any) (scoped.Record, bool, error) {
	var (
		applied    bool
		version    int64
		by, stored []byte
		expires    pgtype.Int8
	)
	err := conn.QueryRow(ctx, sql, args...).Scan(&applied, &version, &by, &stored, &expires)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return scoped.Record{}, false, nil // refused: the scope has no record
	case err != nil:
		return scoped.Record{}, false, classify(err)
	case applied:
		return scoped.Record{}, true, nil
	}
	cur, err := record(name, version, by, stored, expires)
	if err != nil {
		return scoped.Record{}, false, scoped.NotApplied(err) // the write was refused
	}
	return cur, false, nil
}

// read runs the load statement, prepared on conn: the live record at now.
func (s *Store) read(ctx context.Context, conn *pgxpool.Conn, name string, now int64) (scoped.Record, error) {
	var (
		version    int64
		by, stored []byte
		expires    pgtype.Int8
	)
	err := conn.QueryRow(ctx, s.sql.load, name, now).Scan(&version, &by, &stored, &expires)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return scoped.Record{}, nil
	case err != nil:
		return scoped.Record{}, classify(err)
	}
	return record(name, version, by, stored, expires)
}

// record checks the columns of a row and returns its record.
func record(name string, version int64, writer, value []byte, expires pgtype.Int8) (scoped.Record, error) {
	if version <= 0 || len(writer) != scoped.TokenSize || value == nil {
		return scoped.Record{}, &scoped.CorruptValueError{Scope: name,
			Err: fmt.Errorf("row at version %d with a writer of %d bytes and a value of %d bytes (NULL %v)", version, len(writer), len(value), value == nil)}
	}
	rec := scoped.Record{Value: value, Version: uint64(version)}
	copy(rec.Writer[:], writer)
	if expires.Valid {
		rec.ExpiresAt = time.UnixMilli(expires.Int64)
	}
	return rec, nil
}

// expiryParam returns the expires_at of an expiry time: milliseconds since
// the epoch, or NULL for the zero time (never).
func expiryParam(at time.Time) any {
	if at.IsZero() {
		return nil
	}
	return at.UnixMilli()
}

// nowMilli returns the time of the store's clock, in milliseconds since
// the epoch, as statements compare it with expires_at.
func (s *Store) nowMilli() int64 { return s.now().UnixMilli() }
