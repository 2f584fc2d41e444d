package storeurl

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped/redisstore"
)

// openRedis opens a redis:// or rediss:// target and checks that the server
// answers, within ctx and at most 5 seconds.
func openRedis(ctx context.Context, target string) (*Opened, error) {
	opts, err := redis.ParseURL(target)
	if err != nil {
		return nil, invalid(err)
	}
	c := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	where := fmt.Sprintf("Redis at %s, db %d", opts.Addr, opts.DB)
	if opts.TLSConfig != nil {
		where += ", TLS"
	}
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return &Opened{redisstore.New(c), where, func() { c.Close() }}, nil
}
