package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	mysqldriver "github.com/go-sql-driver/mysql"
)

// packetOverhead is the room left in max_allowed_packet for what a
// statement or a result row carries besides the value: the command header,
// a name of up to 512 bytes, the version, the writer and length prefixes.
const packetOverhead = 1024

// errNoSuchTable is the server's error number for a missing table
// (ER_NO_SUCH_TABLE, the same on MySQL and MariaDB).
const errNoSuchTable = 1146

// statements are the store's prepared statements, and the value limit
// learned from the server, made on first use. database/sql prepares each
// statement again, once, on every pool connection it runs on.
type statements struct {
	load, insert, update, delete *sql.Stmt
	valueLimit                   int    // the largest value the server takes, in bytes
	table                        string // quoted, for messages

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
// sessions commit each statement, and prepares the four statements.
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
	st := &statements{valueLimit: maxPacket - packetOverhead, table: s.table}
	queries := []struct {
		stmt  **sql.Stmt
		query string
	}{
		{&st.load, "SELECT `version`, `writer`, `value` FROM " + s.table + " WHERE `name` = ?"},
		{&st.insert, "INSERT INTO " + s.table + " (`name`, `version`, `writer`, `value`) VALUES (?, ?, ?, ?)"},
		{&st.update, "UPDATE " + s.table + " SET `version` = ?, `writer` = ?, `value` = ? WHERE `name` = ? AND `version` = ? AND `writer` = ?"},
		{&st.delete, "DELETE FROM " + s.table + " WHERE `name` = ? AND `version` = ? AND `writer` = ?"},
	}
	for _, q := range queries {
		stmt, err := s.db.PrepareContext(ctx, q.query)
		if err != nil {
			st.close()
			var me *mysqldriver.MySQLError
			if errors.As(err, &me) && me.Number == errNoSuchTable {
				return nil, fmt.Errorf("scoped/mysql: table %s does not exist (call CreateTable, or run Store.DDL): %w", s.table, err)
			}
			return nil, fmt.Errorf("scoped/mysql: prepare statements: %w", err)
		}
		*q.stmt = stmt
	}
	return st, nil
}

// close closes the statements that were prepared.
func (st *statements) close() error {
	var errs []error
	for _, stmt := range []*sql.Stmt{st.load, st.insert, st.update, st.delete} {
		if stmt != nil {
			errs = append(errs, stmt.Close())
		}
	}
	return errors.Join(errs...)
}
