package scoped

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

type (
	level   int8
	counter uint16

	embInts struct {
		A int8
		B uint8 `msgpack:"b,alias:bee"`
	}
	withEmbedded struct {
		embInts
		C int16
	}
	withPtrEmbedded struct {
		*embInts
	}
	shadowInline struct {
		embInts `msgpack:",inline"`
		A       int64 // declared after: msgpack decodes key A here
	}
	shadowAuto struct {
		A int64 // clashes with embInts.A: msgpack does not inline embInts
		embInts
	}
	noInline struct {
		embInts `msgpack:",noinline"`
	}
	tagged struct {
		X    int8 `msgpack:"x"`
		Skip int8 `msgpack:"-"`
		Ptr  *level
		Any  any
		Dur  time.Duration
	}
	treeNode struct {
		V    level
		Kids []*treeNode
	}
	onlyText struct {
		Name string
		Tags []string
		Kids []onlyText
	}
)

// wrapping decodes itself: any integer, kept modulo 256.
type wrapping uint8

func (w *wrapping) DecodeMsgpack(d *msgpack.Decoder) error {
	n, err := d.DecodeInt64()
	*w = wrapping(n)
	return err
}

// into returns a function that decodes b into a new T with decode, and
// returns it and the error.
func into[T any]() func(b []byte) (any, error) {
	return func(b []byte) (any, error) {
		var v T
		err := decode(b, &v)
		return v, err
	}
}

