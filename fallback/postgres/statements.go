package postgres

import "fmt"

// statements are the SQL texts of the store's statements on one table. Each is prepared once on every pool connection it runs on (see
// Store.start), and then sent as one Bind, Execute and Sync: one round trip,
// parameters and results in binary.
//
// Every statement runs on its own, in its own implicit transaction
// (autocommit), at the session's isolation level: READ COMMITTED unless the
// database or the pool's sessions say otherwise. Under READ COMMITTED one
// statement reads from one snapshot, taken when it starts, except where it
// writes or locks a row: an UPDATE, a DELETE or a locking SELECT that meets
// a row changed by a transaction that committed after the snapshot (after
// waiting for it, if it was still running) works on the row's latest
// version, re-checking its WHERE clause there; and INSERT ... ON CONFLICT
// sees a conflicting row that the snapshot does not. The statements below
// are built so that their answers do not mix the two views (see
// writeStatement and createStatement).
type statements struct {
	load   string // $1 name, $2 now → version, writer, value, expires_at
	create string // $1 name, $2 writer, $3 value, $4 expires_at, $5 now → version, writer, value-if-not-ours, expires_at
	update string // $1 name, $2 version, $3 writer, $4 new version, $5 new writer, $6 value, $7 expires_at, $8 now → applied, version, writer, value, expires_at
	delete string // $1 name, $2 version, $3 writer, $4 now → applied, version, writer, value, expires_at
	list   string // $1 from, $2 after, $3 to, $4 now → name
	sweep  string // $1 now, $2 limit

	// The statements of CompareAndSetMany, which runs them in a
	// transaction of its own (see many.go).
	lockNames  string // $1 names, $2 seed: an advisory lock on each, until the transaction ends
	lockMany   string // $1 names → name, version, writer, value, expires_at, FOR UPDATE in name order
	readMany   string // $1 names → name, version, writer, value, expires_at
	insertRow  string // $1 name, $2 writer, $3 value, $4 expires_at
	replaceRow string // $1 name, $2 version, $3 writer, $4 value, $5 expires_at
	deleteMany string // $1 names
}

// live is the condition of a row not expired at the time $n (milliseconds
// since the epoch, by the store's clock), for the table's alias or name t.
// A NULL expires_at never expires.
func live(t, n string) string {
	return fmt.Sprintf("(%[1]s.expires_at IS NULL OR %[1]s.expires_at > %[2]s)", t, n)
}

// newStatements returns the statements on table, quoted.
func newStatements(table string) statements {
	return statements{
		load:   fmt.Sprintf("SELECT version, writer, value, expires_at FROM %s AS s WHERE name = $1 AND %s", table, live("s", "$2")),
		create: createStatement(table),
		update: writeStatement(table, fmt.Sprintf(
			"UPDATE %s AS s SET version = $4, writer = $5, value = $6, expires_at = $7 WHERE name = $1 AND version = $2 AND writer = $3 AND %s RETURNING true", table, live("s", "$8")), "$8"),
		delete: writeStatement(table, fmt.Sprintf(
			"DELETE FROM %s AS s WHERE name = $1 AND version = $2 AND writer = $3 AND %s RETURNING true", table, live("s", "$4")), "$4"),
		list: fmt.Sprintf("SELECT name FROM %s AS s WHERE name >= $1 AND name > $2 AND name < $3 AND %s ORDER BY name LIMIT %d",
			table, live("s", "$4"), listPage),
		sweep: sweepStatement(table),

		lockNames:  lockNamesStatement,
		lockMany:   fmt.Sprintf("SELECT name, version, writer, value, expires_at FROM %s WHERE name = ANY($1) ORDER BY name FOR UPDATE", table),
		readMany:   fmt.Sprintf("SELECT name, version, writer, value, expires_at FROM %s WHERE name = ANY($1)", table),
		insertRow:  fmt.Sprintf("INSERT INTO %s (name, version, writer, value, expires_at) VALUES ($1, 1, $2, $3, $4)", table),
		replaceRow: fmt.Sprintf("UPDATE %s SET version = $2, writer = $3, value = $4, expires_at = $5 WHERE name = $1", table),
		deleteMany: fmt.Sprintf("DELETE FROM %s WHERE name = ANY($1)", table),
	}
}

