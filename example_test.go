package scoped_test

import (
	"context"
	"fmt"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/redisstore"
)

// newExampleEngine returns an engine on an in-process Redis (miniredis).
// Use a real client in a program: redis.NewClient(&redis.Options{Addr: ...}).
func newExampleEngine(opts ...scoped.Option) (*scoped.Engine, func()) {
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		panic(err)
	}
	client := redis.NewClient(&redis.Options{Addr: m.Addr()})
	return scoped.New(redisstore.New(client), opts...), func() { client.Close(); m.Close() }
}

// The counter of the original library: every call increments a field of the
// scope "global", atomically across goroutines, processes and machines.
func Example() {
	e, done := newExampleEngine()
	defer done()
	ctx := context.Background()

	for range 3 {
		calls, err := scoped.Run(ctx, e, "global", func(s *scoped.Scope) (int, error) {
			calls, err := scoped.Get[int](s, "calls")
			if err != nil {
				return 0, err
			}
			calls++
			return calls, s.Set("calls", calls)
		})
		if err != nil {
			panic(err)
		}
		fmt.Println("calls:", calls)
	}
	// Output:
	// calls: 1
	// calls: 2
	// calls: 3
}

type cart struct {
	Items map[string]int
	Total int
}

// Update keeps a whole Go value in a scope. The handler may run more than
// once, so it only changes the value it is given.
func ExampleUpdate() {
	e, done := newExampleEngine()
	defer done()
	ctx := context.Background()

	add := func(item string, price int) (int, error) {
		return scoped.Update(ctx, e, "cart:42", func(c *cart) (int, error) {
			if c.Items == nil {
				c.Items = map[string]int{}
			}
			c.Items[item]++
			c.Total += price
			return c.Total, nil
		})
	}
	add("tea", 3)
	total, err := add("cake", 5)
	fmt.Println(total, err)

	c, _ := scoped.Read[cart](ctx, e, "cart:42")
	fmt.Println(c.Items["tea"], c.Items["cake"])
	// Output:
	// 8 <nil>
	// 1 1
}

// View reads a scope without ever writing it.
func ExampleView() {
	e, done := newExampleEngine()
	defer done()
	ctx := context.Background()

	scoped.Run(ctx, e, "user:7", func(s *scoped.Scope) (struct{}, error) {
		return struct{}{}, s.Set("name", "Ada")
	})
	name, err := scoped.View(ctx, e, "user:7", func(s *scoped.Scope) (string, error) {
		return scoped.Get[string](s, "name")
	})
	fmt.Println(name, err)
	// Output: Ada <nil>
}

// Delete removes a scope; it reads as empty afterwards.
func ExampleEngine_Delete() {
	e, done := newExampleEngine()
	defer done()
	ctx := context.Background()

	scoped.Update(ctx, e, "session", func(v *string) (struct{}, error) { *v = "token"; return struct{}{}, nil })
	if err := e.Delete(ctx, "session"); err != nil {
		panic(err)
	}
	v, err := scoped.Read[string](ctx, e, "session")
	fmt.Printf("%q %v\n", v, err)
	// Output: "" <nil>
}

// Hooks see every call and every store call, with the caller's context:
// here, a log line for each.
func ExampleWithHooks() {
	e, done := newExampleEngine(scoped.WithHooks(scoped.Hooks{
		CallDone: func(ctx context.Context, c scoped.CallInfo) {
			fmt.Printf("call %s %q: %s after %d write(s), in a batch of %d\n", c.Kind, c.Scope, c.Outcome, c.Attempts, c.Batch)
		},
		StoreDone: func(ctx context.Context, s scoped.StoreCallInfo) {
			fmt.Printf("  store %s: %s\n", s.Call, s.Outcome)
		},
	}))
	defer done()
	ctx := context.Background()
	scoped.Update(ctx, e, "visits", func(n *int) (int, error) { *n++; return *n, nil })
	scoped.Read[int](ctx, e, "visits")
	// Output:
	//   store load: ok
	//   store compare_and_set: ok
	// call update "visits": written after 1 write(s), in a batch of 1
	//   store load: ok
	// call read "visits": unchanged after 0 write(s), in a batch of 0
}
