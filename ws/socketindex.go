package ws

import (
	"sync"
)

// socketIndex is a tenant's index of its logged-in sockets on this node,
// by socket and by user. The tenant's event router delivers through it;
// login and logout keep it current.
//
// Every socket is in a dense slice (list) as well: a fan-out to all of a
// tenant's sockets walks an array instead of a map, once per event and
// thousands of sockets long.
type socketIndex struct {
	mu     sync.RWMutex
	all    map[*conn]int // socket -> its position in list
	list   []member
	byUser map[string]map[*conn]struct{}
	bySock map[string]*conn
}

// member is a logged-in socket and its login, with what a fan-out needs
// of the login's user at hand in the index's array: the privacy variant
// the login gets of other users' extensions (sees) and a 64-bit digest of
// the user's extensions (exts), so a fan-out looks at a user's own data
// only for a socket that might be its owner's.
type member struct {
	c    *conn
	l    *login
	sock *socket // c.sock; nil for a tracing socket (c.trace is set)
	sees variant
	exts uint64
}

// newMember returns the index entry of a socket and its login.
func newMember(c *conn, l *login) member {
	m := member{c: c, l: l, sees: seesOf(l.user)}
	if c != nil && c.trace == nil {
		m.sock = c.sock
	}
	if l.user != nil {
		for i := range l.user.Extensions {
			m.exts |= extBit(l.user.Extensions[i].ID)
		}
	}
	return m
}

// extBit is an extension's bit in member.exts.
func extBit(exten string) uint64 {
	h := uint32(2166136261) // FNV-1a
	for i := 0; i < len(exten); i++ {
		h = (h ^ uint32(exten[i])) * 16777619
	}
	return 1 << (h % 64)
}

func newSocketIndex() *socketIndex {
	return &socketIndex{
		all:    map[*conn]int{},
		byUser: map[string]map[*conn]struct{}{},
		bySock: map[string]*conn{},
	}
}

func (h *socketIndex) add(c *conn, l *login) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if i, ok := h.all[c]; ok {
		h.list[i] = newMember(c, l)
	} else {
		h.all[c] = len(h.list)
		h.list = append(h.list, newMember(c, l))
	}
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
	i, ok := h.all[c]
	if !ok {
		return
	}
	l := h.list[i].l
	last := len(h.list) - 1
	if i != last {
		h.list[i] = h.list[last]
		h.all[h.list[i].c] = i
	}
	h.list[last] = member{}
	h.list = h.list[:last]
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
	if i, ok := h.all[c]; ok {
		h.list[i] = newMember(c, nl)
	}
}

// each calls fn for every logged-in local socket under the read lock,
// which is released even if fn panics.
func (h *socketIndex) each(fn func(c *conn, l *login)) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, m := range h.list {
		fn(m.c, m.l)
	}
}

// members calls fn for every logged-in local socket under the read lock,
// which is released even if fn panics.
func (h *socketIndex) members(fn func(m *member)) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for i := range h.list {
		fn(&h.list[i])
	}
}

// membersOf calls fn for every local socket of the given users under the
// read lock, which is released even if fn panics.
func (h *socketIndex) membersOf(usernames []string, fn func(m *member)) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, u := range usernames {
		for c := range h.byUser[u] {
			fn(&h.list[h.all[c]])
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
