package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/scoped-go/scoped"
)

// The transfer workloads: every transfer between two of 4 accounts (hot),
// or of 1,000 (spread).
var transferAccounts = map[string]int{"hot": 4, "spread": 1000}

// transferOpening is every account's balance before a run: enough that no
// transfer of one unit is ever refused.
const transferOpening = 1 << 40

// account returns the name of account i: one hash tag for all, so that
// any two share a Redis Cluster slot.
func account(i int) string { return fmt.Sprintf("{bank}acct%04d", i) }

// pair returns the accounts of worker w's n-th transfer: two distinct
// accounts of accounts, the same for every run.
func pair(rng *rand.Rand, accounts int) (from, to int) {
	from, to = rng.IntN(accounts), rng.IntN(accounts-1)
	if to >= from {
		to++
	}
	return from, to
}

// BenchmarkTransfer moves one unit between two accounts, atomically, from
// g goroutines: through the engine's Transact on Redis, and with go-redis's
// WATCH of both keys, GET, then MULTI/SET/SET/EXEC, again on TxFailedErr,
// on the same server. retries/op counts re-runs of the transfer.
func BenchmarkTransfer(b *testing.B) {
	be, _ := backendNamed("redis")
	for _, workload := range []string{"hot", "spread"} {
		for _, g := range []int{8, 64} {
			name := fmt.Sprintf("%s/g%d", workload, g)
			b.Run("engine/"+name, func(b *testing.B) { benchTransferEngine(b, be, transferAccounts[workload], g) })
			b.Run("watch-multi/"+name, func(b *testing.B) { benchTransferWatch(b, transferAccounts[workload], g) })
		}
	}
}

// transferRun runs b.N transfers from g goroutines with move, and checks
// that every account ends at its opening balance plus what moved.
func transferRun(b *testing.B, accounts, g int, move func(ctx context.Context, from, to int) error, balance func(i int) int64) *crew {
	nets := make([][]int64, g) // each worker's moves, per account
	rngs := make([]*rand.Rand, g)
	for w := range g {
		nets[w], rngs[w] = make([]int64, accounts), rand.New(rand.NewPCG(uint64(w), 7))
	}
	c := newCrew(b.Context(), split(b.N, g), func(ctx context.Context, w int) error {
		from, to := pair(rngs[w], accounts)
		if err := move(ctx, from, to); err != nil {
			return err
		}
		nets[w][from]--
		nets[w][to]++
		return nil
	})
	b.ResetTimer()
	err := c.run()
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	for i := range accounts {
		want := int64(transferOpening)
		for w := range g {
			want += nets[w][i]
		}
		if got := balance(i); got != want {
			b.Fatalf("%s holds %d after the transfers, want %d", account(i), got, want)
		}
	}
	return c
}

func benchTransferEngine(b *testing.B, be backend, accounts, g int) {
	b.ReportAllocs()
	store, requests := be.open(b, be.namespace(b))
	e := scoped.New(store)
	names := make([]string, accounts)
	for i := range names {
		names[i] = account(i)
		if _, err := scoped.Update(b.Context(), e, names[i], func(v *int64) (struct{}, error) { *v = transferOpening; return struct{}{}, nil }); err != nil {
			b.Fatal(err)
		}
	}
	before, sent := e.Stats(), requests.count()
	c := transferRun(b, accounts, g, func(ctx context.Context, from, to int) error {
		_, err := scoped.Transact(ctx, e, []string{names[from], names[to]}, func(tx *scoped.Tx) (struct{}, error) {
			src, err := scoped.TxValue[int64](tx, names[from])
			if err != nil {
				return struct{}{}, err
			}
			dst, err := scoped.TxValue[int64](tx, names[to])
			if err != nil {
				return struct{}{}, err
			}
			*src--
			*dst++
			return struct{}{}, nil
		})
		return err
	}, func(i int) int64 {
		v, err := scoped.Read[int64](b.Context(), e, names[i])
		if err != nil {
			b.Fatal(err)
		}
		return v
	})
	st := e.Stats()
	reportMetrics(b, c.latency(), st.Retries-before.Retries, st.Loads+st.Writes-before.Loads-before.Writes)
	reportRequests(b, requests.count()-sent)
}

func benchTransferWatch(b *testing.B, accounts, g int) {
	b.ReportAllocs()
	client, rc, prefix := baselineClient(b)
	keys := make([]string, accounts)
	opening, err := msgpack.Marshal(int64(transferOpening))
	if err != nil {
		b.Fatal(err)
	}
	for i := range keys {
		keys[i] = prefix + account(i)
		if err := client.Set(b.Context(), keys[i], opening, 0).Err(); err != nil {
			b.Fatal(err)
		}
	}
	var retries atomic.Uint64
	sent := rc.count()
	c := transferRun(b, accounts, g, func(ctx context.Context, from, to int) error {
		return watchTransfer(ctx, client, keys[from], keys[to], &retries)
	}, func(i int) int64 {
		n, err := readMsgpackCounter(b.Context(), client, keys[i])
		if err != nil {
			b.Fatal(err)
		}
		return int64(n)
	})
	reportMetrics(b, c.latency(), retries.Load(), rc.count()-sent)
	reportRequests(b, rc.count()-sent)
}

// watchTransfer moves one unit from the msgpack counter at from to the one
// at to, as go-redis's transaction example would over two keys, counting
// in retries each attempt that lost to another writer.
func watchTransfer(ctx context.Context, c *redis.Client, from, to string, retries *atomic.Uint64) error {
	txf := func(tx *redis.Tx) error {
		src, err := readMsgpackCounter(ctx, tx, from)
		if err != nil {
			return err
		}
		dst, err := readMsgpackCounter(ctx, tx, to)
		if err != nil {
			return err
		}
		srcVal, err := msgpack.Marshal(int64(src - 1))
		if err != nil {
			return err
		}
		dstVal, err := msgpack.Marshal(int64(dst + 1))
		if err != nil {
			return err
		}
		_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			pipe.Set(ctx, from, srcVal, 0)
			pipe.Set(ctx, to, dstVal, 0)
			return nil
		})
		return err
	}
	for {
		err := c.Watch(ctx, txf, from, to)
		if !errors.Is(err, redis.TxFailedErr) {
			return err
		}
		retries.Add(1)
	}
}
