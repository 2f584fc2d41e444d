package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/redisstore"
)

// A Store on a Redis client, with its keys under a prefix of their own and
// pipelines of at most 64 calls. The client here is an in-process Redis
// (miniredis); in a program, redis.NewClient(&redis.Options{Addr: ...}).
func ExampleNew() {
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		panic(err)
	}
	defer m.Close()
	client := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer client.Close()

	store := redisstore.New(client, redisstore.WithPrefix("myapp:"),
		redisstore.WithPipelineBounds(64, redisstore.DefaultMaxPipelineBytes))
	e := scoped.New(store)
	n, err := scoped.Update(context.Background(), e, "visits", func(n *int) (int, error) {
		*n++
		return *n, nil
	})
	fmt.Println(n, err, store.Key("visits"))

	// A call that never reached the server says so: it may be made again.
	client.Close()
	_, err = store.Load(context.Background(), "visits")
	fmt.Println(errors.Is(err, scoped.ErrNotApplied), errors.Is(err, redis.ErrClosed))
	// Output:
	// 1 <nil> myapp:visits
	// true true
}

// Scopes that expire, and a listing by name prefix. Redis removes an
// expired scope's key itself; miniredis's FastForward stands for the time
// passing.
func ExampleStore_List() {
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		panic(err)
	}
	defer m.Close()
	client := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer client.Close()

	ctx := context.Background()
	e := scoped.New(redisstore.New(client))
	for _, name := range []string{"cart:1", "cart:2", "wallet:1"} {
		var opts []scoped.CallOption
		if name == "cart:2" {
			opts = append(opts, scoped.ExpireAfter(time.Minute))
		}
		if _, err := scoped.Update(ctx, e, name, func(n *int) (int, error) { *n++; return *n, nil }, opts...); err != nil {
			panic(err)
		}
	}
	fmt.Println(client.TTL(ctx, "scoped:cart:2").Val().Round(time.Minute)) // the key's own TTL

	m.FastForward(2 * time.Minute)
	for name, err := range e.List(ctx, "cart:") {
		fmt.Println(name, err)
	}
	// Output:
	// 1m0s
	// cart:1 <nil>
}
