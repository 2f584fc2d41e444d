package mysql_test

import (
	"database/sql"
	"errors"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/testenv"
)

// A statement the client stopped waiting for still runs on the server once
// the row lock it waits for is released. The engine must not apply the
// call's change a second time: a success means exactly one increment, an
// unknown outcome at most one.
func TestLateStatementIsNotDoubled(t *testing.T) {
	admin := testenv.MySQL(t)
	cfg, err := mysqldriver.ParseDSN(testenv.MySQLDSN())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ReadTimeout = 300 * time.Millisecond
	connector, err := mysqldriver.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	bound(db)
	t.Cleanup(func() { db.Close() })
	s, table := newStoreOn(t, db)
	e := scoped.New(s)
	ctx := t.Context()
	if _, err := scoped.Update(ctx, e, "n", increment); err != nil {
		t.Fatal(err)
	}

	// Hold the row's lock, changing nothing, past the client's read timeout.
	tx, err := admin.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "SELECT 1 FROM `"+table+"` WHERE `name` = 'n' FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := scoped.Update(ctx, e, "n", increment); done <- err }()
	time.Sleep(time.Second)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	callErr := <-done
	if callErr != nil && !errors.Is(callErr, scoped.ErrCommitUnknown) {
		t.Fatalf("Update behind a held lock: %v; want success or ErrCommitUnknown", callErr)
	}
	// Let the statements left on the server finish, then check.
	var n int
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if n, err = scoped.Read[int](ctx, scoped.New(s), "n"); err != nil {
			t.Fatal(err)
		}
		if n > 2 {
			break
		}
	}
	if n > 2 || (callErr == nil && n != 2) {
		t.Fatalf("after one increment over 1 the counter is %d (call error: %v)", n, callErr)
	}
	t.Logf("outcome %v, counter %d", callErr, n)
}
