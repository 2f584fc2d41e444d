package file

import (
	"context"
	"math/rand/v2"
	"os"
	"time"
)

// Bounds of the wait between two attempts to take a busy lock.
const (
	lockPollMin = 50 * time.Microsecond
	lockPollMax = 4 * time.Millisecond
)

// lockFile is an exclusive flock on a lock file, held until unlock.
type lockFile struct{ f *os.File }

// openLock opens the existing lock file at path. Lock files are made by
// Open, never by a write: a missing one is an error, not a file to create.
func openLock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR, 0)
}

// tryLock takes the lock file at path without waiting. It returns nil, nil
// if another open file holds the lock.
func tryLock(path string) (*lockFile, error) {
	f, err := openLock(path)
	if err != nil {
		return nil, err
	}
	ok, err := tryFlock(f)
	if err != nil || !ok {
		f.Close()
		return nil, err
	}
	return &lockFile{f}, nil
}

// lock takes the lock file at path, waiting while it is busy until ctx ends.
// It polls, with a jittered wait that doubles up to lockPollMax, because a
// waiting flock cannot be cancelled. When it returns an error it does not
// hold the lock, and never will: the file is closed.
func lock(ctx context.Context, path string) (*lockFile, error) {
	f, err := openLock(path)
	if err != nil {
		return nil, err
	}
	var timer *time.Timer
	for wait := lockPollMin; ; wait = min(2*wait, lockPollMax) {
		ok, err := tryFlock(f)
		if err != nil {
			f.Close()
			return nil, err
		}
		if ok {
			return &lockFile{f}, nil
		}
		d := wait/2 + rand.N(wait/2)
		if timer == nil {
			timer = time.NewTimer(d)
			defer timer.Stop()
		} else {
			timer.Reset(d)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-timer.C:
		}
	}
}

// unlock releases the lock by closing the lock file. A flock belongs to the
// open file description, which only this file refers to (Go opens files
// close-on-exec, and never forks without exec), and close(2) frees the
// descriptor whatever it returns: the lock is released even if Close
// reports an error, which is therefore of no consequence and dropped.
func (l *lockFile) unlock() { l.f.Close() }
