package ws

import (
	"context"
	"encoding/json"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/pbx"
	"github.com/ctiws/ctiws/ws/auth"
	"github.com/ctiws/ctiws/ws/eio"
)

var (
	autheOK      = eio.Event("authe_ok", []byte(`{"message":"authorized successfully"}`))
	unauthorized = eio.Event("401", []byte(`{"message":"unauthorized access"}`))
	takeOver     = eio.Event("takeOver")
)

// Internal bus event names (node to node).
const (
	evTakeOver = "takeOver"
	evMessage  = "message"
)

// Commands sent to the owner of a tenant when a user's first socket logs in
// or the last one goes away (docs/protocol.md, section 2.5).
const (
	CmdUserLoggedIn  = pbx.CmdUserLoggedIn
	CmdUserLoggedOut = pbx.CmdUserLoggedOut
)

// loginRequest is the payload of the `login` event (docs/protocol.md, section 2.1).
type loginRequest struct {
	AccessKeyID any `json:"accessKeyId"`
	Token       any `json:"token"`
	UAType      any `json:"uaType"`
}

// validateLogin applies the checks of docs/protocol.md, section 2.1.
func validateLogin(raw json.RawMessage) (accessKey, token, uaType string, err error) {
	if len(raw) == 0 || raw[0] != '{' {
		return "", "", "", errLogin("payload is not an object")
	}
	var req loginRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return "", "", "", errLogin("payload is not an object")
	}
	ak, ok1 := req.AccessKeyID.(string)
	tok, ok2 := req.Token.(string)
	if !ok1 || !ok2 {
		return "", "", "", errLogin("accessKeyId and token must be strings")
	}
	if ak == "" || tok == "" {
		return "", "", "", errLogin("accessKeyId and token must not be empty")
	}
	if len(ak) > 256 || len(tok) > 4096 {
		return "", "", "", errLogin("accessKeyId or token too long")
	}
	if ua, isString := req.UAType.(string); isString {
		if ua != "desktop" && ua != "mobile" {
			return "", "", "", errLogin("uaType must be desktop or mobile")
		}
		uaType = ua
	}
	// A non-string uaType is not rejected by the original; it is treated as
	// absent (no take-over).
	return ak, tok, uaType, nil
}

// handleLogin runs the login procedure of docs/protocol.md, sections 2.1–2.4. Repeated logins on one
// socket re-run it (and may switch user).
func (s *Server) handleLogin(c *conn, raw json.RawMessage) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	t := c.tenant
	accessKey, token, uaType, err := validateLogin(raw)
	var user *directory.User
	var username string
	if err == nil {
		user, username, err = s.auth.authenticate(ctx, t, accessKey, token)
	}
	if err != nil {
		result := "refused"
		if !refused(err) {
			result = "error"
		}
		s.metrics.Logins.WithLabelValues(t.ID, result).Inc()
		s.auth.loginFailed(t, "socket login", accessKey, err, "socket", c.socketID)
		// A repeated login that fails logs the socket out first.
		c.mu.Lock()
		old := c.login
		c.login = nil
		c.mu.Unlock()
		if old != nil {
			s.logout(c, old)
		}
		c.send(unauthorized)
		c.disconnect(reasonLoginFailed)
		return
	}
	l := &login{
		user:      user,
		username:  username,
		accessKey: accessKey,
		uaType:    uaType,
		tokenHash: auth.HashToken(token),
		at:        time.Now(),
	}
	l.rooms = roomsFor(user)

	c.mu.Lock()
	old := c.login
	c.login = l
	c.mu.Unlock()
	if c.closed.Load() {
		return
	}
	if old != nil {
		t.sockets.remove(c)
		if old.username != l.username {
			s.logout(c, old)
		}
	}
	first, err := s.backend.Sessions.Add(ctx, cluster.Session{
		ID: c.socketID, Tenant: t.ID, User: username, UAType: uaType, Node: s.opts.NodeID,
		TokenHash: l.tokenHash, LoginAt: l.at.Unix(),
	})
	if err != nil {
		s.log.Warn("session store failed; socket logged in locally only", "tenant", t.ID, "socket", c.socketID, "err", err)
	}
	// Join the socket index first: a client that has authe_ok gets every later event.
	t.sockets.add(c, l)
	c.send(autheOK)
	if old == nil || old.username != l.username {
		s.metrics.SocketsLoggedIn.WithLabelValues(t.ID).Inc()
	}
	s.metrics.Logins.WithLabelValues(t.ID, "ok").Inc()
	s.log.Info("socket logged in", "tenant", t.ID, "socket", c.socketID, "user", username, "uaType", uaType)
	if first && (old == nil || old.username != l.username) {
		s.sendCommand(ctx, t.ID, CmdUserLoggedIn, username)
	}
	// The user's other sockets, on any node: the older ones of the same
	// uaType are taken over, the oldest past the socket cap closed.
	sessions := s.userSessions(ctx, c, l)
	if uaType != "" {
		s.takeOver(ctx, c, l, sessions)
	}
	s.capSockets(ctx, c, l, sessions)
}

// takeOver sends `takeOver` to the older sockets of the user with the same
// uaType (of sessions, userSessions). The new socket is logged in at once
// (no 8 s wait; see docs/compatibility.md).
func (s *Server) takeOver(ctx context.Context, c *conn, l *login, sessions []cluster.Session) {
	for _, other := range takenOver(sessions, c.socketID, l.uaType) {
		if other.Node == s.opts.NodeID {
			c.tenant.sockets.deliverToSocket(other.ID, takeOver)
			continue
		}
		ev := cluster.Event{Tenant: c.tenant.ID, Name: evTakeOver, Target: "socket:" + other.ID, Origin: s.opts.NodeID}
		if err := s.backend.Bus.Publish(ctx, ev); err != nil {
			s.log.Warn("take-over publish failed", "tenant", c.tenant.ID, "err", err)
		}
	}
}

// takenOver returns the sessions that the login of socket id (uaType, one
// of sessions, read after it was stored) takes over: the user's other
// sockets of the same uaType that logged in before it. A login that
// reached the store later (Session.Seq) is left alone: it may already be in
// the list when two logins race, and it takes this one over, not the
// reverse. Without login numbers (an older build's session, or this
// node's sockets when the store could not be read) every other socket of
// the uaType is taken over, as before.
func takenOver(sessions []cluster.Session, id, uaType string) []cluster.Session {
	var mine uint64
	for _, o := range sessions {
		if o.ID == id {
			mine = o.Seq
		}
	}
	var out []cluster.Session
	for _, o := range sessions {
		if o.ID == id || o.UAType != uaType || (mine > 0 && o.Seq > mine) {
			continue
		}
		out = append(out, o)
	}
	return out
}

// logout unregisters a login and fires the last-logout hook once.
func (s *Server) logout(c *conn, l *login) {
	t := c.tenant
	t.sockets.remove(c)
	s.metrics.SocketsLoggedIn.WithLabelValues(t.ID).Dec()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	last, err := s.backend.Sessions.Remove(ctx, t.ID, c.socketID)
	if err != nil {
		s.log.Warn("session remove failed; it expires with the node heartbeat", "tenant", t.ID, "socket", c.socketID, "err", err)
		return
	}
	if last {
		s.sendCommand(ctx, t.ID, CmdUserLoggedOut, l.username)
	}
}

func (s *Server) sendCommand(ctx context.Context, tenant, name, user string) {
	if err := s.backend.Commands.Send(ctx, cluster.Command{Tenant: tenant, Name: name, User: user}); err != nil {
		s.log.Warn("command to PBX owner failed", "tenant", tenant, "command", name, "err", err)
	}
}
