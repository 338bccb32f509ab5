package ownership

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/ctiws/ctiws/internal/periodic"
)

// members is a node's cached view of the live nodes, read from the backend
// once per interval (one read of one key, whatever the number of tenants)
// and used by every tenant's owner: for its share of the leases and to
// take over the leases of a dead node at once.
//
// A failed read never shrinks the view: the node keeps the last count it
// knew (it never concludes "I am alone" from an error).
//
// A node counts as gone before its heartbeat expires only when it was seen
// connected to the same Redis server that now lists no connection of it: a
// just-promoted replica (or a restarted server) lists only the nodes that
// have reconnected so far, and a live node must not lose its leases to
// that (docs/cluster.md, "One owner at a time").
type members struct {
	self string
	// list returns the nodes with a live heartbeat.
	list func(ctx context.Context) ([]string, error)
	// connected, if set, returns the nodes that hold a connection to the
	// backend, and which server said so (a killed process's connections
	// close at once, long before its heartbeat expires); an error means
	// "unknown".
	connected func(ctx context.Context) (Connections, error)
	every     time.Duration
	log       *slog.Logger
	// onCount, if set, is told the count after each successful refresh.
	onCount func(n int)

	mu     sync.Mutex
	known  bool
	live   map[string]bool
	seen   map[string]bool // every node ever seen alive
	failed bool            // the last refresh failed (log once)
	// server is the Redis server of the last connection list, and
	// connSeen the nodes seen connected to it.
	server   string
	connSeen map[string]bool
}

// Connections is one server's list of the nodes connected to it
// (Options.Connected).
type Connections struct {
	// Server identifies the Redis server (its run_id: a promoted replica
	// and a restarted server have a new one).
	Server string
	// Nodes are the ids of the nodes with a connection to Server.
	Nodes map[string]bool
}

// refresh reads the live nodes; on error the last view stays. It may take
// two intervals: the two reads are two round trips, and on the lease
// client a call cut at its deadline costs its connection (a slow link
// would otherwise make every refresh redial).
func (m *members) refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*m.every)
	defer cancel()
	nodes, err := m.list(ctx)
	if err != nil {
		m.noteFailure(err)
		return err
	}
	var conn *Connections
	if m.connected != nil {
		if c, err := m.connected(ctx); err == nil {
			conn = &c
		}
	}
	m.mu.Lock()
	if conn != nil && conn.Server != m.server {
		if m.server != "" {
			m.log.Info("Redis server changed (failover or restart): a node counts as gone only once it is seen missing from the new one", "nodes", len(conn.Nodes))
		}
		m.server, m.connSeen = conn.Server, map[string]bool{}
	}
	live := map[string]bool{m.self: true}
	for _, n := range nodes {
		if conn == nil || conn.Nodes[n] || !m.connSeen[n] {
			live[n] = true
		}
	}
	if conn != nil {
		for n := range conn.Nodes {
			m.connSeen[n] = true
		}
	}
	if m.seen == nil {
		m.seen = map[string]bool{}
	}
	for n := range live {
		m.seen[n] = true
	}
	m.live, m.known = live, true
	if m.failed {
		m.log.Info("live node list readable again", "nodes", len(live))
	}
	m.failed = false
	m.mu.Unlock()
	if m.onCount != nil {
		m.onCount(len(live))
	}
	return nil
}

func (m *members) noteFailure(err error) {
	m.mu.Lock()
	first := !m.failed
	m.failed = true
	n := len(m.live)
	m.mu.Unlock()
	if first {
		m.log.Warn("reading the live node list failed; keeping the last known one", "nodes", n, "err", err)
	}
}

// run refreshes the view every interval until ctx ends.
func (m *members) run(ctx context.Context) {
	periodic.Every(ctx, m.every, func(ctx context.Context) { _ = m.refresh(ctx) })
}

// serverID is the Redis server the last connection list came from, ""
// while unknown (no Connected, or it never answered).
func (m *members) serverID() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.server
}

// count is the number of live nodes, this one included; 0 while unknown
// (no read has succeeded yet).
func (m *members) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.known {
		return 0
	}
	return len(m.live)
}

// alive reports whether node runs. A node never seen is taken as alive (it
// may have started after the last read; its lease expires by itself if
// not), so a new node's leases are never taken from it by mistake.
func (m *members) alive(_ context.Context, node string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.known {
		return false, errUnknown
	}
	return m.live[node] || !m.seen[node], nil
}
