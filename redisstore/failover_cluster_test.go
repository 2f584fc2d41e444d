package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/scoped-go/scoped"
	"github.com/scoped-go/scoped/internal/testenv"
	"github.com/scoped-go/scoped/redisstore"
)

// clusterTraffic counts, through a hook on every node client of a
// ClusterClient, the slot map loads (CLUSTER SLOTS) and the MOVED and ASK
// redirections that the nodes answered.
type clusterTraffic struct {
	slotLoads, moved, ask atomic.Int64
}

// options returns ClusterOptions on addrs, go-redis's defaults otherwise,
// whose node clients are counted by ct.
func (ct *clusterTraffic) options(addrs []string) *redis.ClusterOptions {
	return &redis.ClusterOptions{
		Addrs: addrs,
		NewClient: func(opt *redis.Options) *redis.Client {
			c := redis.NewClient(opt)
			c.AddHook(ct)
			return c
		},
	}
}

// DialHook implements redis.Hook.
func (ct *clusterTraffic) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (ct *clusterTraffic) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		ct.count(cmd)
		return err
	}
}

// ProcessPipelineHook implements redis.Hook.
func (ct *clusterTraffic) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			ct.count(cmd)
		}
		return err
	}
}

// count counts cmd if it loads the slot map or was redirected.
func (ct *clusterTraffic) count(cmd redis.Cmder) {
	if args := cmd.Args(); len(args) == 2 && cmd.Name() == "cluster" && fmt.Sprint(args[1]) == "slots" {
		ct.slotLoads.Add(1)
	}
	switch {
	case redis.HasErrorPrefix(cmd.Err(), "MOVED"):
		ct.moved.Add(1)
	case redis.HasErrorPrefix(cmd.Err(), "ASK"):
		ct.ask.Add(1)
	}
}

// A connection failure on a ClusterClient makes it reload its slot map,
// on its own and in pipelines: go-redis itself reloads only on MOVED,
// READONLY, or once a minute.
func TestClusterReloadOnConnFailure(t *testing.T) {
	nodes := testenv.StartRedisCluster(t, 3)
	var traffic clusterTraffic
	c := redis.NewClusterClient(traffic.options(testenv.Addrs(nodes)))
	t.Cleanup(func() { c.Close() })
	ctx := t.Context()
	prefix := testenv.UniqueName("scopedtest:") + ":"
	s := redisstore.New(c, redisstore.WithPrefix(prefix))
	victim := nodes[0]
	name := nameOn(t, c, s, victim.Addr(), "scope")
	if _, _, err := s.CompareAndSet(ctx, name, scoped.Revision{}, scoped.Write{Value: []byte("x"), Writer: scoped.NewToken()}); err != nil {
		t.Fatal(err)
	}
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	for _, mode := range modes {
		s := redisstore.New(c, redisstore.WithPrefix(prefix), mode.opt)
		time.Sleep(300 * time.Millisecond) // past go-redis's cooldown between reloads
		before := traffic.slotLoads.Load()
		_, _, err := s.CompareAndSet(ctx, name, scoped.Revision{}, scoped.Write{Value: []byte("y"), Writer: scoped.NewToken()})
		if err == nil {
			t.Fatalf("%s: CompareAndSet on a killed node succeeded", mode.name)
		}
		deadline := time.Now().Add(time.Second)
		for traffic.slotLoads.Load() == before {
			if time.Now().After(deadline) {
				t.Fatalf("%s: no CLUSTER SLOTS within 1 s of the connection failure %v", mode.name, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Logf("%s: %v, then CLUSTER SLOTS", mode.name, err)
	}
}

// nameOn returns a scope name, a hash tag made of base and a number, whose
// key lives on the primary at addr.
func nameOn(t *testing.T, c *redis.ClusterClient, s *redisstore.Store, addr, base string) string {
	t.Helper()
	for i := range 1000 {
		name := "{" + base + "-" + strconv.Itoa(i) + "}"
		m, err := c.MasterForKey(t.Context(), s.Key(name))
		if err != nil {
			t.Fatal(err)
		}
		if m.Options().Addr == addr {
			return name
		}
	}
	t.Fatalf("no name for %s", addr)
	return ""
}

// clusterLoad increments scopes from concurrent goroutines of two engines
// (two processes) on one store: hot scopes, one per primary, that every
// goroutine writes, and a scope of each goroutine's own, spread over the
// primaries by their hash tags. It counts the outcomes per scope and keeps when the successes
// began and ended, per primary.
type clusterLoad struct {
	t      *testing.T
	s      *redisstore.Store
	names  []string
	counts []outcomes
	shard  []string // the primary of each scope, at the start

	mu        sync.Mutex
	successes map[string][]span // by primary at the start: calls that committed
	samples   map[string]string // an error of each kind, by its text
}

// newClusterLoad names the hot scopes (one on each primary) and workers
// scopes of their own.
func newClusterLoad(t *testing.T, c *redis.ClusterClient, s *redisstore.Store, primaries []string, workers int) *clusterLoad {
	l := &clusterLoad{t: t, s: s, successes: map[string][]span{}, samples: map[string]string{}}
	for _, p := range primaries {
		l.names = append(l.names, nameOn(t, c, s, p, "hot"))
	}
	for w := range workers {
		l.names = append(l.names, fmt.Sprintf("{own-%d}", w))
	}
	l.counts = make([]outcomes, len(l.names))
	for _, name := range l.names {
		m, err := c.MasterForKey(t.Context(), s.Key(name))
		if err != nil {
			t.Fatal(err)
		}
		l.shard = append(l.shard, m.Options().Addr)
	}
	return l
}

// run starts workers goroutines, each alternating between the hot scopes,
// in turn, and its own scope, each call bounded by callTimeout. The
// returned function stops them and waits until they have; it may be called
// again.
func (l *clusterLoad) run(workers, hot int, callTimeout time.Duration) (stop func()) {
	engines := []*scoped.Engine{scoped.New(l.s), scoped.New(l.s)}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		e := engines[w%len(engines)]
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				k := hot + w // its own scope
				if i%2 == 0 {
					k = (i / 2) % hot
				}
				start := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
				_, err := scoped.Update(ctx, e, l.names[k], increment)
				cancel()
				l.record(k, start, err)
				if err != nil {
					time.Sleep(10 * time.Millisecond) // no busy loop while a shard is down
				}
			}
		})
	}
	return sync.OnceFunc(func() {
		close(done)
		wg.Wait()
	})
}

