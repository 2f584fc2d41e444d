package linearize

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/scoped-go/scoped"
)

// op is a call of client 0 on scope "a" over [call, ret].
func op(kind Kind, value int64, out Output, call, ret int64) Op {
	return Op{Input: Input{Scope: "a", Kind: kind, Value: value}, Output: out, Call: call, Return: ret}
}

func on(scope string, o Op) Op { o.Input.Scope = scope; return o }

var (
	absent  = Output{}
	unknown = Output{Unknown: true}
)

func value(n int64) Output { return Output{Value: n, Exists: true} }

// many is a multi-scope call of client 0 over [call, ret] on scopes,
// answering values (nil for absent), or unknown if values is nil.
func many(kind Kind, scopes []string, values []*int64, call, ret int64) Op {
	o := Op{Input: Input{Scopes: scopes, Kind: kind}, Call: call, Return: ret}
	if values == nil {
		o.Output = unknown
	}
	for _, v := range values {
		var st State
		if v != nil {
			st = State{Value: *v, Exists: true}
		}
		o.Output.Values = append(o.Output.Values, st)
	}
	return o
}

func n(v int64) *int64 { return &v }

var ab = []string{"a", "b"}

// Hand-written histories, each linearizable or not.
func TestVerify(t *testing.T) {
	tests := []struct {
		name         string
		history      History
		linearizable bool
	}{
		{"empty", nil, true},
		{"increment then read", History{
			op(Increment, 0, value(1), 0, 1),
			op(Read, 0, value(1), 2, 3),
		}, true},
		{"stale read after increment", History{
			op(Increment, 0, value(1), 0, 1),
			op(Read, 0, absent, 2, 3),
		}, false},
		{"read concurrent with increment", History{
			op(Increment, 0, value(1), 0, 10),
			op(Read, 0, absent, 1, 2),
			op(Read, 0, value(1), 3, 4),
		}, true},
		{"read that goes back", History{
			op(Increment, 0, value(1), 0, 10),
			op(Read, 0, value(1), 1, 2),
			op(Read, 0, absent, 3, 4),
		}, false},
		{"lost increment", History{
			op(Increment, 0, value(1), 0, 1),
			op(Increment, 0, value(1), 2, 3),
		}, false},
		{"write, delete, increment", History{
			op(Write, 7, absent, 0, 1),
			op(Read, 0, value(7), 2, 3),
			op(Increment, 0, value(8), 4, 5),
			op(Delete, 0, absent, 6, 7),
			op(Read, 0, absent, 8, 9),
			op(Increment, 0, value(1), 10, 11),
		}, true},
		{"read of a value never written", History{
			op(Write, 7, absent, 0, 1),
			op(Read, 0, value(8), 2, 3),
		}, false},
		{"unknown increment that landed late", History{
			op(Increment, 0, unknown, 0, Pending),
			op(Read, 0, absent, 5, 6),
			op(Read, 0, value(1), 7, 8),
		}, true},
		{"unknown increment that never landed", History{
			op(Increment, 0, unknown, 0, Pending),
			op(Write, 5, absent, 1, 2),
			op(Read, 0, value(5), 3, 4),
		}, true},
		{"unknown increment seen, then unseen", History{
			op(Increment, 0, unknown, 0, Pending),
			op(Read, 0, value(1), 5, 6),
			op(Read, 0, absent, 7, 8),
		}, false},
		{"scopes apart", History{
			on("a", op(Increment, 0, value(1), 0, 1)),
			on("b", op(Read, 0, absent, 2, 3)),
			on("a", op(Read, 0, value(1), 2, 3)),
		}, true},
		{"scopes mixed up", History{
			on("a", op(Increment, 0, value(1), 0, 1)),
			on("b", op(Read, 0, value(1), 2, 3)),
		}, false},
		{"transfer then read many", History{
			many(Transfer, ab, []*int64{n(-1), n(1)}, 0, 1),
			many(ReadMany, ab, []*int64{n(-1), n(1)}, 2, 3),
			many(ReadMany, []string{"b", "c", "a"}, []*int64{n(1), nil, n(-1)}, 4, 5),
		}, true},
		{"transfer seen half done", History{
			many(Transfer, ab, []*int64{n(-1), n(1)}, 0, 10),
			many(ReadMany, ab, []*int64{n(-1), nil}, 1, 2),
		}, false},
		{"transfer seen half done by single reads", History{
			many(Transfer, ab, []*int64{n(-1), n(1)}, 0, 10),
			on("a", op(Read, 0, value(-1), 1, 2)),
			on("b", op(Read, 0, absent, 3, 4)),
		}, false},
		{"transfers concurrent with increments", History{
			on("a", op(Increment, 0, value(1), 0, 10)),
			many(Transfer, ab, []*int64{n(0), n(1)}, 1, 11),
			many(Transfer, []string{"b", "a"}, []*int64{n(0), n(1)}, 2, 12),
			on("b", op(Read, 0, value(0), 13, 14)),
		}, true},
		{"transfer answering stale values", History{
			on("a", op(Write, 5, absent, 0, 1)),
			many(Transfer, ab, []*int64{n(-1), n(1)}, 2, 3),
		}, false},
		{"unknown transfer that landed", History{
			many(Transfer, ab, nil, 0, Pending),
			many(ReadMany, ab, []*int64{n(-1), n(1)}, 5, 6),
		}, true},
		{"unknown transfer that never landed", History{
			many(Transfer, ab, nil, 0, Pending),
			many(ReadMany, ab, []*int64{nil, nil}, 5, 6),
		}, true},
		{"unknown transfer landed in part", History{
			many(Transfer, ab, nil, 0, Pending),
			many(ReadMany, ab, []*int64{nil, n(1)}, 5, 6),
		}, false},
		{"components joined through a third scope", History{
			many(Transfer, []string{"a", "c"}, []*int64{n(-1), n(1)}, 0, 1),
			many(Transfer, []string{"c", "b"}, []*int64{n(0), n(1)}, 2, 3),
			many(ReadMany, []string{"a", "b", "c"}, []*int64{n(-1), n(1), n(0)}, 4, 5),
			on("d", op(Read, 0, absent, 4, 5)),
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.history, 5*time.Second, t.TempDir())
			switch {
			case tt.linearizable && err != nil:
				t.Errorf("Verify = %v; want linearizable", err)
			case !tt.linearizable && !errors.Is(err, ErrNotLinearizable):
				t.Errorf("Verify = %v; want %v", err, ErrNotLinearizable)
			}
		})
	}
}

