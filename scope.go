package scoped

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// Scope is the state a Run or View handler works on: named fields, each
// holding one msgpack-encoded value. Read fields with Get and change them
// with Set and Delete; the engine writes the scope back if, and only if, its
// encoding changed.
//
// A Scope is valid only inside the handler it was passed to, and is not safe
// for concurrent use.
type Scope struct {
	name     string
	fields   map[string][]byte
	readOnly bool
	absent   bool // the scope had no stored value when decoded
	dirty    bool // fields changed since the last encoding
	undo     []undoStep
	expires  time.Time // see Expiry
}

// undoStep is what one Set or Delete replaced, so that the changes of a
// failed handler can be taken back.
type undoStep struct {
	key     string
	old     []byte
	existed bool
}

// decodeScope reads the fields of a stored value; nil means absent.
func decodeScope(name string, blob []byte, readOnly bool) (*Scope, error) {
	s := &Scope{name: name, fields: map[string][]byte{}, readOnly: readOnly, absent: blob == nil}
	if blob == nil {
		return s, nil
	}
	corrupt := func(err error) (*Scope, error) { return nil, &CorruptValueError{Scope: name, Err: err} }
	h, err := readHeader(blob, 0)
	if err != nil {
		return corrupt(err)
	}
	if h.kind != kindMap {
		if blob[0] == 0xc0 { // nil: an empty scope
			return s, nil
		}
		return corrupt(fmt.Errorf("holds a msgpack value of code 0x%02x, not a map of fields", blob[0]))
	}
	pos := h.size
	for i := 0; i < h.n; i++ {
		kh, err := readHeader(blob, pos)
		if err != nil {
			return corrupt(err)
		}
		if c := blob[pos]; !(c >= 0xa0 && c <= 0xbf || c >= 0xd9 && c <= 0xdb) {
			return corrupt(fmt.Errorf("field name of code 0x%02x is not a string", c))
		}
		keyEnd := pos + kh.size + kh.n
		key := string(blob[pos+kh.size : keyEnd])
		end, _, err := skipValue(blob, keyEnd, 1)
		if err != nil {
			return corrupt(err)
		}
		s.fields[key] = blob[keyEnd:end:end]
		pos = end
	}
	if pos != len(blob) {
		return corrupt(fmt.Errorf("msgpack: %d bytes after the value", len(blob)-pos))
	}
	return s, nil
}

// encode returns the canonical encoding of the fields. A scope that had no
// value and has no fields still has none.
func (s *Scope) encode() []byte {
	if s.absent && len(s.fields) == 0 {
		return nil
	}
	keys := slices.Sorted(maps.Keys(s.fields))
	var raw []byte
	raw = appendMapHeader(raw, len(keys))
	for _, k := range keys {
		raw = appendString(raw, k)
		raw = append(raw, s.fields[k]...)
	}
	out, err := appendCanonical(make([]byte, 0, len(raw)), raw)
	if err != nil { // fields are canonical encodings, so this cannot happen
		panic("scoped: encoding fields: " + err.Error())
	}
	return out
}

// Name returns the scope's name.
func (s *Scope) Name() string { return s.name }

// Exists reports whether the scope has a value: it had a stored one when
// the handler began, or a field has been set since. A scope never written,
// or deleted, has none; one whose fields were all deleted still has one (an
// empty value), unless it had none before.
func (s *Scope) Exists() bool { return !s.absent || len(s.fields) > 0 }

// Has reports whether the field key is set.
func (s *Scope) Has(key string) bool {
	_, ok := s.fields[key]
	return ok
}

// Keys returns the names of the set fields, sorted.
func (s *Scope) Keys() []string { return slices.Sorted(maps.Keys(s.fields)) }

// Len returns the number of set fields.
func (s *Scope) Len() int { return len(s.fields) }

// Set stores value, encoded with msgpack, in the field key. It returns an
// error if value cannot be encoded, or ErrReadOnly inside View.
func (s *Scope) Set(key string, value any) error {
	if s.readOnly {
		return ErrReadOnly
	}
	b, err := encode(value)
	if err != nil {
		return fmt.Errorf("scoped: scope %q: field %q: %w", truncate(s.name), key, err)
	}
	s.record(key)
	s.fields[key] = b
	return nil
}

// Delete removes the field key, if set. It returns ErrReadOnly inside View.
func (s *Scope) Delete(key string) error {
	if s.readOnly {
		return ErrReadOnly
	}
	if s.Has(key) {
		s.record(key)
		delete(s.fields, key)
	}
	return nil
}

// record notes the current state of key before it changes.
func (s *Scope) record(key string) {
	old, existed := s.fields[key]
	s.undo = append(s.undo, undoStep{key: key, old: old, existed: existed})
	s.dirty = true
}

// rollback takes back the changes after the first n undo steps.
func (s *Scope) rollback(n int) {
	for i := len(s.undo) - 1; i >= n; i-- {
		u := s.undo[i]
		if u.existed {
			s.fields[u.key] = u.old
		} else {
			delete(s.fields, u.key)
		}
	}
	s.undo = s.undo[:n]
}

// Get returns the field key of s decoded as a T, or T's zero value if the
// field is not set. Each call decodes afresh, so the result never aliases the
// scope: change it and Set it back to store the change.
func Get[T any](s *Scope, key string) (T, error) {
	var v T
	b, ok := s.fields[key]
	if !ok {
		return v, nil
	}
	if err := decode(b, &v); err != nil {
		return v, &CorruptValueError{Scope: s.name, Err: fmt.Errorf("field %q as %T: %w", key, v, err)}
	}
	return v, nil
}

// appendMapHeader appends the msgpack header of a map of n entries.
func appendMapHeader(b []byte, n int) []byte {
	switch {
	case n < 16:
		return append(b, 0x80|byte(n))
	case n <= 0xffff:
		return append(b, 0xde, byte(n>>8), byte(n))
	default:
		return append(b, 0xdf, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

// appendString appends s as a msgpack str.
func appendString(b []byte, s string) []byte {
	n := len(s)
	switch {
	case n < 32:
		b = append(b, 0xa0|byte(n))
	case n <= 0xff:
		b = append(b, 0xd9, byte(n))
	case n <= 0xffff:
		b = append(b, 0xda, byte(n>>8), byte(n))
	default:
		b = append(b, 0xdb, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(b, s...)
}
