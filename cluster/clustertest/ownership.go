package clustertest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
)

func ownershipCases() []Case {
	return []Case{
		{"ownership/lifecycle", testOwnership},
		{"ownership/tenant-isolation", testOwnershipIsolation},
		{"ownership/renew-all", testOwnershipRenewAll},
		{"ownership/reserve", testOwnershipReserve},
		{"ownership/reserve-expires", testOwnershipReserveExpires},
	}
}

func acquire(t *testing.T, o cluster.Ownership, tenant, node string, ttl time.Duration) (cluster.Lease, bool) {
	t.Helper()
	l, ok, err := o.Acquire(Ctx(t), tenant, node, ttl)
	if err != nil {
		t.Fatalf("Acquire(%s,%s): %v", tenant, node, err)
	}
	return l, ok
}

func testOwnership(t *testing.T, b cluster.Backend) {
	ctx := Ctx(t)
	ten, na, nb := Unique("t"), Unique("na"), Unique("nb")
	if _, ok, err := b.Ownership.Owner(ctx, ten); err != nil || ok {
		t.Fatalf("Owner of a fresh tenant = %v, %v", ok, err)
	}
	la, ok := acquire(t, b.Ownership, ten, na, 400*time.Millisecond)
	if !ok || la.Node != na || la.Tenant != ten || la.Epoch == 0 {
		t.Fatalf("first acquire = %+v, %v", la, ok)
	}
	if _, ok := acquire(t, b.Ownership, ten, nb, time.Second); ok {
		t.Fatal("second node acquired a held lease")
	}
	if again, ok := acquire(t, b.Ownership, ten, na, 400*time.Millisecond); !ok || again != la {
		t.Fatalf("re-acquire by the holder = %+v, %v; want %+v", again, ok, la)
	}
	if ok, err := b.Ownership.Renew(ctx, la, 400*time.Millisecond); err != nil || !ok {
		t.Fatalf("Renew = %v, %v", ok, err)
	}
	if cur, ok, err := b.Ownership.Owner(ctx, ten); err != nil || !ok || cur != la {
		t.Fatalf("Owner = %+v, %v, %v; want %+v", cur, ok, err, la)
	}
	free := Unique("free")
	if all, err := b.Ownership.Owners(ctx, []string{free, ten}); err != nil || len(all) != 2 ||
		all[0] != (cluster.Lease{Tenant: free}) || all[1] != la {
		t.Fatalf("Owners = %+v, %v; want a free lease of %s and %+v", all, err, free, la)
	}
	// A stops renewing: B gets the lease with a higher epoch.
	var lb cluster.Lease
	Eventually(t, Bound, "node B acquires after A's lease expired", func() bool {
		lb, ok = acquire(t, b.Ownership, ten, nb, time.Minute)
		return ok
	})
	if lb.Epoch <= la.Epoch || lb.Node != nb {
		t.Fatalf("takeover lease %+v, previous %+v: epoch must grow", lb, la)
	}
	if ok, err := b.Ownership.Renew(ctx, la, time.Minute); err != nil || ok {
		t.Fatalf("stale Renew = %v, %v; want false", ok, err)
	}
	if err := b.Ownership.Release(ctx, la); err != nil {
		t.Fatalf("stale Release: %v", err)
	}
	if cur, ok, _ := b.Ownership.Owner(ctx, ten); !ok || cur != lb {
		t.Fatalf("after a stale release Owner = %+v, %v; want %+v", cur, ok, lb)
	}
	// Release hands over at once.
	if err := b.Ownership.Release(ctx, lb); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := b.Ownership.Owner(ctx, ten); ok {
		t.Fatal("Owner after release still set")
	}
	la2, ok := acquire(t, b.Ownership, ten, na, time.Minute)
	if !ok || la2.Epoch <= lb.Epoch {
		t.Fatalf("acquire after release = %+v, %v; want epoch > %d", la2, ok, lb.Epoch)
	}
	if ok, _ := b.Ownership.Renew(ctx, lb, time.Minute); ok {
		t.Fatal("released lease renewed")
	}
	// Same node, old epoch: still stale.
	if err := b.Bus.PublishFenced(ctx, la, []cluster.Event{{Name: "x"}}); !errors.Is(err, cluster.ErrNotOwner) {
		t.Fatalf("publish with the holder's old epoch: %v, want ErrNotOwner", err)
	}
}

