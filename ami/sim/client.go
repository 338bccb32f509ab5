package sim

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// client is one AMI connection.
type client struct {
	s    *Server
	id   uint64
	conn net.Conn

	// guarded by s.mu
	mask     classMask
	loggedIn bool

	mu      sync.Mutex // guards pending, closing, dead
	pending []byte
	closing bool // close once pending is written
	dead    bool

	wake      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	writerOut chan struct{}

	replay *replayer // replay mode only
}

// serveConn runs one connection: banner, login, then actions until the
// peer goes away or the server drops it.
func (s *Server) serveConn(ctx context.Context, conn net.Conn) {
	c := &client{
		s:         s,
		id:        s.nextID.Add(1),
		conn:      conn,
		wake:      make(chan struct{}, 1),
		done:      make(chan struct{}),
		writerOut: make(chan struct{}),
	}
	log := s.log.With("conn", c.id, "remote", conn.RemoteAddr().String())
	s.mu.Lock()
	down := time.Now().Before(s.downUntil) || s.closed
	if !down {
		s.conns[c] = struct{}{}
	}
	s.mu.Unlock()
	if down {
		log.Debug("refusing connection while restarting")
		conn.Close()
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	go c.writeLoop()
	defer func() {
		c.close()
		<-c.writerOut
		s.mu.Lock()
		delete(s.clients, c)
		delete(s.conns, c)
		s.mu.Unlock()
		log.Debug("connection closed")
	}()
	c.enqueue([]byte("Asterisk Call Manager/" + s.cfg.AMIVersion + "\r\n"))
	br := bufio.NewReaderSize(conn, 4096)
	for {
		f, err := readFrame(br)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				log.Debug("read", "err", err)
			}
			return
		}
		if f.malformed > 0 {
			log.Debug("malformed input from client", "bad_lines", f.malformed)
		}
		if !c.handle(ctx, f.msg, log) {
			return
		}
	}
}

// handle processes one client message; false ends the connection.
func (c *client) handle(ctx context.Context, a *Message, log *slog.Logger) bool {
	s := c.s
	s.st.actions.Add(1)
	s.received.add(a)
	id := a.Get("ActionID")
	action, ok := a.Lookup("Action")
	if !ok || action == "" {
		c.send(errorResponse(id, "Missing action in request"))
		return true
	}
	s.mu.Lock()
	logged := c.loggedIn
	s.mu.Unlock()
	switch strings.ToLower(action) {
	case "login":
		if logged {
			c.send(successResponse(id, "Already authenticated"))
			return true
		}
		return c.login(ctx, a, log)
	case "logoff":
		c.send(&Message{Headers: []Header{{"Response", "Goodbye"}}}, withID(id), Header{"Message", "Thanks for all the fish."})
		c.closeAfterFlush()
		return true
	case "ping":
		if !logged || c.replay == nil {
			c.send(pong(id))
			return true
		}
	case "challenge":
		if !logged {
			c.send(errorResponse(id, "Must specify AuthType"))
			return true
		}
	}
	if !logged {
		c.send(errorResponse(id, "Permission denied"))
		return true
	}
	if strings.EqualFold(action, "events") {
		mask, ok := parseEventMask(a.Get("EventMask"))
		if !ok {
			mask = 0
		}
		s.mu.Lock()
		c.mask = mask
		s.mu.Unlock()
		r := &Message{}
		r.Add("Response", "Success")
		if id != "" {
			r.Add("ActionID", id)
		}
		if mask != 0 {
			r.Add("Events", "On")
		} else {
			r.Add("Events", "Off")
		}
		c.send(r)
		return true
	}
	if c.replay != nil {
		select {
		case c.replay.actions <- a:
		case <-c.done:
			return false
		}
		return true
	}
	s.mu.Lock()
	res := s.pbx.handle(a)
	if res == nil {
		res = []*Message{errorResponse(id, "Invalid/unknown command")}
	}
	c.sendLocked(res...)
	s.mu.Unlock()
	return true
}

func pad6(n int) string {
	s := strconv.Itoa(n)
	return strings.Repeat("0", max(0, 6-len(s))) + s
}

// withID returns the ActionID header option for send.
func withID(id string) Header { return Header{"ActionID", id} }

