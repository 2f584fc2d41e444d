package scopedotel_test

import (
	"context"
	"testing"
	"time"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/extra/scopedotel"
)

// oneCall runs the hooks as the engine does for an Update that loads and
// writes once.
func oneCall(ctx context.Context, h scoped.Hooks) {
	ctx = h.CallStart(ctx, "n", scoped.KindUpdate)
	h.StoreDone(ctx, scoped.StoreCallInfo{Scope: "n", Call: scoped.StoreLoad, Duration: time.Millisecond})
	h.StoreDone(ctx, scoped.StoreCallInfo{Scope: "n", Call: scoped.StoreCompareAndSet, Duration: time.Millisecond})
	h.CallDone(ctx, scoped.CallInfo{Scope: "n", Kind: scoped.KindUpdate, Attempts: 1, Batch: 1, Duration: 2 * time.Millisecond})
}

// The hooks' cost for one call: metrics alone, spans not sampled, spans
// sampled, and neither (noop providers).
func BenchmarkHooks(b *testing.B) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	for _, bc := range []struct {
		name string
		opts []scopedotel.Option
	}{
		{"noop", []scopedotel.Option{scopedotel.WithMeterProvider(metricnoop.NewMeterProvider()), scopedotel.WithTracerProvider(tracenoop.NewTracerProvider())}},
		{"metrics", []scopedotel.Option{scopedotel.WithMeterProvider(mp), scopedotel.WithTracerProvider(tracenoop.NewTracerProvider())}},
		{"metrics+unsampled", []scopedotel.Option{scopedotel.WithMeterProvider(mp), scopedotel.WithTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample())))}},
		{"metrics+spans", []scopedotel.Option{scopedotel.WithMeterProvider(mp), scopedotel.WithTracerProvider(sdktrace.NewTracerProvider())}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h, err := scopedotel.Hooks(bc.opts...)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				oneCall(ctx, h)
			}
		})
	}
}

// Recording a call's metrics makes no allocation of its own: with spans off,
// a call costs one, the context the noop tracer returns.
func TestAllocations(t *testing.T) {
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	h, err := scopedotel.Hooks(scopedotel.WithMeterProvider(mp), scopedotel.WithTracerProvider(tracenoop.NewTracerProvider()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	oneCall(ctx, h) // the first makes the series
	if n := testing.AllocsPerRun(100, func() { oneCall(ctx, h) }); n > 1 {
		t.Errorf("%v allocations per call; want at most 1", n)
	}
}
