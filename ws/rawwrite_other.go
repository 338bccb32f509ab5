//go:build !unix

package ws

import (
	"errors"
	"net"
	"syscall"
)

// rawConn returns nil: without unix write(2), every socket keeps a flusher
// goroutine of its own.
func rawConn(net.Conn) syscall.RawConn { return nil }

// rawWriter is unused without unix write(2) (rawConn is always nil).
type rawWriter struct{}

func (*rawWriter) write(syscall.RawConn, []byte) (int, error) {
	return 0, errors.New("no non-blocking writes on this platform")
}
