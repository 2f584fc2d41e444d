// Package scopedotel records the calls of a scoped engine as OpenTelemetry
// metrics and spans, through the engine's hooks:
//
//	hooks, err := scopedotel.Hooks() // the global providers, or WithMeterProvider, WithTracerProvider
//	if err != nil {
//		return err
//	}
//	e := scoped.New(store, scoped.WithHooks(hooks))
//
// It is a module of its own, as go-redis's extra/redisotel is, so that the
// core module does not depend on OpenTelemetry.
//
// # Metrics
//
// Calls are counted by their kind (scoped.call.kind: run, update, delete,
// view, read) and outcome (scoped.call.outcome: written, unchanged, failed,
// not_applied, unknown); store calls by their method (scoped.store.call:
// load, compare_and_set, delete) and outcome (scoped.store.outcome: ok,
// conflict, not_applied, error):
//
//	scoped.calls           counter    {call}      kind, outcome
//	scoped.call.duration   histogram  s           kind, outcome
//	scoped.call.batch_size histogram  {call}      kind: calls committed together, itself included
//	scoped.conflicts       counter    {conflict}  kind: a call's writes refused as another committed first
//	scoped.retries         counter    {retry}     kind: a call's writes tried after its first
//	scoped.store.calls     counter    {call}      store call, store outcome
//	scoped.store.duration  histogram  s           store call, store outcome
//
// Calls whose outcome is unknown (ErrCommitUnknown: the change may or may not
// have been written) are scoped.calls with scoped.call.outcome="unknown":
// alert on that series. A batch that meets a conflict counts one conflict in
// scoped.store.calls, and one for each of its calls in scoped.conflicts.
// Reads (View, Read, Lookup) write nothing, and so have no batch, conflict
// or retry; the loads they try again show in scoped.store.calls.
//
// # Spans
//
// Each call is a span of kind internal, named for its kind (scoped.run,
// scoped.update, scoped.delete, scoped.view, scoped.read), begun as the call
// begins, in the caller's trace, and ended as it returns, with the
// attributes scoped.call.kind, scoped.call.outcome, scoped.call.attempts,
// scoped.call.conflicts and scoped.call.batch_size. A call that failed, was
// not applied or whose outcome is unknown has the status Error, with its
// error recorded as an event. The engine makes its store calls with the
// call's context, so a span that the store's own client makes (a redisotel
// command, say) is a child of the call's span.
//
// Each store call of a sampled call is a child span too, named
// scoped.store.load, scoped.store.compare_and_set or scoped.store.delete,
// of kind internal
// (the store may be a local directory; a remote store's client spans are
// its own). The engine reports a store call only once it has returned, so
// its span is made then, with the times it began and ended. A conflict is
// not an error; a store error or a write not applied is.
//
// # Batches
//
// Calls on one scope that queue while a write is in flight are committed
// together, by one store call. That store call is made with a context that
// carries the values of the batch's first call, so its span is a child of
// the first call's span only: the other calls of the batch have no store
// span of their own. Their spans say scoped.call.batch_size, above 1. The
// first call may have returned before the batch's store call ends (its
// context ended), so a store span can end after its parent.
//
// # Scope names
//
// Scope names can hold user data, so they are recorded only if asked for,
// with WithScopeNames(true), and then only on spans, as scoped.scope.name.
// They are never metric attributes.
package scopedotel

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/scoped-go/scoped"
)

// instrumentation names the meter and the tracer.
const instrumentation = "github.com/scoped-go/scoped/extra/scopedotel"

// The attribute keys.
const (
	keyKind      = attribute.Key("scoped.call.kind")
	keyOutcome   = attribute.Key("scoped.call.outcome")
	keyAttempts  = attribute.Key("scoped.call.attempts")
	keyConflicts = attribute.Key("scoped.call.conflicts")
	keyBatch     = attribute.Key("scoped.call.batch_size")
	keyStoreCall = attribute.Key("scoped.store.call")
	keyStoreOut  = attribute.Key("scoped.store.outcome")
	keyScope     = attribute.Key("scoped.scope.name")
)

// The values the tables below are built for, each equal to its index.
var (
	kinds         = []scoped.CallKind{scoped.KindRun, scoped.KindUpdate, scoped.KindDelete, scoped.KindView, scoped.KindRead}
	outcomes      = []scoped.Outcome{scoped.OutcomeWritten, scoped.OutcomeUnchanged, scoped.OutcomeFailed, scoped.OutcomeNotApplied, scoped.OutcomeUnknown}
	storeCalls    = []scoped.StoreCall{scoped.StoreLoad, scoped.StoreCompareAndSet, scoped.StoreDelete}
	storeOutcomes = []scoped.StoreOutcome{scoped.StoreOK, scoped.StoreConflict, scoped.StoreNotApplied, scoped.StoreError}
)

// Bucket boundaries: durations from 100µs (a local Redis) to 10s, and batch
// sizes in powers of two up to the engine's default bound.
var (
	durationBounds = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	batchBounds    = []float64{1, 2, 4, 8, 16, 32, 64, 128, 256}
)

