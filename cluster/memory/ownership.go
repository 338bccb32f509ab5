package memory

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ctiws/ctiws/cluster"
)

type lease struct {
	node     string
	epoch    uint64
	deadline time.Time
}

// reservation is a free lease kept for one node (Reserve).
type reservation struct {
	node     string
	deadline time.Time
}

type ownership struct {
	now      func() time.Time
	mu       sync.RWMutex
	leases   map[string]lease
	fence    map[string]uint64 // last epoch handed out per tenant; never reset
	reserved map[string]reservation
}

func newOwnership(now func() time.Time) *ownership {
	return &ownership{now: now, leases: map[string]lease{}, fence: map[string]uint64{}, reserved: map[string]reservation{}}
}

// current returns the live lease of tenant; the caller holds mu.
func (o *ownership) current(tenant string, now time.Time) (lease, bool) {
	l, ok := o.leases[tenant]
	if !ok || expired(l.deadline, now) {
		return lease{}, false
	}
	return l, true
}

// holds reports whether l is the live lease; the caller holds mu.
func (o *ownership) holds(l cluster.Lease) bool {
	cur, ok := o.current(l.Tenant, o.now())
	return ok && cur.node == l.Node && cur.epoch == l.Epoch
}

// Acquire takes the tenant's lease if free or already node's.
func (o *ownership) Acquire(_ context.Context, tenant, node string, ttl time.Duration) (cluster.Lease, bool, error) {
	if ttl <= 0 {
		return cluster.Lease{}, false, errors.New("memory: acquire lease: ttl must be positive")
	}
	now := o.now()
	o.mu.Lock()
	defer o.mu.Unlock()
	cur, ok := o.current(tenant, now)
	if r, held := o.reserved[tenant]; !ok && held {
		switch {
		case expired(r.deadline, now):
			delete(o.reserved, tenant)
		case r.node != node:
			return cluster.Lease{Tenant: tenant}, false, nil
		default:
			delete(o.reserved, tenant)
		}
	}
	switch {
	case !ok:
		o.fence[tenant]++
		cur = lease{node: node, epoch: o.fence[tenant]}
	case cur.node != node:
		return cluster.Lease{Tenant: tenant, Node: cur.node, Epoch: cur.epoch}, false, nil
	}
	cur.deadline = now.Add(ttl)
	o.leases[tenant] = cur
	return cluster.Lease{Tenant: tenant, Node: node, Epoch: cur.epoch}, true, nil
}

// Renew extends l if it is still the live lease.
func (o *ownership) Renew(_ context.Context, l cluster.Lease, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, errors.New("memory: renew lease: ttl must be positive")
	}
	now := o.now()
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.holds(l) {
		return false, nil
	}
	o.leases[l.Tenant] = lease{node: l.Node, epoch: l.Epoch, deadline: now.Add(ttl)}
	return true, nil
}

// RenewAll extends each of leases that is still live.
func (o *ownership) RenewAll(ctx context.Context, leases []cluster.Lease, ttl time.Duration) ([]bool, error) {
	held := make([]bool, len(leases))
	for i, l := range leases {
		ok, err := o.Renew(ctx, l, ttl)
		if err != nil {
			return nil, err
		}
		held[i] = ok
	}
	return held, nil
}

// Release frees l at once if it is still the live lease.
func (o *ownership) Release(_ context.Context, l cluster.Lease) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.holds(l) {
		delete(o.leases, l.Tenant)
	}
	return nil
}

// Reserve keeps l's tenant for node to for ttl, if l is the live lease.
func (o *ownership) Reserve(_ context.Context, l cluster.Lease, to string, ttl time.Duration) (bool, error) {
	if ttl <= 0 || to == "" {
		return false, errors.New("memory: reserve lease: ttl must be positive and the node named")
	}
	now := o.now()
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.holds(l) {
		return false, nil
	}
	o.reserved[l.Tenant] = reservation{node: to, deadline: now.Add(ttl)}
	return true, nil
}

// Owner returns the live lease of tenant, if any.
func (o *ownership) Owners(ctx context.Context, tenants []string) ([]cluster.Lease, error) {
	out := make([]cluster.Lease, len(tenants))
	for i, t := range tenants {
		l, ok, _ := o.Owner(ctx, t)
		if !ok {
			l = cluster.Lease{Tenant: t}
		}
		out[i] = l
	}
	return out, nil
}

func (o *ownership) Owner(_ context.Context, tenant string) (cluster.Lease, bool, error) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	cur, ok := o.current(tenant, o.now())
	if !ok {
		return cluster.Lease{}, false, nil
	}
	return cluster.Lease{Tenant: tenant, Node: cur.node, Epoch: cur.epoch}, true, nil
}
