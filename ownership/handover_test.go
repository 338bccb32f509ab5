package ownership

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/memory"
)

// recordingOwnership records every lease granted, in order.
type recordingOwnership struct {
	cluster.Ownership
	mu      sync.Mutex
	granted []cluster.Lease
}

func (r *recordingOwnership) Acquire(ctx context.Context, tenant, node string, ttl time.Duration) (cluster.Lease, bool, error) {
	l, ok, err := r.Ownership.Acquire(ctx, tenant, node, ttl)
	if ok {
		r.mu.Lock()
		if n := len(r.granted); n == 0 || r.granted[n-1] != l {
			r.granted = append(r.granted, l)
		}
		r.mu.Unlock()
	}
	return l, ok, err
}

func (r *recordingOwnership) leases() []cluster.Lease {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.granted)
}

// TestHandOverToChosenNode: n1 owns; an operator hands the tenant to n3,
// which is at its share (spreading says no) and would otherwise wait
// longer than the hold. n1 steps down, n3 takes the lease as soon as it is
// woken, with a higher epoch, and neither n2 (which tries every few
// milliseconds all along) nor n1 takes it in between; n1's lease is
// fenced.
func TestHandOverToChosenNode(t *testing.T) {
	mb := memory.New()
	defer mb.Close()
	b := mb.Cluster()
	rec := &recordingOwnership{Ownership: b.Ownership}
	b.Ownership = rec
	const ttl = 6 * time.Second // retries every 2–6 s: 5 refusals outlast the hold
	const hold = 3 * time.Second
	ps := []*fakePBX{{running: make(chan struct{}, 1)}, {running: make(chan struct{}, 1)}, {running: make(chan struct{}, 1)}}
	owners := make([]*Owner, 3)
	for i, n := range []string{"n1", "n2", "n3"} {
		owners[i] = newOwner(t, b, n, ps[i])
		owners[i].LeaseTTL = ttl
	}
	o1, o2, o3 := owners[0], owners[1], owners[2]
	o3.MayAcquire = func() bool { return false }
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	run := func(o *Owner) { wg.Add(1); go func() { defer wg.Done(); o.Run(ctx) }() }
	run(o1)
	waitUntil(t, "n1 to own", 5*time.Second, o1.Owned)
	run(o2)
	run(o3)

	if _, err := o2.HandOver(ctx, "n3", hold); !errors.Is(err, ErrNotOwned) {
		t.Fatalf("hand-over by a node that does not own: %v, want ErrNotOwned", err)
	}
	// n2 competes eagerly; n3 is woken only once the lease is free and n2
	// had time for a few attempts (the order of the two requests is not
	// known in a cluster).
	o2.Wake(2 * hold)
	l1, err := o1.HandOver(ctx, "n3", hold)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "n1 to release the lease", hold, func() bool {
		cur, ok, _ := b.Ownership.Owner(ctx, "t")
		return !ok || cur != l1
	})
	time.Sleep(eagerRetry(ttl/3) * 4)
	o3.Wake(hold)
	waitUntil(t, "n3 to own", 2*hold, o3.Owned)
	if !o3.handedOverHere() {
		t.Error("n3's term is not marked as handed over (spreading would hand it back)")
	}
	// n2 keeps trying for a while: it must find n3 there.
	time.Sleep(ttl / 2)
	got := rec.leases()
	if len(got) != 2 || got[0] != l1 || got[1].Node != "n3" || got[1].Epoch <= l1.Epoch {
		t.Fatalf("leases granted %+v; want n1's %+v then n3's with a higher epoch, nobody in between", got, l1)
	}
	if o1.Owned() || o2.Owned() {
		t.Errorf("owned after the hand-over: n1 %v, n2 %v", o1.Owned(), o2.Owned())
	}
	if err := b.Bus.PublishFenced(ctx, l1, []cluster.Event{{Name: "x"}}); !errors.Is(err, cluster.ErrNotOwner) {
		t.Errorf("publish with the handed-over lease: %v, want ErrNotOwner", err)
	}
}

// TestSetHandOverRefusals: a set refuses a hand-over of a tenant it does
// not run, does not own, or to itself, and a wake of a tenant it does not
// run.
func TestSetHandOverRefusals(t *testing.T) {
	mb := memory.New()
	defer mb.Close()
	b := mb.Cluster()
	if _, ok, _ := b.Ownership.Acquire(t.Context(), "taken", "other", time.Minute); !ok {
		t.Fatal("acquire")
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &fakePBX{running: make(chan struct{}, 1)}
	set := Start(ctx, Options{Node: "n1", Backend: b, LeaseTTL: time.Second, NewPBX: func(*Tenant) PBX { return p }},
		[]*Tenant{{ID: "t"}, {ID: "taken"}})
	defer func() { cancel(); set.Wait() }()
	owner, _ := set.owner("t")
	waitUntil(t, "n1 to own t", 5*time.Second, owner.Owned)
	for _, tc := range []struct {
		tenant, to string
		want       error
	}{
		{"nope", "n2", ErrUnknownTenant},
		{"taken", "n2", ErrNotOwned},
		{"t", "n1", nil},
	} {
		_, err := set.HandOver(ctx, tc.tenant, tc.to)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("HandOver(%s → %s) = %v, want %v", tc.tenant, tc.to, err, tc.want)
		}
	}
	if err := set.Wake("nope"); !errors.Is(err, ErrUnknownTenant) {
		t.Errorf("Wake of an unknown tenant = %v", err)
	}
	if !owner.Owned() {
		t.Error("a refused hand-over ended the term")
	}
}
