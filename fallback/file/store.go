package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/scoped-go/scoped"
)

// Store is a scoped.Store over a directory. It is safe for concurrent use,
// also by several processes opening the same directory. It holds no open
// files between calls (a listing holds the directory open while its loop
// runs) and needs no closing.
type Store struct {
	dir string
	now func() time.Time // tells expiry: see WithClock

	// The calls of a write, as fields so that the package's tests can make
	// them fail: createTemp (and the Write, Sync and Close of the file it
	// returns), os.Rename, os.Remove and syncDir.
	create  func(path string) (tempFile, error)
	rename  func(oldpath, newpath string) error
	remove  func(name string) error
	syncDir func(dir string) error
}

// tempFile is the temporary file a write fills: an *os.File, but in the
// package's tests.
type tempFile interface {
	io.Writer
	Sync() error
	Close() error
}

var (
	_ scoped.Store   = (*Store)(nil)
	_ scoped.Sweeper = (*Store)(nil)
)

// Load implements scoped.Store: it reads the scope's record file, without
// taking a lock, unless a journal of CompareAndSetMany names the scope's
// stripe: it then waits for the stripe's lock, which finishes the journal,
// before it reads. A record expired by the store's clock is no record. A
// Load changes nothing of its own, so every error it returns matches
// scoped.ErrNotApplied.
func (s *Store) Load(ctx context.Context, name string) (scoped.Record, error) {
	if err := check(ctx, name); err != nil {
		return scoped.Record{}, err
	}
	base := fileBase(name)
	if err := s.settle(ctx, stripe(base)); err != nil {
		return scoped.Record{}, scoped.NotApplied(err)
	}
	rec, err := s.read(name, base)
	if err != nil {
		return scoped.Record{}, scoped.NotApplied(err)
	}
	return live(rec, s.now()), nil
}

// CompareAndSet implements scoped.Store.
func (s *Store) CompareAndSet(ctx context.Context, name string, expected scoped.Revision, next scoped.Write) (scoped.Record, bool, error) {
	switch {
	case len(next.Value) == 0:
		return scoped.Record{}, false, scoped.NotApplied(errors.New("file: compare-and-set of an empty value"))
	case next.Writer.IsZero():
		return scoped.Record{}, false, scoped.NotApplied(errors.New("file: compare-and-set by the zero writer token"))
	}
	return s.commit(ctx, name, expected, next)
}

// Delete implements scoped.Store: it removes the scope's record file.
func (s *Store) Delete(ctx context.Context, name string, expected scoped.Revision) (scoped.Record, bool, error) {
	return s.commit(ctx, name, expected, scoped.Write{})
}

// check refuses a call whose context ended or whose name is invalid, before
// any I/O.
func check(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return scoped.NotApplied(err)
	}
	return scoped.NotApplied(scoped.ValidateName(name))
}

// path returns the path of the scope's file with file base base and the
// given suffix.
func (s *Store) path(base, suffix string) string {
	return filepath.Join(s.dir, base+suffix)
}

// lockPath returns the path of the lock file of stripe i.
func (s *Store) lockPath(i int) string {
	return filepath.Join(s.dir, lockDir, lockName(i))
}

// read returns the committed record of the scope name, whose file base is
// base, expired or not.
func (s *Store) read(name, base string) (scoped.Record, error) {
	path := s.path(base, recordSuffix)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return scoped.Record{}, nil
	}
	if err != nil {
		return scoped.Record{}, fmt.Errorf("file: %w", err)
	}
	rec, err := decodeRecord(name, b)
	if err != nil {
		return scoped.Record{}, &scoped.CorruptValueError{Scope: name, Err: fmt.Errorf("record file %s: %w", path, err)}
	}
	return rec, nil
}

