package storeurl

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/scoped-go/scoped/fallback/mysql"
)

// openMySQL opens a go-sql-driver DSN with a pool of at most pool
// connections, and creates the table if missing, within ctx and at most 10
// seconds.
func openMySQL(ctx context.Context, dsn string, pool int) (*Opened, error) {
	if pool < 1 {
		return nil, invalid(fmt.Errorf("mysql pool of %d connections: want at least 1", pool))
	}
	cfg, err := mysqldriver.ParseDSN(dsn)
	if err != nil {
		return nil, invalid(err)
	}
	connector, err := mysqldriver.NewConnector(cfg)
	if err != nil {
		return nil, invalid(err)
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
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return &Opened{s, where, func() { s.Close(); db.Close() }}, nil
}
