package scoped

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// The encoder writes Go maps in random order, so two encodings of one value
// may differ. Change detection compares bytes, so every encoding the engine
// writes is put in canonical form first: the entries of every msgpack map
// sorted by the bytes of their encoded keys. This file reads msgpack's framing
// (not its values) to do that, and to check that stored bytes are well formed.

// maxDepth bounds the nesting the walker follows, so hostile bytes cannot
// exhaust the stack.
const maxDepth = 512

var errTruncated = errors.New("msgpack: truncated value")

// kind is the framing class of one msgpack value.
type kind uint8

const (
	kindScalar kind = iota // header followed by n payload bytes
	kindArray              // header followed by n values
	kindMap                // header followed by n key/value pairs
)

// header is the framing of the msgpack value at some offset.
type header struct {
	kind kind
	size int // bytes of the header itself
	n    int // payload bytes (scalars) or element count (arrays, maps)
}

// readHeader parses the framing of the value starting at b[pos].
func readHeader(b []byte, pos int) (header, error) {
	if pos >= len(b) {
		return header{}, errTruncated
	}
	c := b[pos]
	var h header
	switch {
	case c <= 0x7f || c >= 0xe0: // positive and negative fixint
		h = header{kindScalar, 1, 0}
	case c <= 0x8f:
		h = header{kindMap, 1, int(c & 0x0f)}
	case c <= 0x9f:
		h = header{kindArray, 1, int(c & 0x0f)}
	case c <= 0xbf:
		h = header{kindScalar, 1, int(c & 0x1f)}
	default:
		var err error
		if h, err = readLongHeader(b, pos); err != nil {
			return header{}, err
		}
	}
	if pos+h.size > len(b) || (h.kind == kindScalar && pos+h.size+h.n > len(b)) {
		return header{}, errTruncated
	}
	return h, nil
}

// readLongHeader parses the headers with codes 0xc0 to 0xdf.
func readLongHeader(b []byte, pos int) (header, error) {
	c := b[pos]
	length := func(width int) int {
		if pos+1+width > len(b) {
			return -1
		}
		switch width {
		case 1:
			return int(b[pos+1])
		case 2:
			return int(binary.BigEndian.Uint16(b[pos+1:]))
		default:
			return int(binary.BigEndian.Uint32(b[pos+1:]))
		}
	}
	var h header
	switch c {
	case 0xc0, 0xc2, 0xc3: // nil, false, true
		return header{kindScalar, 1, 0}, nil
	case 0xca, 0xcb: // float32, float64
		return header{kindScalar, 1, 4 << (c - 0xca)}, nil
	case 0xcc, 0xcd, 0xce, 0xcf: // uint8..uint64
		return header{kindScalar, 1, 1 << (c - 0xcc)}, nil
	case 0xd0, 0xd1, 0xd2, 0xd3: // int8..int64
		return header{kindScalar, 1, 1 << (c - 0xd0)}, nil
	case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8: // fixext 1..16: type byte, payload
		return header{kindScalar, 2, 1 << (c - 0xd4)}, nil
	case 0xc4, 0xd9: // bin8, str8
		h = header{kindScalar, 2, length(1)}
	case 0xc5, 0xda: // bin16, str16
		h = header{kindScalar, 3, length(2)}
	case 0xc6, 0xdb: // bin32, str32
		h = header{kindScalar, 5, length(4)}
	case 0xc7: // ext8: length, type byte
		h = header{kindScalar, 3, length(1)}
	case 0xc8:
		h = header{kindScalar, 4, length(2)}
	case 0xc9:
		h = header{kindScalar, 6, length(4)}
	case 0xdc:
		h = header{kindArray, 3, length(2)}
	case 0xdd:
		h = header{kindArray, 5, length(4)}
	case 0xde:
		h = header{kindMap, 3, length(2)}
	case 0xdf:
		h = header{kindMap, 5, length(4)}
	default: // 0xc1 is never used
		return header{}, fmt.Errorf("msgpack: invalid code 0x%02x at offset %d", c, pos)
	}
	if h.n < 0 {
		return header{}, errTruncated
	}
	return h, nil
}

// skipValue returns the offset just past the value at b[pos], and whether
// every map inside it is already in canonical order.
func skipValue(b []byte, pos, depth int) (end int, sorted bool, err error) {
	if depth > maxDepth {
		return 0, false, fmt.Errorf("msgpack: nested deeper than %d", maxDepth)
	}
	h, err := readHeader(b, pos)
	if err != nil {
		return 0, false, err
	}
	pos += h.size
	if h.kind == kindScalar {
		return pos + h.n, true, nil
	}
	sorted = true
	var prevKey []byte
	for i := 0; i < h.n; i++ {
		start := pos
		ok := true
		if pos, ok, err = skipValue(b, pos, depth+1); err != nil {
			return 0, false, err
		}
		sorted = sorted && ok
		if h.kind == kindArray {
			continue
		}
		key := b[start:pos]
		if prevKey != nil && bytes.Compare(prevKey, key) > 0 {
			sorted = false
		}
		prevKey = key
		if pos, ok, err = skipValue(b, pos, depth+1); err != nil {
			return 0, false, err
		}
		sorted = sorted && ok
	}
	return pos, sorted, nil
}

// appendCanonical appends the canonical form of the single msgpack value b
// to dst. It fails if b is not exactly one well-formed value.
func appendCanonical(dst, b []byte) ([]byte, error) {
	end, sorted, err := skipValue(b, 0, 0)
	if err != nil {
		return nil, err
	}
	if end != len(b) {
		return nil, fmt.Errorf("msgpack: %d bytes after the value", len(b)-end)
	}
	if sorted {
		return append(dst, b...), nil
	}
	dst, _ = appendSorted(dst, b, 0)
	return dst, nil
}

// appendSorted appends the value at b[pos], already known to be well formed,
// with its maps sorted, and returns the offset past it.
func appendSorted(dst, b []byte, pos int) ([]byte, int) {
	h, _ := readHeader(b, pos)
	if h.kind == kindScalar {
		end := pos + h.size + h.n
		return append(dst, b[pos:end]...), end
	}
	dst = append(dst, b[pos:pos+h.size]...)
	pos += h.size
	if h.kind == kindArray {
		for i := 0; i < h.n; i++ {
			dst, pos = appendSorted(dst, b, pos)
		}
		return dst, pos
	}
	type pair struct{ start, keyEnd, end int } // offsets into scratch
	var scratch []byte
	pairs := make([]pair, 0, h.n)
	for i := 0; i < h.n; i++ {
		start := len(scratch)
		scratch, pos = appendSorted(scratch, b, pos)
		keyEnd := len(scratch)
		scratch, pos = appendSorted(scratch, b, pos)
		pairs = append(pairs, pair{start, keyEnd, len(scratch)})
	}
	slices.SortStableFunc(pairs, func(x, y pair) int {
		return bytes.Compare(scratch[x.start:x.keyEnd], scratch[y.start:y.keyEnd])
	})
	for _, p := range pairs {
		dst = append(dst, scratch[p.start:p.end]...)
	}
	return dst, pos
}
