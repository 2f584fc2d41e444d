package mysql_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/fallback/mysql"
	"github.com/scoped-go/scoped/internal/testenv"
	"github.com/scoped-go/scoped/storetest"
)

// maxConns bounds every pool of the tests: the test server is shared.
const maxConns = 8

// newStore returns a store on the test server, in a table of its own.
func newStore(t *testing.T, opts ...mysql.Option) (*mysql.Store, *sql.DB, string) {
	t.Helper()
	db := testenv.MySQL(t)
	bound(db)
	s, table := newStoreOn(t, db, opts...)
	return s, db, table
}

// bound keeps a test's pool to maxConns connections, all kept idle between
// calls.
func bound(db *sql.DB) {
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
}

// newStoreOn returns a store on db and the name of its table, created now
// and dropped at cleanup.
func newStoreOn(t *testing.T, db *sql.DB, opts ...mysql.Option) (*mysql.Store, string) {
	t.Helper()
	table := testenv.UniqueName("scopedtest_")
	s, err := mysql.New(db, append([]mysql.Option{mysql.WithTable(table)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropTable(t, s, db, table) })
	if err := s.CreateTable(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s, table
}

func dropTable(t *testing.T, s *mysql.Store, db *sql.DB, table string) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := db.ExecContext(context.Background(), "DROP TABLE IF EXISTS `"+table+"`"); err != nil {
		t.Errorf("dropping %s: %v", table, err)
	}
}

// rows returns the number of rows of table.
func rows(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM `"+table+"`").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestConformance(t *testing.T) {
	// Each subtest has a store of its own; footprint finds its table.
	type place struct {
		db    *sql.DB
		table string
	}
	var (
		mu     sync.Mutex
		places = map[scoped.Store]place{}
	)
	storetest.Run(t, storetest.Harness{
		NewStore: func(t *testing.T, clock *storetest.Clock) scoped.Store {
			s, db, table := newStore(t, mysql.WithClock(clock.Now))
			mu.Lock()
			places[s] = place{db, table}
			mu.Unlock()
			return s
		},
		Footprint: func(t *testing.T, s scoped.Store) int {
			mu.Lock()
			p := places[s]
			mu.Unlock()
			return rows(t, p.db, p.table)
		},
	})
}

// 64 goroutines × 100 increments of one scope end at exactly 6,400, with
// one engine (its calls are group-committed) and with four engines standing
// for four processes (their commits conflict and retry).
func TestContendedIncrements(t *testing.T) {
	const workers, increments = 64, 100
	for _, engines := range []int{1, 4} {
		t.Run(strconv.Itoa(engines)+"engines", func(t *testing.T) {
			s, _, _ := newStore(t)
			es := make([]*scoped.Engine, engines)
			for i := range es {
				es[i] = scoped.New(s)
			}
			var wg sync.WaitGroup
			for w := range workers {
				e := es[w%engines]
				wg.Go(func() {
					for range increments {
						if _, err := scoped.Update(t.Context(), e, "hot", increment); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			n, err := scoped.Read[int](t.Context(), es[0], "hot")
			if err != nil || n != workers*increments {
				t.Fatalf("counter = %d, %v; want %d", n, err, workers*increments)
			}
			var st scoped.Stats
			for _, e := range es {
				s := e.Stats()
				st.Calls += s.Calls
				st.Loads += s.Loads
				st.Writes += s.Writes
				st.Conflicts += s.Conflicts
				st.Retries += s.Retries
			}
			t.Logf("%d engines, %d increments: %d writes, %d loads, %d conflicts, %d retries (%.4f retries/call), %.1f calls/write",
				engines, n, st.Writes, st.Loads, st.Conflicts, st.Retries, float64(st.Retries)/float64(n), float64(n)/float64(st.Writes))
		})
	}
}

// A delete removes the scope's row. The scope created again starts at
// version 1, and a writer that expects its revision from before the delete,
// at the same version, is refused.
func TestDeleteRemovesRow(t *testing.T) {
	s, db, table := newStore(t)
	e := scoped.New(s)
	ctx := t.Context()
	for range 2 {
		if _, err := scoped.Update(ctx, e, "phoenix", increment); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := scoped.Update(ctx, e, "bystander", increment); err != nil {
		t.Fatal(err)
	}
	old, err := s.Load(ctx, "phoenix")
	if err != nil || old.Version != 2 {
		t.Fatalf("Load = %+v, %v; want version 2", old, err)
	}
	if err := e.Delete(ctx, "phoenix"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM `"+table+"` WHERE `name` = ?", "phoenix").Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows of the deleted scope: %d, %v; want none", n, err)
	}
	if n := rows(t, db, table); n != 1 {
		t.Fatalf("the table holds %d rows; want 1, the other scope's", n)
	}

	first, ok, err := s.CompareAndSet(ctx, "phoenix", scoped.Revision{}, scoped.Write{Value: []byte("again"), Writer: scoped.NewToken()})
	if err != nil || !ok || first.Version != 1 {
		t.Fatalf("re-create = %+v, %v, %v; want version 1", first, ok, err)
	}
	second, ok, err := s.CompareAndSet(ctx, "phoenix", first.Revision(), scoped.Write{Value: []byte("again 2"), Writer: scoped.NewToken()})
	if err != nil || !ok || second.Version != 2 {
		t.Fatalf("second write = %+v, %v, %v; want version 2", second, ok, err)
	}
	cur, ok, err := s.CompareAndSet(ctx, "phoenix", old.Revision(), scoped.Write{Value: []byte("stale"), Writer: scoped.NewToken()})
	if err != nil || ok || cur.Revision() != second.Revision() {
		t.Fatalf("CompareAndSet expecting version 2 from before the delete = %+v, %v, %v; want a conflict and the new version 2", cur, ok, err)
	}
	cur, ok, err = s.Delete(ctx, "phoenix", old.Revision())
	if err != nil || ok || cur.Revision() != second.Revision() {
		t.Fatalf("Delete expecting version 2 from before the delete = %+v, %v, %v; want a conflict and the new version 2", cur, ok, err)
	}
}

// A row with a NULL value, a deleted scope as earlier versions kept it, is
// reported, not taken for a record or for its absence.
func TestOldTombstone(t *testing.T) {
	s, db, table := newStore(t)
	tok := scoped.NewToken()
	if _, err := db.ExecContext(t.Context(), "ALTER TABLE `"+table+"` MODIFY `value` LONGBLOB NULL"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(t.Context(), "INSERT INTO `"+table+"` (`name`, `version`, `writer`, `value`) VALUES ('old', 3, ?, NULL)", tok[:]); err != nil {
		t.Fatal(err)
	}
	_, err := s.Load(t.Context(), "old")
	if err == nil || !strings.Contains(err.Error(), "IS NULL") {
		t.Fatalf("Load of a tombstone row: %v; want an error that says how to remove it", err)
	}
	if _, _, err := s.CompareAndSet(t.Context(), "old", scoped.Revision{}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()}); err == nil {
		t.Fatal("CompareAndSet over a tombstone row succeeded")
	}
}

// Names that MySQL's text collations would take as equal (case, trailing
// spaces, accents) are different scopes.
func TestNamesCompareAsBytes(t *testing.T) {
	s, _, _ := newStore(t)
	names := []string{"a", "a ", "a  ", "A", "á", "a\t", " a"}
	for _, name := range names {
		if _, ok, err := s.CompareAndSet(t.Context(), name, scoped.Revision{}, scoped.Write{Value: []byte(name), Writer: scoped.NewToken()}); err != nil || !ok {
			t.Fatalf("first write of %q = %v, %v; want a new scope", name, ok, err)
		}
	}
	for _, name := range names {
		if rec, err := s.Load(t.Context(), name); err != nil || string(rec.Value) != name {
			t.Errorf("Load(%q) = %q, %v; want its own value", name, rec.Value, err)
		}
	}
}

// Invalid scope names are refused by the store itself, before any I/O: a
// server not in strict mode would otherwise cut a long name short and merge
// two scopes.
func TestInvalidNames(t *testing.T) {
	s := closedStore(t)
	long := string(make([]byte, scoped.MaxNameLength+1))
	for _, name := range []string{"", long, "nul\x00", "\xff"} {
		_, err := s.Load(t.Context(), name)
		_, _, err2 := s.CompareAndSet(t.Context(), name, scoped.Revision{}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()})
		_, _, err3 := s.Delete(t.Context(), name, scoped.Revision{})
		for _, err := range []error{err, err2, err3} {
			if !errors.Is(err, scoped.ErrInvalidName) || !errors.Is(err, scoped.ErrNotApplied) {
				t.Errorf("name %q: %v; want ErrInvalidName and ErrNotApplied", name, err)
			}
		}
	}
}

// Close releases the statements: calls fail with ErrClosed, not applied,
// and the pool is still the caller's to use.
func TestClose(t *testing.T) {
	s, db, table := newStore(t)
	rec, _, err := s.CompareAndSet(t.Context(), "a", scoped.Revision{}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	closed := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, mysql.ErrClosed) || !errors.Is(err, scoped.ErrNotApplied) {
			t.Errorf("%s after Close: %v; want ErrClosed and ErrNotApplied", what, err)
		}
	}
	_, err = s.Load(t.Context(), "a")
	closed("Load", err)
	_, _, err = s.CompareAndSet(t.Context(), "a", rec.Revision(), scoped.Write{Value: []byte("y"), Writer: scoped.NewToken()})
	closed("CompareAndSet", err)
	_, _, err = s.Delete(t.Context(), "a", rec.Revision())
	closed("Delete", err)
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatalf("the pool after Close: %v", err)
	}
	if n := rows(t, db, table); n != 1 {
		t.Fatalf("the table holds %d rows after the calls on the closed store; want 1", n)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// Close while calls run: each call either completes, on open statements,
// or fails with ErrClosed, not applied; none fails otherwise, and every
// write that succeeded is in the table.
func TestCloseDuringCalls(t *testing.T) {
	s, db, table := newStore(t)
	const workers = 4
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		written = map[string]scoped.Record{}
	)
	start := make(chan struct{})
	for w := range workers {
		wg.Go(func() {
			<-start
			for i := 0; ; i++ {
				name := fmt.Sprintf("w%d/%d", w, i)
				rec, ok, err := s.CompareAndSet(t.Context(), name, scoped.Revision{}, scoped.Write{Value: []byte(name), Writer: scoped.NewToken()})
				if errors.Is(err, mysql.ErrClosed) && errors.Is(err, scoped.ErrNotApplied) {
					return
				}
				if err != nil || !ok {
					t.Errorf("CompareAndSet(%q) = %v, %v; want success or ErrClosed", name, ok, err)
					return
				}
				mu.Lock()
				written[name] = rec
				mu.Unlock()
			}
		})
	}
	close(start)
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if n := rows(t, db, table); n != len(written) || n == 0 {
		t.Fatalf("the table holds %d rows; want the %d written before Close", n, len(written))
	}
}

// Once a connection has prepared the statements, each call is the
// statements the package doc counts, and nothing else.
func TestStatementsPerCall(t *testing.T) {
	db := testenv.MySQL(t)
	db.SetMaxOpenConns(1) // the session counters below are the store's
	s, _ := newStoreOn(t, db)
	ctx := t.Context()
	var a, b scoped.Record
	steps := []struct {
		what     string
		executes int64
		call     func() (bool, error)
	}{
		{"first write", 1, func() (ok bool, err error) {
			a, ok, err = s.CompareAndSet(ctx, "a", scoped.Revision{}, scoped.Write{Value: []byte("v1"), Writer: scoped.NewToken()})
			return ok, err
		}},
		{"load", 1, func() (bool, error) { _, err := s.Load(ctx, "a"); return true, err }},
		{"load of a missing scope", 1, func() (bool, error) { _, err := s.Load(ctx, "none"); return true, err }},
		{"write", 1, func() (ok bool, err error) {
			b, ok, err = s.CompareAndSet(ctx, "a", a.Revision(), scoped.Write{Value: []byte("v2"), Writer: scoped.NewToken()})
			return ok, err
		}},
		{"refused write", 2, func() (bool, error) {
			_, ok, err := s.CompareAndSet(ctx, "a", a.Revision(), scoped.Write{Value: []byte("stale"), Writer: scoped.NewToken()})
			return !ok, err
		}},
		{"refused first write", 2, func() (bool, error) {
			_, ok, err := s.CompareAndSet(ctx, "a", scoped.Revision{}, scoped.Write{Value: []byte("stale"), Writer: scoped.NewToken()})
			return !ok, err
		}},
		{"refused delete", 2, func() (bool, error) {
			_, ok, err := s.Delete(ctx, "a", a.Revision())
			return !ok, err
		}},
		{"delete", 1, func() (bool, error) { _, ok, err := s.Delete(ctx, "a", b.Revision()); return ok, err }},
		{"delete of a missing scope", 1, func() (bool, error) { _, ok, err := s.Delete(ctx, "a", scoped.Revision{}); return ok, err }},
	}
	for _, step := range steps {
		before := sessionStatus(t, db)
		if ok, err := step.call(); err != nil || !ok {
			t.Fatalf("%s: %v, %v", step.what, ok, err)
		}
		after := sessionStatus(t, db)
		if step.what == "first write" {
			continue // prepares the statements
		}
		for counter, want := range map[string]int64{"Com_stmt_execute": step.executes, "Com_stmt_prepare": 0, "Com_stmt_close": 0} {
			if got := after[counter] - before[counter]; got != want {
				t.Errorf("%s: %s went up by %d; want %d", step.what, counter, got, want)
			}
		}
	}
}

// sessionStatus returns the statement counters of the connection of a
// one-connection pool.
func sessionStatus(t *testing.T, db *sql.DB) map[string]int64 {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "SHOW SESSION STATUS WHERE Variable_name IN ('Com_stmt_execute', 'Com_stmt_prepare', 'Com_stmt_close', 'Bytes_received')")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	status := map[string]int64{}
	for rows.Next() {
		var name string
		var value int64
		if err := rows.Scan(&name, &value); err != nil {
			t.Fatal(err)
		}
		status[name] = value
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return status
}

// closedStore returns a store whose pool is closed: any I/O it tried would
// fail with sql: database is closed.
func closedStore(t *testing.T, opts ...mysql.Option) *mysql.Store {
	t.Helper()
	db, err := sql.Open("mysql", "root@tcp(127.0.0.1:1)/none")
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	s, err := mysql.New(db, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func increment(n *int) (int, error) {
	*n++
	return *n, nil
}
