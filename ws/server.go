// Package ws is the client-facing side of a ctiws node: the Socket.IO
// (Engine.IO 4, websocket transport only) endpoint that NethCTI clients log
// in to, the REST API, and the routing of PBX events to sockets with the
// privacy rules of NethCTI.
package ws

import (
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/internal/guard"
	"github.com/ctiws/ctiws/internal/lograte"
	"github.com/ctiws/ctiws/ws/eio"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a Server. A zero duration or count takes the Default
// constant named after it (config.Defaults uses the same constants).
type Options struct {
	NodeID  string
	Backend cluster.Backend
	Tenants []*Tenant
	// TokenTTL is how long a login token lives without use (default
	// DefaultTokenTTL).
	TokenTTL time.Duration
	// LoginTimeout closes a socket that did not log in within it (default
	// DefaultLoginTimeout).
	LoginTimeout time.Duration
	// PingInterval and PingTimeout are Engine.IO's heartbeat (defaults
	// DefaultPingInterval, DefaultPingTimeout).
	PingInterval time.Duration
	PingTimeout  time.Duration
	// MaxMessageBytes caps a client frame (default DefaultMaxMessageBytes).
	MaxMessageBytes int64
	// MaxConnLifetime closes sockets after this long (with up to 20%
	// jitter) so they spread over nodes after a scale-out; 0 = never.
	MaxConnLifetime time.Duration
	// AllowedOrigins limits websocket Origins; empty allows any (like the
	// original).
	AllowedOrigins []string
	// SendBuffer is the number of frames queued per socket before it is
	// disconnected as a slow consumer (default DefaultSendBuffer).
	SendBuffer int
	// JWTMaxLifetime is the longest exp - iat a JWT may have
	// (default DefaultJWTMaxLifetime).
	JWTMaxLifetime time.Duration
	// MaxPersistentTokens caps the persistent (auth-exp: no-exp) tokens of
	// a user; the oldest is evicted (default DefaultMaxPersistentTokens).
	MaxPersistentTokens int
	// LoginLimits configure the back-off of password logins.
	LoginLimits LoginLimits
	// TrustedProxies are the peers whose X-Forwarded-For is believed for
	// the client address of login rate limits; empty: none.
	TrustedProxies []netip.Prefix
	// BcryptConcurrency bounds the password checks running at once
	// (default DefaultBcryptConcurrency); BcryptQueue bounds each tenant's
	// waiting checks (default DefaultBcryptQueue).
	BcryptConcurrency int
	BcryptQueue       int
	// DeliverEveryState turns state conflation off (see socket).
	DeliverEveryState bool
	// Limits bound user-to-user payloads (avatars, post-its, the message
	// relay); zero fields take their defaults.
	Limits Limits
	// Panics counts recovered panics; nil: the server registers its own
	// ctiws_panics_total on Registry. Share one with the PBX owners.
	Panics *guard.Panics
	// CommandWait, when set, bounds how long a call control request waits
	// for the PBX owner (half to be picked up, half to be carried out);
	// 0 uses the defaults of rest_astproxy.go.
	CommandWait time.Duration
	Logger      *slog.Logger
	Registry    prometheus.Registerer

	// hooks are test hooks, set by in-package tests only.
	hooks *hooks
}

// Defaults of Options' zero fields.
const (
	DefaultTokenTTL            = time.Hour
	DefaultLoginTimeout        = 10 * time.Second
	DefaultPingInterval        = 25 * time.Second
	DefaultPingTimeout         = 20 * time.Second
	DefaultMaxMessageBytes     = 65536
	DefaultSendBuffer          = 64
	DefaultMaxPersistentTokens = 10
	DefaultBcryptConcurrency   = 2
	DefaultBcryptQueue         = 16
)

// hooks let in-package tests inject faults (e.g. panics) without
// package-level state.
type hooks struct {
	// route runs in the router before each bus event of a tenant.
	route func(tenant string, ev cluster.Event)
	// clientEvent runs in a socket's reader before each client event.
	clientEvent func(tenant, name string)
	// rest runs before each REST handler.
	rest func(tenant, route string)
}

// Server serves Socket.IO and REST for every tenant of the node.
type Server struct {
	opts     Options
	log      *slog.Logger
	upgrader websocket.Upgrader
	out      *writers // output buffers and pool writers shared by the sockets
	// tenants is replaced as a whole when a tenant is added or removed
	// (tenantsMu serialises the changes and the start of their hubs).
	tenants   atomic.Pointer[tenantRouter]
	tenantsMu sync.Mutex
	// hubs is set by Run: it starts a tenant's hub (nil before Run).
	hubs    func(t *Tenant)
	backend cluster.Backend
	metrics *Metrics
	mux     *http.ServeMux

	connsMu sync.RWMutex
	conns   map[*conn]struct{}

	draining atomic.Bool
	lastBeat atomic.Int64 // unix nanos of the last successful heartbeat
	bcrypt   *fairPool    // bounds concurrent password checks, fair between tenants
	badLog   *lograte.Limiter
	panics   *guard.Panics
	loginLog *logBudget // failed-login log lines per tenant
	failures *backoff   // password-login back-off, per user and address
}

var (
	disconnectFrame = eio.Disconnect
	pongFrame       = []byte("3")
)

// New builds a Server. Call Run to start its background work.
func New(opts Options) *Server {
	setDuration(&opts.PingInterval, DefaultPingInterval)
	setDuration(&opts.PingTimeout, DefaultPingTimeout)
	setDuration(&opts.LoginTimeout, DefaultLoginTimeout)
	setDuration(&opts.TokenTTL, DefaultTokenTTL)
	setDuration(&opts.JWTMaxLifetime, DefaultJWTMaxLifetime)
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = DefaultMaxMessageBytes
	}
	setInt(&opts.SendBuffer, DefaultSendBuffer)
	setInt(&opts.MaxPersistentTokens, DefaultMaxPersistentTokens)
	setInt(&opts.BcryptConcurrency, DefaultBcryptConcurrency)
	setInt(&opts.BcryptQueue, DefaultBcryptQueue)
	opts.LoginLimits = opts.LoginLimits.withDefaults()
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.Panics == nil {
		opts.Panics = guard.New(opts.Registry, opts.Logger)
	}
	if opts.hooks == nil {
		opts.hooks = &hooks{}
	}
	opts.Limits = opts.Limits.withDefaults()
	s := &Server{
		opts:     opts,
		log:      opts.Logger,
		backend:  opts.Backend,
		metrics:  NewMetrics(opts.Registry),
		conns:    map[*conn]struct{}{},
		bcrypt:   newFairPool(opts.BcryptConcurrency, opts.BcryptQueue),
		badLog:   lograte.New(opts.Logger, time.Minute),
		loginLog: newLogBudget(10, 10*time.Second),
		failures: newBackoff(opts.LoginLimits.Base, opts.LoginLimits.Max),
		panics:   opts.Panics,
	}
	for _, t := range opts.Tenants {
		t.hub = newHub(s, t)
	}
	s.tenants.Store(newTenantRouter(opts.Tenants))
	s.upgrader = websocket.Upgrader{
		// A small read buffer of its own instead of net/http's 4 KiB one:
		// clients send little (pings, a login, rare relays), and memory
		// per idle socket matters at 10k sockets per node. Writes do not
		// go through gorilla (see socket), so it gets no write buffer.
		ReadBufferSize:  512,
		WriteBufferPool: &sync.Pool{},
		CheckOrigin:     s.checkOrigin,
	}
	s.out = newWriters(s.metrics)
	s.mux = http.NewServeMux()
	s.routes()
	return s
}

// setDuration sets a zero or negative *v to def.
func setDuration(v *time.Duration, def time.Duration) {
	if *v <= 0 {
		*v = def
	}
}

// setInt sets a zero or negative *v to def.
func setInt(v *int, def int) {
	if *v <= 0 {
		*v = def
	}
}

// Handler returns the HTTP handler for Socket.IO and REST.
func (s *Server) Handler() http.Handler { return s.mux }

// Metrics returns the server's collectors.
func (s *Server) Metrics() *Metrics { return s.metrics }

// Subscribed reports whether every tenant's bus subscription is live.
func (s *Server) Subscribed() bool {
	for _, t := range s.tenants.Load().all {
		if !t.hub.subscribed.Load() {
			return false
		}
	}
	return true
}

// Draining reports whether Shutdown has begun.
func (s *Server) Draining() bool { return s.draining.Load() }

func (s *Server) checkOrigin(r *http.Request) bool {
	if len(s.opts.AllowedOrigins) == 0 {
		return true
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not a browser
	}
	for _, o := range s.opts.AllowedOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}
