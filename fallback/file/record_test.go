package file

import (
	"bytes"
	"testing"
	"time"

	"github.com/scoped-go/scoped"
)

// A record decodes as it was encoded, its expiry time to the millisecond;
// the epoch itself, which the expires field cannot hold, is kept as a
// millisecond before it.
func TestRecordRoundTrip(t *testing.T) {
	now := time.Now()
	for _, tt := range []struct{ at, want time.Time }{
		{time.Time{}, time.Time{}},
		{now, time.UnixMilli(now.UnixMilli())},
		{time.UnixMilli(1), time.UnixMilli(1)},
		{time.UnixMilli(0), time.UnixMilli(-1)},
		{time.UnixMilli(-5), time.UnixMilli(-5)},
		{time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)},
	} {
		rec := scoped.Record{Value: []byte("\x92\x01\x02"), Version: 42, Writer: scoped.NewToken(), ExpiresAt: tt.at}
		got, err := decodeRecord("name", encodeRecord("name", rec))
		if err != nil {
			t.Fatalf("decode of a record expiring at %v: %v", tt.at, err)
		}
		if !bytes.Equal(got.Value, rec.Value) || got.Revision() != rec.Revision() || !got.ExpiresAt.Equal(tt.want) || got.ExpiresAt.IsZero() != tt.want.IsZero() {
			t.Fatalf("a record expiring at %v decodes as %+v, want the expiry time %v", tt.at, got, tt.want)
		}
	}
}

// No input makes decoding panic; the header decodeRecord accepts is the one
// decodeHeader reads; what decodes as a record encodes back to the same
// bytes (in the current layout: an "SCF1" record to one that decodes the
// same). The seeds in testdata/fuzz/FuzzDecodeRecord are records of both
// layouts, a tombstone, and damaged ones: truncated, a bad checksum, another
// scope's name, version 0, a name longer than the file.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord("a", scoped.Record{Value: []byte("v"), Version: 1, Writer: scoped.NewToken(), ExpiresAt: time.UnixMilli(1234)}))
	f.Add(encodeRecord("a", scoped.Record{Value: []byte("v"), Version: 9, Writer: scoped.NewToken()}))
	f.Add([]byte("SCF1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		decodeHeader(b)
		rec, err := decodeRecord("a", b)
		if err != nil || !rec.Exists() {
			return
		}
		h, err := decodeHeader(b)
		if err != nil || h.name != "a" || h.version != rec.Version || h.writer != rec.Writer || !h.expiresAt.Equal(rec.ExpiresAt) {
			t.Fatalf("%x decodes as %+v, but its header as %+v, %v", b, rec, h, err)
		}
		again := encodeRecord("a", rec)
		if string(b[:magicSize]) == recordMagic && !bytes.Equal(again, b) {
			t.Fatalf("%x decodes as %+v, which encodes as %x", b, rec, again)
		}
		back, err := decodeRecord("a", again)
		if err != nil || back.Revision() != rec.Revision() || !bytes.Equal(back.Value, rec.Value) || !back.ExpiresAt.Equal(rec.ExpiresAt) {
			t.Fatalf("%x decodes as %+v, which encodes as %x, which decodes as %+v, %v", b, rec, again, back, err)
		}
	})
}
