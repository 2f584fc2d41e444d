package main

import (
	"context"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/memstore"
	"github.com/scoped-go/scoped/internal/testenv"
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

// The example on PostgreSQL, in a schema of its own (the URL's search_path),
// dropped after: the table it creates, scoped_scopes, goes with it.
func TestSelfTestPostgres(t *testing.T) {
	admin := testenv.Postgres(t)
	schema := testenv.UniqueName("scopedtest_")
	if _, err := admin.Exec(t.Context(), `CREATE SCHEMA "`+schema+`"`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(context.Background(), `DROP SCHEMA "`+schema+`" CASCADE`); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(testenv.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	if err := run("127.0.0.1:0", backend{postgresURL: u.String()}, false, 50, 5); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := admin.QueryRow(t.Context(), `SELECT count(*) FROM "`+schema+`".scoped_scopes`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows in %s.scoped_scopes: %d, %v; want the one scope", schema, n, err)
	}
}
