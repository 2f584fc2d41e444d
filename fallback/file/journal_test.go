//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package file

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scoped-go/scoped"
)

// A journal decodes as it was encoded, under its own name only; every
// shorter file, as a crash cut it, fails to decode.
func TestJournalRoundTrip(t *testing.T) {
	j := journal{{stepRename, "a"}, {stepRemove, "b%2F"}, {stepRename, strings.Repeat("c", 200)}}
	b := j.encode()
	got, err := decodeJournal(j.name(), b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(j) {
		t.Fatalf("decoded %d steps, want %d", len(got), len(j))
	}
	for i := range j {
		if got[i] != j[i] {
			t.Fatalf("step %d decoded as %+v, want %+v", i, got[i], j[i])
		}
	}
	for n := range len(b) {
		if _, err := decodeJournal(j.name(), b[:n]); err == nil {
			t.Fatalf("a journal cut to %d bytes of %d decoded", n, len(b))
		}
	}
	other := lockName((j.stripes()[0] + 1) % lockStripes)
	if _, err := decodeJournal(other, b); err == nil {
		t.Fatal("a journal decoded under another stripe's name")
	}
}

// namesOnStripes returns n scope names whose stripes are distinct and
// ascending in the order of the names.
func namesOnStripes(n int) []string {
	var names []string
	last := -1
	for i := 0; len(names) < n; i++ {
		name := string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		if st := stripe(fileBase(name)); st > last {
			names, last = append(names, name), st
		}
	}
	return names
}

// Every way a CompareAndSetMany of several files can fail, and what it says
// of it: an error matching scoped.ErrNotApplied exactly when every scope is
// as it was, and otherwise a journal that the next Load of one of its
// scopes finishes, leaving every scope written.
func TestManyOutcomes(t *testing.T) {
	names := namesOnStripes(3)
	failNth := func(n int, done bool) func(string, string) error {
		calls := 0
		return func(oldpath, newpath string) error {
			if calls++; calls != n {
				return os.Rename(oldpath, newpath)
			}
			if done {
				if err := os.Rename(oldpath, newpath); err != nil {
					panic(err)
				}
			}
			return errInjected
		}
	}
	syncFails := func(match func(dir string) bool, n int) func(string) error {
		calls := 0
		return func(dir string) error {
			if match(dir) {
				if calls++; calls == n {
					return errInjected
				}
			}
			return syncDir(dir)
		}
	}
	isJournalDir := func(dir string) bool { return filepath.Base(dir) == journalDir }
	isStoreDir := func(dir string) bool { return !isJournalDir(dir) }
	tests := []struct {
		what       string
		fault      func(t *testing.T, s *Store)
		notApplied bool
	}{
		{"a temporary file cannot be written", func(t *testing.T, s *Store) {
			if err := os.Mkdir(s.path(fileBase(names[1]), tempSuffix), 0o777); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"the directory fsync before the journal fails", func(t *testing.T, s *Store) {
			s.syncDir = syncFails(isStoreDir, 1)
		}, true},
		{"the journal directory fsync fails", func(t *testing.T, s *Store) {
			s.syncDir = syncFails(isJournalDir, 1)
		}, true},
		{"the first rename fails", func(t *testing.T, s *Store) { s.rename = failNth(1, false) }, false},
		{"the second rename fails", func(t *testing.T, s *Store) { s.rename = failNth(2, false) }, false},
		{"the second rename is done, then fails", func(t *testing.T, s *Store) { s.rename = failNth(2, true) }, false},
		{"the removal fails", func(t *testing.T, s *Store) {
			s.remove = func(string) error { return errInjected }
		}, false},
		{"the directory fsync after the renames fails", func(t *testing.T, s *Store) {
			s.syncDir = syncFails(isStoreDir, 2)
		}, false},
		{"the journal directory fsync after its removal fails", func(t *testing.T, s *Store) {
			s.syncDir = syncFails(isJournalDir, 2)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			var old []scoped.Record
			for _, name := range names {
				rec, ok, err := s.CompareAndSet(t.Context(), name, scoped.Revision{}, scoped.Write{Value: []byte("old"), Writer: scoped.NewToken()})
				if err != nil || !ok {
					t.Fatalf("CompareAndSet = %v, %v", ok, err)
				}
				old = append(old, rec)
			}
			tt.fault(t, s)
			changes := []scoped.Change{
				{Name: names[0], Expected: old[0].Revision(), Action: scoped.ActionSet, Write: scoped.Write{Value: []byte("new"), Writer: scoped.NewToken()}},
				{Name: names[1], Expected: old[1].Revision(), Action: scoped.ActionSet, Write: scoped.Write{Value: []byte("new"), Writer: scoped.NewToken()}},
				{Name: names[2], Expected: old[2].Revision(), Action: scoped.ActionDelete},
			}
			_, _, err = s.CompareAndSetMany(t.Context(), changes)
			if err == nil {
				t.Fatal("CompareAndSetMany with a fault succeeded")
			}
			if got := errors.Is(err, scoped.ErrNotApplied); got != tt.notApplied {
				t.Fatalf("CompareAndSetMany: %v; matches ErrNotApplied: %v, want %v", err, got, !got)
			}

			// Undo the fault, and see what the store holds.
			s.rename, s.remove, s.syncDir = os.Rename, os.Remove, syncDir
			for i, name := range names {
				rec, err := s.Load(t.Context(), name)
				if err != nil {
					t.Fatal(err)
				}
				want := old[i]
				switch {
				case tt.notApplied:
				case changes[i].Action == scoped.ActionDelete:
					want = scoped.Record{}
				default:
					want = changes[i].Write.Record(2)
				}
				if rec.Revision() != want.Revision() || string(rec.Value) != string(want.Value) {
					t.Fatalf("after the failed call %s holds %+v, want %+v", name, rec, want)
				}
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				if strings.HasSuffix(e.Name(), tempSuffix) {
					t.Errorf("%s is left", e.Name())
				}
			}
			if journals, err := s.journalNames(); err != nil || len(journals) > 0 {
				t.Errorf("journals left: %v, %v", journals, err)
			}
		})
	}
}

// writeLeftover writes, as a writer killed after its journal would have
// left them, the temporary file of a new record of each name and the
// journal renaming them, cut to cut bytes if cut is not negative. It
// returns the new records.
func writeLeftover(t *testing.T, s *Store, names []string, cut int) []scoped.Record {
	t.Helper()
	var (
		j    journal
		recs []scoped.Record
	)
	for _, name := range names {
		rec := scoped.Record{Value: []byte("left"), Version: 1, Writer: scoped.NewToken()}
		if err := writeSynced(s.create, s.path(fileBase(name), tempSuffix), encodeRecord(name, rec)); err != nil {
			t.Fatal(err)
		}
		j = append(j, step{stepRename, fileBase(name)})
		recs = append(recs, rec)
	}
	b := j.encode()
	if cut >= 0 {
		b = b[:cut]
	}
	if err := os.MkdirAll(filepath.Join(s.dir, journalDir), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.journalPath(j.name()), b, 0o666); err != nil {
		t.Fatal(err)
	}
	return recs
}

// A journal that a crash left is finished by Open, or, while a lock of one
// of its stripes is busy, left to the writer that takes it next, which
// waits for every lock of the journal, also those of other scopes, and
// finishes it before its own write. A journal cut short by a crash is
// removed by the next writer of its stripe, and does nothing.
func TestLeftoverJournal(t *testing.T) {
	names := namesOnStripes(2)
	t.Run("Open", func(t *testing.T) {
		dir := t.TempDir()
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		recs := writeLeftover(t, s, names, -1)
		s, err = Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		for i, name := range names {
			if rec, err := s.read(name, fileBase(name)); err != nil || rec.Revision() != recs[i].Revision() {
				t.Fatalf("%s holds %+v, %v after Open; want %+v", name, rec, err, recs[i])
			}
		}
		if journals, err := s.journalNames(); err != nil || len(journals) > 0 {
			t.Errorf("journals left: %v, %v", journals, err)
		}
	})
	t.Run("busy", func(t *testing.T) {
		dir := t.TempDir()
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		recs := writeLeftover(t, s, names, -1)
		other, err := tryLock(s.lockPath(stripe(fileBase(names[1]))))
		if err != nil || other == nil {
			t.Fatalf("tryLock = %v, %v", other, err)
		}
		if _, err := Open(dir); err != nil {
			t.Fatal(err)
		}
		if journals, err := s.journalNames(); err != nil || len(journals) != 1 {
			t.Fatalf("journals after Open with a busy stripe: %v, %v; want the one", journals, err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		if _, err := s.Load(ctx, names[0]); !errors.Is(err, scoped.ErrNotApplied) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Load of a scope of a journal with a busy stripe: %v; want the deadline, not applied", err)
		}
		other.unlock()
		next := scoped.Write{Value: []byte("next"), Writer: scoped.NewToken()}
		if _, ok, err := s.CompareAndSet(t.Context(), names[0], recs[0].Revision(), next); err != nil || !ok {
			t.Fatalf("CompareAndSet over the journal's record = %v, %v", ok, err)
		}
		if rec, err := s.read(names[1], fileBase(names[1])); err != nil || rec.Revision() != recs[1].Revision() {
			t.Fatalf("%s holds %+v, %v; want the journal's %+v", names[1], rec, err, recs[1])
		}
	})
	t.Run("cut short", func(t *testing.T) {
		dir := t.TempDir()
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		writeLeftover(t, s, names, 10)
		// A file of no journal's name is none of the store's business.
		if err := os.Mkdir(filepath.Join(dir, journalDir, "zz"), 0o777); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := s.CompareAndSet(t.Context(), names[0], scoped.Revision{}, scoped.Write{Value: []byte("v"), Writer: scoped.NewToken()}); err != nil || !ok {
			t.Fatalf("CompareAndSet = %v, %v", ok, err)
		}
		if journals, err := s.journalNames(); err != nil || len(journals) != 1 || journals[0] != "zz" {
			t.Errorf("a journal cut short is left after a write of its stripe: %v, %v", journals, err)
		}
		if rec, err := s.Load(t.Context(), names[1]); err != nil || rec.Exists() {
			t.Fatalf("%s holds %+v, %v; a journal cut short must do nothing", names[1], rec, err)
		}
	})
}
