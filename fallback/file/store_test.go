//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package file_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/fallback/file"
	"github.com/scoped-go/scoped/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) scoped.Store { return open(t, t.TempDir()) })
}

// Every damage to a record file is reported as a CorruptValueError naming
// the scope, by Load, by CompareAndSet and Delete, and through the engine,
// and the damaged file is left as it is.
func TestCorruptRecord(t *testing.T) {
	damages := map[string]func(b []byte) []byte{
		"value byte flipped":     func(b []byte) []byte { b[len(b)-6] ^= 0x01; return b },
		"version byte flipped":   func(b []byte) []byte { b[8] ^= 0x80; return b },
		"checksum byte flipped":  func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b },
		"last byte missing":      func(b []byte) []byte { return b[:len(b)-1] },
		"half missing":           func(b []byte) []byte { return b[:len(b)/2] },
		"empty":                  func([]byte) []byte { return nil },
		"one byte appended":      func(b []byte) []byte { return append(b, 0) },
		"text":                   func([]byte) []byte { return []byte("not a record at all, but long enough to be one") },
		"zeros of the same size": func(b []byte) []byte { return make([]byte, len(b)) },
	}
	for what, damage := range damages {
		t.Run(what, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir)
			set(t, s, "a", 0, "\x92\x01\x02")
			path := filepath.Join(dir, "a.rec")
			bad := damage(readFile(t, path))
			if err := os.WriteFile(path, bad, 0o666); err != nil {
				t.Fatal(err)
			}

			_, err := s.Load(t.Context(), "a")
			assertCorrupt(t, "Load", err, "a")
			_, _, err = s.CompareAndSet(t.Context(), "a", 1, []byte("new"), scoped.NewToken())
			assertCorrupt(t, "CompareAndSet", err, "a")
			_, _, err = s.Delete(t.Context(), "a", 1, scoped.NewToken())
			assertCorrupt(t, "Delete", err, "a")
			e := scoped.New(s)
			_, err = scoped.Update(t.Context(), e, "a", func(v *[]int) (int, error) { *v = append(*v, 3); return len(*v), nil })
			assertCorrupt(t, "Update", err, "a")
			assertCorrupt(t, "engine Delete", e.Delete(t.Context(), "a"), "a")
			if got := readFile(t, path); string(got) != string(bad) {
				t.Fatal("the damaged record file was overwritten")
			}
		})
	}
}

