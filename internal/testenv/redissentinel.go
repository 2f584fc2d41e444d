package testenv

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMaster is the name under which StartSentinels's Sentinels
// monitor their primary.
const SentinelMaster = "mymaster"

// sentinelReadyTimeout bounds how long Sentinels may take to find each
// other and the replicas, and a replica to finish its first sync.
const sentinelReadyTimeout = 30 * time.Second

// StartRedisReplica starts a private redis-server that replicates the
// server at primary (host:port, on 127.0.0.1) with extra configuration args,
// and waits until it has finished its first sync and the primary has its
// first acknowledgement (a replica just online may not answer WAIT's
// request for one at once), so that WAIT counts it. It is killed at the test's cleanup.
func StartRedisReplica(t testing.TB, primary string, args ...string) *RedisServer {
	t.Helper()
	host, port, ok := strings.Cut(primary, ":")
	if !ok {
		t.Fatalf("replica of %q: not host:port", primary)
	}
	s := startRedis(t, false, append([]string{"--replicaof", host, port}, args...))
	ctx, cancel := context.WithTimeout(context.Background(), sentinelReadyTimeout)
	defer cancel()
	if err := awaitInfo(ctx, s.Addr(), "replication", "master_link_status:up", "master_sync_in_progress:0"); err != nil {
		t.Fatalf("replica %s of %s: %v%s", s.Addr(), primary, err, s.logTail())
	}
	online := ",port=" + strconv.Itoa(s.Port()) + ",state=online,offset="
	acked := func(info string) bool {
		_, rest, ok := strings.Cut(info, online)
		return ok && !strings.HasPrefix(rest, "0,")
	}
	if err := pollInfo(ctx, primary, "replication", acked, online+"(not 0)"); err != nil {
		t.Fatalf("replica %s of %s: %v", s.Addr(), primary, err)
	}
	return s
}

// StartRedisReplicas starts a private primary and n private replicas of it,
// all with extra configuration args, and waits until the primary counts
// every replica connected. They are killed at the test's cleanup.
func StartRedisReplicas(t testing.TB, n int, args ...string) (primary *RedisServer, replicas []*RedisServer) {
	t.Helper()
	primary = StartRedis(t, args...)
	for range n {
		replicas = append(replicas, StartRedisReplica(t, primary.Addr(), args...))
	}
	ctx, cancel := context.WithTimeout(context.Background(), sentinelReadyTimeout)
	defer cancel()
	if err := awaitInfo(ctx, primary.Addr(), "replication", "connected_slaves:"+strconv.Itoa(n)); err != nil {
		t.Fatalf("primary %s: %v", primary.Addr(), err)
	}
	return primary, replicas
}

// StartSentinels starts n private Sentinels (redis-server --sentinel, each
// with a configuration file of its own, which it rewrites, in its
// directory) that monitor the primary at primary as SentinelMaster with a
// quorum of quorum, take it as down after 1 s without an answer and give a
// failover 5 s. It waits until each Sentinel knows the others and the
// replicas replicas of the primary, so that a failover can start at once.
// They are killed at the test's cleanup.
func StartSentinels(t testing.TB, primary string, n, quorum, replicas int) []*RedisServer {
	t.Helper()
	host, port, ok := strings.Cut(primary, ":")
	if !ok {
		t.Fatalf("sentinels of %q: not host:port", primary)
	}
	conf := fmt.Sprintf("sentinel monitor %[1]s %[2]s %[3]s %[4]d\n"+
		"sentinel down-after-milliseconds %[1]s 1000\n"+
		"sentinel failover-timeout %[1]s 5000\n", SentinelMaster, host, port, quorum)
	sentinels := make([]*RedisServer, n)
	for i := range sentinels {
		sentinels[i] = startServer(t, &RedisServer{conf: conf}, false)
	}
	ctx, cancel := context.WithTimeout(context.Background(), sentinelReadyTimeout)
	defer cancel()
	for _, s := range sentinels {
		if err := awaitSentinel(ctx, s.Addr(), n-1, replicas); err != nil {
			t.Fatalf("sentinel %s: %v%s", s.Addr(), err, s.logTail())
		}
	}
	return sentinels
}

// awaitSentinel polls the Sentinel at addr until it knows others other
// Sentinels and replicas replicas of SentinelMaster.
func awaitSentinel(ctx context.Context, addr string, others, replicas int) error {
	c := redis.NewSentinelClient(&redis.Options{Addr: addr})
	defer c.Close()
	var (
		last map[string]string
		err  error
	)
	for {
		last, err = c.Master(ctx, SentinelMaster).Result()
		if err == nil && last["num-other-sentinels"] == strconv.Itoa(others) && last["num-slaves"] == strconv.Itoa(replicas) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last: %v, %v)", ctx.Err(), last, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// awaitInfo polls the server at addr until every line of want is a line of
// its INFO section.
func awaitInfo(ctx context.Context, addr, section string, want ...string) error {
	return pollInfo(ctx, addr, section, func(info string) bool { return hasLines(info, want) }, want)
}

// pollInfo polls the server at addr until its INFO section satisfies ok;
// want describes what ok looks for.
func pollInfo(ctx context.Context, addr, section string, ok func(string) bool, want any) error {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	var (
		info string
		err  error
	)
	for {
		if info, err = c.Info(ctx, section).Result(); err == nil && ok(info) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%v not in INFO %s: %w (last: %q, %v)", want, section, ctx.Err(), info, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
