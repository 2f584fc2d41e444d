package postgres

import (
	"context"
	"fmt"

	"github.com/scoped-go/scoped"
)

// Sweep implements scoped.Sweeper with one DELETE of at most limit rows
// expired by the store's clock, the earliest first, on the index of
// expires_at (see sweepStatement). A row written again meanwhile, with a
// later expiry or none, is left, and so is one that another transaction
// holds locked: the next Sweep takes it. Limit zero or less removes nothing
// and sends nothing.
func (s *Store) Sweep(ctx context.Context, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, scoped.NotApplied(fmt.Errorf("scoped/postgres: sweep: %w", err))
	}
	if limit <= 0 {
		return 0, nil
	}
	conn, err := s.acquire(ctx, s.sql.sweep)
	if err != nil {
		return 0, fmt.Errorf("scoped/postgres: sweep: %w", err)
	}
	defer conn.Release()
	tag, err := conn.Exec(ctx, s.sql.sweep, s.nowMilli(), int64(limit))
	if err != nil {
		return 0, fmt.Errorf("scoped/postgres: sweep: %w", classify(err))
	}
	return int(tag.RowsAffected()), nil
}
