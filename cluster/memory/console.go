package memory

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/ctiws/ctiws/cluster"
)

// console is the memory twin of the console's records
// (cluster/redisbackend/console.go).
type console struct {
	now   func() time.Time
	mu    sync.Mutex
	stats map[string]statusRecord
	audit []json.RawMessage // oldest first
	reqs  map[string][]request
}

type request struct {
	data     json.RawMessage
	deadline time.Time
}

type statusRecord struct {
	data     json.RawMessage
	deadline time.Time
}

func newConsole(now func() time.Time) *console {
	return &console{now: now, stats: map[string]statusRecord{}, reqs: map[string][]request{}}
}

// PutStatus stores node's status record for ttl.
func (c *console) PutStatus(_ context.Context, node string, status json.RawMessage, ttl time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for n, r := range c.stats {
		if expired(r.deadline, now) {
			delete(c.stats, n)
		}
	}
	c.stats[node] = statusRecord{data: slices.Clone(status), deadline: deadline(now, ttl)}
	return nil
}

// Statuses returns the live status records by node.
func (c *console) Statuses(context.Context) (map[string]json.RawMessage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	out := map[string]json.RawMessage{}
	for n, r := range c.stats {
		if !expired(r.deadline, now) {
			out[n] = slices.Clone(r.data)
		}
	}
	return out, nil
}

// Audit appends an entry and keeps the newest max.
func (c *console) Audit(_ context.Context, entry json.RawMessage, max int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.audit = append(c.audit, slices.Clone(entry))
	if max > 0 && len(c.audit) > max {
		c.audit = slices.Delete(c.audit, 0, len(c.audit)-max)
	}
	return nil
}

// AuditLog returns the newest n entries, newest first.
func (c *console) AuditLog(_ context.Context, n int) ([]json.RawMessage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]json.RawMessage, 0, min(n, len(c.audit)))
	for i := len(c.audit) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, slices.Clone(c.audit[i]))
	}
	return out, nil
}

// Request queues a request for node.
func (c *console) Request(_ context.Context, node string, req json.RawMessage) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reqs[node] = append(c.reqs[node], request{data: slices.Clone(req), deadline: c.now().Add(cluster.RequestTTL)})
	return nil
}

// TakeRequests returns and removes node's live requests.
func (c *console) TakeRequests(_ context.Context, node string) ([]json.RawMessage, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	var out []json.RawMessage
	for _, r := range c.reqs[node] {
		if !expired(r.deadline, now) {
			out = append(out, r.data)
		}
	}
	delete(c.reqs, node)
	return out, nil
}
