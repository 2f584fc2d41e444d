package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/scoped-go/scoped"
)

// Store is a scoped.Store on a MySQL or MariaDB table. It is safe for
// concurrent use.
type Store struct {
	db           *sql.DB
	table        string         // quoted, ready for a statement
	database     sql.NullString // the table's database, if WithTable names it
	tableName    string         // the table's name, unquoted
	maxValueSize int            // 0: only the server's limit
	now          func() time.Time

	prepared  atomic.Pointer[statements]
	preparing chan struct{} // held while preparing or closing; guards closed
	closed    bool
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

// WithClock sets the clock that decides whether a record has expired,
// time.Now by default. Its time is sent with every statement: the
// process's clock decides, not the server's (see the package doc).
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// New returns a Store that keeps scopes in a table of db. It does no I/O:
// the table must exist before the first call (see CreateTable and DDL), and
// the statements are prepared then. The caller keeps ownership of db and
// closes it after Close.
func New(db *sql.DB, opts ...Option) (*Store, error) {
	if db == nil {
		return nil, errors.New("scoped/mysql: New with a nil *sql.DB")
	}
	c := config{table: DefaultTable, now: time.Now}
	for _, opt := range opts {
		opt(&c)
	}
	table, err := quoteTable(c.table)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, table: table, tableName: c.table, maxValueSize: c.maxValueSize, now: c.now, preparing: make(chan struct{}, 1)}
	if database, name, ok := strings.Cut(c.table, "."); ok {
		s.database, s.tableName = sql.NullString{String: database, Valid: true}, name
	}
	return s, nil
}

// Close releases the store's prepared statements, on the server and in the
// pool; it does not close the pool. It waits for the calls that are using
// the statements to end. Calls that start after Close fail with an error
// matching ErrClosed and scoped.ErrNotApplied. A store that is never closed
// keeps its statements until the pool closes.
func (s *Store) Close() error {
	s.preparing <- struct{}{}
	defer func() { <-s.preparing }()
	s.closed = true
	st := s.prepared.Swap(nil)
	if st == nil {
		return nil
	}
	st.inUse.Lock()
	st.closed = true
	st.inUse.Unlock()
	if err := st.close(); err != nil {
		return fmt.Errorf("scoped/mysql: close: %w", err)
	}
	return nil
}

// Load implements scoped.Store with one SELECT.
func (s *Store) Load(ctx context.Context, name string) (scoped.Record, error) {
	st, err := s.start(ctx, name)
	if err != nil {
		return scoped.Record{}, err
	}
	defer st.release()
	rec, err := st.read(ctx, name, s.nowMilli())
	if err != nil {
		return scoped.Record{}, classify(fmt.Errorf("scoped/mysql: load: %w", err))
	}
	return rec, nil
}

// CompareAndSet implements scoped.Store: one INSERT when expected is the
// zero Revision (which replaces an expired row), one UPDATE otherwise; a
// refused write is followed by a SELECT of the current record.
func (s *Store) CompareAndSet(ctx context.Context, name string, expected scoped.Revision, next scoped.Write) (scoped.Record, bool, error) {
	value := next.Value
	if len(value) == 0 {
		return scoped.Record{}, false, scoped.NotApplied(errors.New("scoped/mysql: compare-and-set of an empty value"))
	}
	if s.maxValueSize > 0 && len(value) > s.maxValueSize {
		return scoped.Record{}, false, scoped.NotApplied(&scoped.ValueTooLargeError{Scope: name, Size: len(value), Limit: s.maxValueSize})
	}
	st, err := s.start(ctx, name)
	if err != nil {
		return scoped.Record{}, false, err
	}
	defer st.release()
	if len(value) > st.valueLimit {
		return scoped.Record{}, false, scoped.NotApplied(&scoped.ValueTooLargeError{Scope: name, Size: len(value), Limit: st.valueLimit})
	}
	now := s.nowMilli()
	if expected.IsZero() {
		return st.create(ctx, name, next, now)
	}
	return st.replace(ctx, name, expected, next, now)
}

// Delete implements scoped.Store with one DELETE of the row; a refused
// delete is followed by a SELECT of the current record. Expecting the zero
// Revision, it is one SELECT, which finds no row or refuses the delete.
func (s *Store) Delete(ctx context.Context, name string, expected scoped.Revision) (scoped.Record, bool, error) {
	st, err := s.start(ctx, name)
	if err != nil {
		return scoped.Record{}, false, err
	}
	defer st.release()
	if expected.IsZero() {
		// Nothing to remove: the delete succeeds if there is no record.
		// It writes nothing whatever happens, so any failure is one that
		// was not applied.
		cur, err := st.read(ctx, name, s.nowMilli())
		if err != nil {
			return scoped.Record{}, false, scoped.NotApplied(fmt.Errorf("scoped/mysql: delete: %w", err))
		}
		return cur, !cur.Exists(), nil
	}
	return st.remove(ctx, name, expected, s.nowMilli())
}

// start checks what a call can check without I/O, the name and the
// context, and returns the prepared statements, held for the call: the
// caller releases them. Every error it returns is from before anything of
// the call was sent, and matches scoped.ErrNotApplied.
func (s *Store) start(ctx context.Context, name string) (*statements, error) {
	if err := scoped.ValidateName(name); err != nil {
		return nil, scoped.NotApplied(err)
	}
	if err := ctx.Err(); err != nil {
		return nil, scoped.NotApplied(fmt.Errorf("scoped/mysql: %w", err))
	}
	st, err := s.acquire(ctx)
	if err != nil {
		return nil, scoped.NotApplied(err)
	}
	return st, nil
}