func mustEncode(t testing.TB, v any) []byte {
	t.Helper()
	b, err := encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeRefusesNarrowing(t *testing.T) {
	i64 := func(n int64) []byte { return append([]byte{0xd3}, be(uint64(n))...) }
	tests := []struct {
		name    string
		stored  any    // encoded with encode, unless raw is set
		raw     []byte // the stored bytes
		decode  func([]byte) (any, error)
		want    any    // the value decoded, if no error is wanted
		wantErr string // a substring of the error, if one is wanted
	}{
		// The cases of the issue: msgpack v5 alone gives 44, 2^64-1, 0.
		{name: "300 into int8", stored: 300, decode: into[int8](), wantErr: "integer 300 does not fit in int8"},
		{name: "-1 into uint", stored: -1, decode: into[uint](), wantErr: "integer -1 does not fit in uint"},
		{name: "2^40 into int32", stored: int64(1) << 40, decode: into[int32](), wantErr: "1099511627776 does not fit in int32"},
		{name: "named int8", stored: 300, decode: into[level](), wantErr: "does not fit in scoped.level"},
		{name: "named uint16", stored: 70000, decode: into[counter](), wantErr: "does not fit in scoped.counter"},
		{name: "pointer to named", stored: -129, decode: into[*level](), wantErr: "-129 does not fit in scoped.level"},

		// The edges of each width.
		{name: "int8 max", stored: 127, decode: into[int8](), want: int8(127)},
		{name: "int8 min", stored: -128, decode: into[int8](), want: int8(-128)},
		{name: "int8 max+1", stored: 128, decode: into[int8](), wantErr: "128"},
		{name: "int8 min-1", stored: -129, decode: into[int8](), wantErr: "-129"},
		{name: "uint8 max", stored: 255, decode: into[uint8](), want: uint8(255)},
		{name: "uint8 max+1", stored: 256, decode: into[uint8](), wantErr: "256"},
		{name: "int16 min-1", stored: math.MinInt16 - 1, decode: into[int16](), wantErr: "-32769"},
		{name: "uint32 max+1", stored: math.MaxUint32 + 1, decode: into[uint32](), wantErr: "4294967296"},
		{name: "int32 min", stored: math.MinInt32, decode: into[int32](), want: int32(math.MinInt32)},
		{name: "int64 max", stored: math.MaxInt64, decode: into[int64](), want: int64(math.MaxInt64)},
		{name: "int64 min", stored: math.MinInt64, decode: into[int64](), want: int64(math.MinInt64)},
		{name: "uint64 max into uint64", stored: uint64(math.MaxUint64), decode: into[uint64](), want: uint64(math.MaxUint64)},
		{name: "uint64 max into int64", stored: uint64(math.MaxUint64), decode: into[int64](), wantErr: "18446744073709551615 does not fit in int64"},
		{name: "2^63 into int", stored: uint64(1) << 63, decode: into[int](), wantErr: "9223372036854775808 does not fit in int"},
		{name: "2^63 into Duration", stored: uint64(1) << 63, decode: into[time.Duration](), wantErr: "does not fit in time.Duration"},
		{name: "-1 into uint8", stored: -1, decode: into[uint8](), wantErr: "-1 does not fit in uint8"},
		{name: "-1 into uint64", stored: -1, decode: into[uint64](), wantErr: "-1 does not fit in uint64"},
		{name: "small int64 code into int8", raw: i64(5), decode: into[int8](), want: int8(5)},
		{name: "negative int64 code into int8", raw: i64(-5), decode: into[int8](), want: int8(-5)},
		{name: "int8 code -1 into uint8", raw: []byte{0xd0, 0xff}, decode: into[uint8](), wantErr: "-1"},
		{name: "nil into int8", stored: nil, decode: into[int8](), want: int8(0)},

		// Floats: msgpack v5 refuses a float into an integer already; it
		// turns a uint64 over 2^63-1 negative in a float.
		{name: "1.5 into int", stored: 1.5, decode: into[int](), wantErr: "invalid code=cb decoding int64"},
		{name: "2.0 into int", stored: 2.0, decode: into[int](), wantErr: "invalid code=cb"},
		{name: "float32 into int8", stored: float32(2), decode: into[int8](), wantErr: "invalid code=ca"},
		{name: "2^63 into float64", stored: uint64(1) << 63, decode: into[float64](), wantErr: "would turn negative in float64"},
		{name: "2^63-1 into float64", stored: int64(math.MaxInt64), decode: into[float64](), want: float64(math.MaxInt64)},
		{name: "-1 into float32", stored: -1, decode: into[float32](), want: float32(-1)},

		// Nested.
		{name: "struct field", stored: map[string]any{"X": 300}, decode: into[struct{ X int8 }](), wantErr: "300 at .X does not fit in int8"},
		{name: "struct field fits", stored: map[string]any{"X": -3}, decode: into[struct{ X int8 }](), want: struct{ X int8 }{-3}},
		{name: "struct as array", stored: []any{300}, decode: into[struct{ X int8 }](), wantErr: "300 at [0] does not fit"},
		{name: "slice element", stored: []int{1, 2, 300}, decode: into[[]int8](), wantErr: "300 at [2] does not fit in int8"},
		{name: "array element", stored: []int{1, 70000}, decode: into[[2]uint16](), wantErr: "70000 at [1]"},
		{name: "map value", stored: map[string]int{"a": 1, "b": -1}, decode: into[map[string]uint](), wantErr: `-1 at ["b"] does not fit in uint`},
		{name: "map key", stored: map[int]string{300: "x"}, decode: into[map[int8]string](), wantErr: "300 does not fit in int8"},
		{name: "int map key in path", stored: map[int]int{7: 300}, decode: into[map[int]int8](), wantErr: "300 at [7]"},
		{name: "deep", stored: map[string]any{"Kids": []any{map[string]any{"V": 1}, map[string]any{"Kids": []any{map[string]any{"V": 128}}}}},
			decode: into[treeNode](), wantErr: "128 at .Kids[1].Kids[0].V does not fit in scoped.level"},
		{name: "tag name", stored: map[string]any{"x": 300}, decode: into[tagged](), wantErr: "300 at .x"},
		{name: "Go name of a tagged field is not decoded", stored: map[string]any{"X": 300}, decode: into[tagged](), want: tagged{}},
		{name: "skipped field", stored: map[string]any{"Skip": 300}, decode: into[tagged](), want: tagged{}},
		{name: "pointer field", stored: map[string]any{"Ptr": 300}, decode: into[tagged](), wantErr: "300 at .Ptr does not fit in scoped.level"},
		{name: "interface field", stored: map[string]any{"Any": int64(1) << 40}, decode: into[tagged](), want: tagged{Any: uint64(1) << 40}},
		{name: "duration field", stored: map[string]any{"Dur": uint64(math.MaxUint64)}, decode: into[tagged](), wantErr: "at .Dur does not fit in time.Duration"},
		{name: "inlined field", stored: map[string]any{"A": 300}, decode: into[withEmbedded](), wantErr: "300 at .A does not fit in int8"},
		{name: "inlined by tag name", stored: map[string]any{"b": 256}, decode: into[withEmbedded](), wantErr: "256 at .b does not fit in uint8"},
		{name: "alias is not inlined", stored: map[string]any{"bee": 256}, decode: into[withEmbedded](), want: withEmbedded{}},
		{name: "alias", stored: map[string]any{"bee": 256}, decode: into[embInts](), wantErr: "256 at .bee does not fit in uint8"},
		{name: "embedded by name", stored: map[string]any{"embInts": map[string]any{"A": 300}}, decode: into[withEmbedded](), wantErr: "300 at .embInts.A"},
		{name: "embedded pointer inlined", stored: map[string]any{"A": 300}, decode: into[withPtrEmbedded](), wantErr: "300 at .A"},
		{name: "inline shadowed by a later field", stored: map[string]any{"A": 300}, decode: into[shadowInline](), want: shadowInline{A: 300}},
		{name: "clash keeps embedded whole", stored: map[string]any{"A": 300}, decode: into[shadowAuto](), want: shadowAuto{A: 300}},
		{name: "clash: embedded by name", stored: map[string]any{"embInts": map[string]any{"A": 300}}, decode: into[shadowAuto](), wantErr: "300 at .embInts.A"},
		{name: "noinline", stored: map[string]any{"embInts": map[string]any{"b": 300}}, decode: into[noInline](), wantErr: "300 at .embInts.b"},

		// Not integers: left as they were.
		{name: "bytes are bin", stored: []byte{1, 2, 255}, decode: into[[]uint8](), want: []uint8{1, 2, 255}},
		{name: "array of ints into bytes", stored: []int{1, 300}, decode: into[[]uint8](), wantErr: "decoding string/bytes length"},
		{name: "any", stored: int64(1) << 40, decode: into[any](), want: uint64(1) << 40},
		{name: "any negative", stored: int64(-1) << 40, decode: into[any](), want: int64(-1) << 40},
		{name: "map of any", stored: map[string]any{"a": 300}, decode: into[map[string]any](), want: map[string]any{"a": uint64(300)}},
		{name: "string into int", stored: "5", decode: into[int](), wantErr: "invalid code=a1 decoding int64"},
		{name: "decodes itself", stored: 300, decode: into[wrapping](), want: wrapping(44)},
		{name: "time", stored: time.Unix(1, 0), decode: into[time.Time](), want: time.Unix(1, 0)},
		{name: "float32 rounds", stored: 1<<24 + 1, decode: into[float32](), want: float32(1 << 24)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.raw
			if b == nil {
				b = mustEncode(t, tt.stored)
			}
			got, err := tt.decode(b)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("decode(% x) = %#v, %v; want an error with %q", b, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("decode(% x) = %#v, %v; want %#v", b, got, err, tt.want)
			}
		})
	}
}

