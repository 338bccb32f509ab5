// Package mailbox is the bounded, never-blocking subscriber queue shared by
// the cluster backends: a full queue drops the event and queues one
// synthetic resync instead, so a subscriber is told, never silently starved.
package mailbox

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/ctiws/ctiws/cluster"
)

// Counters count what mailboxes drop and signal; a backend shares one.
type Counters struct {
	Dropped atomic.Uint64 // events not queued: the queue was full
	Resyncs atomic.Uint64 // synthetic resyncs queued
}

// Mailbox is one subscriber's bounded queue. Push never blocks; when the
// queue is full the event is dropped and a synthetic resync is queued once
// at the position of the first drop.
type Mailbox struct {
	tenant string
	limit  int
	stats  *Counters
	mu     sync.Mutex
	q      []cluster.Event
	wake   chan struct{}
}

// New returns an empty mailbox for a tenant's subscriber.
func New(tenant string, limit int, stats *Counters) *Mailbox {
	return &Mailbox{tenant: tenant, limit: limit, stats: stats, wake: make(chan struct{}, 1)}
}

// IsMarker reports whether ev is a synthetic resync.
func IsMarker(ev cluster.Event) bool {
	return ev.Name == cluster.EvResync && ev.Seq == 0 && ev.Epoch == 0
}

func (m *Mailbox) signal() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Push queues ev or, when the queue is full, drops it and queues a resync.
func (m *Mailbox) Push(ev cluster.Event) {
	m.mu.Lock()
	if len(m.q) >= m.limit {
		m.stats.Dropped.Add(1)
		m.addMarkerLocked()
	} else {
		m.q = append(m.q, ev)
	}
	m.mu.Unlock()
	m.signal()
}

// Resync queues a synthetic resync (coalesced with one already at the tail).
func (m *Mailbox) Resync() {
	m.mu.Lock()
	m.addMarkerLocked()
	m.mu.Unlock()
	m.signal()
}

func (m *Mailbox) addMarkerLocked() {
	if n := len(m.q); n > 0 && IsMarker(m.q[n-1]) {
		return
	}
	m.stats.Resyncs.Add(1)
	m.q = append(m.q, cluster.Event{Tenant: m.tenant, Name: cluster.EvResync})
}

// Run hands queued events to fn until ctx ends: each call gets everything
// that was queued at that moment, in order (at least one event), so a
// subscriber can route a burst together and wake its writers once.
func (m *Mailbox) Run(ctx context.Context, fn func([]cluster.Event)) {
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
			if ctx.Err() != nil {
				return
			}
			fn(batch)
		}
	}
}
