package file

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/scoped-go/scoped"
)

// Sweep implements scoped.Sweeper: it removes at most limit record files
// whose records expired by the store's clock when it began, and returns how
// many it removed. It reads the directory as List does, and the header of
// every record file; it then takes the lock of an expired record's stripe,
// reads the record again and removes its file only if the record is still
// the expired one, and fsyncs the directory, as a delete does. A record
// written again meanwhile is therefore never removed, nor is a damaged one.
//
// A sweep stops at its first error, which is the failed step's, matching
// scoped.ErrNotApplied as a Delete's would (a context that ended before or
// while waiting for a lock, say); the records removed before it are counted.
func (s *Store) Sweep(ctx context.Context, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, scoped.NotApplied(err)
	}
	if limit <= 0 {
		return 0, nil
	}
	now, n := s.now(), 0
	for base, err := range s.recordFiles(ctx) {
		if err != nil {
			return n, scoped.NotApplied(err)
		}
		h, found, err := s.readHeader(base)
		if err != nil {
			return n, scoped.NotApplied(err)
		}
		if !found || h == nil || h.tombstone || !expired(h.expiresAt, now) || fileBase(h.name) != base {
			continue
		}
		removed, err := s.removeExpired(ctx, h.name, base, now)
		if err != nil {
			return n, err
		}
		if removed {
			n++
			if n == limit {
				break
			}
		}
	}
	return n, nil
}

// removeExpired removes the record file of the scope name, whose file base
// is base, under the lock of its stripe, if it holds a record expired by
// now. It reports whether it removed it.
func (s *Store) removeExpired(ctx context.Context, name, base string, now time.Time) (bool, error) {
	l, err := s.lockStripes(ctx, []int{stripe(base)})
	if err != nil {
		return false, scoped.NotApplied(fmt.Errorf("file: lock: %w", err))
	}
	defer l.unlock()
	rec, err := s.read(name, base)
	var corrupt *scoped.CorruptValueError
	switch {
	case errors.As(err, &corrupt):
		return false, nil // left for Load to report
	case err != nil:
		return false, scoped.NotApplied(err)
	case !rec.Exists() || !expired(rec.ExpiresAt, now):
		return false, nil
	}
	if err := s.removeRecord(base); err != nil {
		return false, err
	}
	return true, nil
}
