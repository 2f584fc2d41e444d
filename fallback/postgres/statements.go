package postgres

import "fmt"

// statements are the SQL texts of the store's four statements on one
// table. Each is prepared once on every pool connection it runs on (see
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
	load   string // $1 name → version, writer, value
	create string // $1 name, $2 writer, $3 value → version, writer, value-if-not-ours
	update string // $1 name, $2 version, $3 writer, $4 new version, $5 new writer, $6 value → applied, version, writer, value
	delete string // $1 name, $2 version, $3 writer → applied, version, writer, value
}

// newStatements returns the statements on table, quoted.
func newStatements(table string) statements {
	return statements{
		load:   fmt.Sprintf("SELECT version, writer, value FROM %s WHERE name = $1", table),
		create: createStatement(table),
		update: writeStatement(table, fmt.Sprintf(
			"UPDATE %s SET version = $4, writer = $5, value = $6 WHERE name = $1 AND version = $2 AND writer = $3 RETURNING true", table)),
		delete: writeStatement(table, fmt.Sprintf(
			"DELETE FROM %s WHERE name = $1 AND version = $2 AND writer = $3 RETURNING true", table)),
	}
}

// createStatement returns the first write of a scope: an INSERT that, when
// the scope has a row already, answers that row instead, in the same
// statement.
//
// ON CONFLICT DO NOTHING with a SELECT of the current row beside it would
// not do: the conflicting row may have been inserted by a transaction that
// committed after the statement's snapshot (the INSERT waits for a
// concurrent insert of the same name to end), and then no SELECT in the
// statement can see it; the write would be refused with no record to show
// for it. DO UPDATE sees and locks the conflicting row whatever the
// snapshot, and its RETURNING gives that row's latest version. The update
// sets version to itself: it changes no column, and writes one unchanged
// row version, the cost of a refused create. The write applied if and only
// if the row returned holds this write's writer token, which is new for
// every write. A row that is deleted while the INSERT waits is not a
// conflict: the INSERT is tried again, and applies.
func createStatement(table string) string {
	return fmt.Sprintf(`INSERT INTO %s AS s (name, version, writer, value) VALUES ($1, 1, $2, $3)
ON CONFLICT (name) DO UPDATE SET version = s.version
RETURNING s.version, s.writer, CASE WHEN s.writer = $2 THEN NULL ELSE s.value END`, table)
}

// writeStatement wraps write, an UPDATE or DELETE of the row of $1 at
// version $2 by writer $3 that returns true for the row it wrote, into one
// statement that answers either (true, 0, NULL, NULL), the write applied,
// or (false, version, writer, value), the current record that refused it,
// or no row at all, refused because the scope has no record.
//
// The current record comes from one of two SELECTs, and is never the
// expected revision itself:
//
//   - Most refusals happen in the snapshot: its row is at another revision,
//     or there is no row, and the write matched nothing. The row of the
//     snapshot is the answer: the record as it was when the statement
//     started, after the call was sent.
//   - If the snapshot's row is at the expected revision and the write still
//     did not apply, another transaction changed the row after the snapshot
//     was taken: the write waited for it, and found the row's latest version
//     at another revision, or deleted. A plain SELECT would answer the
//     snapshot's row, which is the very revision the caller expected and is
//     stale. SELECT ... FOR SHARE instead returns the row's latest version,
//     or nothing if it was deleted. The write, to re-check that version,
//     has locked it already (until the statement commits), so the answer is
//     exactly the version that refused the write. (FOR KEY SHARE would not
//     do: it does not conflict with an UPDATE that leaves the key alone, and
//     would return the old version.) Only this case locks a row without
//     writing it, and it writes no row version.
//
// A row created after the snapshot is seen by neither SELECT: a scope
// deleted and created again while the statement ran can be answered as
// having no record. When every writer of the table is this package, each
// write its own transaction, there was such a moment while the statement
// ran: the answer is stale but was true. A transaction of another program
// that deletes and re-inserts a row at once can make the answer one that
// was never true. Either way the engine's next write, a create, meets the
// row and gets it.
func writeStatement(table, write string) string {
	return fmt.Sprintf(`WITH applied AS (
	%[2]s
), moved AS (
	SELECT version, writer, value FROM %[1]s
	WHERE name = $1 AND NOT EXISTS (SELECT FROM applied)
	  AND EXISTS (SELECT FROM %[1]s WHERE name = $1 AND version = $2 AND writer = $3)
	FOR SHARE
)
SELECT true, 0, NULL, NULL FROM applied
UNION ALL
SELECT false, version, writer, value FROM %[1]s
WHERE name = $1 AND NOT EXISTS (SELECT FROM applied) AND (version <> $2 OR writer <> $3)
UNION ALL
SELECT false, version, writer, value FROM moved`, table, write)
}
