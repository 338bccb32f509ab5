package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster/clustertest/redisserver"
	redisbackend "github.com/ctiws/ctiws/cluster/redisbackend"
	"github.com/ctiws/ctiws/cmd/ctiws/internal/config"
	"github.com/redis/go-redis/v9"
)

// TestRedisClusterFailover: two nodes reach a Redis Cluster of three
// masters with a replica each (redis+cluster://, as an ACL user with only
// the documented rules, set on every node); three tenants spread over two
// shards. The master serving the first tenant's slot is
// SIGKILLed: its replica takes over, and the scenario of the Sentinel test
// holds (redisFailover): both nodes ready within 15 s, every tenant owned
// exactly once at every sample and by the same node, every client keeps its
// socket and its token, every client's view equals the REST snapshot.
func TestRedisClusterFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cluster test")
	}
	rc := redisserver.StartCluster(t, 3, 1, time.Second)
	for _, n := range rc.Nodes() {
		if r, err := n.Do("ACL SETUSER ctiws on >cluster-pw " + redisbackend.ACLRules + " " + redisbackend.ClusterACLRules); err != nil || r != "+OK" {
			t.Fatalf("ACL SETUSER on %s: %q %v", n.Addr(), r, err)
		}
	}
	url := strings.Replace(rc.URL(), "://", "://ctiws:cluster-pw@", 1)
	// A wrong password is refused without being shown.
	newClient, err := redisClientFactory(&config.Config{NodeID: "n1", RedisURL: url, RedisPassword: "wrong-pw"})
	if err != nil {
		t.Fatal(err)
	}
	bad := newClient(redisPool{size: 1})
	if err := bad.Ping(context.Background()).Err(); err == nil || strings.Contains(err.Error(), "wrong-pw") {
		t.Fatalf("ping with a wrong password: %v", err)
	}
	_ = bad.Close()
	// Three tenants on two shards (t2 and t3 share one, in different
	// slots): at most ceil(3/2)+1 = 3 leases per node is within the spread
	// share, so no lease is handed back during the test (ownership/set.go).
	tenants := []string{"t1", "t2", "t3"}
	ctx := context.Background()
	shards := map[*redisserver.Server][]string{}
	for _, id := range tenants {
		m, err := rc.MasterOf(ctx, "ctiws:{"+id+"}:lease")
		if err != nil {
			t.Fatal(err)
		}
		shards[m] = append(shards[m], id)
	}
	if len(shards) < 2 {
		t.Fatalf("tenants %v all on one shard: the test would not show them spread", tenants)
	}
	victim, err := rc.MasterOf(ctx, "ctiws:{t1}:lease")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tenants on %d shards; killing %s, which serves %v", len(shards), victim.Addr(), shards[victim])

	c := newTestClusterOn(t, url, 2, tenants, 8, 15*time.Second)
	redisFailover(t, c, true, func() {
		// The tokens reached the replicas (a write in the last milliseconds
		// before a failover may not: docs/cluster.md).
		for _, m := range rc.Masters {
			mc := redis.NewClient(&redis.Options{Addr: m.Addr()})
			if n, err := mc.Wait(ctx, 1, 5*time.Second).Result(); err != nil || n != 1 {
				t.Fatalf("replica acknowledgement on %s: %d, %v", m.Addr(), n, err)
			}
			_ = mc.Close()
		}
		victim.Stop()
	}, func() bool {
		now, err := rc.MasterOf(ctx, "ctiws:{t1}:lease")
		return err == nil && now != victim
	})
}
