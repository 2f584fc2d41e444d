package mysql_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/fallback/mysql"
	"github.com/scoped-go/scoped/internal/testenv"
)

// call is one operation of a store, with the error it must give.
type call struct {
	what string
	do   func(context.Context) error
}

// calls returns a Load, a first write, a write over current and a delete of
// current, all on the scope name.
func calls(s *mysql.Store, name string, current scoped.Revision) []call {
	return []call{
		{"Load", func(ctx context.Context) error { _, err := s.Load(ctx, name); return err }},
		{"CompareAndSet of a new scope", func(ctx context.Context) error {
			_, _, err := s.CompareAndSet(ctx, name+" new", scoped.Revision{}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()})
			return err
		}},
		{"CompareAndSet", func(ctx context.Context) error {
			_, _, err := s.CompareAndSet(ctx, name, current, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()})
			return err
		}},
		{"Delete", func(ctx context.Context) error { _, _, err := s.Delete(ctx, name, current); return err }},
	}
}

// runConcurrently runs the calls at once and returns their errors, in order.
func runConcurrently(ctx context.Context, cs []call) []error {
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() { errs[i] = c.do(ctx) })
	}
	wg.Wait()
	return errs
}

// mustNotApply fails the test unless err matches scoped.ErrNotApplied and,
// if match is not nil, match accepts err as well.
func mustNotApply(t *testing.T, what string, err error, match func(error) bool) {
	t.Helper()
	if !errors.Is(err, scoped.ErrNotApplied) || (match != nil && !match(err)) {
		t.Errorf("%s: %v; want an error matching scoped.ErrNotApplied and the cause", what, err)
	}
}

// serverError reports whether err wraps the server's error number.
func serverError(number uint16) func(error) bool {
	return func(err error) bool {
		var me *mysqldriver.MySQLError
		return errors.As(err, &me) && me.Number == number
	}
}

// dialError reports whether err wraps a failed dial.
func dialError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

// closedAddr returns a loopback address on which nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// pool returns a bounded pool on the test server, made from its DSN changed
// by edit, closed at cleanup.
func pool(t *testing.T, maxOpen int, edit func(*mysqldriver.Config)) *sql.DB {
	t.Helper()
	return poolOn(t, testenv.MySQLDSN(), maxOpen, edit)
}

// poolOn returns a bounded pool on dsn, changed by edit, that logs
// nothing, closed at cleanup.
func poolOn(t *testing.T, dsn string, maxOpen int, edit func(*mysqldriver.Config)) *sql.DB {
	t.Helper()
	cfg, err := mysqldriver.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Logger = &mysqldriver.NopLogger{}
	if edit != nil {
		edit(cfg)
	}
	connector, err := mysqldriver.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(maxOpen)
	db.SetMaxIdleConns(maxOpen)
	t.Cleanup(func() { db.Close() })
	return db
}

// storeOn returns a store on db using an existing table, closed at cleanup.
func storeOn(t *testing.T, db *sql.DB, table string) *mysql.Store {
	t.Helper()
	s, err := mysql.New(db, mysql.WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A store whose server does not take connections fails every call as not
// applied, whether it never reached the server (its statements are not
// prepared) or lost it after (a new connection cannot be dialed).
func TestUnreachableServer(t *testing.T) {
	t.Run("never reached", func(t *testing.T) {
		db := poolOn(t, "root@tcp("+closedAddr(t)+")/test", 2, nil)
		s := storeOn(t, db, "scopes")
		for _, c := range calls(s, "a", scoped.Revision{Version: 1, Writer: scoped.NewToken()}) {
			err := c.do(t.Context())
			mustNotApply(t, c.what, err, dialError)
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("%s: %v; want connection refused", c.what, err)
			}
		}
	})
	t.Run("lost", func(t *testing.T) {
		// The pool dials the test server until down is set, and then a
		// closed port.
		var down atomic.Bool
		closed := closedAddr(t)
		db := pool(t, 2, func(cfg *mysqldriver.Config) {
			cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
				if down.Load() {
					addr = closed
				}
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			}
		})
		s, table := newStoreOn(t, db)
		rec, _, err := s.CompareAndSet(t.Context(), "a", scoped.Revision{}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()})
		if err != nil {
			t.Fatal(err) // the statements are prepared
		}
		down.Store(true)
		db.SetMaxIdleConns(0) // closes the idle connections
		for _, c := range calls(s, "a", rec.Revision()) {
			mustNotApply(t, c.what, c.do(t.Context()), dialError)
		}
		down.Store(false)
		if got, err := s.Load(t.Context(), "a"); err != nil || got.Revision() != rec.Revision() {
			t.Fatalf("Load once the server is back = %+v, %v; want %+v", got, err, rec)
		}
		if n := rows(t, db, table); n != 1 {
			t.Fatalf("the table holds %d rows; want 1", n)
		}
	})
}

