package mysql_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"

	_ "github.com/go-sql-driver/mysql" // registers the "mysql" driver

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/fallback/mysql"
)

// The counter of the package scoped's example, on MySQL or MariaDB. It needs
// a server, so it is compiled but not run by go test.
func Example() {
	ctx := context.Background()
	db, err := sql.Open("mysql", "root@tcp(127.0.0.1:3306)/test")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	store, err := mysql.New(db)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
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
// New does no I/O, so this runs without a server.
func ExampleStore_DDL() {
	db, _ := sql.Open("mysql", "root@tcp(127.0.0.1:3306)/test")
	defer db.Close()
	store, err := mysql.New(db, mysql.WithTable("app.scopes"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(store.DDL() + ";")
	// Output:
	// CREATE TABLE IF NOT EXISTS `app`.`scopes` (
	//   `name` VARBINARY(512) NOT NULL,
	//   `version` BIGINT UNSIGNED NOT NULL,
	//   `writer` BINARY(16) NOT NULL,
	//   `value` LONGBLOB NOT NULL,
	//   `expires_at` BIGINT NULL,
	//   PRIMARY KEY (`name`),
	//   KEY `scoped_expiry` (`expires_at`)
	// ) ENGINE=InnoDB;
}
