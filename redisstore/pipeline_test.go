package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
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
	settleGoroutines(t, baseline)
}

// settleGoroutines fails if goroutines of this module are still running a
// second after the work ended.
func settleGoroutines(t *testing.T, baseline int) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for runtime.NumGoroutine() > baseline && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	if strings.Contains(stacks, "scoped-go/scoped/redisstore.(*pipeliner)") {
		t.Fatalf("pipeline goroutines left behind:\n%s", stacks)
	}
}
