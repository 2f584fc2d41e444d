package scopedotel

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// Option changes what Hooks records, or where.
type Option func(*config)

type config struct {
	mp    metric.MeterProvider
	tp    trace.TracerProvider
	names bool
	attrs []attribute.KeyValue
}

func newConfig(opts []Option) config {
	c := config{mp: otel.GetMeterProvider(), tp: otel.GetTracerProvider()}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithMeterProvider sets the provider of the meter that records the
// metrics. The default is the global one, otel.GetMeterProvider(); a
// noop.NewMeterProvider() turns metrics off.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) {
		if mp != nil {
			c.mp = mp
		}
	}
}

// WithTracerProvider sets the provider of the tracer that records the
// spans. The default is the global one, otel.GetTracerProvider(); a
// noop.NewTracerProvider() turns spans off.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) {
		if tp != nil {
			c.tp = tp
		}
	}
}

// WithScopeNames, if on, records each call's scope name on its span and on
// its store calls' spans, as the attribute scoped.scope.name. It is off by
// default: a scope name can hold user data (an account, an e-mail
// address). Scope names are never metric attributes, whatever this option
// says: there would be one series per scope.
func WithScopeNames(on bool) Option {
	return func(c *config) { c.names = on }
}

// WithAttributes adds attrs to every metric and span recorded, for example
// to tell two engines apart: WithAttributes(attribute.String("scoped.store",
// "redis")). Each adds a dimension to every metric: keep them few and
// their values bounded.
func WithAttributes(attrs ...attribute.KeyValue) Option {
	return func(c *config) { c.attrs = append(c.attrs, attrs...) }
}
