package ws

import (
	"errors"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctiws/ctiws/internal/guard"
	"github.com/gorilla/websocket"
)

// Read modes (Options.ReadMode, config ws_read_mode).
const (
	// ReadModeEpoll reads plain TCP sockets from a few epoll loops: an idle
	// socket has no goroutine and no read buffer; a socket with bytes to
	// read gets a goroutine until they are handled (Linux only; elsewhere,
	// and for TLS, the goroutine mode).
	ReadModeEpoll = "epoll"
	// ReadModeGoroutine reads every socket on a goroutine of its own
	// (gorilla/websocket), as before the poller.
	ReadModeGoroutine = "goroutine"
)

// Poll mode: the reading side of a socket on a plain TCP connection (see
// socket). The socket's descriptor is in one of the node's epoll instances
// (pollread_linux.go), armed for one event at a time (EPOLLONESHOT). On an
// event a goroutine reads what the kernel holds without waiting, handles
// each whole message in order (logins and commands may block: only this
// socket waits), re-arms the descriptor and ends. A pollReader is in one
// of three states, changed under mu:
//
//   - idle: armed, no goroutine; an event makes it active;
//   - active: one goroutine reads (the upgrade's, until it first arms);
//   - ended: the socket was finished and logged out, once.
//
// A connection closed by the server (closeTransport's wait for the peer's
// close frame, a slow consumer, a failed write) yields no epoll event, so
// its Close (pollConn) ends an idle reader itself, and tells an active one
// to end (stop) instead of re-arming.
type pollReader struct {
	s    *Server
	c    *conn
	id   uint64     // the epoll event data: never a descriptor, which is reused
	loop *epollLoop // the epoll instance the socket is in

	mu    sync.Mutex
	state uint8
	stop  atomic.Bool // the server closed the connection: end, do not re-arm

	// pending is an incomplete frame between reads (nil when there is
	// none); fs the fragmented message under way.
	pending []byte
	fs      frameState
}

const (
	pollActive uint8 = iota
	pollIdle
	pollEnded
)

// pollConn is a TCP connection read in poll mode: closing it ends the
// socket's reading side.
type pollConn struct {
	*net.TCPConn
	r *pollReader
}

// Close closes the connection and ends its reader.
func (p *pollConn) Close() error {
	err := p.TCPConn.Close()
	p.r.requestEnd(net.ErrClosed)
	return err
}

// errPanicked ends a reader whose handler panicked (already recovered:
// the socket is closed, no read error is counted).
var errPanicked = errors.New("ws: panic while handling a frame")

// startReading starts the reading side of a freshly upgraded socket, in
// poll mode when the node and the connection allow it, and connects it.
func (s *Server) startReading(c *conn, wc *websocket.Conn) {
	tc, ok := wc.UnderlyingConn().(*net.TCPConn)
	if s.poll == nil || !ok {
		c.sock = newSocket(wc, s.opts.SendBuffer, writeWait, s.out)
		s.onConnect(c)
		s.goReadLoop(c, wc)
		return
	}
	r := &pollReader{s: s, c: c, state: pollActive, fs: frameState{limit: s.opts.MaxMessageBytes}}
	c.pr = r
	c.sock = newSocketOn(&pollConn{TCPConn: tc, r: r}, rawConn(tc), s.opts.SendBuffer, writeWait, s.out)
	s.onConnect(c)
	if err := s.poll.add(r); err != nil {
		// Not in the poller (the peer left already, or the kernel refused
		// another watch): gorilla reads it on a goroutine, which finds a
		// closed connection at once.
		if !errors.Is(err, net.ErrClosed) {
			s.badLog.Warn("epoll_add", "epoll registration failed (fs.epoll.max_user_watches?): socket read on a goroutine", "tenant", c.tenant.ID, "err", err)
		}
		r.mu.Lock()
		r.state = pollEnded
		r.mu.Unlock()
		s.goReadLoop(c, wc)
		return
	}
	// gorilla's Conn (its buffer, its handlers) is not kept: it holds
	// nothing unread (Upgrade refuses a client that sent data before the
	// handshake was complete).
	r.park()
}

// goReadLoop reads the socket with gorilla on a goroutine of its own.
func (s *Server) goReadLoop(c *conn, wc *websocket.Conn) {
	wc.SetReadLimit(s.opts.MaxMessageBytes)
	wc.SetPingHandler(func(data string) error {
		s.onPing(c, []byte(data))
		return nil
	})
	wc.SetPongHandler(func(string) error {
		s.onPong(c)
		return nil
	})
	wc.SetCloseHandler(func(code int, _ string) error {
		s.onCloseFrame(c, code)
		return nil
	})
	c.sock.ws = wc
	go s.readLoop(c)
}

// onPing answers a websocket ping; data is the handler's to keep.
func (s *Server) onPing(c *conn, data []byte) {
	c.lastPong.Store(time.Now().UnixNano())
	_ = c.sock.write(opPong, data) // a full queue is found by the next event
}

// onPong notes a websocket pong.
func (s *Server) onPong(c *conn) { c.lastPong.Store(time.Now().UnixNano()) }

// onCloseFrame echoes the peer's close frame (RFC 6455 §5.5.1); the reader
// then ends.
func (s *Server) onCloseFrame(c *conn, code int) { _ = c.sock.writeClose(code, "") }

