package scopedotel_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/extra/scopedotel"
	"github.com/scoped-go/scoped/fallback/file"
)

// harness is an engine whose hooks record into in-memory providers.
type harness struct {
	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
	hooks  scoped.Hooks
}

func newHarness(t *testing.T, opts ...scopedotel.Option) *harness {
	t.Helper()
	h := &harness{reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(h.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(h.reader))
	t.Cleanup(func() {
		tp.Shutdown(context.Background())
		mp.Shutdown(context.Background())
	})
	hooks, err := scopedotel.Hooks(append([]scopedotel.Option{
		scopedotel.WithTracerProvider(tp), scopedotel.WithMeterProvider(mp),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	h.hooks = hooks
	return h
}

// engine returns an engine on store with the harness's hooks.
func (h *harness) engine(t *testing.T, store scoped.Store, opts ...scoped.Option) *scoped.Engine {
	t.Helper()
	e := scoped.New(store, append([]scoped.Option{scoped.WithHooks(h.hooks)}, opts...)...)
	t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

func newStore(t *testing.T) *file.Store {
	t.Helper()
	s, err := file.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// metrics collects the metrics recorded so far.
func (h *harness) metrics(t *testing.T) []metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := h.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var ms []metricdata.Metrics
	for _, sm := range rm.ScopeMetrics {
		ms = append(ms, sm.Metrics...)
	}
	return ms
}

func find(ms []metricdata.Metrics, name string) (metricdata.Metrics, bool) {
	for _, m := range ms {
		if m.Name == name {
			return m, true
		}
	}
	return metricdata.Metrics{}, false
}

// sums returns the points of the counter name, by their attributes.
func sums(t *testing.T, ms []metricdata.Metrics, name string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	m, ok := find(ms, name)
	if !ok {
		return out
	}
	sum, ok := m.Data.(metricdata.Sum[int64])
	if !ok || !sum.IsMonotonic {
		t.Fatalf("%s is a %T, want a monotonic Sum[int64]", name, m.Data)
	}
	for _, p := range sum.DataPoints {
		out[attrString(p.Attributes)] = p.Value
	}
	return out
}

// counts returns the count and the sum of the points of the histogram name,
// by their attributes.
func counts[N int64 | float64](t *testing.T, ms []metricdata.Metrics, name, unit string) map[string][2]float64 {
	t.Helper()
	out := map[string][2]float64{}
	m, ok := find(ms, name)
	if !ok {
		return out
	}
	if m.Unit != unit {
		t.Errorf("%s has unit %q, want %q", name, m.Unit, unit)
	}
	hist, ok := m.Data.(metricdata.Histogram[N])
	if !ok {
		t.Fatalf("%s is a %T, want a Histogram", name, m.Data)
	}
	for _, p := range hist.DataPoints {
		out[attrString(p.Attributes)] = [2]float64{float64(p.Count), float64(p.Sum)}
	}
	return out
}

// attrString writes a set of attributes as "key=value,..." in key order.
func attrString(s attribute.Set) string {
	var out string
	for _, kv := range s.ToSlice() {
		if out != "" {
			out += ","
		}
		out += string(kv.Key) + "=" + kv.Value.Emit()
	}
	return out
}

// noScopeName fails if any metric point has a scope name.
func noScopeName(t *testing.T, ms []metricdata.Metrics) {
	t.Helper()
	for _, m := range ms {
		var sets []attribute.Set
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			for _, p := range d.DataPoints {
				sets = append(sets, p.Attributes)
			}
		case metricdata.Histogram[int64]:
			for _, p := range d.DataPoints {
				sets = append(sets, p.Attributes)
			}
		case metricdata.Histogram[float64]:
			for _, p := range d.DataPoints {
				sets = append(sets, p.Attributes)
			}
		}
		for _, s := range sets {
			if s.HasValue("scoped.scope.name") {
				t.Errorf("metric %s has a scope name: %s", m.Name, attrString(s))
			}
		}
	}
}

// attr returns the value of key on span, or "" if it has none.
func attr(span sdktrace.ReadOnlySpan, key attribute.Key) string {
	for _, kv := range span.Attributes() {
		if kv.Key == key {
			return kv.Value.Emit()
		}
	}
	return ""
}

// tree is the spans ended so far: the call spans in the order they ended,
// and each one's children (its store spans) by the call span's id.
type tree struct {
	calls    []sdktrace.ReadOnlySpan
	children map[trace.SpanID][]sdktrace.ReadOnlySpan
}

func (h *harness) tree(t *testing.T) tree {
	t.Helper()
	tr := tree{children: map[trace.SpanID][]sdktrace.ReadOnlySpan{}}
	spans := h.spans.Ended()
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byID[s.SpanContext().SpanID()] = s
	}
	for _, s := range spans {
		switch {
		case !s.Parent().IsValid():
			tr.calls = append(tr.calls, s)
		case byID[s.Parent().SpanID()] == nil:
			t.Errorf("span %s has a parent that never ended", s.Name())
		default:
			parent := byID[s.Parent().SpanID()]
			if parent.SpanContext().TraceID() != s.SpanContext().TraceID() || s.SpanKind() != trace.SpanKindInternal {
				t.Errorf("store span %s: trace %s, kind %s; want its parent's trace %s, internal",
					s.Name(), s.SpanContext().TraceID(), s.SpanKind(), parent.SpanContext().TraceID())
			}
			if s.StartTime().Before(parent.StartTime()) || s.EndTime().Before(s.StartTime()) {
				t.Errorf("store span %s from %v to %v; its call began at %v", s.Name(), s.StartTime(), s.EndTime(), parent.StartTime())
			}
			tr.children[s.Parent().SpanID()] = append(tr.children[s.Parent().SpanID()], s)
		}
	}
	return tr
}

// names returns the names and outcomes of the store spans under call.
func (tr tree) names(call sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range tr.children[call.SpanContext().SpanID()] {
		out = append(out, s.Name()+":"+attr(s, "scoped.store.outcome"))
	}
	return out
}

func increment(n *int) (int, error) {
	*n++
	return *n, nil
}

// An Update, an Update on the cached record, and a Read: their counts, their
// durations, and a span each with its store calls as children.
func TestUpdateAndRead(t *testing.T) {
	h := newHarness(t)
	e := h.engine(t, newStore(t))
	ctx := t.Context()
	for range 2 {
		if _, err := scoped.Update(ctx, e, "visits", increment); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := scoped.Read[int](ctx, e, "visits"); n != 2 || err != nil {
		t.Fatalf("Read: %d, %v; want 2", n, err)
	}

	ms := h.metrics(t)
	wantSums := map[string]map[string]int64{
		"scoped.calls": {
			"scoped.call.kind=update,scoped.call.outcome=written": 2,
			"scoped.call.kind=read,scoped.call.outcome=unchanged": 1,
		},
		"scoped.store.calls": {
			"scoped.store.call=load,scoped.store.outcome=ok":            2,
			"scoped.store.call=compare_and_set,scoped.store.outcome=ok": 2,
		},
		"scoped.conflicts": {},
		"scoped.retries":   {},
	}
	for name, want := range wantSums {
		if got := sums(t, ms, name); !equal(got, want) {
			t.Errorf("%s: %v; want %v", name, got, want)
		}
	}
	durations := counts[float64](t, ms, "scoped.call.duration", "s")
	if len(durations) != 2 || durations["scoped.call.kind=update,scoped.call.outcome=written"][0] != 2 ||
		durations["scoped.call.kind=read,scoped.call.outcome=unchanged"][0] != 1 {
		t.Errorf("scoped.call.duration: %v; want 2 updates, 1 read", durations)
	}
	for k, v := range durations {
		if v[1] <= 0 || v[1] > 10 {
			t.Errorf("scoped.call.duration{%s} sums to %vs", k, v[1])
		}
	}
	if got := counts[int64](t, ms, "scoped.call.batch_size", "{call}"); !equal(got, map[string][2]float64{"scoped.call.kind=update": {2, 2}}) {
		t.Errorf("scoped.call.batch_size: %v; want 2 calls, each alone", got)
	}
	if got := counts[float64](t, ms, "scoped.store.duration", "s"); got["scoped.store.call=load,scoped.store.outcome=ok"][0] != 2 ||
		got["scoped.store.call=compare_and_set,scoped.store.outcome=ok"][0] != 2 {
		t.Errorf("scoped.store.duration: %v; want 2 loads, 2 writes", got)
	}
	noScopeName(t, ms)

	tr := h.tree(t)
	want := []struct {
		name, outcome string
		stores        []string
	}{
		{"scoped.update", "written", []string{"scoped.store.load:ok", "scoped.store.compare_and_set:ok"}},
		{"scoped.update", "written", []string{"scoped.store.compare_and_set:ok"}},
		{"scoped.read", "unchanged", []string{"scoped.store.load:ok"}},
	}
	if len(tr.calls) != len(want) {
		t.Fatalf("%d call spans; want %d", len(tr.calls), len(want))
	}
	for i, w := range want {
		c := tr.calls[i]
		if c.Name() != w.name || attr(c, "scoped.call.outcome") != w.outcome || c.SpanKind() != trace.SpanKindInternal ||
			c.Status().Code != codes.Unset || attr(c, "scoped.call.attempts") != map[bool]string{true: "1", false: "0"}[w.outcome == "written"] {
			t.Errorf("call span %d: %s %v, status %v; want %s, %s", i, c.Name(), c.Attributes(), c.Status(), w.name, w.outcome)
		}
		if got := tr.names(c); !slices.Equal(got, w.stores) {
			t.Errorf("call span %d (%s): store spans %v; want %v", i, c.Name(), got, w.stores)
		}
		if attr(c, "scoped.scope.name") != "" {
			t.Errorf("call span %d has the scope name, not asked for", i)
		}
		for _, s := range tr.children[c.SpanContext().SpanID()] {
			if attr(s, "scoped.scope.name") != "" {
				t.Errorf("store span %s has the scope name, not asked for", s.Name())
			}
		}
	}
}

func equal[V comparable](a, b map[string]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v != w {
			return false
		}
	}
	return true
}

// WithScopeNames puts the scope name on the spans, and never on metrics.
func TestScopeNames(t *testing.T) {
	h := newHarness(t, scopedotel.WithScopeNames(true))
	e := h.engine(t, newStore(t))
	if _, err := scoped.Update(t.Context(), e, "user:7", increment); err != nil {
		t.Fatal(err)
	}
	scoped.Read[int](t.Context(), e, "bad\x00name\xff") // refused: a NUL

	spans := h.spans.Ended()
	if len(spans) != 4 {
		t.Fatalf("%d spans; want 2 store spans and 2 call spans", len(spans))
	}
	for _, s := range spans[:3] {
		if got := attr(s, "scoped.scope.name"); got != "user:7" {
			t.Errorf("span %s: scope name %q; want user:7", s.Name(), got)
		}
	}
	refused := spans[3]
	if got := attr(refused, "scoped.scope.name"); got != "bad\x00name\uFFFD" || refused.Status().Code != codes.Error {
		t.Errorf("refused call's span: scope name %q, status %v; want the name made UTF-8, an error", got, refused.Status())
	}
	noScopeName(t, h.metrics(t))
}

// A call that loses a write to another engine on the same store counts a
// conflict and a retry, and its span shows both.
func TestConflict(t *testing.T) {
	h := newHarness(t)
	store := newStore(t)
	a, b := h.engine(t, store), h.engine(t, store)
	ctx := t.Context()
	for i, e := range []*scoped.Engine{a, b, a} { // a's second write is on a stale cached record
		if n, err := scoped.Update(ctx, e, "n", increment); n != i+1 || err != nil {
			t.Fatalf("update %d: %d, %v", i, n, err)
		}
	}

	ms := h.metrics(t)
	if got := sums(t, ms, "scoped.conflicts"); !equal(got, map[string]int64{"scoped.call.kind=update": 1}) {
		t.Errorf("scoped.conflicts: %v; want 1", got)
	}
	if got := sums(t, ms, "scoped.retries"); !equal(got, map[string]int64{"scoped.call.kind=update": 1}) {
		t.Errorf("scoped.retries: %v; want 1", got)
	}
	if got := sums(t, ms, "scoped.store.calls")["scoped.store.call=compare_and_set,scoped.store.outcome=conflict"]; got != 1 {
		t.Errorf("%d store conflicts; want 1", got)
	}
	if got := sums(t, ms, "scoped.calls"); !equal(got, map[string]int64{"scoped.call.kind=update,scoped.call.outcome=written": 3}) {
		t.Errorf("scoped.calls: %v", got)
	}

	tr := h.tree(t)
	last := tr.calls[len(tr.calls)-1]
	if attr(last, "scoped.call.attempts") != "2" || attr(last, "scoped.call.conflicts") != "1" || last.Status().Code != codes.Unset {
		t.Errorf("the call that conflicted: %v, status %v; want 2 attempts, 1 conflict, no error", last.Attributes(), last.Status())
	}
	want := []string{"scoped.store.compare_and_set:conflict", "scoped.store.compare_and_set:ok"}
	if got := tr.names(last); !slices.Equal(got, want) {
		t.Errorf("its store spans %v; want %v", got, want)
	}
	for _, s := range tr.children[last.SpanContext().SpanID()] {
		if s.Status().Code != codes.Unset {
			t.Errorf("store span %s has status %v: a conflict is no error", s.Name(), s.Status())
		}
	}
}

// A handler's error fails the call: its span has the error.
func TestHandlerError(t *testing.T) {
	h := newHarness(t)
	e := h.engine(t, newStore(t))
	errNo := errors.New("no")
	if _, err := scoped.Update(t.Context(), e, "n", func(*int) (int, error) { return 0, errNo }); err != errNo {
		t.Fatalf("Update: %v; want the handler's error", err)
	}
	if got := sums(t, h.metrics(t), "scoped.calls"); !equal(got, map[string]int64{"scoped.call.kind=update,scoped.call.outcome=failed": 1}) {
		t.Errorf("scoped.calls: %v; want one failed update", got)
	}
	tr := h.tree(t)
	if len(tr.calls) != 1 {
		t.Fatalf("%d call spans; want 1", len(tr.calls))
	}
	c := tr.calls[0]
	if c.Status() != (sdktrace.Status{Code: codes.Error, Description: "no"}) || attr(c, "scoped.call.outcome") != "failed" {
		t.Errorf("span of a failed call: status %v, %v; want Error \"no\", failed", c.Status(), c.Attributes())
	}
	if len(c.Events()) != 1 || c.Events()[0].Name != "exception" {
		t.Errorf("span events %v; want the error recorded", c.Events())
	}
	if got := tr.names(c); !slices.Equal(got, []string{"scoped.store.load:ok"}) {
		t.Errorf("store spans %v; want the load", got)
	}
}

// faulty fails every compare-and-set with err, writing nothing.
type faulty struct {
	scoped.Store
	err error
}

func (f faulty) CompareAndSet(context.Context, string, scoped.Revision, scoped.Write) (scoped.Record, bool, error) {
	return scoped.Record{}, false, f.err
}

// A store that refuses writes, or fails them for good: the calls are not
// applied, or their outcome unknown, and their spans and store spans say so.
func TestStoreErrors(t *testing.T) {
	for _, tc := range []struct {
		err          error
		outcome      string
		storeOutcome string
	}{
		{scoped.NotApplied(errors.New("refused")), "not_applied", "not_applied"},
		{errors.New("connection reset"), "unknown", "error"},
	} {
		t.Run(tc.outcome, func(t *testing.T) {
			h := newHarness(t)
			e := h.engine(t, faulty{newStore(t), tc.err}, scoped.WithMaxAttempts(2), scoped.WithBackoff(0, 0))
			if _, err := scoped.Update(t.Context(), e, "n", increment); err == nil {
				t.Fatal("Update succeeded on a store that fails every write")
			}
			if got := sums(t, h.metrics(t), "scoped.calls"); !equal(got, map[string]int64{"scoped.call.kind=update,scoped.call.outcome=" + tc.outcome: 1}) {
				t.Errorf("scoped.calls: %v; want one, %s", got, tc.outcome)
			}
			got := sums(t, h.metrics(t), "scoped.store.calls")
			if got["scoped.store.call=compare_and_set,scoped.store.outcome="+tc.storeOutcome] == 0 {
				t.Errorf("scoped.store.calls: %v; want writes that were %s", got, tc.storeOutcome)
			}
			tr := h.tree(t)
			c := tr.calls[0]
			if c.Status().Code != codes.Error || attr(c, "scoped.call.outcome") != tc.outcome {
				t.Errorf("call span: status %v, %v", c.Status(), c.Attributes())
			}
			for _, s := range tr.children[c.SpanContext().SpanID()] {
				if s.Name() == "scoped.store.compare_and_set" && s.Status().Code != codes.Error {
					t.Errorf("store span %s: status %v; want an error", s.Name(), s.Status())
				}
			}
		})
	}
}

// gate holds the first compare-and-set until released.
type gate struct {
	scoped.Store
	writes  atomic.Int32
	release chan struct{}
}

func (g *gate) CompareAndSet(ctx context.Context, name string, expected scoped.Revision, next scoped.Write) (scoped.Record, bool, error) {
	if g.writes.Add(1) == 1 {
		<-g.release
	}
	return g.Store.CompareAndSet(ctx, name, expected, next)
}

// Calls committed together by one write: only the first of them has that
// write's span as a child; every one says how many shared it.
func TestBatch(t *testing.T) {
	h := newHarness(t)
	g := &gate{Store: newStore(t), release: make(chan struct{})}
	e := h.engine(t, g)
	var wg sync.WaitGroup
	call := func() {
		calls := e.Stats().Calls
		wg.Go(func() {
			if _, err := scoped.Update(context.Background(), e, "n", increment); err != nil {
				t.Error(err)
			}
		})
		waitFor(t, func() bool { return e.Stats().Calls > calls })
	}
	call()
	waitFor(t, func() bool { return g.writes.Load() == 1 })
	const queued = 5
	for range queued {
		call()
	}
	close(g.release)
	wg.Wait()

	ms := h.metrics(t)
	if got := counts[int64](t, ms, "scoped.call.batch_size", "{call}"); !equal(got, map[string][2]float64{"scoped.call.kind=update": {1 + queued, 1 + queued*queued}}) {
		t.Errorf("scoped.call.batch_size: %v; want one call alone, then %d together", got, queued)
	}
	if got := sums(t, ms, "scoped.store.calls")["scoped.store.call=compare_and_set,scoped.store.outcome=ok"]; got != 2 {
		t.Errorf("%d writes; want 2", got)
	}

	tr := h.tree(t)
	var alone, first, others int
	for _, c := range tr.calls {
		writes := 0
		for _, s := range tr.children[c.SpanContext().SpanID()] {
			if s.Name() == "scoped.store.compare_and_set" {
				writes++
			}
		}
		switch batch := attr(c, "scoped.call.batch_size"); {
		case batch == "1" && writes == 1:
			alone++
		case batch == "5" && writes == 1:
			first++
		case batch == "5" && writes == 0:
			others++
		default:
			t.Errorf("call span with batch size %s and %d write spans", batch, writes)
		}
	}
	if alone != 1 || first != 1 || others != queued-1 {
		t.Errorf("%d call alone, %d first of the batch with the write's span, %d others; want 1, 1, %d", alone, first, others, queued-1)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting")
		}
	}
}

// WithAttributes adds its attributes to every metric and span.
func TestWithAttributes(t *testing.T) {
	h := newHarness(t, scopedotel.WithAttributes(attribute.String("scoped.store", "file")))
	e := h.engine(t, newStore(t))
	scoped.Update(t.Context(), e, "n", increment)
	ms := h.metrics(t)
	if got := sums(t, ms, "scoped.calls"); !equal(got, map[string]int64{"scoped.call.kind=update,scoped.call.outcome=written,scoped.store=file": 1}) {
		t.Errorf("scoped.calls: %v", got)
	}
	if got := sums(t, ms, "scoped.store.calls"); got["scoped.store=file,scoped.store.call=load,scoped.store.outcome=ok"] != 1 {
		t.Errorf("scoped.store.calls: %v", got)
	}
	for _, s := range h.spans.Ended() {
		if attr(s, "scoped.store") != "file" {
			t.Errorf("span %s lacks the attribute: %v", s.Name(), s.Attributes())
		}
	}
}
