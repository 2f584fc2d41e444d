package linearize

import (
	"cmp"
	"errors"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/scoped-go/scoped"
)

// Op is one recorded call: who made it, what it was and answered, and when
// it started and returned, by the Recorder's clock. A call whose outcome is
// unknown has Output.Unknown set and Return Pending.
type Op struct {
	Client int    // the worker that made the call
	Input  Input  // the call
	Output Output // its answer
	Call   int64  // when it started
	Return int64  // when it returned, or Pending
}

// Pending is the Return of a call whose outcome is unknown: it may take
// effect at any time after its Call, up to the end of the history.
const Pending int64 = math.MaxInt64

// History is the calls recorded, in any order.
type History []Op

// Operations returns h for porcupine. A call whose outcome is unknown gets
// a return time after every other time of the history: porcupine may then
// place it anywhere after its call, including after every other call, as if
// it never happened.
func (h History) Operations() []porcupine.Operation {
	var end int64
	for _, op := range h {
		end = max(end, op.Call)
		if op.Return != Pending {
			end = max(end, op.Return)
		}
	}
	ops := make([]porcupine.Operation, len(h))
	for i, op := range h {
		ret := op.Return
		if ret == Pending {
			ret = end + 1
		}
		ops[i] = porcupine.Operation{ClientId: op.Client, Input: op.Input, Call: op.Call, Output: op.Output, Return: ret}
	}
	return ops
}

// Concurrency returns the most calls of h in flight at one time: 1 for a
// history whose calls never overlapped, which checks little.
func (h History) Concurrency() int {
	type event struct {
		at    int64
		delta int
	}
	events := make([]event, 0, 2*len(h))
	for _, op := range h {
		events = append(events, event{op.Call, 1}, event{op.Return, -1})
	}
	// Intervals are closed: at equal times, calls come before returns.
	slices.SortFunc(events, func(a, b event) int {
		return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(b.delta, a.delta))
	})
	most, n := 0, 0
	for _, e := range events {
		n += e.delta
		most = max(most, n)
	}
	return most
}

// Recorder logs the calls of concurrent workers. It is safe for concurrent
// use.
type Recorder struct {
	now func() int64

	mu      sync.Mutex
	history History
	failed  int // calls that failed with a definite error
}

// NewRecorder returns a Recorder that reads times from now, which must never
// go backwards and must be comparable between every worker whose calls are
// checked together.
func NewRecorder(now func() int64) *Recorder {
	return &Recorder{now: now}
}

// MonotonicClock returns a clock for one process: nanoseconds on the
// monotonic clock since it was made.
func MonotonicClock() func() int64 {
	start := time.Now()
	return func() int64 { return int64(time.Since(start)) }
}

// WallClock reads the wall clock in nanoseconds, for histories merged from
// several processes: processes on one machine read the same system clock,
// so their times compare. Unlike MonotonicClock it jumps if the clock is
// stepped while a test runs, and the check may then be wrong either way.
func WallClock() int64 { return time.Now().UnixNano() }

// Do records the call in, made by client, that fn performs. fn's error
// decides: none records the call with fn's output; scoped.ErrCommitUnknown
// records it as possibly applied (see Pending); any other error means the
// call was not applied and does not record it. Do returns fn's error.
func (r *Recorder) Do(client int, in Input, fn func() (Output, error)) error {
	call := r.now()
	out, err := fn()
	ret := r.now()
	op := Op{Client: client, Input: in, Output: out, Call: call, Return: ret}
	switch {
	case err == nil:
	case errors.Is(err, scoped.ErrCommitUnknown):
		op.Output, op.Return = Output{Unknown: true}, Pending
	default:
		r.mu.Lock()
		r.failed++
		r.mu.Unlock()
		return err
	}
	r.mu.Lock()
	r.history = append(r.history, op)
	r.mu.Unlock()
	return err
}

// History returns the calls recorded so far, and how many calls failed with
// a definite error and were left out.
func (r *Recorder) History() (History, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append(History(nil), r.history...), r.failed
}
