package file

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// probePrefix begins the name of the file Open creates to check that the
// directory is writable and supports flock.
const probePrefix = ".open-"

// Open returns a Store over the directory dir, creating it if it is missing,
// configured by opts. It fails if the directory cannot be created, is not writable, or its file
// system has no working flock. It creates the lock files that are missing,
// finishes the journals of CompareAndSetMany calls that a crash cut short,
// and removes the temporary files that a crash left behind.
func Open(dir string, opts ...Option) (*Store, error) {
	if dir == "" {
		return nil, errors.New("file: open: empty directory name")
	}
	if err := makeDir(dir); err != nil {
		return nil, fmt.Errorf("file: open %s: %w", dir, err)
	}
	if err := probe(dir); err != nil {
		return nil, fmt.Errorf("file: directory %s is not usable: %w", dir, err)
	}
	if err := makeLocks(dir); err != nil {
		return nil, fmt.Errorf("file: open %s: %w", dir, err)
	}
	s := &Store{dir: dir, now: time.Now, create: createTemp, rename: os.Rename, remove: os.Remove, syncDir: syncDir}
	for _, opt := range opts {
		opt(s)
	}
	if err := s.removeLeftovers(); err != nil {
		return nil, fmt.Errorf("file: open %s: %w", dir, err)
	}
	return s, nil
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

// makeLocks creates the lock directory and the lock files missing in it.
// Several processes may do so at once: a file is opened with O_CREATE and
// without O_EXCL, so all of them end up with the same files. Nothing is
// fsynced: a lock matters only between processes that run, and a lock file
// that a power failure took away is created again by the next Open, before
// any write.
func makeLocks(dir string) error {
	locks := filepath.Join(dir, lockDir)
	if err := os.Mkdir(locks, 0o777); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	entries, err := os.ReadDir(locks)
	if err != nil {
		return err
	}
	present := make(map[string]bool, len(entries))
	for _, e := range entries {
		present[e.Name()] = e.Type().IsRegular()
	}
	for i := range lockStripes {
		name := lockName(i)
		if present[name] {
			continue
		}
		f, err := os.OpenFile(filepath.Join(locks, name), os.O_RDWR|os.O_CREATE, 0o666)
		if err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// removeLeftovers finishes the journals that crashes left, and removes
// the files that crashes left behind: a scope's NAME.tmp if its stripe's
// lock is free, and the probe files of Opens.
//
// A journal is named after a stripe that it names: taking that stripe's
// lock, if it is free, finishes the journal (see takeStripes), or removes
// it if it was cut short before any of its steps. A journal whose stripes
// are busy is left to the writer that holds them.
//
// A writer creates its temporary file and renames or removes it while
// holding its stripe's lock, so a temporary file found while holding that
// lock, once the journals naming the stripe are finished, is no write's: a
// crash left it. A temporary file whose stripe is busy is left for a later
// Open; a commit of its scope replaces it before then.
func (s *Store) removeLeftovers() error {
	journals, err := s.journalNames()
	if err != nil {
		return err
	}
	for _, name := range journals {
		if i, ok := journalStripe(name); ok {
			if err := s.removeLeftoversOf(i, nil); err != nil {
				return err
			}
		}
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return err
	}
	temps := map[int][]string{} // stripe → file bases with a temporary file
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, probePrefix):
			if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		case strings.HasSuffix(name, tempSuffix):
			base := strings.TrimSuffix(name, tempSuffix)
			temps[stripe(base)] = append(temps[stripe(base)], base)
		}
	}
	for i, bases := range temps {
		if err := s.removeLeftoversOf(i, bases); err != nil {
			return err
		}
	}
	return nil
}

// removeLeftoversOf removes the temporary files of bases, all of stripe i,
// unless a writer holds the stripe's lock, after finishing the journals
// naming the stripe.
func (s *Store) removeLeftoversOf(i int, bases []string) error {
	l, err := s.tryLockStripes([]int{i})
	if err != nil || l == nil {
		return err
	}
	defer l.unlock()
	for _, base := range bases {
		if err := os.Remove(filepath.Join(s.dir, base+tempSuffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}