func (l *clusterLoad) record(k int, start time.Time, err error) {
	switch {
	case err == nil:
		l.counts[k].ok.Add(1)
		l.mu.Lock()
		l.successes[l.shard[k]] = append(l.successes[l.shard[k]], span{start, time.Now()})
		l.mu.Unlock()
		return
	case errors.Is(err, scoped.ErrCommitUnknown):
		l.counts[k].unknown.Add(1)
	default:
		l.counts[k].failed.Add(1)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.samples) < 10 {
		l.samples[err.Error()] = l.names[k]
	}
}

// span is when a call began and ended.
type span struct{ start, end time.Time }

// firstSuccess returns when the first call to a scope of the primary at
// addr that began at or after from, and committed, ended.
func (l *clusterLoad) firstSuccess(addr string, from time.Time) (time.Time, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var first time.Time
	for _, c := range l.successes[addr] {
		if !c.start.Before(from) && (first.IsZero() || c.end.Before(first)) {
			first = c.end
		}
	}
	return first, !first.IsZero()
}

// check reads every scope through a fresh engine, and fails the test if a
// scope holds less than its acknowledged increments (when lossless) or more
// than its acknowledged and unknown ones. It returns how many acknowledged
// increments are missing.
func (l *clusterLoad) check(lossless bool) (lost int64) {
	t := l.t
	t.Helper()
	e := scoped.New(l.s)
	var ok, unknown, failed int64
	for k, name := range l.names {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		n, err := scoped.Read[int](ctx, e, name)
		cancel()
		if err != nil {
			t.Errorf("Read %s: %v", name, err)
			continue
		}
		c := &l.counts[k]
		got, acked, maybe := int64(n), c.ok.Load(), c.unknown.Load()
		ok, unknown, failed = ok+acked, unknown+maybe, failed+c.failed.Load()
		if got > acked+maybe {
			t.Errorf("scope %s = %d: more than its %d acknowledged and %d unknown increments: one was applied twice, or a failed one applied", name, got, acked, maybe)
		}
		if got < acked {
			lost += acked - got
			if lossless {
				t.Errorf("scope %s = %d: %d of its %d acknowledged increments lost", name, got, acked-got, acked)
			}
		}
	}
	t.Logf("%d increments acknowledged, %d unknown, %d failed, %d acknowledged lost", ok, unknown, failed, lost)
	for msg, name := range l.samples {
		t.Logf("error sample (%s): %s", name, msg)
	}
	if ok == 0 {
		t.Error("no increment was acknowledged")
	}
	return lost
}

