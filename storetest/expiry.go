package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/scoped-go/scoped"
)

// Expiry times the suite uses: long enough that no slow machine sees a long
// one pass, short enough that a store keeping real time lets a short one
// pass in a test.
const (
	longTTL  = time.Hour
	shortTTL = 100 * time.Millisecond
	pastTTL  = 2 * shortTTL // an Advance past every shortTTL
)

// testExpiryIsKept: a write's expiry time is the record's, returned by the
// write, by Load and by a refused write; a write without one clears it.
func testExpiryIsKept(t *testing.T, s scoped.Store, c *Clock) {
	at := c.in(longTTL)
	w := scoped.Write{Value: []byte("v1"), Writer: scoped.NewToken(), ExpiresAt: at}
	got := mustWrite(t, s, "a", scoped.Revision{}, w)
	want := scoped.Record{Value: w.Value, Version: 1, Writer: w.Writer, ExpiresAt: at}
	equal(t, "record returned by a write with an expiry", got, want)
	equal(t, "Load of a record with an expiry", load(t, s, "a"), want)

	cur, ok, err := s.CompareAndSet(ctx(t), "a", scoped.Revision{}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()})
	if err != nil || ok {
		t.Fatalf("CompareAndSet expecting no record over one = %v, %v; want a conflict", ok, err)
	}
	equal(t, "current record returned by a refused write", cur, want)

	w2 := scoped.Write{Value: []byte("v2"), Writer: scoped.NewToken()}
	mustWrite(t, s, "a", want.Revision(), w2)
	equal(t, "Load after a write without an expiry", load(t, s, "a"), scoped.Record{Value: w2.Value, Version: 2, Writer: w2.Writer})
}

// testExpiredIsGone: once its expiry time passed, a record is as if
// deleted: it loads as none, writes expecting it are refused with the zero
// Record, and a write expecting none creates the scope again at version 1.
func testExpiredIsGone(t *testing.T, s scoped.Store, c *Clock) {
	old := mustWrite(t, s, "e", scoped.Revision{}, scoped.Write{Value: []byte("old"), Writer: scoped.NewToken(), ExpiresAt: c.in(shortTTL)})
	c.Advance(t, pastTTL)
	equal(t, "Load of an expired record", load(t, s, "e"), scoped.Record{})

	cur, ok, err := s.CompareAndSet(ctx(t), "e", old.Revision(), scoped.Write{Value: []byte("stale"), Writer: scoped.NewToken()})
	if err != nil || ok {
		t.Fatalf("CompareAndSet expecting an expired record = %v, %v; want a conflict", ok, err)
	}
	equal(t, "current record returned by a write expecting an expired record", cur, scoped.Record{})
	cur, ok, err = s.Delete(ctx(t), "e", old.Revision())
	if err != nil || ok {
		t.Fatalf("Delete expecting an expired record = %v, %v; want a conflict", ok, err)
	}
	equal(t, "current record returned by a delete expecting an expired record", cur, scoped.Record{})

	w := scoped.Write{Value: []byte("new"), Writer: scoped.NewToken()}
	got := mustWrite(t, s, "e", scoped.Revision{}, w)
	want := scoped.Record{Value: w.Value, Version: 1, Writer: w.Writer}
	equal(t, "a write over an expired record", got, want)
	equal(t, "Load of a scope created again after it expired", load(t, s, "e"), want)
}

// testWriteChangesExpiry: every write sets the expiry anew, shorter as well
// as longer.
func testWriteChangesExpiry(t *testing.T, s scoped.Store, c *Clock) {
	first := mustWrite(t, s, "w", scoped.Revision{}, scoped.Write{Value: []byte("1"), Writer: scoped.NewToken(), ExpiresAt: c.in(longTTL)})
	mustWrite(t, s, "w", first.Revision(), scoped.Write{Value: []byte("2"), Writer: scoped.NewToken(), ExpiresAt: c.in(shortTTL)})
	persisted := mustWrite(t, s, "p", scoped.Revision{}, scoped.Write{Value: []byte("1"), Writer: scoped.NewToken(), ExpiresAt: c.in(shortTTL)})
	mustWrite(t, s, "p", persisted.Revision(), scoped.Write{Value: []byte("2"), Writer: scoped.NewToken()})
	c.Advance(t, pastTTL)
	equal(t, "Load of a record whose expiry a write shortened", load(t, s, "w"), scoped.Record{})
	if rec := load(t, s, "p"); string(rec.Value) != "2" || !rec.ExpiresAt.IsZero() {
		t.Fatalf("a record whose expiry a write cleared loads as %+v, want value 2 that never expires", rec)
	}
}

