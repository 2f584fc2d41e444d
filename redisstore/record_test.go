package redisstore

import (
	"bytes"
	"errors"
	"strconv"
	"testing"

	"github.com/scoped-go/scoped"
)

// Whatever the scripts return for a record, {version, writer, value,
// expiry}, parseRecord does not panic: it returns a *scoped.CorruptValueError
// naming the scope, the zero Record for an empty version, or a record with a
// version, a writer token that is not zero and an expiry time after the
// epoch, which the scripts' form of it gives back.
func FuzzParseRecord(f *testing.F) {
	const token = "0123456789abcdef"
	f.Add("1", token, "\x81\xa1n\x01", "")
	f.Add("18446744073709551615", token, "\x01", "1700000000000")
	f.Add("", "", "", "")
	f.Add("0", token, "\x01", "")
	f.Add("18446744073709551616", token, "\x01", "")
	f.Add("1", "short", "\x01", "")
	f.Add("1", "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", "\x01", "")
	f.Add("1", token, "", "")
	f.Add("1", token, "\x01", "0")
	f.Add("1", token, "\x01", "-5")
	f.Add("1", token, "\x01", "9223372036854775808")
	f.Fuzz(func(t *testing.T, version, writer, value, expiry string) {
		rec, err := parseRecord("s", []any{version, writer, value, expiry})
		if err != nil {
			if cv := (*scoped.CorruptValueError)(nil); !errors.As(err, &cv) || cv.Scope != "s" {
				t.Fatalf("%q: %v, not a CorruptValueError of scope s", []string{version, writer, value, expiry}, err)
			}
			return
		}
		if version == "" {
			if rec.Exists() || rec.Version != 0 {
				t.Fatalf("an empty version parses as %+v", rec)
			}
			return
		}
		// cas.lua compares versions as strings: one accepted in any
		// other form than the one the engine sends back would never match.
		if strconv.FormatUint(rec.Version, 10) != version {
			t.Fatalf("version %q parses as %d", version, rec.Version)
		}
		if rec.Version == 0 || rec.Writer.IsZero() || !rec.ExpiresAt.IsZero() && rec.ExpiresAt.UnixMilli() <= 0 {
			t.Fatalf("%q parses as %+v", []string{version, writer, value, expiry}, rec)
		}
		exp := ""
		if !rec.ExpiresAt.IsZero() {
			exp = strconv.FormatInt(rec.ExpiresAt.UnixMilli(), 10)
		}
		back, err := parseRecord("s", []any{strconv.FormatUint(rec.Version, 10), string(rec.Writer[:]), string(rec.Value), exp})
		if err != nil || back.Revision() != rec.Revision() || !bytes.Equal(back.Value, rec.Value) || !back.ExpiresAt.Equal(rec.ExpiresAt) {
			t.Fatalf("%q parses as %+v, whose reply parses as %+v, %v", []string{version, writer, value, expiry}, rec, back, err)
		}
	})
}
