package ws

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"github.com/prometheus/client_golang/prometheus"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctiws/ctiws/directory"
	"github.com/gorilla/websocket"
)

// connDeps is what a socket needs from the node; every socket of a node
// shares one.
type connDeps struct {
	// sendBuffer is the frames a socket queues before it is a slow
	// consumer (Options.SendBuffer).
	sendBuffer int
	// disconnects counts closed sockets by reason.
	disconnects *prometheus.CounterVec
	// slowConsumer disconnects a socket whose queue is full.
	slowConsumer func(*conn)
}

// conn is one websocket transport and the Socket.IO socket on it.
type conn struct {
	deps *connDeps
	sock *socket
	// pr reads the socket in poll mode; nil in the goroutine mode.
	pr        *pollReader
	tenant    *Tenant
	engineID  string
	socketID  string
	userAgent string
	created   time.Time
	// deadline ends the connection (max_connection_lifetime), zero = never.
	deadline time.Time

	lastPong atomic.Int64 // unix nanos
	nextPing atomic.Int64 // unix nanos
	// pingSent is when the last Engine.IO ping was queued (unix nanos; 0:
	// none unanswered), for ctiws_client_ping_rtt_seconds.
	pingSent atomic.Int64
	closed   atomic.Bool

	mu          sync.Mutex
	nsConnected bool
	login       *login // nil until logged in
	streams     map[string]bool

	// relay limits the socket's `message` relays (reader only).
	relay relayBucket
	// trace, set only on a tracing socket (Server.Trace), gets its frames
	// instead of a network connection.
	trace func(TracedFrame)
}

// login is what a successful login binds to a socket.
type login struct {
	user      *directory.User // nil for an unknown user when auth is disabled
	username  string          // resolved, lower-cased
	accessKey string          // as sent by the client
	uaType    string
	tokenHash string
	rooms     rooms
	at        time.Time
}

// newID returns a random 20-character URL-safe id, like socket.io's.
func newID() string {
	var b [15]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("ws: crypto/rand failed: " + err.Error()) // cannot happen on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// send queues a frame. A full queue disconnects the socket as a slow
// consumer; nothing is dropped silently.
func (c *conn) send(frame []byte) {
	if c.closed.Load() {
		return
	}
	if c.trace != nil {
		c.trace(TracedFrame{Frame: frame})
		return
	}
	if err := c.sock.writeText(frame); errors.Is(err, errQueueFull) {
		c.deps.slowConsumer(c)
	}
}

// sendDroppable queues a frame user from sent (a relay, a post-it) unless
// the socket's queue is half full or already holds from's share of it (an
// eighth), and reports whether it did: such frames must never make the
// receiver a slow consumer, and one sender's flood must not crowd out the
// others'.
func (c *conn) sendDroppable(frame []byte, from string) bool {
	if c.closed.Load() {
		return false
	}
	if c.trace != nil {
		c.trace(TracedFrame{Frame: frame})
		return true
	}
	return c.sock.writeTextBelow(frame, max(1, c.deps.sendBuffer/2), from, max(1, c.deps.sendBuffer/8)) == nil
}

// currentLogin returns the login bound to the socket, or nil.
func (c *conn) currentLogin() *login {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.login
}

// closeTransport closes the websocket without a Socket.IO disconnect packet,
// so clients reconnect (to another node, after a shutdown).
func (c *conn) closeTransport(reason string) { c.close(reason, nil) }

// close ends the socket once, counting reason: first (when not nil) is
// queued before the close frame. Claiming the socket before anything is
// sent keeps the reason: a peer that closes at once on first cannot make
// its own close count instead.
func (c *conn) close(reason string, first []byte) {
	if !c.closed.CompareAndSwap(false, true) {
		return
	}
	c.deps.disconnects.WithLabelValues(c.tenant.ID, reason).Inc()
	if first != nil {
		_ = c.sock.writeText(first)
	}
	if reason == reasonSlowConsumer {
		// The queue is full, so a close frame would wait behind it: cut the
		// TCP connection; the client sees a transport close and reconnects.
		c.sock.kill()
		return
	}
	if err := c.sock.writeClose(websocket.CloseGoingAway, reason); err != nil {
		c.sock.kill()
		return
	}
	// Wait a little for the peer's close frame; a peer that ignores ours
	// is cut when the wait is over.
	c.awaitPeerClose(2 * time.Second)
}

// disconnect sends the Socket.IO disconnect (41) and closes the transport:
// used where the client must not reconnect by itself (a refused login,
// relay abuse, the socket cap).
func (c *conn) disconnect(reason string) { c.close(reason, disconnectFrame) }

// Disconnect reasons (metric label values).
const (
	reasonClientClose  = "client_close"
	reasonPingTimeout  = "ping_timeout"
	reasonLoginTimeout = "login_timeout"
	reasonLoginFailed  = "login_failed"
	reasonSlowConsumer = "slow_consumer"
	reasonBadFrame     = "bad_frame"
	reasonShutdown     = "shutdown"
	reasonLifetime     = "max_lifetime"
	reasonReadError    = "read_error"
	reasonReload       = "user_removed"
	reasonPanic        = "panic"
	reasonRelayAbuse   = "relay_abuse"
	// reasonSocketCap: the user's newer logins went past
	// Limits.MaxSocketsPerUser and this socket was the oldest.
	reasonSocketCap = "socket_cap"
	// reasonTenantRemoved: the tenant left the configuration.
	reasonTenantRemoved = "tenant_removed"
)