// A call whose context ended before it started, or that waits for the
// statements to be prepared until its context ends, sends nothing.
func TestContextBeforeSending(t *testing.T) {
	s, _, _ := newStore(t)
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	for _, c := range calls(s, "a", scoped.Revision{}) {
		mustNotApply(t, c.what+" with a cancelled context", c.do(cancelled), func(err error) bool { return errors.Is(err, context.Canceled) })
	}

	// A store whose first call prepares the statements on a pool that
	// has no free connection: the others wait for the preparation, and
	// then for the pool, until their context ends.
	db := pool(t, 1, nil)
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, table := newStoreOn(t, testenv.MySQL(t))
	waiting := storeOn(t, db, table)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	for _, err := range runConcurrently(ctx, calls(waiting, "a", scoped.Revision{})) {
		mustNotApply(t, "a call while the statements are prepared", err, func(err error) bool { return errors.Is(err, context.DeadlineExceeded) })
	}
}

// A statement that waits for a row lock longer than innodb_lock_wait_timeout
// is rolled back by the server (ER_LOCK_WAIT_TIMEOUT): not applied, and it
// does not apply when the lock is released.
func TestLockWaitTimeout(t *testing.T) {
	t.Parallel() // it waits; the other waiting tests run beside it

	admin := testenv.MySQL(t)
	s, table := newStoreOn(t, admin)
	rec, _, err := s.CompareAndSet(t.Context(), "a", scoped.Revision{}, scoped.Write{Value: []byte("kept"), Writer: scoped.NewToken()})
	if err != nil {
		t.Fatal(err)
	}
	impatient := storeOn(t, pool(t, 3, func(cfg *mysqldriver.Config) {
		cfg.Params = map[string]string{"innodb_lock_wait_timeout": "1"}
	}), table)
	if _, err := impatient.Load(t.Context(), "a"); err != nil {
		t.Fatal(err) // the statements are prepared
	}

	tx, err := admin.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(t.Context(), "SELECT 1 FROM `"+table+"` WHERE `name` = 'a' FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	writes := []call{
		{"CompareAndSet of a new scope", func(ctx context.Context) error { // its duplicate-key check waits
			_, _, err := impatient.CompareAndSet(ctx, "a", scoped.Revision{}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()})
			return err
		}},
		{"CompareAndSet", func(ctx context.Context) error {
			_, _, err := impatient.CompareAndSet(ctx, "a", rec.Revision(), scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()})
			return err
		}},
		{"Delete", func(ctx context.Context) error { _, _, err := impatient.Delete(ctx, "a", rec.Revision()); return err }},
	}
	for i, err := range runConcurrently(t.Context(), writes) {
		mustNotApply(t, writes[i].what+" of a locked row", err, serverError(1205))
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if got, err := s.Load(t.Context(), "a"); err != nil || got.Revision() != rec.Revision() || string(got.Value) != "kept" {
		t.Fatalf("after the lock is released: %+v, %v; want the record as it was", got, err)
	}
}

