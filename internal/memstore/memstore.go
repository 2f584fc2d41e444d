// Package memstore is a scoped.Store in memory, for the engine's own tests:
// it keeps the contract exactly (its test runs the conformance suite) and
// lets a test intercept every call to inject faults.
package memstore

import (
	"context"
	"iter"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/scoped-go/scoped"
)

// Store is a scoped.Store in a map.
type Store struct {
	mu      sync.Mutex
	records map[string]scoped.Record

	// Before, if set, runs at the start of every call with the method's
	// name ("Load", "CompareAndSet", "Delete"); an error it returns fails
	// the call without touching the data.
	Before func(ctx context.Context, method, name string) error
	// After, if set, runs after a call that reached the data; an error it
	// returns replaces the call's reply, as a lost reply would.
	After func(ctx context.Context, method, name string) error

	now func() time.Time
}

var (
	_ scoped.Store   = (*Store)(nil)
	_ scoped.Sweeper = (*Store)(nil)
)

// New returns an empty Store that tells expiry by time.Now.
func New() *Store { return NewWithClock(time.Now) }

// NewWithClock returns an empty Store that tells expiry by now.
func NewWithClock(now func() time.Time) *Store {
	return &Store{records: map[string]scoped.Record{}, now: now}
}

// Load implements scoped.Store.
func (s *Store) Load(ctx context.Context, name string) (scoped.Record, error) {
	if err := s.before(ctx, "Load", name); err != nil {
		return scoped.Record{}, err
	}
	s.mu.Lock()
	rec := s.live(name, s.now())
	s.mu.Unlock()
	return rec, s.after(ctx, "Load", name)
}

// CompareAndSet implements scoped.Store.
func (s *Store) CompareAndSet(ctx context.Context, name string, expected scoped.Revision, next scoped.Write) (scoped.Record, bool, error) {
	next.Value = append([]byte(nil), next.Value...)
	return s.write(ctx, "CompareAndSet", name, expected, next)
}

// Delete implements scoped.Store: it removes the record from the map.
func (s *Store) Delete(ctx context.Context, name string, expected scoped.Revision) (scoped.Record, bool, error) {
	return s.write(ctx, "Delete", name, expected, scoped.Write{})
}

// List implements scoped.Store. It yields the names live when it was
// called, sorted.
func (s *Store) List(ctx context.Context, prefix string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		if err := s.before(ctx, "List", prefix); err != nil {
			yield("", err)
			return
		}
		s.mu.Lock()
		now := s.now()
		var names []string
		for name, rec := range s.records {
			if strings.HasPrefix(name, prefix) && !expired(rec, now) {
				names = append(names, name)
			}
		}
		s.mu.Unlock()
		slices.Sort(names)
		for _, name := range names {
			if !yield(name, nil) {
				return
			}
		}
	}
}

// CompareAndSetMany implements scoped.Store. Its Before and After hooks
// get the first change's name.
func (s *Store) CompareAndSetMany(ctx context.Context, changes []scoped.Change) ([]scoped.Record, bool, error) {
	if err := s.before(ctx, "CompareAndSetMany", changes[0].Name); err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	now := s.now()
	cur := make([]scoped.Record, len(changes))
	ok := true
	for i, c := range changes {
		cur[i] = s.live(c.Name, now)
		ok = ok && cur[i].Revision() == c.Expected
	}
	if ok {
		for i, c := range changes {
			switch c.Action {
			case scoped.ActionSet:
				w := c.Write
				w.Value = append([]byte(nil), w.Value...)
				cur[i] = w.Record(c.Expected.Version + 1)
				s.records[c.Name] = cur[i]
			case scoped.ActionDelete:
				cur[i] = scoped.Record{}
				delete(s.records, c.Name)
			}
		}
	}
	s.mu.Unlock()
	if err := s.after(ctx, "CompareAndSetMany", changes[0].Name); err != nil {
		return nil, false, err
	}
	return cur, ok, nil
}

// Sweep implements scoped.Sweeper.
func (s *Store) Sweep(ctx context.Context, limit int) (int, error) {
	if err := s.before(ctx, "Sweep", ""); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now, n := s.now(), 0
	for name, rec := range s.records {
		if n == limit {
			break
		}
		if expired(rec, now) {
			delete(s.records, name)
			n++
		}
	}
	return n, nil
}

// Len returns the number of records held, expired ones included.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}

// write stores next (a nil value: removes the record) if the current
// revision is expected.
func (s *Store) write(ctx context.Context, method, name string, expected scoped.Revision, next scoped.Write) (scoped.Record, bool, error) {
	if err := s.before(ctx, method, name); err != nil {
		return scoped.Record{}, false, err
	}
	s.mu.Lock()
	cur := s.live(name, s.now())
	ok := cur.Revision() == expected
	if ok {
		if next.Value == nil {
			cur = scoped.Record{}
			delete(s.records, name)
		} else {
			cur = next.Record(expected.Version + 1)
			s.records[name] = cur
		}
	}
	s.mu.Unlock()
	if err := s.after(ctx, method, name); err != nil {
		return scoped.Record{}, false, err
	}
	return cur, ok, nil
}

// live returns the record of name, or the zero Record if it has none or
// it expired by now. The caller holds s.mu.
func (s *Store) live(name string, now time.Time) scoped.Record {
	rec := s.records[name]
	if expired(rec, now) {
		return scoped.Record{}
	}
	return rec
}

// expired reports whether rec has an expiry time that is not after now.
func expired(rec scoped.Record, now time.Time) bool {
	return !rec.ExpiresAt.IsZero() && !rec.ExpiresAt.After(now)
}

func (s *Store) before(ctx context.Context, method, name string) error {
	if err := ctx.Err(); err != nil {
		return scoped.NotApplied(err)
	}
	if s.Before != nil {
		return s.Before(ctx, method, name)
	}
	return nil
}

func (s *Store) after(ctx context.Context, method, name string) error {
	if s.After != nil {
		return s.After(ctx, method, name)
	}
	return nil
}
