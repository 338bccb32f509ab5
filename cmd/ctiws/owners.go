package main

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/directory"
	"github.com/ctiws/ctiws/cmd/ctiws/internal/config"
	"github.com/ctiws/ctiws/cmd/ctiws/internal/node"
	"github.com/ctiws/ctiws/internal/guard"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// ownerSet runs one node.Owner per tenant.
type ownerSet struct {
	wg      sync.WaitGroup
	owners  map[string]*node.Owner
	tenant  map[string]*atomic.Pointer[config.Tenant]
	renewer *node.Renewer
}

func startOwners(ctx context.Context, cfg *config.Config, backend cluster.Backend, info clusterInfo, pbxs *pbxFactory, log *slog.Logger, reg prometheus.Registerer, panics *guard.Panics) *ownerSet {
	m := node.NewMetrics(reg)
	set := &ownerSet{owners: map[string]*node.Owner{}, tenant: map[string]*atomic.Pointer[config.Tenant]{},
		renewer: &node.Renewer{Ownership: backend.Ownership, TTL: cfg.LeaseTTL, Log: log}}
	gate := node.NewStartGate(cfg.OwnerStartRate, int(math.Ceil(cfg.OwnerStartRate)))
	spread := &leaseSpread{owned: set.renewer.Held, tenants: len(cfg.Tenants), rate: cfg.OwnerStartRate}
	var alive func(context.Context, string) (bool, error)
	if info.multi {
		nodes := promauto.With(reg).NewGauge(prometheus.GaugeOpts{Namespace: "ctiws", Name: "cluster_nodes",
			Help: "Live nodes as this node last saw them (lease spreading)."})
		mem := &members{self: cfg.NodeID, list: backend.Sessions.Nodes, connected: info.connected,
			every: membersEvery(cfg.LeaseTTL), log: log, onCount: func(n int) { nodes.Set(float64(n)) }}
		if err := mem.refresh(ctx); err != nil {
			log.Warn("live nodes not known at start; no lease is taken until they are", "err", err)
		}
		spread.nodes, alive = mem.count, mem.alive
		set.goRun(func() { mem.run(ctx) })
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
			Renewer:    set.renewer,
			Starts:     gate,
			Streams:    streamsOf(&t),
			NodeAlive:  alive,
			Log:        log,
			Metrics:    m,
			Panics:     panics,
		}
		set.owners[t.ID] = o
		m.LeaseOwned.WithLabelValues(t.ID).Set(0)
	}
	set.goRun(func() { gate.Run(ctx) })
	set.goRun(func() { set.renewer.Run(ctx) })
	if spread.nodes != nil {
		set.goRun(func() { spread.rebalance(ctx, set, cfg.LeaseTTL, log) })
	}
	// Start only once the set is complete: the spreading reads it.
	for _, o := range set.owners {
		set.goRun(func() { o.Run(ctx) })
	}
	return set
}

// membersEvery is how often a node re-reads the live node list: a fifth
// of the lease TTL, between 250 ms and 2 s (one read per node, not per
// tenant).
func membersEvery(leaseTTL time.Duration) time.Duration {
	return min(max(leaseTTL/5, 250*time.Millisecond), 2*time.Second)
}

// goRun runs fn in a goroutine that wait waits for.
func (s *ownerSet) goRun(fn func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
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
func (s *ownerSet) owned() int { return s.renewer.Held() }

// leaseSpread keeps a node from piling up every tenant's lease: it takes a
// free lease only while it holds fewer than its share. The share needs the
// node count, which the single-node setup does not have; then every lease is
// taken.
type leaseSpread struct {
	owned   func() int
	tenants int
	// rate is the node's owner_start_rate: hand-backs are paced like starts.
	rate float64
	// nodes reports the live node count, 0 while unknown (nil: single node).
	nodes func() int
}

// share is the most leases one of n nodes should hold: ceil(tenants/n)+1.
func (l *leaseSpread) share(n int) int {
	n = max(n, 1)
	return (l.tenants+n-1)/n + 1
}

func (l *leaseSpread) mayAcquire() bool {
	if l.nodes == nil {
		return true
	}
	n := l.nodes()
	if n == 0 {
		return false // not known yet: never "alone" by default
	}
	return l.owned() < l.share(n)
}

// rebalance hands leases back while this node holds more than its share
// (e.g. after nodes joined or at a cold start), so the others take them;
// no more per interval than the others can start at the start rate.
func (l *leaseSpread) rebalance(ctx context.Context, set *ownerSet, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n := l.nodes()
		if n == 0 {
			continue
		}
		share := l.share(n)
		extra := min(l.owned()-share, max(1, int(l.rate*every.Seconds()/2)))
		if extra <= 0 {
			continue
		}
		log.Info("handing PBX leases back to spread them over the nodes", "count", extra, "share", share, "nodes", n)
		for _, o := range set.owners {
			if extra <= 0 {
				break
			}
			if o.Owned() {
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
