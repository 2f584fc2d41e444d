package mysql_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/fallback/mysql"
	"github.com/scoped-go/scoped/internal/testenv"
)

// A table name that is not a plain identifier is refused by New, so nothing
// of it can reach a statement; the tables it names are not touched.
func TestTableNameInjection(t *testing.T) {
	db := testenv.MySQL(t)
	victim, _ := newStoreOn(t, db)
	if _, _, err := victim.CompareAndSet(t.Context(), "keep", scoped.Revision{}, scoped.Write{Value: []byte("me"), Writer: scoped.NewToken()}); err != nil {
		t.Fatal(err)
	}
	bad := []string{
		"",
		"x; DROP TABLE scopedtest_victim",
		"x` (a INT); DROP TABLE y; --",
		"x`",
		"`x`",
		"x y",
		"x--",
		"x/*",
		"x'",
		`x"`,
		"x\x00",
		"tâble",
		"1x",
		"a.b.c",
		".x",
		"x.",
		"test.x;",
		strings.Repeat("x", 65),
	}
	for _, table := range bad {
		s, err := mysql.New(db, mysql.WithTable(table))
		var te *mysql.TableError
		if !errors.Is(err, mysql.ErrInvalidTable) || !errors.As(err, &te) || te.Table != table || s != nil {
			t.Errorf("New(WithTable(%q)) = %v, %v; want a *TableError", table, s, err)
		}
	}
	if rec, err := victim.Load(t.Context(), "keep"); err != nil || string(rec.Value) != "me" {
		t.Fatalf("the existing table after the refused names: %+v, %v", rec, err)
	}
}

// Valid names: the default, a 64-byte name, and one qualified by its
// database, which the store creates and uses there.
func TestTableNames(t *testing.T) {
	db := testenv.MySQL(t)
	for _, table := range []string{mysql.DefaultTable, "_x", "X_1", strings.Repeat("x", 64)} {
		if _, err := mysql.New(db, mysql.WithTable(table)); err != nil {
			t.Errorf("New(WithTable(%q)): %v", table, err)
		}
	}

	var database string
	if err := db.QueryRowContext(t.Context(), "SELECT DATABASE()").Scan(&database); err != nil {
		t.Fatal(err)
	}
	table := testenv.UniqueName("scopedtest_")
	s, err := mysql.New(db, mysql.WithTable(database+"."+table))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropTable(t, s, db, table) })
	if err := s.CreateTable(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.CompareAndSet(t.Context(), "a", scoped.Revision{}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM `"+table+"`").Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows in %s.%s: %d, %v; want 1", database, table, n, err)
	}
}

// CreateTable may run at every start: it leaves the table and its rows as
// they are.
func TestCreateTableIdempotent(t *testing.T) {
	s, _, _ := newStore(t) // its table is created once already
	want, _, err := s.CompareAndSet(t.Context(), "a", scoped.Revision{}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.CreateTable(t.Context()); err != nil {
			t.Fatalf("CreateTable on an existing table: %v", err)
		}
	}
	if got, err := s.Load(t.Context(), "a"); err != nil || got.Version != want.Version || got.Writer != want.Writer || string(got.Value) != "x" {
		t.Fatalf("after CreateTable: %+v, %v; want %+v", got, err, want)
	}
}

// A store on a missing table says so, wrapping the server's error, and works
// once the table is created.
func TestMissingTable(t *testing.T) {
	db := testenv.MySQL(t)
	table := testenv.UniqueName("scopedtest_")
	s, err := mysql.New(db, mysql.WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropTable(t, s, db, table) })
	_, err = s.Load(t.Context(), "a")
	var me *mysqldriver.MySQLError
	if !errors.As(err, &me) || me.Number != 1146 || !strings.Contains(err.Error(), "CreateTable") {
		t.Fatalf("Load on a missing table: %v; want the server's error 1146 and a hint", err)
	}
	if err := s.CreateTable(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.CompareAndSet(t.Context(), "a", scoped.Revision{}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()}); err != nil || !ok {
		t.Fatalf("CompareAndSet once the table exists: %v, %v", ok, err)
	}
}

// oldDDL is the table as earlier versions of the package made it, before
// records could expire.
const oldDDL = "CREATE TABLE `%s` (\n" +
	"  `name` VARBINARY(512) NOT NULL,\n" +
	"  `version` BIGINT UNSIGNED NOT NULL,\n" +
	"  `writer` BINARY(16) NOT NULL,\n" +
	"  `value` LONGBLOB NOT NULL,\n" +
	"  PRIMARY KEY (`name`)\n" +
	") ENGINE=InnoDB"

// CreateTable adds the expiry column and its index to a table of the
// previous DDL, from several callers at once; the rows already there keep
// reading, as records that never expire. Before that, a call says what to do.
func TestCreateTableUpgrades(t *testing.T) {
	db := testenv.MySQL(t)
	bound(db)
	table := testenv.UniqueName("scopedtest_")
	s, err := mysql.New(db, mysql.WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropTable(t, s, db, table) })
	if _, err := db.ExecContext(t.Context(), fmt.Sprintf(oldDDL, table)); err != nil {
		t.Fatal(err)
	}
	tok := scoped.NewToken()
	if _, err := db.ExecContext(t.Context(), "INSERT INTO `"+table+"` VALUES ('kept', 4, ?, 'old')", tok[:]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(t.Context(), "kept"); err == nil || !strings.Contains(err.Error(), "CreateTable") {
		t.Fatalf("Load before the upgrade: %v; want an error that says to call CreateTable", err)
	}

	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := s.CreateTable(t.Context()); err != nil {
				t.Errorf("CreateTable on a table of the previous DDL: %v", err)
			}
		})
	}
	wg.Wait()
	if err := s.CreateTable(t.Context()); err != nil {
		t.Fatalf("CreateTable once more: %v", err)
	}
	var columns, indexes int
	if err := db.QueryRowContext(t.Context(), "SELECT "+
		"(SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = 'expires_at'), "+
		"(SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = 'expires_at')",
		table, table).Scan(&columns, &indexes); err != nil {
		t.Fatal(err)
	}
	if columns != 1 || indexes != 1 {
		t.Fatalf("after CreateTable the table has %d expires_at columns and %d indexes of it; want 1 and 1", columns, indexes)
	}

	rec, err := s.Load(t.Context(), "kept")
	if err != nil || string(rec.Value) != "old" || rec.Version != 4 || rec.Writer != tok || !rec.ExpiresAt.IsZero() {
		t.Fatalf("Load of a row from before the upgrade = %+v, %v; want version 4 that never expires", rec, err)
	}
	at := time.UnixMilli(time.Now().Add(time.Hour).UnixMilli())
	next, ok, err := s.CompareAndSet(t.Context(), "kept", rec.Revision(), scoped.Write{Value: []byte("new"), Writer: scoped.NewToken(), ExpiresAt: at})
	if err != nil || !ok || next.Version != 5 || !next.ExpiresAt.Equal(at) {
		t.Fatalf("CompareAndSet over a row from before the upgrade = %+v, %v, %v", next, ok, err)
	}
	var names []string
	for name, err := range s.List(t.Context(), "") {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	if len(names) != 1 || names[0] != "kept" {
		t.Fatalf("List after the upgrade = %q, want [kept]", names)
	}
}
