// Package testenv connects integration tests to the servers they need. The
// addresses come from the environment, with the local defaults. A server that
// does not answer fails the test when CI is set (CI=true), and skips it, with a
// message saying so, otherwise.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
)

// Environment variables naming the test servers.
const (
	RedisAddrEnv   = "SCOPED_REDIS_ADDR"   // host:port, default 127.0.0.1:6379
	MySQLDSNEnv    = "SCOPED_MYSQL_DSN"    // go-sql-driver DSN, default root@tcp(127.0.0.1:3306)/test
	PostgresURLEnv = "SCOPED_POSTGRES_URL" // pgx connection string, default postgres://postgres@127.0.0.1:5432/test
)

// RedisAddr returns the address of the test Redis server.
func RedisAddr() string { return getenv(RedisAddrEnv, "127.0.0.1:6379") }

// MySQLDSN returns the data source name of the test MySQL or MariaDB server.
func MySQLDSN() string { return getenv(MySQLDSNEnv, "root@tcp(127.0.0.1:3306)/test") }

// PostgresURL returns the connection string of the test PostgreSQL server.
func PostgresURL() string {
	return getenv(PostgresURLEnv, "postgres://postgres@127.0.0.1:5432/test")
}

// PostgresMaxConns bounds the connections of a pool made by Postgres, unless
// an edit changes it: the test server is shared.
const PostgresMaxConns = 8

// Postgres returns a pool on the test PostgreSQL server, closed at cleanup.
// Its connections are at most PostgresMaxConns, and carry an
// application_name of their own (see ApplicationName), so that a test can
// find them, and only them, in pg_stat_activity. edits change the pool's
// configuration before the pool is made.
func Postgres(t testing.TB, edits ...func(*pgxpool.Config)) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(PostgresURL())
	if err != nil {
		t.Fatalf("$%s: %v", PostgresURLEnv, err)
	}
	cfg.MaxConns = PostgresMaxConns
	cfg.ConnConfig.RuntimeParams["application_name"] = UniqueName("scopedtest_")
	for _, edit := range edits {
		edit(cfg)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("$%s: %v", PostgresURLEnv, err)
	}
	t.Cleanup(pool.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := pool.Ping(ctx); err != nil {
		Unavailable(t, fmt.Sprintf("PostgreSQL at %s:%d ($%s)", cfg.ConnConfig.Host, cfg.ConnConfig.Port, PostgresURLEnv), err)
	}
	return pool
}

// ApplicationName returns the application_name of the connections of a
// pool made by Postgres.
func ApplicationName(pool *pgxpool.Pool) string {
	return pool.Config().ConnConfig.RuntimeParams["application_name"]
}

// Redis returns a client of the test Redis server, closed at cleanup.
func Redis(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: RedisAddr()})
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		Unavailable(t, "Redis at "+RedisAddr()+" ($"+RedisAddrEnv+")", err)
	}
	return c
}

// MySQL returns a pool on the test MySQL or MariaDB server, closed at
// cleanup.
func MySQL(t testing.TB) *sql.DB {
	t.Helper()
	cfg, err := mysql.ParseDSN(MySQLDSN())
	if err != nil {
		t.Fatalf("$%s: %v", MySQLDSNEnv, err)
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatalf("$%s: %v", MySQLDSNEnv, err)
	}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		Unavailable(t, "MySQL at "+cfg.Addr+" ($"+MySQLDSNEnv+")", err)
	}
	return db
}

// Unavailable stops a test whose server does not answer: a failure in CI, a
// skip elsewhere.
func Unavailable(t testing.TB, server string, err error) {
	t.Helper()
	msg := fmt.Sprintf("%s does not answer: %v (bash scripts/test.sh starts the test servers)", server, err)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// UniqueName returns prefix followed by random hex, for keys and tables that
// must not collide with other test runs on the same server.
func UniqueName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// DeleteKeys removes every key matching pattern, as a test's cleanup.
func DeleteKeys(t testing.TB, c redis.UniversalClient, pattern string) {
	t.Helper()
	ctx := context.Background()
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, pattern, 1000).Result()
		if err != nil {
			t.Errorf("cleaning up %s: %v", pattern, err)
			return
		}
		if len(keys) > 0 {
			c.Del(ctx, keys...)
		}
		if cursor = next; cursor == 0 {
			return
		}
	}
}

func getenv(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