// login checks the credentials, registers the client for events and sends
// FullyBooted.
func (c *client) login(ctx context.Context, a *Message, log *slog.Logger) bool {
	s := c.s
	id := a.Get("ActionID")
	if a.Get("Username") != s.cfg.Username || a.Get("Secret") != s.cfg.Secret {
		log.Info("authentication failed", "username", a.Get("Username"))
		c.send(errorResponse(id, "Authentication failed"))
		c.closeAfterFlush()
		return true
	}
	mask := clsAll
	if ev, ok := a.Lookup("Events"); ok {
		if m, ok := parseEventMask(ev); ok {
			mask = m
		}
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	c.loggedIn = true
	c.mask = mask
	c.sendLocked(successResponse(id, "Authentication accepted"))
	fb := NewEvent("FullyBooted", privSystem)
	fb.Add("Uptime", strconv.FormatInt(int64(time.Since(s.pbx.bootedAt)/time.Second), 10))
	fb.Add("LastReload", strconv.FormatInt(int64(time.Since(s.pbx.reloadedAt)/time.Second), 10))
	fb.Add("Status", "Fully Booted")
	if c.mask&clsSystem != 0 {
		c.enqueue(fb.AppendWire(nil))
	}
	var t *Transcript
	if s.replayMode() {
		idx := min(s.replayConns, len(s.transcripts)-1)
		s.replayConns++
		t = s.transcripts[idx]
		log.Info("replaying transcript", "index", idx+1)
	}
	s.clients[c] = struct{}{}
	s.mu.Unlock()
	log.Debug("logged in", "username", a.Get("Username"))
	if t != nil {
		c.replay = newReplayer(c, t)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c.replay.run(ctx)
		}()
	}
	return true
}

// send queues messages to this client only. It takes s.mu so that the
// answer is ordered with the events.
func (c *client) send(m *Message, extra ...Header) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if len(extra) > 0 {
		m = m.Clone()
		for _, h := range extra {
			if h.Key == "ActionID" && h.Value == "" {
				continue
			}
			m.Headers = append(m.Headers, h)
		}
	}
	c.sendLocked(m)
}

// sendLocked queues messages; s.mu must be held.
func (c *client) sendLocked(ms ...*Message) {
	var b []byte
	for _, m := range ms {
		b = m.AppendWire(b)
	}
	c.enqueue(b)
}

// enqueue appends wire bytes to the output queue. It reports false when
// the client is gone. A client whose queue exceeds MaxPendingBytes is
// disconnected as too slow.
func (c *client) enqueue(b []byte) bool {
	c.mu.Lock()
	if c.dead || c.closing {
		c.mu.Unlock()
		return false
	}
	if len(c.pending)+len(b) > c.s.cfg.MaxPendingBytes {
		c.dead = true
		c.mu.Unlock()
		c.s.st.slowDrops.Add(1)
		c.s.log.Warn("client too slow, disconnecting", "conn", c.id, "pending_limit", c.s.cfg.MaxPendingBytes)
		c.close()
		return false
	}
	c.pending = append(c.pending, b...)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
}

// alive reports whether the connection is neither closed nor closing.
func (c *client) alive() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.dead && !c.closing
}

// closeAfterFlush closes the connection once everything queued is written.
func (c *client) closeAfterFlush() {
	c.mu.Lock()
	c.closing = true
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// close closes the connection now. It never takes s.mu.
func (c *client) close() {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.dead = true
		c.mu.Unlock()
		close(c.done)
		c.conn.Close()
	})
}

// writeLoop writes queued output in batches: one Write per wake-up.
func (c *client) writeLoop() {
	defer close(c.writerOut)
	var buf []byte
	for {
		select {
		case <-c.wake:
		case <-c.done:
			return
		}
		for {
			c.mu.Lock()
			buf, c.pending = c.pending, buf[:0]
			closing := c.closing
			c.mu.Unlock()
			if len(buf) == 0 {
				if closing {
					c.close()
					return
				}
				break
			}
			_ = c.conn.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
			n, err := c.conn.Write(buf)
			c.s.st.bytesWritten.Add(uint64(n))
			if err != nil {
				c.close()
				return
			}
		}
	}
}
