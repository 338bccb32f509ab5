package ownership

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/directory"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/ctiws/ctiws/internal/periodic"
)

// Set runs one Owner per tenant; tenants may be added and removed while it
// runs. The owners of a node share one lease Renewer, one StartGate and one
// view of the live nodes, and each takes a free lease only while the node
// holds less than its share (docs/cluster.md, section "Ownership at scale
// (farms of hundreds of tenants)").
type Set struct {
	ctx     context.Context
	opt     Options
	metrics *Metrics
	gate    *StartGate
	spread  *leaseSpread
	alive   func(context.Context, string) (bool, error)
	renewer *Renewer
	watch   *leaseWatch
	wg      sync.WaitGroup

	mu     sync.Mutex
	owners map[string]*runningOwner
}

// runningOwner is one tenant's owner and how to stop it.
type runningOwner struct {
	o      *Owner
	tenant *atomic.Pointer[Tenant]
	stop   context.CancelFunc
	done   chan struct{}
}

// Start competes for the leases of tenants until ctx ends (then Wait
// returns once every held lease has been released).
func Start(ctx context.Context, opt Options, tenants []*Tenant) *Set {
	opt.init()
	log := opt.Logger
	set := &Set{ctx: ctx, opt: opt, metrics: NewMetrics(opt.Registerer),
		gate:    NewStartGate(opt.StartRate, int(math.Ceil(opt.StartRate))),
		renewer: &Renewer{Ownership: opt.Backend.Ownership, TTL: opt.LeaseTTL, Log: log},
		owners:  map[string]*runningOwner{}}
	set.spread = &leaseSpread{owned: set.renewer.Held, tenants: set.count, rate: opt.StartRate}
	if opt.Multi {
		nodes := promauto.With(opt.Registerer).NewGauge(prometheus.GaugeOpts{Namespace: "ctiws", Name: "cluster_nodes",
			Help: "Live nodes as this node last saw them (lease spreading)."})
		mem := &members{self: opt.Node, list: opt.Backend.Sessions.Nodes, connected: opt.Connected,
			every: membersEvery(opt.LeaseTTL), log: log, onCount: func(n int) { nodes.Set(float64(n)) }}
		if err := mem.refresh(ctx); err != nil {
			log.Warn("live nodes not known at start; no lease is taken until they are", "err", err)
		}
		set.spread.nodes, set.alive = mem.count, mem.alive
		set.goRun(func() { mem.run(ctx) })
		retry := opt.LeaseTTL / 3
		set.watch = &leaseWatch{self: opt.Node, owners: opt.Backend.Ownership.Owners, alive: mem.alive, server: mem.serverID,
			every: membersEvery(opt.LeaseTTL), readEvery: 4 * retry, fullEvery: 16 * retry}
		set.goRun(func() { set.watch.run(ctx) })
	}
	set.goRun(func() { set.gate.Run(ctx) })
	set.goRun(func() { set.renewer.Run(ctx) })
	if set.spread.nodes != nil {
		set.goRun(func() { set.spread.rebalance(ctx, set, opt.LeaseTTL, log) })
	}
	// Register every tenant before starting any: the spreading counts them.
	set.mu.Lock()
	for _, t := range tenants {
		set.owners[t.ID] = set.newOwner(t)
	}
	for _, r := range set.owners {
		set.start(r)
	}
	set.mu.Unlock()
	return set
}

// newOwner builds (without starting) the owner of tenant t.
func (s *Set) newOwner(t *Tenant) *runningOwner {
	cur := &atomic.Pointer[Tenant]{}
	cur.Store(t)
	o := &Owner{
		Tenant:     t.ID,
		Node:       s.opt.Node,
		Backend:    s.opt.Backend,
		LeaseTTL:   s.opt.LeaseTTL,
		NewPBX:     func() PBX { return s.opt.NewPBX(cur.Load()) },
		Directory:  func() *directory.Directory { return cur.Load().Directory },
		MayAcquire: s.spread.mayAcquire,
		Renewer:    s.renewer,
		Watch:      s.watch,
		Starts:     s.gate,
		Streams:    t.Streams,
		NodeAlive:  s.alive,
		Log:        s.opt.Logger,
		Metrics:    s.metrics,
		Panics:     s.opt.Panics,

		MaxPendingPerUser:     s.opt.MaxPendingCommandsPerUser,
		MaxConcurrentCommands: s.opt.MaxConcurrentCommands,
	}
	s.metrics.LeaseOwned.WithLabelValues(t.ID).Set(0)
	return &runningOwner{o: o, tenant: cur, done: make(chan struct{})}
}

