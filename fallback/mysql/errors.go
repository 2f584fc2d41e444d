package mysql

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"net"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/scoped-go/scoped"
)

// Errors of the Store's own, before any I/O. Errors of the server or of the
// connection are returned wrapped, so that errors.As finds the driver's
// *mysql.MySQLError or errors.Is its ErrInvalidConn.
var (
	// ErrInvalidTable is matched by a *TableError: the table name given to
	// WithTable is not a plain identifier.
	ErrInvalidTable = errors.New("scoped/mysql: invalid table name")

	// ErrClosed is matched, with scoped.ErrNotApplied, by the error of
	// every call after Close.
	ErrClosed = errors.New("scoped/mysql: store is closed")
)

// TableError reports a table name that New refused. It matches
// ErrInvalidTable.
type TableError struct {
	Table  string // the rejected name, as given
	Reason string // why it was rejected
}

// Error describes the rejected name and why.
func (e *TableError) Error() string {
	return fmt.Sprintf("scoped/mysql: invalid table name %q: %s", e.Table, e.Reason)
}

// Is reports whether target is ErrInvalidTable.
func (e *TableError) Is(target error) bool { return target == ErrInvalidTable }

// Error numbers of the server, the same on MySQL and MariaDB, that say a
// statement was not performed and is over. Every statement of the store is
// one InnoDB statement on one row, committed on its own (autocommit, which
// prepare checks): an error reply to it rolls it back, and these errors
// come before its commit, or instead of it.
const (
	// ER_CON_COUNT_ERROR: too many connections. The server sends it in
	// place of its handshake, so no statement was sent on that connection.
	errTooManyConnections = 1040
	// ER_LOCK_WAIT_TIMEOUT: the statement waited innodb_lock_wait_timeout
	// for a row lock and gave up. InnoDB rolls back the statement (the
	// whole transaction with innodb_rollback_on_timeout): it had changed
	// nothing, since it had not locked its row, and it does not wait on.
	errLockWaitTimeout = 1205
	// ER_LOCK_DEADLOCK: the transaction was chosen as the victim of a
	// deadlock and rolled back (on Galera, also a failed certification,
	// rolled back as well).
	errLockDeadlock = 1213
	// ER_OPTION_PREVENTS_STATEMENT: a server option, read_only or
	// super_read_only for a write, refuses the statement. It is checked
	// before the statement runs, and again at commit, which it rolls back.
	errOptionPreventsStatement = 1290
	// ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION: the session's transactions
	// are read-only; the write is refused before it runs.
	errReadOnlyTransaction = 1792
	// ER_READ_ONLY_MODE: the server or its engine runs read-only.
	errReadOnlyMode = 1836
)

// classify marks err, the failure of a statement of the store, as not
// applied when the statement certainly was not performed and never will
// be, and returns it unchanged otherwise:
//
//   - driver.ErrBadConn: database/sql returns it only when every try on a
//     pooled connection gave it, and a driver gives it only when the server
//     cannot have performed the operation (go-sql-driver: before a byte of
//     the command was written, or for a read-only refusal with
//     rejectReadOnly). database/sql gives it itself for an expired pooled
//     connection, before using it.
//   - a *net.OpError of Op "dial": a new connection could not be made, so
//     nothing was sent on it. Only dialing makes such an error: once a
//     connection is up, go-sql-driver reports failed reads as
//     mysql.ErrInvalidConn and failed writes with Op "write".
//   - the server error numbers above.
//
// Everything else may follow a statement that reached the server: a lost
// connection (mysql.ErrInvalidConn), a read timeout, and a context that
// ended during the statement, which database/sql cannot tell from one that
// ended while the pool waited for a free connection (both give the bare
// context error). Other server errors are not assumed either: some can be
// reported after the engine committed (a commit that fails in the binary
// log, a session killed while it waits for a semi-synchronous replica), so
// only errors known to come before the commit are listed.
func classify(err error) error {
	var (
		me *mysqldriver.MySQLError
		oe *net.OpError
	)
	switch {
	case errors.Is(err, driver.ErrBadConn):
		return scoped.NotApplied(err)
	case errors.As(err, &oe) && oe.Op == "dial":
		return scoped.NotApplied(err)
	case errors.As(err, &me):
		switch me.Number {
		case errTooManyConnections, errLockWaitTimeout, errLockDeadlock,
			errOptionPreventsStatement, errReadOnlyTransaction, errReadOnlyMode:
			return scoped.NotApplied(err)
		}
	}
	return err
}