// testEngineExpiry: through the engine, ExpireAfter sets the expiry, a call
// without an expiry option keeps it, Persist clears it, and a scope that
// expired starts afresh.
func testEngineExpiry(t *testing.T, s scoped.Store, c *Clock) {
	e := scoped.New(s, scoped.WithClock(c.Now))
	inc := func(name string, opts ...scoped.CallOption) int {
		t.Helper()
		n, err := scoped.Update(ctx(t), e, name, func(n *int) (int, error) { *n++; return *n, nil }, opts...)
		if err != nil {
			t.Fatalf("Update(%q): %v", name, err)
		}
		return n
	}
	set := func(n int, opts ...scoped.CallOption) {
		t.Helper()
		if _, err := scoped.Run(ctx(t), e, "kept", func(s *scoped.Scope) (struct{}, error) { return struct{}{}, s.Set("n", n) }, opts...); err != nil {
			t.Fatalf("Run: %v", err)
		}
	}
	expiry := func() time.Time {
		t.Helper()
		at, err := scoped.View(ctx(t), e, "kept", func(s *scoped.Scope) (time.Time, error) { return s.Expiry(), nil })
		if err != nil {
			t.Fatalf("View: %v", err)
		}
		return at
	}
	set(1, scoped.ExpireAfter(longTTL))
	at := load(t, s, "kept").ExpiresAt
	if at.IsZero() || !expiry().Equal(at) {
		t.Fatalf("Run with ExpireAfter stored the expiry %v, View's Scope.Expiry says %v", at, expiry())
	}
	set(2)
	if got := load(t, s, "kept").ExpiresAt; !got.Equal(at) {
		t.Fatalf("Run without an expiry option changed the expiry from %v to %v", at, got)
	}
	set(2, scoped.Persist()) // changes no field: the expiry alone is written
	if rec := load(t, s, "kept"); !rec.ExpiresAt.IsZero() || rec.Version != 3 || !expiry().IsZero() {
		t.Fatalf("after Run with Persist the record is %+v; want version 3 that never expires", rec)
	}

	inc("short", scoped.ExpireAfter(shortTTL))
	inc("short")
	c.Advance(t, pastTTL)
	if _, ok, err := scoped.Lookup[int](ctx(t), e, "short"); err != nil || ok {
		t.Fatalf("Lookup of an expired scope = %v, %v; want not found", ok, err)
	}
	if n := inc("short"); n != 1 {
		t.Fatalf("increment of an expired scope = %d, want 1: it starts afresh", n)
	}
	if rec := load(t, s, "short"); rec.Version != 1 || !rec.ExpiresAt.IsZero() {
		t.Fatalf("a scope written again after it expired is %+v; want version 1 that never expires", rec)
	}
}

// testSweep: Sweep removes expired records, at most limit a call, and
// nothing else; Redis, which reclaims them itself, has no Sweep.
func testSweep(t *testing.T, s scoped.Store, c *Clock, footprint func(*testing.T, scoped.Store) int) {
	sw, ok := s.(scoped.Sweeper)
	if !ok {
		t.Skip("the store reclaims expired records itself: it has no Sweep")
	}
	base := footprint(t, s)
	for i := range 7 {
		mustWrite(t, s, fmt.Sprintf("gone %d", i), scoped.Revision{}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken(), ExpiresAt: c.in(shortTTL)})
	}
	mustWrite(t, s, "kept", scoped.Revision{}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken(), ExpiresAt: c.in(longTTL)})
	mustWrite(t, s, "forever", scoped.Revision{}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()})
	mustWrite(t, s, "again", scoped.Revision{}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken(), ExpiresAt: c.in(shortTTL)})
	c.Advance(t, pastTTL)
	again := mustWrite(t, s, "again", scoped.Revision{}, scoped.Write{Value: []byte("y"), Writer: scoped.NewToken()})

	total := 0
	for _, want := range []int{3, 3, 1, 0} {
		n, err := sw.Sweep(ctx(t), 3)
		if err != nil {
			t.Fatalf("Sweep: %v", err)
		}
		if n != want {
			t.Fatalf("Sweep(3) after %d removed = %d, want %d", total, n, want)
		}
		total += n
	}
	if got := footprint(t, s); got != base+3 {
		t.Fatalf("after Sweep the store holds %d units, want %d: the three live scopes", got, base+3)
	}
	equal(t, "a scope created again after it expired, after Sweep", load(t, s, "again"), again)
	for _, name := range []string{"kept", "forever"} {
		if rec := load(t, s, name); rec.Version != 1 {
			t.Fatalf("Sweep removed the live scope %q", name)
		}
	}
	cancelled, cancel := context.WithCancel(ctx(t))
	cancel()
	if _, err := sw.Sweep(cancelled, 3); !errors.Is(err, scoped.ErrNotApplied) {
		t.Fatalf("Sweep with a cancelled context = %v, want an error matching ErrNotApplied", err)
	}
}

func mustWrite(t *testing.T, s scoped.Store, name string, expected scoped.Revision, w scoped.Write) scoped.Record {
	t.Helper()
	rec, ok, err := s.CompareAndSet(ctx(t), name, expected, w)
	if err != nil || !ok {
		t.Fatalf("CompareAndSet(%q, expected version %d) = %v, %v; want success", name, expected.Version, ok, err)
	}
	return rec
}
