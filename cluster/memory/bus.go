package memory

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/internal/mailbox"
)

type tenantBus struct {
	seq   uint64
	state map[string]cluster.Object
	subs  map[*mailbox.Mailbox]struct{}
}

type bus struct {
	b       *Backend
	mu      sync.Mutex
	tenants map[string]*tenantBus
}

func newBus(b *Backend) *bus { return &bus{b: b, tenants: map[string]*tenantBus{}} }

func (u *bus) tenant(t string) *tenantBus {
	tb := u.tenants[t]
	if tb == nil {
		tb = &tenantBus{state: map[string]cluster.Object{}, subs: map[*mailbox.Mailbox]struct{}{}}
		u.tenants[t] = tb
	}
	return tb
}

// PublishFenced checks l, numbers evs and stores their state atomically.
func (u *bus) PublishFenced(_ context.Context, l cluster.Lease, evs []cluster.Event) error {
	if l.Tenant == "" {
		return errors.New("memory: fenced publish: lease has no tenant")
	}
	now := u.b.cfg.now().UnixNano()
	// Holding the ownership read lock makes the fence check and the publish
	// one atomic step with respect to Acquire.
	u.b.owners.mu.RLock()
	defer u.b.owners.mu.RUnlock()
	if !u.b.owners.holds(l) {
		return fmt.Errorf("memory: fenced publish for tenant %q epoch %d: %w", l.Tenant, l.Epoch, cluster.ErrNotOwner)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	tb := u.tenant(l.Tenant)
	for _, ev := range evs {
		tb.seq++
		ev.Tenant, ev.Epoch, ev.Seq = l.Tenant, l.Epoch, tb.seq
		if ev.Origin == "" {
			ev.Origin = l.Node
		}
		if ev.Time == 0 {
			ev.Time = now
		}
		if ev.Key != "" {
			if ev.Deletes() {
				delete(tb.state, ev.Key)
			} else {
				tb.state[ev.Key] = cluster.Object{Key: ev.Key, Seq: ev.Seq, Data: append([]byte(nil), ev.Data...)}
			}
		}
		for m := range tb.subs {
			m.Push(ev)
		}
	}
	return nil
}

// Publish delivers an unfenced node event.
func (u *bus) Publish(_ context.Context, ev cluster.Event) error {
	if ev.Tenant == "" {
		return errors.New("memory: publish: event has no tenant")
	}
	ev.Epoch, ev.Seq = 0, 0
	if ev.Time == 0 {
		ev.Time = u.b.cfg.now().UnixNano()
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for m := range u.tenant(ev.Tenant).subs {
		m.Push(ev)
	}
	return nil
}

// Subscribe registers fn before returning; events are delivered from a
// goroutine until ctx (or the backend) ends.
func (u *bus) Subscribe(ctx context.Context, tenant string, fn func([]cluster.Event)) error {
	if tenant == "" {
		return errors.New("memory: subscribe: empty tenant")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: subscribe %q: %w", tenant, err)
	}
	if u.b.ctx.Err() != nil {
		return fmt.Errorf("memory: subscribe %q: backend closed", tenant)
	}
	m := mailbox.New(tenant, u.b.cfg.queueSize, &u.b.stats.Counters)
	u.mu.Lock()
	u.tenant(tenant).subs[m] = struct{}{}
	u.mu.Unlock()
	runCtx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(u.b.ctx, cancel)
	go func() {
		defer stop()
		defer cancel()
		m.Run(runCtx, fn)
		u.mu.Lock()
		delete(u.tenants[tenant].subs, m)
		u.mu.Unlock()
	}()
	return nil
}

// State returns the objects whose key starts with prefix, sorted by key, and
// the tenant's last sequence number.
func (u *bus) State(_ context.Context, tenant, prefix string) ([]cluster.Object, uint64, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	tb := u.tenants[tenant]
	if tb == nil {
		return nil, 0, nil
	}
	var out []cluster.Object
	for k, o := range tb.state {
		if strings.HasPrefix(k, prefix) {
			out = append(out, o)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, tb.seq, nil
}
