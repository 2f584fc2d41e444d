// Package ledger checks the outcomes of calls against what the store kept,
// for fault tests: every call appends its id to a ledger scope, and the test
// compares the ledger with what each call was told.
package ledger

import (
	"slices"
	"testing"
)

// Ledger is the value of the ledger scope: how many increments were
// committed, and the id of the call behind each.
type Ledger struct {
	N     int
	Calls []int64
}

// Check fails t unless l agrees with the calls' outcomes: every call that
// succeeded is in it exactly once, every call refused with a definite error
// is not, a call whose outcome was unknown is in it at most once, and
// nothing else is. It logs how many unknown calls had landed.
func Check(t testing.TB, l Ledger, succeeded, unknown, refused []int64) {
	t.Helper()
	if l.N != len(l.Calls) {
		t.Fatalf("ledger counts %d increments but lists %d", l.N, len(l.Calls))
	}
	inLedger := map[int64]int{}
	for _, c := range l.Calls {
		inLedger[c]++
	}
	sent := map[int64]bool{} // the calls that may have written
	for _, c := range slices.Concat(succeeded, unknown) {
		sent[c] = true
	}
	for c, n := range inLedger {
		if n != 1 {
			t.Errorf("call %d incremented %d times", c, n)
		}
		if !sent[c] {
			t.Errorf("call %d is in the ledger but neither succeeded nor ended unknown", c)
		}
	}
	for _, c := range succeeded {
		if inLedger[c] == 0 {
			t.Errorf("call %d succeeded but its increment is lost", c)
		}
	}
	for _, c := range refused {
		if inLedger[c] != 0 {
			t.Errorf("call %d failed with a definite error but its increment was written", c)
		}
	}
	landed := 0
	for _, c := range unknown {
		landed += inLedger[c]
	}
	if l.N != len(succeeded)+landed {
		t.Errorf("ledger at %d; want %d successes + %d unknown calls that landed", l.N, len(succeeded), landed)
	}
	t.Logf("%d of %d unknown calls had landed", landed, len(unknown))
}
