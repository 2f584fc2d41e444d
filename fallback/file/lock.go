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

// tryLock takes the lock file at path, creating it if needed. It returns
// nil, nil if another open file holds the lock.
func tryLock(path string) (*lockFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
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
// waiting flock cannot be cancelled.
func lock(ctx context.Context, path string) (*lockFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
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

// unlock releases the lock and closes the lock file.
func (l *lockFile) unlock() error {
	err := funlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}