// create writes the first record of a scope, version 1, with one INSERT
// that inserts the row or, if the scope has an expired row, replaces it. A
// live row is left as it is: the write is refused.
//
// The server counts one affected row for an insert, two for a replaced
// row and none for a row left as it is. With the DSN's clientFoundRows
// (CLIENT_FOUND_ROWS), a row left as it is counts one as well, and a
// refused write would be taken for an insert: the package doc says not to
// set it.
func (st *statements) create(ctx context.Context, name string, next scoped.Write, now int64) (scoped.Record, bool, error) {
	res, err := st.insert.ExecContext(ctx, name, next.Writer[:], next.Value, expiryParam(next.ExpiresAt), now, now, now, now)
	if err != nil {
		return scoped.Record{}, false, classify(fmt.Errorf("scoped/mysql: insert: %w", err))
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return st.refused(ctx, name)
	}
	return next.Record(1), true, nil
}

// replace updates the live row of a scope if its version and writer are
// expected's; it changes no row otherwise.
func (st *statements) replace(ctx context.Context, name string, expected scoped.Revision, next scoped.Write, now int64) (scoped.Record, bool, error) {
	version := expected.Version + 1
	res, err := st.update.ExecContext(ctx, version, next.Writer[:], next.Value, expiryParam(next.ExpiresAt), name, expected.Version, expected.Writer[:], now)
	if err != nil {
		return scoped.Record{}, false, classify(fmt.Errorf("scoped/mysql: update: %w", err))
	}
	if !affectedOne(res) {
		return st.refused(ctx, name)
	}
	return next.Record(version), true, nil
}

// remove deletes the live row of a scope if its version and writer are
// expected's; it deletes nothing otherwise.
func (st *statements) remove(ctx context.Context, name string, expected scoped.Revision, now int64) (scoped.Record, bool, error) {
	res, err := st.delete.ExecContext(ctx, name, expected.Version, expected.Writer[:], now)
	if err != nil {
		return scoped.Record{}, false, classify(fmt.Errorf("scoped/mysql: delete: %w", err))
	}
	if !affectedOne(res) {
		return st.refused(ctx, name)
	}
	return scoped.Record{}, true, nil
}

// affectedOne reports whether a statement on one primary key changed its
// row. go-sql-driver keeps the count of the server's OK packet, so
// RowsAffected cannot fail; a statement that changed nothing and one whose
// count cannot be read are both a refusal to the caller, who reads the row
// next.
func affectedOne(res sql.Result) bool {
	n, err := res.RowsAffected()
	return err == nil && n == 1
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

// refused reads the current record after the server refused a write: an
// INSERT found the key taken, or an UPDATE or DELETE matched no row. The
// read is a second statement, outside any transaction, and that is safe:
// the refused statement read the latest committed row (InnoDB reads the
// row it locks for a write, or for a duplicate-key check), and this SELECT,
// begun after it ended, sees that row or a later one. What it returns was
// the current record at some moment after the refusal, which is all that
// the contract asks. Rows are removed and versions start again at 1 after
// a re-create, but a revision (version and writer) that was replaced never
// comes back, so the record read is never the revision a refused UPDATE or
// DELETE expected. An expired row is no row, to this read as to the write:
// the clock is read again for it, and a row that expired in between reads
// as none. Only the zero Revision repeats: a refused INSERT may be
// followed by a delete of the row it met, and then this returns the zero
// Record and false, a conflict over a scope that had a record, and has
// none again; the caller retries against that.
//
// The write is known not to be performed, so an error of the read is
// marked as not applied.
func (st *statements) refused(ctx context.Context, name string) (scoped.Record, bool, error) {
	cur, err := st.read(ctx, name, st.now().UnixMilli())
	if err != nil {
		return scoped.Record{}, false, scoped.NotApplied(fmt.Errorf("scoped/mysql: read after a refused write: %w", err))
	}
	return cur, false, nil
}

// read reads the record of name; a scope without a row, or whose row
// expired by now, is the zero Record.
func (st *statements) read(ctx context.Context, name string, now int64) (scoped.Record, error) {
	var (
		version uint64
		writer  []byte
		value   []byte
		expires sql.NullInt64
	)
	err := st.load.QueryRowContext(ctx, name, now).Scan(&version, &writer, &value, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return scoped.Record{}, nil
	}
	if err != nil {
		return scoped.Record{}, err
	}
	return st.record(name, version, writer, value, expires)
}

// record checks the columns of a row of name and returns its record.
func (st *statements) record(name string, version uint64, writer, value []byte, expires sql.NullInt64) (scoped.Record, error) {
	if value == nil {
		return scoped.Record{}, fmt.Errorf("scoped/mysql: scope %q has a row with a NULL value, a deleted scope as earlier versions of this package kept it: "+
			"remove such rows (DELETE FROM %s WHERE `value` IS NULL) once no older version uses the table", name, st.table)
	}
	if len(writer) != scoped.TokenSize || version == 0 {
		return scoped.Record{}, &scoped.CorruptValueError{Scope: name,
			Err: fmt.Errorf("row at version %d with a writer of %d bytes", version, len(writer))}
	}
	rec := scoped.Record{Value: value, Version: version}
	copy(rec.Writer[:], writer)
	if expires.Valid {
		rec.ExpiresAt = time.UnixMilli(expires.Int64)
	}
	return rec, nil
}
