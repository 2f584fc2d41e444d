package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/fallback/postgres"
	"github.com/scoped-go/scoped/internal/testenv"
)

// A table name that is not a plain identifier is refused by New, so nothing
// of it can reach a statement; the tables it names are not touched.
func TestTableNameInjection(t *testing.T) {
	pool := testenv.Postgres(t)
	victim, table := newStoreOn(t, pool)
	mustSet(t, victim, "keep", scoped.Revision{}, []byte("me"))
	bad := []string{
		"",
		"x; DROP TABLE " + table,
		`x" (a int); DROP TABLE ` + table + `; --`,
		`x"`,
		`"x"`,
		"x y",
		"x--",
		"x/*",
		"x'",
		"x`",
		"x$1",
		"x\x00",
		"tâble",
		"1x",
		"a.b.c",
		".x",
		"x.",
		"public.x;",
		"public." + table + " --",
		strings.Repeat("x", 64),
	}
	for _, name := range bad {
		s, err := postgres.New(pool, postgres.WithTable(name))
		var te *postgres.TableError
		if !errors.Is(err, postgres.ErrInvalidTable) || !errors.As(err, &te) || te.Table != name || s != nil {
			t.Errorf("New(WithTable(%q)) = %v, %v; want a *TableError", name, s, err)
		}
	}
	if rec := mustLoad(t, victim, "keep"); string(rec.Value) != "me" {
		t.Fatalf("the existing table after the refused names: %+v", rec)
	}
}

