package redisstore_test

import (
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/linearize"
	"github.com/scoped-go/scoped/internal/testenv"
	"github.com/scoped-go/scoped/redisstore"
)

// linearizeEngines returns three engines, each on a store of its own on c
// with prefix, closed at cleanup.
func linearizeEngines(t *testing.T, c redis.UniversalClient, prefix string) []*scoped.Engine {
	t.Helper()
	s := func() scoped.Store { return redisstore.New(c, redisstore.WithPrefix(prefix)) }
	return linearize.Engines(t, s(), s(), s())
}

// linearizePrefix returns a key prefix of the test's own on c, its keys
// deleted at cleanup.
func linearizePrefix(t *testing.T, c redis.UniversalClient) string {
	t.Helper()
	prefix := testenv.UniqueName("scopedtest:linearize:") + ":"
	t.Cleanup(func() { testenv.DeleteKeys(t, c, prefix+"*") })
	return prefix
}

// Three engines on miniredis: the history is linearizable.
func TestLinearizableMiniredis(t *testing.T) {
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { c.Close() })
	linearize.Check(t, linearizeEngines(t, c, redisstore.DefaultPrefix), linearize.DefaultWorkload(11))
}

// Three engines on the real Redis: the history is linearizable.
func TestLinearizableRedis(t *testing.T) {
	c := testenv.Redis(t)
	linearize.Check(t, linearizeEngines(t, c, linearizePrefix(t, c)), linearize.DefaultWorkload(12))
}

// Three processes, each with three engines and a worker on each, on the real Redis: the merged
// history is linearizable.
func TestLinearizableRedisProcesses(t *testing.T) {
	c := testenv.Redis(t)
	prefix := linearize.Place(t, func() string { return linearizePrefix(t, c) })
	linearize.CheckProcesses(t, 3, linearize.ProcessWorkload(13), prefix, func(prefix string) []*scoped.Engine {
		return linearizeEngines(t, c, prefix)
	})
}
