// Package storetest is the conformance suite of the scoped.Store contract.
// Every backend's tests call Run with a constructor; a backend that passes is
// interchangeable with every other.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) scoped.Store { return newStore(t) })
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

// NewStore returns a store with no scopes in it, cleaned up by t.Cleanup.
type NewStore func(t *testing.T) scoped.Store

// Run checks the whole Store contract against stores made by newStore, each
// behaviour in its own subtest with a fresh store.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s scoped.Store)
	}{
		{"MissingScope", testMissingScope},
		{"FirstWrite", testFirstWrite},
		{"MismatchReturnsCurrent", testMismatchReturnsCurrent},
		{"VersionsIncrease", testVersionsIncrease},
		{"DeleteLeavesTombstone", testDeleteLeavesTombstone},
		{"DeleteMismatch", testDeleteMismatch},
		{"DeleteNeverWritten", testDeleteNeverWritten},
		{"BinarySafeValues", testBinarySafeValues},
		{"Names", testNames},
		{"LargeValues", testLargeValues},
		{"CancelledContext", testCancelledContext},
		{"ConcurrentCompareAndSet", testConcurrentCompareAndSet},
		{"EngineIncrements", testEngineIncrements},
		{"EngineCorruptValue", testEngineCorruptValue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newStore(t))
		})
	}
}

func testMissingScope(t *testing.T, s scoped.Store) {
	rec := load(t, s, "missing")
	if rec.Version != 0 || rec.Value != nil || !rec.Writer.IsZero() {
		t.Fatalf("Load of a missing scope = %+v, want the zero Record", rec)
	}
}

func testFirstWrite(t *testing.T, s scoped.Store) {
	tok := scoped.NewToken()
	rec := mustSet(t, s, "a", 0, []byte("one"), tok)
	want := scoped.Record{Value: []byte("one"), Version: 1, Writer: tok}
	equal(t, "CompareAndSet", rec, want)
	equal(t, "Load after the write", load(t, s, "a"), want)
}

func testMismatchReturnsCurrent(t *testing.T, s scoped.Store) {
	tok := scoped.NewToken()
	want := mustSet(t, s, "a", 0, []byte("first"), tok)
	for _, expected := range []uint64{0, 2, 7} {
		cur, ok, err := s.CompareAndSet(ctx(t), "a", expected, []byte("second"), scoped.NewToken())
		if err != nil {
			t.Fatalf("CompareAndSet(expected %d): %v", expected, err)
		}
		if ok {
			t.Fatalf("CompareAndSet(expected %d) over version 1 succeeded", expected)
		}
		equal(t, fmt.Sprintf("current record returned by CompareAndSet(expected %d)", expected), cur, want)
	}
	equal(t, "Load after the refused writes", load(t, s, "a"), want)
}

func testVersionsIncrease(t *testing.T, s scoped.Store) {
	var last scoped.Record
	for i := range 20 {
		last = mustSet(t, s, "a", uint64(i), fmt.Appendf(nil, "v%d", i), scoped.NewToken())
		if last.Version != uint64(i+1) {
			t.Fatalf("write %d stored version %d, want %d", i, last.Version, i+1)
		}
	}
	equal(t, "Load", load(t, s, "a"), last)
	if other := load(t, s, "b"); other.Version != 0 {
		t.Fatalf("writes to scope a changed scope b: %+v", other)
	}
}

func testDeleteLeavesTombstone(t *testing.T, s scoped.Store) {
	mustSet(t, s, "a", 0, []byte("one"), scoped.NewToken())
	mustSet(t, s, "a", 1, []byte("two"), scoped.NewToken())
	tok := scoped.NewToken()
	rec, ok, err := s.Delete(ctx(t), "a", 2, tok)
	if err != nil || !ok {
		t.Fatalf("Delete(expected 2) = %v, %v", ok, err)
	}
	tomb := scoped.Record{Version: 3, Writer: tok}
	equal(t, "Delete", rec, tomb)
	equal(t, "Load after Delete", load(t, s, "a"), tomb)

	// A writer that still believes the scope was never written must fail:
	// the version did not go back to 0.
	cur, ok, err := s.CompareAndSet(ctx(t), "a", 0, []byte("stale"), scoped.NewToken())
	if err != nil || ok {
		t.Fatalf("CompareAndSet(expected 0) after a delete = %v, %v; want a conflict", ok, err)
	}
	equal(t, "current record after a delete", cur, tomb)

	again := mustSet(t, s, "a", 3, []byte("three"), tok)
	if again.Version != 4 {
		t.Fatalf("re-created scope has version %d, want 4", again.Version)
	}
	equal(t, "Load after re-create", load(t, s, "a"), again)
}