func be(n uint64) []byte {
	b := make([]byte, 8)
	for i := range b {
		b[i] = byte(n >> (56 - 8*i))
	}
	return b
}

// Every integer of every width that fits decodes as msgpack decodes it, and
// every one that does not is refused.
func TestDecodeIntegersExhaustively(t *testing.T) {
	values := []int64{0, 1, -1, 127, 128, -128, -129, 255, 256, 32767, 32768, -32768, -32769,
		65535, 65536, math.MaxInt32, math.MaxInt32 + 1, math.MinInt32, math.MinInt32 - 1,
		math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64, math.MinInt64}
	stored := make([][]byte, 0, len(values)+2)
	for _, v := range values {
		stored = append(stored, mustEncode(t, v))
	}
	stored = append(stored, mustEncode(t, uint64(1)<<63), mustEncode(t, uint64(math.MaxUint64)))
	check := func(t *testing.T, b []byte, fits bool, dst any) {
		t.Helper()
		err := decode(b, dst)
		var re *rangeError
		if fits && err != nil || !fits && !errors.As(err, &re) {
			t.Errorf("decode(% x) into %T: %v; want fits=%v", b, dst, err, fits)
		}
	}
	for _, b := range stored {
		var big any
		if err := msgpack.Unmarshal(b, &big); err != nil {
			t.Fatal(err)
		}
		var n int64
		var u uint64
		var neg bool
		switch x := big.(type) {
		case int8, int16, int32, int64:
			n = reflect.ValueOf(x).Int()
			neg, u = n < 0, uint64(n)
		default:
			u = reflect.ValueOf(x).Uint()
			n = int64(u)
		}
		signed := func(bits int) bool { return !neg && u <= 1<<(bits-1)-1 || neg && n >= -1<<(bits-1) }
		unsigned := func(bits int) bool { return !neg && (bits == 64 || u < 1<<bits) }
		check(t, b, signed(8), new(int8))
		check(t, b, signed(16), new(int16))
		check(t, b, signed(32), new(int32))
		check(t, b, signed(64), new(int64))
		check(t, b, signed(64), new(int))
		check(t, b, unsigned(8), new(uint8))
		check(t, b, unsigned(16), new(uint16))
		check(t, b, unsigned(32), new(uint32))
		check(t, b, unsigned(64), new(uint64))
		check(t, b, unsigned(64), new(uint))
		check(t, b, signed(8), new(level))
		check(t, append([]byte{0x91}, b...), signed(8), new([]int8))
		check(t, append([]byte{0x81, 0xa1, 'X'}, b...), unsigned(16), new(struct{ X uint16 }))
		check(t, b, signed(64), new(float64))
	}
}

