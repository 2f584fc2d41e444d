package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

// showValue returns the JSON form of the msgpack value raw, as the package
// doc describes it: a tree of maps, slices, strings, booleans, nil,
// json.Number and values encoding/json shows as said there.
func showValue(raw []byte) (any, error) {
	if len(raw) == 0 { // msgpack's nil: decoded into a RawMessage, it leaves it empty
		return nil, nil
	}
	d := msgpack.NewDecoder(bytes.NewReader(raw))
	d.UseLooseInterfaceDecoding(true) // integers as int64 or uint64, never rounded
	return show(d)
}

// show reads one msgpack value from d and returns its JSON form.
func show(d *msgpack.Decoder) (any, error) {
	c, err := d.PeekCode()
	if err != nil {
		return nil, err
	}
	switch {
	case msgpcode.IsFixedMap(c) || c == msgpcode.Map16 || c == msgpcode.Map32:
		n, err := d.DecodeMapLen()
		if err != nil {
			return nil, err
		}
		m := make(map[string]any, n)
		for range n {
			k, err := show(d)
			if err != nil {
				return nil, err
			}
			v, err := show(d)
			if err != nil {
				return nil, err
			}
			ks, err := keyString(k)
			if err != nil {
				return nil, err
			}
			if _, dup := m[ks]; dup {
				return nil, fmt.Errorf("two keys of a map would both show as %q", ks)
			}
			m[ks] = v
		}
		return m, nil
	case msgpcode.IsFixedArray(c) || c == msgpcode.Array16 || c == msgpcode.Array32:
		n, err := d.DecodeArrayLen()
		if err != nil {
			return nil, err
		}
		a := make([]any, n)
		for i := range a {
			if a[i], err = show(d); err != nil {
				return nil, err
			}
		}
		return a, nil
	case msgpcode.IsExt(c):
		return showExt(d)
	case msgpcode.IsBin(c): // DecodeInterfaceLoose would make it a string
		return d.DecodeBytes()
	case c == msgpcode.Float: // DecodeInterfaceLoose would print 0.1 as 0.10000000149011612
		f, err := d.DecodeFloat32()
		return showFloat(float64(f), 32), err
	}
	v, err := d.DecodeInterfaceLoose()
	if err != nil {
		return nil, err
	}
	switch v := v.(type) {
	case int64:
		return json.Number(strconv.FormatInt(v, 10)), nil
	case uint64:
		return json.Number(strconv.FormatUint(v, 10)), nil
	case float64:
		return showFloat(v, 64), nil
	}
	return v, nil // nil, bool, string, []byte (base64 in JSON)
}

// showExt reads a msgpack extension value: a timestamp as time.Time (RFC
// 3339 in JSON), any other as {"ext": type, "data": its bytes}.
func showExt(d *msgpack.Decoder) (any, error) {
	raw, err := d.DecodeRaw()
	if err != nil {
		return nil, err
	}
	var v any
	if err := msgpack.Unmarshal(raw, &v); err == nil {
		return v, nil // an extension msgpack knows: timestamps
	}
	ed := msgpack.NewDecoder(bytes.NewReader(raw))
	id, n, err := ed.DecodeExtHeader()
	if err != nil {
		return nil, err
	}
	data := make([]byte, n)
	if err := ed.ReadFull(data); err != nil {
		return nil, err
	}
	return map[string]any{"ext": id, "data": data}, nil
}

// showFloat returns f as a JSON number that reads back as a float (it has a
// fraction or an exponent), or as a string where JSON has no number for it.
func showFloat(f float64, bits int) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	s := strconv.FormatFloat(f, 'g', -1, bits)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return json.Number(s)
}

// keyString returns the object key that shows the map key k: k itself if it
// is a string, else its JSON text.
func keyString(k any) (string, error) {
	if s, ok := k.(string); ok {
		return s, nil
	}
	b, err := json.Marshal(k)
	return string(b), err
}

// writeJSON writes v as one line of JSON, with no HTML escaping.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// parseFields reads one JSON object from r, and nothing after it, and
// returns its members as values to store (see the package doc).
func parseFields(r io.Reader) (map[string]any, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("bad JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("bad JSON: more after the object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("the JSON is a %T, not an object of fields", v)
	}
	out, err := storable(obj)
	if err != nil {
		return nil, err
	}
	return out.(map[string]any), nil
}

// storable returns the decoded JSON value v with its numbers made integers
// or floats.
func storable(v any) (any, error) {
	switch v := v.(type) {
	case json.Number:
		return number(string(v))
	case []any:
		for i, e := range v {
			s, err := storable(e)
			if err != nil {
				return nil, err
			}
			v[i] = s
		}
	case map[string]any:
		for k, e := range v {
			s, err := storable(e)
			if err != nil {
				return nil, err
			}
			v[k] = s
		}
	}
	return v, nil
}

// number returns the JSON number s as an int64 or a uint64 if it has no
// fraction and no exponent, else as a float64.
func number(s string) (any, error) {
	if !strings.ContainsAny(s, ".eE") {
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return u, nil
		}
		return nil, fmt.Errorf("the integer %s does not fit in 64 bits (write %s.0 to store a float)", s, s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("the number %s does not fit in a float64", s)
	}
	return f, nil
}