// primaries returns the primaries, as the node at addr sees them, and the
// replica of each, by address.
func primaries(t *testing.T, addr string) (prims []string, replicaOf map[string]string, ids map[string]string) {
	t.Helper()
	// The node at addr learns of the replicas by gossip: on a busy machine
	// some may not be known to it yet when the cluster is ready.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		nodes, err := testenv.ClusterNodes(t.Context(), addr)
		if err != nil {
			t.Fatal(err)
		}
		prims, replicaOf, ids = nil, map[string]string{}, map[string]string{}
		byID := map[string]string{}
		for _, n := range nodes {
			byID[n.ID] = n.Addr
			ids[n.Addr] = n.ID
			if n.Primary && len(n.Slots) > 0 {
				prims = append(prims, n.Addr)
			}
		}
		for _, n := range nodes {
			if !n.Primary && n.Addr != "" && byID[n.PrimaryID] != "" {
				replicaOf[byID[n.PrimaryID]] = n.Addr
			}
		}
		complete := len(prims) > 0
		for _, p := range prims {
			complete = complete && p != "" && replicaOf[p] != ""
		}
		if complete {
			slices.Sort(prims)
			return prims, replicaOf, ids
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not know a replica of every primary after 15s: %+v", addr, nodes)
		}
	}
}

