package ws

import (
	"context"
	"sync"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/ws/eio"

	"github.com/ctiws/ctiws/internal/periodic"
)

// Run starts the node's background work (bus subscriptions, ping and login
// timers, token refresh) and blocks until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	for _, t := range s.tenants.Load().all {
		s.syncPasswords(ctx, t, t.Config())
	}
	var wg sync.WaitGroup
	start := func(t *Tenant) {
		hctx, cancel := context.WithCancel(ctx)
		t.stop = cancel
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.router.run(hctx)
		}()
	}
	s.tenantsMu.Lock()
	for _, t := range s.tenants.Load().all {
		start(t)
	}
	s.startRouter = start
	s.tenantsMu.Unlock()
	wg.Add(3)
	go func() { defer wg.Done(); s.heartbeat(ctx) }()
	go func() { defer wg.Done(); s.sweep(ctx) }()
	go func() { defer wg.Done(); s.refreshTokens(ctx) }()
	<-ctx.Done()
	s.tenantsMu.Lock()
	s.startRouter = nil // tenants added from now on are not started
	s.tenantsMu.Unlock()
	wg.Wait()
	return nil
}

// Session liveness: the node refreshes its sessions every heartbeatEvery;
// a node that stops doing so loses them after sessionTTL.
const (
	heartbeatEvery = 5 * time.Second
	sessionTTL     = 15 * time.Second
)

// heartbeat keeps this node's sessions alive in the cluster store and reaps
// the sessions of nodes that died, firing the last-logout hook for their
// users (once, cluster-wide).
func (s *Server) heartbeat(ctx context.Context) { periodic.Every(ctx, heartbeatEvery, s.Heartbeat) }

// Heartbeat refreshes this node's sessions and reaps those of dead nodes.
// Call it once before serving, so that logins find a live node.
func (s *Server) Heartbeat(ctx context.Context) {
	{
		hctx, cancel := context.WithTimeout(ctx, heartbeatEvery)
		defer cancel()
		if err := s.backend.Sessions.Heartbeat(hctx, s.opts.NodeID, sessionTTL); err != nil {
			s.log.Warn("session heartbeat failed", "err", err)
			return
		}
		now := time.Now()
		if last := s.lastBeat.Swap(now.UnixNano()); last != 0 && now.Sub(time.Unix(0, last)) > sessionTTL {
			// The store was unreachable longer than the session TTL: other
			// nodes may have expired our sessions, or Redis lost them.
			s.reregister(hctx)
		}
		all := s.tenants.Load().all
		ids := make([]string, 0, len(all))
		for _, t := range all {
			ids = append(ids, t.ID)
		}
		// One sweep for every tenant: a few round trips per node, not per
		// tenant.
		gone, err := s.backend.Sessions.Expired(hctx, ids)
		if err != nil {
			s.log.Warn("expired-session sweep failed", "tenants", len(ids), "err", err)
		}
		for _, t := range all {
			if t.passwordsPending.Load() {
				s.syncPasswords(hctx, t, t.Config())
			}
		}
		for _, id := range ids {
			for _, u := range gone[id] {
				s.log.Info("user's last socket went with a dead node", "tenant", id, "user", u)
				s.sendCommand(hctx, id, CmdUserLoggedOut, u)
			}
		}
	}
}

// reregister adds every logged-in local socket to the session store again.
func (s *Server) reregister(ctx context.Context) {
	n := 0
	for _, c := range s.snapshotConns() {
		l := c.currentLogin()
		if l == nil {
			continue
		}
		if _, err := s.backend.Sessions.Add(ctx, cluster.Session{ID: c.socketID, Tenant: c.tenant.ID, User: l.username,
			UAType: l.uaType, Node: s.opts.NodeID, TokenHash: l.tokenHash, LoginAt: l.at.Unix()}); err != nil {
			s.log.Warn("session re-registration failed", "tenant", c.tenant.ID, "err", err)
			return
		}
		n++
	}
	s.log.Info("sessions re-registered after a session store outage", "sockets", n)
}

// snapshotConns returns the open connections.
func (s *Server) snapshotConns() []*conn {
	s.connsMu.RLock()
	defer s.connsMu.RUnlock()
	out := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		out = append(out, c)
	}
	return out
}

// sweep sends Engine.IO pings, and closes dead, never-logged-in and
// too-old sockets. One goroutine for all sockets keeps memory per socket low.
func (s *Server) sweep(ctx context.Context) {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			n := now.UnixNano()
			dead := (s.opts.PingInterval + s.opts.PingTimeout).Nanoseconds()
			for _, c := range s.snapshotConns() {
				if c.closed.Load() {
					continue
				}
				switch {
				case n-c.lastPong.Load() > dead:
					c.closeTransport(reasonPingTimeout)
				case c.currentLogin() == nil && now.Sub(c.created) > s.opts.LoginTimeout:
					c.closeTransport(reasonLoginTimeout)
				case !c.deadline.IsZero() && now.After(c.deadline):
					c.closeTransport(reasonLifetime)
				case n >= c.nextPing.Load():
					c.nextPing.Store(n + s.opts.PingInterval.Nanoseconds())
					c.pingSent.Store(time.Now().UnixNano()) // not n: a sweep of many sockets takes a while
					c.send(eio.Ping)
				}
			}
		}
	}
}
