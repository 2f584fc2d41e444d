//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris

package file_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/fallback/file"
)

// clock is a time that a test moves.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.UnixMilli(time.Now().UnixMilli())} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// write commits value over the expected revision of the scope name, with
// the expiry time at.
func write(t *testing.T, s *file.Store, name string, expected scoped.Revision, value string, at time.Time) scoped.Record {
	t.Helper()
	rec, ok, err := s.CompareAndSet(t.Context(), name, expected, scoped.Write{Value: []byte(value), Writer: scoped.NewToken(), ExpiresAt: at})
	if err != nil || !ok {
		t.Fatalf("CompareAndSet(%q, expected version %d) = %v, %v; want success", name, expected.Version, ok, err)
	}
	return rec
}

// The expiry time is kept in the record file, to the millisecond, and the
// clock of each store decides: a store whose clock is later sees the record
// expired, one whose clock is earlier does not.
func TestExpiryIsTheStoresClocks(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	s := open(t, dir, file.WithClock(c.Now))
	at := c.Now().Add(time.Minute + 123456*time.Microsecond)
	rec := write(t, s, "a", scoped.Revision{}, "v", at)
	if want := time.UnixMilli(at.UnixMilli()); !rec.ExpiresAt.Equal(want) {
		t.Fatalf("the write returned the expiry time %v, want %v", rec.ExpiresAt, want)
	}
	if got := load(t, s, "a"); !got.ExpiresAt.Equal(rec.ExpiresAt) {
		t.Fatalf("Load returned the expiry time %v, want %v", got.ExpiresAt, rec.ExpiresAt)
	}

	late := &clock{now: at.Add(time.Millisecond)}
	other := open(t, dir, file.WithClock(late.Now))
	equal(t, "Load by a store whose clock is past the expiry", load(t, other, "a"), scoped.Record{})
	equal(t, "Load by a store whose clock is before it", load(t, s, "a"), rec)
	c.advance(time.Hour)
	equal(t, "Load once the clock passed the expiry", load(t, s, "a"), scoped.Record{})
}

// A write expecting no record replaces the file of an expired record and
// starts at version 1; a write or a delete expecting the expired revision
// is refused with the zero Record and touches nothing; a delete expecting
// no record succeeds and leaves the file to Sweep.
func TestExpiredRecordFile(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	s := open(t, dir, file.WithClock(c.Now))
	old := write(t, s, "a", scoped.Revision{}, "old", c.Now().Add(time.Second))
	old = write(t, s, "a", old.Revision(), "old", c.Now().Add(time.Second))
	c.advance(time.Second)
	path := filepath.Join(dir, "a.rec")
	expired := readFile(t, path)

	cur, ok, err := s.CompareAndSet(t.Context(), "a", old.Revision(), scoped.Write{Value: []byte("stale"), Writer: scoped.NewToken()})
	if err != nil || ok {
		t.Fatalf("CompareAndSet expecting the expired revision = %v, %v; want a conflict", ok, err)
	}
	equal(t, "record returned by the refused write", cur, scoped.Record{})
	cur, ok, err = s.Delete(t.Context(), "a", old.Revision())
	if err != nil || ok {
		t.Fatalf("Delete expecting the expired revision = %v, %v; want a conflict", ok, err)
	}
	equal(t, "record returned by the refused delete", cur, scoped.Record{})
	if _, ok, err := s.Delete(t.Context(), "a", scoped.Revision{}); err != nil || !ok {
		t.Fatalf("Delete expecting no record over an expired one = %v, %v; want success", ok, err)
	}
	if got := readFile(t, path); string(got) != string(expired) {
		t.Fatal("the expired record file was changed")
	}

	again := write(t, s, "a", scoped.Revision{}, "again", time.Time{})
	if again.Version != 1 {
		t.Fatalf("a scope written over an expired record is at version %d, want 1", again.Version)
	}
	c.advance(100 * 365 * 24 * time.Hour)
	equal(t, "Load of the record written over an expired one, a century later", load(t, s, "a"), again)
	if got := names(readDir(t, dir), ".tmp"); len(got) > 0 {
		t.Fatalf("temporary files %q are left", got)
	}
}

