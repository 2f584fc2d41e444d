package scoped_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/redisstore"
)

// newExampleEngine returns an engine on an in-process Redis (miniredis).
// Use a real client in a program: redis.NewClient(&redis.Options{Addr: ...}).
func newExampleEngine(opts ...scoped.Option) (*scoped.Engine, func()) {
	e, _, done := newExampleRedis(opts...)
	return e, done
}

// newExampleRedis is newExampleEngine that also returns the in-process
// Redis, whose clock an example can move.
func newExampleRedis(opts ...scoped.Option) (*scoped.Engine, *miniredis.Miniredis, func()) {
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		panic(err)
	}
	client := redis.NewClient(&redis.Options{Addr: m.Addr()})
	return scoped.New(redisstore.New(client), opts...), m, func() { client.Close(); m.Close() }
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

// A call can give the scope it writes a time to live. Later calls keep it,
// unless they set another or clear it with Persist; once it has passed, the
// scope reads as never written.
func ExampleExpireAfter() {
	e, redisServer, done := newExampleRedis()
	defer done()
	ctx := context.Background()

	login := func() (int, error) {
		return scoped.Update(ctx, e, "session:42", func(logins *int) (int, error) {
			*logins++
			return *logins, nil
		}, scoped.ExpireAfter(30*time.Minute))
	}
	login()
	n, _ := login() // renews the 30 minutes
	fmt.Println("logins:", n)

	redisServer.FastForward(31 * time.Minute) // the Redis server's time goes by
	_, found, err := scoped.Lookup[int](ctx, e, "session:42")
	fmt.Println("found after 31 minutes:", found, err)
	n, _ = login()
	fmt.Println("logins:", n)
	// Output:
	// logins: 2
	// found after 31 minutes: false <nil>
	// logins: 1
}

// List yields the names of the scopes with a value, by prefix, in no
// particular order.
func ExampleEngine_List() {
	e, done := newExampleEngine()
	defer done()
	ctx := context.Background()

	for _, name := range []string{"cart:ann", "cart:bob", "wallet:ann"} {
		scoped.Update(ctx, e, name, func(n *int) (int, error) { *n++; return *n, nil })
	}
	var carts []string
	for name, err := range e.List(ctx, "cart:") {
		if err != nil {
			panic(err)
		}
		carts = append(carts, name)
	}
	slices.Sort(carts)
	fmt.Println(carts)
	// Output: [cart:ann cart:bob]
}

// Transact changes several scopes at once, all or none: a transfer between
// two accounts that refuses an overdraft. The names share a hash tag, so
// that Redis Cluster keeps them in one slot.
func ExampleTransact() {
	e, done := newExampleEngine()
	defer done()
	ctx := context.Background()
	scoped.Update(ctx, e, "{ann}:wallet", func(v *int) (struct{}, error) { *v = 50; return struct{}{}, nil })

	errOverdraft := errors.New("overdraft")
	pay := func(amount int) error {
		_, err := scoped.Transact(ctx, e, []string{"{ann}:wallet", "{ann}:savings"}, func(tx *scoped.Tx) (struct{}, error) {
			wallet, err := scoped.TxValue[int](tx, "{ann}:wallet")
			if err != nil {
				return struct{}{}, err
			}
			savings, err := scoped.TxValue[int](tx, "{ann}:savings")
			if err != nil {
				return struct{}{}, err
			}
			if *wallet < amount {
				return struct{}{}, errOverdraft
			}
			*wallet -= amount
			*savings += amount
			return struct{}{}, nil
		})
		return err
	}
	fmt.Println(pay(30), pay(30))
	wallet, _ := scoped.Read[int](ctx, e, "{ann}:wallet")
	savings, _ := scoped.Read[int](ctx, e, "{ann}:savings")
	fmt.Println(wallet, savings)
	// Output:
	// <nil> overdraft
	// 20 30
}
