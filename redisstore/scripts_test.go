package redisstore_test

import (
	"errors"
	"math"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/redisstore"
)

// servers runs f against miniredis and against the real Redis (the scripts
// must behave the same on both), and against the real Redis with every call
// sent through a pipeline.
func servers(t *testing.T, f func(t *testing.T, s *redisstore.Store, c redis.UniversalClient)) {
	for name, open := range map[string]func(*testing.T) (*redisstore.Store, redis.UniversalClient){
		"miniredis": newMiniredis, "redis": newReal, "redis-pipelined": newPipelined,
	} {
		t.Run(name, func(t *testing.T) {
			s, c := open(t)
			f(t, s, c)
		})
	}
}

// Versions travel as decimal strings and are never computed in Lua, whose
// numbers are doubles: versions past 2^53 stay exact.
func TestScriptsKeepLargeVersionsExact(t *testing.T) {
	servers(t, func(t *testing.T, s *redisstore.Store, c redis.UniversalClient) {
		ctx := t.Context()
		tok := scoped.NewToken()
		start := uint64(math.MaxUint64 - 1)
		if err := c.HSet(ctx, s.Key("big"), "n", strconv.FormatUint(start, 10), "w", tok[:], "v", "x").Err(); err != nil {
			t.Fatal(err)
		}
		rec, err := s.Load(ctx, "big")
		if err != nil || rec.Version != start || rec.Writer != tok {
			t.Fatalf("Load = %+v, %v; want version %d", rec, err, start)
		}
		if _, ok, err := s.CompareAndSet(ctx, "big", start-1, []byte("y"), scoped.NewToken()); ok || err != nil {
			t.Fatalf("CompareAndSet one version below = %v, %v; want a conflict", ok, err)
		}
		rec, ok, err := s.CompareAndSet(ctx, "big", start, []byte("y"), scoped.NewToken())
		if !ok || err != nil || rec.Version != math.MaxUint64 {
			t.Fatalf("CompareAndSet = %+v, %v, %v; want version %d", rec, ok, err, uint64(math.MaxUint64))
		}
		if got, _ := c.HGet(ctx, s.Key("big"), "n").Result(); got != "18446744073709551615" {
			t.Fatalf("stored version %q", got)
		}
	})
}

// A record that was not written by the scripts is reported as corrupt, with
// the scope's name, and left alone.
func TestScriptsReportCorruptRecords(t *testing.T) {
	servers(t, func(t *testing.T, s *redisstore.Store, c redis.UniversalClient) {
		ctx := t.Context()
		for name, fields := range map[string][]any{
			"bad version": {"n", "12x", "w", string(make([]byte, scoped.TokenSize)), "v", "x"},
			"bad token":   {"n", "3", "w", "short", "v", "x"},
		} {
			if err := c.HSet(ctx, s.Key(name), fields...).Err(); err != nil {
				t.Fatal(err)
			}
			_, err := s.Load(ctx, name)
			var corrupt *scoped.CorruptValueError
			if !errors.As(err, &corrupt) || corrupt.Scope != name {
				t.Errorf("Load of %s: %v; want a CorruptValueError naming the scope", name, err)
			}
			if n, _ := c.HLen(ctx, s.Key(name)).Result(); n != 3 {
				t.Errorf("%s: the record was changed", name)
			}
		}
	})
}
