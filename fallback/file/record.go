package file

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/scoped-go/scoped"
)

// A record file is, in order:
//
//	magic    4 bytes   "SCF1"
//	version  8 bytes   big-endian
//	writer   16 bytes  the writer Token
//	nameLen  2 bytes   big-endian
//	name     nameLen bytes, the full scope name
//	value    the rest but the checksum; never empty
//	checksum 4 bytes   big-endian CRC-32C of everything before it
//
// Version 1 of the package kept a deleted scope as a record with an empty
// value, a tombstone; it reads as no record.
const (
	recordMagic    = "SCF1"
	recordOverhead = len(recordMagic) + 8 + scoped.TokenSize + 2 + crc32.Size
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// encodeRecord returns the record file of version, writer and value of the
// scope name.
func encodeRecord(name string, version uint64, writer scoped.Token, value []byte) []byte {
	b := make([]byte, 0, recordOverhead+len(name)+len(value))
	b = append(b, recordMagic...)
	b = binary.BigEndian.AppendUint64(b, version)
	b = append(b, writer[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(name)))
	b = append(b, name...)
	b = append(b, value...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeRecord reads the record file b, which must be the scope name's. A
// tombstone of version 1 of the package gives the zero Record.
func decodeRecord(name string, b []byte) (scoped.Record, error) {
	if len(b) < recordOverhead {
		return scoped.Record{}, fmt.Errorf("%d bytes, shorter than any record", len(b))
	}
	body, sum := b[:len(b)-crc32.Size], binary.BigEndian.Uint32(b[len(b)-crc32.Size:])
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return scoped.Record{}, fmt.Errorf("checksum %08x, want %08x", got, sum)
	}
	if string(body[:len(recordMagic)]) != recordMagic {
		return scoped.Record{}, fmt.Errorf("not a record (magic %q)", body[:len(recordMagic)])
	}
	body = body[len(recordMagic):]
	var rec scoped.Record
	rec.Version = binary.BigEndian.Uint64(body)
	body = body[8:]
	copy(rec.Writer[:], body)
	body = body[scoped.TokenSize:]
	n := int(binary.BigEndian.Uint16(body))
	body = body[2:]
	switch {
	case rec.Version == 0:
		return scoped.Record{}, errors.New("version 0 is never written")
	case n > len(body):
		return scoped.Record{}, fmt.Errorf("name of %d bytes in %d bytes", n, len(body))
	case string(body[:n]) != name:
		return scoped.Record{}, fmt.Errorf("holds scope %q", body[:n])
	}
	value := body[n:]
	if len(value) == 0 {
		return scoped.Record{}, nil
	}
	rec.Value = value[:len(value):len(value)]
	return rec, nil
}
