// Package storetest is the conformance suite of the scoped.Store contract.
// Every backend's tests call Run with a Harness; a backend that passes is
// interchangeable with every other.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Harness{
//			NewStore:  func(t *testing.T, clock *storetest.Clock) scoped.Store { return newStore(t, clock.Now) },
//			Footprint: func(t *testing.T, s scoped.Store) int { return countKeys(t, s) },
//		})
//	}
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/scoped-go/scoped"
)

// Harness is what the suite needs of a backend.
type Harness struct {
	// NewStore returns a store with no scopes in it, cleaned up by
	// t.Cleanup, whose time is clock (see Clock).
	NewStore func(t *testing.T, clock *Clock) scoped.Store
	// Footprint returns how many units of storage a store holds: keys,
	// rows or files, expired records included. The suite checks that
	// deleted scopes leave nothing behind, and that Sweep reclaims expired
	// ones, by comparing it before and after. Every backend must give one.
	Footprint func(t *testing.T, s scoped.Store) int
}

// Run checks the whole Store contract against stores made by h, each
// behaviour in its own subtest with a fresh store and clock.
func Run(t *testing.T, h Harness) {
	if h.NewStore == nil || h.Footprint == nil {
		t.Fatal("storetest.Run: the Harness needs NewStore and Footprint")
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s scoped.Store, c *Clock)
	}{
		{"MissingScope", plain(testMissingScope)},
		{"FirstWrite", plain(testFirstWrite)},
		{"MismatchReturnsCurrent", plain(testMismatchReturnsCurrent)},
		{"WriterIsChecked", plain(testWriterIsChecked)},
		{"VersionsIncrease", plain(testVersionsIncrease)},
		{"DeleteRemovesRecord", plain(testDeleteRemovesRecord)},
		{"DeleteMismatch", plain(testDeleteMismatch)},
		{"DeleteNeverWritten", plain(testDeleteNeverWritten)},
		{"StaleWriteAfterRecreate", plain(testStaleWriteAfterRecreate)},
		{"RacingRecreate", plain(testRacingRecreate)},
		{"BinarySafeValues", plain(testBinarySafeValues)},
		{"Names", plain(testNames)},
		{"LargeValues", plain(testLargeValues)},
		{"CancelledContext", plain(testCancelledContext)},
		{"ConcurrentCompareAndSet", plain(testConcurrentCompareAndSet)},
		{"EngineIncrements", plain(testEngineIncrements)},
		{"EngineRecreate", plain(testEngineRecreate)},
		{"EngineCorruptValue", plain(testEngineCorruptValue)},
		{"DeletedScopesLeaveNothing", func(t *testing.T, s scoped.Store, _ *Clock) { testDeletedScopesLeaveNothing(t, s, h.Footprint) }},
		{"ExpiryIsKept", testExpiryIsKept},
		{"ExpiredIsGone", testExpiredIsGone},
		{"WriteChangesExpiry", testWriteChangesExpiry},
		{"EngineExpiry", testEngineExpiry},
		{"Sweep", func(t *testing.T, s scoped.Store, c *Clock) { testSweep(t, s, c, h.Footprint) }},
		{"ListByPrefix", plain(testListByPrefix)},
		{"ListPatternCharacters", plain(testListPatternCharacters)},
		{"ListManyPages", plain(testListManyPages)},
		{"ListLeavesOutDeletedAndExpired", testListLeavesOutDeletedAndExpired},
		{"ListStops", plain(testListStops)},
		{"ListCancelled", plain(testListCancelled)},
		{"EngineList", plain(testEngineList)},
		{"ManyApplies", testManyApplies},
		{"ManyAllOrNothing", testManyAllOrNothing},
		{"EngineBank", plain(testEngineBank)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			tt.fn(t, h.NewStore(t, c), c)
		})
	}
}

// plain adapts a test that needs no clock.
func plain(fn func(t *testing.T, s scoped.Store)) func(t *testing.T, s scoped.Store, c *Clock) {
	return func(t *testing.T, s scoped.Store, _ *Clock) { fn(t, s) }
}

func testMissingScope(t *testing.T, s scoped.Store) {
	rec := load(t, s, "missing")
	if rec.Version != 0 || rec.Value != nil || !rec.Writer.IsZero() {
		t.Fatalf("Load of a missing scope = %+v, want the zero Record", rec)
	}
}

