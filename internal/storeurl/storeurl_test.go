package storeurl

import (
	"errors"
	"strings"
	"testing"
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