func TestDecodeRefusesMalformed(t *testing.T) {
	for name, b := range map[string][]byte{
		"truncated int16":     {0xd1, 0x01},
		"truncated in struct": {0x81, 0xa1, 'X', 0xcd, 0x01},
		"trailing":            {0x01, 0x02},
		"deep":                append(bytes.Repeat([]byte{0x91}, maxDepth+2), 0x01),
	} {
		var v struct{ X []int8 }
		if err := decode(b, &v); err == nil {
			t.Errorf("%s: decode(% x) succeeded", name, b)
		}
	}
}

// msgpackFields must know the keys msgpack v5 knows, and no others, for
// every way of naming a field.
func TestMsgpackFieldsMatchMsgpack(t *testing.T) {
	type inner struct {
		A, B int
		c    int
	}
	type Exported struct{ E, A int }
	type custom struct{ A int }
	type (
		plain struct{ A, B int }
		tags  struct {
			A int `msgpack:"a"`
			B int `msgpack:"b,omitempty"`
			C int `msgpack:",omitempty"`
			D int `msgpack:"-"`
			E int `msgpack:"e,alias:ee"`
			F int `msgpack:"'f,g'"`
			f int
		}
		embedded    struct{ inner }
		embeddedPtr struct{ *Exported }
		embeddedTwo struct {
			inner
			Exported // clashes on A: kept whole
		}
		inlineTwo struct {
			inner    `msgpack:",inline"`
			Exported `msgpack:"ex,inline"`
		}
		noInline struct {
			Exported `msgpack:"ex,noinline"`
		}
		embeddedTime struct{ time.Time }
		embeddedText struct{ textOnly }
		nested       struct {
			embedded
			Z int
		}
	)
	for _, v := range []any{plain{}, tags{}, embedded{}, embeddedPtr{}, embeddedTwo{}, inlineTwo{}, noInline{},
		embeddedTime{}, embeddedText{}, nested{}, withEmbedded{}, shadowInline{}, shadowAuto{}, tagged{}, custom{}} {
		typ := reflect.TypeOf(v)
		t.Run(typ.Name(), func(t *testing.T) {
			if decodesItself(typ) { // as embeddedTime does, through time.Time's methods
				if s := buildShape(typ); s != nil {
					t.Fatalf("%v decodes itself, but has a shape", typ)
				}
				return
			}
			ours := msgpackFields(typ, 0).byName
			keys := []string{"", "a", "A", "B", "b", "c", "C", "D", "e", "E", "ee", "f", "F", "g", "'f", "f,g", "E",
				"inner", "Exported", "ex", "Time", "textOnly", "embedded", "Z", "embInts", "bee", "x", "X", "Skip", "Ptr", "Any", "Dur"}
			for k := range ours {
				keys = append(keys, k)
			}
			for _, key := range keys {
				theirs := msgpackKnows(t, typ, key)
				if _, known := ours[key]; known != theirs {
					t.Errorf("key %q: msgpackFields knows it: %v, msgpack: %v", key, known, theirs)
				}
			}
		})
	}
}

