package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/sqlrows"
)

// uniqueViolation is the SQLSTATE of an INSERT that met a row with its key.
const uniqueViolation = "23505"

// CompareAndSetMany implements scoped.Store with one transaction in two
// round trips: BEGIN, an advisory lock on every name and a SELECT ... FOR
// UPDATE of every row in name order, pipelined; then, if every revision is the one expected, an UPDATE
// or INSERT of each scope set, a DELETE of the scopes deleted and COMMIT,
// pipelined (or ROLLBACK if a revision is off). A call that only checks (no
// ActionSet, and every ActionDelete expecting no record) is one SELECT and
// no transaction. See the package doc.
func (s *Store) CompareAndSetMany(ctx context.Context, changes []scoped.Change) ([]scoped.Record, bool, error) {
	writes := false
	for _, c := range changes {
		if err := scoped.ValidateName(c.Name); err != nil {
			return nil, false, scoped.NotApplied(err)
		}
		set := c.Action == scoped.ActionSet
		switch {
		case set && len(c.Write.Value) == 0:
			return nil, false, scoped.NotApplied(fmt.Errorf("scoped/postgres: compare-and-set of an empty value in scope %q", c.Name))
		case set && len(c.Write.Value) > s.valueLimit:
			return nil, false, scoped.NotApplied(&scoped.ValueTooLargeError{Scope: c.Name, Size: len(c.Write.Value), Limit: s.valueLimit})
		case set && c.Expected.Version >= math.MaxInt64, c.Expected.Version > math.MaxInt64:
			return nil, false, versionError(c.Name, c.Expected.Version)
		}
		writes = writes || set || c.Action == scoped.ActionDelete && !c.Expected.IsZero()
	}
	names := make([]string, len(changes))
	for i, c := range changes {
		names[i] = c.Name
	}
	slices.Sort(names)
	if !writes {
		// Nothing to write: one SELECT reads every row from one snapshot.
		conn, err := s.acquire(ctx, s.sql.readMany)
		if err != nil {
			return nil, false, err
		}
		defer conn.Release()
		cur, err := s.current(ctx, conn, names)
		if err != nil {
			return nil, false, scoped.NotApplied(err)
		}
		out, ok := cur.Compare(changes)
		return out, ok, nil
	}
	conn, err := s.acquire(ctx, s.sql.lockNames, s.sql.lockMany, s.sql.readMany, s.sql.insertRow, s.sql.replaceRow, s.sql.deleteMany)
	if err != nil {
		return nil, false, err
	}
	// A connection left in a transaction, after a failure, is closed
	// rather than pooled (pgxpool checks), and the server rolls back the
	// transaction of a session that ends.
	defer conn.Release()
	return s.many(ctx, conn, changes, names)
}

// many runs a CompareAndSetMany that writes on conn, where its statements
// are prepared; names are the scopes', sorted.
func (s *Store) many(ctx context.Context, conn *pgxpool.Conn, changes []scoped.Change, names []string) ([]scoped.Record, bool, error) {
	// Nothing is committed before COMMIT, and COMMIT only follows writes
	// that all succeeded: a failure before it is not applied.
	lock := &pgx.Batch{}
	lock.Queue("BEGIN")
	lock.Queue(s.sql.lockNames, names, s.lockSeed)
	lock.Queue(s.sql.lockMany, names)
	cur, err := s.batchRows(ctx, conn, lock)
	if err != nil {
		rollbackAborted(ctx, conn)
		return nil, false, scoped.NotApplied(fmt.Errorf("scoped/postgres: lock the rows: %w", err))
	}
	if out, ok := cur.Compare(changes); !ok {
		if _, err := conn.Exec(ctx, "ROLLBACK"); err != nil {
			// Nothing was written: the transaction only locked rows.
			return nil, false, scoped.NotApplied(fmt.Errorf("scoped/postgres: roll back a refused compare-and-set-many: %w", err))
		}
		return out, false, nil
	}

	sets := slices.SortedFunc(slices.Values(changes), func(a, b scoped.Change) int { return strings.Compare(a.Name, b.Name) })
	write := &pgx.Batch{}
	var deletes []string
	for _, c := range sets {
		switch {
		case c.Action == scoped.ActionSet && cur[c.Name].Present:
			write.Queue(s.sql.replaceRow, c.Name, int64(c.Expected.Version+1), c.Write.Writer[:], c.Write.Value, expiryParam(c.Write.ExpiresAt))
		case c.Action == scoped.ActionSet:
			write.Queue(s.sql.insertRow, c.Name, c.Write.Writer[:], c.Write.Value, expiryParam(c.Write.ExpiresAt))
		case c.Action == scoped.ActionDelete && !c.Expected.IsZero():
			deletes = append(deletes, c.Name)
		}
	}
	if len(deletes) > 0 {
		write.Queue(s.sql.deleteMany, deletes)
	}
	write.Queue("COMMIT")
	err = execAll(conn.SendBatch(ctx, write), write.Len())
	var pe *pgconn.PgError
	switch {
	case err == nil:
	case errors.As(err, &pe) && pe.Code == uniqueViolation:
		// A row absent when locked (FOR UPDATE locks no absent row) was
		// inserted by another transaction meanwhile: a conflict. The
		// error aborted the transaction, and COMMIT did not commit it.
		return s.raced(ctx, conn, changes, names)
	default:
		// A server error aborts the transaction, which then never
		// commits: classify marks it as not applied. Any other failure
		// may have left COMMIT running.
		rollbackAborted(ctx, conn)
		return nil, false, classify(fmt.Errorf("scoped/postgres: write the rows: %w", err))
	}
	return cur.Committed(changes), true, nil
}

