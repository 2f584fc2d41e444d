package postgres_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/fallback/postgres"
	"github.com/scoped-go/scoped/internal/manytest"
	"github.com/scoped-go/scoped/internal/testenv"
)

// CompareAndSetMany is one round trip when it only checks, and two when it
// writes or is refused, once its statements are prepared on the
// connection.
func TestManyRoundTrips(t *testing.T) {
	var trips roundTrips
	pool := testenv.Postgres(t, func(c *pgxpool.Config) {
		c.MaxConns = 1
		c.ConnConfig.DialFunc = trips.dial
	})
	s, _ := newStoreOn(t, pool)
	a := mustSet(t, s, "a", scoped.Revision{}, []byte("a1"))
	many := func(changes ...scoped.Change) ([]scoped.Record, bool) {
		t.Helper()
		cur, ok, err := s.CompareAndSetMany(t.Context(), changes)
		if err != nil {
			t.Fatal(err)
		}
		return cur, ok
	}
	// Prepare the statements, and let pgx describe BEGIN, COMMIT and
	// ROLLBACK.
	cur, _ := many(scoped.Change{Name: "a", Expected: a.Revision()}, scoped.Change{Name: "b"})
	cur, _ = many(set("a", cur[0].Revision(), "a2"), set("b", scoped.Revision{}, "b1"))
	many(set("a", a.Revision(), "a3"), set("b", scoped.Revision{}, "b1"))
	for _, tc := range []struct {
		what    string
		changes func() []scoped.Change
		ok      bool
		trips   int64
	}{
		{"a check", func() []scoped.Change {
			return []scoped.Change{{Name: "a", Expected: cur[0].Revision()}, {Name: "b", Expected: cur[1].Revision()}}
		}, true, 1},
		{"a write", func() []scoped.Change {
			return []scoped.Change{set("a", cur[0].Revision(), "a4"), {Name: "b", Expected: cur[1].Revision(), Action: scoped.ActionDelete}}
		}, true, 2},
		{"a refused write", func() []scoped.Change { return []scoped.Change{set("a", a.Revision(), "a5"), {Name: "b"}} }, false, 2},
	} {
		before := trips.n.Load()
		got, ok := many(tc.changes()...)
		if n := trips.n.Load() - before; ok != tc.ok || n != tc.trips {
			t.Errorf("%s: ok %v in %d round trips; want %v in %d", tc.what, ok, n, tc.ok, tc.trips)
		}
		if ok {
			cur = got
		}
	}
}

// CompareAndSetMany refuses a value over the limit, and a version that
// does not fit in a bigint, before sending anything.
func TestManyLimits(t *testing.T) {
	s := closedStore(t, postgres.WithMaxValueSize(10))
	_, _, err := s.CompareAndSetMany(t.Context(), []scoped.Change{set("a", scoped.Revision{}, "0123456789"), set("b", scoped.Revision{}, "0123456789x")})
	tooLarge(t, err, "b", 11, 10)
	_, _, err = s.CompareAndSetMany(t.Context(), []scoped.Change{set("a", scoped.Revision{}, "a"), set("b", scoped.Revision{Version: math.MaxInt64, Writer: scoped.NewToken()}, "b")})
	if !errors.Is(err, postgres.ErrVersionRange) || !errors.Is(err, scoped.ErrNotApplied) {
		t.Fatalf("CompareAndSetMany over version 2⁶³-1: %v; want ErrVersionRange, not applied", err)
	}
}

// set is an ActionSet change of name to value over expected.
func set(name string, expected scoped.Revision, value string) scoped.Change {
	return scoped.Change{Name: name, Expected: expected, Action: scoped.ActionSet,
		Write: scoped.Write{Value: []byte(value), Writer: scoped.NewToken()}}
}

// level returns a store at the server's isolation level, or at level
// (the name of default_transaction_isolation's setting).
func level(level string) manytest.Level {
	if level == "default" {
		return manytest.Level{Name: level, Open: func(t *testing.T) scoped.Store { s, _, _ := newStore(t); return s }}
	}
	return manytest.Level{Name: strings.ToUpper(level), Open: func(t *testing.T) scoped.Store {
		s, _ := newStoreOn(t, testenv.Postgres(t, func(c *pgxpool.Config) {
			c.ConnConfig.RuntimeParams["default_transaction_isolation"] = level
		}))
		return s
	}}
}

// Two scopes written together in opposite orders: no call deadlocks, or it
// comes back not applied (see manytest.OppositeOrders).
func TestManyOppositeOrders(t *testing.T) {
	s, _, _ := newStore(t)
	manytest.OppositeOrders(t, s)
}

// Concurrent creates of the same two scopes, at the server's isolation
// level (READ COMMITTED, where a row absent when locked can be inserted by
// another transaction before the write) and at REPEATABLE READ (where a
// row changed since the snapshot fails the lock): exactly one succeeds
// (see manytest.ConcurrentCreates).
func TestManyConcurrentCreates(t *testing.T) {
	manytest.ConcurrentCreates(t, []manytest.Level{level("default"), level("repeatable read")})
}

// Crosswise checks of absence and creates: no write skew (see
// manytest.WriteSkew).
func TestManyWriteSkew(t *testing.T) {
	manytest.WriteSkew(t, []manytest.Level{level("default"), level("serializable")})
}

// A CompareAndSetMany races a CompareAndSet (see
// manytest.RacesCompareAndSet).
func TestManyRacesCompareAndSet(t *testing.T) {
	s, _, _ := newStore(t)
	manytest.RacesCompareAndSet(t, s)
}
