package ws

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/internal/guard"
	"github.com/ctiws/ctiws/internal/lograte"
	"github.com/ctiws/ctiws/pbx"
)

// Client event names (docs/protocol.md, section 4).
const (
	evExtenUpdate        = "extenUpdate"
	evUserMainPresence   = "userMainPresenceUpdate"
	evUserPresence       = "userPresenceUpdate"
	evTrunkUpdate        = "trunkUpdate"
	evQueueUpdate        = "queueUpdate"
	evQueueMemberUpdate  = "queueMemberUpdate"
	evParkingUpdate      = "parkingUpdate"
	evExtenRinging       = "extenRinging"
	evExtenConnected     = "extenConnected"
	evExtenConvConnected = "extenConvConnected"
	evExtenHangup        = "extenHangup"
	evConfBridgeUpdate   = "confBridgeUpdate"
	evConfBridgeEnd      = "confBridgeEnd"
	evMeetmeConfUpdate   = "meetmeConfUpdate"
	evMeetmeConfEnd      = "meetmeConfEnd"
	evUpdateNewVoiceMsgs = "updateNewVoiceMessages"
	evNewVoiceMsgCounter = "newVoiceMessageCounter"
	evServerReloaded     = "serverReloaded"
	evStreamSubscription = "streamSubscription" // node-internal
	evPasswordChanged    = "passwordChanged"    // node-internal
	evQMAlarm            = "qmAlarm"
	targetSocketPrefix   = "socket:"
	targetRoomPrefix     = "room:"
	targetStreamPrefix   = "stream:"
	targetAllLoggedIn    = ""
	roomNameQManager     = "qmanager"
	objectPrefixExten    = pbx.KeyExten
	objectPrefixQueue    = pbx.KeyQueue
	objectPrefixMember   = pbx.KeyQueueMember
	objectPrefixTrunk    = pbx.KeyTrunk
	objectPrefixParking  = pbx.KeyParking
	objectPrefixConf     = pbx.KeyConf
	presenceOnline       = "online"
	presenceDND          = "dnd"
	presenceVoicemail    = "voicemail"
	presenceCellphone    = "cellphone"
	presenceCallforward  = "callforward"
	statusBusy           = "busy"
	statusRinging        = "ringing"
	statusOffline        = "offline"
)

// routerDeps is what a tenant's router needs from the node. It is handed
// over when the router is built, so the router never reaches into the
// Server.
type routerDeps struct {
	tenant *Tenant
	// sockets are the tenant's logged-in local sockets.
	sockets *socketIndex
	bus     cluster.Bus
	log     *slog.Logger
	metrics *Metrics
	panics  *guard.Panics
	badLog  *lograte.Limiter
	// deliverEveryState turns state conflation off
	// (Options.DeliverEveryState).
	deliverEveryState bool
	// slowConsumer disconnects a socket whose queue is full.
	slowConsumer func(*conn)
	// hook, when set, runs before each bus event (in-package tests).
	hook func(tenant string, ev cluster.Event)
	// stateTimeout bounds one read of the tenant's state from the bus.
	stateTimeout time.Duration
}

// router (a tenant's event router) turns a tenant's bus events into
// client frames for the local sockets. Payloads are serialised once per
// privacy variant, never once per socket. It keeps the last state of extensions and conferences, which the
// presence and conference routing rules need.
//
// The code is split by concern: router.go (the bus subscription, events
// in, the resync signal and the events a state load already holds), router_state.go (the state cache and its loads),
// router_pbx.go (owner events → client events), router_presence.go
// (presence rules), router_deliver.go (the fan-out to sockets) and
// router_node.go (events published by nodes).
type router struct {
	routerDeps

	mu sync.Mutex
	// seq is the last owner event routed or the sequence of the state
	// loaded last, whichever is newer: events up to it are not routed
	// again.
	seq   uint64
	state stateCache
	// load is the progress of reading the state from the bus.
	load stateLoad
	// wake lists the sockets that got frames in the current batch and
	// whose flusher must be started once the batch is routed.
	wake []*socket
	// spare is the array of an earlier batch's wake list, for the next.
	spare []*socket
	// conflated counts the frames of this batch that replaced a queued
	// frame of the same object.
	conflated int
	// routing is the bus event being routed while inRoute, for tracing
	// sockets (under mu; a copy, so routing allocates nothing).
	routing cluster.Event
	inRoute bool
	// subscribed is set once the bus subscription of the tenant is live.
	subscribed atomic.Bool
}

func newRouter(d routerDeps) *router {
	if d.stateTimeout <= 0 {
		d.stateTimeout = defaultStateTimeout
	}
	return &router{routerDeps: d, state: newStateCache()}
}

