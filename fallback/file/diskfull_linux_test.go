package file

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/scoped-go/scoped"
)

// On a file system that is really full, a small tmpfs, a write fails with
// ENOSPC, matching scoped.ErrNotApplied, and leaves the old record and no
// temporary file; once there is space again, the next write succeeds.
// Mounting needs CAP_SYS_ADMIN: without it the test is skipped, and
// TestFullDisk covers the same ground through injected failures.
func TestFullTmpfs(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=256k"); err != nil {
		t.Skipf("cannot mount a tmpfs (%v): TestFullDisk injects the failures instead", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmounting the tmpfs at %s: %v", dir, err)
		}
	})
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	old, _, err := s.CompareAndSet(t.Context(), "a", scoped.Revision{}, scoped.Write{Value: []byte("old"), Writer: scoped.NewToken()})
	if err != nil {
		t.Fatal(err)
	}

	filler := filepath.Join(dir, "filler")
	fill(t, filler)
	big := bytes.Repeat([]byte{0xc0}, 64<<10)
	_, ok, err := s.CompareAndSet(t.Context(), "a", old.Revision(), scoped.Write{Value: big, Writer: scoped.NewToken()})
	if ok || !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, scoped.ErrNotApplied) {
		t.Fatalf("CompareAndSet on a full tmpfs = %v, %v; want ENOSPC, not applied", ok, err)
	}
	if rec, err := s.Load(t.Context(), "a"); err != nil || rec.Revision() != old.Revision() || string(rec.Value) != "old" {
		t.Fatalf("after the failed write Load = %+v, %v; want %+v", rec, err, old)
	}
	if _, err := os.Lstat(s.path(fileBase("a"), tempSuffix)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the temporary file is left (%v)", err)
	}

	removeFile(t, filler)
	if rec, ok, err := s.CompareAndSet(t.Context(), "a", old.Revision(), scoped.Write{Value: big, Writer: scoped.NewToken()}); !ok || err != nil || rec.Version != 2 {
		t.Fatalf("CompareAndSet with space again = %+v, %v, %v", rec, ok, err)
	}
}

// fill writes to a new file at path until its file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}
