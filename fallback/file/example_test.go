//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package file_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/fallback/file"
)

// Counting visits in a local directory: no server needed. Every process
// that opens the same directory shares the count.
func Example() {
	dir, err := os.MkdirTemp("", "scoped-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := file.Open(dir)
	if err != nil {
		log.Fatal(err)
	}
	e := scoped.New(s)
	ctx := context.Background()
	for range 3 {
		n, err := scoped.Update(ctx, e, "visits", func(n *int) (int, error) {
			*n++
			return *n, nil
		})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("visit", n)
	}

	// A deleted scope leaves nothing: the directory holds the lock files
	// alone, as Open made it.
	if err := e.Delete(ctx, "visits"); err != nil {
		log.Fatal(err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		log.Fatal(err)
	}
	for _, entry := range entries {
		fmt.Println(entry.Name())
	}
	// Output:
	// visit 1
	// visit 2
	// visit 3
	// .locks
}

// Scopes that expire: the engine and the store share a clock, here one that
// the example moves. An expired scope is neither loaded nor listed, and
// Sweep removes its file.
func ExampleStore_Sweep() {
	dir, err := os.MkdirTemp("", "scoped-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	now := time.Now()
	clock := func() time.Time { return now }
	s, err := file.Open(dir, file.WithClock(clock))
	if err != nil {
		log.Fatal(err)
	}
	e := scoped.New(s, scoped.WithClock(clock))
	ctx := context.Background()
	login := func(name string, opts ...scoped.CallOption) {
		if _, err := scoped.Update(ctx, e, name, func(n *int) (int, error) { *n++; return *n, nil }, opts...); err != nil {
			log.Fatal(err)
		}
	}
	login("session:ann", scoped.ExpireAfter(time.Minute))
	login("session:bob")

	now = now.Add(time.Hour)
	for name, err := range e.List(ctx, "session:") {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("live:", name)
	}
	n, err := s.Sweep(ctx, 100)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("swept:", n)
	// Output:
	// live: session:bob
	// swept: 1
}
