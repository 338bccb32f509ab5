package console

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/ws/auth"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Options.
const (
	DefaultSessionTTL   = 8 * time.Hour
	DefaultFreeFailures = 5
	DefaultAddrFailures = 20
	DefaultBackoffBase  = time.Second
	DefaultBackoffMax   = 15 * time.Minute
	DefaultAuditMax     = 1000
)

// Options configure a Console. Users is required; the rest has defaults.
type Options struct {
	// Users are the console's own users (htpasswd, bcrypt only).
	Users *auth.Htpasswd
	// Unmasked are the console users (lower-cased) who may see numbers
	// unmasked; everyone else sees them as a privacy user would.
	Unmasked []string
	// SessionKey signs session cookies and CSRF tokens. Nodes that share it
	// accept each other's sessions; empty: a random key of this node
	// (a session then lives on the node that issued it).
	SessionKey []byte
	// SessionTTL is how long a login lasts (DefaultSessionTTL).
	SessionTTL time.Duration
	// Login back-off, as for the users of a tenant (docs/security.md,
	// section 4): failures allowed per user and per address before the
	// lock, the first lock and the longest.
	FreeFailures, AddrFreeFailures int
	BackoffBase, BackoffMax        time.Duration
	// TrustedProxies may set X-Forwarded-For (client address) and
	// X-Forwarded-Proto.
	TrustedProxies []netip.Prefix

	// Node is this node's id; Version its build.
	Node, Version string
	// Backend is the shared store the pages read.
	Backend cluster.Backend
	// Tenants lists the tenants this node serves.
	Tenants func() []string
	// Directory returns a served tenant's users and privacy string.
	Directory func(tenant string) (*directory.Directory, string, bool)
	// Actions are what this node does on the console's requests.
	Actions NodeActions
	// AuditMax caps the audit log in the store (DefaultAuditMax).
	AuditMax int
	// Trace traces a user's frames on this node (nil: no tracing).
	Trace TraceFunc
	// Sockets lists a tenant's logged-in sockets on this node.
	Sockets func(tenant string) []Socket
	// Gatherer is the node's metrics registry, read for the status record
	// (CPU, RSS, goroutines, leases, AMI links).
	Gatherer prometheus.Gatherer
	// Store names the shared store's topology ("memory", "redis",
	// "redis sentinel", "redis cluster"); Schema its schema version.
	Store, Schema string
	// LastError returns the last AMI error of a tenant this node owns, and
	// when it happened ("" when none; ownership.Set.LastError).
	LastError func(tenant string) (string, time.Time)
	// Draining reports whether this node is draining.
	Draining func() bool
	// Logger logs logins and actions (slog.Default when nil).
	Logger *slog.Logger
	// Now is the clock (time.Now when nil); for tests.
	Now func() time.Time
}

func (o *Options) init() {
	if o.SessionTTL <= 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	if o.FreeFailures <= 0 {
		o.FreeFailures = DefaultFreeFailures
	}
	if o.AddrFreeFailures <= 0 {
		o.AddrFreeFailures = DefaultAddrFailures
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = DefaultBackoffBase
	}
	if o.BackoffMax < o.BackoffBase {
		o.BackoffMax = max(DefaultBackoffMax, o.BackoffBase)
	}
	if o.AuditMax <= 0 {
		o.AuditMax = DefaultAuditMax
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Tenants == nil {
		o.Tenants = func() []string { return nil }
	}
	if o.Directory == nil {
		o.Directory = func(string) (*directory.Directory, string, bool) { return nil, "", false }
	}
	if o.Sockets == nil {
		o.Sockets = func(string) []Socket { return nil }
	}
	if o.LastError == nil {
		o.LastError = func(string) (string, time.Time) { return "", time.Time{} }
	}
	if o.Draining == nil {
		o.Draining = func() bool { return false }
	}
}
