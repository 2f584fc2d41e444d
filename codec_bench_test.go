package scoped

import (
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
	b.Run("int", func(b *testing.B) { benchDecode(b, 42) })
	b.Run("int8", func(b *testing.B) { benchDecode(b, int8(42)) })
	b.Run("string", func(b *testing.B) { benchDecode(b, "hello, world") })
	b.Run("any", func(b *testing.B) { benchDecode[any](b, map[string]any{"a": int64(1), "b": "two"}) })
	b.Run("user", func(b *testing.B) { benchDecode(b, benchUser{ID: 7, Name: "ann", Age: 33, Admin: true}) })
	b.Run("order", func(b *testing.B) {
		benchDecode(b, benchOrder{ID: 9, Lines: lines, Totals: map[string]int32{"net": 100, "tax": 20}, Note: "rush"})
	})
	b.Run("ints100", func(b *testing.B) { benchDecode(b, ints) })
	b.Run("bytes64", func(b *testing.B) { benchDecode(b, make([]byte, 64)) })
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
	b.ReportAllocs()
	for b.Loop() {
		var v T
		if err := decode(enc, &v); err != nil {
			b.Fatal(err)
		}
	}
}