// A record in the layout of earlier versions, magic "SCF1", reads with no
// expiry time, is listed, is written over in the new layout, and is never
// swept.
func TestRecordV1(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	s := open(t, dir, file.WithClock(c.Now))
	v1 := scoped.Record{Value: []byte("old layout"), Version: 7, Writer: scoped.NewToken()}
	path := filepath.Join(dir, "a.rec")
	writeRecordV1(t, path, "a", v1)
	writeRecordV1(t, filepath.Join(dir, "tomb.rec"), "tomb", scoped.Record{Version: 3, Writer: scoped.NewToken()})

	c.advance(100 * 365 * 24 * time.Hour)
	equal(t, "Load of an SCF1 record", load(t, s, "a"), v1)
	wantList(t, s, "", "a")
	if n, err := s.Sweep(t.Context(), 10); err != nil || n != 0 {
		t.Fatalf("Sweep of SCF1 records = %d, %v; want 0", n, err)
	}
	at := c.Now().Add(time.Hour)
	rec := write(t, s, "a", v1.Revision(), "new layout", at)
	if rec.Version != 8 {
		t.Fatalf("a write over version 7 stored version %d", rec.Version)
	}
	if magic := string(readFile(t, path)[:4]); magic != "SCF2" {
		t.Fatalf("the record file written has magic %q, want SCF2", magic)
	}
	equal(t, "Load of the record written over an SCF1 one", load(t, s, "a"), rec)
}

// Sweep removes expired record files, each under its stripe's lock and
// fsyncing the directory, and nothing else. A record written again while
// the sweep waited for its lock is kept. A sweep waiting for a lock gives up
// when its context ends, saying that it did not remove the record.
func TestSweep(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	s := open(t, dir, file.WithClock(c.Now))
	empty := tree(t, dir)
	soon := c.Now().Add(time.Second)
	for _, name := range []string{"a", "b", strings.Repeat("long name ", 30)} {
		write(t, s, name, scoped.Revision{}, "x", soon)
	}
	c.advance(time.Second)
	if n, err := s.Sweep(t.Context(), 0); err != nil || n != 0 {
		t.Fatalf("Sweep(0) = %d, %v; want 0", n, err)
	}

	// A sweep waiting for the lock of a, held as by another process.
	held := flock(t, lockPath(dir, "a"))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	before, err := s.Sweep(ctx, 10) // b and the long name may come first
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, scoped.ErrNotApplied) {
		t.Fatalf("Sweep behind a held lock = %d, %v; want context.DeadlineExceeded and scoped.ErrNotApplied", before, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a.rec")); err != nil {
		t.Fatalf("the sweep that gave up removed a's record: %v", err)
	}

	// The same, but a is written again, as by another process, while the
	// sweep waits: the sweep removes the others and keeps a.
	fresh := filepath.Join(t.TempDir(), "fresh")
	live := write(t, open(t, fresh), "a", scoped.Revision{}, "live", time.Time{})
	var n int
	done := make(chan struct{})
	go func() {
		defer close(done)
		n, err = s.Sweep(t.Context(), 10)
	}()
	time.Sleep(50 * time.Millisecond) // the sweep read a's header, and waits
	tmp := filepath.Join(dir, "a.tmp")
	copyFile(t, filepath.Join(fresh, "a.rec"), tmp)
	if err := os.Rename(tmp, filepath.Join(dir, "a.rec")); err != nil {
		t.Fatal(err)
	}
	held.Close()
	<-done
	if err != nil || before+n != 2 {
		t.Fatalf("Sweep = %d, %v after %d; want 2 in all", n, err, before)
	}
	equal(t, "Load of a record written again during a sweep", load(t, s, "a"), live)
	if got := difference(tree(t, dir), empty); len(got) != 1 || got[0] != "a.rec" {
		t.Fatalf("after the sweep the directory holds %q besides what Open made; want a.rec", got)
	}
}
