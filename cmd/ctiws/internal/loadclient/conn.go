// Package loadclient is the benchmark's client for many Socket.IO
// connections at once. Each connection logs in the way ws/client does
// (websocket upgrade, Engine.IO open, Socket.IO connect, `login`,
// `authe_ok`); then its socket is handed to a Poller, whose few epoll loops
// read every ready socket with one read(2) and parse the websocket frames in
// place. Reading 10,000 sockets then costs about one system call per socket
// per burst, where a goroutine per connection costs a wake-up, a read and a
// second read that finds nothing (docs/benchmarks.md, section "The load client").
//
// It speaks just enough of the protocols for the bench: plain http/ws
// (no TLS), unfragmented, uncompressed server frames (what ctiws sends),
// Engine.IO pings, and the app-level `ping` with an ack that phone-island
// sends every 5 s. Frames are handed to OnRaw undecoded.
package loadclient

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctiws/ctiws/ws/client"
	"github.com/ctiws/ctiws/ws/eio"
)

// ErrUnauthorized is returned when the server refuses a login (the
// error of ws/client, whose Login runs the Socket.IO side here too).
var ErrUnauthorized = client.ErrUnauthorized

// errServerClose ends a connection whose server sent a websocket close.
var errServerClose = errors.New("loadclient: server closed the websocket")

// Options configure one connection.
type Options struct {
	// URL is the server base URL, e.g. http://127.0.0.1:8181 (http only).
	URL string
	// User and Token are sent in the `login` event.
	User, Token string
	// OnRaw receives every Socket.IO event frame ("42…") undecoded, with
	// the time its read returned. It runs on a poll loop: keep it short.
	OnRaw func(frame []byte, at time.Time)
}

// Conn is one logged-in connection served by a Poller.
type Conn struct {
	p    *Poller
	opts Options
	done chan struct{}

	mu      sync.Mutex
	fd      int    // the socket once registered; -1 before and after
	pending []byte // the start of a frame not yet complete
	closed  bool
	err     error
	pingID  int64 // the app-level ping awaiting its ack (0: none)
	nextID  int64
	scratch []byte // frame being written

	missed atomic.Int64
	// SocketID is the Socket.IO id the server gave the connection.
	SocketID string
}

