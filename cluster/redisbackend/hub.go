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

// hub owns the node's single pub/sub connection. Every tenant channel a
// local subscriber asked for stays subscribed for the life of the backend;
// local subscribers of a tenant are fanned out from one reader goroutine
// into bounded mailboxes, so a slow subscriber never stalls the connection.
//
// Resync signals are queued for a tenant's subscribers when:
//   - Redis confirms the tenant's channel again (go-redis reconnected and
//     resubscribed, or the hub recreated the connection): messages published
//     meanwhile are lost (pub/sub is at-most-once);
//   - a fenced event's Seq is not the previous Seq + 1 (a gap, or a
//     regression after Redis lost its data);
//   - a subscriber's mailbox overflowed.
//
// A deafness probe covers a connection that looks healthy but receives
// nothing (centrifugo issue #1189): after probeIdle without any message the
// hub publishes to its own probe channel on the same connection; if nothing
// arrives within probeTimeout it recreates the connection.
type hub struct {
	b     *Backend
	probe string

	mu      sync.Mutex
	started bool
	ps      *redis.PubSub
	tenants map[string]*tenantSub // by channel
	probeN  int                   // confirmations of the probe channel
	done    chan struct{}
}

type tenantSub struct {
	tenant    string
	channel   string
	confs     int
	confirmed chan struct{} // closed on the first confirmation
	subs      map[*mailbox.Mailbox]struct{}
	lastSeq   uint64
	maxEpoch  uint64
}

func newHub(b *Backend) *hub {
	return &hub{b: b, probe: probeChannel(b.instance), tenants: map[string]*tenantSub{}, done: make(chan struct{})}
}

// wait blocks until the reader goroutine (if any) has stopped; the backend
// context must already be cancelled.
func (h *hub) wait() {
	h.mu.Lock()
	started := h.started
	h.mu.Unlock()
	if started {
		<-h.done
	}
}

func (h *hub) subscribe(ctx context.Context, tenant string, fn func([]cluster.Event)) error {
	if tenant == "" {
		return errors.New("redis backend: subscribe: empty tenant")
	}
	if err := h.b.ctx.Err(); err != nil {
		return errors.New("redis backend: subscribe: backend closed")
	}
	ch := eventsChannel(tenant)
	m := mailbox.New(tenant, h.b.cfg.queueSize, &h.b.stats.Counters)
	h.mu.Lock()
	if !h.started {
		h.started = true
		go h.run()
	}
	ts := h.tenants[ch]
	isNew := ts == nil
	if isNew {
		ts = &tenantSub{tenant: tenant, channel: ch, confirmed: make(chan struct{}), subs: map[*mailbox.Mailbox]struct{}{}}
		h.tenants[ch] = ts
	}
	ts.subs[m] = struct{}{}
	ps := h.ps
	h.mu.Unlock()

	if isNew && ps != nil {
		// Errors are not final: go-redis keeps the channel and subscribes it
		// on its next (re)connection; the wait below decides.
		if err := ps.Subscribe(ctx, ch); err != nil {
			h.b.cfg.log.Debug("pub/sub subscribe failed; waiting for a reconnect", "tenant", tenant, "err", err)
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
		err = errors.New("backend closed")
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

func (h *hub) drop(ts *tenantSub, m *mailbox.Mailbox) {
	h.mu.Lock()
	delete(ts.subs, m)
	h.mu.Unlock()
}

// run owns the pub/sub connection until the backend closes, recreating it
// when the deafness probe fails.
func (h *hub) run() {
	defer close(h.done)
	for h.b.ctx.Err() == nil {
		h.mu.Lock()
		ps := h.b.rdb.Subscribe(h.b.ctx) // no channels: no I/O yet
		h.ps = ps
		chans := []string{h.probe}
		for ch := range h.tenants {
			chans = append(chans, ch)
		}
		h.mu.Unlock()
		if err := ps.Subscribe(h.b.ctx, chans...); err != nil && h.b.ctx.Err() == nil {
			h.b.cfg.log.Warn("pub/sub subscribe failed; go-redis will retry", "err", err)
		}
		msgs := ps.ChannelWithSubscriptions(redis.WithChannelSize(h.b.cfg.pubsubBuffer))
		deaf := h.loop(msgs)
		h.mu.Lock()
		h.ps = nil
		h.mu.Unlock()
		_ = ps.Close()
		if deaf {
			h.b.stats.deaf.Add(1)
			select {
			case <-h.b.ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// loop reads one pub/sub connection; it returns true when the connection
// must be recreated.
func (h *hub) loop(msgs <-chan any) bool {
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
			return false
		case m, ok := <-msgs:
			if !ok {
				return true
			}
			lastRecv, probeSent = time.Now(), time.Time{}
			switch m := m.(type) {
			case *redis.Subscription:
				h.onSubscription(m)
			case *redis.Message:
				if m.Channel != h.probe {
					h.onMessage(m)
				}
			}
		case <-ticker.C:
			switch {
			case probeSent.IsZero() && time.Since(lastRecv) >= h.b.cfg.probeIdle:
				ctx, cancel := context.WithTimeout(h.b.ctx, time.Second)
				err := h.b.rdb.Publish(ctx, h.probe, "p").Err()
				cancel()
				if err == nil {
					probeSent = time.Now()
				} // else Redis is unreachable: go-redis reconnects on its own
			case !probeSent.IsZero() && time.Since(probeSent) >= h.b.cfg.probeTimeout:
				h.b.cfg.log.Warn("pub/sub connection is deaf (probe not received); recreating it",
					"idle", time.Since(lastRecv).Round(time.Millisecond))
				return true
			}
		}
	}
}

func (h *hub) onSubscription(s *redis.Subscription) {
	if s.Kind != "subscribe" {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.Channel == h.probe {
		h.probeN++
		if h.probeN > 1 {
			h.b.cfg.log.Info("pub/sub resubscribed after a reconnect")
		}
		return
	}
	ts := h.tenants[s.Channel]
	if ts == nil {
		return
	}
	ts.confs++
	if ts.confs == 1 {
		close(ts.confirmed)
		return
	}
	// Resubscribed: whatever was published meanwhile is lost.
	h.b.stats.reconnects.Add(1)
	ts.lastSeq, ts.maxEpoch = 0, 0
	ts.resyncLocked()
}

func (ts *tenantSub) resyncLocked() {
	for m := range ts.subs {
		m.Resync()
	}
}

func (h *hub) onMessage(m *redis.Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ts := h.tenants[m.Channel]
	if ts == nil {
		return
	}
	var (
		ev      cluster.Event
		seq     uint64
		payload string
	)
	switch {
	case strings.HasPrefix(m.Payload, fencedPrefix):
		s, rest, ok := strings.Cut(m.Payload[len(fencedPrefix):], ":")
		n, err := strconv.ParseUint(s, 10, 64)
		if !ok || err != nil {
			h.b.cfg.log.Warn("malformed fenced message", "tenant", ts.tenant)
			return
		}
		seq, payload = n, rest
	case strings.HasPrefix(m.Payload, unfencedPrefix):
		payload = m.Payload[len(unfencedPrefix):]
	default:
		h.b.cfg.log.Warn("unknown message on a tenant channel", "tenant", ts.tenant)
		return
	}
	if err := json.Unmarshal([]byte(payload), &ev); err != nil {
		h.b.cfg.log.Warn("malformed event", "tenant", ts.tenant, "err", err)
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
