package redisstore_test

import (
	"errors"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/redisstore"
)

// knownSlots are hash slots of keys, from the Redis Cluster specification
// and CLUSTER KEYSLOT (TestCluster checks them on a cluster).
var knownSlots = []struct {
	key  string
	slot int
}{
	{"foo", 12182},
	{"bar", 5061},
	{"123456789", 12739}, // the CRC16 check value 0x31C3
	{"{user1000}.following", 3443},
	{"{user1000}.followers", 3443},
	{"user1000", 3443},
	{"foo{}{bar}", 8363},    // an empty tag: the whole key
	{"foo{{bar}}zap", 4015}, // the tag is "{bar"
	{"foo{bar}{zap}", 5061}, // the first tag: "bar"
	{"{", 4092},
	{"", 0},
}

func TestKeySlot(t *testing.T) {
	for _, k := range knownSlots {
		if got := redisstore.KeySlot(k.key); got != k.slot {
			t.Errorf("KeySlot(%q) = %d, want %d", k.key, got, k.slot)
		}
	}
}

// setChange makes a Change that creates the scope name.
func setChange(name string) scoped.Change {
	return scoped.Change{Name: name, Action: scoped.ActionSet,
		Write: scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()}}
}

// On a Ring, scopes committed together must share a hash tag: others are
// refused with a *CrossSlotError before anything is sent. A single node
// takes any names.
func TestManyColocation(t *testing.T) {
	for _, tt := range []struct {
		name   string
		ring   bool
		prefix string
		names  []string
		ok     bool
	}{
		{"RingSameTag", true, "", []string{"{u1}:a", "{u1}:b", "x{u1}"}, true},
		{"RingOtherTags", true, "", []string{"{u1}:a", "{u2}:b"}, false},
		{"RingNoTags", true, "", []string{"a", "b"}, false},
		{"RingPrefixTag", true, "{app}:", []string{"a", "b"}, true},
		{"SingleNode", false, "", []string{"a", "b", "{u1}c"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, b := miniredis.RunT(t), miniredis.RunT(t)
			var c redis.UniversalClient = redis.NewClient(&redis.Options{Addr: a.Addr()})
			if tt.ring {
				c = redis.NewRing(&redis.RingOptions{Addrs: map[string]string{"a": a.Addr(), "b": b.Addr()}})
			}
			t.Cleanup(func() { c.Close() })
			s := redisstore.New(c, redisstore.WithPrefix(tt.prefix+redisstore.DefaultPrefix))
			changes := make([]scoped.Change, len(tt.names))
			for i, name := range tt.names {
				changes[i] = setChange(name)
			}
			_, ok, err := s.CompareAndSetMany(t.Context(), changes)
			if tt.ok {
				if !ok || err != nil {
					t.Fatalf("CompareAndSetMany(%q) = %v, %v; want it applied", tt.names, ok, err)
				}
				if n := len(a.Keys()) + len(b.Keys()); n != len(tt.names) {
					t.Fatalf("%d keys after CompareAndSetMany(%q)", n, tt.names)
				}
				return
			}
			var cross *redisstore.CrossSlotError
			if ok || !errors.As(err, &cross) || !errors.Is(err, scoped.ErrNotColocated) || !errors.Is(err, scoped.ErrNotApplied) {
				t.Fatalf("CompareAndSetMany(%q) = %v, %v; want a *CrossSlotError matching ErrNotColocated and ErrNotApplied", tt.names, ok, err)
			}
			if len(cross.Names) != len(tt.names) || cross.Slots != nil {
				t.Errorf("CrossSlotError = %+v; want the names and no slots", cross)
			}
			if keys := append(a.Keys(), b.Keys()...); len(keys) != 0 {
				t.Errorf("keys %q written by a refused call", keys)
			}
		})
	}
}
