package scoped

import (
	"bytes"
	"errors"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// Whatever the stored bytes, decodeScope does not panic: it returns a
// *CorruptValueError, or a scope whose encoding decodes to the same fields,
// each in canonical form, and is itself canonical and stable.
func FuzzDecodeScope(f *testing.F) {
	for _, v := range []any{
		nil, map[string]any{}, map[string]any{"a": 1, "b": "x"}, map[string]any{"m": map[string]int{"z": 1, "a": 2}},
		[]any{1}, "not a map", map[int]int{1: 2},
	} {
		b, _ := msgpack.Marshal(v)
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0x82, 0xa1, 'a', 0x01, 0xa1, 'a', 0x02}) // a field twice
	f.Add([]byte{0x81, 0xd9, 0x01, 'a', 0xc0})            // a str8 field name
	f.Add([]byte{0x81, 0xa1, 'a'})                        // a field without a value
	f.Add([]byte{0x80, 0x00})                             // trailing bytes
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeScope("s", b, false)
		if err != nil {
			if cv := (*CorruptValueError)(nil); !errors.As(err, &cv) || cv.Scope != "s" {
				t.Fatalf("% x: %v, not a CorruptValueError of scope s", b, err)
			}
			return
		}
		enc := s.encode()
		if _, err := appendCanonical(nil, enc); err != nil {
			t.Fatalf("% x: the scope encodes as % x, which is not msgpack: %v", b, enc, err)
		}
		again, err := decodeScope("s", enc, false)
		if err != nil {
			t.Fatalf("% x: the scope encodes as % x, which does not decode: %v", b, enc, err)
		}
		if len(again.fields) != len(s.fields) {
			t.Fatalf("% x: %d fields, re-decoded as %d", b, len(s.fields), len(again.fields))
		}
		for k, v := range s.fields {
			want, err := appendCanonical(nil, v)
			if err != nil || !bytes.Equal(again.fields[k], want) {
				t.Fatalf("% x: field %q is % x, re-decoded as % x (%v)", b, k, v, again.fields[k], err)
			}
		}
		if enc2 := again.encode(); !bytes.Equal(enc2, enc) {
			t.Fatalf("% x: encodes as % x, then as % x", b, enc, enc2)
		}
	})
}
