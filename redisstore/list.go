package redisstore

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
)

// scanCount is the COUNT of each SCAN: about how many keys of the database
// one page visits, matching or not.
const scanCount = 200

// List implements scoped.Store: SCAN MATCH of the keys whose scope names
// begin with prefix, one page after another, on every master of a Redis
// Cluster and every shard of a Ring in turn. SCAN may return a key twice,
// so the listing remembers the names it yielded (memory for each one) and
// yields each once. Keys that Redis expired are never returned. The context
// is checked before every page; each page is one round trip.
func (s *Store) List(ctx context.Context, prefix string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		if err := ctx.Err(); err != nil {
			yield("", fmt.Errorf("redisstore: list: %w", scoped.NotApplied(err)))
			return
		}
		nodes, err := s.nodes(ctx)
		if err != nil {
			yield("", fmt.Errorf("redisstore: list: %w", s.calls.directSure.mark(err)))
			return
		}
		match := globEscape(s.prefix+prefix) + "*"
		seen := map[string]struct{}{}
		for _, node := range nodes {
			var cursor uint64
			for {
				if err := ctx.Err(); err != nil {
					yield("", fmt.Errorf("redisstore: list: %w", scoped.NotApplied(err)))
					return
				}
				var keys []string
				keys, cursor, err = node.Scan(ctx, cursor, match, scanCount).Result()
				if err != nil {
					yield("", fmt.Errorf("redisstore: list: %w", s.calls.directSure.mark(err)))
					return
				}
				for _, key := range keys {
					name := strings.TrimPrefix(key, s.prefix)
					if scoped.ValidateName(name) != nil {
						continue // not a scope's key
					}
					if _, dup := seen[name]; dup {
						continue
					}
					seen[name] = struct{}{}
					if !yield(name, nil) {
						return
					}
				}
				if cursor == 0 {
					break
				}
			}
		}
	}
}

// nodes returns the servers that hold the store's keys, to be scanned one
// after another: every master of a Redis Cluster, every live shard of a
// Ring (a Ring sends a down shard's keys to the others), else the client
// itself.
func (s *Store) nodes(ctx context.Context) ([]redis.Cmdable, error) {
	var (
		mu    sync.Mutex
		nodes []redis.Cmdable
	)
	collect := func(_ context.Context, node *redis.Client) error {
		mu.Lock()
		defer mu.Unlock()
		nodes = append(nodes, node)
		return nil
	}
	var err error
	switch c := s.calls.client.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, collect)
	case *redis.Ring:
		err = c.ForEachShard(ctx, collect)
	default:
		nodes = []redis.Cmdable{c}
	}
	return nodes, err
}

// globEscape escapes, with a backslash, the characters that a SCAN MATCH
// pattern gives a meaning outside brackets: * ? [ \ (and ], harmless).
// Redis takes a backslash before any other character as that character,
// and so does miniredis.
func globEscape(s string) string {
	var b strings.Builder
	for i := range len(s) {
		if strings.IndexByte(`*?[]\`, s[i]) >= 0 {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
