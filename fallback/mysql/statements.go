package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

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
	load, insert, update *sql.Stmt
	valueLimit           int // the largest value the server takes, in bytes
}

// ready returns the prepared statements, preparing them on the first
// call. A failed preparation (the table is missing, the server is down) is
// tried again on the next call.
func (s *Store) ready(ctx context.Context) (*statements, error) {
	if st := s.prepared.Load(); st != nil {
		return st, nil
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
	if st := s.prepared.Load(); st != nil {
		return st, nil
	}
	st, err := s.prepare(ctx)
	if err != nil {
		return nil, err
	}
	s.prepared.Store(st)
	return st, nil
}

// prepare reads the server's max_allowed_packet and prepares the three
// statements.
func (s *Store) prepare(ctx context.Context) (*statements, error) {
	var maxPacket int
	if err := s.db.QueryRowContext(ctx, "SELECT @@max_allowed_packet").Scan(&maxPacket); err != nil {
		return nil, fmt.Errorf("scoped/mysql: read max_allowed_packet: %w", err)
	}
	st := &statements{valueLimit: maxPacket - packetOverhead}
	queries := []struct {
		stmt  **sql.Stmt
		query string
	}{
		{&st.load, "SELECT `version`, `writer`, `value` FROM " + s.table + " WHERE `name` = ?"},
		{&st.insert, "INSERT INTO " + s.table + " (`name`, `version`, `writer`, `value`) VALUES (?, ?, ?, ?)"},
		{&st.update, "UPDATE " + s.table + " SET `version` = ?, `writer` = ?, `value` = ? WHERE `name` = ? AND `version` = ?"},
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
	for _, stmt := range []*sql.Stmt{st.load, st.insert, st.update} {
		if stmt != nil {
			errs = append(errs, stmt.Close())
		}
	}
	return errors.Join(errs...)
}
