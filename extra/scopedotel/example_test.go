package scopedotel_test

import (
	"context"
	"fmt"
	"os"
	"slices"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/extra/scopedotel"
	"github.com/scoped-go/scoped/fallback/file"
)

// An engine whose calls are metrics and spans. A program passes no provider,
// and gets the global ones its OpenTelemetry setup made; here in-memory
// ones, to print what was recorded: a span per call, with its store calls
// as children, and the calls counted by kind and outcome.
func ExampleHooks() {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))

	hooks, err := scopedotel.Hooks(scopedotel.WithTracerProvider(tp), scopedotel.WithMeterProvider(mp))
	if err != nil {
		panic(err)
	}
	dir, err := os.MkdirTemp("", "scopedotel")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	store, err := file.Open(dir)
	if err != nil {
		panic(err)
	}
	e := scoped.New(store, scoped.WithHooks(hooks))
	defer e.Close(context.Background())

	ctx := context.Background()
	scoped.Update(ctx, e, "visits", func(n *int) (int, error) { *n++; return *n, nil })
	scoped.Read[int](ctx, e, "visits")

	for _, s := range spans.Ended() { // children end first
		if s.Parent().IsValid() {
			fmt.Print("  ")
		}
		fmt.Println(s.Name())
	}
	var rm metricdata.ResourceMetrics
	reader.Collect(ctx, &rm)
	var lines []string
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if m.Name == "scoped.calls" {
			for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
				kind, _ := p.Attributes.Value("scoped.call.kind")
				outcome, _ := p.Attributes.Value("scoped.call.outcome")
				lines = append(lines, fmt.Sprintf("scoped.calls{%s, %s} %d", kind.Emit(), outcome.Emit(), p.Value))
			}
		}
	}
	slices.Sort(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	//   scoped.store.load
	//   scoped.store.compare_and_set
	// scoped.update
	//   scoped.store.load
	// scoped.read
	// scoped.calls{read, unchanged} 1
	// scoped.calls{update, written} 1
}
