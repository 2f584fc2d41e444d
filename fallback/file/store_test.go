//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package file_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/fallback/file"
	"github.com/scoped-go/scoped/storetest"
)

// lockStripes is the number of lock files, as doc.go gives it.
const lockStripes = 256

// The store tells expiry by the suite's clock. The footprint counts every
// file under the store's directory, the lock files included: Open makes all
// of them, so their number is fixed from Open on, and a write that created
// one would show. Expired record files count until Sweep removes them.
func TestConformance(t *testing.T) {
	dirs := map[scoped.Store]string{}
	storetest.Run(t, storetest.Harness{
		NewStore: func(t *testing.T, clock *storetest.Clock) scoped.Store {
			dir := t.TempDir()
			s := open(t, dir, file.WithClock(clock.Now))
			dirs[s] = dir
			return s
		},
		Footprint: func(t *testing.T, s scoped.Store) int {
			return len(tree(t, dirs[s]))
		},
	})
}

// Every damage to a record file is reported as a CorruptValueError naming
// the scope, by Load, by CompareAndSet and Delete, and through the engine,
// and the damaged file is left as it is. The store's own calls say that
// nothing was written.
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
			rec := set(t, s, "a", scoped.Revision{}, "\x92\x01\x02")
			path := filepath.Join(dir, "a.rec")
			bad := damage(readFile(t, path))
			if err := os.WriteFile(path, bad, 0o666); err != nil {
				t.Fatal(err)
			}

			_, err := s.Load(t.Context(), "a")
			assertCorrupt(t, "Load", err, "a")
			assertNotApplied(t, "Load", err)
			_, _, err = s.CompareAndSet(t.Context(), "a", rec.Revision(), scoped.Write{Value: []byte("new"), Writer: scoped.NewToken()})
			assertCorrupt(t, "CompareAndSet", err, "a")
			assertNotApplied(t, "CompareAndSet", err)
			_, _, err = s.Delete(t.Context(), "a", rec.Revision())
			assertCorrupt(t, "Delete", err, "a")
			assertNotApplied(t, "Delete", err)
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