// commit stores next (a nil value: removes the record) as version
// expected.Version+1, if the current revision is expected, under the lock of
// the scope's stripe, taken after finishing any journal that a crash left
// naming the stripe (see takeStripes). A record expired by the store's clock
// is no record: a write expecting none replaces its file, and a delete
// expecting none leaves it to Sweep.
//
// Every error returned before the record file is renamed or removed matches
// scoped.ErrNotApplied: nothing was written, and a write that gave up
// waiting for the lock closed its lock file, so it never takes the lock
// later. Once the lock is held the write runs to its end whatever the
// context: file I/O cannot be cancelled half-way, and the write may carry
// other callers' changes.
func (s *Store) commit(ctx context.Context, name string, expected scoped.Revision, next scoped.Write) (scoped.Record, bool, error) {
	if err := check(ctx, name); err != nil {
		return scoped.Record{}, false, err
	}
	base := fileBase(name)
	l, err := s.lockStripes(ctx, []int{stripe(base)})
	if err != nil {
		return scoped.Record{}, false, scoped.NotApplied(fmt.Errorf("file: lock: %w", err))
	}
	defer l.unlock()
	cur, err := s.read(name, base)
	if err != nil {
		return scoped.Record{}, false, scoped.NotApplied(err)
	}
	cur = live(cur, s.now())
	if cur.Revision() != expected {
		return cur, false, nil
	}
	if next.Value == nil {
		if !cur.Exists() {
			return scoped.Record{}, true, nil // no record, as expected
		}
		if err := s.removeRecord(base); err != nil {
			return scoped.Record{}, false, err
		}
		return scoped.Record{}, true, nil
	}
	rec := scoped.Record{Value: next.Value, Version: expected.Version + 1, Writer: next.Writer, ExpiresAt: expiryTime(expiryMillis(next.ExpiresAt))}
	if err := s.replace(base, encodeRecord(name, rec)); err != nil {
		return scoped.Record{}, false, err
	}
	return rec, true, nil
}

// replace makes b the record file of the file base base: written to the
// temporary file, fsynced, renamed over the record file, and the directory
// fsynced. The caller holds the stripe's lock.
//
// An error before the rename, or from a rename that left the temporary file
// in place, matches scoped.ErrNotApplied: the record file was not touched. A
// temporary file that cannot be removed after a failure is left for Open or
// the scope's next write, and changes nothing.
func (s *Store) replace(base string, b []byte) error {
	tmp := s.path(base, tempSuffix)
	if err := writeSynced(s.create, tmp, b); err != nil {
		os.Remove(tmp)
		return scoped.NotApplied(fmt.Errorf("file: %w", err))
	}
	if err := s.rename(tmp, s.path(base, recordSuffix)); err != nil {
		if !exists(tmp) {
			// The rename may have been performed before it failed, as
			// over a network file system: the new record may be there.
			return fmt.Errorf("file: %w", err)
		}
		os.Remove(tmp)
		return scoped.NotApplied(fmt.Errorf("file: %w", err))
	}
	if err := s.syncDir(s.dir); err != nil {
		return fmt.Errorf("file: the record is written, but may not survive a crash: %w", err)
	}
	return nil
}

// removeRecord removes the record file of the file base base, and the
// temporary file that a crash may have left beside it, and fsyncs the
// directory. The caller holds the stripe's lock. A failed removal that left
// the record file in place matches scoped.ErrNotApplied.
func (s *Store) removeRecord(base string) error {
	path := s.path(base, recordSuffix)
	if err := s.remove(path); err != nil {
		if !exists(path) {
			return fmt.Errorf("file: %w", err)
		}
		return scoped.NotApplied(fmt.Errorf("file: %w", err))
	}
	// Under the lock, a temporary file is no write's: a crash left it.
	// Removing it is tidying, which Open would otherwise do.
	os.Remove(s.path(base, tempSuffix))
	if err := s.syncDir(s.dir); err != nil {
		return fmt.Errorf("file: the record is removed, but may come back after a crash: %w", err)
	}
	return nil
}

// settle waits until no journal names stripe i: if one does, it takes the
// stripe's lock, which finishes a journal left by a crash, or waits for the
// call writing it, and releases it.
func (s *Store) settle(ctx context.Context, i int) error {
	pending, err := s.pendingFor(i)
	if err != nil {
		return fmt.Errorf("file: journal: %w", err)
	}
	if !pending {
		return nil
	}
	h, err := s.lockStripes(ctx, []int{i})
	if err != nil {
		return fmt.Errorf("file: lock: %w", err)
	}
	h.unlock()
	return nil
}

// live returns rec, or the zero Record if it expired by now.
func live(rec scoped.Record, now time.Time) scoped.Record {
	if expired(rec.ExpiresAt, now) {
		return scoped.Record{}
	}
	return rec
}

// expired reports whether the expiry time at is set and not after now.
func expired(at, now time.Time) bool {
	return !at.IsZero() && !at.After(now)
}

// exists reports whether the file at path certainly exists.
func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// createTemp creates the file at path, or empties it, for writing.
func createTemp(path string) (tempFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// writeSynced writes b to the file at path, created with create, replacing
// its content, and fsyncs it.
func writeSynced(create func(string) (tempFile, error), path string, b []byte) error {
	f, err := create(path)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir fsyncs the directory dir, making the renames, creations and
// removals in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
