//go:build !linux

package loadclient

import (
	"errors"
	"net"
	"time"
)

// errUnsupported: the poller needs Linux's epoll.
var errUnsupported = errors.New("loadclient: needs Linux (epoll)")

// Poller is unavailable here: NewPoller fails and ctiws bench uses
// ws/client instead.
type Poller struct{}

// NewPoller fails: the poller needs Linux.
func NewPoller(int, time.Duration) (*Poller, error) { return nil, errUnsupported }

func (p *Poller) register(*Conn, *net.TCPConn, []byte) error { return errUnsupported }
func (p *Poller) unregister(*Conn)                           {}
func (c *Conn) writeAll([]byte) error                        { return errUnsupported }

// Close does nothing.
func (p *Poller) Close() {}
