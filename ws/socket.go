package ws

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// socket is the websocket transport under one conn. It is built for
// fan-out, where one PBX change becomes a frame for every socket of a
// tenant:
//
//   - After the upgrade the HTTP handler returns; one goroutine per socket
//     reads frames (gorilla/websocket, small read buffer). Nothing else runs
//     per idle socket: no writer goroutine, no timer.
//   - Writing never blocks the caller: the frame is appended, already
//     framed, to the socket's output buffer, and a flusher goroutine, alive
//     only while there is output, writes everything queued in one write(2).
//     A burst of frames for one socket therefore costs one syscall.
//   - The queue is bounded in frames; a full queue is reported to the
//     caller (slow consumer), nothing is dropped silently.
//
// Only the flusher writes to the connection, except gorilla's own close
// frame on a protocol error just before the connection is closed; Go's
// net.Conn never interleaves two Writes, and every buffer holds whole
// frames.
type socket struct {
	nc        net.Conn
	ws        *websocket.Conn // used for reading only
	maxFrames int
	writeWait time.Duration
	pool      *sync.Pool // of *[]byte output buffers, shared by a Server

	mu        sync.Mutex
	out       *[]byte // queued frames; nil when nothing is queued
	frames    int     // frames in out
	flushing  bool    // a flusher goroutine is running
	closing   bool    // a close frame is queued: nothing more is accepted
	finishing bool    // close the connection once the queue is written
	closed    bool    // the connection is closed

	// deadline is the write deadline set on nc; only the running flusher
	// touches it (flushers follow each other under mu).
	deadline time.Time
}

// newSocket takes over an upgraded connection: ws reads, the socket
// writes. maxFrames bounds the queue, writeWait one write; the output
// buffers come from pool (newOutputPool).
func newSocket(ws *websocket.Conn, maxFrames int, writeWait time.Duration, pool *sync.Pool) *socket {
	return &socket{nc: ws.UnderlyingConn(), ws: ws, maxFrames: maxFrames, writeWait: writeWait, pool: pool}
}

// Websocket opcodes (RFC 6455 §5.2).
const (
	opText  = 0x1
	opClose = 0x8
	opPong  = 0xA
)

var (
	errSocketClosed = errors.New("socket closed")
	errQueueFull    = errors.New("send queue full")
	errQueueBusy    = errors.New("send queue busy")
)

// maxPooledBuffer is the largest output buffer kept for reuse; a burst's
// larger buffer goes to the garbage collector.
const maxPooledBuffer = 64 << 10

// newOutputPool returns the pool of output buffers a Server shares among
// its sockets, so an idle socket holds none.
func newOutputPool() *sync.Pool {
	return &sync.Pool{New: func() any {
		b := make([]byte, 0, 2048)
		return &b
	}}
}

// appendFrame appends one unmasked, unfragmented server frame (RFC 6455
// §5.2) to b.
func appendFrame(b []byte, op byte, payload []byte) []byte {
	b = append(b, 0x80|op)
	switch n := len(payload); {
	case n <= 125:
		b = append(b, byte(n))
	case n <= 0xffff:
		b = append(b, 126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

// writeText queues a text frame; errQueueFull means the peer does not read
// fast enough, errSocketClosed that the socket is closing.
func (s *socket) writeText(payload []byte) error { return s.enqueue(opText, payload) }

// writeClose queues a close frame with a status code and reason; nothing is
// accepted after it. It is queued even when the queue is full.
func (s *socket) writeClose(code int, reason string) error {
	return s.enqueue(opClose, websocket.FormatCloseMessage(code, reason))
}

// writeTextBelow queues a text frame only while fewer than limit frames
// are queued; errQueueBusy otherwise (the socket is not disconnected).
func (s *socket) writeTextBelow(payload []byte, limit int) error {
	return s.enqueueBelow(opText, payload, limit)
}

func (s *socket) enqueue(op byte, payload []byte) error {
	return s.enqueueBelow(op, payload, s.maxFrames)
}

func (s *socket) enqueueBelow(op byte, payload []byte, limit int) error {
	s.mu.Lock()
	if s.closed || s.closing {
		s.mu.Unlock()
		return errSocketClosed
	}
	if op != opClose && s.frames >= limit {
		if limit < s.maxFrames {
			s.mu.Unlock()
			return errQueueBusy
		}
		s.mu.Unlock()
		return errQueueFull
	}
	if s.out == nil {
		s.out = s.pool.Get().(*[]byte)
	}
	*s.out = appendFrame(*s.out, op, payload)
	s.frames++
	if op == opClose {
		s.closing = true
	}
	start := !s.flushing
	s.flushing = true
	s.mu.Unlock()
	if start {
		go s.flush()
	}
	return nil
}

// flush writes the queue until it is empty, then ends.
func (s *socket) flush() {
	for {
		s.mu.Lock()
		buf := s.out
		s.out, s.frames = nil, 0
		if buf == nil || s.closed {
			s.flushing = false
			finish := s.finishing && !s.closed
			if finish {
				s.closed = true
			}
			s.mu.Unlock()
			if buf != nil {
				s.release(buf)
			}
			if finish {
				_ = s.nc.Close()
			}
			return
		}
		s.mu.Unlock()
		// Move the deadline only when less than half of writeWait is left:
		// every write still gets at least writeWait/2, and a busy socket
		// does not reset a runtime timer per write.
		if now := time.Now(); s.deadline.Sub(now) < s.writeWait/2 {
			s.deadline = now.Add(s.writeWait)
			_ = s.nc.SetWriteDeadline(s.deadline)
		}
		_, err := s.nc.Write(*buf)
		s.release(buf)
		if err != nil {
			// The reader sees the closed connection and ends the conn.
			s.kill()
		}
	}
}

func (s *socket) release(buf *[]byte) {
	if cap(*buf) > maxPooledBuffer {
		return
	}
	*buf = (*buf)[:0]
	s.pool.Put(buf)
}

// finish closes the connection once what is queued has been written (or
// its write deadline has passed): the reader calls it when it ends, so a
// close frame echoed to the peer still leaves.
func (s *socket) finish() {
	s.mu.Lock()
	s.closing = true
	if s.flushing || s.closed {
		s.finishing = true
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	_ = s.nc.Close()
}

// kill closes the connection at once, dropping what is queued.
func (s *socket) kill() {
	s.mu.Lock()
	already := s.closed
	s.closed, s.closing = true, true
	s.mu.Unlock()
	if !already {
		_ = s.nc.Close()
	}
}
