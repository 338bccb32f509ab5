package main

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cmd/ctiws/internal/config"
	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/internal/guard"
	"github.com/ctiws/ctiws/ownership"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/ctiws/ctiws/internal/periodic"
)

// ownerSet runs one ownership.Owner per tenant; tenants may be added and
// removed while it runs.
type ownerSet struct {
	ctx     context.Context
	cfg     *config.Config
	backend cluster.Backend
	pbxs    *pbxFactory
	log     *slog.Logger
	metrics *ownership.Metrics
	panics  *guard.Panics
	gate    *ownership.StartGate
	spread  *leaseSpread
	alive   func(context.Context, string) (bool, error)
	renewer *ownership.Renewer
	wg      sync.WaitGroup

	mu     sync.Mutex
	owners map[string]*runningOwner
}

// runningOwner is one tenant's owner and how to stop it.
type runningOwner struct {
	o      *ownership.Owner
	tenant *atomic.Pointer[config.Tenant]
	stop   context.CancelFunc
	done   chan struct{}
}

func startOwners(ctx context.Context, cfg *config.Config, backend cluster.Backend, info clusterInfo, pbxs *pbxFactory, log *slog.Logger, reg prometheus.Registerer, panics *guard.Panics) *ownerSet {
	set := &ownerSet{ctx: ctx, cfg: cfg, backend: backend, pbxs: pbxs, log: log, panics: panics, metrics: ownership.NewMetrics(reg),
		gate:    ownership.NewStartGate(cfg.OwnerStartRate, int(math.Ceil(cfg.OwnerStartRate))),
		renewer: &ownership.Renewer{Ownership: backend.Ownership, TTL: cfg.LeaseTTL, Log: log},
		owners:  map[string]*runningOwner{}}
	set.spread = &leaseSpread{owned: set.renewer.Held, tenants: set.count, rate: cfg.OwnerStartRate}
	if info.multi {
		nodes := promauto.With(reg).NewGauge(prometheus.GaugeOpts{Namespace: "ctiws", Name: "cluster_nodes",
			Help: "Live nodes as this node last saw them (lease spreading)."})
		mem := &members{self: cfg.NodeID, list: backend.Sessions.Nodes, connected: info.connected,
			every: membersEvery(cfg.LeaseTTL), log: log, onCount: func(n int) { nodes.Set(float64(n)) }}
		if err := mem.refresh(ctx); err != nil {
			log.Warn("live nodes not known at start; no lease is taken until they are", "err", err)
		}
		set.spread.nodes, set.alive = mem.count, mem.alive
		set.goRun(func() { mem.run(ctx) })
	}
	set.goRun(func() { set.gate.Run(ctx) })
	set.goRun(func() { set.renewer.Run(ctx) })
	if set.spread.nodes != nil {
		set.goRun(func() { set.spread.rebalance(ctx, set, cfg.LeaseTTL, log) })
	}
	// Register every tenant before starting any: the spreading counts them.
	set.mu.Lock()
	for i := range cfg.Tenants {
		set.owners[cfg.Tenants[i].ID] = set.newOwner(cfg.Tenants[i])
	}
	for _, r := range set.owners {
		set.start(r)
	}
	set.mu.Unlock()
	return set
}

// newOwner builds (without starting) the owner of tenant t.
func (s *ownerSet) newOwner(t config.Tenant) *runningOwner {
	cur := &atomic.Pointer[config.Tenant]{}
	cur.Store(&t)
	o := &ownership.Owner{
		Tenant:     t.ID,
		Node:       s.cfg.NodeID,
		Backend:    s.backend,
		LeaseTTL:   s.cfg.LeaseTTL,
		NewPBX:     func() ownership.PBX { return s.pbxs.newPBX(&t, cur.Load) },
		Directory:  func() *directory.Directory { return cur.Load().Directory },
		MayAcquire: s.spread.mayAcquire,
		Renewer:    s.renewer,
		Starts:     s.gate,
		Streams:    streamsOf(&t),
		NodeAlive:  s.alive,
		Log:        s.log,
		Metrics:    s.metrics,
		Panics:     s.panics,
	}
	s.metrics.LeaseOwned.WithLabelValues(t.ID).Set(0)
	return &runningOwner{o: o, tenant: cur, done: make(chan struct{})}
}

