package ws

import (
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/internal/guard"
	"github.com/ctiws/ctiws/internal/lograte"
	"github.com/ctiws/ctiws/ws/eio"
	"github.com/gorilla/websocket"
)

// Server serves the sockets of every tenant of the node: the websocket
// upgrade, Engine.IO and Socket.IO, the socket login, the socket layer, the
// tenants' event routers and the node's sessions in the cluster. Its
// Handler also serves the REST API (restAPI), which is a type of its own.
type Server struct {
	opts     Options
	log      *slog.Logger
	upgrader websocket.Upgrader
	out      *writers // output buffers and pool writers shared by the sockets
	// poll reads the plain TCP sockets in poll mode (pollReader); nil: every
	// socket is read on a goroutine of its own.
	poll *epoller
	// tenants is replaced as a whole when a tenant is added or removed
	// (tenantsMu serialises the changes and the start of their routers).
	tenants   atomic.Pointer[tenantSet]
	tenantsMu sync.Mutex
	// startRouter is set by Run: it starts a tenant's event router (nil
	// before Run).
	startRouter func(t *Tenant)
	backend     cluster.Backend
	metrics     *Metrics
	mux         *http.ServeMux

	connsMu sync.RWMutex
	conns   map[*conn]struct{}

	draining atomic.Bool
	lastBeat atomic.Int64 // unix nanos of the last successful heartbeat
	badLog   *lograte.Limiter
	panics   *guard.Panics
	// auth checks the credentials of socket logins (shared with the REST
	// API).
	auth *authenticator
	// connDeps are handed to every socket.
	connDeps connDeps
	// api serves the REST routes on the same mux.
	api *restAPI
	// users bounds what each user sends to others (shared with the REST
	// API).
	users *userLimiter
}

var (
	disconnectFrame = eio.Disconnect
	pongFrame       = []byte("3")
)

// New builds a Server. Call Run to start its background work.
func New(opts Options) *Server {
	opts.init()
	s := &Server{
		opts:    opts,
		log:     opts.Logger,
		backend: opts.Backend,
		metrics: NewMetrics(opts.Registry),
		conns:   map[*conn]struct{}{},
		badLog:  lograte.New(opts.Logger, time.Minute),
		panics:  opts.Panics,
		users:   newUserLimiter(opts.Limits.userRates()),
	}
	s.connDeps = connDeps{sendBuffer: opts.SendBuffer, disconnects: s.metrics.Disconnects, slowConsumer: s.slowConsumer}
	s.auth = &authenticator{
		tokens:         opts.Backend.Tokens,
		metrics:        s.metrics,
		log:            s.log,
		loginLog:       newLogBudget(10, 10*time.Second),
		tokenTTL:       opts.TokenTTL,
		jwtMaxLifetime: opts.JWTMaxLifetime,
		jwtClockSkew:   opts.JWTClockSkew,
	}
	for _, t := range opts.Tenants {
		s.attach(t)
	}
	s.tenants.Store(newTenantSet(opts.Tenants))
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
	if opts.ReadMode == ReadModeEpoll {
		p, err := newEpoller()
		if err != nil {
			s.log.Warn("epoll read mode unavailable: sockets read on goroutines", "err", err)
		}
		s.poll = p
	}
	s.mux = http.NewServeMux()
	s.routes()
	s.api = newRESTAPI(restDeps{
		nodeID:              opts.NodeID,
		tenant:              func(host string) *Tenant { return s.tenants.Load().lookup(host) },
		tokens:              opts.Backend.Tokens,
		bus:                 opts.Backend.Bus,
		commands:            opts.Backend.Commands,
		auth:                s.auth,
		log:                 s.log,
		metrics:             s.metrics,
		panics:              s.panics,
		badLog:              s.badLog,
		tokenTTL:            opts.TokenTTL,
		maxPersistentTokens: opts.MaxPersistentTokens,
		passwordStale:       opts.PasswordStale,
		jwtMaxLifetime:      opts.JWTMaxLifetime,
		loginLimits:         opts.LoginLimits,
		trustedProxies:      opts.TrustedProxies,
		bcryptConcurrency:   opts.BcryptConcurrency,
		bcryptQueue:         opts.BcryptQueue,
		bcryptPerAddress:    opts.BcryptPerAddress,
		bcryptPerUser:       opts.BcryptPerUser,
		limits:              opts.Limits,
		users:               s.users,
		commandWait:         opts.CommandWait,
		hook:                opts.hooks.rest,
	}, s.mux)
	return s
}

// routes registers the socket paths: Socket.IO's, and nethcti-middleware's
// with and without its /api prefix.
func (s *Server) routes() {
	s.mux.HandleFunc("/socket.io/", s.serveSocketIO)
	s.mux.HandleFunc("/api/ws/", s.serveSocketIO)
	s.mux.HandleFunc("/ws/", s.serveSocketIO) // /api/ws behind a proxy that strips /api
}

// Handler returns the HTTP handler for Socket.IO and REST.
func (s *Server) Handler() http.Handler { return s.mux }

// Metrics returns the server's collectors.
func (s *Server) Metrics() *Metrics { return s.metrics }

// Subscribed reports whether every tenant's bus subscription is live.
func (s *Server) Subscribed() bool {
	for _, t := range s.tenants.Load().all {
		if !t.router.subscribed.Load() {
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
