package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strings"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/sqlrows"
)

// columns are the columns of a row, as the statements of CompareAndSetMany
// read and write them.
const columns = "`name`, `version`, `writer`, `value`, `expires_at`"

// CompareAndSetMany implements scoped.Store with one transaction at
// REPEATABLE READ: a SELECT ... FOR UPDATE of every row, in name order,
// which also locks the gaps of the rows absent; then, if every
// revision is the one expected, one INSERT ... ON DUPLICATE KEY UPDATE of
// the rows set and one DELETE of the rows deleted, each only if there are
// any, and COMMIT. A call that only checks (no ActionSet, and every
// ActionDelete expecting no record) is one SELECT and no transaction. See
// the package doc.
func (s *Store) CompareAndSetMany(ctx context.Context, changes []scoped.Change) ([]scoped.Record, bool, error) {
	for _, c := range changes {
		if err := scoped.ValidateName(c.Name); err != nil {
			return nil, false, scoped.NotApplied(err)
		}
		if c.Action != scoped.ActionSet {
			continue
		}
		if len(c.Write.Value) == 0 {
			return nil, false, scoped.NotApplied(fmt.Errorf("scoped/mysql: compare-and-set of an empty value in scope %q", c.Name))
		}
		if s.maxValueSize > 0 && len(c.Write.Value) > s.maxValueSize {
			return nil, false, scoped.NotApplied(&scoped.ValueTooLargeError{Scope: c.Name, Size: len(c.Write.Value), Limit: s.maxValueSize})
		}
	}
	st, err := s.start(ctx, changes[0].Name)
	if err != nil {
		return nil, false, err
	}
	defer st.release()
	for _, c := range changes {
		if c.Action == scoped.ActionSet && len(c.Write.Value) > st.valueLimit {
			return nil, false, scoped.NotApplied(&scoped.ValueTooLargeError{Scope: c.Name, Size: len(c.Write.Value), Limit: st.valueLimit})
		}
	}
	return st.many(ctx, changes)
}

// plan is what a CompareAndSetMany reads and writes, each list in name
// order: the order in which InnoDB locks the rows, whatever the order of
// the changes, so that two calls over the same rows never wait for each
// other in a cycle.
type plan struct {
	names   []string        // every scope
	sets    []scoped.Change // the ActionSet changes
	deletes []string        // the ActionDelete changes that expect a record
}

func newPlan(changes []scoped.Change) plan {
	var p plan
	for _, c := range changes {
		p.names = append(p.names, c.Name)
		switch {
		case c.Action == scoped.ActionSet:
			p.sets = append(p.sets, c)
		case c.Action == scoped.ActionDelete && !c.Expected.IsZero():
			p.deletes = append(p.deletes, c.Name)
		}
	}
	slices.Sort(p.names)
	slices.SortFunc(p.sets, func(a, b scoped.Change) int { return strings.Compare(a.Name, b.Name) })
	slices.Sort(p.deletes)
	return p
}

