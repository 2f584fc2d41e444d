package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/testenv"
	"github.com/scoped-go/scoped/redisstore"
)

// Calls queued behind a server that does not answer return when their
// contexts end; the pipelines they were in stop waiting, and no goroutine is
// left behind.
func TestPipelinedCallsHonourContexts(t *testing.T) {
	srv := testenv.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { c.Close() })
	e := scoped.New(redisstore.New(c, redisstore.WithPipelining(0, 1)))
	baseline := runtime.NumGoroutine()
	if err := srv.Freeze(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 12)
	for i := range errs {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			_, errs[i] = scoped.Update(ctx, e, fmt.Sprint("s", i), increment)
		})
	}
	wg.Wait() // the server stays frozen until every call returned
	if err := srv.Thaw(); err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("call %d on a frozen server: %v; want context.DeadlineExceeded", i, err)
		}
	}
	// Thawed, each scope holds the increment or not, and works.
	for i := range errs {
		before, err := scoped.Read[int](t.Context(), e, fmt.Sprint("s", i))
		if err != nil || before > 1 {
			t.Fatalf("scope %d = %d, %v after one abandoned increment", i, before, err)
		}
		if n, err := scoped.Update(t.Context(), e, fmt.Sprint("s", i), increment); err != nil || n != before+1 {
			t.Fatalf("increment after the pause = %d, %v; want %d", n, err, before+1)
		}
	}
	if stacks := awaitEngineGone(5 * time.Second); stacks != nil {
		t.Fatalf("goroutines of the engine or the store left behind:\n%s", stacks)
	}
	if n := awaitGoroutines(baseline, 5*time.Second); n > baseline {
		t.Errorf("%d goroutines after the test, %d before", n, baseline)
	}
}
