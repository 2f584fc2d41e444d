package scoped

import "time"

// working is a scope's value while the handlers of one batch run on it, one
// after another. Typed handlers read and replace its encoding; Run handlers
// share one decoded Scope, encoded only when its bytes are needed.
type working struct {
	name  string
	blob  []byte // canonical encoding, nil when absent; stale while scope is dirty
	scope *Scope // decoded fields of blob, or nil
	// expires is when the value expires, zero for never; it goes when
	// the value does.
	expires time.Time
}

// checkpoint is what rollback needs to take back one handler's changes.
type checkpoint struct {
	blob    []byte
	expires time.Time
	scope   *Scope
	undo    int
	dirty   bool
}

// bytes returns the current encoding, nil when the scope is absent.
func (w *working) bytes() []byte {
	if w.scope != nil && w.scope.dirty {
		w.blob = w.scope.encode()
		w.scope.dirty = false
	}
	return w.blob
}

// set replaces the value with the canonical encoding b (nil: absent, and
// no expiry).
func (w *working) set(b []byte) {
	w.blob, w.scope = b, nil
	if b == nil {
		w.expires = time.Time{}
	}
}

// fields returns the decoded Scope, decoding it on first use.
func (w *working) fields() (*Scope, error) {
	if w.scope == nil {
		s, err := decodeScope(w.name, w.bytes(), false)
		if err != nil {
			return nil, err
		}
		w.scope = s
	}
	return w.scope, nil
}

func (w *working) checkpoint() checkpoint {
	cp := checkpoint{blob: w.blob, scope: w.scope, expires: w.expires}
	if w.scope != nil {
		cp.undo, cp.dirty = len(w.scope.undo), w.scope.dirty
	}
	return cp
}

// rollback returns w to the state of cp.
func (w *working) rollback(cp checkpoint) {
	if cp.scope != nil {
		cp.scope.rollback(cp.undo)
		cp.scope.dirty = cp.dirty
	}
	w.blob, w.scope, w.expires = cp.blob, cp.scope, cp.expires
}
