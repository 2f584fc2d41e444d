package main

import (
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/memstore"
)

func TestCounterCountsEveryRequest(t *testing.T) {
	srv := httptest.NewServer(counter(scoped.New(memstore.New())))
	defer srv.Close()
	const clients, each = 8, 25
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for range each {
				if _, err := get(srv.URL); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n, err := get(srv.URL); err != nil || n != clients*each+1 {
		t.Fatalf("request after %d others answered %d, %v", clients*each, n, err)
	}
}

func TestSelfTest(t *testing.T) {
	if err := run("127.0.0.1:0", backend{dir: t.TempDir()}, false, 50, 5); err != nil {
		t.Fatal(err)
	}
}
