package ws

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctiws/ctiws/directory"
)

// rooms is the set of NethCTI rooms a login joined (docs/protocol.md, section 3.1), as bits.
type rooms uint16

const (
	roomExtensionsClear rooms = 1 << iota
	roomExtensionsPrivacy
	roomQueuesClear
	roomQueuesPrivacy
	roomTrunksClear
	roomTrunksPrivacy
	roomParkingsClear
	roomParkingsPrivacy
	roomQManager
)

// roomsFor computes the rooms of a user from its profile (docs/protocol.md, section 3.1). Trunk
// events go to the trunks rooms (a fix: the original sent them to the
// extensions rooms).
func roomsFor(u *directory.User) rooms {
	if u == nil {
		return 0
	}
	p := u.Perms
	var r rooms
	pick := func(clear, privacy rooms, priv bool) rooms {
		if priv {
			return privacy
		}
		return clear
	}
	if p.PresencePanel {
		r |= pick(roomExtensionsClear, roomExtensionsPrivacy, p.Privacy)
	}
	if p.Queues || p.AdminQueues {
		r |= pick(roomQueuesClear, roomQueuesPrivacy, p.Privacy && !p.AdminQueues)
	}
	if p.Trunks {
		r |= pick(roomTrunksClear, roomTrunksPrivacy, p.Privacy)
	}
	if p.Parkings {
		r |= pick(roomParkingsClear, roomParkingsPrivacy, p.Privacy)
	}
	if p.QManager {
		r |= roomQManager
	}
	return r
}

// hub is a tenant's index of the logged-in sockets on this node, and the
// consumer of the tenant's bus events.
type hub struct {
	srv    *Server
	tenant *Tenant

	mu     sync.RWMutex
	all    map[*conn]*login
	byUser map[string]map[*conn]struct{}
	bySock map[string]*conn

	router *router
	// subscribed is set once the bus subscription of the tenant is live.
	subscribed atomic.Bool
}

func newHub(s *Server, t *Tenant) *hub {
	h := &hub{
		srv:    s,
		tenant: t,
		all:    map[*conn]*login{},
		byUser: map[string]map[*conn]struct{}{},
		bySock: map[string]*conn{},
	}
	h.router = newRouter(routerDeps{
		tenant:            t,
		sockets:           h,
		bus:               s.backend.Bus,
		log:               s.log,
		metrics:           s.metrics,
		panics:            s.panics,
		badLog:            s.badLog,
		deliverEveryState: s.opts.DeliverEveryState,
		slowConsumer:      s.slowConsumer,
		hook:              s.opts.hooks.route,
	})
	return h
}

func (h *hub) add(c *conn, l *login) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.all[c] = l
	set := h.byUser[l.username]
	if set == nil {
		set = map[*conn]struct{}{}
		h.byUser[l.username] = set
	}
	set[c] = struct{}{}
	h.bySock[c.socketID] = c
}

func (h *hub) remove(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	l, ok := h.all[c]
	if !ok {
		return
	}
	delete(h.all, c)
	if set := h.byUser[l.username]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(h.byUser, l.username)
		}
	}
	delete(h.bySock, c.socketID)
}

// replace swaps a socket's login for a reloaded one, unless the socket
// already logged out. The user does not change, so the indexes stay.
func (h *hub) replace(c *conn, nl *login) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.all[c]; ok {
		h.all[c] = nl
	}
}

// each calls fn for every logged-in local socket under the read lock,
// which is released even if fn panics.
func (h *hub) each(fn func(c *conn, l *login)) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c, l := range h.all {
		fn(c, l)
	}
}

// eachOf calls fn for every local socket of the given users under the
// read lock, which is released even if fn panics.
func (h *hub) eachOf(usernames []string, fn func(c *conn, l *login)) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, u := range usernames {
		for c := range h.byUser[u] {
			fn(c, h.all[c])
		}
	}
}

// deliverToSocket sends frame to one local socket, if it is here.
func (h *hub) deliverToSocket(id string, frame []byte) bool {
	h.mu.RLock()
	c := h.bySock[id]
	h.mu.RUnlock()
	if c == nil {
		return false
	}
	c.send(frame)
	return true
}

// userConns returns the local sockets of a user.
func (h *hub) userConns(username string) []*conn {
	h.mu.RLock()
	defer h.mu.RUnlock()
	set := h.byUser[username]
	out := make([]*conn, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	return out
}

// run subscribes to the tenant's bus events (retrying with a back-off
// while the bus refuses) and loads the state, then waits for ctx.
func (h *hub) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for {
		err := h.srv.backend.Bus.Subscribe(ctx, h.tenant.ID, h.router.handle)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return
		}
		h.srv.log.Warn("bus subscription failed; retrying", "tenant", h.tenant.ID, "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
	h.subscribed.Store(true)
	// Subscribed first, state second: an event is either in the state or
	// arrives after it (older ones are skipped by sequence number).
	h.router.loadFirst(ctx)
	<-ctx.Done()
}
