package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/fallback/postgres"
	"github.com/scoped-go/scoped/internal/testenv"
)

// call is one operation of a store, with the error it must give.
type call struct {
	what string
	do   func(context.Context) error
}

// calls returns a Load, a first write, a write over current and a delete of
// current, all on the scope name.
func calls(s *postgres.Store, name string, current scoped.Revision) []call {
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

// writes returns the writes of the scope name that holds current: a first
// write (which meets the row), a write and a delete.
func writes(s *postgres.Store, name string, current scoped.Revision) []call {
	return []call{
		{"CompareAndSet of an existing scope as new", func(ctx context.Context) error {
			_, _, err := s.CompareAndSet(ctx, name, scoped.Revision{}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()})
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

// serverError reports whether err wraps the server's error code.
func serverError(code string) func(error) bool {
	return func(err error) bool {
		var pe *pgconn.PgError
		return errors.As(err, &pe) && pe.Code == code
	}
}

// connectError reports whether err wraps a failed connection attempt.
func connectError(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce)
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

// poolOn returns a pool on url, not tried, closed at cleanup.
func poolOn(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// A store whose server does not take connections fails every call as not
// applied, whether it never reached the server or lost it after (a new
// connection cannot be made).
func TestUnreachableServer(t *testing.T) {
	t.Run("never reached", func(t *testing.T) {
		s := storeOn(t, poolOn(t, "postgres://postgres@"+closedAddr(t)+"/test?sslmode=disable"), "scopes")
		for _, c := range calls(s, "a", scoped.Revision{Version: 1, Writer: scoped.NewToken()}) {
			err := c.do(t.Context())
			mustNotApply(t, c.what, err, connectError)
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
		pool := testenv.Postgres(t, func(c *pgxpool.Config) {
			c.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
				if down.Load() {
					addr = closed
				}
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			}
		})
		s, table := newStoreOn(t, pool)
		rec := mustSet(t, s, "a", scoped.Revision{}, []byte("x"))
		down.Store(true)
		pool.Reset() // closes the connections
		for _, c := range calls(s, "a", rec.Revision()) {
			mustNotApply(t, c.what, c.do(t.Context()), connectError)
		}
		down.Store(false)
		if got := mustLoad(t, s, "a"); got.Revision() != rec.Revision() {
			t.Fatalf("Load once the server is back = %+v; want %+v", got, rec)
		}
		if n := rows(t, pool, table); n != 1 {
			t.Fatalf("the table holds %d rows; want 1", n)
		}
	})
}

// A server that refuses the connection at its handshake (here a stand-in
// that answers the startup message with FATAL cannot_connect_now, as
// PostgreSQL does while it starts or stops) was sent nothing.
func TestCannotConnectNow(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				backend := pgproto3.NewBackend(conn, conn)
				if _, err := backend.ReceiveStartupMessage(); err != nil {
					return
				}
				backend.Send(&pgproto3.ErrorResponse{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "57P03",
					Message: "the database system is starting up"})
				backend.Flush()
			}()
		}
	}()
	s := storeOn(t, poolOn(t, "postgres://postgres@"+l.Addr().String()+"/test?sslmode=disable"), "scopes")
	for _, c := range calls(s, "a", scoped.Revision{Version: 1, Writer: scoped.NewToken()}) {
		err := c.do(t.Context())
		mustNotApply(t, c.what, err, func(err error) bool { return connectError(err) && serverError("57P03")(err) })
	}
}

// A role over its connection limit is refused at the handshake
// (too_many_connections 53300), before anything is sent.
func TestTooManyConnections(t *testing.T) {
	admin := testenv.Postgres(t)
	role := testenv.UniqueName("scopedtest_")
	if _, err := admin.Exec(t.Context(), `CREATE ROLE "`+role+`" LOGIN CONNECTION LIMIT 0`); err != nil {
		if serverError("42501")(err) {
			t.Skipf("the test role may not create roles: %v", err)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), `DROP ROLE IF EXISTS "`+role+`"`); err != nil {
			t.Errorf("dropping role %s: %v", role, err)
		}
	})
	cfg, err := pgxpool.ParseConfig(testenv.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.User = role
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s := storeOn(t, pool, "scopes")
	for _, c := range calls(s, "a", scoped.Revision{Version: 1, Writer: scoped.NewToken()}) {
		err := c.do(t.Context())
		if serverError("28P01")(err) || serverError("28000")(err) {
			t.Skipf("the server does not let the test role in without a password: %v", err)
		}
		mustNotApply(t, c.what, err, func(err error) bool { return connectError(err) && serverError("53300")(err) })
	}
}

// A call whose context ended before it started, or that waits for a pool
// connection until its context ends, sends nothing; and so does a call on
// a closed pool.
func TestContextBeforeSending(t *testing.T) {
	s, _, table := newStore(t)
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	for _, c := range calls(s, "a", scoped.Revision{Version: 1, Writer: scoped.NewToken()}) {
		mustNotApply(t, c.what+" with a cancelled context", c.do(cancelled), func(err error) bool { return errors.Is(err, context.Canceled) })
	}

	pool := testenv.Postgres(t, func(c *pgxpool.Config) { c.MaxConns = 1 })
	held, err := pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	waiting := storeOn(t, pool, table)
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	for i, err := range runConcurrently(ctx, calls(waiting, "a", scoped.Revision{Version: 1, Writer: scoped.NewToken()})) {
		mustNotApply(t, calls(waiting, "a", scoped.Revision{})[i].what+" waiting for a connection", err,
			func(err error) bool { return errors.Is(err, context.DeadlineExceeded) })
	}
	held.Release()

	pool.Close()
	for _, c := range calls(waiting, "a", scoped.Revision{Version: 1, Writer: scoped.NewToken()}) {
		mustNotApply(t, c.what+" on a closed pool", c.do(t.Context()), func(err error) bool { return errors.Is(err, puddle.ErrClosedPool) })
	}
}

// A context that ends after the connection was acquired and the statement
// prepared, but before pgx wrote the statement, fails the call in pgx
// (pgconn.SafeToRetry): not applied. Here a query tracer, which pgx calls
// as Query begins, hands pgx an ended context.
func TestContextEndsInPgx(t *testing.T) {
	tracer := &cancelAtQuery{}
	pool := testenv.Postgres(t, func(c *pgxpool.Config) { c.ConnConfig.Tracer = tracer })
	s, table := newStoreOn(t, pool)
	for _, c := range calls(s, "warm", mustSet(t, s, "warm", scoped.Revision{}, []byte("x")).Revision()) {
		if err := c.do(t.Context()); err != nil {
			t.Fatalf("%s: %v", c.what, err) // prepares every statement
		}
	}
	rec := mustSet(t, s, "a", scoped.Revision{}, []byte("kept"))
	before := rows(t, pool, table)
	tracer.on.Store(true)
	for _, c := range calls(s, "a", rec.Revision()) {
		mustNotApply(t, c.what+" whose context ends in pgx", c.do(t.Context()), func(err error) bool {
			return pgconn.SafeToRetry(err) && errors.Is(err, context.Canceled)
		})
	}
	tracer.on.Store(false)
	if got := mustLoad(t, s, "a"); got.Revision() != rec.Revision() {
		t.Fatalf("after the calls: %+v; want %+v", got, rec)
	}
	if n := rows(t, pool, table); n != before {
		t.Fatalf("the table holds %d rows after the calls; want the %d before", n, before)
	}
}

// cancelAtQuery is a pgx query tracer that, while on, gives each query an
// ended context.
type cancelAtQuery struct{ on atomic.Bool }

func (c *cancelAtQuery) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	if !c.on.Load() {
		return ctx
	}
	ctx, cancel := context.WithCancel(ctx)
	cancel()
	return ctx
}

