package storeurl

import (
	"errors"
	"strings"
	"testing"

	"github.com/scoped-go/scoped/internal/testenv"
)

func TestOpenFile(t *testing.T) {
	dir := t.TempDir()
	for _, target := range []string{dir, "file:" + dir, "file://" + dir, "FILE:" + dir} {
		st, err := Open(t.Context(), target)
		if err != nil || st.Description != "directory "+dir {
			t.Errorf("Open(%q): %v", target, err)
			continue
		}
		st.Close()
	}
}

func TestOpenErrors(t *testing.T) {
	for _, tc := range []struct {
		target  string
		pool    int
		want    string
		invalid bool // the error matches ErrInvalidTarget
	}{
		{"postgres://u@127.0.0.1:1/db", 1, "PostgreSQL at 127.0.0.1:1", false},
		{"POSTGRESQL://u@127.0.0.1:1/db", 1, "PostgreSQL at 127.0.0.1:1", false},
		{"root@tcp(127.0.0.1:1)/db", 1, "MySQL at 127.0.0.1:1", false},
		{"mysql://root@tcp(127.0.0.1:1)/db", 1, "MySQL at 127.0.0.1:1", false},
		{"redis://127.0.0.1:1/0", 1, "Redis at 127.0.0.1:1, db 0", false},
		{"rediss://127.0.0.1:1/0", 1, "Redis at 127.0.0.1:1, db 0, TLS", false},
		{"redis://h:1/x", 1, "invalid database number", true},
		{"postgres://u@127.0.0.1:99999/db", 1, "", true},
		{"root@tcp(127.0.0.1:1/db", 1, "", true},
		{"root@tcp(127.0.0.1:1)/db", 0, "want at least 1", true},
		{"postgres://u@127.0.0.1:1/db", 0, "want at least 1", true},
	} {
		st, err := Open(t.Context(), tc.target, WithPool(tc.pool))
		if err == nil {
			st.Close()
			t.Errorf("Open(%q, pool %d) succeeded", tc.target, tc.pool)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || errors.Is(err, ErrInvalidTarget) != tc.invalid {
			t.Errorf("Open(%q, pool %d): %v; want an error with %q, ErrInvalidTarget %v", tc.target, tc.pool, err, tc.want, tc.invalid)
		}
	}
}

func TestOpenServers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target func(t *testing.T) string
		want   string // the description's beginning
	}{
		{"redis", func(t *testing.T) string {
			testenv.Redis(t) // skips the test if the server does not answer
			return "redis://" + testenv.RedisAddr() + "/0"
		}, "Redis at " + testenv.RedisAddr() + ", db 0"},
		{"mysql DSN", func(t *testing.T) string {
			testenv.MySQL(t)
			return testenv.MySQLDSN()
		}, "MySQL at "},
		{"mysql URL", func(t *testing.T) string {
			testenv.MySQL(t)
			return "mysql://" + testenv.MySQLDSN()
		}, "MySQL at "},
		{"postgres", func(t *testing.T) string {
			testenv.Postgres(t)
			return testenv.PostgresURL()
		}, "PostgreSQL at "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := tc.target(t)
			st, err := Open(t.Context(), target, WithPool(1))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if !strings.HasPrefix(st.Description, tc.want) || strings.Contains(st.Description, "password") {
				t.Errorf("description %q, want %q...", st.Description, tc.want)
			}
			rec, err := st.Store.Load(t.Context(), testenv.UniqueName("storeurl_test_"))
			if err != nil || rec.Value != nil {
				t.Errorf("Load of a scope never written: %+v, %v", rec, err)
			}
		})
	}
}