// start runs r's owner until the set's context ends or r is removed.
func (s *Set) start(r *runningOwner) {
	ctx, cancel := context.WithCancel(s.ctx)
	r.stop = cancel
	s.goRun(func() {
		defer close(r.done)
		r.o.Run(ctx)
	})
}

// Add starts competing for a new tenant's lease; a tenant the set already
// runs is left as it is.
func (s *Set) Add(t *Tenant) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.owners[t.ID]; ok {
		return
	}
	r := s.newOwner(t)
	s.owners[t.ID] = r
	s.start(r)
}

// Remove stops a tenant's owner and waits until it has released its lease.
func (s *Set) Remove(id string) {
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

// count is the number of tenants.
func (s *Set) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.owners)
}

// snapshot returns the running owners.
func (s *Set) snapshot() []*Owner {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Owner, 0, len(s.owners))
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

// goRun runs fn in a goroutine that Wait waits for.
func (s *Set) goRun(fn func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
}

// HandOverHold is how long a hand-over keeps a tenant's free lease for its
// target node, and how long the target's owner tries every few
// milliseconds to take it: long enough for both nodes to see the request
// (the console's requests are taken every 2 s) and the old owner to step
// down; short enough that a target that died meanwhile leaves the tenant
// without an owner for a few seconds only.
const HandOverHold = 6 * time.Second

// HandOver hands tenant's PBX to node to (Owner.HandOver, for
// HandOverHold) and returns the lease handed over: ErrUnknownTenant when
// the set does not run the tenant, ErrNotOwned when this node does not own
// it. The target takes it when woken (Wake on its node).
func (s *Set) HandOver(ctx context.Context, tenant, to string) (cluster.Lease, error) {
	o, ok := s.owner(tenant)
	if !ok {
		return cluster.Lease{}, fmt.Errorf("tenant %s: %w", tenant, ErrUnknownTenant)
	}
	if to == s.opt.Node {
		return cluster.Lease{}, fmt.Errorf("tenant %s: %s already owns it", tenant, to)
	}
	return o.HandOver(ctx, to, HandOverHold)
}

// Wake makes tenant's owner on this node try to take the lease at once and
// every few milliseconds for HandOverHold (the node is a hand-over's
// target); ErrUnknownTenant when the set does not run the tenant.
func (s *Set) Wake(tenant string) error {
	o, ok := s.owner(tenant)
	if !ok {
		return fmt.Errorf("tenant %s: %w", tenant, ErrUnknownTenant)
	}
	o.Wake(HandOverHold)
	return nil
}

// LastError returns the last PBX connection error of tenant while this
// node owns it (Owner.LastError).
func (s *Set) LastError(tenant string) (string, time.Time) {
	if o, ok := s.owner(tenant); ok {
		return o.LastError()
	}
	return "", time.Time{}
}

// owner returns tenant's owner.
func (s *Set) owner(tenant string) (*Owner, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.owners[tenant]
	if !ok {
		return nil, false
	}
	return r.o, true
}

// Wait returns when every owner has stopped (and released its lease), once
// the context Start was given has ended.
func (s *Set) Wait() { s.wg.Wait() }

// Update passes a reloaded tenant to its owner: its directory at once, the
// rest (AMI, streams) at the next ownership term.
func (s *Set) Update(t *Tenant) {
	s.mu.Lock()
	r, ok := s.owners[t.ID]
	s.mu.Unlock()
	if ok {
		r.tenant.Store(t)
		r.o.SetDirectory(t.Directory)
	}
}

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
func (l *leaseSpread) rebalance(ctx context.Context, set *Set, every time.Duration, log *slog.Logger) {
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
			// A tenant an operator handed to this node stays here.
			if o.Owned() && !o.handedOverHere() {
				o.HandBack()
				extra--
			}
		}
	})
}
