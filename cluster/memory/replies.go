package memory

import (
	"context"
	"errors"
	"time"

	"github.com/ctiws/ctiws/cluster"
)

// reply is the result slot of one awaited command.
type reply struct {
	res   cluster.CommandResult
	has   bool
	ready chan struct{} // closed when res is set
	at    time.Time     // when res was set (for expiry)
}

// replyKey addresses a result: tenant and command id.
type replyKey struct{ tenant, id string }

// slotLocked returns the slot of k, creating it. c.mu held.
func (c *commands) slotLocked(k replyKey) *reply {
	r := c.replies[k]
	if r == nil {
		r = &reply{ready: make(chan struct{})}
		c.replies[k] = r
	}
	return r
}

// Reply stores a command's result for ResultTTL (a second reply for the
// same id is ignored: the first one is what the owner did).
func (c *commands) Reply(_ context.Context, tenant, id string, res cluster.CommandResult) error {
	if tenant == "" || id == "" {
		return errors.New("memory: reply: empty tenant or command id")
	}
	now := c.b.cfg.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, r := range c.replies { // drop results nobody came for
		if r.has && now.Sub(r.at) > cluster.ResultTTL {
			delete(c.replies, k)
		}
	}
	r := c.slotLocked(replyKey{tenant, id})
	if r.has {
		return nil
	}
	r.res, r.has, r.at = res, true, now
	close(r.ready)
	return nil
}

// Await waits for the result of command id and removes it.
func (c *commands) Await(ctx context.Context, tenant, id string) (cluster.CommandResult, error) {
	if tenant == "" || id == "" {
		return cluster.CommandResult{}, errors.New("memory: await: empty tenant or command id")
	}
	k := replyKey{tenant, id}
	c.mu.Lock()
	r := c.slotLocked(k)
	c.mu.Unlock()
	select {
	case <-r.ready:
		c.mu.Lock()
		delete(c.replies, k)
		c.mu.Unlock()
		return r.res, nil
	case <-ctx.Done():
		c.mu.Lock()
		if !r.has {
			delete(c.replies, k)
		}
		c.mu.Unlock()
		return cluster.CommandResult{}, ctx.Err()
	case <-c.b.ctx.Done():
		return cluster.CommandResult{}, errors.New("memory: await: backend closed")
	}
}