// Valid names: the default, a 63-byte name, capitals (kept as written), a
// reserved word, and names qualified by a schema, which the store creates
// and uses there.
func TestTableNames(t *testing.T) {
	pool := testenv.Postgres(t)
	for _, name := range []string{postgres.DefaultTable, "_x", "X_1", strings.Repeat("x", 63)} {
		if _, err := postgres.New(pool, postgres.WithTable(name)); err != nil {
			t.Errorf("New(WithTable(%q)): %v", name, err)
		}
	}

	schema := testenv.UniqueName("scopedtest_")
	if _, err := pool.Exec(t.Context(), `CREATE SCHEMA "`+schema+`"`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), `DROP SCHEMA "`+schema+`" CASCADE`); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	// Two names of 63 bytes that differ only at the end: the names of
	// their indexes are cut to the limit, and stay apart.
	long := []string{strings.Repeat("x", 63), strings.Repeat("x", 62) + "y"}
	for _, table := range append([]string{"scopes", "Scopes", "user", "select"}, long...) {
		s, err := postgres.New(pool, postgres.WithTable(schema+"."+table))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CreateTable(t.Context()); err != nil {
			t.Fatalf("CreateTable of %s.%s: %v", schema, table, err)
		}
		mustSet(t, s, "a", scoped.Revision{}, []byte(table))
	}
	for _, table := range []string{"scopes", "Scopes", "user", "select"} {
		var value string
		if err := pool.QueryRow(t.Context(), `SELECT convert_from(value, 'UTF8') FROM "`+schema+`"."`+table+`" WHERE name = 'a'`).Scan(&value); err != nil || value != table {
			t.Errorf("the row in %s.%q: %q, %v; want the table's own", schema, table, value, err)
		}
	}
	var indexes int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_indexes WHERE schemaname = $1 AND indexdef LIKE '%(expires_at)'`, schema).Scan(&indexes); err != nil || indexes != 6 {
		t.Errorf("indexes of expires_at in %s: %d, %v; want one for each of the 6 tables", schema, indexes, err)
	}
}

// oldDDL is the table as earlier versions of the package made it, before
// records could expire.
const oldDDL = `CREATE TABLE "%s" (
  name text COLLATE "C" NOT NULL,
  version bigint NOT NULL CHECK (version > 0),
  writer bytea NOT NULL CHECK (octet_length(writer) = 16),
  value bytea NOT NULL,
  PRIMARY KEY (name)
)`

// CreateTable adds the expiry column and its index to a table of the
// previous DDL, from several callers at once; the rows already there keep
// reading, as records that never expire. Before that, a call says what to
// do.
func TestCreateTableUpgrades(t *testing.T) {
	pool := testenv.Postgres(t)
	table := testenv.UniqueName("scopedtest_")
	t.Cleanup(func() { dropTable(t, pool, table) })
	if _, err := pool.Exec(t.Context(), fmt.Sprintf(oldDDL, table)); err != nil {
		t.Fatal(err)
	}
	tok := scoped.NewToken()
	if _, err := pool.Exec(t.Context(), `INSERT INTO "`+table+`" VALUES ('kept', 4, $1, 'old')`, tok[:]); err != nil {
		t.Fatal(err)
	}
	s := storeOn(t, pool, table)
	if _, err := s.Load(t.Context(), "kept"); err == nil || !strings.Contains(err.Error(), "CreateTable") {
		t.Fatalf("Load before the upgrade: %v; want an error that says to call CreateTable", err)
	}

	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := storeOn(t, pool, table).CreateTable(t.Context()); err != nil {
				t.Errorf("CreateTable on a table of the previous DDL: %v", err)
			}
		})
	}
	wg.Wait()
	if err := s.CreateTable(t.Context()); err != nil {
		t.Fatalf("CreateTable once more: %v", err)
	}
	var columns, indexes int
	if err := pool.QueryRow(t.Context(), `SELECT
		(SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 AND column_name = 'expires_at'),
		(SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1 AND indexdef LIKE '%(expires_at)')`,
		table).Scan(&columns, &indexes); err != nil {
		t.Fatal(err)
	}
	if columns != 1 || indexes != 1 {
		t.Fatalf("after CreateTable the table has %d expires_at columns and %d indexes of it; want 1 and 1", columns, indexes)
	}

	rec := mustLoad(t, s, "kept")
	if string(rec.Value) != "old" || rec.Version != 4 || rec.Writer != tok || !rec.ExpiresAt.IsZero() {
		t.Fatalf("Load of a row from before the upgrade = %+v; want version 4 that never expires", rec)
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

// CreateTable may run at every start, also from several processes at once:
// it leaves the table and its rows as they are.
func TestCreateTableIdempotent(t *testing.T) {
	s, _, _ := newStore(t) // its table is created once already
	want := mustSet(t, s, "a", scoped.Revision{}, []byte("x"))
	for range 2 {
		if err := s.CreateTable(t.Context()); err != nil {
			t.Fatalf("CreateTable on an existing table: %v", err)
		}
	}
	if got := mustLoad(t, s, "a"); got.Revision() != want.Revision() || string(got.Value) != "x" {
		t.Fatalf("after CreateTable: %+v; want %+v", got, want)
	}

	pool := testenv.Postgres(t)
	table := testenv.UniqueName("scopedtest_")
	t.Cleanup(func() { dropTable(t, pool, table) })
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if err := storeOn(t, pool, table).CreateTable(t.Context()); err != nil {
				t.Errorf("concurrent CreateTable: %v", err)
			}
		})
	}
	wg.Wait()
	mustSet(t, storeOn(t, pool, table), "a", scoped.Revision{}, []byte("x"))
}

// A store on a missing table says so, wrapping the server's error, not
// applied, and works once the table is created.
func TestMissingTable(t *testing.T) {
	pool := testenv.Postgres(t)
	table := testenv.UniqueName("scopedtest_")
	s := storeOn(t, pool, table)
	t.Cleanup(func() { dropTable(t, pool, table) })
	for _, c := range calls(s, "a", scoped.Revision{Version: 1, Writer: scoped.NewToken()}) {
		err := c.do(t.Context())
		mustNotApply(t, c.what+" on a missing table", err, serverError("42P01"))
		if !strings.Contains(err.Error(), "CreateTable") {
			t.Errorf("%s on a missing table: %v; want a hint", c.what, err)
		}
	}
	if err := s.CreateTable(t.Context()); err != nil {
		t.Fatal(err)
	}
	mustSet(t, s, "a", scoped.Revision{}, []byte("x"))
}