// awaitPeerClose ends the socket's reading side if the peer has not
// answered the server's close frame within d.
func (c *conn) awaitPeerClose(d time.Duration) {
	_ = c.sock.nc.SetReadDeadline(time.Now().Add(d))
	if r := c.pr; r != nil {
		time.AfterFunc(d, func() { r.requestEnd(os.ErrDeadlineExceeded) })
	}
}

// wake is the poller's event for an idle reader: a goroutine reads it.
func (r *pollReader) wake() {
	if r.claimIdle(pollActive) {
		go r.run()
	}
}

// claimIdle moves an idle reader to state and reports whether it was idle.
func (r *pollReader) claimIdle(state uint8) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state != pollIdle {
		return false
	}
	r.state = state
	return true
}

// run reads until the kernel holds nothing more, then re-arms the socket or
// ends it.
func (r *pollReader) run() {
	if err := r.readAll(); err != nil {
		r.mu.Lock()
		r.state = pollEnded
		r.mu.Unlock()
		r.end(err)
		return
	}
	r.park()
}

// park makes an active reader idle and re-arms its descriptor, or ends it
// when the server closed the connection meanwhile.
func (r *pollReader) park() {
	if len(r.pending) == 0 {
		r.pending = nil
	} else if cap(r.pending) > 2*len(r.pending)+512 {
		r.pending = append([]byte(nil), r.pending...) // keep the partial frame only
	}
	r.mu.Lock()
	if r.stop.Load() {
		r.state = pollEnded
		r.mu.Unlock()
		r.end(net.ErrClosed)
		return
	}
	r.state = pollIdle
	r.mu.Unlock()
	if err := r.loop.arm(r); err != nil {
		// Closed meanwhile (its Close ends the idle reader), or the
		// kernel refused: end it here unless that happened.
		r.requestEnd(err)
	}
}

// requestEnd ends an idle reader (on a goroutine: the caller may be a pool
// writer) and makes an active one end instead of re-arming.
func (r *pollReader) requestEnd(err error) {
	r.stop.Store(true)
	if r.claimIdle(pollEnded) {
		go r.end(err)
	}
}

// end does what the goroutine mode's readLoop does when reading ends:
// count why (unless a panic ended it), finish the socket, log it out.
func (r *pollReader) end(err error) {
	r.loop.remove(r)
	r.pending, r.fs.msg = nil, nil
	if err != errPanicked {
		r.s.onReadError(r.c, err)
	}
	r.c.sock.finish()
	r.s.onDisconnect(r.c)
}

// readBufSize is the pooled buffer an active reader reads into; a frame
// that does not fit continues in the reader's pending.
const readBufSize = 4096

var readBufs = sync.Pool{New: func() any { return new(rawReader) }}

// readAll reads and handles frames until the kernel holds no more (nil) or
// reading ends (the error, for onReadError). A panic in a handler closes
// this socket only, as in readLoop.
func (r *pollReader) readAll() (err error) {
	defer r.s.panics.Recover(guard.Socket, r.c.tenant.ID, func(error) {
		r.c.closeTransport(reasonPanic)
		err = errPanicked
	})
	rd := readBufs.Get().(*rawReader)
	defer readBufs.Put(rd)
	if rd.buf == nil {
		rd.buf = make([]byte, readBufSize)
	}
	for {
		if r.stop.Load() {
			return net.ErrClosed
		}
		into := rd.buf
		if len(r.pending) > 0 { // continue the incomplete frame in its own buffer
			r.pending = slices.Grow(r.pending, readBufSize)
			into = r.pending[len(r.pending):cap(r.pending)]
		}
		n, again, err := rd.read(r.c.sock.raw, into)
		switch {
		case again:
			return nil
		case err != nil:
			return err
		case n == 0:
			return io.ErrUnexpectedEOF
		}
		b := into[:n]
		if len(r.pending) > 0 {
			r.pending = r.pending[:len(r.pending)+n]
			b = r.pending
		}
		used, err := readFrames(b, &r.fs, r)
		if err != nil {
			return err
		}
		if len(r.pending) > 0 {
			r.pending = r.pending[:copy(r.pending, b[used:])]
		} else if used < len(b) {
			r.pending = append(r.pending, b[used:]...)
		}
		if n < len(into) {
			// The kernel had less than asked for: most likely nothing is
			// left, and re-arming checks anyway (it reports what arrived
			// since), which saves the read that would say EAGAIN.
			return nil
		}
	}
}

// The reader is its socket's frameSink: what gorilla's handlers and
// readLoop do in the goroutine mode.

func (r *pollReader) message(op byte, msg []byte) {
	if op != opText {
		r.s.badFrame(r.c, "binary_frame", errors.New("binary websocket frames are not used by Socket.IO text clients"))
		return // read on until the peer answers the close frame
	}
	r.s.onMessage(r.c, msg)
}

func (r *pollReader) ping(payload []byte) { r.s.onPing(r.c, append([]byte(nil), payload...)) }

func (r *pollReader) pong([]byte) { r.s.onPong(r.c) }

func (r *pollReader) closeFrame(code int) { r.s.onCloseFrame(r.c, code) }

func (r *pollReader) protocolError(code int, text string) {
	_ = r.c.sock.writeClose(code, text[:min(len(text), maxControlPayload-2)])
}
