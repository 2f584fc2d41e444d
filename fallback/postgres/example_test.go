package postgres_test

import (
	"context"
	"fmt"
	"log"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/fallback/postgres"
)

// The counter of the package scoped's example, on PostgreSQL. It needs a
// server, so it is compiled but not run by go test.
func Example() {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig("postgres://postgres@127.0.0.1:5432/test")
	if err != nil {
		log.Fatal(err)
	}
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	store, err := postgres.New(pool)
	if err != nil {
		log.Fatal(err)
	}
	if err := store.CreateTable(ctx); err != nil {
		log.Fatal(err)
	}
	e := scoped.New(store)

	calls, err := scoped.Run(ctx, e, "global", func(s *scoped.Scope) (int, error) {
		calls, err := scoped.Get[int](s, "calls")
		if err != nil {
			return 0, err
		}
		calls++
		return calls, s.Set("calls", calls)
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("calls:", calls)
}

// DDL gives the table for schemas that are managed outside the program.
// Neither pgxpool.New nor postgres.New connects, so this runs without a
// server.
func ExampleStore_DDL() {
	pool, err := pgxpool.New(context.Background(), "postgres://postgres@127.0.0.1:5432/test")
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	store, err := postgres.New(pool, postgres.WithTable("app.scopes"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(store.DDL() + ";")
	// Output:
	// CREATE TABLE IF NOT EXISTS "app"."scopes" (
	//   name text COLLATE "C" NOT NULL,
	//   version bigint NOT NULL CHECK (version > 0),
	//   writer bytea NOT NULL CHECK (octet_length(writer) = 16),
	//   value bytea NOT NULL,
	//   expires_at bigint,
	//   PRIMARY KEY (name)
	// );
	// CREATE INDEX IF NOT EXISTS "scopes_expires_at" ON "app"."scopes" (expires_at);
}
