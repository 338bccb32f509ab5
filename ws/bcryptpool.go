package ws

import (
	"context"
	"sync"
)

// fairPool bounds concurrent password checks (bcrypt is CPU-bound) and
// shares them fairly between tenants: each tenant has its own bounded FIFO
// queue, and a freed slot goes to the next tenant with waiters in
// round-robin order. A storm of logins on one tenant thus fills that
// tenant's queue (further requests get errBcryptBusy at once) and delays
// another tenant's check by at most one check per slot.
type fairPool struct {
	mu       sync.Mutex
	free     int
	maxQueue int
	queues   map[string][]*poolWaiter
	ring     []string // tenants with waiters, in round-robin order
	next     int
}

type poolWaiter struct {
	ready   chan struct{}
	granted bool
}

func newFairPool(slots, maxQueue int) *fairPool {
	return &fairPool{free: slots, maxQueue: maxQueue, queues: map[string][]*poolWaiter{}}
}

// acquire waits for a slot for tenant; it fails at once with errBcryptBusy
// when the tenant's queue is full, or with ctx's error when ctx ends first.
// Call release after the check.
func (p *fairPool) acquire(ctx context.Context, tenant string) error {
	p.mu.Lock()
	if p.free > 0 && len(p.ring) == 0 {
		p.free--
		p.mu.Unlock()
		return nil
	}
	q := p.queues[tenant]
	if len(q) >= p.maxQueue {
		p.mu.Unlock()
		return errBcryptBusy
	}
	w := &poolWaiter{ready: make(chan struct{})}
	if len(q) == 0 {
		p.ring = append(p.ring, tenant)
	}
	p.queues[tenant] = append(q, w)
	p.mu.Unlock()
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		p.mu.Lock()
		if w.granted {
			p.mu.Unlock()
			p.release()
			return ctx.Err()
		}
		p.removeLocked(tenant, w)
		p.mu.Unlock()
		return ctx.Err()
	}
}

// release frees a slot: it goes to the next waiting tenant, if any.
func (p *fairPool) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ring) == 0 {
		p.free++
		return
	}
	if p.next >= len(p.ring) {
		p.next = 0
	}
	tenant := p.ring[p.next]
	q := p.queues[tenant]
	w := q[0]
	p.queues[tenant] = q[1:]
	if len(q) == 1 {
		delete(p.queues, tenant)
		p.ring = append(p.ring[:p.next], p.ring[p.next+1:]...)
	} else {
		p.next++
	}
	w.granted = true
	close(w.ready)
}

func (p *fairPool) removeLocked(tenant string, w *poolWaiter) {
	q := p.queues[tenant]
	for i, x := range q {
		if x == w {
			q = append(q[:i], q[i+1:]...)
			break
		}
	}
	if len(q) > 0 {
		p.queues[tenant] = q
		return
	}
	delete(p.queues, tenant)
	for i, t := range p.ring {
		if t == tenant {
			p.ring = append(p.ring[:i], p.ring[i+1:]...)
			if p.next > i {
				p.next--
			}
			break
		}
	}
}

// queued returns the number of waiters of tenant (for tests and metrics).
func (p *fairPool) queued(tenant string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queues[tenant])
}
