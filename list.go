package scoped

import (
	"context"
	"fmt"
	"iter"
)

// List yields the name of every scope with a value whose name begins with
// prefix ("" for all), in no particular order, as the store lists them: a
// scope that keeps its value for the whole listing is yielded exactly once;
// one written, deleted or expiring meanwhile may be yielded or not, never
// twice. An error ends the listing and is yielded once, with an empty name.
// Close waits for listings in progress.
//
//	for name, err := range e.List(ctx, "cart:") {
//		if err != nil {
//			return err
//		}
//		fmt.Println(name)
//	}
func (e *Engine) List(ctx context.Context, prefix string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		if !e.enter() {
			yield("", ErrClosed)
			return
		}
		defer e.leave()
		for name, err := range e.store.List(ctx, prefix) {
			if err != nil {
				yield("", fmt.Errorf("scoped: listing the scopes beginning %q: %w", truncate(prefix), err))
				return
			}
			if !yield(name, nil) {
				return
			}
		}
	}
}
