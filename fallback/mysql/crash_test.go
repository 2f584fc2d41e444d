package mysql_test

import (
	"context"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/ledger"
	"github.com/scoped-go/scoped/internal/testenv"
)

// TestServerKilledMidLoad increments scopes (one hot scope shared by every
// goroutine, and one scope per goroutine) through an engine on a pool of
// maxConns connections, while the private mariadbd under them is killed
// with SIGKILL, left dead for longer than a call's deadline and restarted on
// the same port and data directory, twice. Calls during an outage must fail
// as not applied or with an unknown outcome (or, on the hot scope, with too
// many conflicts), and the load must go on after each restart. Every scope's
// value is a ledger of the calls that incremented it: at the end each
// acknowledged call is in it exactly once, each refused call is not, and
// each call of unknown outcome at most once.
func TestServerKilledMidLoad(t *testing.T) {
	t.Parallel() // it waits on a server of its own

	const (
		workers     = 8
		kills       = 2
		callTimeout = time.Second
		loadFor     = 1500 * time.Millisecond // before each kill, and after the last restart
		deadFor     = callTimeout + 500*time.Millisecond
	)
	srv := testenv.StartMariaDB(t)
	root := poolOn(t, srv.DSN("root", ""), 1, nil)
	if _, err := root.ExecContext(t.Context(), "CREATE DATABASE test"); err != nil {
		t.Fatal(err)
	}
	db := poolOn(t, srv.DSN("root", "test"), maxConns, func(cfg *mysqldriver.Config) {
		cfg.Timeout = time.Second // dialing a restarting server
	})
	s := storeOn(t, db, "scopes")
	if err := s.CreateTable(t.Context()); err != nil {
		t.Fatal(err)
	}
	e := scoped.New(s)

	load := ledger.StartLoad(t, e, workers, callTimeout, true)
	okAt := load.Succeeded() // successes when this stretch of load began
	for range kills {
		time.Sleep(loadFor)
		if load.Succeeded() == okAt {
			t.Fatal("no call succeeded before the kill")
		}
		if err := srv.Kill(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(deadFor)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := srv.Restart(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		okAt = load.Succeeded()
	}
	time.Sleep(loadFor)
	load.Stop()
	if load.Succeeded() == okAt {
		t.Error("no call succeeded after the last restart")
	}

	load.Report(t)
	if load.Count("not applied") == 0 {
		t.Error("no call failed as not applied: the outages went unseen")
	}
	load.CheckOn(t, scoped.New(storeOn(t, poolOn(t, srv.DSN("root", "test"), 1, nil), "scopes")))
}
