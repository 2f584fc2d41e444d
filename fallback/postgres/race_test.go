package postgres_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/testenv"
)

// adminWriter is the writer token of the rows the tests' own transactions
// write, in hexadecimal.
const adminWriter = "abababababababababababababababab"

// outcome is what a store call returned.
type outcome struct {
	rec scoped.Record
	ok  bool
	err error
}

// behind runs call while a transaction of admin holds what stmts changed,
// uncommitted: it waits until the call waits for that transaction's locks,
// commits the transaction, and returns the call's outcome.
func behind(t *testing.T, admin, pool *pgxpool.Pool, stmts []string, call func() outcome) outcome {
	t.Helper()
	tx, err := admin.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	for _, stmt := range stmts {
		if _, err := tx.Exec(t.Context(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	done := make(chan outcome, 1)
	go func() { done <- call() }()
	waitForLock(t, admin, pool, 1)
	if err := tx.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	return <-done
}

// A write that waits for another transaction's change of its row answers
// the row as that transaction left it: its latest version, or no record,
// never the revision the write expected. A first write that waits for
// another transaction's insert answers the inserted row. The one stale
// answer, documented, is a row deleted and re-inserted in one transaction,
// answered as no record.
func TestWriteBehindAnotherTransaction(t *testing.T) {
	admin := testenv.Postgres(t)
	adminTok := token(t, adminWriter)
	moved := scoped.Record{Value: []byte("admin"), Version: 2, Writer: adminTok}
	inserted := scoped.Record{Value: []byte("admin"), Version: 1, Writer: adminTok}
	mine := scoped.Record{Value: []byte("mine"), Version: 1} // any writer
	const (
		updateRow = `UPDATE %[1]s SET version = 2, writer = '\x` + adminWriter + `', value = 'admin' WHERE name = 'a'`
		deleteRow = `DELETE FROM %[1]s WHERE name = 'a'`
		insertRow = `INSERT INTO %[1]s VALUES ('%[2]s', 1, '\x` + adminWriter + `', 'admin')`
	)

	for _, tt := range []struct {
		name  string
		admin []string // %[1]s is the table, %[2]s the scope
		scope string   // the scope written: "a" holds a record, "b" none
		call  func(s scoped.Store, name string, rec scoped.Record) outcome
		want  outcome
		after scoped.Record // what Load returns once both are done
	}{
		{"update behind an update", []string{updateRow}, "a", update, outcome{rec: moved}, moved},
		{"delete behind an update", []string{updateRow}, "a", remove, outcome{rec: moved}, moved},
		{"first write behind an update", []string{updateRow}, "a", create, outcome{rec: moved}, moved},
		{"update behind a delete", []string{deleteRow}, "a", update, outcome{}, scoped.Record{}},
		{"delete behind a delete", []string{deleteRow}, "a", remove, outcome{}, scoped.Record{}},
		{"first write behind a delete", []string{deleteRow}, "a", create, outcome{ok: true, rec: mine}, mine},
		{"first write behind an insert", []string{insertRow}, "b", create, outcome{rec: inserted}, inserted},
		// The exception: a row created after the write's snapshot is not
		// seen, and here the scope never was without a record.
		{"update behind a delete and an insert in one transaction", []string{deleteRow, insertRow}, "a", update, outcome{}, inserted},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pool := testenv.Postgres(t)
			s, table := newStoreOn(t, pool)
			rec := mustSet(t, s, "a", scoped.Revision{}, []byte("before"))
			stmts := make([]string, len(tt.admin))
			for i, stmt := range tt.admin {
				stmts[i] = fmt.Sprintf(stmt, `"`+table+`"`, tt.scope)
			}
			got := behind(t, admin, pool, stmts, func() outcome { return tt.call(s, tt.scope, rec) })
			if got.err != nil || got.ok != tt.want.ok || !sameRecord(got.rec, tt.want.rec) {
				t.Fatalf("got %+v, %v, %v; want %+v, %v", got.rec, got.ok, got.err, tt.want.rec, tt.want.ok)
			}
			if after := mustLoad(t, s, tt.scope); !sameRecord(after, tt.after) {
				t.Fatalf("Load afterwards = %+v; want %+v", after, tt.after)
			}
		})
	}
}

func update(s scoped.Store, name string, rec scoped.Record) outcome {
	cur, ok, err := s.CompareAndSet(context.Background(), name, rec.Revision(), scoped.Write{Value: []byte("mine"), Writer: scoped.NewToken()})
	return outcome{cur, ok, err}
}

func remove(s scoped.Store, name string, rec scoped.Record) outcome {
	cur, ok, err := s.Delete(context.Background(), name, rec.Revision())
	return outcome{cur, ok, err}
}

func create(s scoped.Store, name string, _ scoped.Record) outcome {
	cur, ok, err := s.CompareAndSet(context.Background(), name, scoped.Revision{}, scoped.Write{Value: []byte("mine"), Writer: scoped.NewToken()})
	return outcome{cur, ok, err}
}

// sameRecord compares records; the writer only if want has one.
func sameRecord(got, want scoped.Record) bool {
	return got.Version == want.Version && bytes.Equal(got.Value, want.Value) && (got.Value == nil) == (want.Value == nil) &&
		(want.Writer.IsZero() && got.Value != nil || got.Writer == want.Writer)
}

// token decodes a token from hexadecimal.
func token(t *testing.T, h string) scoped.Token {
	t.Helper()
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != scoped.TokenSize {
		t.Fatalf("token %q: %v", h, err)
	}
	return scoped.Token(b)
}

// Why the statements are built as they are: run as a plain CTE with a SELECT
// of the current row, the refused update answers the revision it expected,
// and the refused first write answers no record at all. The store's
// statements answer the latest row in both cases
// (TestWriteBehindAnotherTransaction).
func TestPlainSelectAnswersStale(t *testing.T) {
	admin := testenv.Postgres(t)
	pool := testenv.Postgres(t)
	s, table := newStoreOn(t, pool)
	rec := mustSet(t, s, "a", scoped.Revision{}, []byte("before"))
	q := `"` + table + `"`

	var version int64
	got := behind(t, admin, pool,
		[]string{`UPDATE ` + q + ` SET version = 2, writer = '\x` + adminWriter + `' WHERE name = 'a'`},
		func() outcome {
			err := pool.QueryRow(context.Background(), `WITH u AS (
				UPDATE `+q+` SET version = 3 WHERE name = 'a' AND version = $1 AND writer = $2 RETURNING 1)
				SELECT version FROM `+q+` WHERE name = 'a' AND NOT EXISTS (SELECT FROM u)`,
				int64(rec.Version), rec.Writer[:]).Scan(&version)
			return outcome{err: err}
		})
	if got.err != nil || version != 1 {
		t.Fatalf("plain CTE behind an update: version %d, %v; the test expects PostgreSQL to answer the expected, stale, version 1", version, got.err)
	}

	tok := scoped.NewToken()
	got = behind(t, admin, pool,
		[]string{`INSERT INTO ` + q + ` VALUES ('b', 1, '\x` + adminWriter + `', 'admin')`},
		func() outcome {
			var inserted bool
			var cur *int64
			err := pool.QueryRow(context.Background(), `WITH i AS (
				INSERT INTO `+q+` VALUES ('b', 1, $1, 'mine') ON CONFLICT (name) DO NOTHING RETURNING 1)
				SELECT EXISTS (SELECT FROM i), (SELECT version FROM `+q+` WHERE name = 'b')`, tok[:]).Scan(&inserted, &cur)
			if err == nil && (inserted || cur != nil) {
				err = fmt.Errorf("inserted %v, current version %v", inserted, cur)
			}
			return outcome{err: err}
		})
	if got.err != nil {
		t.Fatalf("ON CONFLICT DO NOTHING behind an insert: %v; the test expects PostgreSQL to refuse it and show no row", got.err)
	}
}

// The engine converges on the answer that was never true: its cached
// record is deleted and the scope re-inserted in one transaction while its
// write waits; the write is answered "no record", the create that follows
// is answered with the row, and the increment lands on it, once.
func TestEngineConvergesOnStaleAnswer(t *testing.T) {
	admin := testenv.Postgres(t)
	pool := testenv.Postgres(t)
	s, table := newStoreOn(t, pool)
	e := scoped.New(s)
	set := func(name string, v int) {
		t.Helper()
		if _, err := scoped.Update(t.Context(), e, name, func(n *int) (int, error) { *n = v; return v, nil }); err != nil {
			t.Fatal(err)
		}
	}
	set("n", 41)        // the engine caches n at version 1
	set("template", 42) // the value the other program writes, encoded by the engine
	q := `"` + table + `"`
	var n int
	var err error
	behind(t, admin, pool, []string{
		`DELETE FROM ` + q + ` WHERE name = 'n'`,
		`INSERT INTO ` + q + ` SELECT 'n', 1, '\x` + adminWriter + `', value FROM ` + q + ` WHERE name = 'template'`,
	}, func() outcome {
		n, err = scoped.Update(t.Context(), e, "n", increment)
		return outcome{}
	})
	if err != nil || n != 43 {
		t.Fatalf("increment = %d, %v; want 43, on the re-inserted 42", n, err)
	}
	if rec := mustLoad(t, s, "n"); rec.Version != 2 {
		t.Fatalf("n at version %d; want 2, one write over the re-inserted row", rec.Version)
	}
	if got, err := scoped.Read[int](t.Context(), scoped.New(s), "n"); err != nil || got != 43 {
		t.Fatalf("n = %d, %v; want 43", got, err)
	}
	if st := e.Stats(); st.Conflicts < 2 {
		t.Fatalf("%d conflicts; want at least 2: the stale answer, and the create it led to", st.Conflicts)
	}
}
