package ws

import (
	"errors"

	"github.com/ctiws/ctiws/cluster"

	"github.com/ctiws/ctiws/ws/eio"
)

// queue adds a frame to a socket's queue within a batch; key ("" for
// none) lets a newer state of the same object replace it while unsent.
// The socket's writer is woken when the batch ends (see socket).
func (r *router) queue(m *member, frame []byte, key string) {
	if r.deliverEveryState {
		key = ""
	}
	r.enqueue(m, frame, key)
}

// enqueue is queue without DeliverEveryState: key always conflates.
func (r *router) enqueue(m *member, frame []byte, key string) {
	c := m.c
	if c.closed.Load() {
		return
	}
	if m.sock == nil {
		var cause *cluster.Event
		if r.inRoute {
			ev := r.routing
			cause = &ev
		}
		c.trace(TracedFrame{Frame: frame, Cause: cause})
		return
	}
	var at int64 // the bus event's publish stamp, for ctiws_event_to_write_seconds
	if r.inRoute {
		at = r.routing.Time
	}
	wake, replaced, err := m.sock.queueClaim(opText, frame, key, at)
	switch {
	case errors.Is(err, errQueueFull):
		r.slowConsumer(c)
	case wake:
		r.wake = append(r.wake, m.sock)
	case replaced:
		r.conflated++
	}
}

// sockets is a set of logged-in local sockets: it calls fn for each.
type sockets func(fn func(m *member))

// fanout is the one delivery loop of the router: it queues, to every
// socket of to, the frame pick chooses for it (nil: nothing), with key as
// for queue, and counts the deliveries of event name.
func (r *router) fanout(to sockets, name, key string, pick func(m *member) []byte) {
	n := 0
	to(func(m *member) {
		if f := pick(m); f != nil {
			r.queue(m, f, key)
			n++
		}
	})
	r.metrics.EventsDelivered.WithLabelValues(r.tenant.ID, name).Add(float64(n))
}

// frame is a pick that gives every socket the same frame.
func frame(f []byte) func(*member) []byte {
	return func(*member) []byte { return f }
}

// all is every logged-in local socket of the tenant.
func (r *router) all() sockets { return r.sockets.members }

// users are the local sockets of the given (lower-cased) users.
func (r *router) users(names []string) sockets {
	return func(fn func(*member)) { r.sockets.membersOf(names, fn) }
}

// broadcast sends a frame to every logged-in local socket now (outside a
// bus batch, e.g. after a reload).
func (r *router) broadcast(f []byte, name string) {
	r.batch(func() { r.fanout(r.all(), name, "", frame(f)) })
}

// toUsers sends frame to every local socket of the given users; key as
// for queue.
func (r *router) toUsers(users []string, f []byte, name, key string) {
	r.fanout(r.users(users), name, key, frame(f))
}

// toAll sends frame to every logged-in local socket; key as for queue.
func (r *router) toAll(f []byte, name, key string) {
	r.fanout(r.all(), name, key, frame(f))
}

// toUsersDroppable sends a frame user from sent another (a relay, a
// post-it) to every local socket of a user, but never fills a receiver's
// queue past half, nor past from's share of it: a flood is dropped and
// counted (limit) at the receiver, it never disconnects it as a slow
// consumer and leaves room for other senders.
func (r *router) toUsersDroppable(user, from string, frame []byte, name, limit string) {
	n := 0
	for _, c := range r.sockets.userConns(user) {
		if c.sendDroppable(frame, from) {
			n++
		} else {
			r.metrics.LimitRejects.WithLabelValues(r.tenant.ID, limit).Inc()
		}
	}
	r.metrics.EventsDelivered.WithLabelValues(r.tenant.ID, name).Add(float64(n))
}

// toAllLatest sends a frame of a user's own state (an avatar) to every
// logged-in local socket with a key that conflates even under
// DeliverEveryState: a receiver's queue holds at most the newest unsent
// frame of the key, so one user's flood never makes it a slow consumer.
func (r *router) toAllLatest(f []byte, name, key string) {
	n := 0
	r.all()(func(m *member) {
		r.enqueue(m, f, key)
		n++
	})
	r.metrics.EventsDelivered.WithLabelValues(r.tenant.ID, name).Add(float64(n))
}

// Privacy variants.
const (
	variantClear      = "clear"
	variantMasked     = "masked"
	variantMaskedOutQ = "masked-out-of-queue"
)

// variant is a privacy variant as a small number, so a fan-out picks a
// socket's frame by index (variantNames gives its name).
type variant uint8

const (
	vClear variant = iota
	vMasked
	vMaskedOutQ
	numVariants
)

var variantNames = [numVariants]string{variantClear, variantMasked, variantMaskedOutQ}

// variantCache builds each privacy variant of a payload at most once.
type variantCache struct {
	name   string
	frames [numVariants][]byte
	built  [numVariants]bool
	build  func(variant string) ([]byte, error)
	r      *router
}

func (v *variantCache) get(vr variant) []byte {
	if v.built[vr] {
		return v.frames[vr]
	}
	v.built[vr] = true
	payload, err := v.build(variantNames[vr])
	if err != nil {
		v.r.log.Warn("payload serialisation failed", "event", v.name, "err", err)
		return nil
	}
	v.r.metrics.Serialisations.WithLabelValues(v.name).Inc()
	f := eio.Event(v.name, payload)
	v.frames[vr] = f
	return f
}

func (r *router) variants(name string, build func(variant string) ([]byte, error)) *variantCache {
	return &variantCache{name: name, build: build, r: r}
}