// msgpackKnows reports whether msgpack, refusing unknown fields, takes key
// as a field of the struct type typ. The value is an empty map, which
// msgpack refuses for any field but a struct or map: not as unknown.
func msgpackKnows(t *testing.T, typ reflect.Type, key string) (known bool) {
	defer func() {
		if r := recover(); r != nil { // msgpack panics on some fields it found
			known = true
		}
	}()
	b := mustEncode(t, map[string]any{key: map[string]any{}})
	dec := msgpack.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields(true)
	err := dec.Decode(reflect.New(typ).Interface())
	return err == nil || !strings.HasPrefix(err.Error(), unknownFieldPrefix)
}

// textOnly encodes itself, so msgpack does not inline it.
type textOnly struct{ A int }

func (textOnly) MarshalText() ([]byte, error) { return []byte("t"), nil }

func TestDecodeKnown(t *testing.T) {
	type N struct{ N int }
	type tagN struct {
		N int `msgpack:"n"`
	}
	type both struct {
		N    int `msgpack:"n"`
		Keep int `msgpack:"keepme"`
	}
	type inner struct{ A int }
	type outer struct {
		Inner inner
		List  []inner
		Map   map[string]inner
		Ptr   *inner
		Any   any
		Free  map[string]int
	}
	type embedding struct {
		inner
		B int `msgpack:"b,alias:bee"`
	}
	type hidden struct {
		A      int
		Skip   int `msgpack:"-"`
		hidden int
	}
	tests := []struct {
		name    string
		stored  any
		decode  func([]byte) error
		unknown string // the field named in the error, if unknown; "" for success
		other   string // a substring of an error that is not unknown field
	}{
		{name: "issue: n and keepme into N", stored: map[string]any{"n": 1, "keepme": 2}, decode: known[N], unknown: "n"},
		{name: "n is not N", stored: map[string]any{"n": 1}, decode: known[N], unknown: "n"},
		{name: "tagged n, keepme unknown", stored: map[string]any{"n": 1, "keepme": 2}, decode: known[tagN], unknown: "keepme"},
		{name: "all known", stored: map[string]any{"n": 1, "keepme": 2}, decode: known[both]},
		{name: "nested struct", stored: map[string]any{"Inner": map[string]any{"A": 1, "B": 2}}, decode: known[outer], unknown: "B"},
		{name: "in a slice", stored: map[string]any{"List": []any{map[string]any{"A": 1}, map[string]any{"Z": 1}}}, decode: known[outer], unknown: "Z"},
		{name: "in a map", stored: map[string]any{"Map": map[string]any{"k": map[string]any{"a": 1}}}, decode: known[outer], unknown: "a"},
		{name: "behind a pointer", stored: map[string]any{"Ptr": map[string]any{"A": 1, "Q": 1}}, decode: known[outer], unknown: "Q"},
		{name: "top-level slice", stored: []any{map[string]any{"A": 1, "x": 1}}, decode: known[[]inner], unknown: "x"},
		{name: "nested, all known", stored: map[string]any{"Inner": map[string]any{"A": 1}, "List": []any{map[string]any{"A": 2}},
			"Map": map[string]any{"k": map[string]any{"A": 3}}, "Ptr": map[string]any{"A": 4}}, decode: known[outer]},
		{name: "any holds anything", stored: map[string]any{"Any": map[string]any{"whatever": 1}}, decode: known[outer]},
		{name: "maps hold any key", stored: map[string]any{"Free": map[string]any{"x": 1, "y": 2}}, decode: known[outer]},
		{name: "map target", stored: map[string]any{"x": 1}, decode: known[map[string]int]},
		{name: "any target", stored: map[string]any{"x": 1}, decode: known[any]},
		{name: "inlined and alias", stored: map[string]any{"A": 1, "bee": 2}, decode: known[embedding]},
		{name: "embedded by name", stored: map[string]any{"inner": map[string]any{"A": 1}}, decode: known[embedding]},
		{name: "Go name of tagged field", stored: map[string]any{"B": 1}, decode: known[embedding], unknown: "B"},
		{name: "skipped field", stored: map[string]any{"Skip": 1}, decode: known[hidden], unknown: "Skip"},
		{name: "unexported field", stored: map[string]any{"hidden": 1}, decode: known[hidden], unknown: "hidden"},
		{name: "case differs", stored: map[string]any{"a": 1}, decode: known[hidden], unknown: "a"},
		{name: "wrong type is corrupt", stored: map[string]any{"A": "x"}, decode: known[hidden], other: "invalid code"},
		{name: "overflow is corrupt", stored: map[string]any{"A": 300}, decode: known[struct{ A int8 }], other: "does not fit in int8"},
		{name: "longer array is corrupt", stored: []any{1, 2}, decode: known[inner], other: "number of fields"},
		{name: "not msgpack is corrupt", stored: nil, decode: func([]byte) error { return decodeKnown([]byte{0xc1}, new(inner)) }, other: "code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustEncode(t, tt.stored)
			err := tt.decode(b)
			switch {
			case tt.unknown != "":
				if !errors.Is(err, errUnknownField) || err.Error() != fmt.Sprintf("msgpack: unknown field %q", tt.unknown) {
					t.Fatalf("decodeKnown(% x) = %v; want unknown field %q", b, err, tt.unknown)
				}
			case tt.other != "":
				if err == nil || errors.Is(err, errUnknownField) || !strings.Contains(err.Error(), tt.other) {
					t.Fatalf("decodeKnown(% x) = %v; want an error with %q, not unknown field", b, err, tt.other)
				}
			case err != nil:
				t.Fatalf("decodeKnown(% x) = %v", b, err)
			}
		})
	}
}