// Dial connects, logs in and hands the connection to p. It returns
// ErrUnauthorized when the server answers `401` or disconnects.
func Dial(ctx context.Context, p *Poller, opts Options) (*Conn, error) {
	u, err := url.Parse(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("loadclient: parse URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "ws" {
		return nil, fmt.Errorf("loadclient: scheme %q: only http and ws", u.Scheme)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, fmt.Errorf("loadclient: dial %s: %w", u.Host, err)
	}
	dl, _ := ctx.Deadline()
	_ = nc.SetDeadline(dl)
	c := &Conn{p: p, opts: opts, done: make(chan struct{}), fd: -1}
	h := &handshake{c: c, nc: nc}
	if err := h.run(u); err != nil {
		nc.Close()
		return nil, err
	}
	if err := p.register(c, nc.(*net.TCPConn), h.buf); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

// handshake logs a connection in over blocking reads of its net.Conn.
type handshake struct {
	c   *Conn
	nc  net.Conn
	buf []byte // bytes read and not yet consumed
}

func (h *handshake) run(u *url.URL) error {
	req, accept := upgradeRequest(u, "/socket.io/")
	if _, err := h.nc.Write(req); err != nil {
		return fmt.Errorf("loadclient: write upgrade request: %w", err)
	}
	for {
		n, err := checkUpgrade(h.buf, accept)
		if err != nil {
			return err
		}
		if n > 0 {
			h.buf = h.buf[n:]
			break
		}
		if err := h.more(); err != nil {
			return fmt.Errorf("loadclient: read upgrade answer: %w", err)
		}
	}
	sid, err := client.Login(h.frame, h.write, h.c.opts.User, h.c.opts.Token, "")
	h.c.SocketID = sid
	return err
}

// more reads what the server sent next.
func (h *handshake) more() error {
	var tmp [4096]byte
	n, err := h.nc.Read(tmp[:])
	h.buf = append(h.buf, tmp[:n]...)
	if n > 0 {
		return nil
	}
	return err
}

// frame returns the next text frame's payload, answering websocket pings.
func (h *handshake) frame() ([]byte, error) {
	for {
		op, payload, n, err := parseFrame(h.buf)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			if err := h.more(); err != nil {
				return nil, err
			}
			continue
		}
		payload = append([]byte(nil), payload...)
		h.buf = h.buf[n:]
		switch op {
		case opText:
			return payload, nil
		case opPing:
			if _, err := h.nc.Write(appendMasked(nil, opPong, payload, maskKey())); err != nil {
				return nil, fmt.Errorf("loadclient: write pong: %w", err)
			}
		case opClose:
			return nil, errServerClose
		}
	}
}

func (h *handshake) write(payload []byte) error {
	if _, err := h.nc.Write(appendMasked(nil, opText, payload, maskKey())); err != nil {
		return fmt.Errorf("loadclient: write: %w", err)
	}
	return nil
}

func maskKey() [4]byte {
	v := rand.Uint32()
	return [4]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
}

// consume dispatches every whole frame at the start of b and returns how
// many bytes they took. c.mu is held.
func (c *Conn) consume(b []byte, at time.Time) int {
	off := 0
	for !c.closed {
		op, payload, n, err := parseFrame(b[off:])
		if err != nil {
			c.finish(err)
			return off
		}
		if n == 0 {
			break
		}
		off += n
		switch op {
		case opText:
			c.text(payload, at)
		case opPing:
			c.send(opPong, payload)
		case opClose:
			c.finish(errServerClose)
		}
	}
	return off
}

// text handles one text frame. c.mu is held.
func (c *Conn) text(b []byte, at time.Time) {
	if len(b) == 0 {
		return
	}
	switch b[0] {
	case eio.EnginePing:
		c.send(opText, []byte("3"))
		return
	case eio.EngineMessage:
	default:
		return
	}
	if len(b) < 2 {
		return
	}
	switch b[1] {
	case eio.SIOEvent:
		if c.opts.OnRaw != nil {
			c.opts.OnRaw(b, at)
		}
	case eio.SIOAck:
		end := 2
		for end < len(b) && b[end] >= '0' && b[end] <= '9' {
			end++
		}
		if id, err := strconv.ParseInt(string(b[2:end]), 10, 64); err == nil && id == c.pingID {
			c.pingID = 0
		}
	case eio.SIODisconnect:
		c.finish(errors.New("loadclient: server disconnect (41)"))
	}
}

// ping sends the app-level `ping` with an ack; a ping still unanswered from
// the previous round counts as missed.
func (c *Conn) ping() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	if c.pingID != 0 {
		c.missed.Add(1)
	}
	c.nextID++
	c.pingID = c.nextID
	c.send(opText, fmt.Appendf(nil, `42%d["ping"]`, c.nextID))
}

// send writes one frame. c.mu is held.
func (c *Conn) send(op byte, payload []byte) {
	if c.closed {
		return
	}
	c.scratch = appendMasked(c.scratch[:0], op, payload, maskKey())
	if err := c.writeAll(c.scratch); err != nil {
		c.finish(fmt.Errorf("loadclient: write: %w", err))
	}
}

// finish ends the connection once. c.mu is held.
func (c *Conn) finish(err error) {
	if c.closed {
		return
	}
	c.closed = true
	c.err = err
	c.pending = nil
	c.p.unregister(c)
	close(c.done)
}

// Done is closed when the connection ends.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err tells why the connection ended (nil while it is up, and after Close).
func (c *Conn) Err() error {
	select {
	case <-c.done:
	default:
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close ends the connection.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.finish(nil)
	return nil
}

// MissedPings counts app-level pings that got no ack before the next one.
func (c *Conn) MissedPings() int64 { return c.missed.Load() }
