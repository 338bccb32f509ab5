package ws

import (
	"cmp"
	"context"
	"slices"

	"github.com/ctiws/ctiws/cluster"
)

// evSocketCap is the node-to-node event that closes one socket (Target
// "socket:<id>") because its user logged in more than
// Limits.MaxSocketsPerUser sockets.
const evSocketCap = "socketCap"

// userSessions lists the user's logged-in sockets in the cluster, oldest
// first. When the session store fails, the sockets of this node stand in,
// so the take-over and the socket cap still apply here.
func (s *Server) userSessions(ctx context.Context, c *conn, l *login) []cluster.Session {
	sessions, err := s.backend.Sessions.UserSessions(ctx, c.tenant.ID, l.username)
	if err == nil {
		return sessions
	}
	s.log.Warn("user sessions lookup failed; take-over and socket cap use this node's sockets", "tenant", c.tenant.ID, "user", l.username, "err", err)
	for _, o := range c.tenant.sockets.userConns(l.username) {
		if ol := o.currentLogin(); ol != nil {
			sessions = append(sessions, cluster.Session{ID: o.socketID, Tenant: c.tenant.ID, User: l.username,
				UAType: ol.uaType, Node: s.opts.NodeID, LoginAt: ol.at.Unix()})
		}
	}
	slices.SortFunc(sessions, cluster.CompareSessions)
	return sessions
}

// capSockets closes the user's oldest sockets, cluster-wide, so that with
// the one that just logged in (c) at most Limits.MaxSocketsPerUser are
// left. The newest login always wins: a client that reconnects is never
// locked out by its own half-dead sockets, which are the oldest. A closed
// socket gets the Socket.IO disconnect (41), so it does not reconnect by
// itself and evict another in turn. It runs after the session is stored,
// so of logins racing on several nodes the last to read sees them all and
// the count converges on the cap (docs/security.md, section 5).
func (s *Server) capSockets(ctx context.Context, c *conn, l *login, sessions []cluster.Session) {
	closed, total := overCap(sessions, c.socketID, s.opts.Limits.MaxSocketsPerUser)
	if len(closed) == 0 {
		return
	}
	s.badLog.Warn("socket_cap", "too many sockets of one user: the oldest are closed", "tenant", c.tenant.ID, "user", l.username,
		"sockets", total, "max", s.opts.Limits.MaxSocketsPerUser)
	for _, o := range closed {
		s.metrics.LimitRejects.WithLabelValues(c.tenant.ID, limitSocketsPerUser).Inc()
		if o.Node == s.opts.NodeID {
			c.tenant.sockets.disconnectSocket(o.ID, reasonSocketCap)
			continue
		}
		ev := cluster.Event{Tenant: c.tenant.ID, Name: evSocketCap, Target: targetSocketPrefix + o.ID, Origin: s.opts.NodeID}
		if err := s.backend.Bus.Publish(ctx, ev); err != nil {
			s.log.Warn("socket cap publish failed", "tenant", c.tenant.ID, "err", err)
		}
	}
}

// overCap returns the oldest of the user's sockets other than id (of
// sessions, read after id's login was stored) that must close so that at
// most limit are left with id, and how many there are with id. Oldest is the
// store's login order (Session.Seq) when every session has a number, else
// the order of sessions (login time in seconds, then id).
func overCap(sessions []cluster.Session, id string, limit int) (closed []cluster.Session, total int) {
	others := make([]cluster.Session, 0, len(sessions))
	numbered := true
	for _, o := range sessions {
		if o.ID != id {
			others = append(others, o)
			numbered = numbered && o.Seq > 0
		}
	}
	if numbered {
		slices.SortStableFunc(others, func(a, b cluster.Session) int { return cmp.Compare(a.Seq, b.Seq) })
	}
	excess := len(others) + 1 - limit
	if excess <= 0 {
		return nil, len(others) + 1
	}
	return others[:excess], len(others) + 1
}