// Two first writes of a scope wait behind a third session's insert of it;
// when that one rolls back, InnoDB makes the two deadlock and rolls one
// back (ER_LOCK_DEADLOCK): it is not applied, and the other wins.
func TestDeadlock(t *testing.T) {
	admin := testenv.MySQL(t)
	s, table := newStoreOn(t, pool(t, 2, nil))
	if _, err := s.Load(t.Context(), "x"); err != nil {
		t.Fatal(err)
	}
	const rounds = 3
	deadlocks := 0
	for round := range rounds {
		tx, err := admin.BeginTx(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(t.Context(), "INSERT INTO `"+table+"` (`name`, `version`, `writer`, `value`) VALUES ('x', 1, REPEAT('w', 16), 'admin')"); err != nil {
			t.Fatal(err)
		}
		type outcome struct {
			rec scoped.Record
			ok  bool
			err error
		}
		out := make([]outcome, 2)
		var wg sync.WaitGroup
		for i := range out {
			wg.Go(func() {
				o := &out[i]
				o.rec, o.ok, o.err = s.CompareAndSet(t.Context(), "x", scoped.Revision{}, scoped.Write{Value: []byte{byte(i)}, Writer: scoped.NewToken()})
			})
		}
		waitErr := awaitInserts(t, admin, table, 2)
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		if waitErr != nil {
			t.Fatalf("round %d: %v; the writes gave %+v", round, waitErr, out)
		}

		var winner scoped.Record
		for _, o := range out {
			switch {
			case o.ok:
				winner = o.rec
			case o.err != nil:
				mustNotApply(t, "the other first write", o.err, serverError(1213))
				deadlocks++
			}
		}
		if out[0].ok == out[1].ok {
			t.Fatalf("round %d: %+v; want one write to succeed", round, out)
		}
		if got, err := s.Load(t.Context(), "x"); err != nil || got.Revision() != winner.Revision() {
			t.Fatalf("round %d: Load = %+v, %v; want the winner's %+v", round, got, err, winner)
		}
		if _, ok, err := s.Delete(t.Context(), "x", winner.Revision()); err != nil || !ok {
			t.Fatalf("round %d: Delete = %v, %v", round, ok, err)
		}
	}
	if deadlocks == 0 {
		t.Fatalf("no deadlock in %d rounds: the server did not roll a write back", rounds)
	}
}

// awaitInserts waits until n sessions run an INSERT into table, and then a
// little more, for them to wait for their lock. (InnoDB's INNODB_TRX does
// not list every transaction waiting for a lock in a duplicate-key check.)
func awaitInserts(t *testing.T, admin *sql.DB, table string, n int) error {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var running int
		if err := admin.QueryRowContext(t.Context(),
			"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND = 'Execute' AND INFO LIKE ?",
			"INSERT INTO `"+table+"`%").Scan(&running); err != nil {
			return err
		}
		if running >= n {
			time.Sleep(50 * time.Millisecond)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d sessions run the INSERT; want %d", running, n)
		}
	}
}

