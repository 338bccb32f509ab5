package redisbackend

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// cmdReader reads the new commands of every tenant one node consumes with
// one blocking XREADGROUP naming all their streams (STREAMS k1 k2 … > > …),
// instead of one blocking read per tenant: an idle farm node costs Redis
// one command per block time, not one per owned tenant, and holds one
// blocking connection, not one per owned tenant (docs/architecture.md,
// section 3). Each consumer still reads its own pending entries, claims
// stale ones and acknowledges what it handled on its own; the reader only
// hands it the batches of new entries.
//
// A Redis Cluster rejects a read naming keys of several slots, so there
// every consumer keeps its own blocking read (consumer.round).
//
// A stream registered while the read blocks is read from the next read on,
// at most one block time later (DefaultBlock, 1 s); a consumer that stops
// leaves the entries read for it pending with the node's consumer name: the
// node's next consumer of the tenant reads them back, another node's claims
// them once idle (WithClaimIdle).
type cmdReader struct {
	b    *Backend
	node string

	mu      sync.Mutex
	subs    map[string]*consumer // by stream key
	running bool
}

// reader returns the shared reader of node's consumers, nil on a Redis
// Cluster.
func (b *Backend) reader(node string) *cmdReader {
	if _, ok := b.blocking.(*redis.ClusterClient); ok {
		return nil
	}
	b.readersMu.Lock()
	defer b.readersMu.Unlock()
	if b.readers == nil {
		b.readers = map[string]*cmdReader{}
	}
	r := b.readers[node]
	if r == nil {
		r = &cmdReader{b: b, node: node, subs: map[string]*consumer{}}
		b.readers[node] = r
	}
	return r
}

// add registers cs (its group exists) and starts the read loop if it does
// not run; false when another consumer of the same stream and node is
// registered (cs then reads on its own).
func (r *cmdReader) add(cs *consumer) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if other, ok := r.subs[cs.key]; ok && other != cs {
		return false
	}
	r.subs[cs.key] = cs
	if !r.running {
		r.running = true
		go r.run()
	}
	return true
}

// remove unregisters cs.
func (r *cmdReader) remove(cs *consumer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.subs[cs.key] == cs {
		delete(r.subs, cs.key)
	}
}

// ready returns the streams whose consumer has taken its last batch; the
// loop stops (false) once no consumer is registered or the backend closed.
func (r *cmdReader) ready() ([]string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.subs) == 0 || r.b.ctx.Err() != nil {
		r.running = false
		return nil, false
	}
	keys := make([]string, 0, len(r.subs))
	for k, cs := range r.subs {
		if len(cs.inbox) == 0 {
			keys = append(keys, k)
		}
	}
	return keys, true
}

// run reads until no consumer is left.
func (r *cmdReader) run() {
	backoff := 100 * time.Millisecond
	for {
		keys, ok := r.ready()
		if !ok {
			return
		}
		if len(keys) == 0 { // every consumer busy with its last batch
			sleep(r.b.ctx, 10*time.Millisecond)
			continue
		}
		streams := make([]string, 0, 2*len(keys))
		streams = append(streams, keys...)
		for range keys {
			streams = append(streams, ">")
		}
		res, err := r.b.blocking.XReadGroup(r.b.ctx, &redis.XReadGroupArgs{
			Group: cmdGroup, Consumer: r.node, Streams: streams, Count: 16, Block: r.b.cfg.block,
		}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			if r.b.ctx.Err() != nil {
				continue
			}
			if strings.Contains(err.Error(), "NOGROUP") {
				r.createGroups(keys)
			}
			r.b.cfg.log.Warn("command reader: redis error; retrying", "node", r.node, "streams", len(keys), "err", err, "in", backoff)
			sleep(r.b.ctx, backoff)
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		r.deliver(res)
	}
}

// deliver hands each stream's entries to its consumer. Entries of a
// consumer gone meanwhile stay pending for the node (see cmdReader).
func (r *cmdReader) deliver(res []redis.XStream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range res {
		cs := r.subs[s.Stream]
		if cs == nil || len(s.Messages) == 0 {
			continue
		}
		select {
		case cs.inbox <- s.Messages:
		default: // not ready: it reads its pending entries back
			cs.lost.Store(true)
		}
	}
}

// createGroups creates the consumer group of keys again (a stream or its
// group vanished: Redis lost its data, or the key was deleted).
func (r *cmdReader) createGroups(keys []string) {
	ctx, cancel := context.WithTimeout(r.b.ctx, 5*time.Second)
	defer cancel()
	cmds, _ := r.b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, k := range keys {
			p.XGroupCreateMkStream(ctx, k, cmdGroup, "0")
		}
		return nil
	})
	for _, c := range cmds {
		if err := c.Err(); err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
			r.b.cfg.log.Warn("command reader: create group failed", "node", r.node, "err", err)
			return
		}
	}
}
