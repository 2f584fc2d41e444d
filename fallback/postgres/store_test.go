package postgres_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/fallback/postgres"
	"github.com/scoped-go/scoped/internal/testenv"
	"github.com/scoped-go/scoped/storetest"
)

// newStore returns a store on the test server, on a pool of its own
// changed by edits, in a table of its own.
func newStore(t *testing.T, opts ...postgres.Option) (*postgres.Store, *pgxpool.Pool, string) {
	t.Helper()
	pool := testenv.Postgres(t)
	s, table := newStoreOn(t, pool, opts...)
	return s, pool, table
}

// newStoreOn returns a store on pool and the name of its table, created now
// and dropped at cleanup (through a pool of its own, which outlives pool if
// the test closes it).
func newStoreOn(t *testing.T, pool *pgxpool.Pool, opts ...postgres.Option) (*postgres.Store, string) {
	t.Helper()
	table := testenv.UniqueName("scopedtest_")
	admin := testenv.Postgres(t, func(c *pgxpool.Config) { c.MaxConns = 1 })
	s, err := postgres.New(pool, append([]postgres.Option{postgres.WithTable(table)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropTable(t, admin, table) })
	if err := s.CreateTable(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s, table
}

// storeOn returns a store on pool using an existing table.
func storeOn(t *testing.T, pool *pgxpool.Pool, table string, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	s, err := postgres.New(pool, append([]postgres.Option{postgres.WithTable(table)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func dropTable(t *testing.T, pool *pgxpool.Pool, table string) {
	t.Helper()
	if _, err := pool.Exec(context.Background(), `DROP TABLE IF EXISTS "`+table+`"`); err != nil {
		t.Errorf("dropping %s: %v", table, err)
	}
}

// rows returns the number of rows of table.
func rows(t *testing.T, pool *pgxpool.Pool, table string) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM "`+table+`"`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestConformance(t *testing.T) {
	// Each subtest has a store of its own; footprint finds its table.
	type place struct {
		pool  *pgxpool.Pool
		table string
	}
	var (
		mu     sync.Mutex
		places = map[scoped.Store]place{}
	)
	storetest.Run(t, storetest.Harness{
		NewStore: func(t *testing.T, clock *storetest.Clock) scoped.Store {
			s, pool, table := newStore(t, postgres.WithClock(clock.Now))
			mu.Lock()
			places[s] = place{pool, table}
			mu.Unlock()
			return s
		},
		Footprint: func(t *testing.T, s scoped.Store) int {
			mu.Lock()
			p := places[s]
			mu.Unlock()
			return rows(t, p.pool, p.table)
		},
	})
}

// 64 goroutines × 100 increments of one scope end at exactly 6,400, with
// one engine (its calls are group-committed) and with four engines standing
// for four processes (their commits conflict and retry), on a pool of 8
// connections.
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
				st.Writes += s.Writes
				st.Loads += s.Loads
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
	s, pool, table := newStore(t)
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
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM "`+table+`" WHERE name = $1`, "phoenix").Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows of the deleted scope: %d, %v; want none", n, err)
	}
	if n := rows(t, pool, table); n != 1 {
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

// Names that a text collation might take as equal (case, trailing spaces,
// accents, compositions) are different scopes.
func TestNamesCompareAsBytes(t *testing.T) {
	s, _, _ := newStore(t)
	names := []string{"a", "a ", "a  ", "A", "á", "a\u0301", "a\t", " a", "ß", "ss"}
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

// A row the store cannot have written (in a table without the checks of
// DDL) is reported as corrupt, by a load and as the answer to a refused
// write, which is not applied; the engine gives up on it at once.
func TestCorruptRow(t *testing.T) {
	pool := testenv.Postgres(t)
	table := testenv.UniqueName("scopedtest_")
	t.Cleanup(func() { dropTable(t, pool, table) })
	if _, err := pool.Exec(t.Context(), `CREATE TABLE "`+table+`" (name text PRIMARY KEY, version bigint, writer bytea, value bytea, expires_at bigint)`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(t.Context(), `INSERT INTO "`+table+`" VALUES ('zero', 0, '\x00000000000000000000000000000000', 'x'), ('short', 1, '\x01', 'x'), ('null', 1, '\x00000000000000000000000000000000', NULL)`); err != nil {
		t.Fatal(err)
	}
	s := storeOn(t, pool, table)
	for _, name := range []string{"zero", "short", "null"} {
		corrupt := func(what string, err error, refused bool) {
			t.Helper()
			var ce *scoped.CorruptValueError
			if !errors.As(err, &ce) || ce.Scope != name || (refused && !errors.Is(err, scoped.ErrNotApplied)) {
				t.Errorf("%s of %q: %v; want a CorruptValueError naming the scope", what, name, err)
			}
		}
		_, err := s.Load(t.Context(), name)
		corrupt("Load", err, false)
		_, _, err = s.CompareAndSet(t.Context(), name, scoped.Revision{Version: 5, Writer: scoped.NewToken()}, scoped.Write{Value: []byte("y"), Writer: scoped.NewToken()})
		corrupt("a refused CompareAndSet", err, true)
		_, _, err = s.CompareAndSet(t.Context(), name, scoped.Revision{}, scoped.Write{Value: []byte("y"), Writer: scoped.NewToken()})
		corrupt("a refused first write", err, true)
		_, _, err = s.Delete(t.Context(), name, scoped.Revision{Version: 5, Writer: scoped.NewToken()})
		corrupt("a refused Delete", err, true)
		_, err = scoped.Update(t.Context(), scoped.New(s), name, increment)
		corrupt("Update", err, false)
	}
}

// Invalid scope names are refused by the store itself, before any I/O.
func TestInvalidNames(t *testing.T) {
	s := closedStore(t)
	long := string(make([]byte, scoped.MaxNameLength+1))
	for _, name := range []string{"", long, "nul\x00", "\xff"} {
		_, err := s.Load(t.Context(), name)
		_, _, err2 := s.CompareAndSet(t.Context(), name, scoped.Revision{}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()})
		_, _, err3 := s.Delete(t.Context(), name, scoped.Revision{Version: 1, Writer: scoped.NewToken()})
		for _, err := range []error{err, err2, err3} {
			if !errors.Is(err, scoped.ErrInvalidName) || !errors.Is(err, scoped.ErrNotApplied) {
				t.Errorf("name %q: %v; want ErrInvalidName and ErrNotApplied", name, err)
			}
		}
	}
}

// Once a connection has prepared a statement, every call is one round trip:
// one write of the client, then its reads, whether the write applies or is
// refused, and whatever the refusal answers.
func TestOneRoundTripPerCall(t *testing.T) {
	var trips roundTrips
	pool := testenv.Postgres(t, func(c *pgxpool.Config) {
		c.MaxConns = 1 // the connection counted is the store's
		c.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
		c.ConnConfig.DialFunc = trips.dial
	})
	s, _ := newStoreOn(t, pool)
	ctx := t.Context()

	// The first call of each statement on the connection prepares it.
	warm := mustSet(t, s, "warm", scoped.Revision{}, []byte("x"))
	warm = mustSet(t, s, "warm", warm.Revision(), []byte("y"))
	if _, _, err := s.Delete(ctx, "warm", warm.Revision()); err != nil {
		t.Fatal(err)
	}
	mustLoad(t, s, "warm")

	var a, b scoped.Record
	steps := []struct {
		what string
		call func() (bool, error)
	}{
		{"first write", func() (ok bool, err error) {
			a, ok, err = s.CompareAndSet(ctx, "a", scoped.Revision{}, scoped.Write{Value: []byte("v1"), Writer: scoped.NewToken()})
			return ok, err
		}},
		{"load", func() (bool, error) { _, err := s.Load(ctx, "a"); return true, err }},
		{"load of a missing scope", func() (bool, error) { _, err := s.Load(ctx, "none"); return true, err }},
		{"write", func() (ok bool, err error) {
			b, ok, err = s.CompareAndSet(ctx, "a", a.Revision(), scoped.Write{Value: []byte("v2"), Writer: scoped.NewToken()})
			return ok, err
		}},
		{"refused write", func() (bool, error) {
			cur, ok, err := s.CompareAndSet(ctx, "a", a.Revision(), scoped.Write{Value: []byte("stale"), Writer: scoped.NewToken()})
			return !ok && cur.Revision() == b.Revision() && string(cur.Value) == "v2", err
		}},
		{"refused write of a missing scope", func() (bool, error) {
			cur, ok, err := s.CompareAndSet(ctx, "none", a.Revision(), scoped.Write{Value: []byte("stale"), Writer: scoped.NewToken()})
			return !ok && !cur.Exists(), err
		}},
		{"refused first write", func() (bool, error) {
			cur, ok, err := s.CompareAndSet(ctx, "a", scoped.Revision{}, scoped.Write{Value: []byte("stale"), Writer: scoped.NewToken()})
			return !ok && cur.Revision() == b.Revision() && string(cur.Value) == "v2", err
		}},
		{"refused delete", func() (bool, error) {
			cur, ok, err := s.Delete(ctx, "a", a.Revision())
			return !ok && cur.Revision() == b.Revision(), err
		}},
		{"delete", func() (bool, error) { _, ok, err := s.Delete(ctx, "a", b.Revision()); return ok, err }},
		{"delete of a missing scope", func() (bool, error) { _, ok, err := s.Delete(ctx, "a", scoped.Revision{}); return ok, err }},
	}
	for _, step := range steps {
		before := trips.n.Load()
		if ok, err := step.call(); err != nil || !ok {
			t.Fatalf("%s: %v, %v", step.what, ok, err)
		}
		if got := trips.n.Load() - before; got != 1 {
			t.Errorf("%s: %d round trips; want 1", step.what, got)
		}
	}
}

// roundTrips counts the round trips of the connections it dials: writes
// that follow a read (or come first).
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	tc := &tripConn{Conn: c, trips: r}
	tc.reading.Store(true)
	return tc, nil
}

// tripConn counts its round trips. pgx may read on a goroutine of its own
// while it writes, and close from another: reading is atomic.
type tripConn struct {
	net.Conn
	trips   *roundTrips
	reading atomic.Bool // the last call was a read: the next write begins a round trip
}

func (c *tripConn) Write(p []byte) (int, error) {
	if c.reading.Swap(false) {
		c.trips.n.Add(1)
	}
	return c.Conn.Write(p)
}

func (c *tripConn) Read(p []byte) (int, error) {
	c.reading.Store(true)
	return c.Conn.Read(p)
}

func mustSet(t *testing.T, s *postgres.Store, name string, expected scoped.Revision, value []byte) scoped.Record {
	t.Helper()
	rec, ok, err := s.CompareAndSet(t.Context(), name, expected, scoped.Write{Value: value, Writer: scoped.NewToken()})
	if err != nil || !ok {
		t.Fatalf("CompareAndSet(%q, expected version %d) = %v, %v; want success", name, expected.Version, ok, err)
	}
	return rec
}

func mustLoad(t *testing.T, s *postgres.Store, name string) scoped.Record {
	t.Helper()
	rec, err := s.Load(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// closedStore returns a store whose pool is closed: any I/O it tried would
// fail.
func closedStore(t *testing.T, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none")
	if err != nil {
		t.Fatal(err)
	}
	pool.Close()
	s, err := postgres.New(pool, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func increment(n *int) (int, error) {
	*n++
	return *n, nil
}

// waitForLock waits until n connections of pool wait for a lock, and fails
// the test if they do not within 5 seconds.
func waitForLock(t *testing.T, admin, pool *pgxpool.Pool, n int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var waiting int
		if err := admin.QueryRow(t.Context(),
			"SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'",
			testenv.ApplicationName(pool)).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections wait for a lock; want %d", waiting, n)
		}
	}
}
