package main

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

func TestShowValue(t *testing.T) {
	for _, tc := range []struct {
		in   any // encoded with msgpack
		want string
	}{
		{nil, `null`},
		{uint64(math.MaxUint64), `18446744073709551615`},
		{int64(math.MinInt64), `-9223372036854775808`},
		{int8(-3), `-3`},
		{float32(1.5), `1.5`},
		{float32(0.1), `0.1`},
		{float64(4), `4.0`},
		{1e21, `1e+21`},
		{math.NaN(), `"NaN"`},
		{math.Inf(1), `"+Inf"`},
		{math.Inf(-1), `"-Inf"`},
		{[]byte{1, 2, 3}, `"AQID"`},
		{"\xffa", `"\ufffda"`},
		{"<é>", `"<é>"`},
		{time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), `"2026-01-02T03:04:05.000000006Z"`},
		{map[int]string{1: "a", -2: "b"}, `{"-2":"b","1":"a"}`},
		{map[bool]int{true: 1}, `{"true":1}`},
		{map[string]any{"a": []any{1, map[string]int{"b": 2}}}, `{"a":[1,{"b":2}]}`},
		{[]any{}, `[]`},
	} {
		raw, err := msgpack.Marshal(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := shown(t, raw); got != tc.want {
			t.Errorf("%#v: %s, want %s", tc.in, got, tc.want)
		}
	}
	// An extension no decoder is registered for: fixext 1 of type 5, then
	// ext 8 of type -3 and 2 bytes.
	if got := shown(t, []byte{0xd4, 0x05, 0xaa}); got != `{"data":"qg==","ext":5}` {
		t.Errorf("fixext 1: %s", got)
	}
	if got := shown(t, []byte{0xc7, 0x02, 0xfd, 0x01, 0x02}); got != `{"data":"AQI=","ext":-3}` {
		t.Errorf("ext 8: %s", got)
	}
	// Keys 1 and "1" would be one key in JSON.
	raw, _ := msgpack.Marshal(map[any]int{1: 1, "1": 2})
	if _, err := showValue(raw); err == nil || !strings.Contains(err.Error(), "two keys") {
		t.Errorf("keys 1 and \"1\": %v", err)
	}
}

// shown returns the JSON text that get prints for the msgpack value raw.
func shown(t *testing.T, raw []byte) string {
	t.Helper()
	v, err := showValue(raw)
	if err != nil {
		t.Fatalf("% x: %v", raw, err)
	}
	var b strings.Builder
	if err := writeJSON(&b, v); err != nil {
		t.Fatalf("% x: %v", raw, err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func TestParseFields(t *testing.T) {
	got, err := parseFields(strings.NewReader(`{"i": -1, "u": 9223372036854775808, "f": 1.0, "e": 1e2,
		"s": "x", "n": null, "a": [2, 2.5], "o": {"p": 3}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"i": int64(-1), "u": uint64(1 << 63), "f": 1.0, "e": 100.0,
		"s": "x", "n": nil, "a": []any{int64(2), 2.5}, "o": map[string]any{"p": int64(3)}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v\nwant %#v", got, want)
	}
	for _, in := range []string{``, `{`, `[]`, `"a"`, `{} {}`, `{"a": 18446744073709551616}`, `{"a": 1e400}`} {
		if _, err := parseFields(strings.NewReader(in)); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}