// awaitPrimary polls the node at via until it sees the node at addr as a
// primary serving slots, and returns when it first did.
func awaitPrimary(t *testing.T, via, addr string, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		nodes, err := testenv.ClusterNodes(t.Context(), via)
		now := time.Now()
		if err == nil {
			for _, n := range nodes {
				if n.Addr == addr && n.Primary && len(n.Slots) > 0 {
					return now
				}
			}
		}
		if now.After(deadline) {
			t.Fatalf("%s is no primary after %v, as %s sees it (%v)", addr, timeout, via, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// serverByAddr returns the server of nodes at addr.
func serverByAddr(t *testing.T, nodes []*testenv.RedisServer, addr string) *testenv.RedisServer {
	t.Helper()
	for _, n := range nodes {
		if n.Addr() == addr {
			return n
		}
	}
	t.Fatalf("no node at %s", addr)
	return nil
}

const (
	failoverWorkers = 12
	failoverCall    = time.Second // each call's deadline
)

// Manual failovers (CLUSTER FAILOVER on a replica, which waits until it
// has every write of its primary) under a load of increments: the load
// goes on, and afterwards every acknowledged increment is present and none
// is doubled. The replica takes over, then hands the slots back.
func TestClusterManualFailover(t *testing.T) { testClusterManualFailover(t) }

// TestClusterManualFailover with WithReplicas(1, 1s): each write waits for
// the replica, on the master of its slot.
func TestClusterManualFailoverReplicas(t *testing.T) {
	testClusterManualFailover(t, redisstore.WithReplicas(1, time.Second))
}

// testClusterManualFailover runs TestClusterManualFailover on a store
// made with opts.
func testClusterManualFailover(t *testing.T, opts ...redisstore.Option) {
	nodes := testenv.StartRedisClusterWithReplicas(t, 3)
	addrs := testenv.Addrs(nodes)
	var traffic clusterTraffic
	c := redis.NewClusterClient(traffic.options(addrs))
	t.Cleanup(func() { c.Close() })
	s := redisstore.New(c, append([]redisstore.Option{redisstore.WithPrefix(testenv.UniqueName("scopedtest:") + ":")}, opts...)...)
	prims, replicaOf, _ := primaries(t, addrs[0])
	load := newClusterLoad(t, c, s, prims, failoverWorkers)
	stop := load.run(failoverWorkers, len(prims), failoverCall)
	defer stop()

	old := prims[0]
	for _, next := range []string{replicaOf[old], old} {
		time.Sleep(time.Second)
		r := redis.NewClient(&redis.Options{Addr: next})
		err := r.ClusterFailover(t.Context()).Err()
		r.Close()
		if err != nil {
			t.Fatalf("CLUSTER FAILOVER on %s: %v", next, err)
		}
		at := awaitPrimary(t, next, next, 10*time.Second)
		first, ok := time.Time{}, false
		for wait := time.Now().Add(5 * time.Second); !ok && time.Now().Before(wait); time.Sleep(20 * time.Millisecond) {
			first, ok = load.firstSuccess(old, at)
		}
		if !ok {
			t.Errorf("no write to the shard of %s within 5 s of the failover to %s", old, next)
		} else {
			t.Logf("%s took over; a write begun since committed %v later", next, first.Sub(at).Round(time.Millisecond))
		}
	}
	time.Sleep(time.Second)
	stop()
	load.check(true)
	t.Logf("MOVED %d, ASK %d, CLUSTER SLOTS %d", traffic.moved.Load(), traffic.ask.Load(), traffic.slotLoads.Load())
}

// A primary killed with SIGKILL under a load of increments: once its
// replica is promoted, writes to its slots resume within a bound, without
// the client tuned: the store has the client reload its slot map after a
// connection failure. Nothing is doubled. Replication is asynchronous, so
// acknowledged increments not yet replicated are lost: counted, not
// asserted.
func TestClusterPrimaryKilled(t *testing.T) { testClusterPrimaryKilled(t, false) }

// TestClusterPrimaryKilled with WithReplicas(1, 1s): no acknowledged
// increment is lost (asserted). The promoted replica has no replica of its
// own (its primary is dead), so no write to its slots that began after the
// kill may succeed: each ends unknown or failed.
func TestClusterPrimaryKilledReplicas(t *testing.T) { testClusterPrimaryKilled(t, true) }

// testClusterPrimaryKilled runs TestClusterPrimaryKilled, with
// WithReplicas(1, 1s) if replicas.
func testClusterPrimaryKilled(t *testing.T, replicas bool) {
	const bound = 3 * time.Second
	nodes := testenv.StartRedisClusterWithReplicas(t, 3)
	addrs := testenv.Addrs(nodes)
	var traffic clusterTraffic
	c := redis.NewClusterClient(traffic.options(addrs))
	t.Cleanup(func() { c.Close() })
	opts := []redisstore.Option{redisstore.WithPrefix(testenv.UniqueName("scopedtest:") + ":")}
	if replicas {
		opts = append(opts, redisstore.WithReplicas(1, time.Second))
	}
	s := redisstore.New(c, opts...)
	prims, replicaOf, _ := primaries(t, addrs[0])
	load := newClusterLoad(t, c, s, prims, failoverWorkers)
	stop := load.run(failoverWorkers, len(prims), failoverCall)
	defer stop()

	victim, heir, via := prims[0], replicaOf[prims[0]], prims[1]
	time.Sleep(time.Second)
	killed := time.Now()
	if err := serverByAddr(t, nodes, victim).Kill(); err != nil {
		t.Fatal(err)
	}
	promoted := awaitPrimary(t, via, heir, 15*time.Second)
	t.Logf("primary %s killed; its replica %s promoted %v later", victim, heir, promoted.Sub(killed).Round(time.Millisecond))
	var first time.Time
	ok := false
	for wait := time.Now().Add(bound + 2*time.Second); !ok && time.Now().Before(wait); time.Sleep(20 * time.Millisecond) {
		first, ok = load.firstSuccess(victim, killed)
	}
	time.Sleep(500 * time.Millisecond)
	stop()
	if replicas {
		if ok {
			t.Errorf("a write to the shard of %s begun after the kill committed at %v, although no replica of the new primary acknowledged it", victim, first.Sub(killed).Round(time.Millisecond))
		}
		if lost := load.check(true); lost > 0 {
			t.Errorf("%d acknowledged increments lost with WithReplicas", lost)
		}
		t.Logf("MOVED %d, ASK %d, CLUSTER SLOTS %d", traffic.moved.Load(), traffic.ask.Load(), traffic.slotLoads.Load())
		return
	}
	if !ok {
		t.Errorf("no write to the shard of %s committed within %v of its replica's promotion", victim, bound+2*time.Second)
	} else {
		recovery := first.Sub(promoted) // may be below 0: promoted is when the poll saw it
		t.Logf("first write to the shard begun since the kill committed %v after the promotion was seen", recovery.Round(time.Millisecond))
		if recovery > bound {
			t.Errorf("writes to the shard resumed %v after the promotion; want under %v", recovery, bound)
		}
	}
	lost := load.check(false)
	t.Logf("acknowledged increments lost with the killed primary: %d (asynchronous replication)", lost)
	t.Logf("MOVED %d, ASK %d, CLUSTER SLOTS %d", traffic.moved.Load(), traffic.ask.Load(), traffic.slotLoads.Load())
}

// A slot holding a hot scope migrates from one primary to another under a
// load of increments (CLUSTER SETSLOT IMPORTING and MIGRATING, MIGRATE,
// CLUSTER SETSLOT NODE), staying half-migrated for a while: go-redis
// follows the ASK and MOVED redirections, and nothing is lost or doubled.
func TestClusterSlotMigration(t *testing.T) { testClusterSlotMigration(t) }

// TestClusterSlotMigration with WithReplicas(1, 1s): writes go to the
// master of their slot as the client's map has it; one that finds its key
// moved (ASK) or its slot moved (MOVED) is refused, and sent again by the
// engine. Nothing is lost or doubled.
func TestClusterSlotMigrationReplicas(t *testing.T) {
	testClusterSlotMigration(t, redisstore.WithReplicas(1, time.Second))
}

// testClusterSlotMigration runs TestClusterSlotMigration on a store made
// with opts.
func testClusterSlotMigration(t *testing.T, opts ...redisstore.Option) {
	nodes := testenv.StartRedisClusterWithReplicas(t, 3)
	addrs := testenv.Addrs(nodes)
	var traffic clusterTraffic
	c := redis.NewClusterClient(traffic.options(addrs))
	t.Cleanup(func() { c.Close() })
	ctx := t.Context()
	s := redisstore.New(c, append([]redisstore.Option{redisstore.WithPrefix(testenv.UniqueName("scopedtest:") + ":")}, opts...)...)
	prims, _, ids := primaries(t, addrs[0])
	load := newClusterLoad(t, c, s, prims, failoverWorkers)
	stop := load.run(failoverWorkers, len(prims), failoverCall)
	defer stop()

	from, to := prims[0], prims[1]
	slot, err := c.ClusterKeySlot(ctx, s.Key(load.names[0])).Result()
	if err != nil {
		t.Fatal(err)
	}
	src := redis.NewClient(&redis.Options{Addr: from})
	dst := redis.NewClient(&redis.Options{Addr: to})
	t.Cleanup(func() { src.Close(); dst.Close() })
	do := func(c *redis.Client, args ...any) {
		t.Helper()
		if err := c.Do(ctx, args...).Err(); err != nil {
			t.Fatalf("%v on %s: %v", args, c.Options().Addr, err)
		}
	}

	time.Sleep(time.Second)
	do(dst, "cluster", "setslot", slot, "importing", ids[from])
	do(src, "cluster", "setslot", slot, "migrating", ids[to])
	time.Sleep(500 * time.Millisecond) // the slot half-migrated, its keys still at the source
	host, port, _ := strings.Cut(to, ":")
	for {
		keys, err := src.ClusterGetKeysInSlot(ctx, int(slot), 100).Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) == 0 {
			break
		}
		do(src, append([]any{"migrate", host, port, "", 0, 5000, "keys"}, anys(keys)...)...)
	}
	time.Sleep(time.Second) // keys at the target, the slot still migrating: ASK
	for _, p := range []*redis.Client{dst, src} {
		do(p, "cluster", "setslot", slot, "node", ids[to])
	}
	r := redis.NewClient(&redis.Options{Addr: prims[2]})
	do(r, "cluster", "setslot", slot, "node", ids[to])
	r.Close()
	time.Sleep(time.Second)
	stop()
	if m, err := c.MasterForKey(ctx, s.Key(load.names[0])); err != nil || m.Options().Addr != to {
		t.Errorf("scope %s is at %v (%v) after the migration; want %s", load.names[0], m, err, to)
	}
	load.check(true)
	t.Logf("slot %d moved from %s to %s: MOVED %d, ASK %d, CLUSTER SLOTS %d", slot, from, to, traffic.moved.Load(), traffic.ask.Load(), traffic.slotLoads.Load())
	if traffic.ask.Load() == 0 {
		t.Error("no ASK redirection during the migration")
	}
}

// anys returns keys as arguments of Do.
func anys(keys []string) []any {
	a := make([]any, len(keys))
	for i, k := range keys {
		a[i] = k
	}
	return a
}
