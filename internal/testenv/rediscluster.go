package testenv

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// StartRedisCluster starts a Redis Cluster of masters private redis-server
// nodes (at least 3) without replicas, the hash slots shared among them by
// redis-cli, and waits until every node reports cluster_state:ok. It returns
// the nodes' addresses. The nodes are killed at the test's cleanup.
func StartRedisCluster(t testing.TB, masters int) []string {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		Unavailable(t, "redis-cli", err)
	}
	addrs := make([]string, masters)
	for i := range addrs {
		s := startRedis(t, true, []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "5000",
			"--appendonly", "no",
		})
		addrs[i] = s.Addr()
	}
	ctx, cancel := context.WithTimeout(context.Background(), redisStartTimeout)
	defer cancel()
	args := append([]string{"--cluster", "create"}, addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, addr := range addrs {
		if err := awaitClusterOK(ctx, addr, masters); err != nil {
			t.Fatalf("cluster node %s: %v", addr, err)
		}
	}
	return addrs
}

// awaitClusterOK polls the node at addr until it knows every node, serves
// every slot and says cluster_state:ok.
func awaitClusterOK(ctx context.Context, addr string, nodes int) error {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	want := []string{
		"cluster_state:ok",
		"cluster_slots_ok:16384",
		"cluster_known_nodes:" + strconv.Itoa(nodes),
	}
	var info string
	for {
		var err error
		if info, err = c.ClusterInfo(ctx).Result(); err == nil && hasLines(info, want) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not ready: %w; CLUSTER INFO said:\n%s", ctx.Err(), info)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// hasLines reports whether every line of want is a line of text.
func hasLines(text string, want []string) bool {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	for _, w := range want {
		if !slices.Contains(lines, w) {
			return false
		}
	}
	return true
}
