// Package postgres is the PostgreSQL backend of scoped: every scope that has
// a record is one row of a table, read by one SELECT and written by one
// statement that either applies the write or answers the current record, so
// that every call, refused writes included, is one round trip, but
// CompareAndSetMany, a transaction of two (see Several scopes at once). The
// store also lists scopes by name prefix (List) and removes expired records
// (Sweep).
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
//	  expires_at bigint,
//	  PRIMARY KEY (name)
//	);
//	CREATE INDEX IF NOT EXISTS "scoped_scopes_expires_at" ON "scoped_scopes" (expires_at)
//
// CreateTable also adds expires_at (ALTER TABLE ... ADD COLUMN IF NOT
// EXISTS) to a table made by an earlier version of this package, which
// lacks it; until then, every call fails, saying so. It reads the catalog
// first, and alters or indexes only a table that needs it, since both lock
// the table.
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
// Every statement but the sweep's takes the time of the store's clock, and
// treats a row expired by it as no row (see Expiry).
//
//   - Load: SELECT version, writer, value, expires_at ... WHERE name = $1
//     and the row is live.
//   - CompareAndSet of a new scope: INSERT ... ON CONFLICT (name) DO UPDATE
//     RETURNING the row, the update replacing every column if the row has
//     expired, and setting each to itself otherwise. When the scope has a
//     live row, the update, which changes nothing, locks it and returns its
//     latest version, even one committed after the statement began, which
//     no SELECT of the statement could see; it writes an unchanged row
//     version.
//   - CompareAndSet: one statement, WITH an UPDATE ... WHERE name, version
//     and writer match and the row is live, RETURNING; and, when it matched
//     nothing, a SELECT of the current live row.
//   - Delete: the same, with a DELETE; expecting the zero Revision, one
//     SELECT.
//   - List: one SELECT of names per page (see Listing).
//   - Sweep: one DELETE (see Expiry).
//
// # Expiry
//
// A record's expiry time is its expires_at, in milliseconds since the
// epoch, NULL for a record that never expires. The store's clock decides
// whether it has passed: time.Now, or the function given to WithClock. Its
// time is sent as a parameter of every statement, and the server compares
// it with expires_at; the server's own clock (now()) is never read. The
// process's clock is used, not the server's, so that tests can move it and
// so that the expiry times the engine computes with its clock are judged
// by the same kind of clock (the Redis store, likewise, takes the
// client's time for the expiry it sets). Processes that share a table
// should keep their clocks close: a record expires, for each of them, when
// its own clock says so.
//
// A row expired by that clock is no row: Load returns the zero Record; a
// write expecting the zero Revision replaces it at version 1, in the
// INSERT that creates a scope; a write or a delete expecting its revision
// is refused with the zero Record; List leaves it out. Expired rows stay in
// the table until Sweep deletes them: PostgreSQL has no DELETE ... LIMIT,
// so one DELETE removes the rows that a subquery picks, at most limit,
// earliest first, on the index of expires_at, FOR UPDATE SKIP LOCKED, and
// checks the expiry again on each. The engine never needs it, and a row
// written again meanwhile is never removed.
//
// # Listing
//
// List reads the primary key by range: from the prefix up to the least
// string above every name that begins with it, 100 names a statement in
// byte order, each page beginning after the last name of the one before.
// Names are compared, never matched with LIKE, so that %, _ and \ in a
// prefix match only themselves. A prefix that text cannot hold (invalid
// UTF-8, or a NUL) is cut before that byte for the range, and the names
// read are checked against the whole of it. No statement stays open
// between pages.
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
// # Several scopes at once
//
// CompareAndSetMany is one transaction, at the session's isolation level,
// in two round trips. The first pipelines BEGIN, a transaction-level
// advisory lock (pg_advisory_xact_lock) on the hash of every name, in the
// order of the hashes, and a SELECT ... WHERE name = ANY($1) ORDER BY name
// FOR UPDATE. FOR UPDATE locks only the rows that exist: the advisory
// locks keep two calls over a common scope from running at once, so that
// two calls, each checking that a scope has no record and creating the
// other, cannot both succeed. They take the bigint key space of advisory
// locks (the hash of the name, seeded with the table's): a program that
// takes advisory locks of its own on the same database may, rarely, wait
// for one of these. Calls taking their locks in one order, and rows in
// name order, never deadlock each other (a deadlock the server still
// reports, deadlock_detected, rolls the transaction back: not applied). The locking read returns each row's latest committed version
// under READ COMMITTED; under REPEATABLE READ or SERIALIZABLE a row changed
// since the snapshot fails it with serialization_failure (not applied). An
// expired row is locked but counts as none. If any revision, version or
// writer, is not the one expected, ROLLBACK, and the current records
// return. Otherwise the second round trip pipelines an UPDATE of every
// scope set whose row exists (live or expired, and locked), an INSERT of
// every other, one DELETE of the scopes deleted, and COMMIT. A row absent
// when locked may be inserted before the INSERT by a CompareAndSet, which
// takes no advisory lock (it touches one row, and needs none):
// the INSERT fails with unique_violation, which aborts the transaction
// (COMMIT, after an error, commits nothing); that is a conflict: ROLLBACK
// and a SELECT of the current records, pipelined, one more round trip. A
// refused call is two round trips (the first, and ROLLBACK), and a call
// that writes nothing (only checks, and deletes of scopes expected to have
// no record) is one SELECT, which reads every row from one snapshot, and no
// transaction. Every server ERROR before COMMIT succeeded, and every
// failure of the first round trip, is not applied; a failure of the
// connection during the second round trip may follow a COMMIT, and is an
// unknown outcome.
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
//     a standby), and any other;
//   - a CompareAndSetMany failed in its first round trip, or the server
//     answered an ERROR before its COMMIT succeeded: its transaction is
//     rolled back.
//
// Any other failure may follow a statement that reached the server, and
// may have been performed, or still be: a connection lost after the
// statement was written, a context that ended while the reply was awaited
// (pgx closes the connection, and the server runs the statement on), or a
// FATAL message ending the session (pg_terminate_backend, a shutdown).
package postgres
