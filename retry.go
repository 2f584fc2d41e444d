package scoped

import (
	"context"
	"math/rand/v2"
	"time"
)

// backoff waits a random duration below min(max, base·2^(n-1)) (n ≥ 1), so
// that writers that collided spread out. It returns early with the
// context's error.
func (o *options) backoff(ctx context.Context, n int) error {
	ceiling := o.backoffMax
	if n <= 32 && o.backoffBase<<(n-1) < ceiling && o.backoffBase<<(n-1) > 0 {
		ceiling = o.backoffBase << (n - 1)
	}
	if o.backoffBase <= 0 || ceiling <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(rand.N(ceiling))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
