// Package ws is the client-facing side of a ctiws node: the Socket.IO
// (Engine.IO 4, websocket transport only) endpoint that NethCTI clients log
// in to, the REST API, and the routing of PBX events to sockets with the
// privacy rules of NethCTI.
package ws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/internal/guard"
	"github.com/ctiws/ctiws/ws/eio"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ctiws/ctiws/internal/clip"
	"github.com/ctiws/ctiws/internal/lograte"
	"github.com/ctiws/ctiws/internal/periodic"
)

// Options configure a Server.
type Options struct {
	NodeID          string
	Backend         cluster.Backend
	Tenants         []*Tenant
	TokenTTL        time.Duration
	LoginTimeout    time.Duration
	PingInterval    time.Duration
	PingTimeout     time.Duration
	MaxMessageBytes int64
	// MaxConnLifetime closes sockets after this long (with up to 20%
	// jitter) so they spread over nodes after a scale-out; 0 = never.
	MaxConnLifetime time.Duration
	// AllowedOrigins limits websocket Origins; empty allows any (like the
	// original).
	AllowedOrigins []string
	// SendBuffer is the number of frames queued per socket before it is
	// disconnected as a slow consumer.
	SendBuffer int
	// JWTMaxLifetime is the longest exp - iat a JWT may have
	// (default DefaultJWTMaxLifetime).
	JWTMaxLifetime time.Duration
	// MaxPersistentTokens caps the persistent (auth-exp: no-exp) tokens of
	// a user; the oldest is evicted (default 10).
	MaxPersistentTokens int
	// LoginLimits configure the back-off of password logins.
	LoginLimits LoginLimits
	// TrustedProxies are the peers whose X-Forwarded-For is believed for
	// the client address of login rate limits; empty: none.
	TrustedProxies []netip.Prefix
	// BcryptConcurrency bounds the password checks running at once
	// (default 2); BcryptQueue bounds each tenant's waiting checks
	// (default 16).
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
	outPool  *sync.Pool // output buffers shared by the sockets
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
	if opts.PingInterval <= 0 {
		opts.PingInterval = 25 * time.Second
	}
	if opts.PingTimeout <= 0 {
		opts.PingTimeout = 20 * time.Second
	}
	if opts.LoginTimeout <= 0 {
		opts.LoginTimeout = 10 * time.Second
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = time.Hour
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = 65536
	}
	if opts.SendBuffer <= 0 {
		opts.SendBuffer = 64
	}
	if opts.JWTMaxLifetime <= 0 {
		opts.JWTMaxLifetime = DefaultJWTMaxLifetime
	}
	if opts.MaxPersistentTokens <= 0 {
		opts.MaxPersistentTokens = 10
	}
	opts.LoginLimits = opts.LoginLimits.withDefaults()
	if opts.BcryptConcurrency <= 0 {
		opts.BcryptConcurrency = 2
	}
	if opts.BcryptQueue <= 0 {
		opts.BcryptQueue = 16
	}
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
	s.outPool = newOutputPool()
	s.mux = http.NewServeMux()
	s.routes()
	return s
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

// engineError answers a handshake that cannot become a websocket, in the
// form engine.io uses.
func engineError(w http.ResponseWriter, status, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"code": code, "message": msg})
}

