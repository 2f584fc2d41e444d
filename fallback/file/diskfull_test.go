//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package file

import (
	"errors"
	"io/fs"
	"os"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/scoped-go/scoped"
)

// faultyFile is a temporary file whose call op fails with ENOSPC, as on a
// full disk: a write after filling what space there was, an fsync or a
// close that reports a failed writeback.
type faultyFile struct {
	*os.File
	op string // "write", "sync" or "close"
}

func (f faultyFile) Write(b []byte) (int, error) {
	if f.op != "write" {
		return f.File.Write(b)
	}
	n, err := f.File.Write(b[:len(b)/2])
	if err != nil {
		return n, err
	}
	return n, f.fault()
}

func (f faultyFile) Sync() error {
	if f.op == "sync" {
		return f.fault()
	}
	return f.File.Sync()
}

func (f faultyFile) Close() error {
	err := f.File.Close()
	if f.op == "close" && err == nil {
		return f.fault()
	}
	return err
}

func (f faultyFile) fault() error {
	return &fs.PathError{Op: f.op, Path: f.Name(), Err: syscall.ENOSPC}
}

// A write that runs out of space, or whose fsync fails, returns an error
// that matches the cause (syscall.ENOSPC). Up to the rename it matches
// scoped.ErrNotApplied, and the scope keeps its old record, or no file if
// it had none; after the rename, when the directory's fsync fails, it does
// not, and the new record is there, whole. No temporary file is left.
func TestFullDisk(t *testing.T) {
	enospc := func(op string) func(string) (tempFile, error) {
		return func(path string) (tempFile, error) {
			if op == "create" {
				return nil, &fs.PathError{Op: "open", Path: path, Err: syscall.ENOSPC}
			}
			f, err := createTemp(path)
			if err != nil {
				return nil, err
			}
			return faultyFile{f.(*os.File), op}, nil
		}
	}
	tests := []struct {
		fault   string // the call that fails
		applied bool   // the new record is written nonetheless
	}{
		{"create", false},
		{"write", false},
		{"sync", false},
		{"close", false},
		{"directory sync", true},
	}
	for _, tt := range tests {
		for _, first := range []bool{false, true} {
			what := tt.fault + "/over a record"
			if first {
				what = tt.fault + "/first write"
			}
			t.Run(what, func(t *testing.T) {
				dir := t.TempDir()
				s, err := Open(dir)
				if err != nil {
					t.Fatal(err)
				}
				var old scoped.Record
				if !first {
					if old, _, err = s.CompareAndSet(t.Context(), "a", scoped.Revision{}, scoped.Write{Value: []byte("old"), Writer: scoped.NewToken()}); err != nil {
						t.Fatal(err)
					}
				}
				if tt.fault == "directory sync" {
					s.syncDir = func(dir string) error {
						return &fs.PathError{Op: "sync", Path: dir, Err: syscall.ENOSPC}
					}
				} else {
					s.create = enospc(tt.fault)
				}

				writer := scoped.NewToken()
				_, ok, err := s.CompareAndSet(t.Context(), "a", old.Revision(), scoped.Write{Value: []byte("new value"), Writer: writer})
				if ok || !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("CompareAndSet on a full disk = %v, %v; want an error matching ENOSPC", ok, err)
				}
				if got := errors.Is(err, scoped.ErrNotApplied); got == tt.applied {
					t.Fatalf("CompareAndSet: %v; matches ErrNotApplied: %v, want %v", err, got, !got)
				}

				s.create, s.syncDir = createTemp, syncDir
				rec, err := s.Load(t.Context(), "a")
				if err != nil {
					t.Fatal(err)
				}
				want := old
				if tt.applied {
					want = scoped.Record{Value: []byte("new value"), Version: old.Version + 1, Writer: writer}
				}
				if rec.Revision() != want.Revision() || string(rec.Value) != string(want.Value) {
					t.Fatalf("after the failed write the store holds %+v, want %+v", rec, want)
				}
				wantFiles := []string{lockDir}
				if rec.Exists() {
					wantFiles = append(wantFiles, fileBase("a")+recordSuffix)
				}
				if files := dirNames(t, dir); !slices.Equal(files, wantFiles) {
					t.Fatalf("the directory holds %q, want %q", files, wantFiles)
				}
			})
		}
	}
}

// dirNames returns the sorted names in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// Through the engine, a write on a full disk is tried again, as any write
// not applied, and when the attempts run out fails with an error matching
// both syscall.ENOSPC and scoped.ErrNotApplied; the scope keeps its value.
func TestFullDiskEngine(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := scoped.New(s, scoped.WithMaxAttempts(3), scoped.WithBackoff(time.Millisecond, time.Millisecond))
	incr := func(n *int) (int, error) { *n++; return *n, nil }
	if _, err := scoped.Update(t.Context(), e, "a", incr); err != nil {
		t.Fatal(err)
	}
	creates := 0
	s.create = func(path string) (tempFile, error) {
		creates++
		return nil, &fs.PathError{Op: "open", Path: path, Err: syscall.ENOSPC}
	}
	if n, err := scoped.Update(t.Context(), e, "a", incr); !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, scoped.ErrNotApplied) || creates != 3 {
		t.Fatalf("Update on a full disk = %d, %v after %d attempts; want ENOSPC, not applied, after 3", n, err, creates)
	}
	s.create = createTemp
	if n, err := scoped.Update(t.Context(), e, "a", incr); n != 2 || err != nil {
		t.Fatalf("Update with space again = %d, %v; want 2", n, err)
	}
}
