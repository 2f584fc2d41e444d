package scoped

import "time"

// CallOption changes what one call of Run or Update writes.
type CallOption func(*callOptions)

// callOptions are the settings of one call.
type callOptions struct {
	expiry    bool          // the call sets the expiry
	expiresAt time.Time     // when expiry is set and ttl is 0: the time, zero for never
	ttl       time.Duration // when expiry is set and not 0: from the handler's run
}

// ExpireAfter makes the scope expire d after the call's handler ran, if the
// call leaves the scope with a value. Setting the expiry is a change: the
// call writes even when its handler changed nothing, and so renews the
// time to live. A d of zero or less makes the scope expire at once, as a
// delete does. Once a scope expired, it reads as never written, and a write
// to it starts it afresh. Expiry times are kept to the millisecond, by the
// store's clock (see WithClock).
func ExpireAfter(d time.Duration) CallOption {
	if d <= 0 {
		d = -1 // in the past, and not the zero of "no ttl"
	}
	return func(o *callOptions) { o.expiry, o.ttl, o.expiresAt = true, d, time.Time{} }
}

// ExpireAt makes the scope expire at t, if the call leaves it with a value,
// as ExpireAfter does; the zero time clears the expiry, as Persist does.
func ExpireAt(t time.Time) CallOption {
	return func(o *callOptions) { o.expiry, o.ttl, o.expiresAt = true, 0, t }
}

// Persist clears the scope's expiry, if the call leaves it with a value: it
// no longer expires. A call without an expiry option keeps the scope's.
func Persist() CallOption { return ExpireAt(time.Time{}) }

// newCallOptions applies opts.
func newCallOptions(opts []CallOption) callOptions {
	var o callOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// apply sets the expiry of w as the call asks, the time counted by now.
func (o callOptions) apply(w *working, now func() time.Time) {
	if !o.expiry || w.bytes() == nil {
		return
	}
	at := o.expiresAt
	if o.ttl != 0 {
		at = now().Add(o.ttl)
	}
	w.expires = truncateExpiry(at)
}

// truncateExpiry returns t to the millisecond, as stores keep it, without
// its monotonic clock reading or location.
func truncateExpiry(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.UnixMilli(t.UnixMilli())
}

// Expiry returns when the scope expires, to the millisecond: the zero time
// if it never does, or has no value. In a Run handler it includes the
// changes of the calls committed before it in the batch.
func (s *Scope) Expiry() time.Time { return s.expires }
