//go:build unix

package ws

import (
	"net"
	"syscall"
)

// rawConn returns the descriptor access of a plain TCP connection, for the
// pool writers' non-blocking writes; nil for anything else (TLS, pipes), so
// those sockets keep a flusher goroutine of their own.
func rawConn(nc net.Conn) syscall.RawConn {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// rawWriter writes to a descriptor without ever waiting for it; one per
// pool writer, so the callback handed to RawConn.Write is built once.
type rawWriter struct {
	b   []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

// write writes as much of b as the kernel takes now: n < len(b) with a nil
// error means the peer's buffer is full. The connection's descriptor lock
// (RawConn.Write) keeps it from being closed or reused meanwhile.
func (w *rawWriter) write(rc syscall.RawConn, b []byte) (int, error) {
	if w.fn == nil {
		w.fn = w.do
	}
	w.b, w.n, w.err = b, 0, nil
	err := rc.Write(w.fn)
	n, werr := w.n, w.err
	w.b = nil
	if err != nil {
		return n, err
	}
	return n, werr
}

// do is the RawConn.Write callback: it returns true always, so the writer
// never parks on a slow peer. A partial write means the buffer is full
// (the next write would fail with EAGAIN), so it is not retried.
func (w *rawWriter) do(fd uintptr) bool {
	for {
		m, err := syscall.Write(int(fd), w.b)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
		case err != nil:
			w.err = err
		default:
			w.n = m
		}
		return true
	}
}
