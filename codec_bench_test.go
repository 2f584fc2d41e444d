package scoped

import (
	"fmt"
	"reflect"
	"testing"
)

// benchUser is a small struct of the kind a scope field commonly holds.
type benchUser struct {
	ID    int64
	Name  string
	Age   uint8
	Admin bool
}

// benchOrder nests integers in slices, maps and structs.
type benchOrder struct {
	ID     uint32
	Lines  []benchLine
	Totals map[string]int32
	Note   string
}

type benchLine struct {
	SKU   string
	Qty   int16
	Cents int64
}

// BenchmarkDecode decodes one stored value of each shape into a fresh
// variable, as Get, Read and Update do.
func BenchmarkDecode(b *testing.B) {
	lines := make([]benchLine, 10)
	for i := range lines {
		lines[i] = benchLine{SKU: "sku-0001", Qty: int16(i + 1), Cents: 1999 * int64(i)}
	}
	ints := make([]int, 100)
	for i := range ints {
		ints[i] = i * 1000
	}
	b.Run("case=int", func(b *testing.B) { benchDecode(b, 42) })
	b.Run("case=int8", func(b *testing.B) { benchDecode(b, int8(42)) })
	b.Run("case=string", func(b *testing.B) { benchDecode(b, "hello, world") })
	b.Run("case=any", func(b *testing.B) { benchDecode[any](b, map[string]any{"a": int64(1), "b": "two"}) })
	b.Run("case=user", func(b *testing.B) { benchDecode(b, benchUser{ID: 7, Name: "ann", Age: 33, Admin: true}) })
	b.Run("case=order", func(b *testing.B) {
		benchDecode(b, benchOrder{ID: 9, Lines: lines, Totals: map[string]int32{"net": 100, "tax": 20}, Note: "rush"})
	})
	b.Run("case=ints100", func(b *testing.B) { benchDecode(b, ints) })
	b.Run("case=bytes64", func(b *testing.B) { benchDecode(b, make([]byte, 64)) })
}

// benchDecode measures decoding the encoding of want into a T, after
// checking that it decodes back to want.
func benchDecode[T any](b *testing.B, want T) {
	b.Helper()
	enc, err := encode(want)
	if err != nil {
		b.Fatal(err)
	}
	var got T
	if err := decode(enc, &got); err != nil || !reflect.DeepEqual(got, want) {
		b.Fatalf("decoded %#v, %v; want %#v", got, err, want)
	}
	for _, d := range []struct {
		name   string
		decode func([]byte, any) error
	}{{"impl=v5", decodeV5}, {"impl=checked", decode}} {
		b.Run(d.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var v T
				if err := d.decode(enc, &v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// decodeV5 is decode as it was before checkInts: msgpack v5 alone.
func decodeV5(b []byte, v any) error {
	c := codecs.Get().(*codec)
	defer codecs.Put(c)
	c.rd.Reset(b)
	if err := c.dec.Decode(v); err != nil {
		return err
	}
	if n := c.rd.Len(); n > 0 {
		return fmt.Errorf("msgpack: %d bytes after the value", n)
	}
	return nil
}

// BenchmarkCheckInts measures checkInts alone: what decode adds to msgpack.
func BenchmarkCheckInts(b *testing.B) {
	lines := make([]benchLine, 10)
	for i := range lines {
		lines[i] = benchLine{SKU: "sku-0001", Qty: int16(i + 1), Cents: 1999 * int64(i)}
	}
	ints := make([]int, 100)
	for i := range ints {
		ints[i] = i * 1000
	}
	b.Run("case=int", func(b *testing.B) { benchCheck(b, 42) })
	b.Run("case=user", func(b *testing.B) { benchCheck(b, benchUser{ID: 7, Name: "ann", Age: 33, Admin: true}) })
	b.Run("case=order", func(b *testing.B) {
		benchCheck(b, benchOrder{ID: 9, Lines: lines, Totals: map[string]int32{"net": 100, "tax": 20}, Note: "rush"})
	})
	b.Run("case=ints100", func(b *testing.B) { benchCheck(b, ints) })
}

func benchCheck[T any](b *testing.B, want T) {
	enc, err := encode(want)
	if err != nil {
		b.Fatal(err)
	}
	var v T
	for b.Loop() {
		if err := checkInts(enc, &v); err != nil {
			b.Fatal(err)
		}
	}
}
