package mysql

import (
	"context"
	"errors"
	"fmt"
	"strings"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/scoped-go/scoped"
)

// DefaultTable is the table of a Store unless WithTable says otherwise.
const DefaultTable = "scoped_scopes"

// Error numbers of the server, the same on MySQL and MariaDB, of an ALTER
// TABLE that adds what another has added.
const (
	errDuplicateColumn = 1060 // ER_DUP_FIELDNAME
	errDuplicateIndex  = 1061 // ER_DUP_KEYNAME
)

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

// expiryIndex is the name of the index of expires_at, which Sweep reads.
const expiryIndex = "scoped_expiry"

// DDL returns the CREATE TABLE statement of the store's table, as
// CreateTable runs it, for schemas managed outside the program. It is the
// same on MySQL 8 and MariaDB. The binary column types compare names byte
// for byte (no collation, no trailing-space padding). A row is a scope that
// has a record, so every column is NOT NULL but expires_at, the expiry time
// in milliseconds since the epoch, NULL for a record that never expires;
// its index serves Sweep. Tables of earlier versions, whose value column is
// NULL-able, work as they are once CreateTable has added expires_at and its
// index. InnoDB, the default engine of both, is named because a row write
// must be atomic and survive a crash, and a failed statement be rolled
// back, which MyISAM does not promise.
func (s *Store) DDL() string {
	return fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (\n"+
		"  `name` VARBINARY(%d) NOT NULL,\n"+
		"  `version` BIGINT UNSIGNED NOT NULL,\n"+
		"  `writer` BINARY(%d) NOT NULL,\n"+
		"  `value` LONGBLOB NOT NULL,\n"+
		"  `expires_at` BIGINT NULL,\n"+
		"  PRIMARY KEY (`name`),\n"+
		"  KEY `%s` (`expires_at`)\n"+
		") ENGINE=InnoDB", s.table, scoped.MaxNameLength, scoped.TokenSize, expiryIndex)
}

// CreateTable creates the store's table if it does not exist. An existing
// table is left as it is, but for the expires_at column and its index,
// which it adds to a table made by an earlier version of this package,
// keeping its rows (they never expire). It is safe to call at every start,
// from several processes at once.
func (s *Store) CreateTable(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, s.DDL()); err != nil {
		return fmt.Errorf("scoped/mysql: create table %s: %w", s.table, err)
	}
	if err := s.addExpiry(ctx); err != nil {
		return fmt.Errorf("scoped/mysql: add the expiry column to %s: %w", s.table, err)
	}
	return nil
}

// addExpiry adds the expires_at column and its index to the table if it
// lacks them. MySQL 8 has no ADD COLUMN IF NOT EXISTS, so it reads
// information_schema first; a process that adds them at the same time
// makes the ALTER fail with a duplicate column or index, which is the
// state wanted.
func (s *Store) addExpiry(ctx context.Context) error {
	var hasColumn, hasIndex bool
	err := s.db.QueryRowContext(ctx, "SELECT "+
		"EXISTS (SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND COLUMN_NAME = 'expires_at'), "+
		"EXISTS (SELECT 1 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND INDEX_NAME = ?)",
		s.database, s.tableName, s.database, s.tableName, expiryIndex).Scan(&hasColumn, &hasIndex)
	if err != nil {
		return err
	}
	var alter []string
	if !hasColumn {
		alter = append(alter, "ADD COLUMN `expires_at` BIGINT NULL")
	}
	if !hasIndex {
		alter = append(alter, "ADD KEY `"+expiryIndex+"` (`expires_at`)")
	}
	if len(alter) == 0 {
		return nil
	}
	_, err = s.db.ExecContext(ctx, "ALTER TABLE "+s.table+" "+strings.Join(alter, ", "))
	var me *mysqldriver.MySQLError
	if errors.As(err, &me) && (me.Number == errDuplicateColumn || me.Number == errDuplicateIndex) {
		return nil
	}
	return err
}
