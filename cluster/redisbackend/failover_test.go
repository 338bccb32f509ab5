package redisbackend_test

import (
	"context"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/clustertest/redisserver"
	"github.com/redis/go-redis/v9"
)

// TestEpochMonotonicAcrossPromotion: a replica promoted after the master
// gave out an epoch it never replicated (asynchronous replication loses
// the last writes) still gives a later owner a larger epoch, so the fence
// keeps the old owner's events out.
func TestEpochMonotonicAcrossPromotion(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	master := redisserver.Start(t)
	replica := redisserver.StartReplica(t, master)
	mc := redis.NewClient(&redis.Options{Addr: master.Addr()})
	rc := redis.NewClient(&redis.Options{Addr: replica.Addr()})
	t.Cleanup(func() { _ = mc.Close(); _ = rc.Close() })

	onMaster := open(t, master.URL()).Cluster().Ownership
	first, ok, err := onMaster.Acquire(ctx, "t1", "a", time.Minute)
	if err != nil || !ok {
		t.Fatalf("acquire on the master: %+v %v %v", first, ok, err)
	}
	// The first lease reaches the replica...
	for {
		if n, err := mc.Wait(ctx, 1, time.Second).Result(); err == nil && n == 1 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the replica never acknowledged the first lease")
		}
	}
	// ...then the replica is cut off (as when the master dies before
	// replicating), and the master gives out one more epoch.
	if err := rc.SlaveOf(ctx, "NO", "ONE").Err(); err != nil {
		t.Fatalf("promote the replica: %v", err)
	}
	if err := onMaster.Release(ctx, first); err != nil {
		t.Fatal(err)
	}
	lost, ok, err := onMaster.Acquire(ctx, "t1", "b", time.Minute)
	if err != nil || !ok || lost.Epoch <= first.Epoch {
		t.Fatalf("second acquire on the master: %+v %v %v (first %d)", lost, ok, err, first.Epoch)
	}
	master.Stop()

	// The promoted replica still holds a's lease; it ends (a releases it or
	// it expires), and c takes the tenant: its epoch must beat b's, which
	// the promoted replica never saw. A failover takes at least Sentinel's
	// down-after time; here the replica's clock only has to pass b's epoch.
	for {
		tm, err := rc.Time(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if uint64(tm.UnixMilli()) > lost.Epoch {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the replica's clock never passed the lost epoch")
		}
	}
	onReplica := open(t, replica.URL()).Cluster().Ownership
	if err := onReplica.Release(ctx, first); err != nil {
		t.Fatal(err)
	}
	// The promoted replica holds the free lease back for one TTL (a
	// second here; TestAcquireHeldBackAfterPromotion).
	next, ok, err := onReplica.Acquire(ctx, "t1", "c", time.Second)
	for err == nil && !ok && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
		next, ok, err = onReplica.Acquire(ctx, "t1", "c", time.Second)
	}
	if err != nil || !ok {
		t.Fatalf("acquire on the promoted replica: %+v %v %v", next, ok, err)
	}
	if next.Epoch <= lost.Epoch {
		t.Fatalf("epoch went backwards across the promotion: %d after %d", next.Epoch, lost.Epoch)
	}
	// And the counter keeps counting: a quick re-acquire is still larger.
	if err := onReplica.Release(ctx, next); err != nil {
		t.Fatal(err)
	}
	again, ok, err := onReplica.Acquire(ctx, "t1", "d", time.Second)
	if err != nil || !ok || again.Epoch <= next.Epoch {
		t.Fatalf("re-acquire: %+v %v %v after %d", again, ok, err, next.Epoch)
	}
}

// TestAcquireHeldBackAfterPromotion: the master renews a lease and dies
// before the renewal reaches its replica (asynchronous replication), so on
// the promoted replica the lease expires earlier than its owner, which
// steps down two thirds of a TTL after it sent that renewal, believes. No
// other node may take the lease while the owner may still count itself
// the owner: the promoted replica holds the free lease back for one TTL
// after it first answers for the tenant.
func TestAcquireHeldBackAfterPromotion(t *testing.T) {
	const ttl = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	master := redisserver.Start(t)
	replica := redisserver.StartReplica(t, master)
	mc := redis.NewClient(&redis.Options{Addr: master.Addr()})
	rc := redis.NewClient(&redis.Options{Addr: replica.Addr()})
	t.Cleanup(func() { _ = mc.Close(); _ = rc.Close() })

	replicated := func() {
		t.Helper()
		for {
			if n, err := mc.Wait(ctx, 1, time.Second).Result(); err == nil && n == 1 {
				return
			}
			if ctx.Err() != nil {
				t.Fatal("the replica never acknowledged")
			}
		}
	}
	replicated() // the replica is in sync
	onMaster := open(t, master.URL()).Cluster().Ownership
	a, ok, err := onMaster.Acquire(ctx, "t1", "a", ttl)
	if err != nil || !ok {
		t.Fatalf("acquire on the master: %+v %v %v", a, ok, err)
	}
	replicated()
	// The replica is cut off, a renews on the master, the master dies.
	if err := rc.SlaveOf(ctx, "NO", "ONE").Err(); err != nil {
		t.Fatalf("promote the replica: %v", err)
	}
	time.Sleep(ttl / 2)
	renewSent := time.Now()
	if ok, err := onMaster.Renew(ctx, a, ttl); err != nil || !ok {
		t.Fatalf("renew on the master: %v %v", ok, err)
	}
	master.Stop()
	// a counts itself the owner until its renewal's send + 2/3 TTL
	// (ownership.Renewer); b tries the promoted replica all along.
	stepDown := renewSent.Add(ttl * 2 / 3)
	onReplica := open(t, replica.URL()).Cluster().Ownership
	var b cluster.Lease
	for {
		b, ok, err = onReplica.Acquire(ctx, "t1", "b", ttl)
		if err != nil {
			t.Fatalf("acquire on the promoted replica: %v", err)
		}
		if ok {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Now()
	if took.Before(stepDown) {
		t.Fatalf("b took the lease %v before a steps down (a renewed it on the master, the promoted replica never saw it)", stepDown.Sub(took))
	}
	if b.Epoch <= a.Epoch {
		t.Fatalf("epoch %d after %d", b.Epoch, a.Epoch)
	}
	t.Logf("b took the lease %v after a stepped down", took.Sub(stepDown))
}