func (c *cancelAtQuery) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// A session setting makes the server refuse or abort the store's writes
// with an ERROR, which rolls the statement back: not applied, and the
// record is as it was, also once the lock that made a write wait is
// released.
func TestServerRefuses(t *testing.T) {
	admin := testenv.Postgres(t)
	s, table := newStoreOn(t, admin)
	rec := mustSet(t, s, "a", scoped.Revision{}, []byte("kept"))
	for _, tt := range []struct {
		name    string
		setting [2]string // a run-time parameter of the store's sessions
		lock    bool      // whether another transaction holds the row's lock meanwhile
		code    string
	}{
		{"lock_timeout", [2]string{"lock_timeout", "200ms"}, true, "55P03"},           // lock_not_available
		{"statement_timeout", [2]string{"statement_timeout", "200ms"}, true, "57014"}, // query_canceled
		{"read-only session", [2]string{"default_transaction_read_only", "on"}, false, "25006"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pool := testenv.Postgres(t, func(c *pgxpool.Config) { c.ConnConfig.RuntimeParams[tt.setting[0]] = tt.setting[1] })
			refusing := storeOn(t, pool, table)
			if got := mustLoad(t, refusing, "a"); got.Revision() != rec.Revision() {
				t.Fatalf("Load = %+v; want %+v", got, rec)
			}
			if tt.lock {
				tx, err := admin.Begin(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				defer tx.Commit(context.Background())
				if _, err := tx.Exec(t.Context(), `SELECT 1 FROM "`+table+`" WHERE name = 'a' FOR UPDATE`); err != nil {
					t.Fatal(err)
				}
			}
			ws := writes(refusing, "a", rec.Revision())
			for i, err := range runConcurrently(t.Context(), ws) {
				mustNotApply(t, ws[i].what, err, serverError(tt.code))
			}
		})
		if got := mustLoad(t, s, "a"); got.Revision() != rec.Revision() || string(got.Value) != "kept" {
			t.Fatalf("after %s: %+v; want the record as it was", tt.name, got)
		}
	}
	if n := rows(t, admin, table); n != 1 {
		t.Fatalf("the table holds %d rows; want 1", n)
	}
}

