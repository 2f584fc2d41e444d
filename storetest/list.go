package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/scoped-go/scoped"
)

// list returns what s.List yields for prefix, sorted, failing the test on
// an error or a name yielded twice.
func list(t *testing.T, s scoped.Store, prefix string) []string {
	t.Helper()
	var names []string
	for name, err := range s.List(ctx(t), prefix) {
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		names = append(names, name)
	}
	slices.Sort(names)
	for i := 1; i < len(names); i++ {
		if names[i] == names[i-1] {
			t.Fatalf("List(%q) yielded %q twice", prefix, names[i])
		}
	}
	return names
}

// create writes a record for each name.
func create(t *testing.T, s scoped.Store, names ...string) {
	t.Helper()
	for _, name := range names {
		mustSet(t, s, name, scoped.Revision{}, []byte("x"), scoped.NewToken())
	}
}

// wantList checks that List(prefix) yields exactly want, in any order.
func wantList(t *testing.T, s scoped.Store, prefix string, want ...string) {
	t.Helper()
	got := list(t, s, prefix)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Fatalf("List(%q) = %q, want %q", prefix, got, want)
	}
}

func testListByPrefix(t *testing.T, s scoped.Store) {
	wantList(t, s, "")
	names := []string{"user:1", "user:10", "user:2", "users", "use", "team:1", "ü:1", "ü:2"}
	create(t, s, names...)
	wantList(t, s, "", names...)
	wantList(t, s, "user:", "user:1", "user:10", "user:2")
	wantList(t, s, "user:1", "user:1", "user:10")
	wantList(t, s, "use", "user:1", "user:10", "user:2", "users", "use")
	wantList(t, s, "ü", "ü:1", "ü:2")
	wantList(t, s, "team:1", "team:1")
	wantList(t, s, "nobody")
	wantList(t, s, "User:") // case matters
}

// testListPatternCharacters: characters that are patterns to Redis's SCAN
// MATCH or SQL's LIKE match only themselves.
func testListPatternCharacters(t *testing.T, s scoped.Store) {
	names := []string{"a*", "ab", "a?", "a[b]", "ab]", "a%", "a_", `a\`, `a\b`, "a^", "a-z", "a{x}", "a.b", "a'"}
	create(t, s, names...)
	wantList(t, s, "a", names...)
	for _, prefix := range []string{"a*", "a?", "a[", "a%", "a_", `a\`, "a^", "a-", "a{", "a.", "a'"} {
		var want []string
		for _, n := range names {
			if strings.HasPrefix(n, prefix) {
				want = append(want, n)
			}
		}
		wantList(t, s, prefix, want...)
	}
	wantList(t, s, "a[b", "a[b]")
	wantList(t, s, `a\b`, `a\b`)
}

// testListManyPages: a listing longer than any one page a store fetches.
func testListManyPages(t *testing.T, s scoped.Store) {
	var names []string
	for i := range 250 {
		names = append(names, fmt.Sprintf("page/%03d", i))
	}
	create(t, s, names...)
	create(t, s, "other/1", "pagf", "pag")
	wantList(t, s, "page/", names...)
}

func testListLeavesOutDeletedAndExpired(t *testing.T, s scoped.Store, c *Clock) {
	create(t, s, "l/live")
	deleted := mustSet(t, s, "l/deleted", scoped.Revision{}, []byte("x"), scoped.NewToken())
	if _, ok, err := s.Delete(ctx(t), "l/deleted", deleted.Revision()); err != nil || !ok {
		t.Fatalf("Delete = %v, %v", ok, err)
	}
	mustWrite(t, s, "l/expired", scoped.Revision{}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken(), ExpiresAt: c.in(shortTTL)})
	mustWrite(t, s, "l/expiring later", scoped.Revision{}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken(), ExpiresAt: c.in(longTTL)})
	c.Advance(t, pastTTL)
	wantList(t, s, "l/", "l/live", "l/expiring later")
}

// testListStops: breaking out of the loop ends the listing.
func testListStops(t *testing.T, s scoped.Store) {
	for i := range 30 {
		create(t, s, fmt.Sprintf("s%02d", i))
	}
	n := 0
	for _, err := range s.List(ctx(t), "s") {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if n == 2 {
			break
		}
	}
	if n != 2 {
		t.Fatalf("the loop ran %d times, want 2", n)
	}
}

func testListCancelled(t *testing.T, s scoped.Store) {
	create(t, s, "c1", "c2")
	c, cancel := context.WithCancel(ctx(t))
	cancel()
	var errs []error
	for name, err := range s.List(c, "c") {
		if err == nil {
			t.Fatalf("List with a cancelled context yielded %q", name)
		}
		errs = append(errs, err)
	}
	if len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
		t.Fatalf("List with a cancelled context yielded the errors %v; want one matching context.Canceled", errs)
	}
}

func testEngineList(t *testing.T, s scoped.Store) {
	e := scoped.New(s)
	for _, name := range []string{"cart:1", "cart:2", "wallet:1"} {
		if _, err := scoped.Update(ctx(t), e, name, func(n *int) (int, error) { *n++; return *n, nil }); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Delete(ctx(t), "cart:2"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for name, err := range e.List(ctx(t), "cart:") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, name)
	}
	if !slices.Equal(got, []string{"cart:1"}) {
		t.Fatalf("Engine.List(cart:) = %q, want [cart:1]", got)
	}
}
