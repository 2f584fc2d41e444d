package mysql_test

import (
	"database/sql"
	"testing"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/manytest"
	"github.com/scoped-go/scoped/internal/testenv"
)

// readCommitted returns a pool on the test server whose sessions run at
// READ COMMITTED, where SELECT ... FOR UPDATE locks no gap: the store must
// set REPEATABLE READ on its transactions.
func readCommitted(t *testing.T) *sql.DB {
	t.Helper()
	probe := testenv.MySQL(t)
	variable := "transaction_isolation" // MySQL 8, MariaDB 11.1 and later
	if err := probe.QueryRowContext(t.Context(), "SELECT @@transaction_isolation").Scan(new(string)); err != nil {
		variable = "tx_isolation"
	}
	cfg, err := mysqldriver.ParseDSN(testenv.MySQLDSN())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params[variable] = "'READ-COMMITTED'"
	connector, err := mysqldriver.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { db.Close() })
	bound(db)
	return db
}

// levels returns a store at the server's isolation level and one at READ
// COMMITTED.
func levels() []manytest.Level {
	return []manytest.Level{
		{Name: "default", Open: func(t *testing.T) scoped.Store { s, _, _ := newStore(t); return s }},
		{Name: "READ COMMITTED", Open: func(t *testing.T) scoped.Store { s, _ := newStoreOn(t, readCommitted(t)); return s }},
	}
}

// Two scopes written together in opposite orders: no call deadlocks, or it
// comes back not applied (see manytest.OppositeOrders).
func TestManyOppositeOrders(t *testing.T) {
	s, _, _ := newStore(t)
	manytest.OppositeOrders(t, s)
}

// Concurrent creates of the same two scopes: exactly one succeeds (see
// manytest.ConcurrentCreates).
func TestManyConcurrentCreates(t *testing.T) { manytest.ConcurrentCreates(t, levels()) }

// Crosswise checks of absence and creates: no write skew (see
// manytest.WriteSkew).
func TestManyWriteSkew(t *testing.T) { manytest.WriteSkew(t, levels()) }

// A CompareAndSetMany races a CompareAndSet (see
// manytest.RacesCompareAndSet).
func TestManyRacesCompareAndSet(t *testing.T) {
	s, _, _ := newStore(t)
	manytest.RacesCompareAndSet(t, s)
}
