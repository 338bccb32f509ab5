package ws

import (
	"context"
	"fmt"
	"strings"

	"github.com/ctiws/ctiws/ws/eio"
)

// AddTenant starts serving a new tenant (its hosts, REST, sockets) without
// touching the others. It fails for a tenant id or host already served.
func (s *Server) AddTenant(t *Tenant) error {
	s.tenantsMu.Lock()
	defer s.tenantsMu.Unlock()
	cur := s.tenants.Load()
	if cur.byID[t.ID] != nil {
		return fmt.Errorf("tenant %s is already served", t.ID)
	}
	for _, h := range t.Hosts {
		if o := cur.byHost[strings.ToLower(h)]; o != nil {
			return fmt.Errorf("tenant %s: host %s is already tenant %s's", t.ID, h, o.ID)
		}
	}
	s.attach(t)
	s.tenants.Store(newTenantSet(append(append([]*Tenant(nil), cur.all...), t)))
	if s.startRouter != nil {
		s.startRouter(t)
	}
	s.log.Info("tenant added", "tenant", t.ID, "hosts", t.Hosts)
	// Like at start: tokens of users whose password changed meanwhile go.
	s.syncPasswords(context.Background(), t, t.Config())
	return nil
}

// attach gives a tenant its socket index and its event router.
func (s *Server) attach(t *Tenant) {
	t.sockets = newSocketIndex()
	t.router = newRouter(routerDeps{
		tenant:            t,
		sockets:           t.sockets,
		bus:               s.backend.Bus,
		log:               s.log,
		metrics:           s.metrics,
		panics:            s.panics,
		badLog:            s.badLog,
		deliverEveryState: s.opts.DeliverEveryState,
		slowConsumer:      s.slowConsumer,
		hook:              s.opts.hooks.route,
	})
}

// RemoveTenant stops serving a tenant: its hosts answer 404 from now on,
// its sockets are closed and its bus subscription ends. Other tenants'
// sockets are not touched. It reports whether the tenant was served.
func (s *Server) RemoveTenant(id string) bool {
	s.tenantsMu.Lock()
	cur := s.tenants.Load()
	t := cur.byID[id]
	if t == nil {
		s.tenantsMu.Unlock()
		return false
	}
	rest := make([]*Tenant, 0, len(cur.all)-1)
	for _, o := range cur.all {
		if o != t {
			rest = append(rest, o)
		}
	}
	s.tenants.Store(newTenantSet(rest))
	if t.stop != nil {
		t.stop()
	}
	s.tenantsMu.Unlock()
	n := 0
	for _, c := range s.snapshotConns() {
		if c.tenant == t {
			c.closeTransport(reasonTenantRemoved)
			n++
		}
	}
	s.log.Info("tenant removed", "tenant", id, "sockets_closed", n)
	return true
}

// Reload applies a new configuration to a tenant without dropping sockets:
// logged-in sockets get their user and rooms recomputed, sockets of users
// that no longer exist are closed, and every socket gets `serverReloaded`.
// It reports whether the tenant is served.
func (s *Server) Reload(tenantID string, cfg *TenantConfig) bool {
	t := s.tenants.Load().byID[tenantID]
	if t == nil {
		return false
	}
	old := t.cfg.Swap(cfg)
	// A changed password revokes the user's tokens cluster-wide and closes
	// the user's sockets here.
	s.syncPasswords(context.Background(), t, cfg)
	s.closeChangedUsers(t, old, cfg)
	for _, c := range s.snapshotConns() {
		if c.tenant != t {
			continue
		}
		c.mu.Lock()
		old := c.login
		c.mu.Unlock()
		if old == nil {
			continue
		}
		user, ok := cfg.Directory.User(old.username)
		if !ok && cfg.AuthEnabled {
			c.closeTransport(reasonReload)
			continue
		}
		if !ok {
			user = nil
		}
		nl := *old
		nl.user = user
		nl.rooms = roomsFor(user)
		c.mu.Lock()
		swapped := c.login == old
		if swapped {
			c.login = &nl
		}
		c.mu.Unlock()
		if swapped {
			t.sockets.replace(c, &nl)
		}
	}
	t.router.broadcast(reloadedFrame, evServerReloaded)
	return true
}

var reloadedFrame = eio.Event(evServerReloaded)
