package main

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/fallback/file"
	"github.com/scoped-go/scoped/fallback/mysql"
	"github.com/scoped-go/scoped/fallback/postgres"
	"github.com/scoped-go/scoped/redisstore"
)

// opened is a store with a description for the logs (no password) and what
// releases it once the engine is closed.
type opened struct {
	store    scoped.Store
	describe string
	close    func()
}

// openStore opens the store that target names:
//
//	redis://[user:password@]host:port[/db]   Redis, parsed by redis.ParseURL
//	rediss://...                             Redis over TLS
//	mysql://DSN, or a DSN with tcp( or unix( MySQL or MariaDB (go-sql-driver DSN)
//	postgres://, postgresql://               PostgreSQL, parsed by pgxpool.ParseConfig
//	file:PATH, or any other string           a local directory (the file fallback)
//
// A MySQL or PostgreSQL pool holds at most mysqlPool connections.
func openStore(ctx context.Context, target string, mysqlPool int) (opened, error) {
	scheme, rest, _ := strings.Cut(target, ":")
	switch strings.ToLower(scheme) {
	case "redis", "rediss":
		return openRedis(ctx, target)
	case "postgres", "postgresql":
		return openPostgres(ctx, strings.ToLower(scheme)+":"+rest, mysqlPool) // pgx wants the scheme in lower case
	case "mysql":
		return openMySQL(ctx, strings.TrimPrefix(rest, "//"), mysqlPool)
	case "file":
		return openFile(strings.TrimPrefix(rest, "//"))
	}
	if strings.Contains(target, "tcp(") || strings.Contains(target, "unix(") {
		return openMySQL(ctx, target, mysqlPool)
	}
	return openFile(target)
}

func openRedis(ctx context.Context, target string) (opened, error) {
	opts, err := redis.ParseURL(target)
	if err != nil {
		return opened{}, err
	}
	c := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	where := fmt.Sprintf("Redis at %s, db %d", opts.Addr, opts.DB)
	if opts.TLSConfig != nil {
		where += ", TLS"
	}
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return opened{}, fmt.Errorf("%s: %w", where, err)
	}
	return opened{redisstore.New(c), where, func() { c.Close() }}, nil
}

func openMySQL(ctx context.Context, dsn string, pool int) (opened, error) {
	if pool < 1 {
		return opened{}, fmt.Errorf("mysql pool of %d connections: want at least 1", pool)
	}
	cfg, err := mysqldriver.ParseDSN(dsn)
	if err != nil {
		return opened{}, err
	}
	connector, err := mysqldriver.NewConnector(cfg)
	if err != nil {
		return opened{}, err
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(pool)
	db.SetMaxIdleConns(pool)
	db.SetConnMaxIdleTime(5 * time.Minute)
	where := fmt.Sprintf("MySQL at %s, database %s, table %s, pool of %d", cfg.Addr, cfg.DBName, mysql.DefaultTable, pool)
	s, err := mysql.New(db)
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = s.CreateTable(ctx)
		cancel()
	}
	if err != nil {
		if s != nil {
			s.Close()
		}
		db.Close()
		return opened{}, fmt.Errorf("%s: %w", where, err)
	}
	return opened{s, where, func() { s.Close(); db.Close() }}, nil
}

func openPostgres(ctx context.Context, target string, pool int) (opened, error) {
	if pool < 1 {
		return opened{}, fmt.Errorf("postgres pool of %d connections: want at least 1", pool)
	}
	cfg, err := pgxpool.ParseConfig(target)
	if err != nil {
		return opened{}, err
	}
	cfg.MaxConns = int32(min(pool, math.MaxInt32))
	where := fmt.Sprintf("PostgreSQL at %s:%d, database %s, table %s, pool of %d",
		cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, postgres.DefaultTable, pool)
	db, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return opened{}, fmt.Errorf("%s: %w", where, err)
	}
	s, err := postgres.New(db)
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = s.CreateTable(ctx)
		cancel()
	}
	if err != nil {
		db.Close()
		return opened{}, fmt.Errorf("%s: %w", where, err)
	}
	return opened{s, where, db.Close}, nil
}

func openFile(dir string) (opened, error) {
	s, err := file.Open(dir)
	if err != nil {
		return opened{}, err
	}
	return opened{s, "directory " + dir, func() {}}, nil
}
