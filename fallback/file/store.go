package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/scoped-go/scoped"
)

// Store is a scoped.Store over a directory. It is safe for concurrent use,
// also by several processes opening the same directory. It holds no open
// files between calls and needs no closing.
type Store struct {
	dir string
}

var _ scoped.Store = (*Store)(nil)

// Load implements scoped.Store: it reads the scope's record file, without
// taking its lock.
func (s *Store) Load(ctx context.Context, name string) (scoped.Record, error) {
	if err := check(ctx, name); err != nil {
		return scoped.Record{}, err
	}
	return s.read(name)
}

// CompareAndSet implements scoped.Store.
func (s *Store) CompareAndSet(ctx context.Context, name string, expected uint64, value []byte, writer scoped.Token) (scoped.Record, bool, error) {
	if len(value) == 0 {
		return scoped.Record{}, false, errors.New("file: compare-and-set of an empty value")
	}
	return s.commit(ctx, name, expected, value, writer)
}

// Delete implements scoped.Store: it leaves a record without a value.
func (s *Store) Delete(ctx context.Context, name string, expected uint64, writer scoped.Token) (scoped.Record, bool, error) {
	return s.commit(ctx, name, expected, nil, writer)
}

// check refuses a call whose context ended or whose name is invalid, before
// any I/O.
func check(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return scoped.ValidateName(name)
}

// path returns the path of the scope's file with the given suffix.
func (s *Store) path(name, suffix string) string {
	return filepath.Join(s.dir, fileBase(name)+suffix)
}

// read returns the committed record of the scope name.
func (s *Store) read(name string) (scoped.Record, error) {
	path := s.path(name, recordSuffix)
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

// commit stores value (nil for a tombstone) as version expected+1 if the
// stored version is expected, under the scope's lock.
func (s *Store) commit(ctx context.Context, name string, expected uint64, value []byte, writer scoped.Token) (rec scoped.Record, ok bool, err error) {
	if err := check(ctx, name); err != nil {
		return scoped.Record{}, false, err
	}
	l, err := lock(ctx, s.path(name, lockSuffix))
	if err != nil {
		return scoped.Record{}, false, fmt.Errorf("file: lock: %w", err)
	}
	defer func() {
		if uerr := l.unlock(); uerr != nil && err == nil {
			err = fmt.Errorf("file: unlock: %w", uerr)
		}
	}()
	cur, err := s.read(name)
	if err != nil {
		return scoped.Record{}, false, err
	}
	if cur.Version != expected {
		return cur, false, nil
	}
	rec = scoped.Record{Value: value, Version: expected + 1, Writer: writer}
	if err := s.replace(name, encodeRecord(name, rec.Version, writer, value)); err != nil {
		return scoped.Record{}, false, err
	}
	return rec, true, nil
}

// replace makes b the record file of name: written to the temporary file,
// fsynced, renamed over the record file, and the directory fsynced. The
// caller holds the scope's lock.
func (s *Store) replace(name string, b []byte) error {
	tmp := s.path(name, tempSuffix)
	if err := writeSynced(tmp, b); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("file: %w", err)
	}
	if err := os.Rename(tmp, s.path(name, recordSuffix)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("file: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("file: %w", err)
	}
	return nil
}

// writeSynced writes b to the file at path, replacing its content, and
// fsyncs it.
func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o666)
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

// syncDir fsyncs the directory dir, making the renames and creations in it
// durable.
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
