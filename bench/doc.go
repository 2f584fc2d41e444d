// Package bench measures scoped under contention: concurrent increments of a
// msgpack counter through the engine, on every backend, next to two
// baselines on the same Redis (a plain INCR and the go-redis WATCH/MULTI
// pattern). The benchmarks live in the package's test files:
//
//	go test -run '^$' -bench . ./bench/...
//
// Benchmark names carry their dimensions, for example
// BenchmarkIncrement/redis/hot/g64 (64 goroutines on one scope) or
// BenchmarkIncrementProcs/redis/hot/p4xg16 (4 processes of 16 goroutines).
// Each reports ops/s, retries/op, round-trips/op (Store calls), requests/op
// (what a Redis client sent), p50-ns/p99-ns latency and allocs/op, and fails
// if a counter does not end at the number of increments made.
// The command bench/cmd/sweep runs them all and writes BENCHMARKS.md.
package bench
