package ws

import (
	"slices"
	"strings"
	"time"

	"github.com/ctiws/ctiws/directory"
)

// TenantIDs lists the tenants this node serves, sorted (for the operator
// console).
func (s *Server) TenantIDs() []string {
	all := s.tenants.Load().all
	ids := make([]string, 0, len(all))
	for _, t := range all {
		ids = append(ids, t.ID)
	}
	slices.Sort(ids)
	return ids
}

// SocketInfo is one logged-in socket of this node, as the operator console
// shows it.
type SocketInfo struct {
	ID     string    `json:"id"`
	User   string    `json:"user"`
	UAType string    `json:"ua,omitempty"`
	Since  time.Time `json:"since"`
}

// Sockets lists the logged-in sockets of a tenant on this node, by user
// then login time (nil for a tenant not served).
func (s *Server) Sockets(tenant string) []SocketInfo {
	t := s.tenants.Load().byID[tenant]
	if t == nil || t.sockets == nil {
		return nil
	}
	var out []SocketInfo
	t.sockets.each(func(c *conn, l *login) {
		if c.trace != nil {
			return
		}
		out = append(out, SocketInfo{ID: c.socketID, User: l.username, UAType: l.uaType, Since: l.at})
	})
	slices.SortFunc(out, func(a, b SocketInfo) int {
		if a.User != b.User {
			return strings.Compare(a.User, b.User)
		}
		return a.Since.Compare(b.Since)
	})
	return out
}

// TenantDirectory returns a served tenant's users and its privacy string
// (empty: no masking), for the operator console.
func (s *Server) TenantDirectory(tenant string) (*directory.Directory, string, bool) {
	t := s.tenants.Load().byID[tenant]
	if t == nil {
		return nil, "", false
	}
	cfg := t.Config()
	return cfg.Directory, cfg.Privacy, true
}

// reasonConsole closes the sockets an operator disconnected from the
// console.
const reasonConsole = "console"

// DisconnectUser closes this node's sockets of a tenant's user without a
// Socket.IO disconnect, so the clients reconnect (and log in again if
// their token is still valid). It returns how many it closed.
func (s *Server) DisconnectUser(tenant, user string) int {
	user = strings.ToLower(user)
	n := 0
	for _, c := range s.snapshotConns() {
		if l := c.currentLogin(); c.tenant != nil && c.tenant.ID == tenant && l != nil && l.username == user {
			c.closeTransport(reasonConsole)
			n++
		}
	}
	return n
}
