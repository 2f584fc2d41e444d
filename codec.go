package scoped

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/vmihailenco/msgpack/v5"
)

// codec is a msgpack encoder and decoder configured once and reused.
type codec struct {
	buf bytes.Buffer
	enc *msgpack.Encoder
	rd  bytes.Reader
	dec *msgpack.Decoder
}

var codecs = sync.Pool{New: func() any {
	c := new(codec)
	c.enc = msgpack.NewEncoder(&c.buf)
	c.enc.UseCompactInts(true)
	c.dec = msgpack.NewDecoder(&c.rd)
	c.dec.UseLooseInterfaceDecoding(true)
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

// decode decodes the single msgpack value b into v, a pointer. Trailing bytes
// are an error.
func decode(b []byte, v any) error {
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
