package postgres_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/testenv"
)

// A statement the client stopped waiting for still runs on the server once
// the row lock it waits for is released. The engine must not apply the
// call's change a second time: a success means exactly one increment, an
// unknown outcome at most one. The client gives up on a read timeout, so
// the engine sends the same write again while the first still waits.
func TestLateStatementIsNotDoubled(t *testing.T) {
	t.Parallel() // it waits; the other waiting tests run beside it

	admin := testenv.Postgres(t)
	pool := testenv.Postgres(t, readTimeout(300*time.Millisecond))
	s, table := newStoreOn(t, pool)
	e := scoped.New(s)
	ctx := t.Context()
	if _, err := scoped.Update(ctx, e, "n", increment); err != nil {
		t.Fatal(err)
	}

	// Hold the row's lock, changing nothing, past the client's timeout.
	tx, err := admin.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	if _, err := tx.Exec(ctx, `SELECT 1 FROM "`+table+`" WHERE name = 'n' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := scoped.Update(ctx, e, "n", increment); done <- err }()
	time.Sleep(time.Second)
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	callErr := <-done
	if callErr != nil && !errors.Is(callErr, scoped.ErrCommitUnknown) {
		t.Fatalf("Update behind a held lock: %v; want success or ErrCommitUnknown", callErr)
	}
	// Let the statements left on the server finish, then check.
	var n int
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
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

// A statement in flight when the client gives up, on a read timeout or
// because its context ended, may still be performed: here it waits for a
// row lock, and is performed when the lock is released, after the client
// gave up. Its error must not say that it was not applied.
func TestInFlightFailureIsNotMarked(t *testing.T) {
	admin := testenv.Postgres(t)
	s, table := newStoreOn(t, admin)
	rec := mustSet(t, s, "a", scoped.Revision{}, []byte("before"))
	for _, tt := range []struct {
		name    string
		edit    func(*pgxpool.Config)
		context bool // the call's context ends once the statement waits on the server
	}{
		{"read timeout", readTimeout(200 * time.Millisecond), false},
		{"context", func(*pgxpool.Config) {}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pool := testenv.Postgres(t, tt.edit)
			late := storeOn(t, pool, table)
			// A connection is up, with the statement prepared on it.
			if _, ok, err := late.CompareAndSet(t.Context(), "a", scoped.Revision{Version: 99, Writer: scoped.NewToken()}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()}); err != nil || ok {
				t.Fatalf("a refused write to prepare the statement: %v, %v", ok, err)
			}
			tx, err := admin.Begin(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(context.Background())
			if _, err := tx.Exec(t.Context(), `SELECT 1 FROM "`+table+`" WHERE name = 'a' FOR UPDATE`); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			tok := scoped.NewToken()
			done := make(chan error, 1)
			go func() {
				_, _, err := late.CompareAndSet(ctx, "a", rec.Revision(), scoped.Write{Value: []byte(tt.name), Writer: tok})
				done <- err
			}()
			waitForLock(t, admin, pool, 1) // the statement is on the server, whatever the client does
			if tt.context {
				cancel()
			}
			callErr := <-done
			if callErr == nil || errors.Is(callErr, scoped.ErrNotApplied) {
				t.Fatalf("CompareAndSet behind a held lock: %v; want an error not matching ErrNotApplied", callErr)
			}
			if err := tx.Commit(t.Context()); err != nil {
				t.Fatal(err)
			}
			var got scoped.Record
			for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				if got = mustLoad(t, s, "a"); got.Writer == tok {
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

// readTimeout makes a pool's connections fail a read that waits longer
// than d, as a client that gives up on a slow reply: pgx then closes the
// connection, and the server, unaware, runs the statement on.
func readTimeout(d time.Duration) func(*pgxpool.Config) {
	return func(c *pgxpool.Config) {
		c.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			var dialer net.Dialer
			conn, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &impatientConn{Conn: conn, timeout: d}, nil
		}
	}
}

// impatientConn sets a read deadline before every read.
type impatientConn struct {
	net.Conn
	timeout time.Duration
}

func (c *impatientConn) Read(p []byte) (int, error) {
	c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	return c.Conn.Read(p)
}
