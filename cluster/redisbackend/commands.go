package redisbackend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/redis/go-redis/v9"
)

// cmdGroup is the consumer group of every command stream.
const cmdGroup = "owners"

// cmdField is the stream entry field holding the command JSON.
const cmdField = "c"

type commands struct{ b *Backend }

// Send appends a command to the tenant's stream (capped at about
// DefaultStreamMaxLen entries).
func (c commands) Send(ctx context.Context, cmd cluster.Command) error {
	if cmd.Tenant == "" {
		return errors.New("redis backend: send command: empty tenant")
	}
	body, err := json.Marshal(cmd)
	if err != nil {
		return fmt.Errorf("redis backend: send command %s to %s: encode: %w", cmd.Name, cmd.Tenant, err)
	}
	err = c.b.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: cmdStreamKey(cmd.Tenant), MaxLen: c.b.cfg.streamMaxLen, Approx: true,
		Values: []any{cmdField, string(body)},
	}).Err()
	if err != nil {
		return fmt.Errorf("redis backend: send command %s to %s: %w", cmd.Name, cmd.Tenant, err)
	}
	return nil
}

// Consume hands the tenant's commands to fn until ctx ends, as consumer node
// of the stream's group. A command is acknowledged (and deleted) when fn
// returns nil; otherwise it stays pending and is retried after the
// redelivery delay, by this consumer or, once it has been idle for the claim
// time, by another one. Delivery is at least once. Redis errors are logged
// and retried with backoff; Consume returns nil when ctx ends.
func (c commands) Consume(ctx context.Context, tenant, node string, fn func(context.Context, cluster.Command) error) error {
	if tenant == "" || node == "" {
		return errors.New("redis backend: consume commands: empty tenant or node")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.b.ctx, cancel)
	defer stop()
	cs := &consumer{b: c.b, tenant: tenant, node: node, key: cmdStreamKey(tenant), fn: fn,
		attempts: map[string]int{}, pending: true, claimStart: "0-0", started: time.Now(),
		reader: c.b.reader(node), inbox: make(chan []redis.XMessage, 1)}
	defer func() {
		if cs.shared {
			cs.reader.remove(cs)
		}
	}()
	cs.loop(ctx)
	return nil
}

// maxClaimEveryIdles, in claim times, is the longest pause between two
// claims of stale commands while none is found (consumer.claim).
const maxClaimEveryIdles = 6

type consumer struct {
	b            *Backend
	tenant, node string
	key          string
	fn           func(context.Context, cluster.Command) error
	attempts     map[string]int // deliveries per entry id, by this consumer
	pending      bool           // own pending entries may exist
	failed       bool           // the last round had a failure
	groupReady   bool
	claimStart   string
	// nextClaim is when stale entries of other consumers are claimed next,
	// claimEvery the pause after that (see claim).
	nextClaim  time.Time
	claimEvery time.Duration
	started    time.Time
	// reader, if set, reads the new entries (shared is set once cs is
	// registered with it) and hands them over in inbox; lost is set when
	// it read entries for cs that cs could not take (they are pending).
	reader *cmdReader
	shared bool
	inbox  chan []redis.XMessage
	lost   atomic.Bool
	// readBack is the last entry id the own pending reads returned.
	readBack string
}

// idAfter reports whether stream entry id a comes after b ("" is before
// every id).
func idAfter(a, b string) bool {
	if b == "" {
		return true
	}
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	if len(am) != len(bm) {
		return len(am) > len(bm)
	}
	if am != bm {
		return am > bm
	}
	if len(as) != len(bs) {
		return len(as) > len(bs)
	}
	return as > bs
}

func (cs *consumer) loop(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		if cs.failed {
			cs.failed = false
			sleep(ctx, cs.b.cfg.redeliveryDelay)
			continue
		}
		err := cs.round(ctx)
		if err == nil {
			backoff = 100 * time.Millisecond
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if strings.Contains(err.Error(), "NOGROUP") {
			cs.groupReady = false
		}
		cs.b.cfg.log.Warn("command consumer: redis error; retrying", "tenant", cs.tenant, "node", cs.node, "err", err, "in", backoff)
		sleep(ctx, backoff)
		backoff = min(2*backoff, 5*time.Second)
	}
}

// round does one step: create the group, retry own pending entries, claim
// stale ones of other consumers, or wait for new ones.
func (cs *consumer) round(ctx context.Context) error {
	rdb := cs.b.rdb
	if !cs.groupReady {
		err := rdb.XGroupCreateMkStream(ctx, cs.key, cmdGroup, "0").Err()
		if err != nil && !strings.Contains(err.Error(), "BUSYGROUP") {
			return fmt.Errorf("create group: %w", err)
		}
		cs.groupReady, cs.pending = true, true
	}
	if cs.lost.Swap(false) {
		cs.pending = true
	}
	if cs.pending {
		res, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: cmdGroup, Consumer: cs.node, Streams: []string{cs.key, "0"}, Count: 16,
		}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("read own pending: %w", err)
		}
		msgs := firstStream(res)
		if len(msgs) == 0 {
			cs.pending = false
			return nil
		}
		// The shared reader's batches up to here are read back now.
		cs.readBack = msgs[len(msgs)-1].ID
		cs.handle(ctx, msgs, false)
		return nil
	}
	if !time.Now().Before(cs.nextClaim) {
		claimed, err := cs.claim(ctx)
		if err != nil || claimed {
			return err
		}
	}
	if cs.reader != nil && !cs.shared {
		if cs.shared = cs.reader.add(cs); !cs.shared {
			cs.reader = nil // another consumer of the stream on this node: read alone
		}
	}
	if cs.shared {
		return cs.wait(ctx)
	}
	res, err := cs.b.blocking.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: cmdGroup, Consumer: cs.node, Streams: []string{cs.key, ">"}, Count: 16, Block: cs.b.cfg.block,
	}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("read new commands: %w", err)
	}
	cs.handle(ctx, firstStream(res), false)
	return nil
}

