package file

import (
	"os"
	"time"
)

// WithRenamePause makes every rename of the store's files pause for d after
// it is done: a process killed during a CompareAndSetMany of several files
// is then likely to die between two of its renames. For the tests of
// package file_test only.
func WithRenamePause(d time.Duration) Option {
	return func(s *Store) {
		s.rename = func(oldpath, newpath string) error {
			err := os.Rename(oldpath, newpath)
			time.Sleep(d)
			return err
		}
	}
}
