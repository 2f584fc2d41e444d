package mysql_test

import (
	"errors"
	"strings"
	"testing"

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
