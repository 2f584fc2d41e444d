package mysql

import (
	"errors"
	"fmt"
)

// Errors of the Store's own, before any I/O. Errors of the server or of the
// connection are returned wrapped, so that errors.As finds the driver's
// *mysql.MySQLError or errors.Is its ErrInvalidConn.
var (
	// ErrInvalidTable is matched by a *TableError: the table name given to
	// WithTable is not a plain identifier.
	ErrInvalidTable = errors.New("scoped/mysql: invalid table name")

	// ErrClosed is returned by every call after Close.
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
