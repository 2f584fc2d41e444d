// Command counter is the HTTP counter of the original library, in Go: every
// request increments the field "calls" of the scope "global" and answers with
// its new value, atomically across every goroutine, process and machine that
// shares the store.
//
//	go run ./examples/counter                  # state in a local directory; sends itself 100 requests
//	go run ./examples/counter -serve           # keeps serving on -addr
//	go run ./examples/counter -redis 127.0.0.1:6379
//	go run ./examples/counter -mysql 'root@tcp(127.0.0.1:3306)/test'
//	go run ./examples/counter -postgres 'postgres://postgres@127.0.0.1:5432/test'
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	_ "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/fallback/file"
	"github.com/scoped-go/scoped/fallback/mysql"
	"github.com/scoped-go/scoped/fallback/postgres"
	"github.com/scoped-go/scoped/redisstore"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to serve on")
	dir := flag.String("dir", filepath.Join(os.TempDir(), "scoped-counter"), "directory of the state, when not on Redis")
	redisAddr := flag.String("redis", "", "Redis address (host:port) to keep the state in")
	mysqlDSN := flag.String("mysql", "", "MySQL or MariaDB data source name to keep the state in")
	postgresURL := flag.String("postgres", "", "PostgreSQL connection string (postgres://user@host:port/db) to keep the state in")
	serve := flag.Bool("serve", false, "keep serving instead of sending test requests and exiting")
	requests := flag.Int("requests", 100, "test requests to send")
	clients := flag.Int("clients", 10, "concurrent test clients")
	flag.Parse()
	if err := run(*addr, backend{*dir, *redisAddr, *mysqlDSN, *postgresURL}, *serve, *requests, *clients); err != nil {
		log.Fatal(err)
	}
}

func run(addr string, b backend, serve bool, requests, clients int) error {
	store, describe, closeStore, err := b.open()
	if err != nil {
		return err
	}
	defer closeStore()
	e := scoped.New(store)

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: counter(e)}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/"
	fmt.Printf("store: %s\nserving %s\n", describe, url)
	if serve {
		select {}
	}
	return selfTest(url, requests, clients)
}

// counter is the example's whole server.
func counter(e *scoped.Engine) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls, err := scoped.Run(r.Context(), e, "global", func(s *scoped.Scope) (int, error) {
			calls, err := scoped.Get[int](s, "calls")
			if err != nil {
				return 0, err
			}
			calls++
			return calls, s.Set("calls", calls)
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "calls: %d\n", calls)
	})
}

// backend says where the state lives: Redis, else MySQL, else PostgreSQL,
// else the directory.
type backend struct {
	dir, redisAddr, mysqlDSN, postgresURL string
}

// postgresMaxConns bounds the example's PostgreSQL pool.
const postgresMaxConns = 8

// open returns the store, a description of it, and what closes it.
func (b backend) open() (scoped.Store, string, func(), error) {
	ctx := context.Background()
	switch {
	case b.redisAddr != "":
		c := redis.NewClient(&redis.Options{Addr: b.redisAddr})
		if err := c.Ping(ctx).Err(); err != nil {
			c.Close()
			return nil, "", nil, fmt.Errorf("redis at %s: %w", b.redisAddr, err)
		}
		return redisstore.New(c), "Redis at " + b.redisAddr, func() { c.Close() }, nil
	case b.mysqlDSN != "":
		db, err := sql.Open("mysql", b.mysqlDSN)
		if err != nil {
			return nil, "", nil, err
		}
		s, err := mysql.New(db)
		if err == nil {
			err = s.CreateTable(ctx)
		}
		if err != nil {
			db.Close()
			return nil, "", nil, err
		}
		return s, "MySQL table " + mysql.DefaultTable, func() { s.Close(); db.Close() }, nil
	case b.postgresURL != "":
		cfg, err := pgxpool.ParseConfig(b.postgresURL)
		if err != nil {
			return nil, "", nil, err
		}
		cfg.MaxConns = postgresMaxConns
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			return nil, "", nil, err
		}
		s, err := postgres.New(pool)
		if err == nil {
			err = s.CreateTable(ctx)
		}
		if err != nil {
			pool.Close()
			return nil, "", nil, err
		}
		return s, "PostgreSQL table " + postgres.DefaultTable, pool.Close, nil
	default:
		s, err := file.Open(b.dir)
		return s, "directory " + b.dir, func() {}, err
	}
}

// selfTest sends requests from concurrent clients and checks that every
// answer is a distinct count.
func selfTest(url string, requests, clients int) error {
	var mu sync.Mutex
	seen := map[int]bool{}
	var errs []error
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := c; i < requests; i += clients {
				n, err := get(url)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else if seen[n] {
					errs = append(errs, fmt.Errorf("count %d answered twice", n))
				}
				seen[n] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	last, err := get(url)
	if err != nil {
		return err
	}
	fmt.Printf("%d requests from %d concurrent clients got %d distinct counts; the next request got calls: %d\n",
		requests, clients, len(seen), last)
	return nil
}

func get(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(string(body), "calls: ")))
}
