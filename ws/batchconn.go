package ws

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
)

// Write batching. melody's write pump writes one websocket frame per
// write(2); under load a socket often has several frames queued, and one
// syscall for all of them is what keeps fan-out CPU per message low. A
// batchConn wraps each accepted TCP connection: while more of the socket's
// frames are queued behind the one being written (pending > 1), a data frame
// is kept in a buffer; the last queued frame, a control frame, or any write
// outside a burst flushes everything in one write. Nothing waits for a
// timer, so a lone frame is never delayed.
type batchConn struct {
	net.Conn
	// pending counts frames queued to the socket and not yet written.
	pending atomic.Int64
	mu      sync.Mutex
	buf     []byte
}

// maxBatch bounds the bytes held back before a forced flush.
const maxBatch = 32 << 10

// Write buffers a data frame while more are queued, else writes through.
func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	control := len(p) > 0 && p[0]&0x0f >= 0x8 // close, ping, pong
	if !control && b.pending.Load() > 1 && len(b.buf)+len(p) <= maxBatch {
		if b.buf == nil {
			b.buf = make([]byte, 0, 4096)
		}
		b.buf = append(b.buf, p...)
		return len(p), nil
	}
	if len(b.buf) == 0 {
		return b.Conn.Write(p)
	}
	b.buf = append(b.buf, p...)
	_, err := b.Conn.Write(b.buf)
	if cap(b.buf) > 8<<10 {
		b.buf = nil // do not keep a burst's buffer on an idle socket
	} else {
		b.buf = b.buf[:0]
	}
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// batchListener wraps accepted connections in batchConns.
type batchListener struct{ net.Listener }

func (l batchListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &batchConn{Conn: c}, nil
}

// WrapListener returns a listener whose connections batch websocket writes;
// serve the Handler on it with ConnContext set on the http.Server.
func WrapListener(ln net.Listener) net.Listener { return batchListener{ln} }

type connKey struct{}

// ConnContext is the http.Server hook that lets the websocket handler find
// its batching connection.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if bc, ok := c.(*batchConn); ok {
		return context.WithValue(ctx, connKey{}, bc)
	}
	return ctx
}

func batchConnOf(ctx context.Context) *batchConn {
	bc, _ := ctx.Value(connKey{}).(*batchConn)
	return bc
}