// A session whose transactions are read-only refuses every write
// (ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION). With the driver's
// rejectReadOnly, the driver closes the connection instead and returns
// driver.ErrBadConn, and database/sql tries again on new connections, which
// are read-only too, and returns driver.ErrBadConn. Both are not applied.
func TestReadOnlySession(t *testing.T) {
	admin := testenv.MySQL(t)
	s, table := newStoreOn(t, admin)
	rec, _, err := s.CompareAndSet(t.Context(), "a", scoped.Revision{}, scoped.Write{Value: []byte("kept"), Writer: scoped.NewToken()})
	if err != nil {
		t.Fatal(err)
	}
	variable := "transaction_read_only" // MySQL 8; MariaDB before 11.1 has only tx_read_only
	var name, value string
	if err := admin.QueryRowContext(t.Context(), "SHOW VARIABLES LIKE 'transaction_read_only'").Scan(&name, &value); errors.Is(err, sql.ErrNoRows) {
		variable = "tx_read_only"
	} else if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name           string
		rejectReadOnly bool
		match          func(error) bool
	}{
		{"refused", false, serverError(1792)},
		{"rejectReadOnly", true, func(err error) bool { return errors.Is(err, driver.ErrBadConn) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The statements are prepared in a read-write session (a
			// read-only one refuses to prepare a write); then that
			// session, the pool's only one, and every later one, is
			// made read-only.
			var readOnly atomic.Bool
			db := pool(t, 1, func(cfg *mysqldriver.Config) {
				cfg.RejectReadOnly = tt.rejectReadOnly
				cfg.Apply(mysqldriver.BeforeConnect(func(_ context.Context, cfg *mysqldriver.Config) error {
					if readOnly.Load() {
						cfg.Params = map[string]string{variable: "1"}
					}
					return nil
				}))
			})
			ro := storeOn(t, db, table)
			if _, err := ro.Load(t.Context(), "a"); err != nil {
				t.Fatal(err)
			}
			readOnly.Store(true)
			if _, err := db.ExecContext(t.Context(), "SET SESSION "+variable+" = 1"); err != nil {
				t.Fatal(err)
			}
			if got, err := ro.Load(t.Context(), "a"); err != nil || got.Revision() != rec.Revision() {
				t.Fatalf("Load in a read-only session = %+v, %v", got, err)
			}
			for _, c := range calls(ro, "a", rec.Revision())[1:] {
				mustNotApply(t, c.what+" in a read-only session", c.do(t.Context()), tt.match)
			}
		})
	}
	if n := rows(t, admin, table); n != 1 {
		t.Fatalf("the table holds %d rows; want 1", n)
	}
	if got, err := s.Load(t.Context(), "a"); err != nil || got.Revision() != rec.Revision() {
		t.Fatalf("after the refused writes: %+v, %v; want the record as it was", got, err)
	}
}

// A statement in flight when its connection is lost, or its context ends,
// may still be performed: here it waits for a row lock, and is performed
// when the lock is released, after the client gave up. Its error must not
// say that it was not applied.
func TestInFlightFailureIsNotMarked(t *testing.T) {
	admin := testenv.MySQL(t)
	s, table := newStoreOn(t, admin)
	rec, _, err := s.CompareAndSet(t.Context(), "a", scoped.Revision{}, scoped.Write{Value: []byte("before"), Writer: scoped.NewToken()})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		edit func(*mysqldriver.Config)
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"read timeout", func(cfg *mysqldriver.Config) { cfg.ReadTimeout = 200 * time.Millisecond }, func() (context.Context, context.CancelFunc) {
			return t.Context(), func() {}
		}},
		{"context", nil, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(t.Context(), 200*time.Millisecond)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			late := storeOn(t, pool(t, 1, tt.edit), table)
			if _, err := late.Load(t.Context(), "a"); err != nil {
				t.Fatal(err) // the statements are prepared
			}
			tx, err := admin.BeginTx(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			if _, err := tx.ExecContext(t.Context(), "SELECT 1 FROM `"+table+"` WHERE `name` = 'a' FOR UPDATE"); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := tt.ctx()
			defer cancel()
			tok := scoped.NewToken()
			_, _, callErr := late.CompareAndSet(ctx, "a", rec.Revision(), scoped.Write{Value: []byte(tt.name), Writer: tok})
			if callErr == nil || errors.Is(callErr, scoped.ErrNotApplied) {
				t.Fatalf("CompareAndSet behind a held lock: %v; want an error not matching ErrNotApplied", callErr)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			var got scoped.Record
			for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if got, err = s.Load(t.Context(), "a"); err != nil {
					t.Fatal(err)
				}
				if got.Writer == tok {
					break
				}
			}
			if got.Writer != tok {
				t.Fatalf("the statement did not apply after the lock was released: %+v (error was %v)", got, callErr)
			}
			t.Logf("error %v; the statement applied after it", callErr)
			rec = got
		})
	}
}