// Hooks returns hooks that record the calls and store calls of the engine
// they are set on (with scoped.WithHooks) as OpenTelemetry metrics and
// spans. It fails only if an instrument cannot be made. One set of hooks
// may serve several engines: their metrics add up, unless WithAttributes
// tells them apart.
//
// The hooks work as a whole: CallDone ends the span that CallStart began,
// found in the context. Wrapping them with hooks of your own is fine as
// long as the context CallStart returned reaches CallDone.
func Hooks(opts ...Option) (scoped.Hooks, error) {
	r, err := newRecorder(newConfig(opts))
	if err != nil {
		return scoped.Hooks{}, err
	}
	return scoped.Hooks{CallStart: r.callStart, CallDone: r.callDone, StoreDone: r.storeDone}, nil
}

// recorder holds the instruments and the attributes made ready for each
// kind and outcome, so that a call costs no attribute set of its own.
type recorder struct {
	tracer trace.Tracer
	names  bool
	attrs  []attribute.KeyValue // WithAttributes

	calls         metric.Int64Counter
	callDuration  metric.Float64Histogram
	batchSize     metric.Int64Histogram
	conflicts     metric.Int64Counter
	retries       metric.Int64Counter
	storeCalls    metric.Int64Counter
	storeDuration metric.Float64Histogram

	kinds  []kindEntry  // by CallKind
	stores []storeEntry // by StoreCall
}

// measure is one attribute set, as the options that pass it.
type measure struct {
	add []metric.AddOption
	rec []metric.RecordOption
}

// kindEntry is what the recorder needs for calls of one kind.
type kindEntry struct {
	span     string                  // the span's name
	start    []trace.SpanStartOption // its kind and first attributes
	all      measure                 // the kind
	outcomes []measure               // the kind and each outcome, by Outcome
}

// storeEntry is what the recorder needs for store calls of one method.
type storeEntry struct {
	span     string
	start    []trace.SpanStartOption
	outcomes []measure // the method and each outcome, by StoreOutcome
}

func newRecorder(c config) (*recorder, error) {
	m := c.mp.Meter(instrumentation)
	r := &recorder{tracer: c.tp.Tracer(instrumentation), names: c.names, attrs: c.attrs}
	var errs [7]error
	r.calls, errs[0] = m.Int64Counter("scoped.calls", metric.WithUnit("{call}"),
		metric.WithDescription("Calls to the engine, by kind and outcome."))
	r.callDuration, errs[1] = m.Float64Histogram("scoped.call.duration", metric.WithUnit("s"),
		metric.WithDescription("Time from a call to its return."),
		metric.WithExplicitBucketBoundaries(durationBounds...))
	r.batchSize, errs[2] = m.Int64Histogram("scoped.call.batch_size", metric.WithUnit("{call}"),
		metric.WithDescription("Calls committed together with a call, itself included."),
		metric.WithExplicitBucketBoundaries(batchBounds...))
	r.conflicts, errs[3] = m.Int64Counter("scoped.conflicts", metric.WithUnit("{conflict}"),
		metric.WithDescription("Writes of a call refused because another writer committed first."))
	r.retries, errs[4] = m.Int64Counter("scoped.retries", metric.WithUnit("{retry}"),
		metric.WithDescription("Writes of a call tried after its first."))
	r.storeCalls, errs[5] = m.Int64Counter("scoped.store.calls", metric.WithUnit("{call}"),
		metric.WithDescription("Calls to the store, by method and outcome."))
	r.storeDuration, errs[6] = m.Float64Histogram("scoped.store.duration", metric.WithUnit("s"),
		metric.WithDescription("Round trip of a store call, as the engine saw it."),
		metric.WithExplicitBucketBoundaries(durationBounds...))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	for _, k := range kinds {
		r.kinds = append(r.kinds, r.newKindEntry(k))
	}
	for _, s := range storeCalls {
		r.stores = append(r.stores, r.newStoreEntry(s))
	}
	return r, nil
}

// newMeasure makes the attribute set of attrs, with those of
// WithAttributes (ours win a clash).
func (r *recorder) newMeasure(attrs ...attribute.KeyValue) measure {
	all := append(append([]attribute.KeyValue(nil), r.attrs...), attrs...)
	o := metric.WithAttributeSet(attribute.NewSet(all...))
	return measure{add: []metric.AddOption{o}, rec: []metric.RecordOption{o}}
}

func (r *recorder) startOptions(attrs ...attribute.KeyValue) []trace.SpanStartOption {
	all := append(append([]attribute.KeyValue(nil), r.attrs...), attrs...)
	return []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal), trace.WithAttributes(all...)}
}

func (r *recorder) newKindEntry(k scoped.CallKind) kindEntry {
	kind := keyKind.String(k.String())
	e := kindEntry{span: "scoped." + k.String(), start: r.startOptions(kind), all: r.newMeasure(kind)}
	for _, o := range outcomes {
		e.outcomes = append(e.outcomes, r.newMeasure(kind, keyOutcome.String(o.String())))
	}
	return e
}

