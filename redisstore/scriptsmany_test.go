package redisstore_test

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/redisstore"
)

// casmany.lua on the real Redis and on miniredis: versions past 2^53 stay
// exact, a write with an expiry sets it on its key and one without
// PERSISTs it, a checked scope's record comes back whole, a delete removes
// the key.
func TestScriptsManyWrites(t *testing.T) {
	servers(t, func(t *testing.T, s *redisstore.Store, c redis.UniversalClient) {
		ctx := t.Context()
		tok := scoped.NewToken()
		start := uint64(math.MaxUint64 - 1)
		if err := c.HSet(ctx, s.Key("{w}big"), "n", strconv.FormatUint(start, 10), "w", tok[:], "v", "x").Err(); err != nil {
			t.Fatal(err)
		}
		at := time.UnixMilli(time.Now().Add(time.Hour).UnixMilli())
		checked, ok, err := s.CompareAndSet(ctx, "{w}checked", scoped.Revision{}, scoped.Write{Value: []byte("c"), Writer: scoped.NewToken(), ExpiresAt: at})
		if !ok || err != nil {
			t.Fatalf("CompareAndSet = %v, %v", ok, err)
		}
		gone, _, _ := s.CompareAndSet(ctx, "{w}gone", scoped.Revision{}, scoped.Write{Value: []byte("g"), Writer: scoped.NewToken()})
		big := scoped.Change{Name: "{w}big", Expected: scoped.Revision{Version: start, Writer: tok}, Action: scoped.ActionSet,
			Write: scoped.Write{Value: []byte("y"), Writer: scoped.NewToken(), ExpiresAt: at}}
		cur, ok, err := s.CompareAndSetMany(ctx, []scoped.Change{
			big,
			{Name: "{w}checked", Expected: checked.Revision(), Action: scoped.ActionCheck},
			{Name: "{w}gone", Expected: gone.Revision(), Action: scoped.ActionDelete},
			{Name: "{w}none", Action: scoped.ActionDelete},
		})
		if !ok || err != nil {
			t.Fatalf("CompareAndSetMany = %v, %v", ok, err)
		}
		want := []scoped.Record{big.Write.Record(math.MaxUint64), checked, {}, {}}
		for i := range want {
			if !equalRecords(cur[i], want[i]) {
				t.Errorf("record %d = %+v, want %+v", i, cur[i], want[i])
			}
		}
		if got, _ := c.HGet(ctx, s.Key("{w}big"), "n").Result(); got != "18446744073709551615" {
			t.Errorf("stored version %q", got)
		}
		if ttl := pttl(t, c, s.Key("{w}big")); ttl <= 59*time.Minute || ttl > time.Hour {
			t.Errorf("PTTL after a write expiring in an hour = %v", ttl)
		}
		if ttl := pttl(t, c, s.Key("{w}gone")); ttl != -2 {
			t.Errorf("PTTL of a deleted scope = %v; want no key", ttl)
		}
		again := scoped.Change{Name: "{w}big", Expected: cur[0].Revision(), Action: scoped.ActionSet,
			Write: scoped.Write{Value: []byte("z"), Writer: scoped.NewToken()}}
		if _, _, err := s.CompareAndSetMany(ctx, []scoped.Change{again}); err == nil {
			t.Errorf("CompareAndSetMany past the largest version succeeded")
		}
		if err := c.HSet(ctx, s.Key("{w}big"), "n", "5").Err(); err != nil {
			t.Fatal(err)
		}
		again.Expected.Version = 5
		if cur, ok, err := s.CompareAndSetMany(ctx, []scoped.Change{again}); !ok || err != nil || cur[0].Version != 6 {
			t.Fatalf("CompareAndSetMany without an expiry = %+v, %v, %v", cur, ok, err)
		}
		if ttl := pttl(t, c, s.Key("{w}big")); ttl != -1 {
			t.Errorf("PTTL after a write without an expiry = %v; want none", ttl)
		}
		if n, _ := c.HExists(ctx, s.Key("{w}big"), "e").Result(); n {
			t.Errorf("field e kept after a write without an expiry")
		}
	})
}

// A key that the scripts did not write, among others, fails the whole
// CompareAndSetMany with a *scoped.CorruptValueError naming its scope,
// matching scoped.ErrNotApplied, and nothing is written: found by the
// checks (not a hash, a hash without a version) or by the conflict's reply
// (a version that does not parse).
func TestScriptsManyReportCorruptRecords(t *testing.T) {
	servers(t, func(t *testing.T, s *redisstore.Store, c redis.UniversalClient) {
		ctx := t.Context()
		for _, tt := range []struct {
			name  string
			write func(key string) error
		}{
			{"string", func(key string) error { return c.Set(ctx, key, "a string", 0).Err() }},
			{"no version", func(key string) error { return c.HSet(ctx, key, "v", "x").Err() }},
			{"bad version", func(key string) error { return c.HSet(ctx, key, "n", "12x", "w", "0123456789abcdef", "v", "x").Err() }},
		} {
			t.Run(tt.name, func(t *testing.T) {
				ok1, bad, fresh := "{"+tt.name+"}ok", "{"+tt.name+"}bad", "{"+tt.name+"}new"
				rec, _, err := s.CompareAndSet(ctx, ok1, scoped.Revision{}, scoped.Write{Value: []byte("1"), Writer: scoped.NewToken()})
				if err != nil {
					t.Fatal(err)
				}
				if err := tt.write(s.Key(bad)); err != nil {
					t.Fatal(err)
				}
				before := dump(t, c, s.Key(bad))
				_, ok, err := s.CompareAndSetMany(ctx, []scoped.Change{
					{Name: ok1, Expected: rec.Revision(), Action: scoped.ActionSet, Write: scoped.Write{Value: []byte("2"), Writer: scoped.NewToken()}},
					{Name: bad, Action: scoped.ActionCheck},
					{Name: fresh, Action: scoped.ActionSet, Write: scoped.Write{Value: []byte("n"), Writer: scoped.NewToken()}},
				})
				var corrupt *scoped.CorruptValueError
				if ok || !errors.As(err, &corrupt) || corrupt.Scope != bad || !errors.Is(err, scoped.ErrNotApplied) {
					t.Fatalf("CompareAndSetMany = %v, %v; want a CorruptValueError naming %q, matching ErrNotApplied", ok, err, bad)
				}
				if got, err := s.Load(ctx, ok1); err != nil || !equalRecords(got, rec) {
					t.Errorf("Load(%q) = %+v, %v; want %+v", ok1, got, err, rec)
				}
				if n, err := c.Exists(ctx, s.Key(fresh)).Result(); err != nil || n != 0 {
					t.Errorf("EXISTS of the scope it would have created = %d, %v", n, err)
				}
				if after := dump(t, c, s.Key(bad)); !slices.Equal(after, before) {
					t.Errorf("the key was changed: %q, then %q", before, after)
				}
			})
		}
	})
}

// equalRecords reports whether a and b are the same record.
func equalRecords(a, b scoped.Record) bool {
	return string(a.Value) == string(b.Value) && (a.Value == nil) == (b.Value == nil) &&
		a.Revision() == b.Revision() && a.ExpiresAt.Equal(b.ExpiresAt)
}