// Under REPEATABLE READ a write that meets a row changed after its
// snapshot fails with serialization_failure (40001), rolled back: not
// applied, where READ COMMITTED would refuse it and answer the row.
func TestSerializationFailure(t *testing.T) {
	admin := testenv.Postgres(t)
	pool := testenv.Postgres(t, func(c *pgxpool.Config) {
		c.ConnConfig.RuntimeParams["default_transaction_isolation"] = "repeatable read"
	})
	s, table := newStoreOn(t, pool)
	q := `"` + table + `"`
	for _, tt := range []struct {
		name  string
		admin string // %s is the table; $1 the scope
		call  func(s scoped.Store, name string, rec scoped.Record) outcome
	}{
		{"update behind an update", `UPDATE %s SET version = 2, writer = '\x` + adminWriter + `' WHERE name = $1`, update},
		{"delete behind an update", `UPDATE %s SET version = 2, writer = '\x` + adminWriter + `' WHERE name = $1`, remove},
		{"first write behind an insert", `INSERT INTO %s VALUES ($1 || ' new', 1, '\x` + adminWriter + `', 'admin')`,
			func(s scoped.Store, name string, rec scoped.Record) outcome { return create(s, name+" new", rec) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			name := testenv.UniqueName("scope ")
			rec := mustSet(t, s, name, scoped.Revision{}, []byte("before"))
			tx, err := admin.Begin(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(context.Background())
			if _, err := tx.Exec(t.Context(), fmt.Sprintf(tt.admin, q), name); err != nil {
				t.Fatal(err)
			}
			done := make(chan outcome, 1)
			go func() { done <- tt.call(s, name, rec) }()
			waitForLock(t, admin, pool, 1)
			if err := tx.Commit(t.Context()); err != nil {
				t.Fatal(err)
			}
			got := <-done
			t.Log(got.err)
			mustNotApply(t, tt.name, got.err, serverError("40001"))
		})
	}
}

// A write waiting for a row lock while another transaction waits for a lock
// that the write holds (the table's, here) is the victim of the deadlock
// (40P01), rolled back: not applied, and the record is as it was.
func TestDeadlock(t *testing.T) {
	t.Parallel() // it waits deadlock_timeout; the other waiting tests run beside it

	admin := testenv.Postgres(t)
	pool := testenv.Postgres(t)
	s, table := newStoreOn(t, pool)
	rec := mustSet(t, s, "a", scoped.Revision{}, []byte("kept"))
	tx, err := admin.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(t.Context(), `SELECT 1 FROM "`+table+`" WHERE name = 'a' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	done := make(chan outcome, 1)
	go func() { done <- update(s, "a", rec) }()
	waitForLock(t, admin, pool, 1)
	// The write holds the table's ROW EXCLUSIVE lock while it waits for
	// the row: the transaction's request for ACCESS EXCLUSIVE closes the
	// cycle. The write waited first, so its deadlock check runs first and
	// aborts it; then the lock is granted.
	if _, err := tx.Exec(t.Context(), `LOCK TABLE "`+table+`" IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatalf("LOCK TABLE: %v (the write: %+v)", err, <-done)
	}
	got := <-done
	mustNotApply(t, "CompareAndSet in a deadlock", got.err, serverError("40P01"))
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := mustLoad(t, s, "a"); got.Revision() != rec.Revision() || string(got.Value) != "kept" {
		t.Fatalf("after the deadlock: %+v; want the record as it was", got)
	}
}
