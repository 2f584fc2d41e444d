package file

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// probePrefix begins the name of the file Open creates to check that the
// directory is writable and supports flock.
const probePrefix = ".open-"

// Open returns a Store over the directory dir, creating it if it is missing.
// It fails if the directory cannot be created, is not writable, or its file
// system has no working flock, and removes the temporary files that a crash
// left behind.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("file: open: empty directory name")
	}
	if err := makeDir(dir); err != nil {
		return nil, fmt.Errorf("file: open %s: %w", dir, err)
	}
	if err := probe(dir); err != nil {
		return nil, fmt.Errorf("file: directory %s is not usable: %w", dir, err)
	}
	if err := sweep(dir); err != nil {
		return nil, fmt.Errorf("file: open %s: %w", dir, err)
	}
	return &Store{dir: dir}, nil
}

// makeDir creates dir if it is missing, with its parents, and fsyncs the
// parent of every directory it created.
func makeDir(dir string) error {
	var missing []string // dir and its missing parents, deepest first
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		info, err := os.Stat(p)
		if err == nil {
			if !info.IsDir() {
				return fmt.Errorf("%s is not a directory", p)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || p == filepath.Dir(p) {
			return err
		}
		missing = append(missing, p)
	}
	if len(missing) == 0 {
		return nil
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	for _, p := range missing {
		if err := syncDir(filepath.Dir(p)); err != nil {
			return err
		}
	}
	return nil
}

// probe creates, locks and removes a file in dir.
func probe(dir string) error {
	f, err := os.CreateTemp(dir, probePrefix+"*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	ok, err := tryFlock(f)
	switch {
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("flock of the new file %s refused", f.Name())
	}
	return funlock(f)
}

// sweep removes the temporary files of writers that died: a scope's
// NAME.tmp is removed if its lock is free, and probe files left by an Open.
func sweep(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, probePrefix):
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		case strings.HasSuffix(name, tempSuffix):
			if err := sweepTemp(dir, strings.TrimSuffix(name, tempSuffix)); err != nil {
				return err
			}
		}
	}
	return nil
}

// sweepTemp removes base.tmp unless a writer holds base.lock: a writer
// creates and removes (or renames) its temporary file under that lock, so a
// temporary file found under the lock was left by a crash.
func sweepTemp(dir, base string) error {
	l, err := tryLock(filepath.Join(dir, base+lockSuffix))
	if err != nil || l == nil {
		return err
	}
	err = os.Remove(filepath.Join(dir, base+tempSuffix))
	if errors.Is(err, fs.ErrNotExist) {
		err = nil
	}
	if uerr := l.unlock(); err == nil {
		err = uerr
	}
	return err
}