// serveSocketIO validates the Engine.IO handshake and upgrades.
func (s *Server) serveSocketIO(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("EIO") != "4" {
		engineError(w, http.StatusBadRequest, 5, "Unsupported protocol version")
		return
	}
	if q.Get("transport") != "websocket" {
		engineError(w, http.StatusBadRequest, 0, "Transport unknown")
		return
	}
	if q.Get("sid") != "" {
		engineError(w, http.StatusBadRequest, 1, "Session ID unknown")
		return
	}
	t := s.tenants.Load().lookup(r.Host)
	if t == nil {
		s.metrics.UnknownHostRejects.Inc()
		engineError(w, http.StatusNotFound, 0, "Unknown host")
		return
	}
	if s.draining.Load() {
		engineError(w, http.StatusServiceUnavailable, 0, "Server is shutting down")
		return
	}
	now := time.Now()
	c := &conn{
		srv:       s,
		tenant:    t,
		engineID:  newID(),
		socketID:  newID(),
		userAgent: r.Header.Get("User-Agent"),
		created:   now,
	}
	if s.opts.MaxConnLifetime > 0 {
		jitter := time.Duration(rand.Int64N(int64(s.opts.MaxConnLifetime)/5 + 1))
		c.deadline = now.Add(s.opts.MaxConnLifetime - jitter)
	}
	c.lastPong.Store(now.UnixNano())
	c.nextPing.Store(now.Add(s.opts.PingInterval).UnixNano())
	wc, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.log.Debug("websocket upgrade failed", "tenant", t.ID, "remote", r.RemoteAddr, "err", err)
		return
	}
	// The HTTP server's read and write timeouts are for REST requests: a
	// hijacked websocket lives on with the sweep's ping timeout and the
	// socket's own write deadline instead.
	_ = wc.UnderlyingConn().SetDeadline(time.Time{})
	wc.SetReadLimit(s.opts.MaxMessageBytes)
	c.sock = newSocket(wc, s.opts.SendBuffer, writeWait, s.outPool)
	wc.SetPingHandler(func(data string) error {
		c.lastPong.Store(time.Now().UnixNano())
		_ = c.sock.write(opPong, []byte(data)) // a full queue is found by the next event
		return nil
	})
	wc.SetPongHandler(func(string) error {
		c.lastPong.Store(time.Now().UnixNano())
		return nil
	})
	wc.SetCloseHandler(func(code int, _ string) error {
		_ = c.sock.writeClose(code, "") // echo (RFC 6455 §5.5.1); the reader then ends
		return nil
	})
	s.onConnect(c)
	// The handler returns: net/http's goroutine, stack and buffers go away,
	// and the socket lives on in one reading goroutine.
	go s.readLoop(c)
}

// writeWait bounds one write to a socket; a peer that takes longer is gone.
const writeWait = 10 * time.Second

func (s *Server) onConnect(c *conn) {
	s.connsMu.Lock()
	s.conns[c] = struct{}{}
	s.connsMu.Unlock()
	s.metrics.SocketsConnected.WithLabelValues(c.tenant.ID).Inc()
	c.send(eio.OpenPacket(c.engineID, s.opts.PingInterval.Milliseconds(), s.opts.PingTimeout.Milliseconds(), s.opts.MaxMessageBytes))
}

// readLoop reads the socket's frames until it ends, then closes the
// connection (after what is queued has left) and logs the socket out.
func (s *Server) readLoop(c *conn) {
	defer s.onDisconnect(c)
	defer c.sock.finish()
	// A panic while handling this socket's frames closes this socket
	// only (runs first, before the socket is finished and logged out).
	defer s.panics.Recover(guard.Socket, c.tenant.ID, func(error) { c.closeTransport(reasonPanic) })
	for {
		typ, msg, err := c.sock.ws.ReadMessage()
		if err != nil {
			s.onReadError(c, err)
			return
		}
		if typ != websocket.TextMessage {
			s.badFrame(c, "binary_frame", errors.New("binary websocket frames are not used by Socket.IO text clients"))
			continue // read on until the peer answers the close frame
		}
		s.onMessage(c, msg)
	}
}

func (s *Server) onDisconnect(c *conn) {
	if c.closed.CompareAndSwap(false, true) {
		s.metrics.Disconnects.WithLabelValues(c.tenant.ID, reasonClientClose).Inc()
	}
	s.connsMu.Lock()
	delete(s.conns, c)
	s.connsMu.Unlock()
	s.metrics.SocketsConnected.WithLabelValues(c.tenant.ID).Dec()
	c.mu.Lock()
	l := c.login
	c.login = nil
	c.mu.Unlock()
	if l != nil {
		s.logout(c, l)
	}
}