// Open creates a missing directory with its parents and every lock file,
// and refuses one that it cannot write to or that is not a directory.
func TestOpen(t *testing.T) {
	root := t.TempDir()
	nested := filepath.Join(root, "a", "b", "c")
	s := open(t, nested)
	set(t, s, "x", scoped.Revision{}, "value")
	if info, err := os.Stat(filepath.Join(nested, "x.rec")); err != nil || !info.Mode().IsRegular() {
		t.Fatalf("record file in the new directory: %v", err)
	}
	if entries := readDir(t, nested); !slices.Equal(entries, []string{".locks", "x.rec"}) {
		t.Fatalf("the new directory holds %q; want the lock directory and the record file of x", entries)
	}
	locks := readDir(t, filepath.Join(nested, ".locks"))
	if len(locks) != lockStripes {
		t.Fatalf("the lock directory holds %d files, want %d", len(locks), lockStripes)
	}
	for i, name := range locks {
		if want := fmt.Sprintf("%02x", i); name != want {
			t.Fatalf("lock file %d is named %q, want %q", i, name, want)
		}
	}

	// Open again, with a lock file missing: it is made again, and nothing
	// else changes.
	before := tree(t, nested)
	if err := os.Remove(filepath.Join(nested, ".locks", "2a")); err != nil {
		t.Fatal(err)
	}
	open(t, nested)
	if after := tree(t, nested); !slices.Equal(after, before) {
		t.Fatalf("after a second Open the directory holds %d files, %d before", len(after), len(before))
	}

	regular := filepath.Join(root, "regular")
	if err := os.WriteFile(regular, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	lockDirIsFile := filepath.Join(root, "lock-dir-is-a-file")
	if err := os.MkdirAll(lockDirIsFile, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(lockDirIsFile, ".locks"), nil, 0o666); err != nil {
		t.Fatal(err)
	}
	refused := map[string]string{
		"a regular file":                     regular,
		"under a regular file":               filepath.Join(regular, "store"),
		"the empty path":                     "",
		"a directory whose .locks is a file": lockDirIsFile,
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
// writer holds the lock of their stripe; a leftover file never changes what
// Load returns.
func TestLeftoverTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	// a and b must be on different stripes for the test to mean anything.
	if stripeOf("a") == stripeOf("b") {
		t.Fatal("scopes a and b share a stripe")
	}
	want := set(t, s, "a", scoped.Revision{}, "committed")
	b := set(t, s, "b", scoped.Revision{}, "committed")
	for _, name := range []string{"a.tmp", "b.tmp", "never-written.tmp", ".open-12345"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("torn"), 0o666); err != nil {
			t.Fatal(err)
		}
	}
	held := flock(t, lockPath(dir, "b"))

	s = open(t, dir)
	for name, kept := range map[string]bool{"a.tmp": false, "never-written.tmp": stripeOf("never-written") == stripeOf("b"), ".open-12345": false, "b.tmp": true} {
		if _, err := os.Stat(filepath.Join(dir, name)); (err == nil) != kept {
			t.Errorf("after Open, %s exists: %v; want %v", name, err == nil, kept)
		}
	}
	if rec := load(t, s, "a"); rec.Version != want.Version || string(rec.Value) != "committed" {
		t.Fatalf("Load after Open removed the leftovers = %+v", rec)
	}
	if rec := load(t, s, "b"); string(rec.Value) != "committed" {
		t.Fatalf("Load beside a leftover temporary file = %+v", rec)
	}

	held.Close()
	set(t, s, "b", b.Revision(), "next")
	if _, err := os.Stat(filepath.Join(dir, "b.tmp")); err == nil {
		t.Fatal("b.tmp is still there after a commit of b")
	}
}

// A write waiting for a busy lock gives up when its context ends, says that
// it was not applied, and never lands later; readers do not wait, and
// scopes of other stripes are not locked.
func TestLockWaitHonoursContext(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	want := set(t, s, "a", scoped.Revision{}, "one")
	held := flock(t, lockPath(dir, "a"))

	for _, write := range []struct {
		what string
		do   func(ctx context.Context) error
	}{
		{"CompareAndSet", func(ctx context.Context) error {
			_, _, err := s.CompareAndSet(ctx, "a", want.Revision(), scoped.Write{Value: []byte("two"), Writer: scoped.NewToken()})
			return err
		}},
		{"Delete", func(ctx context.Context) error {
			_, _, err := s.Delete(ctx, "a", want.Revision())
			return err
		}},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		err := write.do(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, scoped.ErrNotApplied) {
			t.Fatalf("%s behind a held lock: %v; want context.DeadlineExceeded and scoped.ErrNotApplied", write.what, err)
		}
	}
	equal(t, "Load behind a held lock", load(t, s, "a"), want)
	other := "other"
	if stripeOf(other) == stripeOf("a") {
		t.Fatal("scopes a and other share a stripe")
	}
	set(t, s, other, scoped.Revision{}, "other stripes are not locked")

	// Once the lock is free, the given-up writes still do not land: the
	// record stays as it was, and a write expecting it succeeds.
	held.Close()
	time.Sleep(3 * 4 * time.Millisecond) // three of the longest polls
	equal(t, "Load after the lock was released", load(t, s, "a"), want)
	set(t, s, "a", want.Revision(), "two")
}

// A write whose temporary file cannot be written, as on a full disk, says
// that it was not applied, leaves the record as it was and no temporary
// file, and does not stop the next write.
func TestFailedWrite(t *testing.T) {
	obstacles := map[string]func(t *testing.T, tmp string){
		// /dev/full refuses every write with ENOSPC, as a full disk does.
		// The failed write removes its temporary file, the link: it is
		// made again before every write.
		"full disk": func(t *testing.T, tmp string) {
			if _, err := os.Stat("/dev/full"); err != nil {
				t.Skip("no /dev/full:", err)
			}
			if err := os.Symlink("/dev/full", tmp); err != nil && !errors.Is(err, fs.ErrExist) {
				t.Fatal(err)
			}
		},
		// A directory, which cannot be opened for writing, where the
		// temporary file should be; a file in it keeps it there.
		"temporary file name taken": func(t *testing.T, tmp string) {
			if err := os.MkdirAll(filepath.Join(tmp, "keep"), 0o777); err != nil {
				t.Fatal(err)
			}
		},
	}
	for what, obstruct := range obstacles {
		t.Run(what, func(t *testing.T) {
			dir := t.TempDir()
			s := open(t, dir)
			old := set(t, s, "a", scoped.Revision{}, "old")
			aTmp, newTmp := filepath.Join(dir, "a.tmp"), filepath.Join(dir, "new.tmp")

			obstruct(t, aTmp)
			_, _, err := s.CompareAndSet(t.Context(), "a", old.Revision(), scoped.Write{Value: []byte("new"), Writer: scoped.NewToken()})
			assertNotApplied(t, "CompareAndSet of a written scope", err)
			equal(t, "Load after the failed write", load(t, s, "a"), old)
			obstruct(t, newTmp)
			_, _, err = s.CompareAndSet(t.Context(), "new", scoped.Revision{}, scoped.Write{Value: []byte("new"), Writer: scoped.NewToken()})
			assertNotApplied(t, "CompareAndSet of a new scope", err)
			equal(t, "Load of the scope the failed write would have made", load(t, s, "new"), scoped.Record{})

			// Through the engine, which may write again: a call that
			// fails wrote nothing, one that succeeds wrote once.
			e := scoped.New(s)
			obstruct(t, newTmp)
			n, err := scoped.Update(t.Context(), e, "new", func(n *int) (int, error) { *n++; return *n, nil })
			if got := load(t, s, "new"); err != nil && got.Exists() || err == nil && (n != 1 || got.Version != 1) {
				t.Fatalf("Update with a failing write = %d, %v; the store holds %+v", n, err, got)
			}
			if got := load(t, s, "new"); got.Exists() {
				if _, ok, err := s.Delete(t.Context(), "new", got.Revision()); err != nil || !ok {
					t.Fatalf("Delete = %v, %v", ok, err)
				}
			}

			for _, tmp := range []string{aTmp, newTmp} {
				if err := os.RemoveAll(tmp); err != nil {
					t.Fatal(err)
				}
			}
			set(t, s, "a", old.Revision(), "new")
			set(t, s, "new", scoped.Revision{}, "new")
			if got := names(tree(t, dir), ".tmp"); len(got) > 0 {
				t.Fatalf("temporary files %q are left", got)
			}
		})
	}
}

// A delete removes the record file: the directory holds what Open made and
// nothing else, even when a crash had left a temporary file of the scope.
func TestDeleteLeavesNoFile(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	empty := tree(t, dir)
	rec := set(t, s, "a", scoped.Revision{}, "one")
	rec = set(t, s, "a", rec.Revision(), "two")
	if err := os.WriteFile(filepath.Join(dir, "a.tmp"), []byte("torn"), 0o666); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Delete(t.Context(), "a", rec.Revision()); err != nil || !ok {
		t.Fatalf("Delete = %v, %v", ok, err)
	}
	if got := tree(t, dir); !slices.Equal(got, empty) {
		t.Fatalf("after the delete the directory holds %q besides what Open made", difference(got, empty))
	}
	// Deleting a scope that has no record touches nothing.
	if _, ok, err := s.Delete(t.Context(), "never written", scoped.Revision{}); err != nil || !ok {
		t.Fatalf("Delete of a scope never written = %v, %v", ok, err)
	}
	if got := tree(t, dir); !slices.Equal(got, empty) {
		t.Fatalf("after a delete of nothing the directory holds %q besides what Open made", difference(got, empty))
	}
}

// More scopes than stripes, written and deleted, some of them refused first
// and some of them through the engine, leave the directory exactly as Open
// made it.
func TestManyScopesLeaveNothing(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	empty := tree(t, dir)
	const scopes = 2*lockStripes + 1
	for i := range scopes {
		name := fmt.Sprintf("scope %d", i)
		// A refused write to a scope never written makes nothing.
		stale := scoped.Revision{Version: 1, Writer: scoped.NewToken()}
		if _, ok, err := s.CompareAndSet(t.Context(), name, stale, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()}); err != nil || ok {
			t.Fatalf("CompareAndSet of a scope never written, expecting version 1 = %v, %v; want a conflict", ok, err)
		}
		if i%64 == 0 { // the engine too, but few: each call takes two commits
			e := scoped.New(s)
			if _, err := scoped.Update(t.Context(), e, name, func(n *int) (int, error) { *n++; return *n, nil }); err != nil {
				t.Fatal(err)
			}
			if err := e.Delete(t.Context(), name); err != nil {
				t.Fatal(err)
			}
			continue
		}
		rec := set(t, s, name, scoped.Revision{}, "value")
		if _, ok, err := s.Delete(t.Context(), name, rec.Revision()); err != nil || !ok {
			t.Fatalf("Delete(%q) = %v, %v", name, ok, err)
		}
	}
	if got := tree(t, dir); !slices.Equal(got, empty) {
		t.Fatalf("after %d scopes were written and deleted the directory holds %q besides what Open made", scopes, difference(got, empty))
	}
}