func testFirstWrite(t *testing.T, s scoped.Store) {
	tok := scoped.NewToken()
	rec := mustSet(t, s, "a", scoped.Revision{}, []byte("one"), tok)
	want := scoped.Record{Value: []byte("one"), Version: 1, Writer: tok}
	equal(t, "CompareAndSet", rec, want)
	equal(t, "Load after the write", load(t, s, "a"), want)
}

func testMismatchReturnsCurrent(t *testing.T, s scoped.Store) {
	tok := scoped.NewToken()
	want := mustSet(t, s, "a", scoped.Revision{}, []byte("first"), tok)
	for _, expected := range []scoped.Revision{{}, {Version: 2, Writer: tok}, {Version: 7, Writer: tok}, {Version: 0, Writer: tok}} {
		cur, ok, err := s.CompareAndSet(ctx(t), "a", expected, scoped.Write{Value: []byte("second"), Writer: scoped.NewToken()})
		if err != nil {
			t.Fatalf("CompareAndSet(expected %+v): %v", expected, err)
		}
		if ok {
			t.Fatalf("CompareAndSet(expected %+v) over version 1 succeeded", expected)
		}
		equal(t, fmt.Sprintf("current record returned by CompareAndSet(expected %+v)", expected), cur, want)
	}
	equal(t, "Load after the refused writes", load(t, s, "a"), want)
}

// testWriterIsChecked: the right version with another writer is a conflict,
// for a write and for a delete.
func testWriterIsChecked(t *testing.T, s scoped.Store) {
	want := mustSet(t, s, "a", scoped.Revision{}, []byte("first"), scoped.NewToken())
	wrong := scoped.Revision{Version: want.Version, Writer: scoped.NewToken()}
	cur, ok, err := s.CompareAndSet(ctx(t), "a", wrong, scoped.Write{Value: []byte("second"), Writer: scoped.NewToken()})
	if err != nil || ok {
		t.Fatalf("CompareAndSet at version 1 with another writer = %v, %v; want a conflict", ok, err)
	}
	equal(t, "current record returned by CompareAndSet", cur, want)
	cur, ok, err = s.Delete(ctx(t), "a", wrong)
	if err != nil || ok {
		t.Fatalf("Delete at version 1 with another writer = %v, %v; want a conflict", ok, err)
	}
	equal(t, "current record returned by Delete", cur, want)
	equal(t, "Load after the refused writes", load(t, s, "a"), want)
}

func testVersionsIncrease(t *testing.T, s scoped.Store) {
	var last scoped.Record
	for i := range 20 {
		last = mustSet(t, s, "a", last.Revision(), fmt.Appendf(nil, "v%d", i), scoped.NewToken())
		if last.Version != uint64(i+1) {
			t.Fatalf("write %d stored version %d, want %d", i, last.Version, i+1)
		}
	}
	equal(t, "Load", load(t, s, "a"), last)
	if other := load(t, s, "b"); other.Version != 0 {
		t.Fatalf("writes to scope a changed scope b: %+v", other)
	}
}

func testDeleteRemovesRecord(t *testing.T, s scoped.Store) {
	one := mustSet(t, s, "a", scoped.Revision{}, []byte("one"), scoped.NewToken())
	two := mustSet(t, s, "a", one.Revision(), []byte("two"), scoped.NewToken())
	rec, ok, err := s.Delete(ctx(t), "a", two.Revision())
	if err != nil || !ok {
		t.Fatalf("Delete(expected version 2) = %v, %v", ok, err)
	}
	equal(t, "Delete", rec, scoped.Record{})
	equal(t, "Load after Delete", load(t, s, "a"), scoped.Record{})

	// A writer that still expects the record before the delete must fail.
	for _, stale := range []scoped.Revision{one.Revision(), two.Revision()} {
		cur, ok, err := s.CompareAndSet(ctx(t), "a", stale, scoped.Write{Value: []byte("stale"), Writer: scoped.NewToken()})
		if err != nil || ok {
			t.Fatalf("CompareAndSet(expected %+v) after a delete = %v, %v; want a conflict", stale, ok, err)
		}
		equal(t, "current record after a delete", cur, scoped.Record{})
	}
	again := mustSet(t, s, "a", scoped.Revision{}, []byte("three"), scoped.NewToken())
	if again.Version != 1 {
		t.Fatalf("re-created scope has version %d, want 1", again.Version)
	}
	equal(t, "Load after re-create", load(t, s, "a"), again)
}