// many runs a CompareAndSetMany whose changes have been checked.
func (st *statements) many(ctx context.Context, changes []scoped.Change) ([]scoped.Record, bool, error) {
	p := newPlan(changes)
	names := make([]any, len(p.names))
	for i, name := range p.names {
		names[i] = name
	}
	if len(p.sets) == 0 && len(p.deletes) == 0 {
		// Nothing to write: one SELECT reads every row from one snapshot.
		read, err := st.sized(ctx, st.selectQuery(len(names), ""), len(names))
		if err != nil {
			return nil, false, scoped.NotApplied(fmt.Errorf("scoped/mysql: prepare: %w", err))
		}
		rows, err := st.current(ctx, read, names)
		if err != nil {
			return nil, false, scoped.NotApplied(err)
		}
		out, ok := rows.Compare(changes)
		return out, ok, nil
	}
	// Every statement is prepared before the transaction takes a
	// connection of the pool: preparing takes one of its own.
	lock, err := st.sized(ctx, st.selectQuery(len(names), " FOR UPDATE"), len(names))
	if err != nil {
		return nil, false, scoped.NotApplied(fmt.Errorf("scoped/mysql: prepare: %w", err))
	}
	var upsert, del sizedStmt
	if len(p.sets) > 0 {
		if upsert, err = st.sized(ctx, st.upsertQuery(len(p.sets)), len(p.sets)); err != nil {
			return nil, false, scoped.NotApplied(fmt.Errorf("scoped/mysql: prepare: %w", err))
		}
	}
	if len(p.deletes) > 0 {
		if del, err = st.sized(ctx, st.deleteQuery(len(p.deletes)), len(p.deletes)); err != nil {
			return nil, false, scoped.NotApplied(fmt.Errorf("scoped/mysql: prepare: %w", err))
		}
	}

	// Nothing is committed before COMMIT: until it is sent, every failure
	// leaves the transaction to be rolled back, by ROLLBACK or by the
	// server when the connection closes.
	tx, err := st.db.BeginTx(ctx, &sql.TxOptions{Isolation: st.manyLevel})
	if err != nil {
		// The transaction wrote nothing, and no COMMIT will follow.
		return nil, false, scoped.NotApplied(fmt.Errorf("scoped/mysql: begin: %w", err))
	}
	rows, err := lock.queryTx(ctx, tx, names...)
	if err != nil {
		return nil, false, abort(tx, fmt.Errorf("scoped/mysql: lock the rows: %w", err))
	}
	cur, err := st.scan(rows, st.now().UnixMilli())
	if err != nil {
		return nil, false, abort(tx, fmt.Errorf("scoped/mysql: lock the rows: %w", err))
	}
	if out, ok := cur.Compare(changes); !ok {
		if err := rollback(tx); err != nil {
			// Nothing was written: the transaction only locked rows.
			return nil, false, scoped.NotApplied(fmt.Errorf("scoped/mysql: roll back a refused compare-and-set-many: %w", err))
		}
		return out, false, nil
	}
	if len(p.sets) > 0 {
		args := make([]any, 0, 5*len(p.sets))
		var want int64 // 1 per row inserted, 2 per row replaced
		for _, c := range p.sets {
			args = append(args, c.Name, c.Expected.Version+1, c.Write.Writer[:], c.Write.Value, expiryParam(c.Write.ExpiresAt))
			want += 1
			if cur[c.Name].Present {
				want++
			}
		}
		res, err := upsert.execTx(ctx, tx, args...)
		if err == nil && !affected(res, want) {
			// The rows present are locked, and so are the gaps of those
			// absent (REPEATABLE READ): no other transaction can have
			// inserted or removed one since.
			err = fmt.Errorf("changed other than the %d rows planned", want)
		}
		if err != nil {
			return nil, false, abort(tx, fmt.Errorf("scoped/mysql: write the rows: %w", err))
		}
	}
	if len(p.deletes) > 0 {
		args := make([]any, len(p.deletes))
		for i, name := range p.deletes {
			args[i] = name
		}
		res, err := del.execTx(ctx, tx, args...)
		if err == nil && !affected(res, int64(len(args))) {
			err = fmt.Errorf("deleted other than the %d rows locked", len(args))
		}
		if err != nil {
			return nil, false, abort(tx, fmt.Errorf("scoped/mysql: delete the rows: %w", err))
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, false, classify(fmt.Errorf("scoped/mysql: commit: %w", err))
	}
	return cur.Committed(changes), true, nil
}

// selectQuery returns the SELECT of n rows by name, in name order,
// followed by lock.
func (st *statements) selectQuery(n int, lock string) string {
	return "SELECT " + columns + " FROM " + st.table + " WHERE `name` IN (" + marks(n, "?") + ") ORDER BY `name`" + lock
}

// upsertQuery returns the write of n rows: inserted if absent, replaced
// otherwise.
func (st *statements) upsertQuery(n int) string {
	return "INSERT INTO " + st.table + " (" + columns + ") VALUES " + marks(n, "(?, ?, ?, ?, ?)") + " ON DUPLICATE KEY UPDATE " +
		"`version` = VALUES(`version`), `writer` = VALUES(`writer`), `value` = VALUES(`value`), `expires_at` = VALUES(`expires_at`)"
}

// deleteQuery returns the DELETE of n rows by name.
func (st *statements) deleteQuery(n int) string {
	return "DELETE FROM " + st.table + " WHERE `name` IN (" + marks(n, "?") + ")"
}

// marks returns n copies of mark, separated by commas.
func marks(n int, mark string) string {
	return strings.Repeat(mark+", ", n-1) + mark
}

// current runs read, the SELECT of the rows of names outside any
// transaction: one statement, which reads them from one snapshot.
func (st *statements) current(ctx context.Context, read sizedStmt, names []any) (sqlrows.Rows, error) {
	rows, err := read.query(ctx, st.db, names...)
	if err != nil {
		return nil, fmt.Errorf("scoped/mysql: read the rows: %w", err)
	}
	cur, err := st.scan(rows, st.now().UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("scoped/mysql: read the rows: %w", err)
	}
	return cur, nil
}

// scan reads the rows of a SELECT of selectQuery and closes them; a row
// expired by now is present, with the zero Record.
func (st *statements) scan(rows *sql.Rows, now int64) (sqlrows.Rows, error) {
	defer rows.Close()
	cur := sqlrows.Rows{}
	for rows.Next() {
		var (
			name          string
			version       uint64
			writer, value []byte
			expires       sql.NullInt64
		)
		if err := rows.Scan(&name, &version, &writer, &value, &expires); err != nil {
			return nil, err
		}
		rec, err := st.record(name, version, writer, value, expires)
		if err != nil {
			return nil, err
		}
		cur.Add(name, rec, expires.Valid && expires.Int64 <= now)
	}
	return cur, rows.Err()
}

// affected reports whether a statement changed n rows.
func affected(res sql.Result, n int64) bool {
	got, err := res.RowsAffected()
	return err == nil && got == n
}

// rollback rolls tx back, and returns nil if the transaction is certainly
// over uncommitted: the ROLLBACK succeeded, database/sql had rolled it back
// already (its context ended) and discarded its connection, or the
// connection is gone, and the server rolls back the transaction of a
// session that ends. Otherwise (an error reply to ROLLBACK on a connection
// still up) it returns the error.
func rollback(tx *sql.Tx) error {
	err := tx.Rollback()
	if err == nil || errors.Is(err, sql.ErrTxDone) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysqldriver.ErrInvalidConn) {
		return nil
	}
	return err
}

// abort rolls tx back after err, the failure of one of its statements,
// and returns err, marked as not applied if the transaction is certainly
// over uncommitted.
func abort(tx *sql.Tx, err error) error {
	if rbErr := rollback(tx); rbErr != nil {
		return fmt.Errorf("%w (and rollback: %v)", err, rbErr)
	}
	return scoped.NotApplied(err)
}