// A record with an empty value, which version 1 of the package left for a
// deleted scope, reads as no record, and the scope is created again at
// version 1 over it.
func TestVersion1Tombstone(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	rec := set(t, s, "a", scoped.Revision{}, "value")
	// The record of the next version, without a value, as version 1 wrote
	// a tombstone.
	writeRecordV1(t, filepath.Join(dir, "a.rec"), "a", scoped.Record{Version: rec.Version + 1, Writer: scoped.NewToken()})
	equal(t, "Load of a tombstone", load(t, s, "a"), scoped.Record{})
	if _, ok, err := s.CompareAndSet(t.Context(), "a", rec.Revision(), scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()}); err != nil || ok {
		t.Fatalf("CompareAndSet expecting the revision before the tombstone = %v, %v; want a conflict", ok, err)
	}
	if again := set(t, s, "a", scoped.Revision{}, "again"); again.Version != 1 {
		t.Fatalf("scope created over a tombstone at version %d, want 1", again.Version)
	}
}

// Names that are not valid scope names are refused with scoped's NameError
// before any I/O.
func TestInvalidNames(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	empty := tree(t, dir)
	for _, name := range []string{"", "nul\x00", "\xff", strings.Repeat("x", scoped.MaxNameLength+1)} {
		_, err := s.Load(t.Context(), name)
		_, _, cerr := s.CompareAndSet(t.Context(), name, scoped.Revision{}, scoped.Write{Value: []byte("v"), Writer: scoped.NewToken()})
		_, _, derr := s.Delete(t.Context(), name, scoped.Revision{})
		for _, err := range []error{err, cerr, derr} {
			if !errors.Is(err, scoped.ErrInvalidName) || !errors.Is(err, scoped.ErrNotApplied) {
				t.Errorf("name %.20q: %v; want ErrInvalidName and ErrNotApplied", name, err)
			}
		}
	}
	if got := tree(t, dir); !slices.Equal(got, empty) {
		t.Fatalf("invalid names created %q", difference(got, empty))
	}
}