func testDeleteMismatch(t *testing.T, s scoped.Store) {
	want := mustSet(t, s, "a", scoped.Revision{}, []byte("one"), scoped.NewToken())
	for _, expected := range []scoped.Revision{{}, {Version: 5, Writer: want.Writer}} {
		cur, ok, err := s.Delete(ctx(t), "a", expected)
		if err != nil || ok {
			t.Fatalf("Delete(expected %+v) over version 1 = %v, %v; want a conflict", expected, ok, err)
		}
		equal(t, "current record returned by Delete", cur, want)
	}
	equal(t, "Load after the refused deletes", load(t, s, "a"), want)
}

func testDeleteNeverWritten(t *testing.T, s scoped.Store) {
	rec, ok, err := s.Delete(ctx(t), "a", scoped.Revision{})
	if err != nil || !ok {
		t.Fatalf("Delete(expected none) of a never-written scope = %v, %v; want success", ok, err)
	}
	equal(t, "Delete", rec, scoped.Record{})
	equal(t, "Load after Delete", load(t, s, "a"), scoped.Record{})
	cur, ok, err := s.Delete(ctx(t), "a", scoped.Revision{Version: 1, Writer: scoped.NewToken()})
	if err != nil || ok {
		t.Fatalf("Delete(expected version 1) of a never-written scope = %v, %v; want a conflict", ok, err)
	}
	equal(t, "current record returned by Delete", cur, scoped.Record{})
}

// testStaleWriteAfterRecreate: a scope deleted and created again is at
// version 1 again, but a write that expects version 1 of the first life
// must not match it.
func testStaleWriteAfterRecreate(t *testing.T, s scoped.Store) {
	first := mustSet(t, s, "a", scoped.Revision{}, []byte("first life"), scoped.NewToken())
	if _, ok, err := s.Delete(ctx(t), "a", first.Revision()); err != nil || !ok {
		t.Fatalf("Delete = %v, %v", ok, err)
	}
	second := mustSet(t, s, "a", scoped.Revision{}, []byte("second life"), scoped.NewToken())
	if second.Version != first.Version {
		t.Fatalf("re-created at version %d, want %d (the test needs the versions to repeat)", second.Version, first.Version)
	}
	cur, ok, err := s.CompareAndSet(ctx(t), "a", first.Revision(), scoped.Write{Value: []byte("stale"), Writer: scoped.NewToken()})
	if err != nil || ok {
		t.Fatalf("CompareAndSet expecting the first life's revision = %v, %v; want a conflict", ok, err)
	}
	equal(t, "current record", cur, second)
	cur, ok, err = s.Delete(ctx(t), "a", first.Revision())
	if err != nil || ok {
		t.Fatalf("Delete expecting the first life's revision = %v, %v; want a conflict", ok, err)
	}
	equal(t, "current record", cur, second)
	equal(t, "Load", load(t, s, "a"), second)
}

// testRacingRecreate: writers racing to create a deleted scope, over and
// over; exactly one of them wins each round. A racer may also fail with an
// error matching ErrNotApplied, as the contract allows (inserts of one
// deleted key can deadlock in InnoDB, which rolls back the victim): it
// lost, and wrote nothing.
func testRacingRecreate(t *testing.T, s scoped.Store) {
	const writers, rounds = 6, 20
	for round := range rounds {
		var (
			wg      sync.WaitGroup
			mu      sync.Mutex
			winners []scoped.Record
		)
		for w := range writers {
			wg.Go(func() {
				rec, ok, err := s.CompareAndSet(ctx(t), "r", scoped.Revision{}, scoped.Write{Value: fmt.Appendf(nil, "round %d writer %d", round, w), Writer: scoped.NewToken()})
				if err != nil {
					if !errors.Is(err, scoped.ErrNotApplied) {
						t.Error(err)
					}
					return
				}
				if ok {
					mu.Lock()
					winners = append(winners, rec)
					mu.Unlock()
				} else if rec.Version != 1 {
					t.Errorf("a refused create returned version %d, want the winner's 1", rec.Version)
				}
			})
		}
		wg.Wait()
		if len(winners) != 1 {
			t.Fatalf("round %d: %d writers created the scope, want exactly 1", round, len(winners))
		}
		equal(t, "Load after the race", load(t, s, "r"), winners[0])
		if _, ok, err := s.Delete(ctx(t), "r", winners[0].Revision()); err != nil || !ok {
			t.Fatalf("round %d: Delete = %v, %v", round, ok, err)
		}
	}
}

