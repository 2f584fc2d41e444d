package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
)

// packetOverhead is the room left in max_allowed_packet for what a
// statement or a result row carries besides the value: the command header,
// a name of up to 512 bytes, the version, the writer and length prefixes.
const packetOverhead = 1024

// Error numbers of the server, the same on MySQL and MariaDB, met while
// preparing the statements.
const (
	errNoSuchTable = 1146 // ER_NO_SUCH_TABLE: the table is missing
	errBadField    = 1054 // ER_BAD_FIELD_ERROR: a column is missing
)

// live is the condition of a row not expired at the time of the
// statement's parameter; expired is the contrary. A NULL expires_at never
// expires.
const (
	live    = "(`expires_at` IS NULL OR `expires_at` > ?)"
	expired = "`expires_at` <= ?"
)

// statements are the store's prepared statements, and the value limit
// learned from the server, made on first use. database/sql prepares each
// statement again, once, on every pool connection it runs on.
type statements struct {
	load, insert, update, delete, list, sweep *sql.Stmt
	valueLimit                                int              // the largest value the server takes, in bytes
	table                                     string           // quoted, for messages
	now                                       func() time.Time // the store's clock
	db                                        *sql.DB
	manyLevel                                 sql.IsolationLevel // of CompareAndSetMany's transactions

	// sized are the statements of CompareAndSetMany, whose text depends on
	// the number of scopes, prepared on first use; see sized.
	sizedMu sync.Mutex
	bySize  map[string]*sql.Stmt

	// inUse is held for reading by every call while it runs statements,
	// and for writing by Close while it sets closed: a call either runs on
	// open statements or learns that the store is closed, before sending
	// anything. (database/sql would otherwise fail a statement closed
	// under a call with an error that only its text tells apart.)
	inUse  sync.RWMutex
	closed bool
}

// acquire returns the prepared statements, preparing them on the first
// call, held for reading: the caller releases them. A failed preparation
// (the table is missing, the server is down) is tried again on the next
// call. Nothing of the caller's operation is sent before it returns.
func (s *Store) acquire(ctx context.Context) (*statements, error) {
	if st := s.prepared.Load(); st != nil {
		st.inUse.RLock()
		if !st.closed {
			return st, nil
		}
		st.inUse.RUnlock()
		return nil, ErrClosed
	}
	select {
	case s.preparing <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("scoped/mysql: prepare statements: %w", ctx.Err())
	}
	defer func() { <-s.preparing }()
	if s.closed {
		return nil, ErrClosed
	}
	st := s.prepared.Load()
	if st == nil {
		var err error
		if st, err = s.prepare(ctx); err != nil {
			return nil, err
		}
		s.prepared.Store(st)
	}
	st.inUse.RLock() // Close, which sets closed, waits for s.preparing
	return st, nil
}

// release ends a call's use of the statements.
func (st *statements) release() { st.inUse.RUnlock() }

// prepare reads the server's max_allowed_packet, checks that the pool's
// sessions commit each statement, and prepares the statements.
//
// Every statement but the sweep takes the current time, in milliseconds
// since the epoch, as a parameter (the store's clock decides expiry), and
// treats a row whose expires_at is not after it as no row.
func (s *Store) prepare(ctx context.Context) (*statements, error) {
	var (
		maxPacket  int
		autocommit bool
	)
	if err := s.db.QueryRowContext(ctx, "SELECT @@max_allowed_packet, @@autocommit").Scan(&maxPacket, &autocommit); err != nil {
		return nil, fmt.Errorf("scoped/mysql: read the server's settings: %w", err)
	}
	if !autocommit {
		return nil, errors.New("scoped/mysql: the pool's sessions have autocommit off: every statement of the store must commit on its own")
	}
	level, err := s.manyIsolation(ctx)
	if err != nil {
		return nil, err
	}
	st := &statements{valueLimit: maxPacket - packetOverhead, table: s.table, now: s.now, db: s.db, manyLevel: level, bySize: map[string]*sql.Stmt{}}
	queries := []struct {
		stmt  **sql.Stmt
		query string
	}{
		{&st.load, "SELECT `version`, `writer`, `value`, `expires_at` FROM " + s.table + " WHERE `name` = ? AND " + live},
		// A scope's first write, or the write over an expired row: the
		// duplicate key of a live row is left as it is. MySQL assigns from
		// left to right, each assignment seeing the ones before it, so
		// expires_at, which the conditions read, is assigned last. VALUES()
		// is deprecated in MySQL 8.0.20 but is the one spelling that both
		// servers take.
		{&st.insert, "INSERT INTO " + s.table + " (`name`, `version`, `writer`, `value`, `expires_at`) VALUES (?, 1, ?, ?, ?) ON DUPLICATE KEY UPDATE " +
			"`version` = IF(" + expired + ", 1, `version`), " +
			"`writer` = IF(" + expired + ", VALUES(`writer`), `writer`), " +
			"`value` = IF(" + expired + ", VALUES(`value`), `value`), " +
			"`expires_at` = IF(" + expired + ", VALUES(`expires_at`), `expires_at`)"},
		{&st.update, "UPDATE " + s.table + " SET `version` = ?, `writer` = ?, `value` = ?, `expires_at` = ? WHERE `name` = ? AND `version` = ? AND `writer` = ? AND " + live},
		{&st.delete, "DELETE FROM " + s.table + " WHERE `name` = ? AND `version` = ? AND `writer` = ? AND " + live},
		{&st.list, "SELECT `name` FROM " + s.table + " WHERE `name` >= ? AND `name` < ? AND " + live + " ORDER BY `name` LIMIT " + strconv.Itoa(listPage)},
		{&st.sweep, "DELETE FROM " + s.table + " WHERE `expires_at` <= ? ORDER BY `expires_at` LIMIT ?"},
	}
	for _, q := range queries {
		stmt, err := s.db.PrepareContext(ctx, q.query)
		if err != nil {
			st.close()
			var me *mysqldriver.MySQLError
			if errors.As(err, &me) && me.Number == errNoSuchTable {
				return nil, fmt.Errorf("scoped/mysql: table %s does not exist (call CreateTable, or run Store.DDL): %w", s.table, err)
			}
			if errors.As(err, &me) && me.Number == errBadField {
				return nil, fmt.Errorf("scoped/mysql: table %s lacks a column, made by an earlier version of this package (call CreateTable to add it): %w", s.table, err)
			}
			return nil, fmt.Errorf("scoped/mysql: prepare statements: %w", err)
		}
		*q.stmt = stmt
	}
	return st, nil
}

