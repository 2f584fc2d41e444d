package scoped_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/memstore"
)

// manualClock is a clock that moves only when told to.
type manualClock struct{ now atomic.Int64 }

func newManualClock() *manualClock {
	c := &manualClock{}
	c.now.Store(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).UnixMilli())
	return c
}

func (c *manualClock) Now() time.Time               { return time.UnixMilli(c.now.Load()) }
func (c *manualClock) Advance(d time.Duration)      { c.now.Add(d.Milliseconds()) }
func (c *manualClock) In(d time.Duration) time.Time { return c.Now().Add(d) }

// newExpiringEngine returns an engine and a store sharing a manual clock.
func newExpiringEngine(t *testing.T) (*scoped.Engine, *memstore.Store, *manualClock) {
	t.Helper()
	c := newManualClock()
	s := memstore.NewWithClock(c.Now)
	return scoped.New(s, scoped.WithClock(c.Now)), s, c
}

func loadRecord(t *testing.T, s scoped.Store, name string) scoped.Record {
	t.Helper()
	rec, err := s.Load(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// A handler that fails writes nothing, its call's expiry included.
func TestExpiryOfAFailedCallIsNotWritten(t *testing.T) {
	e, s, _ := newExpiringEngine(t)
	ctx := context.Background()
	if _, err := scoped.Update(ctx, e, "n", increment); err != nil {
		t.Fatal(err)
	}
	refused := errors.New("refused")
	_, err := scoped.Update(ctx, e, "n", func(n *int) (int, error) { *n = 9; return 0, refused }, scoped.ExpireAfter(time.Hour))
	if !errors.Is(err, refused) {
		t.Fatalf("Update = %v, want the handler's error", err)
	}
	if rec := loadRecord(t, s, "n"); rec.Version != 1 || !rec.ExpiresAt.IsZero() {
		t.Fatalf("after a failed handler the record is %+v; want version 1 without expiry", rec)
	}
}

// ExpireAfter of zero or less, or ExpireAt in the past, makes the scope
// expire at once.
func TestExpireAtOnce(t *testing.T) {
	e, s, c := newExpiringEngine(t)
	ctx := context.Background()
	for name, opt := range map[string]scoped.CallOption{
		"zero":     scoped.ExpireAfter(0),
		"negative": scoped.ExpireAfter(-time.Second),
		"past":     scoped.ExpireAt(c.In(-time.Minute)),
	} {
		if _, err := scoped.Update(ctx, e, name, increment, opt); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := scoped.Lookup[int](ctx, e, name); err != nil || ok {
			t.Fatalf("%s: Lookup after the call = %v, %v; want no value", name, ok, err)
		}
		if n, err := scoped.Update(ctx, e, name, increment); err != nil || n != 1 {
			t.Fatalf("%s: increment after = %d, %v; want 1, starting afresh", name, n, err)
		}
	}
	if s.Len() != 3 {
		t.Fatalf("the store holds %d records, want 3", s.Len())
	}
}

// An expiry on a scope the call leaves without a value writes nothing: there
// is no record to expire.
func TestExpiryOfNothing(t *testing.T) {
	e, s, _ := newExpiringEngine(t)
	ctx := context.Background()
	if _, err := scoped.Run(ctx, e, "absent", func(*scoped.Scope) (int, error) { return 0, nil }, scoped.ExpireAfter(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if w := e.Stats().Writes; w != 0 || s.Len() != 0 {
		t.Fatalf("an expiry on an absent scope made %d writes, and the store holds %d records; want none", w, s.Len())
	}
}

// Setting the expiry is a change: a call whose handler changes nothing
// renews the time to live. A delete takes the expiry with the value.
func TestExpiryRenewsAndGoesWithDelete(t *testing.T) {
	e, s, c := newExpiringEngine(t)
	ctx := context.Background()
	touch := func(opts ...scoped.CallOption) {
		t.Helper()
		if _, err := scoped.Update(ctx, e, "session", func(n *int) (int, error) { return *n, nil }, opts...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := scoped.Update(ctx, e, "session", increment, scoped.ExpireAfter(time.Minute)); err != nil {
		t.Fatal(err)
	}
	c.Advance(50 * time.Second)
	touch(scoped.ExpireAfter(time.Minute))
	c.Advance(50 * time.Second)
	if rec := loadRecord(t, s, "session"); rec.Version != 2 || !rec.ExpiresAt.Equal(c.In(10*time.Second)) {
		t.Fatalf("a renewed scope is %+v; want version 2 expiring in 10s", rec)
	}
	touch() // no expiry option, no change: nothing written
	if rec := loadRecord(t, s, "session"); rec.Version != 2 {
		t.Fatalf("a call changing nothing wrote version %d", rec.Version)
	}
	if err := e.Delete(ctx, "session"); err != nil {
		t.Fatal(err)
	}
	if _, err := scoped.Update(ctx, e, "session", increment); err != nil {
		t.Fatal(err)
	}
	if rec := loadRecord(t, s, "session"); rec.Version != 1 || !rec.ExpiresAt.IsZero() {
		t.Fatalf("a scope re-created after a delete is %+v; want version 1 without expiry", rec)
	}
}

// In one batch, each call sees the expiry left by the calls before it, and
// the batch writes the last one set.
func TestExpiryInABatch(t *testing.T) {
	e, s, c := newExpiringEngine(t)
	g := holdWrites(s)
	ctx := context.Background()
	var wg sync.WaitGroup
	start(t, e, &wg, func() {
		scoped.Run(ctx, e, "b", func(s *scoped.Scope) (int, error) { return 0, s.Set("first", true) })
	})
	waitFor(t, "the first write", func() bool { return g.writes.Load() == 1 })
	var seen [3]time.Time
	opts := [][]scoped.CallOption{{scoped.ExpireAfter(time.Hour)}, nil, {scoped.ExpireAfter(2 * time.Hour)}}
	for i := range opts {
		start(t, e, &wg, func() {
			scoped.Run(ctx, e, "b", func(s *scoped.Scope) (int, error) {
				seen[i] = s.Expiry()
				return 0, s.Set("call", i)
			}, opts[i]...)
		})
	}
	close(g.release)
	wg.Wait()
	if w := e.Stats().Writes; w != 2 {
		t.Fatalf("%d writes, want 2: the first call, then one batch", w)
	}
	want := [3]time.Time{{}, c.In(time.Hour), c.In(time.Hour)}
	for i := range seen {
		if !seen[i].Equal(want[i]) {
			t.Fatalf("call %d saw the expiry %v, want %v", i, seen[i], want[i])
		}
	}
	if rec := loadRecord(t, s, "b"); !rec.ExpiresAt.Equal(c.In(2 * time.Hour)) {
		t.Fatalf("the batch wrote the expiry %v, want %v", rec.ExpiresAt, c.In(2*time.Hour))
	}
}

// The engine refuses a nil clock, as it refuses every invalid option.
func TestWithClockNil(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("New with WithClock(nil) did not panic")
		}
	}()
	scoped.New(memstore.New(), scoped.WithClock(nil))
}