// stripeOf returns the stripe of a scope whose name is its own file base
// (a-z, 0-9, '-' and '_' only), as doc.go gives it: the first two bytes of
// the SHA-256 of the file base, big-endian, modulo the number of stripes.
func stripeOf(base string) int {
	sum := sha256.Sum256([]byte(base))
	return int(binary.BigEndian.Uint16(sum[:2])) % lockStripes
}

// lockPath returns the path of the lock file of the scope whose name is its
// own file base, as doc.go gives it.
func lockPath(dir, base string) string {
	return filepath.Join(dir, ".locks", fmt.Sprintf("%02x", stripeOf(base)))
}

// crc32c returns the CRC-32C of b, the checksum of a record file.
func crc32c(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

// writeRecordV1 writes rec as the record file at path of the scope name in
// the layout of the earlier versions of the package, without an expiry
// time: magic "SCF1", the version and the writer, the length of the name
// and the name, the value and a CRC-32C of all of it.
func writeRecordV1(t *testing.T, path, name string, rec scoped.Record) {
	t.Helper()
	b := []byte("SCF1")
	b = binary.BigEndian.AppendUint64(b, rec.Version)
	b = append(b, rec.Writer[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
	b = append(b, name...)
	b = append(b, rec.Value...)
	if err := os.WriteFile(path, binary.BigEndian.AppendUint32(b, crc32c(b)), 0o666); err != nil {
		t.Fatal(err)
	}
}

// open returns a store over dir, failing the test if it cannot be opened.
func open(t testing.TB, dir string, opts ...file.Option) *file.Store {
	t.Helper()
	s, err := file.Open(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// set commits value over the expected revision of the scope name.
func set(t *testing.T, s *file.Store, name string, expected scoped.Revision, value string) scoped.Record {
	t.Helper()
	rec, ok, err := s.CompareAndSet(t.Context(), name, expected, scoped.Write{Value: []byte(value), Writer: scoped.NewToken()})
	if err != nil || !ok {
		t.Fatalf("CompareAndSet(%.40q, expected version %d) = %v, %v; want success", name, expected.Version, ok, err)
	}
	return rec
}

func load(t testing.TB, s *file.Store, name string) scoped.Record {
	t.Helper()
	rec, err := s.Load(context.Background(), name)
	if err != nil {
		t.Fatalf("Load(%.40q): %v", name, err)
	}
	return rec
}

func equal(t *testing.T, what string, got, want scoped.Record) {
	t.Helper()
	if got.Version != want.Version || got.Writer != want.Writer || string(got.Value) != string(want.Value) || (got.Value == nil) != (want.Value == nil) {
		t.Fatalf("%s = {Version %d, Writer %s, Value %.40q}; want {Version %d, Writer %s, Value %.40q}",
			what, got.Version, got.Writer, got.Value, want.Version, want.Writer, want.Value)
	}
}

func assertNotApplied(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, scoped.ErrNotApplied) {
		t.Fatalf("%s: %v; want an error matching scoped.ErrNotApplied", what, err)
	}
}

// flock holds an exclusive flock on the existing file at path, as another
// process would, until the returned file is closed.
func flock(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
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

// tree returns the paths, relative to dir and sorted, of every file and
// directory under dir.
func tree(t *testing.T, dir string) []string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path != dir {
			rel, err := filepath.Rel(dir, path)
			if err != nil {
				return err
			}
			paths = append(paths, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return paths
}

// difference returns the paths of got that are not in want.
func difference(got, want []string) []string {
	return slices.DeleteFunc(slices.Clone(got), func(p string) bool { return slices.Contains(want, p) })
}

// names returns the paths that end in suffix.
func names(paths []string, suffix string) []string {
	return slices.DeleteFunc(slices.Clone(paths), func(p string) bool { return !strings.HasSuffix(p, suffix) })
}

// onlyRecordFile returns the name of the one record file in dir.
func onlyRecordFile(t *testing.T, dir string) string {
	t.Helper()
	recs := names(readDir(t, dir), ".rec")
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
