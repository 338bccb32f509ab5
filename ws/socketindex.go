package ws

import (
	"sync"
)

// socketIndex is a tenant's index of its logged-in sockets on this node,
// by socket and by user. The tenant's event router delivers through it;
// login and logout keep it current.
type socketIndex struct {
	mu     sync.RWMutex
	all    map[*conn]*login
	byUser map[string]map[*conn]struct{}
	bySock map[string]*conn
}

func newSocketIndex() *socketIndex {
	return &socketIndex{
		all:    map[*conn]*login{},
		byUser: map[string]map[*conn]struct{}{},
		bySock: map[string]*conn{},
	}
}

func (h *socketIndex) add(c *conn, l *login) {
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

func (h *socketIndex) remove(c *conn) {
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
func (h *socketIndex) replace(c *conn, nl *login) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.all[c]; ok {
		h.all[c] = nl
	}
}

// each calls fn for every logged-in local socket under the read lock,
// which is released even if fn panics.
func (h *socketIndex) each(fn func(c *conn, l *login)) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c, l := range h.all {
		fn(c, l)
	}
}

// eachOf calls fn for every local socket of the given users under the
// read lock, which is released even if fn panics.
func (h *socketIndex) eachOf(usernames []string, fn func(c *conn, l *login)) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, u := range usernames {
		for c := range h.byUser[u] {
			fn(c, h.all[c])
		}
	}
}

// deliverToSocket sends frame to one local socket, if it is here.
func (h *socketIndex) deliverToSocket(id string, frame []byte) bool {
	h.mu.RLock()
	c := h.bySock[id]
	h.mu.RUnlock()
	if c == nil {
		return false
	}
	c.send(frame)
	return true
}

// disconnectSocket sends the Socket.IO disconnect (41) to one local
// socket, if it is here, and closes it (counted with reason).
func (h *socketIndex) disconnectSocket(id, reason string) bool {
	h.mu.RLock()
	c := h.bySock[id]
	h.mu.RUnlock()
	if c == nil {
		return false
	}
	c.disconnect(reason)
	return true
}

// userConns returns the local sockets of a user.
func (h *socketIndex) userConns(username string) []*conn {
	h.mu.RLock()
	defer h.mu.RUnlock()
	set := h.byUser[username]
	out := make([]*conn, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	return out
}
