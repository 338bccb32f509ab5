package main

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/directory"
	"github.com/ctiws/ctiws/cmd/ctiws/internal/config"
	"github.com/ctiws/ctiws/cmd/ctiws/internal/node"
	"github.com/ctiws/ctiws/internal/guard"
	"github.com/prometheus/client_golang/prometheus"
)

// ownerSet runs one node.Owner per tenant.
type ownerSet struct {
	wg     sync.WaitGroup
	owners map[string]*node.Owner
	tenant map[string]*atomic.Pointer[config.Tenant]
}

func startOwners(ctx context.Context, cfg *config.Config, backend cluster.Backend, info clusterInfo, pbxs *pbxFactory, log *slog.Logger, reg prometheus.Registerer, panics *guard.Panics) *ownerSet {
	nodes := info.nodes
	set := &ownerSet{owners: map[string]*node.Owner{}, tenant: map[string]*atomic.Pointer[config.Tenant]{}}
	m := node.NewMetrics(reg)
	spread := &leaseSpread{set: set, tenants: len(cfg.Tenants)}
	if nodes != nil {
		spread.nodes = func() int {
			nctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			n, err := nodes(nctx)
			if err != nil {
				return 1
			}
			return n
		}
	}
	for i := range cfg.Tenants {
		t := cfg.Tenants[i]
		cur := &atomic.Pointer[config.Tenant]{}
		cur.Store(&t)
		set.tenant[t.ID] = cur
		o := &node.Owner{
			Tenant:     t.ID,
			Node:       cfg.NodeID,
			Backend:    backend,
			LeaseTTL:   cfg.LeaseTTL,
			NewPBX:     func() node.PBX { return pbxs.newPBX(&t, cur.Load) },
			Directory:  func() *directory.Directory { return cur.Load().Directory },
			MayAcquire: spread.mayAcquire,
			Streams:    streamsOf(&t),
			NodeAlive:  info.alive,
			Log:        log,
			Metrics:    m,
			Panics:     panics,
		}
		set.owners[t.ID] = o
		m.LeaseOwned.WithLabelValues(t.ID).Set(0)
	}
	if spread.nodes != nil {
		set.wg.Add(1)
		go func() {
			defer set.wg.Done()
			spread.rebalance(ctx, cfg.LeaseTTL, log)
		}()
	}
	// Start only once the set is complete: the spreading reads it.
	for _, o := range set.owners {
		set.wg.Add(1)
		go func() {
			defer set.wg.Done()
			o.Run(ctx)
		}()
	}
	return set
}

// wait returns when every owner has stopped (and released its lease).
func (s *ownerSet) wait() { s.wg.Wait() }

// setDirectory passes a reloaded tenant to its owner.
func (s *ownerSet) setDirectory(id string, t *config.Tenant) {
	if cur, ok := s.tenant[id]; ok {
		cur.Store(t)
		s.owners[id].SetDirectory(t.Directory)
	}
}

// owned counts the leases this node holds.
func (s *ownerSet) owned() int {
	n := 0
	for _, o := range s.owners {
		if o.Owned() {
			n++
		}
	}
	return n
}

// leaseSpread keeps a node from piling up every tenant's lease: it takes a
// free lease only while it holds fewer than its share. The share needs the
// node count, which the single-node setup does not have; then every lease is
// taken.
type leaseSpread struct {
	set     *ownerSet
	tenants int
	// nodes reports the live node count (nil: single node).
	nodes func() int
}

// share is the most leases one node should hold: ceil(tenants/nodes) + 1.
func (l *leaseSpread) share() int {
	n := max(l.nodes(), 1)
	return (l.tenants+n-1)/n + 1
}

func (l *leaseSpread) mayAcquire() bool {
	if l.nodes == nil {
		return true
	}
	return l.set.owned() < l.share()
}

// rebalance hands leases back while this node holds more than its share
// (e.g. after nodes joined or at a cold start), so the others take them.
func (l *leaseSpread) rebalance(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		extra := l.set.owned() - l.share()
		for id, o := range l.set.owners {
			if extra <= 0 {
				break
			}
			if o.Owned() {
				log.Info("handing a PBX lease back to spread them over the nodes", "tenant", id, "share", l.share())
				o.HandBack()
				extra--
			}
		}
	}
}

// streamsOf returns a tenant's streaming sources.
func streamsOf(t *config.Tenant) []node.Stream {
	var out []node.Stream
	for _, s := range t.Streaming {
		out = append(out, node.Stream{ID: s.ID, URL: s.URL, Framerate: s.Framerate})
	}
	return out
}
