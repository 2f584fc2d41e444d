package bench

import (
	"testing"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/fallback/file"
	"github.com/scoped-go/scoped/internal/testenv"
	"github.com/scoped-go/scoped/redisstore"
)

// backend is a Store implementation under benchmark. Adding one is adding
// an entry to backends.
type backend struct {
	name string
	// namespace makes a new, empty namespace on the backend (a key prefix,
	// a directory, a table), removed at tb's cleanup, and returns its name.
	namespace func(tb testing.TB) string
	// open returns a store on the namespace ns, released at tb's cleanup,
	// and a counter of the network requests it sends, or nil if they are
	// not counted. Several stores, in several processes, may share one
	// namespace.
	open func(tb testing.TB, ns string) (scoped.Store, *requestCounter)
}

// backends returns every backend the benchmarks run on.
func backends() []backend {
	return []backend{
		{name: "redis", namespace: redisNamespace, open: openRedis},
		{name: "file", namespace: fileNamespace, open: openFile},
		// HOOK(mysql): add the fallback/mysql backend here once it is on main.
	}
}

// backendNamed returns the backend called name.
func backendNamed(name string) (backend, bool) {
	for _, be := range backends() {
		if be.name == name {
			return be, true
		}
	}
	return backend{}, false
}

// redisNamespace returns a key prefix of its own on the test Redis, whose
// keys are deleted at cleanup.
func redisNamespace(tb testing.TB) string {
	c := testenv.Redis(tb)
	prefix := testenv.UniqueName("scopedbench:") + ":"
	tb.Cleanup(func() { testenv.DeleteKeys(tb, c, prefix+"*") })
	return prefix
}

// openRedis returns a store on the test Redis with its own client, keeping
// its keys under the prefix ns.
func openRedis(tb testing.TB, ns string) (scoped.Store, *requestCounter) {
	c := testenv.Redis(tb)
	rc := new(requestCounter)
	c.AddHook(rc)
	return redisstore.New(c, redisstore.WithPrefix(ns)), rc
}

// fileNamespace returns a new directory, removed at cleanup.
func fileNamespace(tb testing.TB) string { return tb.TempDir() }

// openFile returns a store over the directory ns. It sends no requests.
func openFile(tb testing.TB, ns string) (scoped.Store, *requestCounter) {
	s, err := file.Open(ns)
	if err != nil {
		tb.Fatalf("file.Open(%q): %v", ns, err)
	}
	return s, nil
}
