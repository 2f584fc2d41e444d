package main

import (
	"bufio"
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped/internal/testenv"
)

// machine describes where the benchmarks ran.
type machine struct {
	CPUs     int
	CPUModel string
	Memory   string
	Platform string // GOOS/GOARCH and kernel
	Go       string
	Redis    string
	MySQL    string
	Postgres string
}

// describeMachine gathers the machine's description; cpuHeader is the cpu
// line of the benchmark output, used when /proc/cpuinfo has no model name.
func describeMachine(ctx context.Context, cpuHeader string) machine {
	m := machine{
		CPUs:     runtime.NumCPU(),
		CPUModel: cmp.Or(procField("/proc/cpuinfo", "model name"), cpuHeader, "unknown CPU"),
		Memory:   memory(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH,
		Go:       runtime.Version(),
		Redis:    redisVersion(ctx),
		MySQL:    mysqlVersion(ctx),
		Postgres: postgresVersion(ctx),
	}
	if k, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Platform += ", kernel " + strings.TrimSpace(string(k))
	}
	return m
}

// procField returns the value of the first "key : value" line of a /proc
// file, or "" if there is none.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// memory returns the machine's memory in GiB, or "".
func memory() string {
	var kb int64
	if _, err := fmt.Sscanf(procField("/proc/meminfo", "MemTotal"), "%d kB", &kb); err != nil || kb == 0 {
		return ""
	}
	return fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
}

// redisVersion returns the version of the test Redis, or why it is unknown.
func redisVersion(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: testenv.RedisAddr()})
	defer c.Close()
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return fmt.Sprintf("unknown (%v)", err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			return "Redis " + v
		}
	}
	return "Redis (version not in INFO)"
}

// mysqlVersion returns the version of the test MySQL, or why it is unknown.
func mysqlVersion(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	cfg, err := mysql.ParseDSN(testenv.MySQLDSN())
	if err != nil {
		return fmt.Sprintf("unknown (%v)", err)
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return fmt.Sprintf("unknown (%v)", err)
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	var v string
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&v); err != nil {
		return fmt.Sprintf("unknown (%v)", err)
	}
	return "MySQL " + v
}

// postgresVersion returns the version of the test PostgreSQL, or why it is
// unknown.
func postgresVersion(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, testenv.PostgresURL())
	if err != nil {
		return fmt.Sprintf("unknown (%v)", err)
	}
	defer conn.Close(context.Background())
	return "PostgreSQL " + conn.PgConn().ParameterStatus("server_version")
}