// createStatement returns the first write of a scope: an INSERT that, when
// the scope has a row already, replaces it if it expired by $5, and answers
// it otherwise, in the same statement.
//
// ON CONFLICT DO NOTHING with a SELECT of the current row beside it would
// not do: the conflicting row may have been inserted by a transaction that
// committed after the statement's snapshot (the INSERT waits for a
// concurrent insert of the same name to end), and then no SELECT in the
// statement can see it; the write would be refused with no record to show
// for it. DO UPDATE sees and locks the conflicting row whatever the
// snapshot, and its RETURNING gives that row's latest version. The update
// replaces every column if that version expired, as the INSERT would have
// written them; otherwise it sets each to itself: it changes no column, and
// writes one unchanged row version, the cost of a refused create. (Every
// expression of the SET reads the row as it was before the update.) The
// write applied if and only if the row returned holds this write's writer
// token, which is new for every write. A row that is deleted while the
// INSERT waits is not a conflict: the INSERT is tried again, and applies.
func createStatement(table string) string {
	return fmt.Sprintf(`INSERT INTO %[1]s AS s (name, version, writer, value, expires_at) VALUES ($1, 1, $2, $3, $4)
ON CONFLICT (name) DO UPDATE SET
	version = CASE WHEN %[2]s THEN s.version ELSE 1 END,
	writer = CASE WHEN %[2]s THEN s.writer ELSE excluded.writer END,
	value = CASE WHEN %[2]s THEN s.value ELSE excluded.value END,
	expires_at = CASE WHEN %[2]s THEN s.expires_at ELSE excluded.expires_at END
RETURNING s.version, s.writer, CASE WHEN s.writer = $2 THEN NULL ELSE s.value END, s.expires_at`, table, live("s", "$5"))
}

// writeStatement wraps write, an UPDATE or DELETE of the live row of $1 at
// version $2 by writer $3 that returns true for the row it wrote, into one
// statement that answers either (true, 0, NULL, NULL, NULL), the write
// applied, or (false, version, writer, value, expires_at), the current
// record that refused it, or no row at all, refused because the scope has
// no record. now is the parameter of the current time: a row expired by it
// is no record, to the write and to the answer.
//
// The current record comes from one of two SELECTs, and is never the
// expected revision itself:
//
//   - Most refusals happen in the snapshot: its row is at another revision,
//     or there is no live row, and the write matched nothing. The live row
//     of the snapshot is the answer: the record as it was when the
//     statement started, after the call was sent.
//   - If the snapshot's row is live at the expected revision and the write
//     still did not apply, another transaction changed the row after the
//     snapshot was taken: the write waited for it, and found the row's
//     latest version at another revision, or deleted. A plain SELECT would
//     answer the snapshot's row, which is the very revision the caller
//     expected and is stale. SELECT ... FOR SHARE instead returns the row's
//     latest version, or nothing if it was deleted (or is expired). The
//     write, to re-check that version, has locked it already (until the
//     statement commits), so the answer is exactly the version that refused
//     the write. (FOR KEY SHARE would not do: it does not conflict with an
//     UPDATE that leaves the key alone, and would return the old version.)
//     Only this case locks a row without writing it, and it writes no row
//     version.
//
// A row created after the snapshot is seen by neither SELECT: a scope
// deleted and created again while the statement ran can be answered as
// having no record. When every writer of the table is this package, each
// write its own transaction, there was such a moment while the statement
// ran: the answer is stale but was true. A transaction of another program
// that deletes and re-inserts a row at once can make the answer one that
// was never true. Either way the engine's next write, a create, meets the
// row and gets it.
func writeStatement(table, write, now string) string {
	return fmt.Sprintf(`WITH applied AS (
	%[2]s
), moved AS (
	SELECT version, writer, value, expires_at FROM %[1]s AS s
	WHERE name = $1 AND NOT EXISTS (SELECT FROM applied) AND %[3]s
	  AND EXISTS (SELECT FROM %[1]s AS e WHERE name = $1 AND version = $2 AND writer = $3 AND %[4]s)
	FOR SHARE
)
SELECT true, 0, NULL, NULL, NULL FROM applied
UNION ALL
SELECT false, version, writer, value, expires_at FROM %[1]s AS s
WHERE name = $1 AND NOT EXISTS (SELECT FROM applied) AND (version <> $2 OR writer <> $3) AND %[3]s
UNION ALL
SELECT false, version, writer, value, expires_at FROM moved`, table, write, live("s", now), live("e", now))
}

// sweepStatement returns the DELETE of at most $2 rows expired by $1, the
// earliest first. PostgreSQL has no DELETE ... LIMIT: a subquery picks the
// rows on the index of expires_at and locks them, skipping those that
// another transaction holds (a write, or another sweep), and the DELETE
// checks the expiry again on each row it removes. A row written again
// after the statement's snapshot is re-read by the lock, which re-checks
// the expiry on its latest version: it is left.
func sweepStatement(table string) string {
	return fmt.Sprintf(`DELETE FROM %[1]s WHERE name IN (
	SELECT name FROM %[1]s WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED
) AND expires_at <= $1`, table)
}

// lockNamesStatement takes a transaction-level advisory lock on every name
// of $1: its hash (hashtextextended, seeded with $2, the store's table), in
// the order of the hashes, so that two transactions wait for each other in
// one order. FOR UPDATE locks only rows that exist; the advisory locks are
// what keep two CompareAndSetMany calls from both relying on the absence
// of a row that the other creates (see many.go).
const lockNamesStatement = `SELECT pg_advisory_xact_lock(k) FROM (
	SELECT DISTINCT hashtextextended(n, $2) AS k FROM unnest($1::text[]) AS n ORDER BY k
) AS keys`
