package memory

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ctiws/ctiws/cluster"
)

type cmdQueue struct {
	items    []cluster.Command
	attempts map[string]int
	wake     chan struct{} // closed and replaced on every push
}

type commands struct {
	b       *Backend
	mu      sync.Mutex
	seq     uint64
	tenants map[string]*cmdQueue
	replies map[replyKey]*reply
}

func newCommands(b *Backend) *commands {
	return &commands{b: b, tenants: map[string]*cmdQueue{}, replies: map[replyKey]*reply{}}
}

func (c *commands) queue(t string) *cmdQueue {
	q := c.tenants[t]
	if q == nil {
		q = &cmdQueue{attempts: map[string]int{}, wake: make(chan struct{})}
		c.tenants[t] = q
	}
	return q
}

// pushLocked appends (or, with front, prepends) cmd and wakes consumers.
func (q *cmdQueue) pushLocked(cmd cluster.Command, front bool) {
	if front {
		q.items = append([]cluster.Command{cmd}, q.items...)
	} else {
		q.items = append(q.items, cmd)
	}
	close(q.wake)
	q.wake = make(chan struct{})
}

// Send queues a command, giving it an id when it has none.
func (c *commands) Send(_ context.Context, cmd cluster.Command) error {
	if cmd.Tenant == "" {
		return errors.New("memory: send command: empty tenant")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cmd.ID == "" {
		c.seq++
		cmd.ID = fmt.Sprintf("%d-%d", c.b.cfg.now().UnixMilli(), c.seq)
	}
	c.queue(cmd.Tenant).pushLocked(cmd, false)
	return nil
}

// next blocks until a command is available or ctx ends.
func (c *commands) next(ctx context.Context, tenant string) (cluster.Command, bool) {
	for ctx.Err() == nil {
		c.mu.Lock()
		q := c.queue(tenant)
		if len(q.items) > 0 {
			cmd := q.items[0]
			q.items = q.items[1:]
			q.attempts[cmd.ID]++
			c.mu.Unlock()
			return cmd, true
		}
		wake := q.wake
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return cluster.Command{}, false
		case <-wake:
		}
	}
	return cluster.Command{}, false
}

// Consume hands commands to fn until ctx ends. A command is acknowledged
// when fn returns nil; otherwise it is handed out again (to any consumer)
// after the redelivery delay, at most the configured number of times.
func (c *commands) Consume(ctx context.Context, tenant, node string, fn func(context.Context, cluster.Command) error) error {
	if tenant == "" {
		return errors.New("memory: consume commands: empty tenant")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.b.ctx, cancel)
	defer stop()
	for {
		cmd, ok := c.next(ctx, tenant)
		if !ok {
			return nil
		}
		err := fn(ctx, cmd)
		if err == nil {
			c.mu.Lock()
			delete(c.queue(tenant).attempts, cmd.ID)
			c.mu.Unlock()
			continue
		}
		c.retry(ctx, tenant, node, cmd, err)
	}
}

// retry puts a failed command back after the redelivery delay (at once when
// ctx ends first, so another consumer can take it).
func (c *commands) retry(ctx context.Context, tenant, node string, cmd cluster.Command, cause error) {
	c.mu.Lock()
	n := c.queue(tenant).attempts[cmd.ID]
	c.mu.Unlock()
	if max := c.b.cfg.maxAttempts; max > 0 && n >= max {
		c.b.stats.droppedCommands.Add(1)
		c.b.cfg.log.Warn("command dropped after too many failed attempts",
			"tenant", tenant, "node", node, "command", cmd.Name, "id", cmd.ID, "attempts", n, "err", cause)
		c.mu.Lock()
		delete(c.queue(tenant).attempts, cmd.ID)
		c.mu.Unlock()
		return
	}
	t := time.NewTimer(c.b.cfg.redeliveryDelay)
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	t.Stop()
	c.b.stats.redelivered.Add(1)
	c.mu.Lock()
	c.queue(tenant).pushLocked(cmd, true)
	c.mu.Unlock()
}
