package mysql

import (
	"context"
	"fmt"
	"strings"

	"github.com/scoped-go/scoped"
)

// DefaultTable is the table of a Store unless WithTable says otherwise.
const DefaultTable = "scoped_scopes"

// maxIdentifierLength is the longest table or database name MySQL and
// MariaDB accept.
const maxIdentifierLength = 64

// quoteTable checks a table name, "table" or "database.table", and returns it
// quoted with backticks, ready to be placed in a statement. Each part must be
// an ASCII letter or underscore followed by letters, digits and underscores,
// at most 64 bytes: a name that needs quoting to be valid is refused rather
// than escaped, so that nothing from it can reach the SQL but an identifier.
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
		quoted[i] = "`" + p + "`"
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
// CreateTable runs it, for schemas managed outside the program. It is the
// same on MySQL 8 and MariaDB. The binary column types compare names byte
// for byte (no collation, no trailing-space padding). A row is a scope that
// has a record, so every column is NOT NULL; tables of earlier versions,
// whose value column is NULL-able, work as they are. InnoDB, the default
// engine of both, is named because a row write must be atomic and survive a
// crash, and a failed statement be rolled back, which MyISAM does not
// promise.
func (s *Store) DDL() string {
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (\n"+
		"  `name` VARBINARY(%d) NOT NULL,\n"+
		"  `version` BIGINT UNSIGNED NOT NULL,\n"+
		"  `writer` BINARY(%d) NOT NULL,\n"+
		"  `value` LONGBLOB NOT NULL,\n"+
		"  PRIMARY KEY (`name`)\n"+
		") ENGINE=InnoDB", s.table, scoped.MaxNameLength, scoped.TokenSize)
}

// CreateTable creates the store's table if it does not exist, and leaves an
// existing table as it is. It is safe to call at every start.
func (s *Store) CreateTable(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, s.DDL()); err != nil {
		return fmt.Errorf("scoped/mysql: create table %s: %w", s.table, err)
	}
	return nil
}
