package ws

import (
	"crypto/rand"
	"encoding/base64"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctiws/ctiws/cluster/directory"
	"github.com/olahol/melody"
)

// conn is one websocket transport and the Socket.IO socket on it.
type conn struct {
	srv       *Server
	sess      *melody.Session
	tenant    *Tenant
	batch     *batchConn // nil when the listener does not batch
	engineID  string
	socketID  string
	userAgent string
	created   time.Time
	// deadline ends the connection (max_connection_lifetime), zero = never.
	deadline time.Time

	lastPong atomic.Int64 // unix nanos
	nextPing atomic.Int64 // unix nanos
	closed   atomic.Bool

	mu          sync.Mutex
	nsConnected bool
	login       *login // nil until logged in
	streams     map[string]bool
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

// send queues a frame. A full buffer disconnects the socket (see
// Server.onError); nothing is dropped silently.
func (c *conn) send(frame []byte) {
	if c.closed.Load() {
		return
	}
	if c.batch == nil {
		_ = c.sess.Write(frame)
		return
	}
	c.batch.pending.Add(1)
	if err := c.sess.Write(frame); err != nil {
		c.batch.pending.Add(-1)
	}
}

// currentLogin returns the login bound to the socket, or nil.
func (c *conn) currentLogin() *login {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.login
}

// closeTransport closes the websocket without a Socket.IO disconnect packet,
// so clients reconnect (to another node, after a shutdown).
func (c *conn) closeTransport(reason string) {
	if !c.closed.CompareAndSwap(false, true) {
		return
	}
	c.srv.metrics.Disconnects.WithLabelValues(c.tenant.ID, reason).Inc()
	if reason == reasonSlowConsumer {
		// The buffer is full, so a close frame could not be queued: cut the
		// TCP connection; the client sees a transport close and reconnects.
		_ = c.sess.WebsocketConnection().Close()
		return
	}
	if err := c.sess.CloseWithMsg(melody.FormatCloseMessage(1001, reason)); err != nil {
		_ = c.sess.WebsocketConnection().Close()
	}
	// Make sure a peer that ignores the close frame goes away.
	time.AfterFunc(2*time.Second, func() { _ = c.sess.WebsocketConnection().Close() })
}

// disconnect sends the Socket.IO disconnect (41) and closes the transport:
// only used after a refused login, where the client must not reconnect.
func (c *conn) disconnect(reason string) {
	c.send(disconnectFrame)
	c.closeTransport(reason)
}

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
)
