package redisbackend

import (
	"context"
	"sync"

	"github.com/ctiws/ctiws/cluster"
)

// mailbox is one subscriber's bounded queue. push never blocks; when the
// queue is full the event is dropped and a synthetic resync is queued once
// at the position of the first drop.
type mailbox struct {
	tenant string
	limit  int
	stats  *counters
	mu     sync.Mutex
	q      []cluster.Event
	wake   chan struct{}
}

func newMailbox(tenant string, limit int, stats *counters) *mailbox {
	return &mailbox{tenant: tenant, limit: limit, stats: stats, wake: make(chan struct{}, 1)}
}

// isMarker reports whether ev is a synthetic resync.
func isMarker(ev cluster.Event) bool {
	return ev.Name == cluster.EvResync && ev.Seq == 0 && ev.Epoch == 0
}

func (m *mailbox) signal() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// push queues ev or, when the queue is full, drops it and queues a resync.
func (m *mailbox) push(ev cluster.Event) {
	m.mu.Lock()
	if len(m.q) >= m.limit {
		m.stats.dropped.Add(1)
		m.addMarkerLocked()
	} else {
		m.q = append(m.q, ev)
	}
	m.mu.Unlock()
	m.signal()
}

// resync queues a synthetic resync (coalesced with one already at the tail).
func (m *mailbox) resync() {
	m.mu.Lock()
	m.addMarkerLocked()
	m.mu.Unlock()
	m.signal()
}

func (m *mailbox) addMarkerLocked() {
	if n := len(m.q); n > 0 && isMarker(m.q[n-1]) {
		return
	}
	m.stats.resyncs.Add(1)
	m.q = append(m.q, cluster.Event{Tenant: m.tenant, Name: cluster.EvResync})
}

// run hands queued events to fn, one at a time, until ctx ends.
func (m *mailbox) run(ctx context.Context, fn func(cluster.Event)) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
		}
		for {
			m.mu.Lock()
			batch := m.q
			m.q = nil
			m.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			for _, ev := range batch {
				if ctx.Err() != nil {
					return
				}
				fn(ev)
			}
		}
	}
}
