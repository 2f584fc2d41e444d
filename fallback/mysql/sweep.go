package mysql

import (
	"context"
	"fmt"

	"github.com/scoped-go/scoped"
)

// Sweep implements scoped.Sweeper with one DELETE of at most limit rows
// expired by the store's clock, the earliest first, on the index of
// expires_at. The condition is checked on each row as the statement locks
// it, so a row written again meanwhile, with a later expiry or none, is
// left. Limit zero or less removes nothing and sends nothing.
func (s *Store) Sweep(ctx context.Context, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, scoped.NotApplied(fmt.Errorf("scoped/mysql: sweep: %w", err))
	}
	if limit <= 0 {
		return 0, nil
	}
	st, err := s.acquire(ctx)
	if err != nil {
		return 0, scoped.NotApplied(err)
	}
	defer st.release()
	res, err := st.sweep.ExecContext(ctx, s.nowMilli(), limit)
	if err != nil {
		return 0, classify(fmt.Errorf("scoped/mysql: sweep: %w", err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("scoped/mysql: sweep: %w", err)
	}
	return int(n), nil
}
