package main

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape returns the metric families that GET url answers, after checking
// that they come in Prometheus's text format.
func scrape(t *testing.T, c *http.Client, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if f := expfmt.ResponseFormat(resp.Header); f.FormatType() != expfmt.TypeTextPlain {
		t.Fatalf("Content-Type %q, want Prometheus's text format", resp.Header.Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing the metrics: %v", err)
	}
	return families
}

// sum returns the sum of the series of the counter name whose labels
// include labels; 0 if there are none.
func sum(t *testing.T, families map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	f, ok := families[name]
	if !ok {
		return 0
	}
	if f.GetType() != dto.MetricType_COUNTER {
		t.Fatalf("%s is a %s, want a counter", name, f.GetType())
	}
	var n float64
series:
	for _, m := range f.GetMetric() {
		for k, v := range labels {
			if !hasLabel(m, k, v) {
				continue series
			}
		}
		n += m.GetCounter().GetValue()
	}
	return n
}

// hasLabel says whether m has the label k="v".
func hasLabel(m *dto.Metric, k, v string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == k && l.GetValue() == v {
			return true
		}
	}
	return false
}

// TestMetricsCountCalls scrapes /metrics before and after concurrent
// requests: scoped_calls_total grew by the number of requests, all written
// runs, and no label holds a scope name.
func TestMetricsCountCalls(t *testing.T) {
	_, srv := newCounter(t, "p/")
	url := srv.URL + "/metrics"
	before := scrape(t, srv.Client(), url)

	const clients, each = 4, 25
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			target := srv.URL + "/"
			if c%2 == 1 {
				target += "?user=metrics-user"
			}
			for range each {
				if _, err := get(t.Context(), srv.Client(), target); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	after := scrape(t, srv.Client(), url)

	const name = "scoped_calls_total"
	written := map[string]string{"scoped_call_kind": "run", "scoped_call_outcome": "written"}
	if d := sum(t, after, name, written) - sum(t, before, name, written); d != clients*each {
		t.Errorf("%s with the labels %v grew by %v over %d requests", name, written, d, clients*each)
	}
	// The scrapes themselves called the engine for nothing.
	if d := sum(t, after, name, nil) - sum(t, before, name, nil); d != clients*each {
		t.Errorf("%s grew by %v over %d requests", name, d, clients*each)
	}
	for _, want := range []string{"scoped_store_calls_total", "scoped_call_duration_seconds", "go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := after[want]; !ok {
			t.Errorf("no %s", want)
		}
	}
	for _, f := range after {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if v := l.GetValue(); strings.Contains(v, "metrics-user") || strings.Contains(v, "global") {
					t.Errorf("%s has the label %s=%q: a scope name", f.GetName(), l.GetName(), v)
				}
			}
		}
	}
}
