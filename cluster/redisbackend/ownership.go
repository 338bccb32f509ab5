package redisbackend

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/redis/go-redis/v9"
)

type ownership struct{ b *Backend }

// Acquire takes the tenant's lease if free (a new epoch) or already node's
// (extended, same epoch). When refused it returns the holder's lease, or
// no holder when the lease is free but held back for a TTL after a
// failover (leaseAcquire).
func (o ownership) Acquire(ctx context.Context, tenant, node string, ttl time.Duration) (cluster.Lease, bool, error) {
	if ttl <= 0 {
		return cluster.Lease{}, false, errors.New("redis backend: acquire lease: ttl must be positive")
	}
	res, err := leaseAcquire.Run(ctx, o.b.lease, []string{leaseKey(tenant), fenceKey(tenant), leaseServerKey(tenant), leaseForKey(tenant)}, node, ms(ttl)).Slice()
	if err != nil {
		return cluster.Lease{}, false, fmt.Errorf("redis backend: acquire lease of %s for %s: %w", tenant, node, err)
	}
	if len(res) != 3 {
		return cluster.Lease{}, false, fmt.Errorf("redis backend: acquire lease of %s: unexpected reply %v", tenant, res)
	}
	ok, _ := res[0].(int64)
	epoch, _ := res[1].(int64)
	holder, _ := res[2].(string)
	return cluster.Lease{Tenant: tenant, Node: holder, Epoch: uint64(epoch)}, ok == 1, nil
}

// Renew extends l if it is still the live lease.
func (o ownership) Renew(ctx context.Context, l cluster.Lease, ttl time.Duration) (bool, error) {
	if ttl <= 0 {
		return false, errors.New("redis backend: renew lease: ttl must be positive")
	}
	n, err := leaseRenew.Run(ctx, o.b.lease, []string{leaseKey(l.Tenant)}, l.Node, l.Epoch, ms(ttl)).Int64()
	if err != nil {
		return false, fmt.Errorf("redis backend: renew lease of %s epoch %d: %w", l.Tenant, l.Epoch, err)
	}
	return n == 1, nil
}

// RenewAll extends every lease of leases that is still live: one script
// call per renewBatch leases on a single Redis or behind Sentinel
// (leaseRenewMany), one per lease on a Redis Cluster, where the tenants'
// keys live in different hash slots; all in one pipeline either way, so one
// round trip per Redis server, whatever the number of tenants.
func (o ownership) RenewAll(ctx context.Context, leases []cluster.Lease, ttl time.Duration) ([]bool, error) {
	if ttl <= 0 {
		return nil, errors.New("redis backend: renew leases: ttl must be positive")
	}
	if _, ok := o.b.lease.(*redis.ClusterClient); !ok {
		return o.renewBatched(ctx, leases, ttl)
	}
	calls := make([]scriptCall, len(leases))
	for i, l := range leases {
		calls[i] = scriptCall{keys: []string{leaseKey(l.Tenant)}, args: []any{l.Node, l.Epoch, ms(ttl)}}
	}
	cmds, err := runPipelined(ctx, o.b.lease, leaseRenew, calls)
	if err != nil {
		return nil, fmt.Errorf("redis backend: renew %d leases: %w", len(leases), err)
	}
	// Each lease stands alone: on a Redis Cluster the pipeline is split by
	// shard, and one unreachable shard must not cost the others' leases.
	held := make([]bool, len(leases))
	var failed []error
	for i, c := range cmds {
		n, err := c.Int64()
		if err != nil {
			if failed == nil {
				failed = make([]error, len(leases))
			}
			failed[i] = fmt.Errorf("redis backend: renew lease of %s epoch %d: %w", leases[i].Tenant, leases[i].Epoch, err)
			continue
		}
		held[i] = n == 1
	}
	if failed != nil {
		return held, &cluster.RenewErrors{Failed: failed}
	}
	return held, nil
}

// renewBatch is how many leases one leaseRenewMany call renews (the script
// holds Redis for a few microseconds per lease).
const renewBatch = 256