// claim claims the entries of other consumers (a node that died or
// stepped down with commands read and not acknowledged) idle for the claim
// time, and reports whether it handled some. It runs every claimIdle/2 for
// the first two claim times of the consumer and while it finds some; then,
// while it finds none, the pause doubles up to maxClaimEveryIdles claim
// times: such entries only come from a previous owner, around the start of
// this consumer's term.
func (cs *consumer) claim(ctx context.Context) (bool, error) {
	idle := cs.b.cfg.claimIdle
	msgs, next, err := cs.b.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{
		Stream: cs.key, Group: cmdGroup, Consumer: cs.node, MinIdle: idle, Start: cs.claimStart, Count: 16,
	}).Result()
	if err != nil {
		return false, fmt.Errorf("claim stale commands: %w", err)
	}
	cs.claimStart = next
	switch {
	case cs.claimEvery == 0 || len(msgs) > 0 || time.Since(cs.started) < 2*idle:
		cs.claimEvery = idle / 2
	default:
		cs.claimEvery = min(2*cs.claimEvery, maxClaimEveryIdles*idle)
	}
	cs.nextClaim = time.Now().Add(cs.claimEvery)
	if next != "0-0" {
		cs.nextClaim = time.Time{} // more to scan
	}
	if len(msgs) == 0 {
		return false, nil
	}
	cs.b.stats.claimed.Add(uint64(len(msgs)))
	cs.b.cfg.log.Info("claimed stale commands", "tenant", cs.tenant, "node", cs.node, "n", len(msgs))
	cs.handle(ctx, msgs, true)
	return true, nil
}

// wait takes the next batch the shared reader hands over, until the next
// claim is due or ctx ends.
func (cs *consumer) wait(ctx context.Context) error {
	t := time.NewTimer(time.Until(cs.nextClaim))
	defer t.Stop()
	select {
	case msgs := <-cs.inbox:
		// Entries the own pending reads got already are not handled twice.
		for len(msgs) > 0 && !idAfter(msgs[0].ID, cs.readBack) {
			msgs = msgs[1:]
		}
		cs.handle(ctx, msgs, false)
	case <-t.C:
	case <-ctx.Done():
	}
	return nil
}

func firstStream(res []redis.XStream) []redis.XMessage {
	if len(res) == 0 {
		return nil
	}
	return res[0].Messages
}

// handle runs fn on each entry, acknowledging successes. After a failure the
// remaining entries stay pending for the next round (order is kept).
func (cs *consumer) handle(ctx context.Context, msgs []redis.XMessage, claimed bool) {
	for _, m := range msgs {
		if ctx.Err() != nil {
			cs.pending = true
			return
		}
		raw, _ := m.Values[cmdField].(string)
		var cmd cluster.Command
		if err := json.Unmarshal([]byte(raw), &cmd); err != nil || raw == "" {
			cs.b.cfg.log.Warn("dropping a malformed command", "tenant", cs.tenant, "id", m.ID)
			cs.ack(ctx, m.ID)
			continue
		}
		if cmd.ID == "" {
			cmd.ID = m.ID
		}
		cmd.Tenant = cs.tenant
		cs.attempts[m.ID]++
		if cs.attempts[m.ID] > 1 || claimed {
			cs.b.stats.redelivered.Add(1)
		}
		err := cs.fn(ctx, cmd)
		if err == nil {
			cs.ack(ctx, m.ID)
			continue
		}
		if max := cs.b.cfg.maxAttempts; max > 0 && cs.attempts[m.ID] >= max {
			cs.b.stats.droppedCommands.Add(1)
			cs.b.cfg.log.Warn("command dropped after too many failed attempts", "tenant", cs.tenant, "node", cs.node,
				"command", cmd.Name, "id", cmd.ID, "attempts", cs.attempts[m.ID], "err", err)
			cs.ack(ctx, m.ID)
			continue
		}
		cs.pending, cs.failed = true, true
		return
	}
}

// ack acknowledges and deletes an entry; it uses a fresh context so a
// command handled just before ctx ended is still acknowledged.
func (cs *consumer) ack(_ context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := cs.b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.XAck(ctx, cs.key, cmdGroup, id)
		p.XDel(ctx, cs.key, id)
		return nil
	})
	delete(cs.attempts, id)
	if err != nil {
		cs.b.cfg.log.Warn("command acknowledge failed; it may be delivered again", "tenant", cs.tenant, "id", id, "err", err)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