// manyIsolation reads the isolation level of the pool's sessions and
// returns the level of CompareAndSetMany's transactions: the sessions' own
// (sql.LevelDefault, nothing to set) if it is REPEATABLE READ or
// SERIALIZABLE, and REPEATABLE READ otherwise. At those levels, InnoDB's
// SELECT ... FOR UPDATE of a row that does not exist locks the gap where
// it would be, and no other transaction can insert it until this one
// ends; at READ COMMITTED it locks nothing, and two calls could each rely
// on the absence of a row that the other creates. The variable is
// transaction_isolation on MySQL 8 and MariaDB 11.1, tx_isolation on
// earlier MariaDB.
func (s *Store) manyIsolation(ctx context.Context) (sql.IsolationLevel, error) {
	rows, err := s.db.QueryContext(ctx, "SHOW VARIABLES WHERE `Variable_name` IN ('transaction_isolation', 'tx_isolation')")
	if err != nil {
		return 0, fmt.Errorf("scoped/mysql: read the sessions' isolation level: %w", err)
	}
	defer rows.Close()
	level := ""
	for rows.Next() {
		var name string
		if err := rows.Scan(&name, &level); err != nil {
			return 0, fmt.Errorf("scoped/mysql: read the sessions' isolation level: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("scoped/mysql: read the sessions' isolation level: %w", err)
	}
	if level == "REPEATABLE-READ" || level == "SERIALIZABLE" {
		return sql.LevelDefault, nil
	}
	return sql.LevelRepeatableRead, nil
}

// close closes the statements that were prepared.
func (st *statements) close() error {
	var errs []error
	for _, stmt := range []*sql.Stmt{st.load, st.insert, st.update, st.delete, st.list, st.sweep} {
		if stmt != nil {
			errs = append(errs, stmt.Close())
		}
	}
	st.sizedMu.Lock()
	defer st.sizedMu.Unlock()
	for _, stmt := range st.bySize {
		errs = append(errs, stmt.Close())
	}
	return errors.Join(errs...)
}

// maxSized is the largest number of scopes whose CompareAndSetMany
// statements are kept prepared: at most 4 statements for each number up
// to it, on every pool connection that runs them, well below the server's
// max_prepared_stmt_count. A call over more scopes sends its statements
// unprepared (database/sql then prepares, runs and closes each: one more
// round trip per statement).
const maxSized = 32

// sizedStmt is a statement of CompareAndSetMany, whose text depends on the
// number of scopes: prepared for the store, or not (stmt nil).
type sizedStmt struct {
	text string
	stmt *sql.Stmt
}

// sized returns query, a statement over n scopes. For n up to maxSized it
// is prepared once for the store and kept; database/sql prepares it again,
// once, on each connection that runs it. It prepares on a connection of the
// pool of its own, so the caller must not hold one in a transaction: the
// pool could have none left to give.
func (st *statements) sized(ctx context.Context, query string, n int) (sizedStmt, error) {
	if n > maxSized {
		return sizedStmt{text: query}, nil
	}
	st.sizedMu.Lock()
	stmt := st.bySize[query]
	st.sizedMu.Unlock()
	if stmt != nil {
		return sizedStmt{query, stmt}, nil
	}
	prepared, err := st.db.PrepareContext(ctx, query)
	if err != nil {
		return sizedStmt{}, err
	}
	st.sizedMu.Lock()
	defer st.sizedMu.Unlock()
	if stmt = st.bySize[query]; stmt != nil {
		prepared.Close() // another call prepared it meanwhile
		return sizedStmt{query, stmt}, nil
	}
	st.bySize[query] = prepared
	return sizedStmt{query, prepared}, nil
}

// queryTx runs the statement in tx, on tx's connection.
func (s sizedStmt) queryTx(ctx context.Context, tx *sql.Tx, args ...any) (*sql.Rows, error) {
	if s.stmt == nil {
		return tx.QueryContext(ctx, s.text, args...)
	}
	return tx.StmtContext(ctx, s.stmt).QueryContext(ctx, args...)
}

// execTx runs the statement in tx, on tx's connection.
func (s sizedStmt) execTx(ctx context.Context, tx *sql.Tx, args ...any) (sql.Result, error) {
	if s.stmt == nil {
		return tx.ExecContext(ctx, s.text, args...)
	}
	return tx.StmtContext(ctx, s.stmt).ExecContext(ctx, args...)
}

// query runs the statement on its own, on a connection of the pool.
func (s sizedStmt) query(ctx context.Context, db *sql.DB, args ...any) (*sql.Rows, error) {
	if s.stmt == nil {
		return db.QueryContext(ctx, s.text, args...)
	}
	return s.stmt.QueryContext(ctx, args...)
}