// run subscribes to the tenant's bus events (retrying with a back-off
// while the bus refuses) and loads the state, then waits for ctx.
func (r *router) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for {
		err := r.bus.Subscribe(ctx, r.tenant.ID, r.handle)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		r.log.Warn("bus subscription failed; retrying", "tenant", r.tenant.ID, "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	r.subscribed.Store(true)
	// Subscribed first, state second: an event is either in the state or
	// arrives after it (older ones are skipped by sequence number).
	r.loadFirst(ctx)
	<-ctx.Done()
}

// defaultStateTimeout bounds a state read from the bus.
const defaultStateTimeout = 5 * time.Second

// handle is the bus callback: the events of one tenant arrive in order, in
// batches of whatever was pending. Every frame of the batch is queued
// first; only then are the sockets' writers woken, so the frames one
// socket got from the batch (an extenUpdate and its userMainPresenceUpdate,
// or several changes under load) leave in one write.
func (r *router) handle(evs []cluster.Event) {
	for len(evs) > 0 {
		chunk := evs[:min(len(evs), maxBatchEvents)]
		evs = evs[len(chunk):]
		r.batch(func() {
			for _, ev := range chunk {
				r.handleOne(ev)
			}
		})
	}
}

// maxBatchEvents bounds the events routed before the writers are woken: a
// backlog of thousands of events must not hold every frame back until the
// last one is routed.
const maxBatchEvents = 64

// maxSpareWake is the longest wake list kept for the next batch (a
// fan-out to every socket of a tenant fills one per batch).
const maxSpareWake = 1 << 16

// batch runs route with r.mu held, then wakes the writers of every socket
// that got frames.
func (r *router) batch(route func()) {
	r.mu.Lock()
	route()
	wake, conflated := r.wake, r.conflated
	r.wake, r.conflated = r.spare, 0
	r.spare = nil
	r.mu.Unlock()
	wakeAll(wake)
	clear(wake)
	r.mu.Lock()
	if r.spare == nil && cap(wake) <= maxSpareWake {
		r.spare = wake[:0]
	}
	r.mu.Unlock()
	if conflated > 0 {
		r.metrics.Conflated.WithLabelValues(r.tenant.ID).Add(float64(conflated))
	}
}

// handleOne counts one bus event and routes it; r.mu is held.
func (r *router) handleOne(ev cluster.Event) {
	start := time.Now()
	m := r.metrics
	m.EventsReceived.WithLabelValues(r.tenant.ID, ev.Name).Inc()
	if ev.Time > 0 {
		m.BusLag.Observe(time.Since(time.Unix(0, ev.Time)).Seconds())
	}
	r.routing, r.inRoute = ev, true
	r.guarded(ev, r.dispatch, true)
	r.routing, r.inRoute = cluster.Event{}, false
	m.FanoutDuration.Observe(time.Since(start).Seconds())
}

// guarded routes one event with route (after the test hook, when hooked). A panic
// while routing drops this event only: it is logged and counted, and the
// next event reloads the state (the caches may be half updated). Other
// tenants have routers of their own. r.mu is held by batch, which goes on
// with the next event.
func (r *router) guarded(ev cluster.Event, route func(cluster.Event), hooked bool) {
	defer r.panics.Recover(guard.Router, r.tenant.ID, func(error) {
		r.load.done = false
	})
	if hooked && r.hook != nil {
		r.hook(r.tenant.ID, ev)
	}
	route(ev)
}

// dispatch routes one event once the first state is in; r.mu is held.
// The order rules are the bus's (docs/cluster.md, "Bus"): a tenant's
// owner events come in Seq order, a former owner's are fenced out, and a
// loss arrives as a resync signal. The router only reacts to that signal
// by reading the state again (in the background; routing goes on
// meanwhile) and skips the events the state it loaded already holds.
func (r *router) dispatch(ev cluster.Event) {
	if !r.load.done && r.hold(ev) {
		// Nothing is routed before the first state is in: presence rules
		// need the other extensions' states.
		return
	}
	r.route(ev)
}

// route is dispatch without the wait for the first state.
func (r *router) route(ev cluster.Event) {
	switch {
	case ev.Name == cluster.EvResync && ev.Seq == 0:
		// From the bus (e.g. after a reconnect): events may have been
		// lost, and Redis may have lost its counters too, so the next
		// owner event may number from 1 again. Re-read the state; until
		// it is in, the sequence base is unknown: the events that come
		// meanwhile are routed, and the read keeps what they changed
		// (sequence numbers within one counter).
		r.seq = 0
		r.startLoad(true)
	case ev.Epoch == 0:
		r.nodeEvent(ev)
	default:
		if ev.Seq <= r.seq {
			// Older than the state loaded last: an object event is
			// already applied (seq is per tenant, across epochs), but a
			// notification (ringing, hangup…) is not in the state.
			if ev.Key == "" {
				r.pbxEvent(ev)
			}
			return
		}
		r.seq = ev.Seq
		r.load.touch(ev)
		if ev.Key != "" && !ev.Del && r.state.unchanged(ev.Key, ev.Data) {
			// Unchanged object (e.g. a new owner re-publishing its whole
			// snapshot): clients already have it.
			r.metrics.UnchangedSkipped.WithLabelValues(r.tenant.ID).Inc()
			return
		}
		r.pbxEvent(ev)
	}
}

// bad counts and logs an undecodable bus event.
func (r *router) bad(ev cluster.Event, err error) {
	r.metrics.BadFrames.WithLabelValues(r.tenant.ID, "bad_bus_event").Inc()
	r.badLog.Warn("bad_bus_event", "undecodable bus event dropped", "tenant", r.tenant.ID, "event", ev.Name, "err", err)
}