// partition groups the scopes that some call touches together, in order
// of first call, and leaves the others apart.
func TestPartition(t *testing.T) {
	h := History{
		on("a", op(Read, 0, absent, 0, 1)),
		on("b", op(Read, 0, absent, 0, 1)),
		on("c", op(Read, 0, absent, 0, 1)),
		on("d", op(Read, 0, absent, 0, 1)),
		many(Transfer, []string{"d", "b"}, nil, 2, Pending),
		on("e", op(Read, 0, absent, 3, 4)),
		many(ReadMany, []string{"e", "a"}, nil, 5, Pending),
	}
	var got [][]string
	for _, part := range partition(h.Operations()) {
		var names []string
		for _, o := range part {
			names = append(names, strings.Join(o.Input.(Input).names(), "+"))
		}
		got = append(got, names)
	}
	want := [][]string{{"a", "e", "e+a"}, {"b", "d", "d+b"}, {"c"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("partition = %v; want %v", got, want)
	}
}

// The Recorder keeps answered calls, keeps calls of unknown outcome as
// pending, and leaves out calls that failed with a definite error.
func TestRecorder(t *testing.T) {
	var clock int64
	r := NewRecorder(func() int64 { clock++; return clock })
	in := Input{Scope: "a", Kind: Increment}
	if err := r.Do(1, in, func() (Output, error) { return Output{Value: 1}, nil }); err != nil {
		t.Fatal(err)
	}
	lost := fmt.Errorf("lost reply: %w", scoped.ErrCommitUnknown)
	if err := r.Do(2, in, func() (Output, error) { return Output{Value: 99}, lost }); err != lost {
		t.Fatalf("Do = %v; want %v", err, lost)
	}
	if err := r.Do(3, in, func() (Output, error) { return Output{}, scoped.ErrNotApplied }); err != scoped.ErrNotApplied {
		t.Fatalf("Do = %v; want %v", err, scoped.ErrNotApplied)
	}
	h, failed := r.History()
	want := History{
		{Client: 1, Input: in, Output: Output{Value: 1}, Call: 1, Return: 2},
		{Client: 2, Input: in, Output: unknown, Call: 3, Return: Pending},
	}
	if fmt.Sprint(h) != fmt.Sprint(want) || failed != 1 {
		t.Errorf("History = %v, %d; want %v, 1", h, failed, want)
	}
	if ops := h.Operations(); ops[1].Return != 4 {
		t.Errorf("pending call returns at %d; want 4, after every other time", ops[1].Return)
	}
}

func TestConcurrency(t *testing.T) {
	tests := []struct {
		history History
		want    int
	}{
		{nil, 0},
		{History{op(Read, 0, absent, 0, 1), op(Read, 0, absent, 2, 3)}, 1},
		{History{op(Read, 0, absent, 0, 1), op(Read, 0, absent, 1, 2)}, 2}, // closed intervals
		{History{op(Increment, 0, unknown, 0, Pending), op(Read, 0, absent, 5, 6), op(Read, 0, absent, 7, 8)}, 2},
	}
	for i, tt := range tests {
		if got := tt.history.Concurrency(); got != tt.want {
			t.Errorf("history %d: Concurrency = %d; want %d", i, got, tt.want)
		}
	}
}

// errorsTB is a testing.TB that keeps the errors reported to it.
type errorsTB struct {
	testing.TB
	errs []string
}

func (t *errorsTB) Errorf(format string, args ...any) {
	t.errs = append(t.errs, fmt.Sprintf(format, args...))
}

// Assert fails the test on a history that is not linearizable, naming the
// visualization, and on one where most calls failed.
func TestAssert(t *testing.T) {
	good := History{op(Increment, 0, value(1), 0, 1), op(Read, 0, value(1), 2, 3)}
	stale := History{op(Increment, 0, value(1), 0, 1), op(Read, 0, absent, 2, 3)}
	tests := []struct {
		name    string
		history History
		failed  int
		want    string // in the error; "" for none
	}{
		{"linearizable", good, 0, ""},
		{"stale read", stale, 0, "linearizability.html"},
		{"most calls failed", good, 3, "3 of 5 calls failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := &errorsTB{TB: t}
			ok := Assert(tb, tt.history, tt.failed)
			switch {
			case tt.want == "" && (!ok || len(tb.errs) > 0):
				t.Errorf("Assert = %v, errors %q; want true, none", ok, tb.errs)
			case tt.want != "" && (ok || len(tb.errs) != 1 || !strings.Contains(tb.errs[0], tt.want)):
				t.Errorf("Assert = %v, errors %q; want false, one error with %q", ok, tb.errs, tt.want)
			}
		})
	}
}
