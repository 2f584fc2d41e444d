package bench

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		n, k int
		want []int
	}{
		{0, 3, []int{0, 0, 0}},
		{1, 4, []int{1, 0, 0, 0}},
		{10, 3, []int{4, 3, 3}},
		{64, 64, slices.Repeat([]int{1}, 64)},
	}
	for _, tt := range tests {
		if got := split(tt.n, tt.k); !slices.Equal(got, tt.want) {
			t.Errorf("split(%d, %d) = %v, want %v", tt.n, tt.k, got, tt.want)
		}
	}
}

// A crew makes exactly its shares, records one latency per increment, and
// starts nothing before run.
func TestCrewRunsShares(t *testing.T) {
	var calls atomic.Int64
	shares := split(1000, 7)
	c := newCrew(t.Context(), shares, func(context.Context, int) error {
		calls.Add(1)
		return nil
	})
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d increments before run", n)
	}
	if err := c.run(); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1000 || c.ops() != 1000 || c.latency().total != 1000 {
		t.Fatalf("calls %d, ops %d, latencies %d; want 1000 each", calls.Load(), c.ops(), c.latency().total)
	}
}

// A failing increment stops its worker, cancels the others and is returned.
func TestCrewStopsOnError(t *testing.T) {
	boom := errors.New("boom")
	c := newCrew(t.Context(), []int{5, 1 << 30}, func(ctx context.Context, w int) error {
		if w == 0 {
			return boom
		}
		return ctx.Err()
	})
	err := c.run()
	if !errors.Is(err, boom) || !errors.Is(err, context.Canceled) {
		t.Fatalf("run = %v, want boom and the cancellation it caused", err)
	}
	if c.ops() >= 1<<30 {
		t.Fatalf("the other worker was not stopped")
	}
}