// batchRows runs b, statements and then the SELECT of lockMany or
// readMany, and returns the rows.
func (s *Store) batchRows(ctx context.Context, conn *pgxpool.Conn, b *pgx.Batch) (sqlrows.Rows, error) {
	now := s.nowMilli()
	br := conn.SendBatch(ctx, b)
	var err error
	for range b.Len() - 1 {
		if _, err = br.Exec(); err != nil {
			break
		}
	}
	var cur sqlrows.Rows
	if err == nil {
		var rows pgx.Rows
		if rows, err = br.Query(); err == nil {
			cur, err = scanRows(rows, now)
		}
	}
	if closeErr := br.Close(); err == nil {
		err = closeErr
	}
	return cur, err
}

// rollbackAborted ends the transaction of conn if a server error aborted
// it, so that the pool keeps the connection (it closes one left in a
// transaction). A failure leaves it to the pool to close.
func rollbackAborted(ctx context.Context, conn *pgxpool.Conn) {
	if conn.Conn().PgConn().TxStatus() == 'E' {
		conn.Exec(ctx, "ROLLBACK")
	}
}

// execAll reads the results of the n statements of br, and closes it. It
// returns the first error: the statements after it did not run, or ran in
// a transaction already aborted.
func execAll(br pgx.BatchResults, n int) error {
	var err error
	for range n {
		if _, err = br.Exec(); err != nil {
			break
		}
	}
	if closeErr := br.Close(); err == nil {
		err = closeErr
	}
	return err
}

// raced ends a transaction whose INSERT met a row created by another one
// since the lock: ROLLBACK and a SELECT of the current rows, pipelined.
func (s *Store) raced(ctx context.Context, conn *pgxpool.Conn, changes []scoped.Change, names []string) ([]scoped.Record, bool, error) {
	b := &pgx.Batch{}
	b.Queue("ROLLBACK")
	b.Queue(s.sql.readMany, names)
	cur, err := s.batchRows(ctx, conn, b)
	if err != nil {
		return nil, false, scoped.NotApplied(fmt.Errorf("scoped/postgres: read after a refused compare-and-set-many: %w", err))
	}
	out, _ := cur.Compare(changes)
	return out, false, nil
}

// current runs readMany, the SELECT of the rows of names, on its own: one
// statement, which reads them from one snapshot.
func (s *Store) current(ctx context.Context, conn *pgxpool.Conn, names []string) (sqlrows.Rows, error) {
	now := s.nowMilli()
	rows, err := conn.Query(ctx, s.sql.readMany, names)
	if err != nil {
		return nil, fmt.Errorf("scoped/postgres: read the rows: %w", err)
	}
	cur, err := scanRows(rows, now)
	if err != nil {
		return nil, fmt.Errorf("scoped/postgres: read the rows: %w", err)
	}
	return cur, nil
}

// scanRows reads the rows of lockMany or readMany and closes them; a row
// expired by now is present, with the zero Record.
func scanRows(rows pgx.Rows, now int64) (sqlrows.Rows, error) {
	defer rows.Close()
	cur := sqlrows.Rows{}
	for rows.Next() {
		var (
			name       string
			version    int64
			by, stored []byte
			expires    pgtype.Int8
		)
		if err := rows.Scan(&name, &version, &by, &stored, &expires); err != nil {
			return nil, err
		}
		rec, err := record(name, version, by, stored, expires)
		if err != nil {
			return nil, err
		}
		cur.Add(name, rec, expires.Valid && expires.Int64 <= now)
	}
	return cur, rows.Err()
}
