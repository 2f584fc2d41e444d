package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/extra/scopedotel"
)

// metrics records the engine's calls through an OpenTelemetry meter provider
// and serves them, with the Go runtime's and the process's metrics, from a
// Prometheus registry of its own (no global provider or registry).
type metrics struct {
	hooks    scoped.Hooks             // for scoped.WithHooks
	handler  http.Handler             // GET /metrics, in Prometheus's text format
	provider *sdkmetric.MeterProvider // Shutdown once the engine is closed
}

// newMetrics returns the counter's metrics: scopedotel's (scoped_calls_total
// and the rest, without scope names), go_* and process_*.
func newMetrics() (*metrics, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, fmt.Errorf("the Prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	hooks, err := scopedotel.Hooks(scopedotel.WithMeterProvider(mp), scopedotel.WithTracerProvider(tracenoop.NewTracerProvider()))
	if err != nil {
		mp.Shutdown(context.Background())
		return nil, fmt.Errorf("the engine's metrics: %w", err)
	}
	return &metrics{hooks: hooks, handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), provider: mp}, nil
}
