package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/scoped-go/scoped"
)

// DefaultTable is the table of a Store unless WithTable says otherwise.
const DefaultTable = "scoped_scopes"

// maxIdentifierLength is the longest identifier PostgreSQL keeps whole
// (NAMEDATALEN - 1): it cuts longer ones short, with only a notice.
const maxIdentifierLength = 63

// quoteTable checks a table name, "table" or "schema.table", and returns it
// quoted with double quotes, ready to be placed in a statement. Each part
// must be an ASCII letter or underscore followed by letters, digits and
// underscores, at most 63 bytes: a name that needs quoting to be valid is
// refused rather than escaped, so that nothing from it can reach the SQL but
// an identifier. The quotes keep the name as it is written: "Scopes" is not
// scopes, and a reserved word such as user is a valid table.
func quoteTable(table string) (string, error) {
	parts := strings.Split(table, ".")
	if len(parts) > 2 {
		return "", &TableError{Table: table, Reason: "more than one '.'"}
	}
	quoted := make([]string, len(parts))
	for i, p := range parts {
		if reason := identifierProblem(p); reason != "" {
			return "", &TableError{Table: table, Reason: reason}
		}
		quoted[i] = `"` + p + `"`
	}
	return strings.Join(quoted, "."), nil
}

// identifierProblem says what is wrong with one part of a table name, or
// returns "".
func identifierProblem(p string) string {
	switch {
	case p == "":
		return "empty name or part"
	case len(p) > maxIdentifierLength:
		return fmt.Sprintf("part of %d bytes, over the limit of %d", len(p), maxIdentifierLength)
	case p[0] >= '0' && p[0] <= '9':
		return "part begins with a digit"
	}
	for _, c := range []byte(p) {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return fmt.Sprintf("character %q is not a letter, digit or '_'", c)
		}
	}
	return ""
}

// DDL returns the statements that make the store's table and the index of
// its expiry times, as CreateTable runs them, for schemas managed outside
// the program. Names are text compared byte for byte (the "C" collation:
// no locale, no case folding), versions are bigint, writers and values
// bytea. A row is a scope that has a record, so every column is NOT NULL
// but expires_at, the expiry time in milliseconds since the epoch, NULL for
// a record that never expires; its index serves Sweep. The checks keep rows
// the store could not read out of the table.
func (s *Store) DDL() string {
	return s.createTable() + ";\n" + s.createIndex()
}

// createTable returns the CREATE TABLE statement of DDL.
func (s *Store) createTable() string {
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (\n"+
		"  name text COLLATE \"C\" NOT NULL,\n"+
		"  version bigint NOT NULL CHECK (version > 0),\n"+
		"  writer bytea NOT NULL CHECK (octet_length(writer) = %d),\n"+
		"  value bytea NOT NULL,\n"+
		"  expires_at bigint,\n"+
		"  PRIMARY KEY (name)\n"+
		")", s.table, scoped.TokenSize)
}

// createIndex returns the CREATE INDEX statement of DDL.
func (s *Store) createIndex() string {
	return fmt.Sprintf(`CREATE INDEX IF NOT EXISTS "%s" ON %s (expires_at)`, s.indexName(), s.table)
}

// addColumn returns the statement that adds expires_at to a table made by
// an earlier version of this package.
func (s *Store) addColumn() string {
	return fmt.Sprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS expires_at bigint", s.table)
}

// indexName returns the name, unquoted, of the index of expires_at: the
// table's name and "_expires_at". An index is named in the table's schema
// among its tables, so a name that would pass the identifier limit keeps
// the start of the table's name and a hash of the whole, so that two long
// table names never share an index name.
func (s *Store) indexName() string {
	const suffix = "_expires_at"
	name := s.tableName
	if len(name)+len(suffix) > maxIdentifierLength {
		h := fnv.New32a()
		h.Write([]byte(name))
		name = fmt.Sprintf("%s_%08x", name[:maxIdentifierLength-len(suffix)-9], h.Sum32())
	}
	return name + suffix
}

// CreateTable creates the store's table and the index of expiry times if
// they do not exist. An existing table is left as it is, but for the
// expires_at column, which it adds to a table made by an earlier version
// of this package, keeping its rows (they never expire). It is safe to call
// at every start, also from several processes at once: it reads the
// catalog first, and only a table that lacks the column or the index is
// altered or indexed, which locks it.
func (s *Store) CreateTable(ctx context.Context) error {
	if err := s.run(ctx, s.createTable()); err != nil {
		return err
	}
	var hasColumn, hasIndex bool
	err := s.pool.QueryRow(ctx, `SELECT
	EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'expires_at' AND NOT attisdropped),
	EXISTS (SELECT FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = to_regclass($1) AND i.relname = $2)`,
		s.table, s.indexName()).Scan(&hasColumn, &hasIndex)
	if err != nil {
		return fmt.Errorf("scoped/postgres: create table %s: %w", s.table, err)
	}
	if !hasColumn {
		if err := s.run(ctx, s.addColumn()); err != nil {
			return err
		}
	}
	if !hasIndex {
		return s.run(ctx, s.createIndex())
	}
	return nil
}

// run runs stmt, a statement of CreateTable.
func (s *Store) run(ctx context.Context, stmt string) error {
	_, err := s.pool.Exec(ctx, stmt)
	if createRace(err) {
		// Another session created the table or the index between this
		// one's check and its insert into the catalog; it exists now,
		// which the statement run again sees.
		_, err = s.pool.Exec(ctx, stmt)
	}
	if err != nil {
		return fmt.Errorf("scoped/postgres: create table %s: %w", s.table, err)
	}
	return nil
}

// createRace reports whether err is what CREATE TABLE (or INDEX) IF NOT
// EXISTS gives when a concurrent session creates the same table or index:
// IF NOT EXISTS checks the catalog before its own insert into it, and the
// race shows as a unique violation in the catalog (23505), a duplicate
// table or index (42P07), or a duplicate of the table's row type (42710),
// each once the other session committed.
func createRace(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "23505" || pe.Code == "42P07" || pe.Code == "42710")
}