func testDeleteMismatch(t *testing.T, s scoped.Store) {
	want := mustSet(t, s, "a", 0, []byte("one"), scoped.NewToken())
	cur, ok, err := s.Delete(ctx(t), "a", 5, scoped.NewToken())
	if err != nil || ok {
		t.Fatalf("Delete(expected 5) over version 1 = %v, %v; want a conflict", ok, err)
	}
	equal(t, "current record returned by Delete", cur, want)
	equal(t, "Load after the refused delete", load(t, s, "a"), want)
}

func testDeleteNeverWritten(t *testing.T, s scoped.Store) {
	tok := scoped.NewToken()
	rec, ok, err := s.Delete(ctx(t), "a", 0, tok)
	if err != nil || !ok {
		t.Fatalf("Delete(expected 0) of a never-written scope = %v, %v; want success", ok, err)
	}
	tomb := scoped.Record{Version: 1, Writer: tok}
	equal(t, "Delete", rec, tomb)
	equal(t, "Load after Delete", load(t, s, "a"), tomb)
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
		rec := mustSet(t, s, name, 0, value, tok)
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
		mustSet(t, s, name, 0, []byte("value of "+name), scoped.NewToken())
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
	rec := mustSet(t, s, "big", 0, big, scoped.NewToken())
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
	c, cancel := context.WithCancel(ctx(t))
	cancel()
	if _, err := s.Load(c, "a"); err == nil {
		t.Error("Load with a cancelled context succeeded")
	}
	if _, _, err := s.CompareAndSet(c, "a", 0, []byte("x"), scoped.NewToken()); err == nil {
		t.Error("CompareAndSet with a cancelled context succeeded")
	}
	if _, _, err := s.Delete(c, "a", 0, scoped.NewToken()); err == nil {
		t.Error("Delete with a cancelled context succeeded")
	}
	if rec := load(t, s, "a"); rec.Version != 0 {
		t.Fatalf("a call with a cancelled context wrote version %d", rec.Version)
	}
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
				rec, ok, err := s.CompareAndSet(ctx(t), "hot", cur.Version, fmt.Appendf(nil, "w%d", w), scoped.NewToken())
				if err != nil {
					t.Error(err)
					return
				}
				if ok {
					mu.Lock()
					winners[rec.Version] = append(winners[rec.Version], w)
					mu.Unlock()
				} else if rec.Version <= cur.Version {
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

func testEngineCorruptValue(t *testing.T, s scoped.Store) {
	garbage := []byte{0xc1, 0xff} // 0xc1 is never valid msgpack
	mustSet(t, s, "bad", 0, garbage, scoped.NewToken())
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
	if rec := load(t, s, "bad"); rec.Version != 2 || rec.Value != nil {
		t.Fatalf("after Delete: %+v, want a tombstone at version 2", rec)
	}
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

func mustSet(t *testing.T, s scoped.Store, name string, expected uint64, value []byte, tok scoped.Token) scoped.Record {
	t.Helper()
	rec, ok, err := s.CompareAndSet(ctx(t), name, expected, value, tok)
	if err != nil || !ok {
		t.Fatalf("CompareAndSet(%q, expected %d) = %v, %v; want success", name, expected, ok, err)
	}
	return rec
}

func equal(t *testing.T, what string, got, want scoped.Record) {
	t.Helper()
	if got.Version != want.Version || got.Writer != want.Writer || !bytes.Equal(got.Value, want.Value) || (got.Value == nil) != (want.Value == nil) {
		t.Fatalf("%s = {Version %d, Writer %s, Value %q (nil %v)}; want {Version %d, Writer %s, Value %q (nil %v)}",
			what, got.Version, got.Writer, abbrev(got.Value), got.Value == nil, want.Version, want.Writer, abbrev(want.Value), want.Value == nil)
	}
}

func abbrev(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}
