//go:build !linux

package ws

import (
	"errors"
	"syscall"
)

// epoller is Linux's (pollread_linux.go); elsewhere every socket is read
// in the goroutine mode.
type epoller struct{}

type epollLoop struct{}

func newEpoller() (*epoller, error) { return nil, errors.New("ws: epoll read mode needs Linux") }

func (*epoller) add(*pollReader) error { return errors.ErrUnsupported }

func (*epollLoop) arm(*pollReader) error { return errors.ErrUnsupported }

func (*epollLoop) remove(*pollReader) {}

type rawReader struct{ buf []byte }

func (*rawReader) read(syscall.RawConn, []byte) (int, bool, error) {
	return 0, false, errors.ErrUnsupported
}
