package redisbackend_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/clustertest"
	"github.com/ctiws/ctiws/cluster/clustertest/redisserver"
	redisbackend "github.com/ctiws/ctiws/cluster/redisbackend"
	"github.com/redis/go-redis/v9"
)

// startACLCluster starts a three-master Redis Cluster whose user "ctiws"
// (password "acl-test-pw") has only ACLRules and ClusterACLRules, and
// returns it with its nodes' addresses.
func startACLCluster(t *testing.T) (*redisserver.Cluster, []string) {
	t.Helper()
	rc := redisserver.StartCluster(t, 3, 0, 2*time.Second)
	var addrs []string
	for _, n := range rc.Nodes() {
		if out, err := n.Do("ACL SETUSER ctiws on >acl-test-pw " + redisbackend.ACLRules + " " + redisbackend.ClusterACLRules); err != nil || out != "+OK" {
			t.Fatalf("ACL SETUSER on %s: %q %v", n.Addr(), out, err)
		}
		addrs = append(addrs, n.Addr())
	}
	return rc, addrs
}

// TestRedisCluster runs on a three-master Redis Cluster through go-redis'
// cluster client, as a user with only redisbackend.ACLRules and
// ClusterACLRules: a command touching two slots (CROSSSLOT) or missing from
// the documented list fails here.
func TestRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a redis cluster")
	}
	rc, addrs := startACLCluster(t)
	open := func(t *testing.T) *redisbackend.Backend {
		rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, Username: "ctiws", Password: "acl-test-pw"})
		b := redisbackend.NewFromClient(rdb, redisbackend.WithLogger(testLog),
			redisbackend.WithClaimIdle(time.Second), redisbackend.WithRedeliveryDelay(50*time.Millisecond))
		t.Cleanup(func() { _ = b.Close(); _ = rdb.Close() })
		return b
	}

	// The whole contract suite; its unique tenant names spread its tenants
	// over the three shards.
	t.Run("contract", func(t *testing.T) {
		clustertest.Run(t, func(t *testing.T) cluster.Backend { return open(t).Cluster() })
	})

	// Tenants whose slots differ but live on one shard, subscribed at
	// once, then every pub/sub connection killed: each tenant's channel is
	// subscribed (and resubscribed by go-redis) on a connection of its own,
	// since a cluster refuses an SSUBSCRIBE naming two slots.
	t.Run("lanes", func(t *testing.T) {
		ctx := clustertest.Ctx(t)
		tenants := []string{"t1", "t2", "t3", "t4"}
		shards := map[*redisserver.Server]int{}
		for _, id := range tenants {
			m, err := rc.MasterOf(ctx, "ctiws:{"+id+"}:events")
			if err != nil {
				t.Fatal(err)
			}
			shards[m]++
		}
		if len(shards) == len(tenants) {
			t.Fatalf("tenants %v each on a shard of their own: the test needs two sharing one", tenants)
		}
		sub, pub := open(t).Cluster(), open(t).Cluster()
		cols := map[string]*clustertest.Collector{}
		errs := make(chan error, len(tenants))
		for _, id := range tenants {
			c := &clustertest.Collector{}
			cols[id] = c
			go func() { errs <- sub.Bus.Subscribe(ctx, id, cluster.Each(c.Fn)) }()
		}
		for range tenants {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		leases := map[string]cluster.Lease{}
		publish := func(name string) {
			t.Helper()
			for _, id := range tenants {
				if err := pub.Bus.PublishFenced(ctx, leases[id], []cluster.Event{{Name: name, Key: "k", Data: []byte(`1`)}}); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, id := range tenants {
			l, ok, err := pub.Ownership.Acquire(ctx, id, "n", time.Minute)
			if err != nil || !ok {
				t.Fatalf("acquire %s: %v %v", id, ok, err)
			}
			leases[id] = l
		}
		publish("before")
		for _, id := range tenants {
			cols[id].WaitFor(t, "before")
		}
		for _, n := range rc.Nodes() {
			if r, err := n.Do("CLIENT KILL TYPE pubsub"); err != nil || strings.HasPrefix(r, "-") {
				t.Fatalf("CLIENT KILL on %s: %q %v", n.Addr(), r, err)
			}
		}
		for i := 0; ; i++ {
			name := fmt.Sprintf("after-%d", i)
			publish(name)
			all := true
			for _, id := range tenants {
				all = all && cols[id].Has(name)
			}
			if all {
				break
			}
			if i == 50 {
				t.Fatal("events do not reach every tenant's subscriber after the pub/sub connections were killed")
			}
			time.Sleep(200 * time.Millisecond)
		}
		for _, id := range tenants {
			if cols[id].Resyncs() == 0 {
				t.Errorf("%s: no resync after its pub/sub connection was killed", id)
			}
		}
	})
}
