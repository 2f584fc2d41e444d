package mysql_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/ledger"
	"github.com/scoped-go/scoped/internal/testenv"
)

// scopeCalls is what the calls on one scope were told, by call id.
type scopeCalls struct {
	succeeded, unknown, refused []int64
}

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

	names := []string{"hot"}
	for w := range workers {
		names = append(names, fmt.Sprintf("own-%d", w))
	}
	var (
		mu         sync.Mutex
		calls      = map[string]*scopeCalls{}
		unexpected []error
		samples    = map[string]int{}
		nextCall   atomic.Int64
		okSince    atomic.Int64 // successes since the last restart
	)
	for _, name := range names {
		calls[name] = &scopeCalls{}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := names[0]
				if i%2 == 1 {
					name = names[1+w]
				}
				call := nextCall.Add(1)
				ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
				_, err := scoped.Update(ctx, e, name, func(l *ledger.Ledger) (int, error) {
					l.N++
					l.Calls = append(l.Calls, call)
					return l.N, nil
				})
				cancel()
				mu.Lock()
				c := calls[name]
				switch {
				case err == nil:
					c.succeeded = append(c.succeeded, call)
					okSince.Add(1)
				case errors.Is(err, scoped.ErrCommitUnknown):
					c.unknown = append(c.unknown, call)
					samples["unknown"]++
				case errors.Is(err, scoped.ErrNotApplied):
					c.refused = append(c.refused, call)
					samples["not applied"]++
				case errors.Is(err, scoped.ErrTooManyConflicts) && name == names[0]:
					c.refused = append(c.refused, call)
					samples["too many conflicts"]++
				default:
					c.refused = append(c.refused, call)
					unexpected = append(unexpected, err)
				}
				mu.Unlock()
			}
		})
	}
	stopLoad := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
	})
	t.Cleanup(stopLoad)

	for range kills {
		time.Sleep(loadFor)
		if okSince.Swap(0) == 0 {
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
		okSince.Store(0)
	}
	time.Sleep(loadFor)
	stopLoad()
	if okSince.Load() == 0 {
		t.Error("no call succeeded after the last restart")
	}

	for _, err := range unexpected {
		t.Errorf("a call failed neither as not applied nor as unknown: %v", err)
	}
	for kind, n := range samples {
		t.Logf("%d calls: %s", n, kind)
	}
	if samples["not applied"] == 0 {
		t.Error("no call failed as not applied: the outages went unseen")
	}
	fresh := scoped.New(storeOn(t, poolOn(t, srv.DSN("root", "test"), 1, nil), "scopes"))
	for _, name := range names {
		l, err := scoped.Read[ledger.Ledger](t.Context(), fresh, name)
		if err != nil {
			t.Fatal(err)
		}
		c := calls[name]
		t.Logf("%s: %d succeeded, %d unknown, %d refused; ledger at %d", name, len(c.succeeded), len(c.unknown), len(c.refused), l.N)
		t.Run(name, func(t *testing.T) { ledger.Check(t, l, c.succeeded, c.unknown, c.refused) })
	}
}
