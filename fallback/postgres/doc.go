// Package postgres is the PostgreSQL backend of scoped: every scope that has
// a record is one row of a table, read by one SELECT and written by one
// statement that either applies the write or answers the current record, so
// that every call, refused writes included, is one round trip.
//
// The caller opens and owns the pool (github.com/jackc/pgx/v5/pgxpool), and
// closes it; the store holds nothing else:
//
//	pool, err := pgxpool.New(ctx, "postgres://app@127.0.0.1:5432/app")
//	store, err := postgres.New(pool)        // table scoped_scopes; WithTable("app.scopes") to change it
//	err = store.CreateTable(ctx)            // idempotent; or run Store.DDL yourself
//	e := scoped.New(store)
//
// The table, as CreateTable makes it (Store.DDL returns it for any table):
//
//	CREATE TABLE IF NOT EXISTS "scoped_scopes" (
//	  name text COLLATE "C" NOT NULL,
//	  version bigint NOT NULL CHECK (version > 0),
//	  writer bytea NOT NULL CHECK (octet_length(writer) = 16),
//	  value bytea NOT NULL,
//	  PRIMARY KEY (name)
//	)
//
// Names are text in the "C" collation, compared byte for byte: the
// database's encoding must hold them (UTF8, the default, holds every valid
// name). Deleting a scope deletes its row, so the table holds one row per
// scope that has a record. A scope created again starts at version 1 again:
// a write or a delete matches both the version and the writer it expects,
// and a writer that read the scope before it was deleted is refused.
// Versions are bigint, exact up to 2⁶³-1; a write past that fails with
// ErrVersionRange rather than wrap.
//
// # Statements and round trips
//
// The store prepares each of its statements on a pool connection the first
// time it runs there (one more round trip, once per connection; pgx keeps
// them), whatever the pool's DefaultQueryExecMode, and then sends it as one
// Bind, Execute and Sync, parameters and results in binary: one round trip.
// (pgxpool may ping a connection that idled over a second before handing it
// out; see pgxpool.Config.ShouldPing.) A pooler between the pool and the
// server must keep prepared statements: PgBouncer in transaction mode does
// from version 1.21, with max_prepared_statements set.
//
//   - Load: SELECT version, writer, value ... WHERE name = $1.
//   - CompareAndSet of a new scope: INSERT ... ON CONFLICT (name) DO UPDATE
//     SET version = version RETURNING the row. When the scope has a row, the
//     update, which changes nothing, locks it and returns its latest
//     version, even one committed after the statement began, which no
//     SELECT of the statement could see; it writes an unchanged row version.
//   - CompareAndSet: one statement, WITH an UPDATE ... WHERE name, version
//     and writer match, RETURNING; and, when it matched nothing, a SELECT of
//     the current row.
//   - Delete: the same, with a DELETE; expecting the zero Revision, one
//     SELECT.
//
// # What a refused write answers
//
// A refused CompareAndSet or Delete returns a record that is never the one
// it expected, and that was the scope's committed record at a moment while
// the statement ran, with one exception below. Under READ COMMITTED (the
// default), a statement reads one snapshot, taken when it starts; an
// UPDATE or DELETE that waits for another transaction to commit its change
// of the row then re-checks its WHERE clause on the row's latest version,
// and is refused there. A SELECT of the snapshot would answer the row as it
// was before that change: the very revision the write expected, already
// stale. So when the snapshot's row is at the expected revision and the
// write was refused anyway, the statement reads the row with SELECT ... FOR
// SHARE, which returns its latest version, the one the write locked to
// re-check and was refused on, or nothing if it was deleted. Otherwise the
// answer is the snapshot's row (the record when the statement started),
// and no row is locked. A refused first write answers the row it locked,
// as it was then.
//
// The exception: a row inserted after the snapshot is visible to no SELECT
// of the statement, so a scope deleted and created again while a write
// waited can be answered as having no record. With this package as the
// only writer, each write its own transaction, the scope had no record for
// a moment while the statement ran: the answer was true, and is stale. A
// transaction of another program that deletes and re-inserts a row at once
// can make it an answer that was never true. The engine converges either
// way: its next write, a create, meets the row and is answered with it.
//
// Under REPEATABLE READ or SERIALIZABLE (default_transaction_isolation),
// a write that meets a row changed after its snapshot fails with
// serialization_failure instead, which is not applied: the engine tries
// again.
//
// # Values
//
// Values are bytea, sent and read in binary. The largest value is 1 GiB
// less 1 KiB less 2 bytes (1,073,740,798 bytes): pgx sends no protocol
// message over 1 GiB - 2 bytes, its length word included (PostgreSQL's
// PQ_LARGE_MESSAGE_LIMIT, which the server applies to the message without
// its length word), and a bytea holds at most 1 GiB - 1 bytes, header
// included; 1 KiB is left for the rest of the message. A pool whose ConnConfig.MaxProtocolMessageBodyLen is
// set lowers it to that less 1 KiB, since pgx would not read a bigger
// record back. WithMaxValueSize lowers it further. A bigger value fails
// with a *scoped.ValueTooLargeError before anything is sent.
//
// # Errors
//
// Errors of the server and of the connection are returned wrapped:
// errors.As finds pgx's *pgconn.PgError or *pgconn.ConnectError, errors.Is
// the context's error. An error also matches scoped.ErrNotApplied when the
// operation certainly was not performed and never will be:
//
//   - the call failed before sending its statement: its context had ended;
//     the pool's Acquire failed (its context ended while it waited for a
//     connection, the pool is closed, a connection could not be made or
//     the server refused it: too_many_connections, cannot_connect_now); the
//     statement could not be prepared (the table is missing); the name or
//     the value is invalid; the version is out of range;
//   - pgx failed before writing a byte of the statement
//     (pgconn.SafeToRetry);
//   - the server answered the statement with an ERROR, which rolls back the
//     statement's implicit transaction: serialization_failure,
//     deadlock_detected, lock_not_available (lock_timeout), query_canceled
//     (statement_timeout), read_only_sql_transaction (a read-only session,
//     a standby), and any other.
//
// Any other failure may follow a statement that reached the server, and
// may have been performed, or still be: a connection lost after the
// statement was written, a context that ended while the reply was awaited
// (pgx closes the connection, and the server runs the statement on), or a
// FATAL message ending the session (pg_terminate_backend, a shutdown).
package postgres
