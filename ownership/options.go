package ownership

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/internal/guard"
	"github.com/prometheus/client_golang/prometheus"
)

// Tenant is what the owner of one tenant's PBX needs to know of it.
type Tenant struct {
	// ID names the tenant (its lease, bus channel and metric label).
	ID string
	// Directory holds the tenant's users (login and logout hooks, the
	// simulated PBX's extensions).
	Directory *directory.Directory
	// AMI is how to reach the tenant's PBX (see PBXs).
	AMI AMI
	// ObjectsFile, if set, names the tenant's objects file
	// (docs/objects-file.md), loaded by PBXs.Add.
	ObjectsFile string
	// Streams are polled while this node owns the tenant.
	Streams []Stream
}

// AMI is how to reach a tenant's Asterisk Manager Interface.
type AMI struct {
	// Address is "host:port", or "sim" for an in-process simulated PBX.
	Address string
	// Username and Secret log in to the AMI (a simulated PBX makes up
	// throwaway ones).
	Username string
	Secret   string
	// SimCallsPerSecond and SimSeed tune the simulated PBX (Address
	// "sim"); nil keeps the simulator's default rate.
	SimCallsPerSecond *float64
	SimSeed           int64
}

// Options configure a Set. Node, Backend and NewPBX are required; the
// other fields have defaults (see the constants below).
type Options struct {
	// Node is this node's id: the holder named in the leases it takes.
	Node string
	// Backend holds the leases, the bus the owners publish to, the
	// command queues, and (with Multi) the live node list.
	Backend cluster.Backend
	// LeaseTTL is how long a lease lasts without renewal; zero means
	// DefaultLeaseTTL.
	LeaseTTL time.Duration
	// StartRate bounds how many ownership terms the node starts per
	// second (lease, AMI connection, snapshot); hand-backs are paced
	// alike. Zero means DefaultStartRate.
	StartRate float64
	// Multi: other nodes may serve the same tenants. The leases are then
	// spread over the live nodes (Backend.Sessions.Nodes, read every
	// fifth of LeaseTTL, 0.25–2 s) and a dead node's leases are taken
	// over at once.
	// Without it the node is alone and takes every lease.
	Multi bool
	// Connected, if set (with Multi), lists the nodes that hold a
	// connection to the backend's server: a killed node's connections
	// close at once, long before its heartbeat expires.
	Connected func(ctx context.Context) (Connections, error)
	// NewPBX builds tenant t's PBX connection for one ownership term
	// (PBXs.NewPBX); t is the tenant as last passed to Add or Update.
	NewPBX func(t *Tenant) PBX
	// Logger logs the ownership changes; nil discards.
	Logger *slog.Logger
	// Registerer registers the ownership collectors (Metrics, and
	// ctiws_cluster_nodes with Multi); nil registers nothing.
	Registerer prometheus.Registerer
	// Panics counts and logs the owners' panics (Owner.Panics).
	Panics *guard.Panics
	// MaxPendingCommandsPerUser and MaxConcurrentCommands are the
	// owners' command bounds (Owner.MaxPendingPerUser,
	// Owner.MaxConcurrentCommands); zero means their defaults.
	MaxPendingCommandsPerUser int
	MaxConcurrentCommands     int
}

const (
	// DefaultLeaseTTL is Options.LeaseTTL's default (lease_ttl).
	DefaultLeaseTTL = 5 * time.Second
	// DefaultStartRate is Options.StartRate's default (owner_start_rate).
	DefaultStartRate = 50
)

// init fills the defaults.
func (o *Options) init() {
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.StartRate <= 0 {
		o.StartRate = DefaultStartRate
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}
