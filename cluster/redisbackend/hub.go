package redisbackend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/internal/mailbox"
	"github.com/redis/go-redis/v9"
)

// hub owns the node's sharded pub/sub connections (SSUBSCRIBE), its lanes:
// one lane for every tenant on a single Redis or behind Sentinel, one lane
// per subscribed tenant on a Redis Cluster, connected to the master of the
// tenant's slot. (A cluster rejects an SSUBSCRIBE naming channels of two
// slots, and go-redis resubscribes all of a connection's channels in one
// command after a reconnect, so a cluster lane holds channels of one slot,
// the tenant's.) Every tenant
// channel a local subscriber asked for stays subscribed for the life of the
// backend; local subscribers of a tenant are fanned out from its lane's
// reader goroutine into bounded mailboxes, so a slow subscriber never
// stalls the connection.
//
// Resync signals are queued for a tenant's subscribers when:
//   - Redis confirms the tenant's channel again (go-redis reconnected and
//     resubscribed, the hub recreated the connection, or the tenant's slot
//     moved to another shard): messages published meanwhile are lost
//     (pub/sub is at-most-once);
//   - a fenced event's Seq is not the previous Seq + 1 (a gap, or a
//     regression after Redis lost its data);
//   - a subscriber's mailbox overflowed.
//
// A deafness probe covers a connection that looks healthy but receives
// nothing (centrifugo issue #1189): after probeIdle without any message the
// lane publishes to its own probe channel (on a cluster in the tenant's
// slot, so on the lane's shard); if nothing arrives within
// probeTimeout it recreates the connection.
type hub struct {
	b *Backend

	mu      sync.Mutex
	tenants map[string]*tenantSub // by channel
	lanes   map[string]*lane      // by tenant on a cluster, else one lane keyed ""
	closed  bool                  // wait was called: no new lanes
	wg      sync.WaitGroup        // lane goroutines
}

// lane is one sharded pub/sub connection and its reader goroutine.
type lane struct {
	h     *hub
	key   string
	probe string
	// Guarded by h.mu.
	ps     *redis.PubSub // nil while (re)created
	probeN int           // confirmations of the probe channel
	closed bool          // dissolved: its tenants moved to other lanes
}

type tenantSub struct {
	tenant    string
	channel   string
	lane      *lane // nil until placed
	confs     int
	confirmed chan struct{} // closed on the first confirmation
	subs      map[*mailbox.Mailbox]struct{}
	lastSeq   uint64
	maxEpoch  uint64
}

func newHub(b *Backend) *hub {
	return &hub{b: b, tenants: map[string]*tenantSub{}, lanes: map[string]*lane{}}
}

// wait blocks until every lane goroutine has stopped; the backend context
// must already be cancelled.
func (h *hub) wait() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.wg.Wait()
}

