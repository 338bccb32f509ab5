package ws

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/ctiws/ctiws/internal/clip"
	"github.com/ctiws/ctiws/internal/guard"
	"github.com/ctiws/ctiws/ws/eio"
	"github.com/gorilla/websocket"
)

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
		deps:      &s.connDeps,
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
	// The handler returns: net/http's goroutine, stack and buffers go away,
	// and the socket lives on in the poller (no goroutine while idle) or in
	// one reading goroutine.
	s.startReading(c, wc)
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
	now := time.Now().UnixNano()
	c.lastPong.Store(now)
	switch f.Engine {
	case eio.EnginePong:
		if sent := c.pingSent.Swap(0); sent > 0 {
			s.metrics.ClientPingRTT.Observe(float64(max(now-sent, 0)) / 1e9)
		}
		return
	case eio.EngineNoop:
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
