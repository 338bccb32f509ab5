package redisbackend_test

import (
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/clustertest"
	"github.com/ctiws/ctiws/cluster/clustertest/redisserver"
	redisbackend "github.com/ctiws/ctiws/cluster/redisbackend"
	"github.com/redis/go-redis/v9"
)

// TestContractOnRedisCluster runs the whole contract suite on a
// three-master Redis Cluster through go-redis' cluster client, as a user
// with only redisbackend.ACLRules and ClusterACLRules: a command touching two slots (CROSSSLOT)
// or missing from the documented list fails here. The suite's unique
// tenant names spread its tenants over the three shards.
func TestContractOnRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a redis cluster")
	}
	rc := redisserver.StartCluster(t, 3, 0, 2*time.Second)
	var addrs []string
	for _, n := range rc.Nodes() {
		if out, err := n.Do("ACL SETUSER ctiws on >acl-test-pw " + redisbackend.ACLRules + " " + redisbackend.ClusterACLRules); err != nil || out != "+OK" {
			t.Fatalf("ACL SETUSER on %s: %q %v", n.Addr(), out, err)
		}
		addrs = append(addrs, n.Addr())
	}
	clustertest.Run(t, func(t *testing.T) cluster.Backend {
		rdb := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, Username: "ctiws", Password: "acl-test-pw"})
		b := redisbackend.NewFromClient(rdb, redisbackend.WithLogger(testLog),
			redisbackend.WithClaimIdle(time.Second), redisbackend.WithRedeliveryDelay(50*time.Millisecond))
		t.Cleanup(func() { _ = b.Close(); _ = rdb.Close() })
		return b.Cluster()
	})
}
