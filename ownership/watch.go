package ownership

import (
	"context"
	"sync"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/internal/periodic"
)

// leaseWatch keeps an eye on the leases a node's owners do not hold and
// whose holder is alive, for all of them at once (docs/cluster.md, section
// "Ownership at scale"): such an owner waits (Owner.Run) until the watch
// wakes it, instead of waking up itself every few seconds to ask Redis.
// Every check (a fifth of the lease TTL, with the live node view) it wakes
// the owners whose holder died; every readEvery it reads all the watched
// leases in one round trip (Ownership.Owners) and wakes those whose lease
// is free or held by this node or a dead one; and it wakes them all when
// the Redis server changed (a failover: the acquisition script keeps a
// record per server, leaseAcquire). Without a known server it wakes each
// owner once every fullEvery instead.
type leaseWatch struct {
	self   string
	owners func(ctx context.Context, tenants []string) ([]cluster.Lease, error)
	alive  func(ctx context.Context, node string) (bool, error)
	// server returns the Redis server's id, "" while unknown.
	server    func() string
	every     time.Duration
	readEvery time.Duration
	fullEvery time.Duration

	reads      sync.WaitGroup
	mu         sync.Mutex
	watching   map[string]*watcher // by tenant
	lastRead   time.Time
	reading    bool // a read runs
	lastServer string
}

// watcher is one waiting owner.
type watcher struct {
	tenant string
	holder string // guarded by leaseWatch.mu
	since  time.Time
	wake   chan struct{}
}

// wait blocks until the watch wakes tenant's owner (its lease may be worth
// an attempt), its own wake channel fires (a hand-over, Owner.Wake), or
// ctx ends.
func (w *leaseWatch) wait(ctx context.Context, tenant, holder string, own <-chan struct{}) {
	e := &watcher{tenant: tenant, holder: holder, since: time.Now(), wake: make(chan struct{}, 1)}
	w.mu.Lock()
	if w.watching == nil {
		w.watching = map[string]*watcher{}
	}
	w.watching[tenant] = e
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		if w.watching[tenant] == e {
			delete(w.watching, tenant)
		}
		w.mu.Unlock()
	}()
	select {
	case <-ctx.Done():
	case <-e.wake:
	case <-own:
	}
}

// run checks every interval until ctx ends (and its last read is done).
func (w *leaseWatch) run(ctx context.Context) {
	periodic.Every(ctx, w.every, w.check)
	w.reads.Wait()
}

// check wakes the owners whose lease is worth an attempt (see leaseWatch).
func (w *leaseWatch) check(ctx context.Context) {
	now := time.Now()
	server := w.server()
	w.mu.Lock()
	changed := server != "" && w.lastServer != "" && server != w.lastServer
	if server != "" {
		w.lastServer = server
	}
	read := !w.reading && now.Sub(w.lastRead) >= w.readEvery
	if read {
		w.lastRead = now
	}
	var toRead []*watcher
	for _, e := range w.watching {
		switch {
		case changed, w.dead(ctx, e.holder), server == "" && now.Sub(e.since) >= w.fullEvery:
			w.wakeLocked(e)
		case read:
			toRead = append(toRead, e)
		}
	}
	if len(toRead) == 0 {
		w.mu.Unlock()
		return
	}
	// The read runs on its own, so a slow one never delays the wake-ups
	// for a dead holder.
	w.reading = true
	w.mu.Unlock()
	w.reads.Add(1)
	go func() {
		defer w.reads.Done()
		w.read(ctx, toRead)
	}()
}

// read reads the leases of toRead in one round trip and wakes the owners
// whose lease is worth an attempt.
func (w *leaseWatch) read(ctx context.Context, toRead []*watcher) {
	defer func() {
		w.mu.Lock()
		w.reading = false
		w.mu.Unlock()
	}()
	tenants := make([]string, len(toRead))
	for i, e := range toRead {
		tenants[i] = e.tenant
	}
	rctx, cancel := context.WithTimeout(ctx, w.readEvery)
	// On an error the leases read still count (a Redis Cluster with one
	// shard down); the others wait for the next read.
	leases, _ := w.owners(rctx, tenants)
	cancel()
	if len(leases) != len(toRead) {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for i, e := range toRead {
		if leases[i].Tenant == "" {
			continue // not read
		}
		switch n := leases[i].Node; {
		case n == "" || n == w.self || w.dead(ctx, n):
			w.wakeLocked(e)
		default:
			e.holder = n
		}
	}
}

// dead reports whether node is known to be gone.
func (w *leaseWatch) dead(ctx context.Context, node string) bool {
	alive, err := w.alive(ctx, node)
	return err == nil && !alive
}

// wakeLocked wakes e's owner and stops watching it; w.mu held.
func (w *leaseWatch) wakeLocked(e *watcher) {
	if w.watching[e.tenant] == e {
		delete(w.watching, e.tenant)
	}
	select {
	case e.wake <- struct{}{}:
	default:
	}
}