func (h *hub) subscribe(ctx context.Context, tenant string, fn func([]cluster.Event)) error {
	if tenant == "" {
		return errors.New("redis backend: subscribe: empty tenant")
	}
	if err := h.b.ctx.Err(); err != nil {
		return fmt.Errorf("redis backend: subscribe: %w", errBackendClosed)
	}
	ch := eventsChannel(tenant)
	m := mailbox.New(tenant, h.b.cfg.queueSize, &h.b.stats.Counters)
	h.mu.Lock()
	ts := h.tenants[ch]
	if ts == nil {
		ts = &tenantSub{tenant: tenant, channel: ch, confirmed: make(chan struct{}), subs: map[*mailbox.Mailbox]struct{}{}}
		h.tenants[ch] = ts
	}
	ts.subs[m] = struct{}{}
	placed := ts.lane != nil
	h.mu.Unlock()

	if !placed {
		if err := h.place(ctx, ts); err != nil {
			h.drop(ts, m)
			return fmt.Errorf("redis backend: subscribe %s: %w", tenant, err)
		}
	}
	timer := time.NewTimer(h.b.cfg.subscribeTimeout)
	defer timer.Stop()
	var err error
	select {
	case <-ts.confirmed:
	case <-ctx.Done():
		err = ctx.Err()
	case <-h.b.ctx.Done():
		err = errBackendClosed
	case <-timer.C:
		err = fmt.Errorf("not confirmed by redis within %v", h.b.cfg.subscribeTimeout)
	}
	if err != nil {
		h.drop(ts, m)
		return fmt.Errorf("redis backend: subscribe %s: %w", tenant, err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(h.b.ctx, cancel)
	go func() {
		defer stop()
		defer cancel()
		m.Run(runCtx, fn)
		h.drop(ts, m)
	}()
	return nil
}

// place puts a tenant channel on its lane (opening the lane
// if needed) and subscribes it there. Placing an already placed tenant is
// a no-op.
func (h *hub) place(ctx context.Context, ts *tenantSub) error {
	key, probe := h.laneOf(ts.tenant)
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return errBackendClosed
	}
	if ts.lane != nil {
		h.mu.Unlock()
		return nil
	}
	l := h.lanes[key]
	if l == nil {
		l = &lane{h: h, key: key, probe: probe}
		h.lanes[key] = l
		h.wg.Add(1)
		go l.run()
	}
	ts.lane = l
	ps := l.ps
	h.mu.Unlock()
	if ps != nil {
		// Errors are not final: go-redis keeps the channel and subscribes it
		// on its next (re)connection; the caller's wait decides.
		if err := ps.SSubscribe(ctx, ts.channel); err != nil {
			h.b.cfg.log.Debug("pub/sub subscribe failed; waiting for a reconnect", "tenant", ts.tenant, "err", err)
		}
	}
	return nil
}

// laneOf names the lane of a tenant's channel and the probe channel a new
// lane would use: on a Redis Cluster the tenant's own lane and a probe in
// the tenant's slot (go-redis connects the lane to that slot's master);
// the single lane otherwise.
func (h *hub) laneOf(tenant string) (key, probe string) {
	if _, ok := h.b.rdb.(*redis.ClusterClient); !ok {
		return "", probeChannel(h.b.instance)
	}
	return tenant, tenantProbeChannel(tenant, h.b.instance)
}

func (h *hub) drop(ts *tenantSub, m *mailbox.Mailbox) {
	h.mu.Lock()
	delete(ts.subs, m)
	h.mu.Unlock()
}

// run owns the lane's pub/sub connection until the backend closes or the
// lane is dissolved, recreating it when the deafness probe fails.
func (l *lane) run() {
	h := l.h
	defer h.wg.Done()
	for h.b.ctx.Err() == nil {
		h.mu.Lock()
		if l.closed {
			h.mu.Unlock()
			return
		}
		ps := h.b.rdb.SSubscribe(h.b.ctx) // no channels: no I/O yet
		l.ps = ps
		chans := []string{l.probe}
		for ch, ts := range h.tenants {
			if ts.lane == l {
				chans = append(chans, ch)
			}
		}
		h.mu.Unlock()
		if err := ps.SSubscribe(h.b.ctx, chans...); err != nil && h.b.ctx.Err() == nil {
			h.b.cfg.log.Warn("pub/sub subscribe failed; go-redis will retry", "shard", l.key, "err", err)
		}
		msgs := ps.ChannelWithSubscriptions(redis.WithChannelSize(h.b.cfg.pubsubBuffer))
		again := l.loop(msgs)
		h.mu.Lock()
		l.ps = nil
		h.mu.Unlock()
		_ = ps.Close()
		switch again {
		case laneDeaf:
			h.b.stats.deaf.Add(1)
			select {
			case <-h.b.ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		case laneMoved:
			h.dissolve(l)
			return
		}
	}
}

// Why a lane's loop returned.
const (
	laneStop  = iota // the backend closed
	laneDeaf         // recreate the connection
	laneMoved        // Redis dropped a channel: a slot moved to another shard
)

// loop reads one pub/sub connection and says why it stopped.
func (l *lane) loop(msgs <-chan any) int {
	h := l.h
	tick := h.b.cfg.probeIdle / 5
	if tick < 50*time.Millisecond {
		tick = 50 * time.Millisecond
	}
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	lastRecv := time.Now()
	var probeSent time.Time
	for {
		select {
		case <-h.b.ctx.Done():
			return laneStop
		case m, ok := <-msgs:
			if !ok {
				return laneDeaf
			}
			lastRecv, probeSent = time.Now(), time.Time{}
			switch m := m.(type) {
			case *redis.Subscription:
				if !l.onSubscription(m) {
					return laneMoved
				}
			case *redis.Message:
				if m.Channel != l.probe {
					h.onMessage(m)
				}
			}
		case <-ticker.C:
			switch {
			case probeSent.IsZero() && time.Since(lastRecv) >= h.b.cfg.probeIdle:
				ctx, cancel := context.WithTimeout(h.b.ctx, time.Second)
				err := h.b.rdb.SPublish(ctx, l.probe, "p").Err()
				cancel()
				if err == nil {
					probeSent = time.Now()
				} // else Redis is unreachable: go-redis reconnects on its own
			case !probeSent.IsZero() && time.Since(probeSent) >= h.b.cfg.probeTimeout:
				h.b.cfg.log.Warn("pub/sub connection is deaf (probe not received); recreating it",
					"shard", l.key, "idle", time.Since(lastRecv).Round(time.Millisecond))
				return laneDeaf
			}
		}
	}
}

// onSubscription counts confirmations; it returns false when Redis dropped
// one of the lane's channels by itself (SUNSUBSCRIBE we never sent: the
// slot was migrated to another shard), so the lane must be dissolved and
// its tenant placed on a new one.
func (l *lane) onSubscription(s *redis.Subscription) bool {
	h := l.h
	h.mu.Lock()
	defer h.mu.Unlock()
	switch s.Kind {
	case "ssubscribe":
	case "sunsubscribe":
		h.b.cfg.log.Warn("redis dropped a shard channel (slot migrated); moving the lane's tenants", "shard", l.key, "channel", s.Channel)
		return false
	default:
		return true
	}
	if s.Channel == l.probe {
		l.probeN++
		if l.probeN > 1 {
			h.b.cfg.log.Info("pub/sub resubscribed after a reconnect", "shard", l.key)
		}
		return true
	}
	ts := h.tenants[s.Channel]
	if ts == nil || ts.lane != l {
		return true
	}
	ts.confs++
	if ts.confs == 1 {
		close(ts.confirmed)
		return true
	}
	// Resubscribed: whatever was published meanwhile is lost.
	h.b.stats.reconnects.Add(1)
	ts.lastSeq, ts.maxEpoch = 0, 0
	ts.resyncLocked()
	return true
}

// dissolve closes lane l after a slot migration and places its tenants on
// a new lane, connected to the shard that serves them now (a reload of
// go-redis' slot map first); their new confirmation resyncs them.
func (h *hub) dissolve(l *lane) {
	if cc, ok := h.b.rdb.(*redis.ClusterClient); ok {
		cc.ReloadState(h.b.ctx)
	}
	h.mu.Lock()
	l.closed = true
	if h.lanes[l.key] == l {
		delete(h.lanes, l.key)
	}
	var moved []*tenantSub
	for _, ts := range h.tenants {
		if ts.lane == l {
			ts.lane = nil
			moved = append(moved, ts)
		}
	}
	h.mu.Unlock()
	for _, ts := range moved {
		ctx, cancel := context.WithTimeout(h.b.ctx, h.b.cfg.subscribeTimeout)
		if err := h.place(ctx, ts); err != nil && h.b.ctx.Err() == nil {
			h.b.cfg.log.Warn("could not move a tenant channel to its new shard; its clients resync on the next subscribe", "tenant", ts.tenant, "err", err)
		}
		cancel()
	}
}

func (ts *tenantSub) resyncLocked() {
	for m := range ts.subs {
		m.Resync()
	}
}

// onMessage decodes one message of a tenant channel and hands it to the
// tenant's subscribers. Decoding runs before h.mu is taken: the lock is
// shared by every tenant of every lane, and only the order checks and the
// pushes into the mailboxes need it. A lane's messages are handled by its
// one reader goroutine, so they keep their order.
func (h *hub) onMessage(m *redis.Message) {
	ev, seq, bad, err := decodeMessage(m.Payload)
	h.mu.Lock()
	defer h.mu.Unlock()
	ts := h.tenants[m.Channel]
	if ts == nil {
		return
	}
	switch {
	case err != nil:
		h.b.cfg.log.Warn(bad, "tenant", ts.tenant, "err", err)
		return
	case bad != "":
		h.b.cfg.log.Warn(bad, "tenant", ts.tenant)
		return
	}
	ev.Tenant = ts.tenant
	if seq == 0 {
		ev.Epoch, ev.Seq = 0, 0
	} else {
		ev.Seq = seq
		switch {
		case ts.lastSeq == 0 || seq == ts.lastSeq+1:
		case seq > ts.lastSeq+1:
			h.b.stats.gaps.Add(1)
			h.b.cfg.log.Warn("sequence gap on a tenant channel; resyncing", "tenant", ts.tenant, "last", ts.lastSeq, "got", seq)
			ts.resyncLocked()
		default: // the counter went back: Redis lost its data
			h.b.stats.gaps.Add(1)
			h.b.cfg.log.Warn("sequence went back on a tenant channel; resyncing", "tenant", ts.tenant, "last", ts.lastSeq, "got", seq)
			ts.maxEpoch = 0
			ts.resyncLocked()
		}
		ts.lastSeq = seq
		if ev.Epoch < ts.maxEpoch {
			h.b.stats.staleEpoch.Add(1)
			return
		}
		ts.maxEpoch = ev.Epoch
	}
	for mb := range ts.subs {
		mb.Push(ev)
	}
}

// decodeMessage parses the payload of a tenant channel message: a fenced
// event and its sequence number, or an unfenced event (seq 0). A message
// that is not one is named by bad (the warning to log), with the decoding
// error if any.
func decodeMessage(payload string) (ev cluster.Event, seq uint64, bad string, err error) {
	switch {
	case strings.HasPrefix(payload, fencedPrefix):
		s, rest, ok := strings.Cut(payload[len(fencedPrefix):], ":")
		n, err := strconv.ParseUint(s, 10, 64)
		if !ok || err != nil {
			return ev, 0, "malformed fenced message", nil
		}
		seq, payload = n, rest
	case strings.HasPrefix(payload, unfencedPrefix):
		payload = payload[len(unfencedPrefix):]
	default:
		return ev, 0, "unknown message on a tenant channel", nil
	}
	if err := json.Unmarshal([]byte(payload), &ev); err != nil {
		return ev, 0, "malformed event", err
	}
	return ev, seq, "", nil
}
