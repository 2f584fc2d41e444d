package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// incrementFunc makes one increment on behalf of worker w (0-based): the
// unit of work every benchmark times.
type incrementFunc func(ctx context.Context, w int) error

// crew is a set of worker goroutines, each with its share of the
// increments, that wait for one signal to start together, so that setting
// them up stays out of the measurement.
type crew struct {
	start  chan struct{}
	wg     sync.WaitGroup
	cancel context.CancelFunc
	shares []int
	done   []int       // increments made by each worker
	errs   []error     // the error that stopped each worker
	lat    []histogram // latencies of each worker
}

// newCrew starts one goroutine per share, each waiting to make its share of
// increments with inc. The first error cancels the other workers.
func newCrew(ctx context.Context, shares []int, inc incrementFunc) *crew {
	ctx, cancel := context.WithCancel(ctx)
	c := &crew{
		start:  make(chan struct{}),
		cancel: cancel,
		shares: shares,
		done:   make([]int, len(shares)),
		errs:   make([]error, len(shares)),
		lat:    make([]histogram, len(shares)),
	}
	for w := range shares {
		c.wg.Go(func() { c.work(ctx, w, inc) })
	}
	return c
}

func (c *crew) work(ctx context.Context, w int, inc incrementFunc) {
	<-c.start
	h := &c.lat[w]
	for range c.shares[w] {
		t0 := time.Now()
		if err := inc(ctx, w); err != nil {
			c.errs[w] = fmt.Errorf("worker %d, increment %d: %w", w, c.done[w]+1, err)
			c.cancel()
			return
		}
		h.record(time.Since(t0))
		c.done[w]++
	}
}

// run releases the workers and waits until all have finished. It returns
// the errors that stopped any of them.
func (c *crew) run() error {
	close(c.start)
	c.wg.Wait()
	c.cancel()
	return errors.Join(c.errs...)
}

// ops returns the number of increments made.
func (c *crew) ops() int {
	n := 0
	for _, d := range c.done {
		n += d
	}
	return n
}

// latency returns the latencies of all workers.
func (c *crew) latency() *histogram {
	var h histogram
	for i := range c.lat {
		h.merge(&c.lat[i])
	}
	return &h
}

// split divides n into k shares that differ by at most one.
func split(n, k int) []int {
	s := make([]int, k)
	for i := range s {
		s[i] = n / k
		if i < n%k {
			s[i]++
		}
	}
	return s
}
