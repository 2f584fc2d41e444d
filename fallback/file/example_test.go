//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package file_test

import (
	"context"
	"fmt"
	"log"
	"os"

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