// On a private server, whose settings a test may change: a read_only
// server refuses writes (ER_OPTION_PREVENTS_STATEMENT), a server at
// max_connections refuses new connections (ER_CON_COUNT_ERROR), and a
// server that crashed refuses them at dial. Every call fails, not applied,
// and nothing is written.
func TestPrivateServer(t *testing.T) {
	t.Parallel() // it waits; the other waiting tests run beside it

	const maxConnections = 10 // the least MariaDB takes
	srv := testenv.StartMariaDB(t, fmt.Sprint("--max-connections=", maxConnections), "--skip-name-resolve")
	ctx := t.Context()
	root := poolOn(t, srv.DSN("root", ""), maxConnections+1, nil)
	for _, stmt := range []string{
		"CREATE DATABASE test",
		"CREATE USER app", // without READ_ONLY ADMIN or CONNECTION ADMIN, which root has
		"GRANT SELECT, INSERT, UPDATE, DELETE, CREATE ON test.* TO app",
	} {
		if _, err := root.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	db := poolOn(t, srv.DSN("app", "test"), 2, nil)
	s := storeOn(t, db, "scopes")
	if err := s.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	rec, _, err := s.CompareAndSet(ctx, "a", scoped.Revision{}, scoped.Write{Value: []byte("kept"), Writer: scoped.NewToken()})
	if err != nil {
		t.Fatal(err)
	}
	unchanged := func() {
		t.Helper()
		var n int
		if err := root.QueryRowContext(ctx, "SELECT COUNT(*) FROM test.scopes").Scan(&n); err != nil || n != 1 {
			t.Fatalf("the table holds %d rows, %v; want 1", n, err)
		}
		if got, err := s.Load(ctx, "a"); err != nil || got.Revision() != rec.Revision() {
			t.Fatalf("Load = %+v, %v; want the record as it was", got, err)
		}
	}

	t.Run("read_only", func(t *testing.T) {
		if _, err := root.ExecContext(ctx, "SET GLOBAL read_only = 1"); err != nil {
			t.Fatal(err)
		}
		for _, c := range calls(s, "a", rec.Revision())[1:] {
			mustNotApply(t, c.what+" on a read-only server", c.do(ctx), serverError(1290))
		}
		if _, err := root.ExecContext(ctx, "SET GLOBAL read_only = 0"); err != nil {
			t.Fatal(err)
		}
		unchanged()
	})

	t.Run("too many connections", func(t *testing.T) {
		db.SetMaxIdleConns(0) // the store's next call needs a new connection
		var held []*sql.Conn
		for threads := 0; threads < maxConnections; {
			c, err := root.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
			var name string
			if err := c.QueryRowContext(ctx, "SHOW STATUS LIKE 'Threads_connected'").Scan(&name, &threads); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range calls(s, "a", rec.Revision()) {
			mustNotApply(t, c.what+" on a full server", c.do(ctx), serverError(1040))
		}
		for _, c := range held {
			c.Close()
		}
		root.SetMaxIdleConns(1) // closes the others
		db.SetMaxIdleConns(2)
		unchanged()
	})

	t.Run("crashed", func(t *testing.T) {
		// Without idle connections, each call dials: a dead pooled
		// connection might take a statement into its socket before the
		// driver sees that it is closed, which is not a refusal.
		db.SetMaxIdleConns(0)
		if err := srv.Kill(); err != nil {
			t.Fatal(err)
		}
		for _, c := range calls(s, "a", rec.Revision()) {
			err := c.do(ctx)
			mustNotApply(t, c.what+" on a crashed server", err, dialError)
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("%s: %v; want connection refused", c.what, err)
			}
		}
	})
}
