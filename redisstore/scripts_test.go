package redisstore_test

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/lua"
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
		below := scoped.Revision{Version: start - 1, Writer: tok}
		if _, ok, err := s.CompareAndSet(ctx, "big", below, scoped.Write{Value: []byte("y"), Writer: scoped.NewToken()}); ok || err != nil {
			t.Fatalf("CompareAndSet one version below = %v, %v; want a conflict", ok, err)
		}
		rec, ok, err := s.CompareAndSet(ctx, "big", rec.Revision(), scoped.Write{Value: []byte("y"), Writer: scoped.NewToken()})
		if !ok || err != nil || rec.Version != math.MaxUint64 {
			t.Fatalf("CompareAndSet = %+v, %v, %v; want version %d", rec, ok, err, uint64(math.MaxUint64))
		}
		if got, _ := c.HGet(ctx, s.Key("big"), "n").Result(); got != "18446744073709551615" {
			t.Fatalf("stored version %q", got)
		}
		if _, _, err := s.CompareAndSet(ctx, "big", rec.Revision(), scoped.Write{Value: []byte("z"), Writer: scoped.NewToken()}); err == nil {
			t.Fatalf("CompareAndSet past the largest version succeeded")
		}
	})
}

// A key that the scripts did not write is reported as corrupt, with the
// scope's name, by Load, CompareAndSet and Delete, and left exactly as it
// was: a hash with a version or a token that does not parse, a string, a
// list, a hash without a version field.
func TestScriptsReportCorruptRecords(t *testing.T) {
	servers(t, func(t *testing.T, s *redisstore.Store, c redis.UniversalClient) {
		ctx := t.Context()
		tok := scoped.NewToken()
		hash := func(fieldValues ...string) func(string) error {
			return func(key string) error { return c.HSet(ctx, key, fieldValues).Err() }
		}
		for _, tt := range []struct {
			name  string
			write func(key string) error
		}{
			{"bad version", hash("n", "12x", "w", string(tok[:]), "v", "x")},
			{"version zero", hash("n", "0", "w", string(tok[:]), "v", "x")},
			{"bad token", hash("n", "3", "w", "short", "v", "x")},
			{"no token", hash("n", "3", "v", "x")},
			{"no version", hash("w", string(tok[:]), "v", "x")},
			{"other fields", hash("name", "someone else's")},
			{"string", func(key string) error { return c.Set(ctx, key, "a string", 0).Err() }},
			{"empty string", func(key string) error { return c.Set(ctx, key, "", 0).Err() }},
			{"list", func(key string) error { return c.RPush(ctx, key, "a", "list").Err() }},
			{"set", func(key string) error { return c.SAdd(ctx, key, "a set").Err() }},
		} {
			t.Run(tt.name, func(t *testing.T) {
				key := s.Key(tt.name)
				if err := tt.write(key); err != nil {
					t.Fatal(err)
				}
				before := dump(t, c, key)
				check := func(what string, err error) {
					t.Helper()
					var corrupt *scoped.CorruptValueError
					if !errors.As(err, &corrupt) || corrupt.Scope != tt.name || !errors.Is(err, scoped.ErrCorruptValue) {
						t.Errorf("%s: %v; want a CorruptValueError naming the scope", what, err)
					}
				}
				_, err := s.Load(ctx, tt.name)
				check("Load", err)
				for _, expected := range []scoped.Revision{{}, {Version: 3, Writer: tok}, {Version: 12, Writer: tok}} {
					_, _, err = s.CompareAndSet(ctx, tt.name, expected, scoped.Write{Value: []byte("new"), Writer: scoped.NewToken()})
					check("CompareAndSet", err)
					_, _, err = s.Delete(ctx, tt.name, expected)
					check("Delete", err)
				}
				if after := dump(t, c, key); !slices.Equal(after, before) {
					t.Errorf("the key was changed: %q, then %q", before, after)
				}
			})
		}
	})
}

// A hash with a version and a writer but no value is the tombstone that the
// version 1 contract left after a delete: it loads as a record without a
// value, writes continue its versions, and a delete removes it.
func TestScriptsReadOldTombstones(t *testing.T) {
	servers(t, func(t *testing.T, s *redisstore.Store, c redis.UniversalClient) {
		ctx := t.Context()
		tok := scoped.NewToken()
		for _, name := range []string{"written", "deleted"} {
			if err := c.HSet(ctx, s.Key(name), "n", "5", "w", tok[:]).Err(); err != nil {
				t.Fatal(err)
			}
			rec, err := s.Load(ctx, name)
			if err != nil || rec.Version != 5 || rec.Writer != tok || rec.Value != nil {
				t.Fatalf("Load of a tombstone = %+v, %v; want version 5 without a value", rec, err)
			}
			if _, ok, err := s.CompareAndSet(ctx, name, scoped.Revision{}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()}); ok || err != nil {
				t.Fatalf("CompareAndSet expecting no record over a tombstone = %v, %v; want a conflict", ok, err)
			}
		}
		rec, ok, err := s.CompareAndSet(ctx, "written", scoped.Revision{Version: 5, Writer: tok}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()})
		if !ok || err != nil || rec.Version != 6 {
			t.Fatalf("CompareAndSet over a tombstone = %+v, %v, %v; want version 6", rec, ok, err)
		}
		if _, ok, err := s.Delete(ctx, "deleted", scoped.Revision{Version: 5, Writer: tok}); !ok || err != nil {
			t.Fatalf("Delete of a tombstone = %v, %v", ok, err)
		}
		if n, err := c.Exists(ctx, s.Key("deleted")).Result(); n != 0 || err != nil {
			t.Fatalf("EXISTS after the delete = %d, %v; want 0", n, err)
		}
	})
}

