package file

import (
	"context"
	"errors"
	"slices"
	"strconv"
)

// held is the locks of a set of stripes.
type held struct {
	stripes []int // ascending, each once
	locks   []*lockFile
}

// has reports whether h holds the lock of stripe i.
func (h *held) has(i int) bool {
	_, ok := slices.BinarySearch(h.stripes, i)
	return ok
}

// unlock releases every lock of h.
func (h *held) unlock() {
	for _, l := range h.locks {
		l.unlock()
	}
}

// lockStripes takes the locks of stripes (ascending, each once), waiting
// while one is busy until ctx ends, and finishes the journals that crashes
// left naming one of them (see recoverHeld). When it returns an error it
// holds no lock.
func (s *Store) lockStripes(ctx context.Context, stripes []int) (*held, error) {
	return s.takeStripes(stripes, func(path string) (*lockFile, error) { return lock(ctx, path) })
}

// tryLockStripes is lockStripes without waiting: it returns nil, nil if a
// lock is busy.
func (s *Store) tryLockStripes(stripes []int) (*held, error) {
	return s.takeStripes(stripes, tryLock)
}

// takeStripes takes the locks of want in ascending order with take, and
// recovers the journals naming them. A journal that also names stripes not
// held needs their locks too: takeStripes then releases every lock and
// takes the larger set, again in ascending order, so that all callers take
// locks in one order and never wait for each other in a cycle.
func (s *Store) takeStripes(want []int, take func(path string) (*lockFile, error)) (*held, error) {
	for {
		h := &held{stripes: want}
		for _, i := range want {
			l, err := take(s.lockPath(i))
			if err != nil || l == nil {
				h.unlock()
				return nil, err
			}
			h.locks = append(h.locks, l)
		}
		more, err := s.recoverHeld(h)
		if err != nil {
			h.unlock()
			return nil, err
		}
		if more == nil {
			return h, nil
		}
		h.unlock()
		want = more
	}
}

// recoverHeld finishes every journal that names a stripe held by h, and
// removes the undecodable journal named after a stripe of h. If a journal
// to finish names stripes that h does not hold, it finishes none but the
// ones before, and returns the stripes of h and of that journal, for the
// caller to take.
//
// A call writes its journal, and removes it, while holding the locks of
// every stripe it names: a journal that names a stripe held by h is
// therefore no running call's, but one that its writer left when it died,
// or failed. Its steps are rolled forward: every temporary file it renames
// was written and fsynced before it. A journal that cannot be decoded is
// one being written, or cut short by a crash before any of its steps: its
// writer holds the stripe it is named after, and whoever holds that stripe
// next may remove it.
func (s *Store) recoverHeld(h *held) ([]int, error) {
	names, err := s.journalNames()
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		i, ok := journalStripe(name)
		if !ok {
			continue // no journal's name
		}
		j, err := s.readJournal(name)
		switch {
		case errors.Is(err, errBadJournal):
			if h.has(i) {
				if err := s.removeJournal(name); err != nil {
					return nil, err
				}
			}
			continue
		case err != nil:
			return nil, err
		case j == nil:
			continue // finished meanwhile
		}
		stripes := j.stripes()
		if !slices.ContainsFunc(stripes, h.has) {
			continue
		}
		if !allHeld(h, stripes) {
			all := append(slices.Clone(h.stripes), stripes...)
			slices.Sort(all)
			return slices.Compact(all), nil
		}
		if err := s.apply(j); err != nil {
			return nil, err
		}
		if err := s.removeJournal(name); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// pendingFor reports whether a journal names stripe i: a call writing
// several scopes, one of them of stripe i, is running, or died.
func (s *Store) pendingFor(i int) (bool, error) {
	names, err := s.journalNames()
	if err != nil {
		return false, err
	}
	for _, name := range names {
		if _, ok := journalStripe(name); !ok {
			continue // no journal's name
		}
		j, err := s.readJournal(name)
		switch {
		case errors.Is(err, errBadJournal):
			continue // none of its steps ran
		case err != nil:
			return false, err
		}
		if slices.Contains(j.stripes(), i) {
			return true, nil
		}
	}
	return false, nil
}

// allHeld reports whether h holds every stripe of stripes.
func allHeld(h *held, stripes []int) bool {
	for _, i := range stripes {
		if !h.has(i) {
			return false
		}
	}
	return true
}

// journalStripe returns the stripe that the journal file name is named
// after, and false if name is no stripe's.
func journalStripe(name string) (int, bool) {
	i, err := strconv.ParseUint(name, 16, 16)
	if err != nil || i >= lockStripes || lockName(int(i)) != name {
		return 0, false
	}
	return int(i), true
}