// start runs r's owner until the set's context ends or r is removed.
func (s *ownerSet) start(r *runningOwner) {
	ctx, cancel := context.WithCancel(s.ctx)
	r.stop = cancel
	s.goRun(func() {
		defer close(r.done)
		r.o.Run(ctx)
	})
}

// add starts competing for a new tenant's lease.
func (s *ownerSet) add(t config.Tenant) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.owners[t.ID]; ok {
		return
	}
	r := s.newOwner(t)
	s.owners[t.ID] = r
	s.start(r)
}

// remove stops a tenant's owner and waits until it has released its lease.
func (s *ownerSet) remove(id string) {
	s.mu.Lock()
	r, ok := s.owners[id]
	delete(s.owners, id)
	s.mu.Unlock()
	if !ok {
		return
	}
	r.stop()
	<-r.done
	s.metrics.Forget(id)
}

// has reports whether the set runs an owner for tenant id.
func (s *ownerSet) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.owners[id]
	return ok
}

// unchanged reports whether tenant id runs with exactly this fingerprint.
func (s *ownerSet) unchanged(id, fingerprint string) bool {
	s.mu.Lock()
	r, ok := s.owners[id]
	s.mu.Unlock()
	return ok && fingerprint != "" && r.tenant.Load().Fingerprint == fingerprint
}

// config returns the configuration tenant id runs with.
func (s *ownerSet) config(id string) (*config.Tenant, bool) {
	s.mu.Lock()
	r, ok := s.owners[id]
	s.mu.Unlock()
	if !ok {
		return nil, false
	}
	return r.tenant.Load(), true
}

// ids lists the tenants of the set.
func (s *ownerSet) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.owners))
	for id := range s.owners {
		out = append(out, id)
	}
	return out
}

// count is the number of tenants.
func (s *ownerSet) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.owners)
}

// snapshot returns the running owners.
func (s *ownerSet) snapshot() []*ownership.Owner {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*ownership.Owner, 0, len(s.owners))
	for _, r := range s.owners {
		out = append(out, r.o)
	}
	return out
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
	s.mu.Lock()
	r, ok := s.owners[id]
	s.mu.Unlock()
	if ok {
		r.tenant.Store(t)
		r.o.SetDirectory(t.Directory)
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
	tenants func() int
	// rate is the node's owner_start_rate: hand-backs are paced like starts.
	rate float64
	// nodes reports the live node count, 0 while unknown (nil: single node).
	nodes func() int
}

// share is the most leases one of n nodes should hold: ceil(tenants/n)+1.
func (l *leaseSpread) share(n int) int {
	n = max(n, 1)
	return (l.tenants()+n-1)/n + 1
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
	periodic.Every(ctx, every, func(context.Context) {
		n := l.nodes()
		if n == 0 {
			return
		}
		share := l.share(n)
		extra := min(l.owned()-share, max(1, int(l.rate*every.Seconds()/2)))
		if extra <= 0 {
			return
		}
		log.Info("handing PBX leases back to spread them over the nodes", "count", extra, "share", share, "nodes", n)
		for _, o := range set.snapshot() {
			if extra <= 0 {
				break
			}
			if o.Owned() {
				o.HandBack()
				extra--
			}
		}
	})
}

// streamsOf returns a tenant's streaming sources.
func streamsOf(t *config.Tenant) []ownership.Stream {
	var out []ownership.Stream
	for _, s := range t.Streaming {
		out = append(out, ownership.Stream{ID: s.ID, URL: s.URL, Framerate: s.Framerate})
	}
	return out
}
