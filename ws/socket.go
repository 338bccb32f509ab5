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
//   - Writing never blocks the caller: the frame's payload (shared by every
//     socket that gets the same variant) is queued by reference, and a
//     flusher goroutine, alive only while there is output, frames
//     everything queued and writes it in one write(2). A router queues a
//     whole burst first and wakes the flushers once (queue, then wake), so
//     the frames of one change leave together.
//   - State frames carry a key (object and event): a newer state for the
//     same key replaces the queued one in place, so a slow reader needs at
//     most one frame per object and converges on the latest state. A frame
//     without a key (a transitional event) is a barrier: nothing queued
//     before it is replaced by what comes after it.
//   - The queue is bounded: maxFrames frames without a key, maxKeyedFrames
//     distinct keys; past either the caller is told (slow consumer),
//     nothing is dropped silently.
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
	q         []qframe       // queued frames, oldest first
	spare     []qframe       // the flusher's last queue, for reuse
	frames    int            // frames without a key in q
	keyed     int            // frames with a key in q
	barrier   int            // q[:barrier] is never replaced (a keyless frame follows)
	index     map[string]int // key -> position in q, once q is long
	flushing  bool           // a flusher goroutine is running
	waking    bool           // a queue() caller owes a wake()
	closing   bool           // a close frame is queued: nothing more is accepted
	finishing bool           // close the connection once the queue is written
	closed    bool           // the connection is closed

	// deadline is the write deadline set on nc; only the running flusher
	// touches it (flushers follow each other under mu).
	deadline time.Time
}

// qframe is one queued frame: its opcode, its payload (never modified, often
// shared with other sockets) and its conflation key ("" for none).
type qframe struct {
	op      byte
	payload []byte
	key     string
}

// maxKeyedFrames bounds the distinct objects a slow socket may have queued
// (a reference each, about 50 bytes).
const maxKeyedFrames = 8192

// indexFrom is the queue length from which keys are looked up in a map
// instead of a scan of the replaceable tail.
const indexFrom = 16

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

// writeText queues a text frame and wakes the flusher; errQueueFull means
// the peer does not read fast enough, errSocketClosed that the socket is
// closing.
func (s *socket) writeText(payload []byte) error { return s.write(opText, payload) }

// writeClose queues a close frame with a status code and reason; nothing is
// accepted after it. It is queued even when the queue is full.
func (s *socket) writeClose(code int, reason string) error {
	return s.write(opClose, websocket.FormatCloseMessage(code, reason))
}

// writeTextBelow queues a keyless text frame only while fewer than limit
// keyless frames are queued; errQueueBusy otherwise (the socket is not
// disconnected: for frames that may be dropped, such as relays).
func (s *socket) writeTextBelow(payload []byte, limit int) error {
	wake, _, err := s.queueBelow(opText, payload, "", limit)
	if wake {
		s.wake()
	}
	return err
}

// write queues one keyless frame and wakes the flusher.
func (s *socket) write(op byte, payload []byte) error {
	wake, _, err := s.queue(op, payload, "")
	if wake {
		s.wake()
	}
	return err
}

// queue adds a frame without starting the flusher. With a key, a frame of
// the same key queued after the last keyless frame is replaced in place
// (replaced is true). wake is true when the caller must call wake once it
// has queued the rest of its burst.
func (s *socket) queue(op byte, payload []byte, key string) (wake, replaced bool, err error) {
	return s.queueBelow(op, payload, key, s.maxFrames)
}

// queueBelow is queue with a lower bound for keyless frames: past it
// (below maxFrames) errQueueBusy instead of errQueueFull.
func (s *socket) queueBelow(op byte, payload []byte, key string, limit int) (wake, replaced bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.closing {
		return false, false, errSocketClosed
	}
	if key != "" {
		if i := s.find(key); i >= 0 {
			s.q[i].payload = payload
			return false, true, nil
		}
		if s.keyed >= maxKeyedFrames {
			return false, false, errQueueFull
		}
		s.keyed++
	} else {
		if op != opClose && s.frames >= limit {
			if limit < s.maxFrames {
				return false, false, errQueueBusy
			}
			return false, false, errQueueFull
		}
		s.frames++
	}
	s.q = append(s.q, qframe{op: op, payload: payload, key: key})
	switch {
	case key == "":
		s.barrier, s.index = len(s.q), nil
	case s.index != nil:
		s.index[key] = len(s.q) - 1
	case len(s.q)-s.barrier >= indexFrom:
		s.index = make(map[string]int, 2*indexFrom)
		for i := s.barrier; i < len(s.q); i++ {
			s.index[s.q[i].key] = i
		}
	}
	if op == opClose {
		s.closing = true
	}
	if s.flushing || s.waking {
		return false, false, nil
	}
	s.waking = true
	return true, false, nil
}

// find returns the position of a replaceable frame with key, or -1.
func (s *socket) find(key string) int {
	if s.index != nil {
		if i, ok := s.index[key]; ok {
			return i
		}
		return -1
	}
	for i := len(s.q) - 1; i >= s.barrier; i-- {
		if s.q[i].key == key {
			return i
		}
	}
	return -1
}

// wake starts the flusher for what queue() added, unless one runs.
func (s *socket) wake() {
	s.mu.Lock()
	s.waking = false
	start := !s.flushing && len(s.q) > 0
	if start {
		s.flushing = true
	}
	s.mu.Unlock()
	if start {
		go s.flush()
	}
}

// flush writes the queue until it is empty, then ends.
func (s *socket) flush() {
	for {
		s.mu.Lock()
		q := s.q
		s.q, s.spare = s.spare, nil
		s.frames, s.keyed, s.barrier, s.index = 0, 0, 0, nil
		if len(q) == 0 || s.closed {
			s.flushing = false
			finish := s.finishing && !s.closed
			if finish {
				s.closed = true
			}
			s.mu.Unlock()
			if finish {
				_ = s.nc.Close()
			}
			return
		}
		s.mu.Unlock()
		buf := s.pool.Get().(*[]byte)
		for _, f := range q {
			*buf = appendFrame(*buf, f.op, f.payload)
		}
		s.recycle(q)
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

// maxSpareFrames is the largest queue kept for reuse by its socket.
const maxSpareFrames = 4

// recycle keeps a written queue's array for the next burst, unless it grew
// large (an idle socket keeps at most a small one).
func (s *socket) recycle(q []qframe) {
	if cap(q) > maxSpareFrames {
		return
	}
	clear(q) // drop the payload references
	s.mu.Lock()
	if s.spare == nil && s.q == nil {
		s.spare = q[:0]
	}
	s.mu.Unlock()
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
