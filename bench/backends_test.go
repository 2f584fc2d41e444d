package bench

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/fallback/file"
	"github.com/scoped-go/scoped/fallback/mysql"
	"github.com/scoped-go/scoped/fallback/postgres"
	"github.com/scoped-go/scoped/internal/testenv"
	"github.com/scoped-go/scoped/redisstore"
)

// backend is a Store implementation under benchmark. Adding one is adding
// an entry to backends.
type backend struct {
	name string
	// namespace makes a new, empty namespace on the backend (a key prefix,
	// a directory, a table), removed at tb's cleanup, and returns its name.
	namespace func(tb testing.TB) string
	// open returns a store on the namespace ns, released at tb's cleanup,
	// and a counter of the network requests it sends, or nil if they are
	// not counted. Several stores, in several processes, may share one
	// namespace.
	open func(tb testing.TB, ns string) (scoped.Store, *requestCounter)
}

// backends returns every backend the benchmarks run on.
func backends() []backend {
	return []backend{
		{name: "redis", namespace: redisNamespace, open: openRedis},
		{name: "file", namespace: fileNamespace, open: openFile},
		{name: "mysql", namespace: mysqlNamespace, open: openMySQL},
		{name: "postgres", namespace: postgresNamespace, open: openPostgres},
	}
}

// backendNamed returns the backend called name.
func backendNamed(name string) (backend, bool) {
	for _, be := range backends() {
		if be.name == name {
			return be, true
		}
	}
	return backend{}, false
}

// redisNamespace returns a key prefix of its own on the test Redis, whose
// keys are deleted at cleanup.
func redisNamespace(tb testing.TB) string {
	c := testenv.Redis(tb)
	prefix := testenv.UniqueName("scopedbench:") + ":"
	tb.Cleanup(func() { testenv.DeleteKeys(tb, c, prefix+"*") })
	return prefix
}

// openRedis returns a store on the test Redis with its own client, keeping
// its keys under the prefix ns.
func openRedis(tb testing.TB, ns string) (scoped.Store, *requestCounter) {
	c := testenv.Redis(tb)
	rc := new(requestCounter)
	c.AddHook(rc)
	return redisstore.New(c, redisstore.WithPrefix(ns)), rc
}

// fileNamespace returns a new directory, removed at cleanup.
func fileNamespace(tb testing.TB) string { return tb.TempDir() }

// openFile returns a store over the directory ns. It sends no requests.
func openFile(tb testing.TB, ns string) (scoped.Store, *requestCounter) {
	s, err := file.Open(ns)
	if err != nil {
		tb.Fatalf("file.Open(%q): %v", ns, err)
	}
	return s, nil
}

// mysqlIdleConns is how many idle connections a MySQL pool keeps: enough
// for every goroutine of a benchmark, where database/sql's default of 2
// would reconnect (and prepare the statements again) for most calls.
const mysqlIdleConns = 64

// mysqlNamespace returns a new table on the test MySQL, dropped at cleanup.
func mysqlNamespace(tb testing.TB) string {
	db := testenv.MySQL(tb)
	table := testenv.UniqueName("scopedbench_")
	s, err := mysql.New(db, mysql.WithTable(table))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("closing the store of table %s: %v", table, err)
		}
		if _, err := db.ExecContext(context.Background(), "DROP TABLE IF EXISTS `"+table+"`"); err != nil {
			tb.Errorf("dropping table %s: %v", table, err)
		}
	})
	if err := s.CreateTable(context.Background()); err != nil {
		tb.Fatalf("creating table %s: %v", table, err)
	}
	return table
}

// openMySQL returns a store on the table ns with a pool of its own. Its
// requests are not counted.
func openMySQL(tb testing.TB, ns string) (scoped.Store, *requestCounter) {
	db := testenv.MySQL(tb)
	db.SetMaxIdleConns(mysqlIdleConns)
	s, err := mysql.New(db, mysql.WithTable(ns))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("closing the store of table %s: %v", ns, err)
		}
	})
	return s, nil
}

// postgresMaxConns bounds the pool of a PostgreSQL store: the server is
// shared, and on a small machine more backends than this only take turns.
// Calls beyond it wait in the pool.
const postgresMaxConns = 16

// postgresNamespace returns a new table on the test PostgreSQL, dropped at
// cleanup.
func postgresNamespace(tb testing.TB) string {
	pool := testenv.Postgres(tb, func(c *pgxpool.Config) { c.MaxConns = 1 })
	table := testenv.UniqueName("scopedbench_")
	s, err := postgres.New(pool, postgres.WithTable(table))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), `DROP TABLE IF EXISTS "`+table+`"`); err != nil {
			tb.Errorf("dropping table %s: %v", table, err)
		}
	})
	if err := s.CreateTable(context.Background()); err != nil {
		tb.Fatalf("creating table %s: %v", table, err)
	}
	return table
}

// openPostgres returns a store on the table ns with a pool of its own, of
// at most postgresMaxConns connections. Its requests are not counted.
func openPostgres(tb testing.TB, ns string) (scoped.Store, *requestCounter) {
	pool := testenv.Postgres(tb, func(c *pgxpool.Config) { c.MaxConns = postgresMaxConns })
	s, err := postgres.New(pool, postgres.WithTable(ns))
	if err != nil {
		tb.Fatal(err)
	}
	return s, nil
}
