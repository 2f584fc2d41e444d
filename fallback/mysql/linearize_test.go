package mysql_test

import (
	"testing"

	"github.com/scoped-go/scoped/internal/linearize"
	"github.com/scoped-go/scoped/internal/testenv"
)

// Three engines on one store, in a table of its own on a pool of four
// connections: the history is linearizable.
func TestLinearizable(t *testing.T) {
	db := testenv.MySQL(t)
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	s, _ := newStoreOn(t, db)
	linearize.Check(t, linearize.Engines(t, s, s, s), linearize.DefaultWorkload(31))
}
