package scoped

import (
	"context"
	"sync"
	"sync/atomic"
)

// lifecycle counts the engine's calls and committers, so that Close can
// refuse new calls and wait for the rest.
type lifecycle struct {
	closed   atomic.Bool
	active   atomic.Int64  // calls in progress and committers running
	idle     chan struct{} // closed once closed and nothing is active
	idleOnce sync.Once
}

// enter counts a new call. It returns false, counting nothing, once the
// engine is closed.
func (l *lifecycle) enter() bool {
	l.active.Add(1)
	if l.closed.Load() {
		l.leave()
		return false
	}
	return true
}

// hold counts a committer, which serves calls already counted: it is
// counted even after Close.
func (l *lifecycle) hold() { l.active.Add(1) }

// leave ends what enter or hold counted.
func (l *lifecycle) leave() {
	if l.active.Add(-1) == 0 && l.closed.Load() {
		l.idleOnce.Do(func() { close(l.idle) })
	}
}

// Close stops the engine: calls made after it fail with ErrClosed at once.
// It waits for the calls in progress to return, and for every batch of
// writes the engine has in flight to end, including those whose callers
// gave up waiting, or until ctx ends, and then returns ctx's error. A
// handler that never returns keeps Close waiting until ctx ends. Close may
// be called more than once.
func (e *Engine) Close(ctx context.Context) error {
	e.closed.Store(true)
	if e.active.Load() == 0 {
		e.idleOnce.Do(func() { close(e.idle) })
	}
	select {
	case <-e.idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
