package scoped

import (
	"context"
	"errors"
	"time"
)

// Hooks observe an engine's calls and its store calls, in the manner of
// net/http/httptrace.ClientTrace: every field is optional, and a field left
// nil costs nothing. Hooks run synchronously, on the goroutine that ends the
// call or made the store call: they must be quick, safe for concurrent use,
// and must not call the engine. Set them with WithHooks.
type Hooks struct {
	// CallStart, if set, is called as each call (Run, Update, Delete, View,
	// Read, Lookup) begins, with the caller's context. It returns the
	// context the call goes on with, which the engine uses for the call's
	// store calls and passes to CallDone: a tracer puts its span there.
	// Return ctx to change nothing.
	CallStart func(ctx context.Context, scope string, kind CallKind) context.Context

	// CallDone, if set, is called once per call as it returns, refused ones
	// included (an invalid name, a closed engine), with the context
	// CallStart returned, or the caller's.
	CallDone func(ctx context.Context, c CallInfo)

	// StoreDone, if set, is called after every Store call the engine
	// makes, with the context the store call was made with: the caller's
	// own when its call was alone in the batch, else one carrying the
	// values of the batch's first caller.
	StoreDone func(ctx context.Context, s StoreCallInfo)
}

// CallKind is the API function a call was made with.
type CallKind uint8

// The kinds of call.
const (
	KindRun CallKind = iota
	KindUpdate
	KindDelete
	KindView
	KindRead     // Read and Lookup
	KindTransact // Transact; its CallInfo.Scope is the first name given
)

var kindNames = [...]string{"run", "update", "delete", "view", "read", "transact"}

// String returns the kind in lower case: run, update, delete, view, read,
// transact.
func (k CallKind) String() string { return kindNames[k] }

// Outcome classes a call's end by what it did to the store.
type Outcome uint8

// The outcomes of a call.
const (
	OutcomeWritten    Outcome = iota // its change was committed
	OutcomeUnchanged                 // it had nothing to write: a read, or a handler that changed nothing
	OutcomeFailed                    // an error, a panic or a Goexit; nothing of it was written
	OutcomeNotApplied                // an error matching ErrNotApplied: nothing was written
	OutcomeUnknown                   // an error matching ErrCommitUnknown
)

var outcomeNames = [...]string{"written", "unchanged", "failed", "not_applied", "unknown"}

// String returns the outcome in lower case, with '_' between words.
func (o Outcome) String() string { return outcomeNames[o] }

// CallInfo describes one call as it ends.
type CallInfo struct {
	Scope     string
	Kind      CallKind
	Outcome   Outcome
	Err       error         // the call's error; nil also after a panic or a Goexit
	Attempts  int           // writes tried with its change: 0 when it had nothing to write
	Conflicts int           // attempts refused because another writer committed first
	Batch     int           // calls committed together with it, itself included; 0 if it never reached a batch
	Duration  time.Duration // from the call to its return
}

// StoreCall is the Store method a store call was.
type StoreCall uint8

// The store calls.
const (
	StoreLoad StoreCall = iota
	StoreCompareAndSet
	StoreDelete
	StoreCompareAndSetMany // its StoreCallInfo.Scope is the first scope's name
)

var storeCallNames = [...]string{"load", "compare_and_set", "delete", "compare_and_set_many"}

// String returns the method in lower case, with '_' between words.
func (c StoreCall) String() string { return storeCallNames[c] }

// StoreOutcome classes the answer to a store call.
type StoreOutcome uint8

// The outcomes of a store call.
const (
	StoreOK         StoreOutcome = iota // read, or written
	StoreConflict                       // a write refused: the revision had moved
	StoreNotApplied                     // an error matching ErrNotApplied
	StoreError                          // any other error
)

var storeOutcomeNames = [...]string{"ok", "conflict", "not_applied", "error"}

// String returns the outcome in lower case, with '_' between words.
func (o StoreOutcome) String() string { return storeOutcomeNames[o] }

// StoreCallInfo describes one store call as it returns.
type StoreCallInfo struct {
	Scope    string
	Call     StoreCall
	Outcome  StoreOutcome
	Err      error
	Duration time.Duration // the round trip, as the engine saw it
}

// WithHooks sets hooks that observe the engine's calls and store calls.
func WithHooks(h Hooks) Option {
	return func(o *options) { o.hooks = h }
}

// callOutcome classes the end of a call that returned err.
func callOutcome(o *op, err error) Outcome {
	switch {
	case err == nil && o != nil && (o.panicked != nil || o.goexit):
		return OutcomeFailed
	case err == nil && o != nil && o.wrote:
		return OutcomeWritten
	case err == nil:
		return OutcomeUnchanged
	case errors.Is(err, ErrCommitUnknown):
		return OutcomeUnknown
	case errors.Is(err, ErrNotApplied):
		return OutcomeNotApplied
	}
	return OutcomeFailed
}

// observed reports whether a call hook is set.
func (h *Hooks) observed() bool { return h.CallStart != nil || h.CallDone != nil }

// callStart begins observing a call: it returns the context the call goes
// on with, and when it began.
func (e *Engine) callStart(ctx context.Context, name string, kind CallKind) (context.Context, time.Time) {
	if h := e.opts.hooks.CallStart; h != nil {
		ctx = h(ctx, name, kind)
	}
	return ctx, time.Now()
}

// callDone reports a call on name of kind, begun at start, that ends with
// err, to the CallDone hook; o is the call if it writes, nil if it only
// reads. The counts are read under the shard's mutex: the committer may
// still be working on a call whose caller left.
func (e *Engine) callDone(ctx context.Context, name string, kind CallKind, o *op, start time.Time, err error) {
	h := e.opts.hooks.CallDone
	if h == nil {
		return
	}
	info := CallInfo{Scope: name, Kind: kind, Outcome: callOutcome(o, err), Err: err, Duration: time.Since(start)}
	if o != nil {
		sh := e.table.shard(name)
		sh.mu.Lock()
		info.Attempts, info.Conflicts, info.Batch = o.writes, o.conflicts, o.batched
		sh.mu.Unlock()
	}
	h(ctx, info)
}

// storeStart returns the time a store call begins, if a hook will want it.
func (e *Engine) storeStart() time.Time {
	if e.opts.hooks.StoreDone == nil {
		return time.Time{}
	}
	return time.Now()
}

// storeDone reports a store call begun at start to the StoreDone hook, if
// set. ok is the write's answer (true for a load).
func (e *Engine) storeDone(ctx context.Context, name string, call StoreCall, start time.Time, ok bool, err error) {
	h := e.opts.hooks.StoreDone
	if h == nil {
		return
	}
	info := StoreCallInfo{Scope: name, Call: call, Err: err, Duration: time.Since(start)}
	switch {
	case err == nil && ok:
		info.Outcome = StoreOK
	case err == nil:
		info.Outcome = StoreConflict
	case errors.Is(err, ErrNotApplied):
		info.Outcome = StoreNotApplied
	default:
		info.Outcome = StoreError
	}
	h(ctx, info)
}
