package mysql_test

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"sync"
	"testing"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/fallback/mysql"
	"github.com/scoped-go/scoped/internal/testenv"
	"github.com/scoped-go/scoped/storetest"
)

// newStore returns a store on the test server, in a table of its own.
func newStore(t *testing.T, opts ...mysql.Option) (*mysql.Store, *sql.DB, string) {
	t.Helper()
	db := testenv.MySQL(t)
	s, table := newStoreOn(t, db, opts...)
	return s, db, table
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

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) scoped.Store { s, _, _ := newStore(t); return s })
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

// Deleting and re-creating a scope never takes its version back: the row
// stays, with a NULL value, and a writer that saw the scope before it was
// deleted, or never saw it, is refused.
func TestVersionsSurviveDelete(t *testing.T) {
	s, db, table := newStore(t)
	e := scoped.New(s)
	ctx := t.Context()
	for range 2 {
		if _, err := scoped.Update(ctx, e, "phoenix", increment); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Delete(ctx, "phoenix"); err != nil {
		t.Fatal(err)
	}
	var version uint64
	var isNull bool
	row := db.QueryRowContext(ctx, "SELECT `version`, `value` IS NULL FROM `"+table+"` WHERE `name` = ?", "phoenix")
	if err := row.Scan(&version, &isNull); err != nil || version != 3 || !isNull {
		t.Fatalf("tombstone row: version %d, NULL value %v, %v; want version 3 with a NULL value", version, isNull, err)
	}
	for _, stale := range []uint64{0, 1, 2} {
		cur, ok, err := s.CompareAndSet(ctx, "phoenix", stale, []byte("stale"), scoped.NewToken())
		if err != nil || ok || cur.Version != 3 || cur.Value != nil {
			t.Fatalf("CompareAndSet(expected %d) after delete = %+v, %v, %v; want the tombstone at version 3 and a conflict", stale, cur, ok, err)
		}
	}
	n, err := scoped.Update(ctx, e, "phoenix", increment)
	if err != nil || n != 1 {
		t.Fatalf("re-created counter = %d, %v; want 1", n, err)
	}
	if rec, err := s.Load(ctx, "phoenix"); err != nil || rec.Version != 4 {
		t.Fatalf("re-created scope: %+v, %v; want version 4", rec, err)
	}
}

// Names that MySQL's text collations would take as equal (case, trailing
// spaces, accents) are different scopes.
func TestNamesCompareAsBytes(t *testing.T) {
	s, _, _ := newStore(t)
	names := []string{"a", "a ", "a  ", "A", "á", "a\t", " a"}
	for _, name := range names {
		if _, ok, err := s.CompareAndSet(t.Context(), name, 0, []byte(name), scoped.NewToken()); err != nil || !ok {
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
		_, _, err2 := s.CompareAndSet(t.Context(), name, 0, []byte("x"), scoped.NewToken())
		_, _, err3 := s.Delete(t.Context(), name, 0, scoped.NewToken())
		for _, err := range []error{err, err2, err3} {
			if !errors.Is(err, scoped.ErrInvalidName) {
				t.Errorf("name %q: %v; want ErrInvalidName", name, err)
			}
		}
	}
}

// Close releases the statements: calls fail with ErrClosed, and the pool is
// still the caller's to use.
func TestClose(t *testing.T) {
	s, db, _ := newStore(t)
	if _, _, err := s.CompareAndSet(t.Context(), "a", 0, []byte("x"), scoped.NewToken()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(t.Context(), "a"); !errors.Is(err, mysql.ErrClosed) {
		t.Fatalf("Load after Close: %v; want ErrClosed", err)
	}
	if _, _, err := s.CompareAndSet(t.Context(), "a", 1, []byte("y"), scoped.NewToken()); !errors.Is(err, mysql.ErrClosed) {
		t.Fatalf("CompareAndSet after Close: %v; want ErrClosed", err)
	}
	if err := db.PingContext(t.Context()); err != nil {
		t.Fatalf("the pool after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// Once a connection has prepared the statements, a Load or a successful
// write is one statement execution and nothing else; a refused write is two.
func TestStatementsPerCall(t *testing.T) {
	db := testenv.MySQL(t)
	db.SetMaxOpenConns(1) // the session counters below are the store's
	s, _ := newStoreOn(t, db)
	ctx := t.Context()
	if _, _, err := s.CompareAndSet(ctx, "a", 0, []byte("v1"), scoped.NewToken()); err != nil {
		t.Fatal(err)
	}
	before := sessionStatus(t, db)
	const n = 10
	for i := range uint64(n) {
		if _, err := s.Load(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := s.CompareAndSet(ctx, "a", i+1, []byte("v"), scoped.NewToken()); err != nil || !ok {
			t.Fatalf("write %d: %v, %v", i, ok, err)
		}
	}
	if _, ok, err := s.CompareAndSet(ctx, "a", 1, []byte("stale"), scoped.NewToken()); err != nil || ok {
		t.Fatalf("stale write: %v, %v; want a conflict", ok, err)
	}
	after := sessionStatus(t, db)
	for counter, want := range map[string]int64{"Com_stmt_execute": 2*n + 2, "Com_stmt_prepare": 0, "Com_stmt_close": 0} {
		if got := after[counter] - before[counter]; got != want {
			t.Errorf("%s went up by %d over %d loads, %d writes and a refused write; want %d", counter, got, n, n, want)
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
