package redisstore_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/redisstore"
)

// A write with an expiry time sets it on the key (its PTTL) as well as in
// field e; a write without one PERSISTs the key and drops the field; a
// delete removes the key.
func TestExpiryIsTheKeys(t *testing.T) {
	servers(t, func(t *testing.T, s *redisstore.Store, c redis.UniversalClient) {
		ctx := t.Context()
		key := s.Key("ttl")
		at := time.UnixMilli(time.Now().Add(time.Hour).UnixMilli())
		rec, ok, err := s.CompareAndSet(ctx, "ttl", scoped.Revision{}, scoped.Write{Value: []byte("1"), Writer: scoped.NewToken(), ExpiresAt: at})
		if !ok || err != nil || !rec.ExpiresAt.Equal(at) {
			t.Fatalf("CompareAndSet with an expiry = %+v, %v, %v", rec, ok, err)
		}
		if ttl := pttl(t, c, key); ttl <= 59*time.Minute || ttl > time.Hour {
			t.Fatalf("PTTL after a write expiring in an hour = %v", ttl)
		}
		if e, err := c.HGet(ctx, key, "e").Result(); err != nil || e != strconv.FormatInt(at.UnixMilli(), 10) {
			t.Fatalf("field e = %q, %v; want %d", e, err, at.UnixMilli())
		}

		rec, ok, err = s.CompareAndSet(ctx, "ttl", rec.Revision(), scoped.Write{Value: []byte("2"), Writer: scoped.NewToken()})
		if !ok || err != nil || !rec.ExpiresAt.IsZero() {
			t.Fatalf("CompareAndSet without an expiry = %+v, %v, %v", rec, ok, err)
		}
		if ttl := pttl(t, c, key); ttl != -1 {
			t.Fatalf("PTTL after a write without an expiry = %v; want -1 (no expiry)", ttl)
		}
		if has, err := c.HExists(ctx, key, "e").Result(); err != nil || has {
			t.Fatalf("HEXISTS e after a write without an expiry = %v, %v; want false", has, err)
		}

		rec, ok, err = s.CompareAndSet(ctx, "ttl", rec.Revision(), scoped.Write{Value: []byte("3"), Writer: scoped.NewToken(), ExpiresAt: at})
		if !ok || err != nil {
			t.Fatalf("CompareAndSet with an expiry again = %v, %v", ok, err)
		}
		if _, ok, err := s.Delete(ctx, "ttl", rec.Revision()); !ok || err != nil {
			t.Fatalf("Delete = %v, %v", ok, err)
		}
		if ttl := pttl(t, c, key); ttl != -2 {
			t.Fatalf("PTTL after the delete = %v; want -2 (no key)", ttl)
		}
	})
}

// On the real Redis, a short expiry passes in real time and the server
// removes the key itself: it is gone to a plain EXISTS, not only to the
// scripts that read field e.
func TestShortExpiryOnTheServer(t *testing.T) {
	s, c := newReal(t)
	ctx := t.Context()
	at := time.Now().Add(100 * time.Millisecond)
	if _, ok, err := s.CompareAndSet(ctx, "short", scoped.Revision{}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken(), ExpiresAt: at}); !ok || err != nil {
		t.Fatalf("CompareAndSet = %v, %v", ok, err)
	}
	if ttl := pttl(t, c, s.Key("short")); ttl <= 0 || ttl > 100*time.Millisecond {
		t.Fatalf("PTTL after a write expiring in 100ms = %v", ttl)
	}
	time.Sleep(time.Until(at) + 50*time.Millisecond)
	if n, err := c.Exists(ctx, s.Key("short")).Result(); err != nil || n != 0 {
		t.Fatalf("EXISTS after the expiry = %d, %v; want 0", n, err)
	}
	if rec, err := s.Load(ctx, "short"); err != nil || rec.Exists() {
		t.Fatalf("Load after the expiry = %+v, %v; want no record", rec, err)
	}
}

// pttl returns the PTTL of key: -1 for a key without an expiry, -2 for no
// key.
func pttl(t *testing.T, c redis.UniversalClient, key string) time.Duration {
	t.Helper()
	ttl, err := c.PTTL(t.Context(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return ttl
}
