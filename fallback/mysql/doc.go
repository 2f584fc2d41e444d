// Package mysql is the MySQL and MariaDB backend of scoped: every scope is one
// row of a table, read by one prepared SELECT and written by one prepared
// UPDATE (or INSERT, for a scope's first write), so that a load or a
// successful compare-and-set is one round trip.
//
// The caller opens and owns the *sql.DB (github.com/go-sql-driver/mysql) and
// closes it; the Store only prepares its statements on it:
//
//	db, err := sql.Open("mysql", "user:pass@tcp(127.0.0.1:3306)/app")
//	store, err := mysql.New(db)             // table scoped_scopes; WithTable to change it
//	err = store.CreateTable(ctx)            // idempotent; or run Store.DDL yourself
//	defer store.Close()                     // releases the prepared statements
//	e := scoped.New(store)
//
// The table, as CreateTable makes it (Store.DDL returns it for any table):
//
//	CREATE TABLE IF NOT EXISTS `scoped_scopes` (
//	  `name` VARBINARY(512) NOT NULL,
//	  `version` BIGINT UNSIGNED NOT NULL,
//	  `writer` BINARY(16) NOT NULL,
//	  `value` LONGBLOB NULL,
//	  PRIMARY KEY (`name`)
//	) ENGINE=InnoDB
//
// Names and values are binary strings: compared byte for byte, with no
// collation, case folding or trailing-space padding. A deleted scope keeps
// its row with a NULL value, as the tombstone that keeps its version from
// going back.
//
// Costs: a Load is one round trip; a successful CompareAndSet or Delete is one
// round trip; a refused one (another writer committed first) is two, the
// refused statement and a SELECT of the current record. The first call on a
// pool connection prepares the statement there, one more round trip, once.
//
// Values are limited to the server's max_allowed_packet less 1 KiB (read
// once per Store), and to WithMaxValueSize if set; a bigger value fails with
// a *scoped.ValueTooLargeError before anything is sent.
package mysql