func known[T any](b []byte) error {
	var v T
	return decodeKnown(b, &v)
}

// A strict decode leaves no decoder strict: decode, sharing the pool, still
// skips unknown fields, from any goroutine.
func TestDecodeKnownDoesNotLeak(t *testing.T) {
	b := mustEncode(t, map[string]any{"A": 1, "extra": 2})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for range 200 {
				var v struct{ A int }
				if g%2 == 0 {
					if err := decodeKnown(b, &v); !errors.Is(err, errUnknownField) {
						t.Errorf("decodeKnown = %v; want unknown field", err)
						return
					}
					continue
				}
				if err := decode(b, &v); err != nil || v.A != 1 {
					t.Errorf("decode = %+v, %v", v, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// Whatever the bytes, a decode that succeeds holds every integer exactly as
// stored: decoded into any, which loses nothing, each reads the same.
func FuzzDecodeNeverNarrows(f *testing.F) {
	type narrow struct {
		A int8
		B uint16
		L []int32
		M map[string]uint8
		P *int16
		F float64
	}
	type wide struct {
		A, B any
		L    []any
		M    map[string]any
		P    any
		F    any
	}
	for _, v := range []any{
		map[string]any{"A": 1, "B": 2, "L": []int{1, -1}, "M": map[string]int{"x": 255}, "P": -5, "F": 3},
		map[string]any{"A": 300, "B": -1, "L": []int64{1 << 40}, "M": map[string]int{"x": 256}, "P": 1 << 15, "F": uint64(1) << 63},
		[]any{1, 2, []int{3}, nil, 4, 5.5},
	} {
		f.Add(mustEncode(f, v))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var n narrow
		if err := decode(b, &n); err != nil {
			return
		}
		var w wide
		if !unmarshalWide(b, &w) {
			return
		}
		same := func(where string, got any, stored any) {
			switch stored.(type) {
			case int8, int16, int32, int64, uint8, uint16, uint32, uint64:
				if fmt.Sprint(got) != fmt.Sprint(stored) {
					t.Fatalf("% x: %s decoded as %v, stored as %v", b, where, got, stored)
				}
			}
		}
		same("A", n.A, w.A)
		same("B", n.B, w.B)
		for i, x := range w.L {
			if i < len(n.L) {
				same(fmt.Sprintf("L[%d]", i), n.L[i], x)
			}
		}
		for k, x := range w.M {
			same("M["+k+"]", n.M[k], x)
		}
		if n.P != nil {
			same("P", *n.P, w.P)
		}
		if u, ok := w.F.(uint64); ok && float64(u) != n.F {
			t.Fatalf("% x: F decoded as %v, stored as %v", b, n.F, u)
		}
	})
}

// Structs whose field names collide in every small table of slots, and
// structs with many fields, find their fields all the same.
func TestDecodeFindsEveryField(t *testing.T) {
	type colliding struct { // one length, first and last letter: one slotHash
		AaZ, AbZ, AcZ int8
	}
	if s := buildShape(reflect.TypeFor[colliding]()); s.slots != nil || len(s.byName) != 3 {
		t.Fatalf("colliding names: slots %v, byName %v; want a map", s.slots, s.byName)
	}
	var fields []reflect.StructField
	for i := range 60 {
		fields = append(fields, reflect.StructField{Name: fmt.Sprintf("F%d", i), Type: reflect.TypeFor[uint8]()})
	}
	many := reflect.StructOf(fields)
	for _, typ := range []reflect.Type{reflect.TypeFor[colliding](), many} {
		for i := range typ.NumField() {
			name := typ.Field(i).Name
			v := reflect.New(typ)
			if err := decode(mustEncode(t, map[string]any{name: 100, "other": 300}), v.Interface()); err != nil || fmt.Sprint(v.Elem().Field(i)) != "100" {
				t.Errorf("%v: decoding %s = 100: %v", typ, name, err)
			}
			err := decode(mustEncode(t, map[string]any{name: 300}), reflect.New(typ).Interface())
			if err == nil || !strings.Contains(err.Error(), "300 at ."+name) {
				t.Errorf("%v: decoding %s = 300: %v; want it refused", typ, name, err)
			}
		}
	}
}

// unmarshalWide decodes b into w with msgpack, and reports whether it could:
// msgpack panics on a key repeated for an interface field.
func unmarshalWide(b []byte, w any) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return msgpack.Unmarshal(b, w) == nil
}