func testBinarySafeValues(t *testing.T, s scoped.Store) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	values := map[string][]byte{
		"every byte":   all,
		"nul":          {0},
		"nuls":         {0, 0, 0, 'x', 0},
		"invalid utf8": {0xff, 0xfe, 0xc0, 0x80},
		"crlf":         []byte("a\r\nb\n"),
		"lua-ish":      []byte("'\"]]--[[%s\\"),
	}
	var tok scoped.Token
	copy(tok[:], all[240:])
	for name, value := range values {
		rec := mustSet(t, s, name, scoped.Revision{}, value, tok)
		equal(t, "write of "+name, rec, scoped.Record{Value: value, Version: 1, Writer: tok})
		equal(t, "Load of "+name, load(t, s, name), rec)
	}
}

// HostileNames are valid scope names that are awkward for some backend:
// separators, path traversal, case, key syntax and the longest name.
var HostileNames = []string{
	"with space", " leading", "trailing ", "ünïcödé", "日本語", "emoji 🙂",
	"a/b", "a\\b", "/", "/abs", ".", "..", "../../etc/passwd", "..\\..\\x",
	"Case", "case", "CASE",
	"{tag}", "}", "{", "a:b", "*", "?", "%2F", "con", "NUL.txt",
	"tab\there", "new\nline", "\x7f",
	strings.Repeat("n", scoped.MaxNameLength),
	strings.Repeat("é", scoped.MaxNameLength/2),
}

func testNames(t *testing.T, s scoped.Store) {
	for _, name := range HostileNames {
		if err := scoped.ValidateName(name); err != nil {
			t.Fatalf("test name %q is invalid: %v", name, err)
		}
		mustSet(t, s, name, scoped.Revision{}, []byte("value of "+name), scoped.NewToken())
	}
	for _, name := range HostileNames {
		rec := load(t, s, name)
		if rec.Version != 1 || string(rec.Value) != "value of "+name {
			t.Errorf("Load(%q) = version %d, value %q; want version 1, its own value", name, rec.Version, rec.Value)
		}
	}
}

func testLargeValues(t *testing.T, s scoped.Store) {
	limit := scoped.DefaultMaxValueSize
	big := bytes.Repeat([]byte{0xa5, 0x00, 0xff}, limit/3+1)[:limit]
	rec := mustSet(t, s, "big", scoped.Revision{}, big, scoped.NewToken())
	if got := load(t, s, "big"); !bytes.Equal(got.Value, big) || got.Version != rec.Version {
		t.Fatalf("a value of %d bytes did not round-trip: got %d bytes at version %d", limit, len(got.Value), got.Version)
	}

	// Through the engine: exactly at the limit commits, one byte over fails
	// with ErrValueTooLarge and leaves the stored value as it was.
	e := scoped.New(s)
	const header = 5 // msgpack bin32 header
	at := make([]byte, limit-header)
	if _, err := scoped.Update(ctx(t), e, "limit", func(v *[]byte) (struct{}, error) {
		*v = at
		return struct{}{}, nil
	}); err != nil {
		t.Fatalf("Update with an encoding of exactly %d bytes: %v", limit, err)
	}
	_, err := scoped.Update(ctx(t), e, "limit", func(v *[]byte) (struct{}, error) {
		*v = append(at, 1)
		return struct{}{}, nil
	})
	var tooLarge *scoped.ValueTooLargeError
	if !errors.Is(err, scoped.ErrValueTooLarge) || !errors.As(err, &tooLarge) || tooLarge.Size != limit+1 {
		t.Fatalf("Update one byte over the limit: %v; want a ValueTooLargeError of %d bytes", err, limit+1)
	}
	if got := load(t, s, "limit"); got.Version != 1 || len(got.Value) != limit {
		t.Fatalf("after the refused write the store holds version %d, %d bytes; want version 1, %d bytes", got.Version, len(got.Value), limit)
	}
}

