package bench

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/scoped-go/scoped"
)

// The contention dimension: every worker on one scope, or each on its own.
const (
	hot      = "hot"
	perScope = "per-scope"
)

var (
	contentions = []string{hot, perScope}
	goroutines  = []int{1, 8, 64}
)

// hotScope is the scope every worker increments under hot contention.
const hotScope = "counter"

// scopeOf returns the scope worker w increments.
func scopeOf(contention string, w int) string {
	if contention == hot {
		return hotScope
	}
	return "counter-" + strconv.Itoa(w)
}

// increment is the handler every benchmark runs: one more on a msgpack
// counter.
func increment(n *int) (struct{}, error) {
	*n++
	return struct{}{}, nil
}

// engineIncrement returns an incrementFunc that increments, through e, the
// scopes named by scopes (one per worker).
func engineIncrement(e *scoped.Engine, scopes []string) incrementFunc {
	return func(ctx context.Context, w int) error {
		_, err := scoped.Update(ctx, e, scopes[w], increment)
		return err
	}
}

// BenchmarkIncrement increments a msgpack counter through one engine from g
// goroutines, on every backend, all on one scope (hot) or each on its own
// (per-scope). Then, at 64 goroutines only, on a private Redis primary with
// one replica, without and with redisstore.WithReplicas (replicaBackends).
func BenchmarkIncrement(b *testing.B) {
	for _, be := range backends() {
		benchBackend(b, be, goroutines)
	}
	for _, be := range replicaBackends(b) {
		benchBackend(b, be, []int{replicaGoroutines})
	}
}

// benchBackend runs the rows of one backend, at each of gs goroutines.
func benchBackend(b *testing.B, be backend, gs []int) {
	b.Run(be.name, func(b *testing.B) {
		for _, contention := range contentions {
			b.Run(contention, func(b *testing.B) {
				for _, g := range gs {
					b.Run(fmt.Sprintf("g%d", g), func(b *testing.B) {
						benchIncrement(b, be, contention, g)
					})
				}
			})
		}
	})
}

func benchIncrement(b *testing.B, be backend, contention string, g int) {
	b.ReportAllocs()
	ctx := b.Context()
	store, requests := be.open(b, be.namespace(b))
	e := scoped.New(store)
	scopes := make([]string, g)
	for w := range scopes {
		scopes[w] = scopeOf(contention, w)
	}
	c := newCrew(ctx, split(b.N, g), engineIncrement(e, scopes))
	b.ResetTimer()
	sent := requests.count()
	err := c.run()
	sent = requests.count() - sent
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	st := e.Stats()
	verifyCounters(b, e, contention, c.shares)
	reportEngineMetrics(b, c.latency(), st)
	if requests != nil {
		reportRequests(b, sent)
	}
}

// verifyCounters fails b unless every scope holds the increments made on
// it, given the share of each worker.
func verifyCounters(b *testing.B, e *scoped.Engine, contention string, shares []int) {
	b.Helper()
	want := map[string]int{}
	for w, n := range shares {
		want[scopeOf(contention, w)] += n
	}
	for scope, n := range want {
		got, err := scoped.Read[int](b.Context(), e, scope)
		if err != nil {
			b.Fatalf("reading %s back: %v", scope, err)
		}
		if got != n {
			b.Fatalf("counter %s = %d after %d increments", scope, got, n)
		}
	}
}
