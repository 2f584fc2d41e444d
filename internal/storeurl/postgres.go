package storeurl

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scoped-go/scoped/fallback/postgres"
)

// openPostgres opens a postgres:// or postgresql:// target with a pool of at
// most pool connections, and creates the table if missing, within ctx and
// at most 10 seconds.
func openPostgres(ctx context.Context, target string, pool int) (*Opened, error) {
	if pool < 1 {
		return nil, invalid(fmt.Errorf("postgres pool of %d connections: want at least 1", pool))
	}
	cfg, err := pgxpool.ParseConfig(target)
	if err != nil {
		return nil, invalid(err)
	}
	cfg.MaxConns = int32(min(pool, math.MaxInt32))
	where := fmt.Sprintf("PostgreSQL at %s:%d, database %s, table %s, pool of %d",
		cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, postgres.DefaultTable, pool)
	db, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	s, err := postgres.New(db)
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = s.CreateTable(ctx)
		cancel()
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return &Opened{s, where, db.Close}, nil
}
