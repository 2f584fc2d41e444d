package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/redisstore"
	"github.com/scoped-go/scoped/storetest"
)

// TestConformanceRing runs the suite on a redis.Ring of two miniredis
// shards: List scans both.
func TestConformanceRing(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		NewStore: func(t *testing.T, clock *storetest.Clock) scoped.Store {
			a, b := miniredis.RunT(t), miniredis.RunT(t)
			clock.Follow(func(d time.Duration) { a.FastForward(d); b.FastForward(d) })
			c := redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": a.Addr(), "b": b.Addr()}})
			t.Cleanup(func() { c.Close() })
			return remember(redisstore.New(c), c, redisstore.DefaultPrefix)
		},
		Footprint: footprint,
	})
}

// Keys under the store's prefix whose rest is not a scope name (empty, not
// UTF-8, with a NUL byte), and keys under other prefixes, are left out of a
// listing.
func TestListLeavesOutOtherKeys(t *testing.T) {
	s, c := newMiniredis(t)
	ctx := t.Context()
	if _, ok, err := s.CompareAndSet(ctx, "a", scoped.Revision{}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()}); !ok || err != nil {
		t.Fatalf("CompareAndSet = %v, %v", ok, err)
	}
	for _, key := range []string{redisstore.DefaultPrefix, redisstore.DefaultPrefix + "\xff", redisstore.DefaultPrefix + "c\x00", "other:d"} {
		if err := c.Set(ctx, key, "x", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for name, err := range s.List(ctx, "") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, name)
	}
	if len(got) != 1 || got[0] != "a" {
		t.Fatalf("List = %q, want [a]", got)
	}
}

// A context that ends during a listing ends it before the next page, with
// one error matching context.Canceled and scoped.ErrNotApplied. The real
// Redis returns many scopes in several pages.
func TestListCancelledBetweenPages(t *testing.T) {
	s, c := newReal(t)
	ctx := t.Context()
	const scopes = 1000
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range scopes {
			p.HSet(ctx, s.Key(fmt.Sprint("p", i)), "n", "1", "w", "0123456789abcdef", "v", "x")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	listing, cancel := context.WithCancel(ctx)
	defer cancel()
	names, errs := 0, 0
	for name, err := range s.List(listing, "p") {
		if err != nil {
			errs++
			if name != "" || !errors.Is(err, context.Canceled) || !errors.Is(err, scoped.ErrNotApplied) {
				t.Fatalf("List yielded %q, %v; want an error matching context.Canceled and scoped.ErrNotApplied", name, err)
			}
			continue
		}
		names++
		cancel()
	}
	if errs != 1 || names == 0 || names >= scopes {
		t.Fatalf("a listing cancelled at its first name yielded %d names and %d errors; want the first page and one error", names, errs)
	}
}

// listErr returns the error that s.List(prefix) yields, failing the test
// unless it yields one error, with an empty name, and nothing else.
func listErr(t *testing.T, s *redisstore.Store, prefix string) error {
	t.Helper()
	var errs []error
	for name, err := range s.List(t.Context(), prefix) {
		if err == nil || name != "" {
			t.Fatalf("List(%q) yielded %q, %v; want one error and nothing else", prefix, name, err)
		}
		errs = append(errs, err)
	}
	if len(errs) != 1 {
		t.Fatalf("List(%q) yielded %d errors, want one", prefix, len(errs))
	}
	return errs[0]
}
