package redisstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"

	"github.com/scoped-go/scoped"
)

// CompareAndSetMany implements scoped.Store: one script (lua/casmany.lua),
// one round trip, over the scopes' keys, which checks every scope's
// expected revision and then writes every scope, or none. A write with an
// expiry time sets it on its key, as CompareAndSet does; a delete removes
// the key.
//
// One script reaches one server. On a redis.ClusterClient every key must
// be in one hash slot: scopes whose names share a hash tag
// ("{user42}:cart", "{user42}:wallet"), with a prefix without '{', always
// are. On a redis.Ring every key must have the same hash tag (the same
// part of the key hashed: the hash tag, or the whole key), so that no
// change of the Ring's live shards can part them. Other keys are refused
// with a *CrossSlotError, which matches scoped.ErrNotColocated (and
// scoped.ErrNotApplied), before anything is sent. A single node takes any names. Errors are classified
// as CompareAndSet's are: see the package doc.
func (s *Store) CompareAndSetMany(ctx context.Context, changes []scoped.Change) ([]scoped.Record, bool, error) {
	keys := make([]string, len(changes))
	args := make([]any, 0, 7*len(changes))
	for i, c := range changes {
		keys[i] = s.Key(c.Name)
		var expectedWriter []byte
		if !c.Expected.Writer.IsZero() {
			expectedWriter = c.Expected.Writer[:]
		}
		expected := strconv.FormatUint(c.Expected.Version, 10)
		switch c.Action {
		case scoped.ActionCheck:
			args = append(args, "c", expected, expectedWriter, "", "", "", "")
		case scoped.ActionDelete:
			args = append(args, "d", expected, expectedWriter, "", "", "", "")
		case scoped.ActionSet:
			if err := checkWrite(c.Name, c.Expected, c.Write); err != nil {
				return nil, false, err
			}
			expiry, _ := expiryArg(c.Write.ExpiresAt)
			args = append(args, "s", expected, expectedWriter, strconv.FormatUint(c.Expected.Version+1, 10),
				c.Write.Writer[:], c.Write.Value, expiry)
		default:
			return nil, false, fmt.Errorf("redisstore: scope %q: unknown action %d", c.Name, c.Action)
		}
	}
	if err := s.colocated(changes, keys); err != nil {
		return nil, false, scoped.NotApplied(err)
	}
	if s.unsupported {
		return nil, false, fmt.Errorf("redisstore: compare-and-set-many: %w", scoped.NotApplied(ErrReplicasUnsupported))
	}
	res := s.calls.run(ctx, casManyScript, true, keys, args...)
	if res.err != nil {
		s.unconfirmedCreates(changes, res.err)
		return nil, false, fmt.Errorf("redisstore: compare-and-set-many: %w", res.err)
	}
	cur, ok, err := parseMany(changes, res.reply)
	if err == nil && res.unsynced != nil && (ok || ownWrite(changes, cur)) {
		// Performed, by this call or a copy of it, but not acknowledged by
		// enough replicas: never a success.
		err = fmt.Errorf("redisstore: compare-and-set-many: %w", res.unsynced)
		s.unconfirmedCreates(changes, err)
		return nil, false, err
	}
	return cur, ok, err
}

// ownWrite reports whether a scope that changes set holds its writer in
// cur: a copy of a write found the write applied.
func ownWrite(changes []scoped.Change, cur []scoped.Record) bool {
	for i, c := range changes {
		if c.Action == scoped.ActionSet && cur[i].Writer == c.Write.Writer {
			return true
		}
	}
	return false
}

// unconfirmedCreates remembers the writers of the scopes that changes
// create, after a failure err that may hide a write not acknowledged by
// enough replicas, so that a Load looking for them confirms them first.
func (s *Store) unconfirmedCreates(changes []scoped.Change, err error) {
	if s.calls.replicas == 0 || errors.Is(err, scoped.ErrNotApplied) {
		return
	}
	for _, c := range changes {
		if c.Action == scoped.ActionSet && c.Expected.IsZero() {
			s.unconfirmed.add(c.Write.Writer)
		}
	}
}

// checkWrite returns an error for a write that no store call may send:
// an empty value, the zero writer, or a version that cannot grow.
func checkWrite(name string, expected scoped.Revision, next scoped.Write) error {
	switch {
	case len(next.Value) == 0:
		return errors.New("redisstore: compare-and-set of an empty value")
	case next.Writer.IsZero():
		return errors.New("redisstore: compare-and-set by the zero writer token")
	case expected.Version == math.MaxUint64:
		return fmt.Errorf("redisstore: scope %q: version %d cannot grow", name, expected.Version)
	}
	return nil
}

// parseMany reads the reply of casmany.lua to changes.
func parseMany(changes []scoped.Change, reply []any) ([]scoped.Record, bool, error) {
	unexpected := func() ([]scoped.Record, bool, error) {
		return nil, false, fmt.Errorf("redisstore: compare-and-set-many: unexpected reply %v", reply)
	}
	if len(reply) == 0 {
		return unexpected()
	}
	cur := make([]scoped.Record, len(changes))
	switch reply[0] {
	case int64(-1):
		if len(reply) != 3 {
			return unexpected()
		}
		what, _ := reply[1].(string)
		i, _ := reply[2].(int64)
		if i < 1 || i > int64(len(changes)) {
			return unexpected()
		}
		// Nothing was written, and never will be.
		return nil, false, scoped.NotApplied(corrupt(changes[i-1].Name, what))
	case int64(0):
		if len(reply) != 1+4*len(changes) {
			return unexpected()
		}
		for i, c := range changes {
			rec, err := parseRecord(c.Name, reply[1+4*i:5+4*i])
			if err != nil {
				return nil, false, scoped.NotApplied(err) // a conflict: nothing was written
			}
			cur[i] = rec
		}
		return cur, false, nil
	case int64(1):
		rest := reply[1:]
		for i, c := range changes {
			switch c.Action {
			case scoped.ActionSet:
				version := c.Expected.Version + 1
				_, expiresAt := expiryArg(c.Write.ExpiresAt)
				cur[i] = scoped.Record{Value: c.Write.Value, Version: version, Writer: c.Write.Writer, ExpiresAt: expiresAt}
			case scoped.ActionCheck:
				if len(rest) < 4 {
					return unexpected()
				}
				rec, err := parseRecord(c.Name, rest[:4])
				if err != nil {
					// The changes were applied: the error must not
					// read as the data's.
					return nil, false, fmt.Errorf("redisstore: compare-and-set-many applied, but the record of checked scope %q: %v", c.Name, err)
				}
				cur[i], rest = rec, rest[4:]
			}
		}
		if len(rest) != 0 {
			return unexpected()
		}
		return cur, true, nil
	}
	return unexpected()
}
