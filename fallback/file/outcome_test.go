//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package file

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/scoped-go/scoped"
)

// errInjected is the failure the tests inject into a system call.
var errInjected = errors.New("injected failure")

// Every way a write can fail, and what the write says of it: an error
// matching scoped.ErrNotApplied exactly when the record file is as it was
// before the write, and the scope as the error says.
func TestWriteOutcomes(t *testing.T) {
	type outcome int
	const (
		notApplied outcome = iota // error matching ErrNotApplied, old record kept
		written                   // plain error, the write is visible
	)
	tests := []struct {
		what   string
		delete bool // the write is a Delete, else a CompareAndSet
		fault  func(t *testing.T, s *Store, base string)
		want   outcome
	}{
		{"lock file missing", false, func(t *testing.T, s *Store, base string) {
			removeFile(t, s.lockPath(stripe(base)))
		}, notApplied},
		{"record unreadable", false, func(t *testing.T, s *Store, base string) {
			// A directory in place of the record: its read fails with
			// EISDIR. The record is moved into it, to put it back after.
			unreadable(t, s.path(base, recordSuffix))
		}, notApplied},
		{"record unreadable", true, func(t *testing.T, s *Store, base string) {
			unreadable(t, s.path(base, recordSuffix))
		}, notApplied},
		{"rename fails", false, func(t *testing.T, s *Store, base string) {
			s.rename = func(string, string) error { return errInjected }
		}, notApplied},
		{"rename done, then fails", false, func(t *testing.T, s *Store, base string) {
			s.rename = func(oldpath, newpath string) error {
				if err := os.Rename(oldpath, newpath); err != nil {
					t.Fatal(err)
				}
				return errInjected
			}
		}, written},
		{"directory fsync fails after the rename", false, func(t *testing.T, s *Store, base string) {
			s.syncDir = func(string) error { return errInjected }
		}, written},
		{"remove fails", true, func(t *testing.T, s *Store, base string) {
			s.remove = func(string) error { return errInjected }
		}, notApplied},
		{"remove done, then fails", true, func(t *testing.T, s *Store, base string) {
			s.remove = func(name string) error {
				if err := os.Remove(name); err != nil {
					t.Fatal(err)
				}
				return errInjected
			}
		}, written},
		{"directory fsync fails after the remove", true, func(t *testing.T, s *Store, base string) {
			s.syncDir = func(string) error { return errInjected }
		}, written},
	}
	for _, tt := range tests {
		op := "CompareAndSet"
		if tt.delete {
			op = "Delete"
		}
		t.Run(op+"/"+tt.what, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			old, ok, err := s.CompareAndSet(t.Context(), "a", scoped.Revision{}, scoped.Write{Value: []byte("old"), Writer: scoped.NewToken()})
			if err != nil || !ok {
				t.Fatalf("CompareAndSet = %v, %v", ok, err)
			}
			tt.fault(t, s, fileBase("a"))

			writer := scoped.NewToken()
			if tt.delete {
				_, _, err = s.Delete(t.Context(), "a", old.Revision())
			} else {
				_, _, err = s.CompareAndSet(t.Context(), "a", old.Revision(), scoped.Write{Value: []byte("new"), Writer: writer})
			}
			if err == nil {
				t.Fatalf("%s with a fault succeeded", op)
			}
			if got := errors.Is(err, scoped.ErrNotApplied); got != (tt.want == notApplied) {
				t.Fatalf("%s: %v; matches ErrNotApplied: %v, want %v", op, err, got, !got)
			}

			// Undo the fault, and see what the store holds.
			s.rename, s.remove, s.syncDir = os.Rename, os.Remove, syncDir
			if err := makeLocks(dir); err != nil {
				t.Fatal(err)
			}
			restore(t, s.path(fileBase("a"), recordSuffix))
			rec, err := s.Load(t.Context(), "a")
			if err != nil {
				t.Fatal(err)
			}
			want := old
			switch {
			case tt.want == written && tt.delete:
				want = scoped.Record{}
			case tt.want == written:
				want = scoped.Record{Value: []byte("new"), Version: 2, Writer: writer}
			}
			if rec.Revision() != want.Revision() || string(rec.Value) != string(want.Value) {
				t.Fatalf("after the failed %s the store holds %+v, want %+v", op, rec, want)
			}
			if _, err := os.Lstat(s.path(fileBase("a"), tempSuffix)); err == nil {
				t.Fatal("the temporary file is left")
			}
		})
	}
}

// unreadable puts a directory in place of the file at path, and the file in
// the directory.
func unreadable(t *testing.T, path string) {
	t.Helper()
	aside := path + "-aside"
	if err := os.Rename(path, aside); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(aside, filepath.Join(path, "file")); err != nil {
		t.Fatal(err)
	}
}

// restore undoes unreadable, if it was done.
func restore(t *testing.T, path string) {
	t.Helper()
	if info, err := os.Stat(path); err != nil || !info.IsDir() {
		return
	}
	aside := path + "-aside"
	if err := os.Rename(filepath.Join(path, "file"), aside); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(aside, path); err != nil {
		t.Fatal(err)
	}
}

func removeFile(t *testing.T, path string) {
	t.Helper()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}
