// Package mysql is the MySQL and MariaDB backend of scoped: every scope that
// has a record is one row of a table, read by one prepared SELECT and
// written by one prepared INSERT (a scope's first write), UPDATE or DELETE,
// so that a load, or a write that succeeds, is one round trip; a write of
// several scopes at once (CompareAndSetMany) is one transaction. The store
// also lists scopes by name prefix (List) and removes expired records
// (Sweep).
//
// The caller opens and owns the *sql.DB (github.com/go-sql-driver/mysql) and
// closes it; the Store only prepares its statements on it:
//
//	db, err := sql.Open("mysql", "user:pass@tcp(127.0.0.1:3306)/app")
//	store, err := mysql.New(db)             // table scoped_scopes; WithTable to change it
//	err = store.CreateTable(ctx)            // idempotent; or run Store.DDL yourself
//	defer store.Close()                     // releases the prepared statements
//	e := scoped.New(store)
//
// The pool's sessions must commit every statement on its own (autocommit,
// the default); the store checks it when it prepares its statements. The
// DSN must leave clientFoundRows off (the default): a scope's first write
// is told from a refused one by the count of rows it changed, which that
// setting blurs.
//
// The table, as CreateTable makes it (Store.DDL returns it for any table):
//
//	CREATE TABLE IF NOT EXISTS `scoped_scopes` (
//	  `name` VARBINARY(512) NOT NULL,
//	  `version` BIGINT UNSIGNED NOT NULL,
//	  `writer` BINARY(16) NOT NULL,
//	  `value` LONGBLOB NOT NULL,
//	  `expires_at` BIGINT NULL,
//	  PRIMARY KEY (`name`),
//	  KEY `scoped_expiry` (`expires_at`)
//	) ENGINE=InnoDB
//
// CreateTable also adds expires_at and its index to a table made by an
// earlier version of this package, which lacks them; until then, every
// call fails, saying so.
//
// Names and values are binary strings: compared byte for byte, with no
// collation, case folding or trailing-space padding. Deleting a scope
// deletes its row, so the table holds one row per scope that has a record.
// A scope created again starts at version 1 again: a write or a delete
// matches both the version and the writer it expects, and a writer that
// read the scope before it was deleted is refused. Earlier versions of this
// package kept a deleted scope's row, with a NULL value; a call that meets
// such a row fails, saying so. Remove them once no older version uses the
// table:
//
//	DELETE FROM `scoped_scopes` WHERE `value` IS NULL
//
// Costs: a Load is one round trip; a CompareAndSet or Delete that succeeds
// is one round trip; a refused one (another writer committed first) is two,
// the refused statement and a SELECT of the current record. The first call
// on a pool connection prepares the statement there, one more round trip,
// once. A page of List, and a Sweep, is one statement.
//
// # Several scopes at once
//
// CompareAndSetMany is one transaction at REPEATABLE READ: SELECT ... FOR
// UPDATE of every row in name order, whatever the order of the changes, so
// that two calls over the same rows lock them in the same order; an
// expired row is locked but counts as none. A locking read reads the
// latest committed row, and at REPEATABLE READ it also locks the gap where
// an absent row would be, so that no other transaction creates it until
// this one ends: at READ COMMITTED it would lock nothing there, and two
// calls, each checking that a scope has no record and creating the other,
// could both succeed. The store reads the level of the pool's sessions
// once; if it is not REPEATABLE READ or SERIALIZABLE, each transaction
// sets REPEATABLE READ, one more round trip. If any revision, version or
// writer, is not the one expected, ROLLBACK, and the current records
// return. Otherwise one INSERT ... ON DUPLICATE KEY UPDATE writes every
// scope set (a row that exists, live or expired, is replaced; an absent
// one is inserted), one DELETE removes every scope deleted, and COMMIT.
// Two calls creating the same scope both lock its gap, and then deadlock
// on their INSERTs: the server rolls one back (not applied, and the engine
// tries again), and the other goes on.
//
// A call that writes is 3 round trips (BEGIN, SELECT, COMMIT) and one per
// kind of write it makes (sets, deletes): 4 or 5; a refused one is 3
// (BEGIN, SELECT, ROLLBACK). A call that writes nothing (only checks, and
// deletes of scopes expected to have no record) is one SELECT, which reads
// every row from one snapshot, and no transaction. The statements, whose
// text depends on the number of scopes, are prepared on first use for up
// to 32 scopes, and sent unprepared over that (one more round trip each).
// Every failure before COMMIT is sent is not applied: the transaction is
// rolled back, by ROLLBACK, or by the server when the connection closes.
// A COMMIT without a reply is an unknown outcome.
//
// Values are limited to the server's max_allowed_packet less 1 KiB (read
// once per Store), and to WithMaxValueSize if set; a bigger value fails with
// a *scoped.ValueTooLargeError before anything is sent.
//
// # Expiry
//
// A record's expiry time is its expires_at, in milliseconds since the
// epoch, NULL for a record that never expires. The store's clock decides
// whether it has passed: time.Now, or the function given to WithClock. Its
// time is sent as a parameter of every statement, and the server compares
// it with expires_at; the server's own clock (NOW()) is never read. The
// process's clock is used, not the server's, so that tests can move it and
// so that the expiry times the engine computes with its clock are judged
// by the same kind of clock (the Redis store, likewise, takes the
// client's time for the expiry it sets). Processes that share a table
// should keep their clocks close: a record expires, for each of them, when
// its own clock says so.
//
// A row expired by that clock is no row: Load returns the zero Record; a
// write expecting the zero Revision replaces it at version 1, in the same
// INSERT ... ON DUPLICATE KEY UPDATE that creates a scope; a write or a
// delete expecting its revision is refused with the zero Record; List
// leaves it out. Expired rows stay in the table until Sweep deletes them,
// at most limit per call in one DELETE, earliest first; the engine never
// needs it, and a row written again meanwhile is never removed.
//
// # Listing
//
// List reads the primary key by range: from the prefix up to the least
// string above every name that begins with it, 100 names a statement in
// byte order, each page beginning after the last name of the one before.
// Names are compared as bytes, never with LIKE, so that %, _ and \ in a
// prefix match only themselves. No statement stays open between pages.
//
// # Errors
//
// Errors of the server and of the connection are returned wrapped: errors.As
// finds the driver's *mysql.MySQLError, errors.Is its ErrInvalidConn or the
// context's error. An error also matches scoped.ErrNotApplied when the
// operation certainly was not performed and never will be:
//
//   - the call failed before sending anything: its context had ended, or
//     ended while it waited for the store's statements to be prepared; the
//     store is closed (ErrClosed); the name or the value is invalid; the
//     statements could not be prepared (the table is missing, the server
//     does not answer);
//   - database/sql returned driver.ErrBadConn, which it does only when the
//     server cannot have performed the statement;
//   - a new connection could not be made: dialing failed (the server
//     refused or did not answer the connection), or the server had too
//     many connections (ER_CON_COUNT_ERROR);
//   - the server refused or rolled back the statement: a lock wait timeout
//     (ER_LOCK_WAIT_TIMEOUT), a deadlock (ER_LOCK_DEADLOCK), a read-only
//     server or session (ER_OPTION_PREVENTS_STATEMENT,
//     ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION, ER_READ_ONLY_MODE);
//   - the write was refused, another writer having committed first, and
//     the read of the current record that follows failed;
//   - a CompareAndSetMany failed before its COMMIT was sent, and its
//     transaction is rolled back (see above).
//
// Any other failure may follow a statement that reached the server, and
// may have been performed or still be: a lost connection, a read timeout,
// or a context that ended while a statement was in flight. A context that
// ends while the pool waits for a free connection is among these, though
// nothing was sent: database/sql gives the same bare context error for
// both.
package mysql
