package scoped

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

func TestCanonicalSortsMaps(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want []byte
	}{
		{"scalar", []byte{0x05}, []byte{0x05}},
		{"sorted map", []byte{0x82, 0xa1, 'a', 0x01, 0xa1, 'b', 0x02}, []byte{0x82, 0xa1, 'a', 0x01, 0xa1, 'b', 0x02}},
		{"unsorted map", []byte{0x82, 0xa1, 'b', 0x02, 0xa1, 'a', 0x01}, []byte{0x82, 0xa1, 'a', 0x01, 0xa1, 'b', 0x02}},
		{"nested in array", []byte{0x92, 0x81, 0xa1, 'z', 0xc0, 0x82, 0x02, 0xc3, 0x01, 0xc2}, []byte{0x92, 0x81, 0xa1, 'z', 0xc0, 0x82, 0x01, 0xc2, 0x02, 0xc3}},
		{"map in map value", []byte{0x81, 0xa1, 'm', 0x82, 0x02, 0xc0, 0x01, 0xc0}, []byte{0x81, 0xa1, 'm', 0x82, 0x01, 0xc0, 0x02, 0xc0}},
		{"map16 header", []byte{0xde, 0x00, 0x02, 0x02, 0xc0, 0x01, 0xc0}, []byte{0xde, 0x00, 0x02, 0x01, 0xc0, 0x02, 0xc0}},
		{"str8 and bin8", []byte{0x82, 0xd9, 0x01, 'b', 0xc4, 0x01, 0xff, 0xd9, 0x01, 'a', 0xc0}, []byte{0x82, 0xd9, 0x01, 'a', 0xc0, 0xd9, 0x01, 'b', 0xc4, 0x01, 0xff}},
		{"fixext and ext8", []byte{0x92, 0xd4, 0x01, 0x02, 0xc7, 0x02, 0x05, 0xaa, 0xbb}, []byte{0x92, 0xd4, 0x01, 0x02, 0xc7, 0x02, 0x05, 0xaa, 0xbb}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := appendCanonical(nil, tt.in)
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Fatalf("appendCanonical(% x) = % x, %v; want % x", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestCanonicalRejectsMalformed(t *testing.T) {
	for name, in := range map[string][]byte{
		"empty":             {},
		"never used":        {0xc1},
		"short str":         {0xa3, 'a'},
		"short bin16":       {0xc5, 0x00},
		"short array":       {0x92, 0x01},
		"map without value": {0x81, 0x01},
		"trailing":          {0x01, 0x02},
		"huge map32":        {0xdf, 0xff, 0xff, 0xff, 0xff, 0x01},
		"deep":              append(bytes.Repeat([]byte{0x91}, maxDepth+2), 0x01),
	} {
		if _, err := appendCanonical(nil, in); err == nil {
			t.Errorf("%s: appendCanonical(% x) succeeded", name, in)
		}
	}
}

// Go maps encode in random order; their canonical encodings are all equal.
func TestEncodeIsDeterministic(t *testing.T) {
	v := map[string]any{"list": []any{map[int]string{3: "c", 1: "a", 2: "b"}}}
	for i := range 26 {
		v[strings.Repeat(string(rune('a'+i)), i+1)] = map[string]int{"x": i, "y": -i, "z": i * i}
	}
	first, err := encode(v)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, err := encode(v)
		if err != nil || !bytes.Equal(again, first) {
			t.Fatalf("two encodings of one value differ (%v)", err)
		}
	}
}

// Whatever the bytes, appendCanonical does not panic; what it accepts it
// puts in a canonical form of the same length that it keeps as it is, which
// msgpack decodes as it decodes the original; and a value the engine
// decodes and encodes again keeps that encoding through another round.
func FuzzCanonical(f *testing.F) {
	for _, v := range []any{1, "s", []byte{0}, map[string]any{"b": 1, "a": []any{true, nil, 1.5}}, map[int]int{2: 1, 1: 2}} {
		b, _ := msgpack.Marshal(v)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := appendCanonical(nil, in)
		if err != nil {
			return
		}
		again, err := appendCanonical(nil, out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("canonical form is not stable: % x → % x → % x (%v)", in, out, again, err)
		}
		if len(out) != len(in) {
			t.Fatalf("canonical form changed the length: % x → % x", in, out)
		}
		// Both decode to the same value; compare re-encodings, since a
		// decoded value may hold a NaN, unequal to itself.
		var a, b any
		errA, errB := msgpack.Unmarshal(in, &a), msgpack.Unmarshal(out, &b)
		if (errA == nil) != (errB == nil) {
			t.Fatalf("canonical form decodes differently: %v vs %v", errA, errB)
		}
		if errA == nil {
			encA, errA := encode(a)
			encB, errB := encode(b)
			if (errA == nil) != (errB == nil) || !bytes.Equal(encA, encB) {
				t.Fatalf("canonical form decodes differently: %v vs %v", a, b)
			}
		}
		// What the engine decodes into an interface and encodes again
		// keeps that encoding from then on. (The first round may change
		// it: loose decoding gives a bin as a string, for one.)
		var c any
		if decode(out, &c) != nil {
			return
		}
		once, err := encode(c)
		if err != nil {
			t.Fatalf("% x decodes as %v, which does not encode: %v", in, c, err)
		}
		var d any
		if err := decode(once, &d); err != nil {
			t.Fatalf("% x decodes as %v, which encodes as % x, which does not decode: %v", in, c, once, err)
		}
		if twice, err := encode(d); err != nil || !bytes.Equal(twice, once) {
			t.Fatalf("% x decodes as %v, which encodes as % x, then as % x (%v)", in, c, once, twice, err)
		}
	})
}