func testOwnershipIsolation(t *testing.T, b cluster.Backend) {
	ta, tb, na, nb := Unique("ta"), Unique("tb"), Unique("na"), Unique("nb")
	la, ok := acquire(t, b.Ownership, ta, na, time.Minute)
	if !ok {
		t.Fatal("acquire A")
	}
	lb, ok := acquire(t, b.Ownership, tb, nb, time.Minute)
	if !ok {
		t.Fatal("tenant B's lease blocked by tenant A's")
	}
	if err := b.Ownership.Release(Ctx(t), cluster.Lease{Tenant: tb, Node: na, Epoch: la.Epoch}); err != nil {
		t.Fatal(err)
	}
	if cur, ok, _ := b.Ownership.Owner(Ctx(t), tb); !ok || cur != lb {
		t.Fatalf("tenant B owner = %+v, %v; want %+v", cur, ok, lb)
	}
}

// testOwnershipRenewAll: one call renews the live leases of many tenants
// and reports the lost ones, without touching them.
func testOwnershipRenewAll(t *testing.T, b cluster.Backend) {
	ctx := Ctx(t)
	na, nb := Unique("na"), Unique("nb")
	var leases []cluster.Lease
	for range 5 {
		l, ok := acquire(t, b.Ownership, Unique("t"), na, 400*time.Millisecond)
		if !ok {
			t.Fatal("acquire")
		}
		leases = append(leases, l)
	}
	// Tenant 1 is released and taken by B; tenant 3's lease is stale
	// (wrong epoch).
	if err := b.Ownership.Release(ctx, leases[1]); err != nil {
		t.Fatal(err)
	}
	lb, ok := acquire(t, b.Ownership, leases[1].Tenant, nb, time.Minute)
	if !ok {
		t.Fatal("B acquire after release")
	}
	leases[3].Epoch++
	if held, err := b.Ownership.RenewAll(ctx, nil, time.Minute); err != nil || len(held) != 0 {
		t.Fatalf("RenewAll(nothing) = %v, %v", held, err)
	}
	// Renew for a minute, then wait past the first TTL: the renewed leases
	// must still be there.
	held, err := b.Ownership.RenewAll(ctx, leases, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, false, true, false, true}; !slices.Equal(held, want) {
		t.Fatalf("RenewAll = %v, want %v", held, want)
	}
	time.Sleep(600 * time.Millisecond)
	for i, l := range leases {
		cur, ok, err := b.Ownership.Owner(ctx, l.Tenant)
		switch {
		case err != nil:
			t.Fatal(err)
		case i == 1 && cur != lb:
			t.Fatalf("tenant taken by B: owner %+v, want %+v", cur, lb)
		case i == 3 && ok:
			t.Fatalf("a stale RenewAll kept tenant 3's lease alive: %+v", cur)
		case i != 1 && i != 3 && (!ok || cur != l):
			t.Fatalf("renewed lease %d: owner %+v, %v; want %+v", i, cur, ok, l)
		}
	}
	if _, err := b.Ownership.RenewAll(ctx, leases, 0); err == nil {
		t.Fatal("RenewAll with ttl 0 succeeded")
	}
}

