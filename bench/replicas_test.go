package bench

import (
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/testenv"
	"github.com/scoped-go/scoped/redisstore"
)

// replicaGoroutines is the only concurrency the replica rows run at.
const replicaGoroutines = 64

// replicaWaitTimeout is WAIT's timeout in the rows that wait: far above a
// loopback replica's lag, so that no write of a benchmark ends unknown.
const replicaWaitTimeout = time.Second

// replicaBackends returns two backends on one private Redis primary with
// one replica, started the first time either makes a namespace and killed
// at top's cleanup: redis-replica, and redis-replica-wait1, whose writes
// wait for the replica (redisstore.WithReplicas(1, replicaWaitTimeout)).
// They differ only by that option, so their rows give its cost.
func replicaBackends(top *testing.B) []backend {
	var (
		once sync.Once
		addr string
	)
	namespace := func(tb testing.TB) string {
		once.Do(func() {
			primary, _ := testenv.StartRedisReplicas(top, 1)
			addr = primary.Addr()
		})
		if addr == "" {
			tb.Fatal("the private primary did not start")
		}
		return testenv.UniqueName("scopedbench:") + ":" // a private server: nothing to clean
	}
	open := func(opts ...redisstore.Option) func(testing.TB, string) (scoped.Store, *requestCounter) {
		return func(tb testing.TB, ns string) (scoped.Store, *requestCounter) {
			c := redis.NewClient(&redis.Options{Addr: addr})
			tb.Cleanup(func() { c.Close() })
			rc := new(requestCounter)
			c.AddHook(rc)
			return redisstore.New(c, append([]redisstore.Option{redisstore.WithPrefix(ns)}, opts...)...), rc
		}
	}
	return []backend{
		{name: "redis-replica", namespace: namespace, open: open()},
		{name: "redis-replica-wait1", namespace: namespace, open: open(redisstore.WithReplicas(1, replicaWaitTimeout))},
	}
}