func (r *recorder) newStoreEntry(s scoped.StoreCall) storeEntry {
	call := keyStoreCall.String(s.String())
	e := storeEntry{span: "scoped.store." + s.String(), start: r.startOptions(call)}
	for _, o := range storeOutcomes {
		e.outcomes = append(e.outcomes, r.newMeasure(call, keyStoreOut.String(o.String())))
	}
	return e
}

// kind returns the entry of k, made anew for a kind newer than this package.
func (r *recorder) kind(k scoped.CallKind) *kindEntry {
	if int(k) < len(r.kinds) {
		return &r.kinds[k]
	}
	e := r.newKindEntry(k)
	return &e
}

// outcome returns the attributes of o for calls of this kind.
func (e *kindEntry) outcome(r *recorder, kind scoped.CallKind, o scoped.Outcome) measure {
	if int(o) < len(e.outcomes) {
		return e.outcomes[o]
	}
	return r.newMeasure(keyKind.String(kind.String()), keyOutcome.String(o.String()))
}

func (r *recorder) store(s scoped.StoreCall) *storeEntry {
	if int(s) < len(r.stores) {
		return &r.stores[s]
	}
	e := r.newStoreEntry(s)
	return &e
}

func (e *storeEntry) outcome(r *recorder, call scoped.StoreCall, o scoped.StoreOutcome) measure {
	if int(o) < len(e.outcomes) {
		return e.outcomes[o]
	}
	return r.newMeasure(keyStoreCall.String(call.String()), keyStoreOut.String(o.String()))
}

// callStart begins the call's span, in the caller's trace.
func (r *recorder) callStart(ctx context.Context, scope string, kind scoped.CallKind) context.Context {
	e := r.kind(kind)
	ctx, span := r.tracer.Start(ctx, e.span, e.start...)
	if r.names && span.IsRecording() {
		span.SetAttributes(scopeName(scope))
	}
	return ctx
}

// callDone records the call and ends its span.
func (r *recorder) callDone(ctx context.Context, c scoped.CallInfo) {
	e := r.kind(c.Kind)
	m := e.outcome(r, c.Kind, c.Outcome)
	r.calls.Add(ctx, 1, m.add...)
	r.callDuration.Record(ctx, c.Duration.Seconds(), m.rec...)
	if c.Batch > 0 {
		r.batchSize.Record(ctx, int64(c.Batch), e.all.rec...)
	}
	if c.Conflicts > 0 {
		r.conflicts.Add(ctx, int64(c.Conflicts), e.all.add...)
	}
	if c.Attempts > 1 {
		r.retries.Add(ctx, int64(c.Attempts-1), e.all.add...)
	}

	span := trace.SpanFromContext(ctx)
	if span.IsRecording() {
		span.SetAttributes(
			keyOutcome.String(c.Outcome.String()),
			keyAttempts.Int(c.Attempts),
			keyConflicts.Int(c.Conflicts),
			keyBatch.Int(c.Batch),
		)
		switch c.Outcome {
		case scoped.OutcomeFailed, scoped.OutcomeNotApplied, scoped.OutcomeUnknown:
			if c.Err != nil {
				span.RecordError(c.Err)
				span.SetStatus(codes.Error, c.Err.Error())
			} else {
				span.SetStatus(codes.Error, "the handler panicked or called runtime.Goexit")
			}
		}
	}
	span.End()
}

// storeDone records the store call, and makes its span, a child of the span
// in the context the store call was made with: the call's, or the first
// call's of a batch.
func (r *recorder) storeDone(ctx context.Context, s scoped.StoreCallInfo) {
	e := r.store(s.Call)
	m := e.outcome(r, s.Call, s.Outcome)
	r.storeCalls.Add(ctx, 1, m.add...)
	r.storeDuration.Record(ctx, s.Duration.Seconds(), m.rec...)

	if !trace.SpanContextFromContext(ctx).IsSampled() {
		return // no sampled call span to hang it on
	}
	end := time.Now()
	opts := make([]trace.SpanStartOption, 0, len(e.start)+1)
	opts = append(append(opts, e.start...), trace.WithTimestamp(end.Add(-s.Duration)))
	_, span := r.tracer.Start(ctx, e.span, opts...)
	if span.IsRecording() {
		span.SetAttributes(keyStoreOut.String(s.Outcome.String()))
		if r.names {
			span.SetAttributes(scopeName(s.Scope))
		}
		switch s.Outcome {
		case scoped.StoreNotApplied, scoped.StoreError:
			if s.Err != nil {
				span.RecordError(s.Err, trace.WithTimestamp(end))
				span.SetStatus(codes.Error, s.Err.Error())
			} else {
				span.SetStatus(codes.Error, s.Outcome.String())
			}
		}
	}
	span.End(trace.WithTimestamp(end))
}

// scopeName is the attribute of a scope name. Only a refused name can be
// longer than scoped.MaxNameLength or not UTF-8: it is cut, and its invalid
// bytes replaced.
func scopeName(name string) attribute.KeyValue {
	if len(name) > scoped.MaxNameLength {
		name = name[:scoped.MaxNameLength]
	}
	if !utf8.ValidString(name) {
		name = strings.ToValidUTF8(name, "\uFFFD")
	}
	return keyScope.String(name)
}
