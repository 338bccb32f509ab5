package redisserver

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Cluster is a throwaway Redis Cluster: masters with the 16384 slots split
// evenly, each with its replicas, every node a redis-server started with
// --cluster-enabled on a free loopback port in its own temporary folder
// (nodes.conf, pidfile and log there, no persistence).
type Cluster struct {
	t        testing.TB
	Masters  []*Server // in slot order: Masters[0] starts with slot 0
	Replicas []*Server // Replicas[i*r+j] is the j-th replica of Masters[i]
}

// clusterSlots is the number of hash slots of a Redis Cluster.
const clusterSlots = 16384

// StartCluster starts masters × (1 + replicas) cluster nodes, assigns the
// slots, joins them with CLUSTER MEET and CLUSTER REPLICATE (no redis-cli
// needed), and returns once every node reports cluster_state:ok and every
// replica is in sync. nodeTimeout is cluster-node-timeout: a master that
// does not answer for that long is failed over to its replica. The nodes
// are SIGKILLed when the test ends.
func StartCluster(t testing.TB, masters, replicas int, nodeTimeout time.Duration) *Cluster {
	t.Helper()
	if masters < 1 || replicas < 0 {
		t.Fatalf("StartCluster(%d, %d): need at least one master", masters, replicas)
	}
	args := []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
		"--cluster-node-timeout", strconv.FormatInt(nodeTimeout.Milliseconds(), 10),
		// A replica takes over whatever its replication offset.
		"--cluster-replica-validity-factor", "0"}
	c := &Cluster{t: t}
	node := func() *Server { // its bus port is chosen too, not assumed free at port+10000
		s := newServer(t)
		s.args, s.busPort = args, freePort(t)
		s.startNew()
		return s
	}
	for range masters {
		c.Masters = append(c.Masters, node())
	}
	for range masters * replicas {
		c.Replicas = append(c.Replicas, node())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.form(ctx, replicas); err != nil {
		t.Fatalf("form a redis cluster of %d masters and %d replicas each: %v", masters, replicas, err)
	}
	return c
}

// form assigns slots, meets the nodes, attaches the replicas and waits for
// a healthy cluster.
func (c *Cluster) form(ctx context.Context, replicas int) error {
	all := c.Nodes()
	per := clusterSlots / len(c.Masters)
	for i, m := range c.Masters {
		first, last := i*per, (i+1)*per-1
		if i == len(c.Masters)-1 {
			last = clusterSlots - 1
		}
		if err := c.do(ctx, m, "CLUSTER", "ADDSLOTSRANGE", first, last); err != nil {
			return err
		}
	}
	for _, n := range all[1:] {
		if err := c.do(ctx, n, "CLUSTER", "MEET", "127.0.0.1", all[0].port, all[0].busPort); err != nil {
			return err
		}
	}
	if err := c.waitAll(ctx, "every node to know the others", func(rdb *redis.Client) bool {
		out, err := rdb.ClusterNodes(ctx).Result()
		return err == nil && strings.Count(out, "connected") == len(all) && !strings.Contains(out, "handshake")
	}); err != nil {
		return err
	}
	for i, m := range c.Masters {
		id, err := c.client(m).ClusterMyID(ctx).Result()
		if err != nil {
			return fmt.Errorf("cluster myid of %s: %w", m.Addr(), err)
		}
		for _, r := range c.Replicas[i*replicas : (i+1)*replicas] {
			if err := c.do(ctx, r, "CLUSTER", "REPLICATE", id); err != nil {
				return err
			}
		}
	}
	return c.waitAll(ctx, "cluster_state:ok and replicas in sync", func(rdb *redis.Client) bool {
		info, err := rdb.ClusterInfo(ctx).Result()
		if err != nil || !strings.Contains(info, "cluster_state:ok") {
			return false
		}
		repl, err := rdb.Info(ctx, "replication").Result()
		return err == nil && (strings.Contains(repl, "role:master") || strings.Contains(repl, "master_link_status:up"))
	})
}

// Nodes returns the masters then the replicas.
func (c *Cluster) Nodes() []*Server { return append(append([]*Server{}, c.Masters...), c.Replicas...) }

// URL returns the redis+cluster:// URL with every master as a seed.
func (c *Cluster) URL() string {
	addrs := make([]string, len(c.Masters))
	for i, m := range c.Masters {
		addrs[i] = m.Addr()
	}
	return "redis+cluster://" + strings.Join(addrs, ",")
}

// MasterOf returns the node serving key's slot now, as a live node's
// CLUSTER SHARDS says (after a failover: the promoted replica).
func (c *Cluster) MasterOf(ctx context.Context, key string) (*Server, error) {
	for _, n := range c.Nodes() {
		rdb := redis.NewClient(&redis.Options{Addr: n.Addr(), MaxRetries: -1})
		slot, err := rdb.ClusterKeySlot(ctx, key).Result()
		if err != nil {
			_ = rdb.Close()
			continue // killed
		}
		slots, err := rdb.ClusterSlots(ctx).Result()
		_ = rdb.Close()
		if err != nil {
			continue
		}
		for _, r := range slots {
			if int64(r.Start) <= slot && slot <= int64(r.End) && len(r.Nodes) > 0 {
				for _, s := range c.Nodes() {
					if s.Addr() == r.Nodes[0].Addr {
						return s, nil
					}
				}
				return nil, fmt.Errorf("slot %d served by %s, not a node of this cluster", slot, r.Nodes[0].Addr)
			}
		}
		return nil, fmt.Errorf("slot %d of %q is not served", slot, key)
	}
	return nil, fmt.Errorf("no node of the cluster answers")
}

func (c *Cluster) client(s *Server) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr()})
	c.t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func (c *Cluster) do(ctx context.Context, s *Server, args ...any) error {
	if err := c.client(s).Do(ctx, args...).Err(); err != nil {
		return fmt.Errorf("%v on %s: %w", args, s.Addr(), err)
	}
	return nil
}

// waitAll polls ok on every node until it holds on all of them.
func (c *Cluster) waitAll(ctx context.Context, what string, ok func(*redis.Client) bool) error {
	clients := make([]*redis.Client, 0, len(c.Nodes()))
	for _, n := range c.Nodes() {
		clients = append(clients, c.client(n))
	}
	for {
		all := true
		for _, rdb := range clients {
			if !ok(rdb) {
				all = false
				break
			}
		}
		if all {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
