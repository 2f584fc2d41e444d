package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/scoped-go/scoped"
)

// errDuplicateKey is the server's error number for an INSERT of an existing
// primary key (ER_DUP_ENTRY, the same on MySQL and MariaDB).
const errDuplicateKey = 1062

// Store is a scoped.Store on a MySQL or MariaDB table. It is safe for
// concurrent use.
type Store struct {
	db           *sql.DB
	table        string // quoted, ready for a statement
	maxValueSize int    // 0: only the server's limit

	prepared  atomic.Pointer[statements]
	preparing chan struct{} // held while preparing or closing; guards closed
	closed    bool
}

var _ scoped.Store = (*Store)(nil)

// Option changes a setting of a Store.
type Option func(*config)

type config struct {
	table        string
	maxValueSize int
}

// WithTable sets the table of the scopes, DefaultTable by default: a name
// of ASCII letters, digits and '_' not beginning with a digit, at most 64
// bytes, optionally preceded by a database name and '.'. New refuses any
// other name with a *TableError.
func WithTable(table string) Option {
	return func(c *config) { c.table = table }
}

// WithMaxValueSize sets the largest value, in bytes, that the store writes;
// a bigger one fails with a *scoped.ValueTooLargeError without any I/O. The
// server's max_allowed_packet, less 1 KiB, is a limit as well. Zero or less
// leaves only the server's limit, the default.
func WithMaxValueSize(n int) Option {
	return func(c *config) { c.maxValueSize = max(n, 0) }
}

// New returns a Store that keeps scopes in a table of db. It does no I/O:
// the table must exist before the first call (see CreateTable and DDL), and
// the statements are prepared then. The caller keeps ownership of db and
// closes it after Close.
func New(db *sql.DB, opts ...Option) (*Store, error) {
	if db == nil {
		return nil, errors.New("scoped/mysql: New with a nil *sql.DB")
	}
	c := config{table: DefaultTable}
	for _, opt := range opts {
		opt(&c)
	}
	table, err := quoteTable(c.table)
	if err != nil {
		return nil, err
	}
	return &Store{db: db, table: table, maxValueSize: c.maxValueSize, preparing: make(chan struct{}, 1)}, nil
}

// Close releases the store's prepared statements, on the server and in the
// pool; it does not close the pool. Calls that start after Close fail with
// ErrClosed. A store that is never closed keeps its statements until the
// pool closes.
func (s *Store) Close() error {
	s.preparing <- struct{}{}
	defer func() { <-s.preparing }()
	s.closed = true
	if st := s.prepared.Swap(nil); st != nil {
		if err := st.close(); err != nil {
			return fmt.Errorf("scoped/mysql: close: %w", err)
		}
	}
	return nil
}

// Load implements scoped.Store with one SELECT.
func (s *Store) Load(ctx context.Context, name string) (scoped.Record, error) {
	if err := scoped.ValidateName(name); err != nil {
		return scoped.Record{}, err
	}
	st, err := s.ready(ctx)
	if err != nil {
		return scoped.Record{}, err
	}
	rec, err := load(ctx, st, name)
	if err != nil {
		return scoped.Record{}, fmt.Errorf("scoped/mysql: load: %w", err)
	}
	return rec, nil
}

// CompareAndSet implements scoped.Store: one INSERT when expected is 0, one
// UPDATE otherwise; a refused write is followed by a SELECT of the current
// record.
func (s *Store) CompareAndSet(ctx context.Context, name string, expected uint64, value []byte, writer scoped.Token) (scoped.Record, bool, error) {
	if err := scoped.ValidateName(name); err != nil {
		return scoped.Record{}, false, err
	}
	if len(value) == 0 {
		return scoped.Record{}, false, errors.New("scoped/mysql: compare-and-set of an empty value")
	}
	if s.maxValueSize > 0 && len(value) > s.maxValueSize {
		return scoped.Record{}, false, &scoped.ValueTooLargeError{Scope: name, Size: len(value), Limit: s.maxValueSize}
	}
	st, err := s.ready(ctx)
	if err != nil {
		return scoped.Record{}, false, err
	}
	if len(value) > st.valueLimit {
		return scoped.Record{}, false, &scoped.ValueTooLargeError{Scope: name, Size: len(value), Limit: st.valueLimit}
	}
	return write(ctx, st, name, expected, value, writer)
}

// Delete implements scoped.Store as CompareAndSet does, writing a NULL
// value: the row stays, as the scope's tombstone.
func (s *Store) Delete(ctx context.Context, name string, expected uint64, writer scoped.Token) (scoped.Record, bool, error) {
	if err := scoped.ValidateName(name); err != nil {
		return scoped.Record{}, false, err
	}
	st, err := s.ready(ctx)
	if err != nil {
		return scoped.Record{}, false, err
	}
	return write(ctx, st, name, expected, nil, writer)
}

// write stores value (nil for a tombstone) as version expected+1 if the
// stored version is expected. A scope that has no row has version 0: its
// first write is an INSERT, and a duplicate key means another writer
// created it first. Any other scope is written by an UPDATE that matches
// the expected version, and changes no row if it is not. Only then is the
// current record read, by a second statement outside any transaction: rows
// are never removed and versions only grow, so what it reads is at least as
// new as the version that refused the write.
func write(ctx context.Context, st *statements, name string, expected uint64, value []byte, writer scoped.Token) (scoped.Record, bool, error) {
	next := expected + 1
	var applied bool
	if expected == 0 {
		_, err := st.insert.ExecContext(ctx, name, next, writer[:], value)
		var me *mysqldriver.MySQLError
		switch {
		case err == nil:
			applied = true
		case !errors.As(err, &me) || me.Number != errDuplicateKey:
			return scoped.Record{}, false, fmt.Errorf("scoped/mysql: insert: %w", err)
		}
	} else {
		res, err := st.update.ExecContext(ctx, next, writer[:], value, name, expected)
		if err != nil {
			return scoped.Record{}, false, fmt.Errorf("scoped/mysql: update: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return scoped.Record{}, false, fmt.Errorf("scoped/mysql: update: %w", err)
		}
		applied = n == 1
	}
	if applied {
		return scoped.Record{Value: value, Version: next, Writer: writer}, true, nil
	}
	cur, err := load(ctx, st, name)
	if err != nil {
		return scoped.Record{}, false, fmt.Errorf("scoped/mysql: read after a refused write: %w", err)
	}
	return cur, false, nil
}

// load reads the record of name; a scope without a row is the zero Record.
func load(ctx context.Context, st *statements, name string) (scoped.Record, error) {
	var (
		rec    scoped.Record
		writer []byte
	)
	err := st.load.QueryRowContext(ctx, name).Scan(&rec.Version, &writer, &rec.Value)
	if errors.Is(err, sql.ErrNoRows) {
		return scoped.Record{}, nil
	}
	if err != nil {
		return scoped.Record{}, err
	}
	if len(writer) != scoped.TokenSize || rec.Version == 0 {
		return scoped.Record{}, &scoped.CorruptValueError{Scope: name,
			Err: fmt.Errorf("row at version %d with a writer of %d bytes", rec.Version, len(writer))}
	}
	copy(rec.Writer[:], writer)
	return rec, nil
}
