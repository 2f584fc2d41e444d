package postgres_test

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scoped-go/scoped/internal/linearize"
	"github.com/scoped-go/scoped/internal/testenv"
)

// Three engines on one store, in a table of its own on a pool of four
// connections: the history is linearizable.
func TestLinearizable(t *testing.T) {
	pool := testenv.Postgres(t, func(c *pgxpool.Config) { c.MaxConns = 4 })
	s, _ := newStoreOn(t, pool)
	linearize.Check(t, linearize.Engines(t, s, s, s), linearize.DefaultWorkload(41))
}
