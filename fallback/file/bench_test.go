//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package file_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/scoped-go/scoped"
)

// 64 goroutines commit to scopes of their own: each on a stripe of its own,
// on stripes spread as the hash spreads them, or all on one stripe. The
// commits per second show what sharing stripes costs.
func BenchmarkDistinctScopes(b *testing.B) {
	const goroutines = 64
	for _, sharing := range []struct {
		what  string
		names func(dir string) []string
	}{
		{"own stripes", func(string) []string { return scopesOnStripes(goroutines, distinct) }},
		{"hashed stripes", func(string) []string { return scopesOnStripes(goroutines, hashed) }},
		{"one stripe", func(string) []string { return scopesOnStripes(goroutines, same) }},
	} {
		b.Run(sharing.what, func(b *testing.B) {
			dir := b.TempDir()
			s := open(b, dir)
			names := sharing.names(dir)
			b.SetParallelism((goroutines + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			next := make(chan string, len(names))
			for _, n := range names {
				next <- n
			}
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				name := <-next
				var rec scoped.Record
				for pb.Next() {
					var ok bool
					var err error
					rec, ok, err = s.CompareAndSet(context.Background(), name, rec.Revision(), scoped.Write{Value: []byte("v"), Writer: scoped.NewToken()})
					if err != nil || !ok {
						b.Errorf("CompareAndSet(%q) = %v, %v", name, ok, err)
						return
					}
				}
			})
			elapsed := time.Since(start)
			b.StopTimer()
			var total uint64
			for _, n := range names {
				total += load(b, s, n).Version
			}
			if total != uint64(b.N) {
				b.Fatalf("%d versions written, %d commits made", total, b.N)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "commits/s")
		})
	}
}

// How scopesOnStripes picks stripes.
const (
	distinct = iota // a stripe of its own for every name
	hashed          // the first names of a list, whatever their stripes
	same            // one stripe for all
)

// scopesOnStripes returns n scope names, placed on stripes as placement
// says.
func scopesOnStripes(n, placement int) []string {
	var names []string
	used := map[int]bool{}
	for i := 0; len(names) < n; i++ {
		name := fmt.Sprintf("scope-%d", i)
		switch st := stripeOf(name); {
		case placement == distinct && used[st],
			placement == same && st != stripeOf("scope-0"):
			continue
		}
		used[stripeOf(name)] = true
		names = append(names, name)
	}
	// RunParallel may start more goroutines than asked: give them names too.
	for i := 0; len(names) < n+runtime.GOMAXPROCS(0); i++ {
		names = append(names, fmt.Sprintf("spare-%d", i))
	}
	return names
}
