package file

import (
	"context"
	"iter"
	"strings"
	"time"

	"github.com/scoped-go/scoped"
)

// List implements scoped.Store. It reads the directory in batches, and the
// header of every record file whose name may begin with prefix: an escaped
// file base gives the scope name, a digest needs the name its record holds.
// It leaves out records expired by the store's clock when it was called,
// tombstones of version 1 of the package, and files that vanish meanwhile.
// A record file whose header cannot be read is listed under the name its
// file base gives, so that a Load reports the damage, and left out if its
// base is a digest. It keeps the file base of every record file seen, so
// as to yield each name once. Every error it yields matches
// scoped.ErrNotApplied, as a listing performs nothing.
func (s *Store) List(ctx context.Context, prefix string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		now := s.now()
		for base, err := range s.recordFiles(ctx) {
			if err != nil {
				yield("", scoped.NotApplied(err))
				return
			}
			name, escaped := nameOfBase(base)
			if escaped && !strings.HasPrefix(name, prefix) {
				continue
			}
			h, found, err := s.readHeader(base)
			if err != nil {
				yield("", scoped.NotApplied(err))
				return
			}
			if !found {
				continue // removed meanwhile
			}
			if name, ok := listed(base, name, escaped, h, now); ok && strings.HasPrefix(name, prefix) && !yield(name, nil) {
				return
			}
		}
	}
}

// listed returns the name under which List yields the record file of the
// file base base, whose header is h (nil if damaged), and false if it
// leaves the file out. name and escaped are what nameOfBase says of base.
func listed(base, name string, escaped bool, h *fileHeader, now time.Time) (string, bool) {
	switch {
	case h == nil || escaped && h.name != name:
		return name, escaped // damaged: listed for Load to say so
	case !escaped && fileBase(h.name) != base:
		return "", false // no scope's file
	case h.tombstone || expired(h.expiresAt, now):
		return "", false
	}
	return h.name, true
}