func testCancelledContext(t *testing.T, s scoped.Store) {
	// A call whose context ended before it started is never sent: its
	// error says so.
	want := mustSet(t, s, "a", scoped.Revision{}, []byte("kept"), scoped.NewToken())
	c, cancel := context.WithCancel(ctx(t))
	cancel()
	notSent := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) || !errors.Is(err, scoped.ErrNotApplied) {
			t.Errorf("%s with a cancelled context: %v; want an error matching context.Canceled and scoped.ErrNotApplied", what, err)
		}
	}
	_, err := s.Load(c, "a")
	notSent("Load", err)
	_, _, err = s.CompareAndSet(c, "a", want.Revision(), scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()})
	notSent("CompareAndSet", err)
	_, _, err = s.CompareAndSet(c, "b", scoped.Revision{}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()})
	notSent("CompareAndSet of a new scope", err)
	_, _, err = s.Delete(c, "a", want.Revision())
	notSent("Delete", err)
	equal(t, "Load after the cancelled calls", load(t, s, "a"), want)
	equal(t, "Load of the scope a cancelled call would have created", load(t, s, "b"), scoped.Record{})
}

func testConcurrentCompareAndSet(t *testing.T, s scoped.Store) {
	const workers, versions = 8, 60
	var mu sync.Mutex
	winners := map[uint64][]int{} // version → workers whose write made it
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for {
				cur, err := s.Load(ctx(t), "hot")
				if err != nil {
					t.Error(err)
					return
				}
				if cur.Version >= versions {
					return
				}
				rec, ok, err := s.CompareAndSet(ctx(t), "hot", cur.Revision(), scoped.Write{Value: fmt.Appendf(nil, "w%d", w), Writer: scoped.NewToken()})
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					mu.Lock()
					winners[rec.Version] = append(winners[rec.Version], w)
					mu.Unlock()
				} else if rec.Revision() == cur.Revision() || rec.Version < cur.Version {
					t.Errorf("conflict over version %d returned version %d", cur.Version, rec.Version)
					return
				}
			}
		})
	}
	wg.Wait()
	for v := uint64(1); v <= versions; v++ {
		if n := len(winners[v]); n != 1 {
			t.Errorf("version %d was written by %d writers (%v), want exactly 1", v, n, winners[v])
		}
	}
	if rec := load(t, s, "hot"); rec.Version != versions {
		t.Fatalf("final version %d, want %d", rec.Version, versions)
	}
}

