package postgres

import (
	"context"
	"errors"
	"fmt"
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

// DDL returns the CREATE TABLE statement of the store's table, as
// CreateTable runs it, for schemas managed outside the program. Names are
// text compared byte for byte (the "C" collation: no locale, no case
// folding), versions are bigint, writers and values bytea. A row is a scope
// that has a record, so every column is NOT NULL; the checks keep rows the
// store could not read out of the table.
func (s *Store) DDL() string {
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (\n"+
		"  name text COLLATE \"C\" NOT NULL,\n"+
		"  version bigint NOT NULL CHECK (version > 0),\n"+
		"  writer bytea NOT NULL CHECK (octet_length(writer) = %d),\n"+
		"  value bytea NOT NULL,\n"+
		"  PRIMARY KEY (name)\n"+
		")", s.table, scoped.TokenSize)
}

// CreateTable creates the store's table if it does not exist, and leaves an
// existing table as it is. It is safe to call at every start, also from
// several processes at once.
func (s *Store) CreateTable(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, s.DDL())
	if createRace(err) {
		// Another session created the table between this one's check and
		// its insert into the catalog; the table exists now, which the
		// statement run again sees.
		_, err = s.pool.Exec(ctx, s.DDL())
	}
	if err != nil {
		return fmt.Errorf("scoped/postgres: create table %s: %w", s.table, err)
	}
	return nil
}

// createRace reports whether err is what CREATE TABLE IF NOT EXISTS gives
// when a concurrent session creates the same table: IF NOT EXISTS checks
// the catalog before its own insert into it, and the race shows as a
// unique violation in the catalog (23505), a duplicate table (42P07), or
// a duplicate of the table's row type (42710), each once the other
// session committed.
func createRace(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "23505" || pe.Code == "42P07" || pe.Code == "42710")
}