// Open creates a missing directory with its parents, and refuses one that
// it cannot write to or that is not a directory.
func TestOpen(t *testing.T) {
	root := t.TempDir()
	nested := filepath.Join(root, "a", "b", "c")
	s := open(t, nested)
	set(t, s, "x", 0, "value")
	if info, err := os.Stat(filepath.Join(nested, "x.rec")); err != nil || !info.Mode().IsRegular() {
		t.Fatalf("record file in the new directory: %v", err)
	}
	if entries := readDir(t, nested); len(entries) != 2 {
		t.Fatalf("the new directory holds %q; want the record and lock files of x only", entries)
	}

	regular := filepath.Join(root, "regular")
	if err := os.WriteFile(regular, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	refused := map[string]string{
		"a regular file":       regular,
		"under a regular file": filepath.Join(regular, "store"),
		"the empty path":       "",
	}
	if runtime.GOOS == "linux" {
		refused["a directory no one can create files in"] = "/proc/self"
	}
	if os.Geteuid() != 0 {
		readOnly := filepath.Join(root, "read-only")
		if err := os.Mkdir(readOnly, 0o555); err != nil {
			t.Fatal(err)
		}
		refused["a read-only directory"] = readOnly
	}
	for what, dir := range refused {
		if s, err := file.Open(dir); err == nil {
			t.Errorf("Open of %s (%q) = %v, want an error", what, dir, s)
		} else if !strings.Contains(err.Error(), dir) {
			t.Errorf("Open of %s: %v; want the error to name %q", what, err, dir)
		}
	}
}

// Open removes the temporary files that crashed writers left, unless a
// writer holds the scope's lock; a leftover file never changes what Load
// returns.
func TestLeftoverTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	want := set(t, s, "a", 0, "committed")
	set(t, s, "b", 0, "committed")
	for _, name := range []string{"a.tmp", "b.tmp", ".open-12345"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("torn"), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	held := flock(t, filepath.Join(dir, "b.lock"))

	s = open(t, dir)
	for name, kept := range map[string]bool{"a.tmp": false, ".open-12345": false, "b.tmp": true} {
		if _, err := os.Stat(filepath.Join(dir, name)); (err == nil) != kept {
			t.Errorf("after Open, %s exists: %v; want %v", name, err == nil, kept)
		}
	}
	if rec := load(t, s, "a"); rec.Version != want.Version || string(rec.Value) != "committed" {
		t.Fatalf("Load after the sweep = %+v", rec)
	}
	if rec := load(t, s, "b"); string(rec.Value) != "committed" {
		t.Fatalf("Load beside a leftover temporary file = %+v", rec)
	}

	held.Close()
	set(t, s, "b", 1, "next")
	if _, err := os.Stat(filepath.Join(dir, "b.tmp")); err == nil {
		t.Fatal("b.tmp is still there after a commit of b")
	}
}

// A writer waiting for a busy lock gives up when its context ends and
// writes nothing; readers do not wait.
func TestLockWaitHonoursContext(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	want := set(t, s, "a", 0, "one")
	held := flock(t, filepath.Join(dir, "a.lock"))
	defer held.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, _, err := s.CompareAndSet(ctx, "a", 1, []byte("two"), scoped.NewToken())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("CompareAndSet behind a held lock: %v; want context.DeadlineExceeded", err)
	}
	if rec := load(t, s, "a"); rec.Version != want.Version || string(rec.Value) != "one" {
		t.Fatalf("Load behind a held lock = %+v, want version 1", rec)
	}
	set(t, s, "b", 0, "other scopes are not locked")
}

// Names that are not valid scope names are refused with scoped's NameError
// before any I/O.
func TestInvalidNames(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	for _, name := range []string{"", "nul\x00", "\xff", strings.Repeat("x", scoped.MaxNameLength+1)} {
		_, err := s.Load(t.Context(), name)
		_, _, cerr := s.CompareAndSet(t.Context(), name, 0, []byte("v"), scoped.NewToken())
		_, _, derr := s.Delete(t.Context(), name, 0, scoped.NewToken())
		for _, err := range []error{err, cerr, derr} {
			if !errors.Is(err, scoped.ErrInvalidName) {
				t.Errorf("name %.20q: %v; want ErrInvalidName", name, err)
			}
		}
	}
	if entries := readDir(t, dir); len(entries) != 0 {
		t.Fatalf("invalid names created %q", entries)
	}
}

// open returns a store over dir, failing the test if it cannot be opened.
func open(t *testing.T, dir string) *file.Store {
	t.Helper()
	s, err := file.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// set commits value over version expected of the scope name.
func set(t *testing.T, s *file.Store, name string, expected uint64, value string) scoped.Record {
	t.Helper()
	rec, ok, err := s.CompareAndSet(t.Context(), name, expected, []byte(value), scoped.NewToken())
	if err != nil || !ok {
		t.Fatalf("CompareAndSet(%.40q, expected %d) = %v, %v; want success", name, expected, ok, err)
	}
	return rec
}

func load(t *testing.T, s *file.Store, name string) scoped.Record {
	t.Helper()
	rec, err := s.Load(t.Context(), name)
	if err != nil {
		t.Fatalf("Load(%.40q): %v", name, err)
	}
	return rec
}

// flock holds an exclusive flock on the file at path, as another process
// would, until the returned file is closed.
func flock(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	return f
}

func readDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names
}

// onlyRecordFile returns the name of the one record file in dir.
func onlyRecordFile(t *testing.T, dir string) string {
	t.Helper()
	var recs []string
	for _, name := range readDir(t, dir) {
		if strings.HasSuffix(name, ".rec") {
			recs = append(recs, name)
		}
	}
	if len(recs) != 1 {
		t.Fatalf("%s holds record files %q, want one", dir, recs)
	}
	return recs[0]
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	if err := os.WriteFile(to, readFile(t, from), 0o666); err != nil {
		t.Fatal(err)
	}
}