// onReadError counts why reading a socket ended, unless the server had
// already closed it.
func (s *Server) onReadError(c *conn, err error) {
	switch {
	case errors.Is(err, websocket.ErrReadLimit):
		if c.closed.CompareAndSwap(false, true) {
			s.metrics.BadFrames.WithLabelValues(c.tenant.ID, "oversize").Inc()
			s.badLog.Warn("oversize", "frame larger than max_message_bytes: socket closed", "tenant", c.tenant.ID, "limit", s.opts.MaxMessageBytes)
			s.metrics.Disconnects.WithLabelValues(c.tenant.ID, reasonBadFrame).Inc()
		}
	case websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived):
		// A clean close by the client: counted by onDisconnect.
	default:
		if c.closed.CompareAndSwap(false, true) {
			s.metrics.Disconnects.WithLabelValues(c.tenant.ID, reasonReadError).Inc()
		}
	}
}

// slowConsumer disconnects a socket whose send queue is full: the peer
// does not read as fast as its events arrive.
func (s *Server) slowConsumer(c *conn) {
	if !c.closed.Load() {
		s.metrics.SlowConsumers.WithLabelValues(c.tenant.ID).Inc()
		s.log.Warn("slow consumer disconnected: send buffer full", "tenant", c.tenant.ID, "socket", c.socketID, "buffer", s.opts.SendBuffer)
	}
	c.closeTransport(reasonSlowConsumer)
}

// badFrame counts and logs a refused frame and closes the transport, as
// socket.io does on a parse error.
func (s *Server) badFrame(c *conn, reason string, err error) {
	s.metrics.BadFrames.WithLabelValues(c.tenant.ID, reason).Inc()
	s.badLog.Warn(reason, "bad frame from client: transport closed", "tenant", c.tenant.ID, "socket", c.socketID, "err", err)
	c.closeTransport(reasonBadFrame)
}

func (s *Server) onMessage(c *conn, msg []byte) {
	if c.closed.Load() {
		return
	}
	f, err := eio.Decode(msg)
	if err != nil {
		s.badFrame(c, "decode", err)
		return
	}
	c.lastPong.Store(time.Now().UnixNano())
	switch f.Engine {
	case eio.EnginePong, eio.EngineNoop:
		return
	case eio.EnginePing:
		c.send(pongFrame)
		return
	case eio.EngineClose:
		c.closeTransport(reasonClientClose)
		return
	case eio.EngineMessage:
	default:
		s.badFrame(c, "engine_type", errors.New("unexpected engine.io packet"))
		return
	}
	if f.Namespace != "/" {
		c.send(eio.ConnectErrorPacket(f.Namespace, "Invalid namespace"))
		s.metrics.BadFrames.WithLabelValues(c.tenant.ID, "namespace").Inc()
		return
	}
	switch f.SIO {
	case eio.SIOConnect:
		c.mu.Lock()
		c.nsConnected = true
		c.mu.Unlock()
		c.send(eio.ConnectPacket(c.socketID))
	case eio.SIODisconnect:
		c.closeTransport(reasonClientClose)
	case eio.SIOEvent:
		c.mu.Lock()
		ok := c.nsConnected
		c.mu.Unlock()
		if !ok {
			s.badFrame(c, "event_before_connect", errors.New("event before namespace connect"))
			return
		}
		name, args, err := f.Event()
		if err != nil {
			s.badFrame(c, "event", err)
			return
		}
		s.onEvent(c, name, args, f.AckID)
	case eio.SIOAck:
		// Clients ack nothing we asked for; ignore.
	default:
		s.badFrame(c, "sio_type", errors.New("unexpected socket.io packet"))
	}
}

