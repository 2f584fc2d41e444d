package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/memstore"
)

func newCounter(t *testing.T, prefix string) (*counter, *httptest.Server) {
	t.Helper()
	m, err := newMetrics()
	if err != nil {
		t.Fatal(err)
	}
	e := scoped.New(memstore.New(), scoped.WithHooks(m.hooks))
	c := &counter{e: e, prefix: prefix, log: slog.New(slog.NewTextHandler(io.Discard, nil)), metrics: m.handler}
	srv := httptest.NewServer(newServer(c).Handler)
	t.Cleanup(func() {
		srv.Close()
		e.Close(context.Background())
		m.provider.Shutdown(context.Background())
	})
	return c, srv
}

// calls returns the stored count of the scope name, 0 if it has none.
func calls(t *testing.T, e *scoped.Engine, name string) int {
	t.Helper()
	n, err := scoped.View(context.Background(), e, name, func(s *scoped.Scope) (int, error) {
		return scoped.Get[int](s, "calls")
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCounterCountsEveryRequest(t *testing.T) {
	_, srv := newCounter(t, "")
	const clients, each = 8, 25
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for range each {
				if _, err := get(t.Context(), srv.Client(), srv.URL); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n, err := get(t.Context(), srv.Client(), srv.URL); err != nil || n != clients*each+1 {
		t.Fatalf("request after %d others answered %d, %v", clients*each, n, err)
	}
}

func TestSentence(t *testing.T) {
	for n, want := range map[int]string{1: "There have been 1 request.\n", 2: "There have been 2 requests.\n", 0: "There have been 0 requests.\n"} {
		if got := sentence(n); got != want {
			t.Errorf("sentence(%d) = %q, want %q", n, got, want)
		}
		if got, err := parseSentence(want); err != nil || got != n {
			t.Errorf("parseSentence(%q) = %d, %v", want, got, err)
		}
	}
}

func TestRoutes(t *testing.T) {
	long := strings.Repeat("x", scoped.MaxNameLength)
	tests := []struct {
		method, target string
		status         int
		body           string // a prefix of the answer
		allow          string
		scope          string // the scope counted, if any
	}{
		{"GET", "/", 200, "There have been 1 request.", "", "p/global"},
		{"GET", "/?user=ann", 200, "There have been 1 request.", "", "p/user:ann"},
		{"GET", "/?user=" + "%C3%A9t%C3%A9", 200, "There have been 1 request.", "", "p/user:été"},
		{"GET", "/?other=1", 200, "There have been 1 request.", "", "p/global"},
		{"GET", "/nope", 404, "404 page not found", "", ""},
		{"GET", "/global", 404, "404 page not found", "", ""},
		{"POST", "/", 405, "Method Not Allowed", "GET", ""},
		{"HEAD", "/", 405, "", "GET", ""},
		{"DELETE", "/?user=ann", 405, "Method Not Allowed", "GET", ""},
		{"POST", "/nope", 404, "404 page not found", "", ""},
		{"GET", "/?user=", 400, "invalid query or user name", "", ""},
		{"GET", "/?user=a&user=b", 400, "invalid query or user name", "", ""},
		{"GET", "/?user=%ffsecret", 400, "invalid query or user name", "", ""},
		{"GET", "/?user=nul%00secret", 400, "invalid query or user name", "", ""},
		{"GET", "/?user=" + long, 400, "invalid query or user name", "", ""},
		{"GET", "/?user=%zzsecret", 400, "invalid query or user name", "", ""},
		{"GET", "/healthz", 200, "ok", "", ""},
		{"HEAD", "/healthz", 200, "", "", ""},
		{"POST", "/healthz", 405, "Method Not Allowed", "GET, HEAD", ""},
		{"GET", "/readyz", 200, "ready", "", ""},
		{"PUT", "/readyz", 405, "Method Not Allowed", "GET, HEAD", ""},
		{"GET", "/metrics", 200, "# HELP ", "", ""},
		{"GET", "/metrics?user=ann", 200, "# HELP ", "", ""},
		{"HEAD", "/metrics", 405, "", "GET", ""},
		{"POST", "/metrics", 405, "Method Not Allowed", "GET", ""},
		{"GET", "/metrics/", 404, "404 page not found", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.target, func(t *testing.T) {
			c, srv := newCounter(t, "p/")
			req, err := http.NewRequest(tt.method, srv.URL+tt.target, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body := string(b)
			if resp.StatusCode != tt.status || !strings.HasPrefix(body, tt.body) {
				t.Errorf("%d %q, want %d %q...", resp.StatusCode, body, tt.status, tt.body)
			}
			if got := resp.Header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow: %q, want %q", got, tt.allow)
			}
			if strings.Contains(body, "secret") || strings.Contains(body, "xxx") {
				t.Errorf("the answer %q repeats the input", body)
			}
			// Only the scope named, and only once, was counted.
			for _, name := range []string{"p/global", "p/user:ann", "p/user:été", "global", "user:ann"} {
				want := 0
				if name == tt.scope {
					want = 1
				}
				if n := calls(t, c.e, name); n != want {
					t.Errorf("scope %q counted %d, want %d", name, n, want)
				}
			}
		})
	}
}

func TestUsersAreIndependent(t *testing.T) {
	c, srv := newCounter(t, "")
	for i, target := range []string{"/?user=a", "/?user=a", "/?user=b", "/", "/?user=a"} {
		if _, err := get(t.Context(), srv.Client(), srv.URL+target); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	for name, want := range map[string]int{"user:a": 3, "user:b": 1, "global": 1} {
		if n := calls(t, c.e, name); n != want {
			t.Errorf("%s: %d, want %d", name, n, want)
		}
	}
}

func TestReadyzFailsWhenTheStoreDoes(t *testing.T) {
	c, srv := newCounter(t, "")
	c.e.Close(t.Context()) // a closed engine refuses every call, as a lost store would
	resp, err := srv.Client().Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz on a closed engine: %s", resp.Status)
	}
	if resp, err = srv.Client().Get(srv.URL + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Errorf("healthz: %v, %v", resp, err)
	}
	resp.Body.Close()
}

func TestReadyzFailsWhileDraining(t *testing.T) {
	c, srv := newCounter(t, "")
	c.draining.Store(true)
	resp, err := srv.Client().Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz while draining: %s", resp.Status)
	}
}

func TestSelfTest(t *testing.T) {
	cfg, err := parseConfig([]string{"-store", t.TempDir(), "-requests", "50", "-clients", "5"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := run(t.Context(), cfg, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "the next request got: There have been 51 requests.") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestParseConfig(t *testing.T) {
	env := map[string]string{"SCOPED_STORE": "redis://h:1/2", "SCOPED_MYSQL_POOL": "4", "SCOPED_PREFIX": "env/"}
	cfg, err := parseConfig([]string{"-serve", "-prefix", "flag/"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.addr != "127.0.0.1:8080" || cfg.store != "redis://h:1/2" || cfg.mysqlPool != 4 || cfg.prefix != "flag/" || cfg.logLevel != "info" {
		t.Errorf("%+v", cfg)
	}
	cfg, err = parseConfig(nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.addr != "127.0.0.1:0" || cfg.mysqlPool != 16 || cfg.logLevel != "warn" || !strings.HasSuffix(cfg.store, "scoped-counter") {
		t.Errorf("%+v", cfg)
	}
}
