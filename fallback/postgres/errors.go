package postgres

import (
	"cmp"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scoped-go/scoped"
)

// Errors of the Store's own, before any I/O. Errors of the server and of
// the connection are returned wrapped, so that errors.As finds pgx's
// *pgconn.PgError or *pgconn.ConnectError, and errors.Is the context's
// error.
var (
	// ErrInvalidTable is matched by a *TableError: the table name given to
	// WithTable is not a plain identifier.
	ErrInvalidTable = errors.New("scoped/postgres: invalid table name")

	// ErrVersionRange is matched, with scoped.ErrCorruptValue and
	// scoped.ErrNotApplied, by the error of a write whose version would
	// not fit in the table's bigint: a write expecting version 2⁶³-1 (the
	// largest bigint, which no number of real writes reaches) or more.
	// Nothing is sent: the store refuses to wrap a version around.
	ErrVersionRange = errors.New("scoped/postgres: version out of bigint's range")
)

// TableError reports a table name that New refused. It matches
// ErrInvalidTable.
type TableError struct {
	Table  string // the rejected name, as given
	Reason string // why it was rejected
}

// Error describes the rejected name and why.
func (e *TableError) Error() string {
	return fmt.Sprintf("scoped/postgres: invalid table name %q: %s", e.Table, e.Reason)
}

// Is reports whether target is ErrInvalidTable.
func (e *TableError) Is(target error) bool { return target == ErrInvalidTable }

// versionError is the error of a write whose version does not fit in a
// bigint. It is a scoped.CorruptValueError, so that the engine gives up at
// once rather than trying again what can never succeed, and it is marked
// as not applied, which it is.
func versionError(name string, expected uint64) error {
	return scoped.NotApplied(&scoped.CorruptValueError{Scope: name,
		Err: fmt.Errorf("%w: the record is at version %d, and a write stores one more, over bigint's 9223372036854775807", ErrVersionRange, expected)})
}

// classify marks err, the failure of a statement of the store after its
// connection was acquired and the statement prepared on it, as not applied
// when the statement certainly was not performed and never will be, and
// returns it unchanged otherwise:
//
//   - pgconn.SafeToRetry(err): pgx failed before it wrote a byte of the
//     statement (the context had already ended, the connection was closed
//     or busy). A failed or partial write, and any failure while the reply
//     is awaited, are not safe to retry. pgconn.Timeout(err) is no evidence
//     by itself: it is also true for a context that ended while the reply
//     was awaited, with the statement running on the server.
//   - a *pgconn.PgError of severity ERROR: the server refused or aborted the
//     statement, and with it the implicit transaction it ran in, the store's
//     statements running on their own (pgxpool hands out no connection in a
//     transaction). The server does not answer ERROR to a transaction it
//     committed: an error after the commit record is a PANIC, and the wait
//     for synchronous replicas that follows a commit turns a cancel into a
//     WARNING. Among these: serialization_failure 40001 and
//     deadlock_detected 40P01 (rolled back), lock_not_available 55P03
//     (lock_timeout), query_canceled 57014 (statement_timeout, or a cancel
//     request), read_only_sql_transaction 25006 (a read-only session or a
//     standby), and errors of the table or the data.
//
// Everything else may follow a statement that reached the server and may
// have been performed, or still be: a connection lost or reset after the
// statement was written, a context that ended while the reply was awaited
// (pgx then closes the connection, and the server runs the statement on),
// and a FATAL message, which ends the session wherever the server was in
// the statement: this package does not rely on where (a backend terminated
// while it waits for synchronous replicas has committed locally). FATAL
// errors at connection time (too_many_connections 53300,
// cannot_connect_now 57P03, admin_shutdown 57P01 during the handshake) come
// from the pool's Acquire, before anything was sent, and are marked there.
func classify(err error) error {
	var pe *pgconn.PgError
	switch {
	case pgconn.SafeToRetry(err):
		return scoped.NotApplied(err)
	case errors.As(err, &pe) && cmp.Or(pe.SeverityUnlocalized, pe.Severity) == "ERROR":
		return scoped.NotApplied(err)
	}
	return err
}