// renewBatched renews leases renewBatch at a time in one pipeline: one
// script call costs Redis 2 commands per lease and one for the call,
// instead of 3 per lease.
func (o ownership) renewBatched(ctx context.Context, leases []cluster.Lease, ttl time.Duration) ([]bool, error) {
	var calls []scriptCall
	for start := 0; start < len(leases); start += renewBatch {
		part := leases[start:min(start+renewBatch, len(leases))]
		c := scriptCall{keys: make([]string, len(part)), args: make([]any, 0, 1+2*len(part))}
		c.args = append(c.args, ms(ttl))
		for i, l := range part {
			c.keys[i] = leaseKey(l.Tenant)
			c.args = append(c.args, l.Node, l.Epoch)
		}
		calls = append(calls, c)
	}
	cmds, err := runPipelined(ctx, o.b.lease, leaseRenewMany, calls)
	if err != nil {
		return nil, fmt.Errorf("redis backend: renew %d leases: %w", len(leases), err)
	}
	held := make([]bool, len(leases))
	var failed []error
	for ci, c := range cmds {
		start := ci * renewBatch
		n := len(calls[ci].keys)
		res, err := c.Int64Slice()
		if err == nil && len(res) != n {
			err = fmt.Errorf("unexpected reply of %d values for %d leases", len(res), n)
		}
		for i := range n {
			if err != nil {
				if failed == nil {
					failed = make([]error, len(leases))
				}
				l := leases[start+i]
				failed[start+i] = fmt.Errorf("redis backend: renew lease of %s epoch %d: %w", l.Tenant, l.Epoch, err)
				continue
			}
			held[start+i] = res[i] == 1
		}
	}
	if failed != nil {
		return held, &cluster.RenewErrors{Failed: failed}
	}
	return held, nil
}

// Release frees l at once if it is still the live lease.
func (o ownership) Release(ctx context.Context, l cluster.Lease) error {
	if err := leaseRelease.Run(ctx, o.b.lease, []string{leaseKey(l.Tenant)}, l.Node, l.Epoch).Err(); err != nil {
		return fmt.Errorf("redis backend: release lease of %s epoch %d: %w", l.Tenant, l.Epoch, err)
	}
	return nil
}

// Reserve keeps l's tenant for node to for ttl, if l is the live lease
// (leaseReserve); Acquire honours the mark.
func (o ownership) Reserve(ctx context.Context, l cluster.Lease, to string, ttl time.Duration) (bool, error) {
	if ttl <= 0 || to == "" {
		return false, errors.New("redis backend: reserve lease: ttl must be positive and the node named")
	}
	n, err := leaseReserve.Run(ctx, o.b.lease, []string{leaseKey(l.Tenant), leaseForKey(l.Tenant)}, l.Node, l.Epoch, to, ms(ttl)).Int64()
	if err != nil {
		return false, fmt.Errorf("redis backend: reserve lease of %s epoch %d for %s: %w", l.Tenant, l.Epoch, to, err)
	}
	return n == 1, nil
}

// Owner returns the live lease of tenant, if any.
func (o ownership) Owner(ctx context.Context, tenant string) (cluster.Lease, bool, error) {
	f, err := o.b.lease.HMGet(ctx, leaseKey(tenant), "owner", "epoch").Result()
	if err != nil || len(f) != 2 {
		return cluster.Lease{}, false, fmt.Errorf("redis backend: read lease of %s: %w", tenant, err)
	}
	owner, _ := f[0].(string)
	es, _ := f[1].(string)
	if owner == "" {
		return cluster.Lease{}, false, nil
	}
	epoch, err := strconv.ParseUint(es, 10, 64)
	if err != nil {
		return cluster.Lease{}, false, fmt.Errorf("redis backend: lease of %s has a bad epoch %q", tenant, es)
	}
	return cluster.Lease{Tenant: tenant, Node: owner, Epoch: epoch}, true, nil
}

// Owners returns the live leases of tenants (a zero Node when free), in
// one pipeline: one round trip per Redis server.
func (o ownership) Owners(ctx context.Context, tenants []string) ([]cluster.Lease, error) {
	cmds := make([]*redis.SliceCmd, len(tenants))
	_, err := o.b.lease.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, t := range tenants {
			cmds[i] = p.HMGet(ctx, leaseKey(t), "owner", "epoch")
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("redis backend: read the leases of %d tenants: %w", len(tenants), err)
	}
	// Each lease stands alone: on a Redis Cluster one unreachable shard
	// must not hide the others' leases.
	out := make([]cluster.Lease, len(tenants))
	for i, t := range tenants {
		if cmds[i] == nil || cmds[i].Err() != nil {
			continue
		}
		out[i].Tenant = t
		f := cmds[i].Val()
		if len(f) != 2 {
			continue
		}
		owner, _ := f[0].(string)
		es, _ := f[1].(string)
		epoch, err := strconv.ParseUint(es, 10, 64)
		if owner == "" || err != nil {
			continue
		}
		out[i].Node, out[i].Epoch = owner, epoch
	}
	return out, err
}
