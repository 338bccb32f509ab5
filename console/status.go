package console

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Status reporting: every node writes its NodeStatus to the store every
// ReportInterval, for StatusTTL, so that any node's console shows them
// all and a dead node's record disappears on its own.
const (
	ReportInterval = 2 * time.Second
	StatusTTL      = 5 * ReportInterval
)

// NodeStatus is a node's status record in the store.
type NodeStatus struct {
	Node       string    `json:"node"`
	Version    string    `json:"version"`
	Started    time.Time `json:"started"`
	At         time.Time `json:"at"`
	Draining   bool      `json:"draining,omitempty"`
	Sockets    int       `json:"sockets"`
	CPU        float64   `json:"cpu"` // cores used over the last interval
	RSS        uint64    `json:"rss"`
	Goroutines int       `json:"goroutines"`
	// Store is the topology of the shared store and Schema its version;
	// StoreErr is why the node cannot reach it, if so.
	Store    string `json:"store"`
	Schema   string `json:"schema,omitempty"`
	StoreErr string `json:"storeErr,omitempty"`
	// Tenants are the tenants this node serves.
	Tenants []TenantOnNode `json:"tenants"`
}

// TenantOnNode is what one node knows of one tenant.
type TenantOnNode struct {
	ID      string `json:"id"`
	Sockets int    `json:"sockets"`
	Users   int    `json:"users"`
	// Owner: this node holds the tenant's lease; AMI is then its link.
	Owner bool       `json:"owner,omitempty"`
	AMI   *AMIStatus `json:"ami,omitempty"`
	// LastErr is the owner's last AMI error in its current term (login
	// refused, connection refused, a failed snapshot…) and LastErrAt
	// when it happened; empty when none.
	LastErr   string    `json:"lastErr,omitempty"`
	LastErrAt time.Time `json:"lastErrAt,omitzero"`
}

// AMIStatus is the owner's AMI link of a tenant.
type AMIStatus struct {
	Connected    bool      `json:"connected"`
	Since        time.Time `json:"since"` // connected or disconnected since (within an interval)
	Reconnects   int       `json:"reconnects"`
	LastEvent    time.Time `json:"lastEvent"` // within an interval
	EventsPerSec float64   `json:"eventsPerSec"`
}

// Socket is one logged-in socket of this node.
type Socket struct {
	ID, User, UAType string
	Since            time.Time
}

// reporter builds this node's record from its metrics and sockets; it
// keeps what a rate or a "since" needs between two reports.
type reporter struct {
	c       *Console
	started time.Time
	prev    sample
	since   map[string]time.Time // tenant → AMI link state change
	lastEv  map[string]time.Time // tenant → last change of the AMI message count
	wasUp   map[string]bool
}

// Report writes this node's status record every ReportInterval until ctx
// ends. Start it once per node.
func (c *Console) Report(ctx context.Context) {
	r := &reporter{c: c, started: c.opt.Now(), since: map[string]time.Time{}, lastEv: map[string]time.Time{}, wasUp: map[string]bool{}}
	t := time.NewTicker(ReportInterval)
	defer t.Stop()
	for {
		if err := r.report(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("console status not written", "err", err)
		}
		if c.opt.Backend.Console != nil {
			c.serveRequests(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *reporter) report(ctx context.Context) error {
	c := r.c
	if c.opt.Backend.Console == nil {
		return nil
	}
	st := r.status(ctx)
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode status: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, ReportInterval)
	defer cancel()
	return c.opt.Backend.Console.PutStatus(wctx, c.opt.Node, b, StatusTTL)
}

// status builds the record from the node's metrics and sockets.
func (r *reporter) status(ctx context.Context) NodeStatus {
	c := r.c
	now := c.opt.Now()
	s := readSample(c.opt.Gatherer, now)
	st := NodeStatus{Node: c.opt.Node, Version: c.opt.Version, Started: r.started, At: now,
		Draining: c.opt.Draining(), RSS: uint64(s.rss), Goroutines: int(s.goroutines),
		Store: c.opt.Store, Schema: c.opt.Schema}
	if dt := s.at.Sub(r.prev.at).Seconds(); !r.prev.at.IsZero() && dt > 0 {
		st.CPU = max(s.cpu-r.prev.cpu, 0) / dt
	}
	if c.opt.Backend.Ready != nil {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		if err := c.opt.Backend.Ready(rctx); err != nil {
			st.StoreErr = err.Error()
		}
		cancel()
	}
	for _, id := range c.opt.Tenants() {
		tn := TenantOnNode{ID: id, Owner: s.owned[id] > 0}
		users := map[string]bool{}
		for _, so := range c.opt.Sockets(id) {
			tn.Sockets++
			users[so.User] = true
		}
		tn.Users = len(users)
		st.Sockets += tn.Sockets
		if tn.Owner {
			tn.AMI = r.ami(id, s, now)
			tn.LastErr, tn.LastErrAt = c.opt.LastError(id)
		}
		st.Tenants = append(st.Tenants, tn)
	}
	r.prev = s
	return st
}

// ami derives the owner's AMI link of tenant id from two samples.
func (r *reporter) ami(id string, s sample, now time.Time) *AMIStatus {
	up := s.amiUp[id] > 0
	if _, ok := r.since[id]; !ok || up != r.wasUp[id] {
		r.since[id] = now
		r.wasUp[id] = up
	}
	a := &AMIStatus{Connected: up, Since: r.since[id], Reconnects: int(s.amiReconnects[id])}
	if msgs, prev := s.amiMessages[id], r.prev.amiMessages[id]; msgs != prev {
		r.lastEv[id] = now
		if dt := s.at.Sub(r.prev.at).Seconds(); !r.prev.at.IsZero() && dt > 0 && msgs > prev {
			a.EventsPerSec = (msgs - prev) / dt
		}
	}
	a.LastEvent = r.lastEv[id]
	return a
}
