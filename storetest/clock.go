package storetest

import (
	"sync"
	"testing"
	"time"
)

// Clock is the time of a store under test: the suite reads it to set
// expiry times and moves it with Advance. It starts frozen at the time it
// was made. A backend whose store takes a clock gives it Now. One whose
// server keeps its own time calls Follow (miniredis: its FastForward) or,
// when nothing can move that time, RealTime, and Advance then sleeps.
type Clock struct {
	mu     sync.Mutex
	base   time.Time
	offset time.Duration
	follow func(time.Duration) // set by Follow
	sleeps bool                // set by RealTime: Advance sleeps
}

func newClock() *Clock { return &Clock{base: time.Now()} }

// Now returns the current time of the store.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.follow != nil || c.sleeps {
		return time.Now()
	}
	return c.base.Add(c.offset)
}

// Follow says that the store keeps real time, moved forward by advance
// (miniredis's FastForward): Now is then the real time, and Advance calls
// advance.
func (c *Clock) Follow(advance func(time.Duration)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.follow = advance
}

// RealTime says that the store keeps real time that nothing moves (a real
// Redis server): Now is then the real time, and Advance sleeps.
func (c *Clock) RealTime() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = true
}

// Advance moves the store's time forward by d.
func (c *Clock) Advance(t *testing.T, d time.Duration) {
	t.Helper()
	c.mu.Lock()
	follow, sleeps := c.follow, c.sleeps
	if follow == nil && !sleeps {
		c.offset += d
	}
	c.mu.Unlock()
	switch {
	case follow != nil:
		follow(d)
	case sleeps:
		time.Sleep(d)
	}
}

// in returns the expiry time d from now, to the millisecond as stores keep it.
func (c *Clock) in(d time.Duration) time.Time { return time.UnixMilli(c.Now().Add(d).UnixMilli()) }
