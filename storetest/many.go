package storetest

import (
	"fmt"
	"testing"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/bank"
)

// setMany makes a Change that stores value over expected.
func setMany(name string, expected scoped.Revision, value string) scoped.Change {
	return scoped.Change{Name: name, Expected: expected, Action: scoped.ActionSet,
		Write: scoped.Write{Value: []byte(value), Writer: scoped.NewToken()}}
}

// many calls CompareAndSetMany and fails the test on an error or a reply
// of the wrong length.
func many(t *testing.T, s scoped.Store, changes ...scoped.Change) ([]scoped.Record, bool) {
	t.Helper()
	cur, ok, err := s.CompareAndSetMany(ctx(t), changes)
	if err != nil {
		t.Fatalf("CompareAndSetMany: %v", err)
	}
	if len(cur) != len(changes) {
		t.Fatalf("CompareAndSetMany returned %d records for %d changes", len(cur), len(changes))
	}
	return cur, ok
}

// testManyApplies: every action at once: a set, a create, a delete, a
// check of a scope with a record and of one without.
func testManyApplies(t *testing.T, s scoped.Store, c *Clock) {
	a := mustSet(t, s, "{m}a", scoped.Revision{}, []byte("a1"), scoped.NewToken())
	b := mustSet(t, s, "{m}b", scoped.Revision{}, []byte("b1"), scoped.NewToken())
	k := mustSet(t, s, "{m}k", scoped.Revision{}, []byte("k1"), scoped.NewToken())
	setA := setMany("{m}a", a.Revision(), "a2")
	setA.Write.ExpiresAt = c.in(longTTL)
	create := setMany("{m}c", scoped.Revision{}, "c1")
	cur, ok := many(t, s,
		setA,
		scoped.Change{Name: "{m}b", Expected: b.Revision(), Action: scoped.ActionDelete},
		create,
		scoped.Change{Name: "{m}k", Expected: k.Revision(), Action: scoped.ActionCheck},
		scoped.Change{Name: "{m}x", Action: scoped.ActionCheck},
	)
	if !ok {
		t.Fatalf("CompareAndSetMany with every revision current was refused: %+v", cur)
	}
	want := []scoped.Record{setA.Write.Record(2), {}, create.Write.Record(1), k, {}}
	for i, name := range []string{"{m}a", "{m}b", "{m}c", "{m}k", "{m}x"} {
		equal(t, fmt.Sprintf("record %d returned by CompareAndSetMany", i), cur[i], want[i])
		equal(t, fmt.Sprintf("Load(%q) after CompareAndSetMany", name), load(t, s, name), want[i])
	}
}

// testManyAllOrNothing: one scope off its expected revision, by its version
// or only by its writer, or only checked, and nothing is written; the
// current records of all come back.
func testManyAllOrNothing(t *testing.T, s scoped.Store, c *Clock) {
	a := mustSet(t, s, "{n}a", scoped.Revision{}, []byte("a1"), scoped.NewToken())
	b := mustSet(t, s, "{n}b", scoped.Revision{}, []byte("b1"), scoped.NewToken())
	e := mustWrite(t, s, "{n}e", scoped.Revision{}, scoped.Write{Value: []byte("e1"), Writer: scoped.NewToken(), ExpiresAt: c.in(shortTTL)})
	c.Advance(t, pastTTL)
	for _, tc := range []struct {
		what string
		off  scoped.Change
	}{
		{"a set whose version is off", setMany("{n}b", scoped.Revision{Version: 2, Writer: b.Writer}, "b2")},
		{"a set whose writer is off", setMany("{n}b", scoped.Revision{Version: 1, Writer: scoped.NewToken()}, "b2")},
		{"a create over a record", setMany("{n}b", scoped.Revision{}, "b2")},
		{"a delete off", scoped.Change{Name: "{n}b", Expected: scoped.Revision{Version: 7, Writer: b.Writer}, Action: scoped.ActionDelete}},
		{"a check off", scoped.Change{Name: "{n}b", Expected: scoped.Revision{Version: 1, Writer: scoped.NewToken()}, Action: scoped.ActionCheck}},
		{"a check of an expired record", scoped.Change{Name: "{n}e", Expected: e.Revision(), Action: scoped.ActionCheck}},
	} {
		cur, ok := many(t, s, setMany("{n}a", a.Revision(), "a2"), tc.off, setMany("{n}c", scoped.Revision{}, "c1"))
		if ok {
			t.Fatalf("CompareAndSetMany with %s succeeded", tc.what)
		}
		current := load(t, s, tc.off.Name)
		for i, want := range []scoped.Record{a, current, {}} {
			equal(t, fmt.Sprintf("%s: record %d returned", tc.what, i), cur[i], want)
		}
		equal(t, tc.what+": Load of a scope it would have set", load(t, s, "{n}a"), a)
		equal(t, tc.what+": Load of a scope it would have created", load(t, s, "{n}c"), scoped.Record{})
	}
	equal(t, "Load of the scope off", load(t, s, "{n}b"), b)
}

// testEngineBank: transfers between 16 accounts by 64 goroutines on two
// engines, and readers of the total, in transactions. No money is made or
// lost, no balance goes negative, and every acknowledged transfer, and no
// other, is applied once.
func testEngineBank(t *testing.T, s scoped.Store) {
	bank.Bank{Workers: 64, Transfers: 15}.InProcess(t, s, 2)
}
