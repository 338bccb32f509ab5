//go:build linux

package loadclient

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// Poller reads registered connections from a few epoll loops and sends
// their app-level pings.
type Poller struct {
	eps       []int // one epoll instance per loop
	pingEvery time.Duration
	stop      chan struct{}
	wg        sync.WaitGroup

	mu    sync.RWMutex
	byFD  map[int32]*Conn
	all   []*Conn // registration order, for the ping rounds
	next  int     // loop of the next registration
	ended bool
}

// readBuf is one loop's read buffer: a read takes what the kernel holds,
// and only an incomplete frame is copied out to its connection.
const readBuf = 64 << 10

// NewPoller starts loops epoll loops (<= 0: GOMAXPROCS) and a ping round
// that sends each connection the app-level ping every pingEvery (<= 0: no
// pings).
func NewPoller(loops int, pingEvery time.Duration) (*Poller, error) {
	if loops <= 0 {
		loops = runtime.GOMAXPROCS(0)
	}
	p := &Poller{pingEvery: pingEvery, stop: make(chan struct{}), byFD: map[int32]*Conn{}}
	for range loops {
		ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			p.Close()
			return nil, fmt.Errorf("loadclient: epoll_create1: %w", err)
		}
		p.eps = append(p.eps, ep)
		p.wg.Add(1)
		go p.loop(ep)
	}
	if pingEvery > 0 {
		p.wg.Add(1)
		go p.pings()
	}
	return p, nil
}

// register takes the logged-in connection's socket over from nc (which it
// closes) and starts reading it; leftover is what the handshake read past
// its last frame.
func (p *Poller) register(c *Conn, nc *net.TCPConn, leftover []byte) error {
	rc, err := nc.SyscallConn()
	if err != nil {
		return fmt.Errorf("loadclient: take socket: %w", err)
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(s uintptr) { fd, derr = syscall.Dup(int(s)) }); err != nil || derr != nil {
		return fmt.Errorf("loadclient: duplicate socket: %w", errors.Join(err, derr))
	}
	nc.Close() // the duplicate, owned by c from here on, keeps the socket open
	syscall.CloseOnExec(fd)
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return fmt.Errorf("loadclient: set non-blocking: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fd = fd
	p.mu.Lock()
	if p.ended {
		p.mu.Unlock()
		syscall.Close(fd)
		c.fd = -1
		return errors.New("loadclient: poller closed")
	}
	ep := p.eps[p.next%len(p.eps)]
	p.next++
	p.byFD[int32(fd)] = c
	p.all = append(p.all, c)
	p.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(fd)}
	if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		c.finish(fmt.Errorf("loadclient: epoll add: %w", err))
		return c.err
	}
	if used := c.consume(leftover, time.Now()); used < len(leftover) && !c.closed {
		c.pending = append([]byte(nil), leftover[used:]...)
	}
	return nil
}

// unregister closes c's socket (closing it also leaves the epoll set).
// c.mu is held.
func (p *Poller) unregister(c *Conn) {
	if c.fd < 0 {
		return
	}
	p.mu.Lock()
	if p.byFD[int32(c.fd)] == c {
		delete(p.byFD, int32(c.fd))
	}
	p.mu.Unlock()
	syscall.Close(c.fd)
	c.fd = -1
}

func (p *Poller) conn(fd int32) *Conn {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.byFD[fd]
}

// loop waits on one epoll instance and reads each ready socket once: the
// instance is level-triggered, so what one read leaves is reported again.
func (p *Poller) loop(ep int) {
	defer p.wg.Done()
	events := make([]syscall.EpollEvent, 256)
	buf := make([]byte, readBuf)
	for {
		n, err := syscall.EpollWait(ep, events, 100)
		select {
		case <-p.stop:
			return
		default:
		}
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return // the instance is gone: Close ran
		}
		for _, ev := range events[:n] {
			if c := p.conn(ev.Fd); c != nil {
				c.readReady(buf)
			}
		}
	}
}

// readReady reads c's socket once and dispatches the whole frames.
func (c *Conn) readReady(buf []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	into := buf
	if len(c.pending) > 0 { // continue the incomplete frame in its own buffer
		if cap(c.pending)-len(c.pending) < readBuf/2 {
			c.pending = append(c.pending, make([]byte, readBuf)...)[:len(c.pending)]
		}
		into = c.pending[len(c.pending):cap(c.pending)]
	}
	n, err := syscall.Read(c.fd, into)
	switch {
	case errors.Is(err, syscall.EAGAIN):
		return
	case err != nil:
		c.finish(fmt.Errorf("loadclient: read: %w", err))
		return
	case n == 0:
		c.finish(errors.New("loadclient: server closed the connection"))
		return
	}
	at := time.Now()
	if len(c.pending) > 0 {
		c.pending = c.pending[:len(c.pending)+n]
		used := c.consume(c.pending, at)
		if c.closed {
			return
		}
		c.pending = c.pending[:copy(c.pending, c.pending[used:])]
		if len(c.pending) == 0 && cap(c.pending) > readBuf*2 {
			c.pending = nil // a large frame is done: give its buffer back
		}
		return
	}
	used := c.consume(buf[:n], at)
	if used < n && !c.closed {
		c.pending = append(c.pending[:0], buf[used:n]...)
	}
}

// writeAll writes b to the non-blocking socket, waiting briefly while the
// kernel's send buffer is full (the client writes only small frames).
// c.mu is held.
func (c *Conn) writeAll(b []byte) error {
	deadline := time.Now().Add(5 * time.Second)
	for len(b) > 0 {
		n, err := syscall.Write(c.fd, b)
		if n > 0 {
			b = b[n:]
		}
		switch {
		case errors.Is(err, syscall.EAGAIN):
			if time.Now().After(deadline) {
				return errors.New("send buffer full for 5 s")
			}
			time.Sleep(time.Millisecond)
		case err != nil:
			return err
		}
	}
	return nil
}

// pings sends every connection its app-level ping once per pingEvery,
// spread over ten rounds so the pings do not all leave at once.
func (p *Poller) pings() {
	defer p.wg.Done()
	const rounds = 10
	t := time.NewTicker(p.pingEvery / rounds)
	defer t.Stop()
	for k := 0; ; k++ {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		p.mu.RLock()
		var due []*Conn
		for i := k % rounds; i < len(p.all); i += rounds {
			due = append(due, p.all[i])
		}
		p.mu.RUnlock()
		for _, c := range due {
			c.ping()
		}
	}
}

// Close ends every connection and stops the loops.
func (p *Poller) Close() {
	p.mu.Lock()
	if p.ended {
		p.mu.Unlock()
		return
	}
	p.ended = true
	all := p.all
	p.all = nil
	p.mu.Unlock()
	for _, c := range all {
		c.Close()
	}
	close(p.stop)
	p.wg.Wait()
	for _, ep := range p.eps {
		syscall.Close(ep)
	}
}
