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
// redis-cli, and waits until every node reports cluster_state:ok. The nodes
// are killed at the test's cleanup.
func StartRedisCluster(t testing.TB, masters int) []*RedisServer {
	t.Helper()
	return startCluster(t, masters, 0, 5000)
}

// Addrs returns the addresses of servers.
func Addrs(servers []*RedisServer) []string {
	addrs := make([]string, len(servers))
	for i, s := range servers {
		addrs[i] = s.Addr()
	}
	return addrs
}

// ClusterNodeTimeout is the cluster-node-timeout of the nodes of
// StartRedisClusterWithReplicas: how long a primary may be unreachable
// before the others mark it failed and its replica takes over.
const ClusterNodeTimeout = 2 * time.Second

// StartRedisClusterWithReplicas starts a Redis Cluster of masters private
// primaries (at least 3), each with one replica, the hash slots shared
// among the primaries by redis-cli, with a node timeout of
// ClusterNodeTimeout. It waits until every node reports cluster_state:ok
// and every replica has synced with its primary. The nodes are killed at
// the test's cleanup; which of them is a primary is told by ClusterNodes.
func StartRedisClusterWithReplicas(t testing.TB, masters int) []*RedisServer {
	t.Helper()
	nodes := startCluster(t, masters, 1, int(ClusterNodeTimeout/time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), redisStartTimeout)
	defer cancel()
	for _, n := range nodes {
		if err := awaitReplicaSynced(ctx, n.Addr()); err != nil {
			t.Fatalf("cluster node %s: %v", n.Addr(), err)
		}
	}
	return nodes
}

// startCluster starts masters*(1+replicas) cluster nodes, joins them with
// redis-cli --cluster create and waits until each says cluster_state:ok.
func startCluster(t testing.TB, masters, replicas, nodeTimeoutMS int) []*RedisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		Unavailable(t, "redis-cli", err)
	}
	nodes := make([]*RedisServer, masters*(1+replicas))
	args := []string{"--cluster", "create"}
	for i := range nodes {
		nodes[i] = startRedis(t, true, []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", strconv.Itoa(nodeTimeoutMS),
			"--appendonly", "no",
		})
		args = append(args, nodes[i].Addr())
	}
	ctx, cancel := context.WithTimeout(context.Background(), redisStartTimeout)
	defer cancel()
	args = append(args, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, n := range nodes {
		if err := awaitClusterOK(ctx, n.Addr(), len(nodes)); err != nil {
			t.Fatalf("cluster node %s: %v", n.Addr(), err)
		}
	}
	return nodes
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

// awaitReplicaSynced polls the node at addr until, if it is a replica, its
// link to its primary is up and its first sync is done.
func awaitReplicaSynced(ctx context.Context, addr string) error {
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	var info string
	for {
		var err error
		info, err = c.Info(ctx, "replication").Result()
		if err == nil && (hasLines(info, []string{"role:master"}) ||
			hasLines(info, []string{"role:slave", "master_link_status:up", "master_sync_in_progress:0"})) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replica not synced: %w; INFO replication said:\n%s", ctx.Err(), info)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ClusterNode is one line of CLUSTER NODES: a node as another node sees it.
type ClusterNode struct {
	ID        string   // the node's ID
	Addr      string   // host:port of its clients
	Primary   bool     // a master; otherwise a replica
	PrimaryID string   // a replica's primary; "" for a primary
	Failed    bool     // flagged fail or fail? (unreachable)
	Slots     []string // a primary's slot ranges, as "0-5460" or "7000"
}

// ClusterNodes returns the nodes of the cluster as the node at addr sees
// them (CLUSTER NODES).
func ClusterNodes(ctx context.Context, addr string) ([]ClusterNode, error) {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	text, err := c.ClusterNodes(ctx).Result()
	if err != nil {
		return nil, err
	}
	var nodes []ClusterNode
	for line := range strings.Lines(text) {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		flags := strings.Split(f[2], ",")
		n := ClusterNode{
			ID:      f[0],
			Addr:    strings.SplitN(f[1], "@", 2)[0],
			Primary: slices.Contains(flags, "master"),
			Failed:  slices.Contains(flags, "fail") || slices.Contains(flags, "fail?"),
		}
		if f[3] != "-" {
			n.PrimaryID = f[3]
		}
		for _, s := range f[8:] {
			if !strings.HasPrefix(s, "[") { // not a slot being migrated
				n.Slots = append(n.Slots, s)
			}
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
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
