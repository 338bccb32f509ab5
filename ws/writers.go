package ws

import (
	"runtime"
	"sync"
	"time"
)

// writers is a Server's output side, shared by its sockets: the pool of
// output buffers (an idle socket holds none) and the pool writers, a few
// goroutines that write the queues of ready sockets to their TCP
// connections with non-blocking writes (socket.writeOnce).
//
// A burst to thousands of sockets thus runs on at most GOMAXPROCS
// goroutines instead of starting one per socket. The writers start on
// demand and end as soon as no socket is ready, so an idle Server runs
// none and needs no shutdown. Under load a socket waits its turn in the
// ready list while its queue grows, so several changes leave in one write
// (never by adding a delay: an idle writer takes a socket at once).
type writers struct {
	bufs    sync.Pool // of *[]byte
	max     int       // writer goroutines at most
	metrics *Metrics  // nil: not counted

	mu      sync.Mutex
	list    []*socket // ready sockets, oldest first from head
	head    int
	running int // writer goroutines running
}

// maxPooledBuffer is the largest output buffer kept for reuse; a burst's
// larger buffer goes to the garbage collector.
const maxPooledBuffer = 64 << 10

// writerBatch is how many ready sockets a writer takes per look at the
// list.
const writerBatch = 16

// newWriters returns the output side of a Server, with up to GOMAXPROCS
// pool writers; writes are counted in m (nil: not counted).
func newWriters(m *Metrics) *writers {
	return &writers{
		max:     runtime.GOMAXPROCS(0),
		metrics: m,
		bufs: sync.Pool{New: func() any {
			b := make([]byte, 0, 2048)
			return &b
		}},
	}
}

// buffer returns an empty output buffer.
func (w *writers) buffer() *[]byte { return w.bufs.Get().(*[]byte) }

// release returns an output buffer to the pool, unless it grew large.
func (w *writers) release(buf *[]byte) {
	if cap(*buf) > maxPooledBuffer {
		return
	}
	*buf = (*buf)[:0]
	w.bufs.Put(buf)
}

// ready appends a socket its caller owns (flushing) to the ready list and
// starts a writer if fewer than max run.
func (w *writers) ready(s *socket) {
	one := [1]*socket{s}
	w.readyAll(one[:])
}

// readyAll is ready for several sockets, with one lock: it starts a writer
// per writerBatch sockets while fewer than max run.
func (w *writers) readyAll(ss []*socket) {
	w.mu.Lock()
	w.list = append(w.list, ss...)
	start := min(w.max-w.running, (len(ss)+writerBatch-1)/writerBatch)
	start = max(start, 0)
	w.running += start
	w.mu.Unlock()
	for range start {
		go w.run()
	}
}

// run is one pool writer: it writes ready sockets until none is left.
func (w *writers) run() {
	var rw rawWriter
	batch := make([]*socket, 0, writerBatch)
	for {
		batch = w.take(batch[:0])
		if len(batch) == 0 {
			return
		}
		writes, frames := 0, 0
		sample := true // the batch's first write of a bus event is observed
		for i, s := range batch {
			n, sampled := s.writeOnce(&rw, sample)
			if n > 0 {
				writes++
				frames += n
			}
			sample = sample && !sampled
			batch[i] = nil
		}
		w.count(writes, frames)
	}
}

// handedOff counts a socket handed to its own flusher (a full peer buffer).
func (w *writers) handedOff() {
	if w.metrics != nil {
		w.metrics.WriteHandoffs.Inc()
	}
}

// count adds written buffers and their frames to the metrics.
func (w *writers) count(writes, frames int) {
	if w.metrics == nil || writes == 0 {
		return
	}
	w.metrics.SocketWrites.Add(float64(writes))
	w.metrics.FramesWritten.Add(float64(frames))
}

// written observes, for a buffer about to be handed to write(2), the time
// since the publish stamp of its oldest bus event (at, Unix ns; 0: the
// buffer holds none) in ctiws_event_to_write_seconds. It samples: a pool
// writer observes the first such write of each batch (up to writerBatch
// sockets, from wherever the batch falls in a burst), a flusher every write
// of its own, so a burst to thousands of sockets pays one clock read and
// observation per batch, not per socket (docs/benchmarks.md, History). A
// stamp ahead of this node's clock counts as 0.
func (w *writers) written(at int64) {
	if at == 0 || w.metrics == nil {
		return
	}
	w.metrics.EventToWrite.Observe(float64(max(time.Now().UnixNano()-at, 0)) / 1e9)
}

// take moves up to writerBatch ready sockets into batch; with none left it
// counts the calling writer out (it must then end).
func (w *writers) take(batch []*socket) []*socket {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := min(len(w.list)-w.head, writerBatch)
	if n == 0 {
		w.running--
		w.list, w.head = w.list[:0], 0
		return batch
	}
	batch = append(batch, w.list[w.head:w.head+n]...)
	clear(w.list[w.head : w.head+n])
	w.head += n
	// Keep the list from growing at the back while it is never empty.
	if w.head >= 1024 && 2*w.head >= len(w.list) {
		k := copy(w.list, w.list[w.head:])
		clear(w.list[k:])
		w.list, w.head = w.list[:k], 0
	}
	return batch
}