// testOwnershipReserve: a hand-over. Only the live lease's holder can
// reserve its tenant; once it releases, every other node (the old holder
// too) is refused as for a held-back lease, the target takes the lease with
// a higher epoch, the mark is gone with it, and the old lease is fenced.
func testOwnershipReserve(t *testing.T, b cluster.Backend) {
	ctx := Ctx(t)
	ten, na, nb, nc := Unique("t"), Unique("na"), Unique("nb"), Unique("nc")
	la, ok := acquire(t, b.Ownership, ten, na, time.Minute)
	if !ok {
		t.Fatal("acquire")
	}
	for _, tc := range []struct {
		name string
		l    cluster.Lease
	}{
		{"another node", cluster.Lease{Tenant: ten, Node: nc, Epoch: la.Epoch}},
		{"the holder's older epoch", cluster.Lease{Tenant: ten, Node: na, Epoch: la.Epoch - 1}},
		{"another tenant", cluster.Lease{Tenant: Unique("t"), Node: na, Epoch: la.Epoch}},
	} {
		if ok, err := b.Ownership.Reserve(ctx, tc.l, nc, time.Minute); err != nil || ok {
			t.Fatalf("Reserve by %s = %v, %v; want false", tc.name, ok, err)
		}
	}
	if _, err := b.Ownership.Reserve(ctx, la, nb, 0); err == nil {
		t.Fatal("Reserve with ttl 0 succeeded")
	}
	if ok, err := b.Ownership.Reserve(ctx, la, nb, time.Minute); err != nil || !ok {
		t.Fatalf("Reserve by the holder = %v, %v", ok, err)
	}
	// Still held: the holder renews and extends as before, the target is
	// refused and told who holds it.
	if ok, err := b.Ownership.Renew(ctx, la, time.Minute); err != nil || !ok {
		t.Fatalf("Renew of a reserved lease = %v, %v", ok, err)
	}
	if l, ok := acquire(t, b.Ownership, ten, nb, time.Minute); ok || l.Node != na {
		t.Fatalf("target's acquire while held = %+v, %v; want refused, holder %s", l, ok, na)
	}
	if err := b.Ownership.Release(ctx, la); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{nc, na} {
		if l, ok := acquire(t, b.Ownership, ten, n, time.Minute); ok || l.Node != "" {
			t.Fatalf("acquire of a lease reserved for %s by %s = %+v, %v; want refused, no holder", nb, n, l, ok)
		}
	}
	lb, ok := acquire(t, b.Ownership, ten, nb, time.Minute)
	if !ok || lb.Node != nb || lb.Epoch <= la.Epoch {
		t.Fatalf("target's acquire = %+v, %v; want it, epoch > %d", lb, ok, la.Epoch)
	}
	if err := b.Bus.PublishFenced(ctx, la, []cluster.Event{{Name: "x"}}); !errors.Is(err, cluster.ErrNotOwner) {
		t.Fatalf("publish with the handed-over lease: %v, want ErrNotOwner", err)
	}
	// The mark went with the target's acquire: once it lets the lease go,
	// any node takes it.
	if err := b.Ownership.Release(ctx, lb); err != nil {
		t.Fatal(err)
	}
	if lc, ok := acquire(t, b.Ownership, ten, nc, time.Minute); !ok || lc.Epoch <= lb.Epoch {
		t.Fatalf("acquire after the target released = %+v, %v; want it, epoch > %d", lc, ok, lb.Epoch)
	}
}

// testOwnershipReserveExpires: a target that never comes does not strand
// the tenant: the mark expires and any node takes the lease.
func testOwnershipReserveExpires(t *testing.T, b cluster.Backend) {
	ctx := Ctx(t)
	ten, na, nb, nc := Unique("t"), Unique("na"), Unique("nb"), Unique("nc")
	la, ok := acquire(t, b.Ownership, ten, na, time.Minute)
	if !ok {
		t.Fatal("acquire")
	}
	if ok, err := b.Ownership.Reserve(ctx, la, nb, 300*time.Millisecond); err != nil || !ok {
		t.Fatalf("Reserve = %v, %v", ok, err)
	}
	if err := b.Ownership.Release(ctx, la); err != nil {
		t.Fatal(err)
	}
	if _, ok := acquire(t, b.Ownership, ten, nc, time.Minute); ok {
		t.Fatal("another node took a lease reserved for the target")
	}
	var lc cluster.Lease
	Eventually(t, Bound, "another node takes the lease once the mark expired", func() bool {
		lc, ok = acquire(t, b.Ownership, ten, nc, time.Minute)
		return ok
	})
	if lc.Epoch <= la.Epoch {
		t.Fatalf("lease after the mark expired %+v, previous %+v: epoch must grow", lc, la)
	}
}
