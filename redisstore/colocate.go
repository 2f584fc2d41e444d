package redisstore

import (
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
)

// Where the keys of one CompareAndSetMany live. One script can only touch
// keys of one server: on Redis Cluster, keys of one hash slot (the server
// answers CROSSSLOT otherwise, or worse, a slot moving between nodes splits
// them); on a Ring, keys of one shard, which nothing on the server checks.
// So the store refuses, before sending anything, the keys that its client
// could route to different servers.

// slots is the number of hash slots of Redis Cluster.
const slots = 16384

// CrossSlotError reports a CompareAndSetMany over scopes whose keys the
// client could send to different servers: on a redis.ClusterClient, keys in
// different hash slots; on a redis.Ring, keys with different hash tags. It
// matches scoped.ErrNotColocated. Nothing was sent.
type CrossSlotError struct {
	Names []string // the scopes, in the order of the changes
	Slots []int    // the hash slot of each scope's key; nil on a Ring
}

// Error names two scopes in different slots, or on a Ring every scope.
func (e *CrossSlotError) Error() string {
	const advice = "give their names a common hash tag, as in {user42}:cart and {user42}:wallet"
	for i := 1; i < min(len(e.Names), len(e.Slots)); i++ {
		if e.Slots[i] != e.Slots[0] {
			return fmt.Sprintf("redisstore: scopes %q (hash slot %d) and %q (hash slot %d) are in different hash slots of the Redis Cluster: %s",
				e.Names[0], e.Slots[0], e.Names[i], e.Slots[i], advice)
		}
	}
	return fmt.Sprintf("redisstore: the keys of scopes %q have different hash tags, and a Ring may send them to different shards: %s", e.Names, advice)
}

// Is reports whether target is scoped.ErrNotColocated.
func (e *CrossSlotError) Is(target error) bool { return target == scoped.ErrNotColocated }

// colocated returns a *CrossSlotError if the client of s could send keys,
// the keys of the scopes of changes, to different servers: on a
// ClusterClient, keys in more than one hash slot; on a Ring, keys whose
// hashed parts (hash tag, or whole key) differ. Any other client is one
// server.
func (s *Store) colocated(changes []scoped.Change, keys []string) error {
	switch s.calls.client.(type) {
	case *redis.ClusterClient:
		slot := make([]int, len(keys))
		apart := false
		for i, k := range keys {
			slot[i] = keySlot(k)
			apart = apart || slot[i] != slot[0]
		}
		if apart {
			return &CrossSlotError{Names: names(changes), Slots: slot}
		}
	case *redis.Ring:
		tag := hashTag(keys[0])
		for _, k := range keys[1:] {
			if hashTag(k) != tag {
				return &CrossSlotError{Names: names(changes)}
			}
		}
	}
	return nil
}

// names returns the scope names of changes.
func names(changes []scoped.Change) []string {
	out := make([]string, len(changes))
	for i, c := range changes {
		out[i] = c.Name
	}
	return out
}

// hashTag returns the part of key that Redis Cluster and go-redis's Ring
// hash: the text between the first '{' and the first '}' after it, if that
// is not empty, else the whole key.
func hashTag(key string) string {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if n := strings.IndexByte(key[open+1:], '}'); n > 0 {
			return key[open+1 : open+1+n]
		}
	}
	return key
}

// keySlot returns the Redis Cluster hash slot of key: the CRC16 (XMODEM:
// polynomial 0x1021, initial value 0) of its hash tag, modulo 16384.
func keySlot(key string) int {
	var crc uint16
	tag := hashTag(key)
	for i := range len(tag) {
		crc ^= uint16(tag[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % slots
}
