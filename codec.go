package scoped

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// codec is a msgpack encoder and two decoders configured once and reused.
type codec struct {
	buf    bytes.Buffer
	enc    *msgpack.Encoder
	rd     bytes.Reader
	dec    *msgpack.Decoder // skips map keys a struct has no field for
	strict *msgpack.Decoder // fails on them; reads rd as dec does
}

// codecs holds idle codecs. Each decoder keeps its settings for life, so a
// strict decode never leaves a decoder strict for the next caller.
var codecs = sync.Pool{New: func() any {
	c := new(codec)
	c.enc = msgpack.NewEncoder(&c.buf)
	c.enc.UseCompactInts(true)
	c.dec = msgpack.NewDecoder(&c.rd)
	c.dec.UseLooseInterfaceDecoding(true)
	c.strict = msgpack.NewDecoder(&c.rd)
	c.strict.UseLooseInterfaceDecoding(true)
	c.strict.DisallowUnknownFields(true)
	return c
}}

// encode returns the canonical msgpack encoding of v, in a new slice.
func encode(v any) ([]byte, error) {
	c := codecs.Get().(*codec)
	defer codecs.Put(c)
	c.buf.Reset()
	if err := c.enc.Encode(v); err != nil {
		return nil, fmt.Errorf("scoped: encode %T: %w", v, err)
	}
	return appendCanonical(make([]byte, 0, c.buf.Len()), c.buf.Bytes())
}

// decode decodes the single msgpack value b into v, a pointer to a zero
// value. Trailing bytes are an error, and so is an integer that v's type
// would hold in a Go integer too narrow for it, or of the wrong sign, where
// msgpack alone would silently truncate it: see checkInts. Map keys that a
// struct has no field for are skipped.
func decode(b []byte, v any) error {
	return decodeWith(b, v, false)
}

// errUnknownField is matched by the error of decodeKnown when the value holds
// a field that the type has no place for.
var errUnknownField = errors.New("msgpack: unknown field")

// decodeKnown is decode for a value that will be encoded again and written
// back: it fails, with an error matching errUnknownField and naming the
// field, when a msgpack map decoded into a struct, at any depth (in fields,
// slices, arrays, maps and pointers), has a key that the struct has no field
// for, which decoding would drop. The error of any other failure does not
// match errUnknownField.
//
// Which keys a struct knows is msgpack v5's own rule, the one it decodes by:
// a key is known if it equals, byte for byte (so "n" is not field N), the
// name of an exported field, or its `msgpack:"name"` tag if it has one (the
// Go name is then unknown), or an `alias:name` of the tag. Fields tagged
// `msgpack:"-"` and unexported fields are unknown. An embedded struct (or
// pointer to one) whose type has no decoder or encoder of its own is
// inlined: its fields are known by their own names, unless one of them
// clashes with a field already declared, in which case none is inlined and
// the embedded struct is one field, named for its type. A `msgpack:",inline"`
// tag inlines every field that does not clash and `msgpack:",noinline"` none.
// Inlining brings in the fields' names, not their aliases. An inlined struct
// is known by its own name as well, decoded as a whole.
//
// Maps hold every key, and an interface holds whatever it is given, so
// neither has unknown fields. A type that decodes itself (msgpack's
// CustomDecoder, Unmarshaler, or encoding's Binary- and TextUnmarshaler)
// decides for itself; a CustomDecoder decoding through the Decoder it is
// handed is strict too. A struct stored as a msgpack array has no keys: an
// array of the wrong length is refused as a decoding error, not as an
// unknown field. An integer that does not fit is refused as decode refuses
// it, before any unknown field is looked for.
func decodeKnown(b []byte, v any) error {
	return decodeWith(b, v, true)
}

// unknownFieldPrefix starts msgpack v5's error for a key a struct has no
// field for (decodeStruct in its decode_map.go); the key follows, quoted.
const unknownFieldPrefix = "msgpack: unknown field "

// decodeWith decodes b into v, strictly or not. A panic of the decoder on
// malformed bytes is returned as an error: stored data never panics a
// caller.
func decodeWith(b []byte, v any, strict bool) (err error) {
	if err := checkInts(b, v); err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("msgpack: decoder failed on this value: %v", p)
		}
	}()
	c := codecs.Get().(*codec)
	dec := c.dec
	if strict {
		dec = c.strict
	}
	c.rd.Reset(b)
	err = dec.Decode(v)
	rest := c.rd.Len()
	c.rd.Reset(nil) // an idle codec keeps no caller's bytes alive
	codecs.Put(c)   // not deferred: after a panic in Decode, c is dropped
	if err != nil {
		if strict {
			if key, ok := strings.CutPrefix(err.Error(), unknownFieldPrefix); ok {
				return fmt.Errorf("%w %s", errUnknownField, key)
			}
		}
		return err
	}
	if rest > 0 {
		return fmt.Errorf("msgpack: %d bytes after the value", rest)
	}
	return nil
}