// dump returns the type and the content of key, sorted.
func dump(t *testing.T, c redis.UniversalClient, key string) []string {
	t.Helper()
	ctx := t.Context()
	typ, err := c.Type(ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	var content []string
	switch typ {
	case "string":
		var v string
		v, err = c.Get(ctx, key).Result()
		content = []string{v}
	case "list":
		content, err = c.LRange(ctx, key, 0, -1).Result()
	case "set":
		content, err = c.SMembers(ctx, key).Result()
	case "hash":
		var m map[string]string
		m, err = c.HGetAll(ctx, key).Result()
		for k, v := range m {
			content = append(content, k+"="+v)
		}
	default:
		t.Fatalf("dump of a key of type %s", typ)
	}
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(content)
	return append([]string{typ}, content...)
}

// A version the scripts did not write, such as "01", is a corrupt record:
// cas.lua compares versions as strings, so a write expecting version 1
// would conflict with it on every attempt.
func TestScriptsRefuseVersionsNotInDecimalForm(t *testing.T) {
	servers(t, func(t *testing.T, s *redisstore.Store, c redis.UniversalClient) {
		ctx := t.Context()
		tok := scoped.NewToken()
		if err := c.HSet(ctx, s.Key("a"), "n", "01", "w", tok[:], "v", "x").Err(); err != nil {
			t.Fatal(err)
		}
		var cv *scoped.CorruptValueError
		if rec, err := s.Load(ctx, "a"); !errors.As(err, &cv) {
			t.Fatalf("Load of version %q = %+v, %v; want a CorruptValueError", "01", rec, err)
		}
		_, ok, err := s.CompareAndSet(ctx, "a", scoped.Revision{Version: 1, Writer: tok}, scoped.Write{Value: []byte("y"), Writer: scoped.NewToken()})
		if ok || !errors.As(err, &cv) || !errors.Is(err, scoped.ErrNotApplied) {
			t.Fatalf("CompareAndSet over version %q = %v, %v; want a CorruptValueError, not applied", "01", ok, err)
		}
	})
}

// A copy of a write that finds its own record (cas.lua's ARGV[7]), and a
// load asked to confirm a writer (load.lua's ARGV[1]), rewrite the record's
// writer field for a WAIT behind them: the record and the replies stay
// exactly as without the argument, and another writer's record is not
// written.
func TestScriptsRewriteOwnRecordForWait(t *testing.T) {
	servers(t, func(t *testing.T, s *redisstore.Store, c redis.UniversalClient) {
		ctx := t.Context()
		key := s.Key("own")
		mine, theirs := scoped.NewToken(), scoped.NewToken()
		if err := c.HSet(ctx, key, "n", "3", "w", string(mine[:]), "v", "x", "e", "99999999999999").Err(); err != nil {
			t.Fatal(err)
		}
		before, err := c.HGetAll(ctx, key).Result()
		if err != nil {
			t.Fatal(err)
		}
		want := []any{int64(0), "3", string(mine[:]), "x", "99999999999999"}
		// The copy: expected version 2 by theirs, new version 3 by mine.
		for _, argv7 := range []string{"", "1"} {
			reply, err := c.Eval(ctx, lua.CAS(), []string{key}, "2", theirs[:], "3", mine[:], "y", "", argv7).Slice()
			if err != nil || !slices.Equal(reply, want) {
				t.Errorf("cas.lua copy with ARGV[7] %q = %v, %v; want %v", argv7, reply, err, want)
			}
		}
		reply, err := c.Eval(ctx, lua.Load(), []string{key}, mine[:]).Slice()
		if err != nil || !slices.Equal(reply, want[1:]) {
			t.Errorf("load.lua confirming = %v, %v; want %v", reply, err, want[1:])
		}
		reply, err = c.Eval(ctx, lua.Load(), []string{key}, theirs[:]).Slice()
		if err != nil || !slices.Equal(reply, want[1:]) {
			t.Errorf("load.lua confirming another writer = %v, %v; want %v", reply, err, want[1:])
		}
		after, err := c.HGetAll(ctx, key).Result()
		if err != nil || len(after) != len(before) {
			t.Fatalf("record after = %v, %v; want %v", after, err, before)
		}
		for f, v := range before {
			if after[f] != v {
				t.Errorf("field %s = %q after, %q before", f, after[f], v)
			}
		}
	})
}