// onEvent handles a client event.
func (s *Server) onEvent(c *conn, name string, args []json.RawMessage, ack int64) {
	if h := s.opts.hooks.clientEvent; h != nil {
		h(c.tenant.ID, name)
	}
	switch name {
	case "ping":
		if ack != eio.NoAck {
			c.send(eio.Ack(ack))
		}
	case "login":
		var arg json.RawMessage
		if len(args) > 0 {
			arg = args[0]
		}
		s.loginAside(c, arg)
	case "message":
		var arg json.RawMessage
		if len(args) > 0 {
			arg = args[0]
		}
		s.handleRelay(c, arg)
	case "takeOverAck", "start_transcription", "stop_transcription":
		// takeOverAck: the new socket is logged in at once (no wait), so
		// there is nothing to do. Transcription control belongs to the
		// middleware.
	default:
		s.metrics.BadFrames.WithLabelValues(c.tenant.ID, "unknown_event").Inc()
		s.badLog.Warn("unknown_event", "unknown client event ignored", "tenant", c.tenant.ID, "event", clip.String(name, 64))
	}
	if ack != eio.NoAck && name != "ping" {
		c.send(eio.Ack(ack))
	}
}

// loginAside runs a login on a goroutine of its own and waits for it. A
// login runs deep (JWT parsing, token store, take-over): on the reader
// goroutine, which lives as long as the socket, it would grow that stack
// for good (measured: 4 → 8 KiB per idle socket). A panic closes this
// socket only, as on the reader.
func (s *Server) loginAside(c *conn, arg json.RawMessage) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer s.panics.Recover(guard.Socket, c.tenant.ID, func(error) { c.closeTransport(reasonPanic) })
		s.handleLogin(c, arg)
	}()
	<-done
}

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
			t.hub.run(hctx)
		}()
	}
	s.tenantsMu.Lock()
	for _, t := range s.tenants.Load().all {
		start(t)
	}
	s.hubs = start
	s.tenantsMu.Unlock()
	wg.Add(3)
	go func() { defer wg.Done(); s.heartbeat(ctx) }()
	go func() { defer wg.Done(); s.sweep(ctx) }()
	go func() { defer wg.Done(); s.refreshTokens(ctx) }()
	<-ctx.Done()
	s.tenantsMu.Lock()
	s.hubs = nil // tenants added from now on are not started
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
					c.send(eio.Ping)
				}
			}
		}
	}
}

// BeginDrain makes the node refuse new sockets and report not ready, at
// once; Shutdown then closes the open ones.
func (s *Server) BeginDrain() { s.draining.Store(true) }

// Shutdown refuses new sockets and closes the open ones in small batches
// spread over the context's deadline (drain_timeout), without `41`, so
// clients reconnect elsewhere without a storm.
func (s *Server) Shutdown(ctx context.Context) {
	s.draining.Store(true)
	conns := s.snapshotConns()
	if len(conns) == 0 {
		return
	}
	window := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		// Keep a fifth of the window for the last batch to flush.
		window = time.Until(dl) * 4 / 5
	}
	const batches = 20
	per := (len(conns) + batches - 1) / batches
	step := window / batches
	for i := 0; i < len(conns); i += per {
		end := min(i+per, len(conns))
		for _, c := range conns[i:end] {
			c.closeTransport(reasonShutdown)
		}
		if end < len(conns) {
			select {
			case <-ctx.Done():
				for _, c := range conns[end:] {
					c.closeTransport(reasonShutdown)
				}
				return
			case <-time.After(step):
			}
		}
	}
	// Wait until the transports are gone (or the deadline).
	for {
		s.connsMu.RLock()
		n := len(s.conns)
		s.connsMu.RUnlock()
		if n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Reload applies a new configuration to a tenant without dropping sockets:
// logged-in sockets get their user and rooms recomputed, sockets of users
// that no longer exist are closed, and every socket gets `serverReloaded`.
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
	t.hub = newHub(s, t)
	s.tenants.Store(newTenantRouter(append(append([]*Tenant(nil), cur.all...), t)))
	if s.hubs != nil {
		s.hubs(t)
	}
	s.log.Info("tenant added", "tenant", t.ID, "hosts", t.Hosts)
	// Like at start: tokens of users whose password changed meanwhile go.
	s.syncPasswords(context.Background(), t, t.Config())
	return nil
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
	s.tenants.Store(newTenantRouter(rest))
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
			t.hub.replace(c, &nl)
		}
	}
	t.hub.router.broadcast(reloadedFrame, evServerReloaded)
	return true
}

var reloadedFrame = eio.Event(evServerReloaded)
