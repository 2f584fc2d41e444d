package file

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"time"

	"github.com/scoped-go/scoped"
)

// A record file is, in order:
//
//	magic    4 bytes   "SCF2"
//	version  8 bytes   big-endian
//	writer   16 bytes  the writer Token
//	expires  8 bytes   big-endian two's complement: the expiry time in
//	                   milliseconds since the Unix epoch, 0 for none
//	nameLen  2 bytes   big-endian
//	name     nameLen bytes, the full scope name
//	value    the rest but the checksum; never empty
//	checksum 4 bytes   big-endian CRC-32C of everything before it
//
// Earlier versions of the package wrote magic "SCF1" and no expires field:
// such a record never expires, and reads as it always did. Version 1 of the
// package kept a deleted scope as an "SCF1" record with an empty value, a
// tombstone; it reads as no record.
const (
	recordMagic   = "SCF2"
	recordMagicV1 = "SCF1"
	magicSize     = len(recordMagic)

	headerFixedV1 = magicSize + 8 + scoped.TokenSize + 2 // an "SCF1" header without its name
	headerFixed   = headerFixedV1 + 8                    // an "SCF2" header without its name

	// maxHeader is the longest header: the fixed fields and the longest
	// name.
	maxHeader = headerFixed + scoped.MaxNameLength
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// header is the beginning of a record file: everything but the value and the
// checksum.
type header struct {
	magic     string
	name      string
	version   uint64
	writer    scoped.Token
	expiresAt time.Time // the zero time for none
	size      int       // bytes of the file that the header takes
}

// encodeRecord returns the record file of rec, whose value is not empty, of
// the scope name.
func encodeRecord(name string, rec scoped.Record) []byte {
	b := make([]byte, 0, headerFixed+len(name)+len(rec.Value)+crc32.Size)
	b = append(b, recordMagic...)
	b = binary.BigEndian.AppendUint64(b, rec.Version)
	b = append(b, rec.Writer[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(expiryMillis(rec.ExpiresAt)))
	b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
	b = append(b, name...)
	b = append(b, rec.Value...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeRecord reads the record file b, which must be the scope name's. A
// tombstone of version 1 of the package gives the zero Record.
func decodeRecord(name string, b []byte) (scoped.Record, error) {
	if len(b) < headerFixedV1+crc32.Size {
		return scoped.Record{}, fmt.Errorf("%d bytes, shorter than any record", len(b))
	}
	body, sum := b[:len(b)-crc32.Size], binary.BigEndian.Uint32(b[len(b)-crc32.Size:])
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return scoped.Record{}, fmt.Errorf("checksum %08x, want %08x", got, sum)
	}
	h, err := decodeHeader(body)
	if err != nil {
		return scoped.Record{}, err
	}
	if h.name != name {
		return scoped.Record{}, fmt.Errorf("holds scope %q", h.name)
	}
	value := body[h.size:]
	switch {
	case len(value) > 0:
		return scoped.Record{Value: value[:len(value):len(value)], Version: h.version, Writer: h.writer, ExpiresAt: h.expiresAt}, nil
	case h.magic == recordMagicV1:
		return scoped.Record{}, nil // a tombstone
	default:
		return scoped.Record{}, errors.New("empty value")
	}
}

// decodeHeader reads the header at the start of b, which may hold the whole
// record file or only its beginning; it checks no checksum.
func decodeHeader(b []byte) (header, error) {
	var h header
	if len(b) < magicSize {
		return header{}, fmt.Errorf("%d bytes, shorter than any record", len(b))
	}
	h.magic = string(b[:magicSize])
	fixed := headerFixed
	switch h.magic {
	case recordMagic:
	case recordMagicV1:
		fixed = headerFixedV1
	default:
		return header{}, fmt.Errorf("not a record (magic %q)", h.magic)
	}
	if len(b) < fixed {
		return header{}, fmt.Errorf("%d bytes, shorter than any record", len(b))
	}
	p := b[magicSize:]
	h.version = binary.BigEndian.Uint64(p)
	p = p[8:]
	copy(h.writer[:], p)
	p = p[scoped.TokenSize:]
	if h.magic == recordMagic {
		h.expiresAt = expiryTime(int64(binary.BigEndian.Uint64(p)))
		p = p[8:]
	}
	n := int(binary.BigEndian.Uint16(p))
	p = p[2:]
	switch {
	case h.version == 0:
		return header{}, errors.New("version 0 is never written")
	case n > len(p):
		return header{}, fmt.Errorf("name of %d bytes in %d bytes", n, len(p))
	}
	h.name = string(p[:n])
	h.size = fixed + n
	return h, nil
}

// expiryMillis returns the expires field of the expiry time at: at in
// milliseconds since the Unix epoch, or 0 for the zero time, none. The
// epoch itself, which 0 cannot stand for, is kept as a millisecond before
// it: long past either way.
func expiryMillis(at time.Time) int64 {
	if at.IsZero() {
		return 0
	}
	if ms := at.UnixMilli(); ms != 0 {
		return ms
	}
	return -1
}

// expiryTime returns the expiry time of the expires field ms: the zero time
// for 0, none.
func expiryTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
