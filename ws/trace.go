package ws

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ctiws/ctiws/cluster"
)

// TracedFrame is one frame a traced user's sockets get, with the bus
// event whose routing produced it (nil for a frame sent outside the
// routing of an event, e.g. a relay).
type TracedFrame struct {
	Frame []byte
	Cause *cluster.Event
}

// ErrUnknownTraceTarget: Trace names a tenant this node does not serve or
// a user not in its directory.
var ErrUnknownTraceTarget = fmt.Errorf("ws: trace: no such tenant or user")

// Trace hands fn, until ctx ends, every frame this node's router of the
// tenant builds for a socket of user: a tracing socket logged in as that
// user joins the tenant's socket index (same rooms, same privacy
// variants, so exactly the frames and masking of the user's clients,
// wherever those are connected) and gets its frames here instead of on a
// network connection. With masked, the user is traced as if its privacy
// were on (for a console user who may not see numbers). fn runs on the
// router's goroutine under its lock: it must not block. Tracing sockets
// are not sessions: no other node and no count sees them, and Sockets
// leaves them out.
func (s *Server) Trace(ctx context.Context, tenant, user string, masked bool, fn func(TracedFrame)) error {
	t := s.tenants.Load().byID[tenant]
	if t == nil || t.sockets == nil {
		return ErrUnknownTraceTarget
	}
	u, ok := t.Config().Directory.User(user)
	if !ok {
		return ErrUnknownTraceTarget
	}
	if masked && !u.Perms.Privacy {
		cp := *u
		cp.Perms.Privacy = true
		u = &cp
	}
	l := &login{user: u, username: strings.ToLower(u.Username), uaType: "trace", at: time.Now()}
	l.rooms = roomsFor(u)
	c := &conn{tenant: t, socketID: "trace-" + newID(), created: l.at, login: l, trace: fn}
	t.sockets.add(c, l)
	go func() {
		<-ctx.Done()
		t.sockets.remove(c)
	}()
	return nil
}
