//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package file

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/scoped-go/scoped"
)

// Scopes that share a stripe take its lock once: a call over them does not
// wait for itself. A call that changes a single file changes it.
func TestManySharedStripe(t *testing.T) {
	var names []string
	want := stripe(fileBase("s0"))
	for i := 1; len(names) < 2; i++ {
		if name := fmt.Sprintf("s%d", i); stripe(fileBase(name)) == want {
			names = append(names, name)
		}
	}
	names = append(names, "s0")
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	var changes []scoped.Change
	for _, name := range names {
		changes = append(changes, scoped.Change{Name: name, Action: scoped.ActionSet, Write: scoped.Write{Value: []byte(name), Writer: scoped.NewToken()}})
	}
	cur, ok, err := s.CompareAndSetMany(ctx, changes)
	if err != nil || !ok {
		t.Fatalf("CompareAndSetMany over scopes of one stripe = %v, %v", ok, err)
	}
	for i, name := range names {
		if rec, err := s.Load(ctx, name); err != nil || rec.Revision() != cur[i].Revision() {
			t.Fatalf("Load(%q) = %+v, %v; want %+v", name, rec, err, cur[i])
		}
	}
	changes = changes[:1]
	changes[0].Expected, changes[0].Action = cur[0].Revision(), scoped.ActionDelete
	if _, ok, err := s.CompareAndSetMany(ctx, changes); err != nil || !ok {
		t.Fatalf("CompareAndSetMany deleting one scope = %v, %v", ok, err)
	}
	if rec, err := s.Load(ctx, names[0]); err != nil || rec.Exists() {
		t.Fatalf("Load(%q) after its delete = %+v, %v", names[0], rec, err)
	}
}
