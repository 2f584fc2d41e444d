// Package memstore is a scoped.Store in memory, for the engine's own tests:
// it keeps the contract exactly (its test runs the conformance suite) and
// lets a test intercept every call to inject faults.
package memstore

import (
	"context"
	"sync"

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
}

var _ scoped.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store { return &Store{records: map[string]scoped.Record{}} }

// Load implements scoped.Store.
func (s *Store) Load(ctx context.Context, name string) (scoped.Record, error) {
	if err := s.before(ctx, "Load", name); err != nil {
		return scoped.Record{}, err
	}
	s.mu.Lock()
	rec := s.records[name]
	s.mu.Unlock()
	return rec, s.after(ctx, "Load", name)
}

// CompareAndSet implements scoped.Store.
func (s *Store) CompareAndSet(ctx context.Context, name string, expected scoped.Revision, value []byte, writer scoped.Token) (scoped.Record, bool, error) {
	return s.write(ctx, "CompareAndSet", name, expected, append([]byte(nil), value...), writer)
}

// Delete implements scoped.Store: it removes the record from the map.
func (s *Store) Delete(ctx context.Context, name string, expected scoped.Revision) (scoped.Record, bool, error) {
	return s.write(ctx, "Delete", name, expected, nil, scoped.Token{})
}

// Len returns the number of records held.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records)
}

// write stores value (nil: removes the record) if the current revision is
// expected.
func (s *Store) write(ctx context.Context, method, name string, expected scoped.Revision, value []byte, writer scoped.Token) (scoped.Record, bool, error) {
	if err := s.before(ctx, method, name); err != nil {
		return scoped.Record{}, false, err
	}
	s.mu.Lock()
	cur := s.records[name]
	ok := cur.Revision() == expected
	if ok {
		if value == nil {
			cur = scoped.Record{}
			delete(s.records, name)
		} else {
			cur = scoped.Record{Value: value, Version: expected.Version + 1, Writer: writer}
			s.records[name] = cur
		}
	}
	s.mu.Unlock()
	if err := s.after(ctx, method, name); err != nil {
		return scoped.Record{}, false, err
	}
	return cur, ok, nil
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
