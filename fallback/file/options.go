package file

import "time"

// Option configures a Store at Open.
type Option func(*Store)

// WithClock makes now the clock that tells whether a record has expired
// (time.Now by default). Every process sharing a directory should use
// clocks that agree.
func WithClock(now func() time.Time) Option {
	return func(s *Store) { s.now = now }
}