func testEngineIncrements(t *testing.T, s scoped.Store) {
	// Several engines on one store stand for several processes: each one
	// batches its own calls, and their commits conflict with each other.
	// Half the workers count in a typed scope, half in a field of a dynamic
	// scope.
	const engines, workers, increments = 3, 6, 40
	var wg sync.WaitGroup
	for range engines {
		e := scoped.New(s)
		for w := range workers {
			wg.Go(func() {
				for range increments {
					var err error
					if w%2 == 0 {
						_, err = scoped.Update(ctx(t), e, "typed", func(n *int) (int, error) {
							*n++
							return *n, nil
						})
					} else {
						_, err = scoped.Run(ctx(t), e, "fields", func(s *scoped.Scope) (int, error) {
							n, err := scoped.Get[int](s, "n")
							if err != nil {
								return 0, err
							}
							return n + 1, s.Set("n", n+1)
						})
					}
					if err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	e := scoped.New(s)
	typed, err := scoped.Read[int](ctx(t), e, "typed")
	if err != nil {
		t.Fatal(err)
	}
	fields, err := scoped.View(ctx(t), e, "fields", func(s *scoped.Scope) (int, error) {
		return scoped.Get[int](s, "n")
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := engines * workers / 2 * increments; typed != want || fields != want {
		t.Fatalf("counters = %d (typed), %d (fields); want %d each", typed, fields, want)
	}
}

// testEngineRecreate: an engine holds a cached record of a scope that
// another engine deletes and re-creates behind its back, at the same version;
// the first engine's next write must not be taken against its stale record.
func testEngineRecreate(t *testing.T, s scoped.Store) {
	a, b := scoped.New(s), scoped.New(s)
	inc := func(e *scoped.Engine) int {
		t.Helper()
		n, err := scoped.Update(ctx(t), e, "n", func(n *int) (int, error) { *n++; return *n, nil })
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	inc(a) // a caches version 1
	if err := b.Delete(ctx(t), "n"); err != nil {
		t.Fatal(err)
	}
	if n := inc(b); n != 1 {
		t.Fatalf("increment of the re-created scope = %d, want 1", n)
	}
	if n := inc(a); n != 2 {
		t.Fatalf("increment through the engine with the stale record = %d, want 2", n)
	}
	if rec := load(t, s, "n"); rec.Version != 2 {
		t.Fatalf("store at version %d, want 2", rec.Version)
	}
}

// testDeletedScopesLeaveNothing: what a store holds does not grow with the
// number of scopes ever deleted.
func testDeletedScopesLeaveNothing(t *testing.T, s scoped.Store, footprint func(*testing.T, scoped.Store) int) {
	e := scoped.New(s)
	// One scope written and deleted first, so that a store that creates
	// shared structures on first use has them already.
	churn := func(round, scopes int) {
		for i := range scopes {
			name := fmt.Sprintf("churn %d/%d", round, i)
			for range 3 {
				if _, err := scoped.Update(ctx(t), e, name, func(n *int) (int, error) { *n++; return *n, nil }); err != nil {
					t.Fatal(err)
				}
			}
			if err := e.Delete(ctx(t), name); err != nil {
				t.Fatal(err)
			}
		}
	}
	churn(0, 1)
	before := footprint(t, s)
	churn(1, 40)
	if after := footprint(t, s); after != before {
		t.Fatalf("the store holds %d units after 40 scopes were written and deleted, %d before: deleted scopes leave something behind", after, before)
	}
	for i := range 40 {
		if rec := load(t, s, fmt.Sprintf("churn 1/%d", i)); rec.Version != 0 || rec.Value != nil {
			t.Fatalf("deleted scope loads as %+v", rec)
		}
	}
}

func testEngineCorruptValue(t *testing.T, s scoped.Store) {
	garbage := []byte{0xc1, 0xff} // 0xc1 is never valid msgpack
	mustSet(t, s, "bad", scoped.Revision{}, garbage, scoped.NewToken())
	e := scoped.New(s)
	_, err := scoped.Update(ctx(t), e, "bad", func(n *int) (int, error) { *n++; return *n, nil })
	var corrupt *scoped.CorruptValueError
	if !errors.As(err, &corrupt) || corrupt.Scope != "bad" || !errors.Is(err, scoped.ErrCorruptValue) {
		t.Fatalf("Update of a corrupt value: %v; want a CorruptValueError naming the scope", err)
	}
	if rec := load(t, s, "bad"); rec.Version != 1 || !bytes.Equal(rec.Value, garbage) {
		t.Fatalf("corrupt value was overwritten: %+v", rec)
	}
	if err := e.Delete(ctx(t), "bad"); err != nil {
		t.Fatalf("Delete of a corrupt value: %v", err)
	}
	equal(t, "Load after Delete", load(t, s, "bad"), scoped.Record{})
}

func ctx(t *testing.T) context.Context { return t.Context() }

func load(t *testing.T, s scoped.Store, name string) scoped.Record {
	t.Helper()
	rec, err := s.Load(ctx(t), name)
	if err != nil {
		t.Fatalf("Load(%q): %v", name, err)
	}
	return rec
}

func mustSet(t *testing.T, s scoped.Store, name string, expected scoped.Revision, value []byte, tok scoped.Token) scoped.Record {
	t.Helper()
	return mustWrite(t, s, name, expected, scoped.Write{Value: value, Writer: tok})
}

func equal(t *testing.T, what string, got, want scoped.Record) {
	t.Helper()
	if got.Version != want.Version || got.Writer != want.Writer || !bytes.Equal(got.Value, want.Value) || (got.Value == nil) != (want.Value == nil) || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Fatalf("%s = {Version %d, Writer %s, Value %q (nil %v), ExpiresAt %v}; want {Version %d, Writer %s, Value %q (nil %v), ExpiresAt %v}",
			what, got.Version, got.Writer, abbrev(got.Value), got.Value == nil, got.ExpiresAt, want.Version, want.Writer, abbrev(want.Value), want.Value == nil, want.ExpiresAt)
	}
}

func abbrev(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}
