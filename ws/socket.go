package ws

import (
	"encoding/binary"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

// socket is the websocket transport under one conn. It is built for
// fan-out, where one PBX change becomes a frame for every socket of a
// tenant:
//
//   - After the upgrade the HTTP handler returns. On a plain TCP connection
//     (Linux, Options.ReadMode epoll) the socket is read in poll mode
//     (pollReader, pollread.go): its descriptor waits in one of the node's
//     few epoll instances, and only when bytes arrive does a goroutine read
//     them without waiting, handle each message in order and end; frames
//     are parsed by readFrames (framereader.go). Other connections (TLS,
//     pipes) and the goroutine mode have one reading goroutine per socket
//     (gorilla/websocket, small read buffer). Nothing runs per idle socket
//     in poll mode: no goroutine, read buffer, writer or timer.
//   - Writing never blocks the caller: the frame's payload (shared by every
//     socket that gets the same variant) is queued by reference, and
//     everything queued is framed and written in one write(2). A router
//     queues a whole burst first and wakes the sockets once (queue, then
//     wake), so the frames of one change leave together.
//   - Who writes: on a TCP connection, one of the Server's few writer
//     goroutines (writers.go) with a non-blocking write, so a burst to
//     thousands of sockets starts no goroutine per socket. When the peer's
//     kernel buffer is full (a partial write), the rest of that buffer and
//     what follows go to a flusher goroutine of the socket's own, which
//     waits with a blocking write under the write deadline and ends once
//     the queue is empty. Other connections (TLS, pipes in tests) always
//     use that flusher.
//   - State frames carry a key (object and event): a newer state for the
//     same key replaces the queued one in place, so a slow reader needs at
//     most one frame per object and converges on the latest state. A frame
//     without a key (a transitional event) is a barrier: nothing queued
//     before it is replaced by what comes after it.
//   - The queue is bounded: maxFrames frames without a key, maxKeyedFrames
//     distinct keys; past either the caller is told (slow consumer),
//     nothing is dropped silently.
//
// One writer at a time (flushing): a pool writer, or the flusher it handed
// over to. Only it writes to the connection, except gorilla's own close
// frame on a protocol error just before the connection is closed; every
// buffer holds whole frames and leaves in order. (That close frame can
// only cut into a frame while the peer's buffer is full between a partial
// write and the flusher's rest, and the connection closes right after.)
type socket struct {
	nc        net.Conn
	ws        *websocket.Conn // used for reading only, in the goroutine mode (nil in poll mode)
	maxFrames int
	writeWait time.Duration
	out       *writers        // output buffers and pool writers, shared by a Server
	raw       syscall.RawConn // nc's descriptor for non-blocking writes; nil: flusher only

	mu        sync.Mutex
	q         []qframe       // queued frames, oldest first
	spare     []qframe       // the array of an earlier write, for the next queue
	frames    int            // frames without a key in q
	keyed     int            // frames with a key in q
	barrier   int            // q[:barrier] is never replaced (a keyless frame follows)
	index     map[string]int // key -> position in q, once q is long
	from      map[string]int // frames in q per sending user (droppable frames only)
	flushing  bool           // a writer owns the socket (ready, writing or flushing)
	waking    bool           // a queue() caller owes a wake()
	closing   bool           // a close frame is queued: nothing more is accepted
	finishing bool           // close the connection once the queue is written
	closed    bool           // the connection is closed

	// deadline is the write deadline set on nc; only the writer that owns
	// the socket touches it (owners follow each other under mu).
	deadline time.Time
}

// qframe is one queued frame: its opcode, its payload (never modified, often
// shared with other sockets), its conflation key ("" for none) and the
// publish stamp of the bus event it carries (Unix ns; 0: none), for
// ctiws_event_to_write_seconds.
type qframe struct {
	op      byte
	payload []byte
	key     string
	at      int64
}

// maxKeyedFrames bounds the distinct objects a slow socket may have queued
// (a reference each, about 50 bytes).
const maxKeyedFrames = 8192

// indexFrom is the queue length from which keys are looked up in a map
// instead of a scan of the replaceable tail.
const indexFrom = 16

// newSocket takes over an upgraded connection: ws reads, the socket
// writes. maxFrames bounds the queue, writeWait one blocking write; out
// (newWriters) provides the output buffers and the pool writers.
func newSocket(ws *websocket.Conn, maxFrames int, writeWait time.Duration, out *writers) *socket {
	nc := ws.UnderlyingConn()
	s := newSocketOn(nc, rawConn(nc), maxFrames, writeWait, out)
	s.ws = ws
	return s
}

// newSocketOn is newSocket for a connection read in poll mode (no gorilla
// Conn): raw is nc's descriptor for non-blocking writes and reads.
func newSocketOn(nc net.Conn, raw syscall.RawConn, maxFrames int, writeWait time.Duration, out *writers) *socket {
	return &socket{nc: nc, maxFrames: maxFrames, writeWait: writeWait, out: out, raw: raw}
}

// Websocket opcodes (RFC 6455 §5.2).
const (
	opText  = 0x1
	opClose = 0x8
	opPong  = 0xA
)

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

// writeTextBelow queues a keyless text frame one user sent another (from)
// only while fewer than limit keyless frames are queued and fewer than
// fromLimit frames of the same sender (no share without a sender);
// errQueueBusy otherwise (the socket
// is not disconnected: for frames that may be dropped, such as relays).
// The sender's share keeps one user's flood from using up the room other
// senders' frames have.
func (s *socket) writeTextBelow(payload []byte, limit int, from string, fromLimit int) error {
	wake, err := s.queueFrom(opText, payload, limit, from, fromLimit)
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
	return s.queueAt(op, payload, key, 0)
}

// queueAt is queue for a frame carrying a bus event published at at (Unix
// ns, cluster.Event.Time; 0: unknown): the write that carries it observes
// the time since in ctiws_event_to_write_seconds.
func (s *socket) queueAt(op byte, payload []byte, key string, at int64) (wake, replaced bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queueLocked(op, payload, key, -1, at)
}

// queueClaim is queueAt for a router's batch: when the socket needs a
// writer, the caller owns it at once (claimed: the socket is flushing) and
// must hand it over (wakeAll) once the batch is routed, with no second
// look at the socket. Meanwhile it is handled as if on the ready
// list: other frames join the queue, a close waits for the writer.
func (s *socket) queueClaim(op byte, payload []byte, key string, at int64) (claimed, replaced bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	claimed, replaced, err = s.queueLocked(op, payload, key, -1, at)
	if claimed {
		s.waking, s.flushing = false, true
	}
	return claimed, replaced, err
}

// queueFrom queues a keyless frame of a sending user with a lower bound
// (queueLocked) while the sender has fewer than fromLimit frames queued,
// and counts it in the sender's share.
func (s *socket) queueFrom(op byte, payload []byte, limit int, from string, fromLimit int) (wake bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if from != "" && !s.closed && !s.closing && s.from[from] >= fromLimit {
		return false, errQueueBusy
	}
	wake, _, err = s.queueLocked(op, payload, "", limit, 0)
	if err == nil && from != "" {
		if s.from == nil {
			s.from = map[string]int{}
		}
		s.from[from]++
	}
	return wake, err
}

// queueLocked is queueAt with s.mu held and a bound for keyless frames,
// limit (negative: maxFrames): past it (below maxFrames) errQueueBusy
// instead of errQueueFull. maxFrames is read only for a keyless frame, so
// a fan-out's keyed frames touch one cache line of the socket less.
func (s *socket) queueLocked(op byte, payload []byte, key string, limit int, at int64) (wake, replaced bool, err error) {
	if s.closed || s.closing {
		return false, false, errSocketClosed
	}
	if key != "" {
		if i := s.find(key); i >= 0 {
			s.q[i].payload, s.q[i].at = payload, at
			return false, true, nil
		}
		if s.keyed >= maxKeyedFrames {
			return false, false, errQueueFull
		}
		s.keyed++
	} else {
		if limit < 0 {
			limit = s.maxFrames
		}
		if op != opClose && s.frames >= limit {
			if limit < s.maxFrames {
				return false, false, errQueueBusy
			}
			return false, false, errQueueFull
		}
		s.frames++
	}
	if s.q == nil {
		s.q, s.spare = s.spare, nil // the array of an earlier write
	}
	s.q = append(s.q, qframe{op: op, payload: payload, key: key, at: at})
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

// wake hands the socket to a writer for what queue() added, unless one
// owns it already.
func (s *socket) wake() {
	s.mu.Lock()
	s.waking = false
	start := !s.flushing && len(s.q) > 0
	if start {
		s.flushing = true
	}
	s.mu.Unlock()
	switch {
	case !start:
	case s.raw != nil:
		s.out.ready(s)
	default:
		go s.flush()
	}
}

// wakeAll hands the sockets a router's batch claimed (queueClaim) to
// writers: the pool writers' list takes them in runs, one lock per run
// instead of one per socket.
func wakeAll(socks []*socket) {
	var run [64]*socket
	n := 0
	var out *writers
	for _, s := range socks {
		if s.raw == nil {
			go s.flush()
			continue
		}
		if n == len(run) || (n > 0 && s.out != out) {
			out.readyAll(run[:n])
			n = 0
		}
		out = s.out
		run[n] = s
		n++
	}
	if n > 0 {
		out.readyAll(run[:n])
	}
}

// take returns the queue for the next write; nil when there is nothing
// (more) to write or the socket is closed: then the owning writer lets go
// of the socket, and a finished socket's connection is closed.
func (s *socket) take() []qframe {
	s.mu.Lock()
	q := s.q
	s.q = nil
	s.frames, s.keyed, s.barrier, s.index = 0, 0, 0, nil
	clear(s.from)
	if len(q) > 0 && !s.closed {
		s.mu.Unlock()
		return q
	}
	s.stopLocked()
	return nil
}

// stopLocked ends the current writer's ownership; s.mu is held and is
// released. The connection of a finished socket is closed.
func (s *socket) stopLocked() {
	s.flushing = false
	finish := s.finishing && !s.closed
	if finish {
		s.closed = true
	}
	s.mu.Unlock()
	if finish {
		_ = s.nc.Close()
	}
}

// encode frames q into an output buffer; oldest is the earliest bus
// event stamp among the frames (0: none). The caller recycles q.
func (s *socket) encode(q []qframe) (buf *[]byte, oldest int64) {
	buf = s.out.buffer()
	for _, f := range q {
		*buf = appendFrame(*buf, f.op, f.payload)
		if f.at > 0 && (oldest == 0 || f.at < oldest) {
			oldest = f.at
		}
	}
	return buf, oldest
}

// flush is the socket's own flusher: it writes the queue with blocking
// writes until it is empty, then ends.
func (s *socket) flush() {
	for {
		q := s.take()
		if q == nil {
			return
		}
		s.out.count(1, len(q))
		buf, oldest := s.encode(q)
		s.recycle(q)
		s.out.written(oldest)
		s.writeBlocking(buf, 0)
	}
}

// writeBlocking writes (*buf)[off:] under the write deadline and releases
// buf; a failed write kills the socket (the reader then sees the closed
// connection and ends the conn).
func (s *socket) writeBlocking(buf *[]byte, off int) {
	// Move the deadline only when less than half of writeWait is left:
	// every write still gets at least writeWait/2, and a busy socket does
	// not reset a runtime timer per write.
	if now := time.Now(); s.deadline.Sub(now) < s.writeWait/2 {
		s.deadline = now.Add(s.writeWait)
		_ = s.nc.SetWriteDeadline(s.deadline)
	}
	_, err := s.nc.Write((*buf)[off:])
	s.out.release(buf)
	if err != nil {
		s.kill()
	}
}

// writeOnce is a pool writer's turn at the socket: one non-blocking write
// of everything queued. Afterwards the socket goes back to the end of the
// ready list if more was queued meanwhile (so it waits its turn and takes
// more frames along), to its own flusher if the peer's buffer was full, or
// the writer lets go of it. It returns the frames written (0: none). With
// sample, a write that carries a bus event observes
// ctiws_event_to_write_seconds (sampled: true).
func (s *socket) writeOnce(w *rawWriter, sample bool) (frames int, sampled bool) {
	q := s.take()
	if q == nil {
		return 0, false
	}
	frames = len(q)
	buf, oldest := s.encode(q)
	if !s.deadline.IsZero() {
		// The flusher's deadline would fail a later non-blocking write
		// once passed; these writes never wait.
		s.deadline = time.Time{}
		_ = s.nc.SetWriteDeadline(s.deadline)
	}
	if sampled = sample && oldest > 0; sampled {
		s.out.written(oldest)
	}
	n, err := w.write(s.raw, *buf)
	switch {
	case err != nil:
		s.out.release(buf)
		s.recycle(q)
		s.kill()
		s.take() // closed: lets go
		return 0, sampled
	case n < len(*buf):
		s.out.handedOff()
		s.recycle(q)
		go s.flushRest(buf, n)
	default:
		s.out.release(buf)
		s.mu.Lock()
		s.keepLocked(q)
		if len(s.q) == 0 || s.closed {
			s.stopLocked()
			return frames, sampled
		}
		s.mu.Unlock()
		s.out.ready(s)
	}
	return frames, sampled
}

// flushRest is the flusher a pool writer hands a socket over to when the
// peer's kernel buffer is full: it writes the rest of buf, then whatever
// was queued meanwhile, with blocking writes.
func (s *socket) flushRest(buf *[]byte, off int) {
	s.writeBlocking(buf, off)
	s.flush()
}

// maxSpareFrames is the largest queue kept for reuse by its socket.
const maxSpareFrames = 4

// recycle keeps a written queue's array for the next burst, unless it grew
// large (an idle socket keeps at most a small one).
func (s *socket) recycle(q []qframe) {
	if cap(q) > maxSpareFrames {
		return
	}
	s.mu.Lock()
	s.keepLocked(q)
	s.mu.Unlock()
}

// keepLocked is recycle with s.mu held.
func (s *socket) keepLocked(q []qframe) {
	if cap(q) > maxSpareFrames || s.spare != nil {
		return
	}
	clear(q) // drop the payload references
	s.spare = q[:0]
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
