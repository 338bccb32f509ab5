//go:build linux

package ws

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
)

// epoller is the process's epoll instances for poll mode (pollReader), one
// per CPU, each waited on by one goroutine (parked in the runtime's poller). It is shared by every Server of
// the process and never closed, like the runtime's own poller.
type epoller struct {
	loops []*epollLoop
	ids   atomic.Uint64
}

// epollLoop is one epoll instance and its sockets by event data. The
// instance is itself in the runtime's poller (file, non-blocking): its
// goroutine waits there until sockets are ready, like any reader, instead
// of holding a thread in epoll_wait.
type epollLoop struct {
	fd      int
	file    *os.File        // keeps fd open (and in the runtime's poller)
	rc      syscall.RawConn // file's descriptor access, to wait for events
	mu      sync.Mutex
	readers map[uint64]*pollReader
}

var shared struct {
	once sync.Once
	p    *epoller
	err  error
}

// newEpoller returns the process's epoller, starting it on first use.
func newEpoller() (*epoller, error) {
	shared.once.Do(func() {
		p := &epoller{}
		for range max(1, runtime.GOMAXPROCS(0)) {
			l, err := newEpollLoop()
			if err != nil {
				for _, l := range p.loops {
					_ = l.file.Close()
				}
				shared.err = err
				return
			}
			p.loops = append(p.loops, l)
		}
		for _, l := range p.loops {
			go l.run()
		}
		shared.p = p
	})
	return shared.p, shared.err
}

// newEpollLoop creates an epoll instance in the runtime's poller.
func newEpollLoop() (*epollLoop, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("ws: epoll_create1: %w", err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		_ = syscall.Close(fd)
		return nil, fmt.Errorf("ws: epoll instance non-blocking: %w", err)
	}
	f := os.NewFile(uintptr(fd), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("ws: epoll instance: %w", err)
	}
	return &epollLoop{fd: fd, file: f, rc: rc, readers: map[uint64]*pollReader{}}, nil
}

// pollEvents: readable, the peer's half-close, one event per arming (the
// reader re-arms when done). Errors and hang-ups are always reported.
const pollEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// add puts r's socket in an epoll instance, armed.
func (p *epoller) add(r *pollReader) error {
	id := p.ids.Add(1)
	l := p.loops[id%uint64(len(p.loops))]
	r.id, r.loop = id, l
	l.mu.Lock()
	l.readers[id] = r
	l.mu.Unlock()
	if err := l.ctl(r, syscall.EPOLL_CTL_ADD); err != nil {
		l.remove(r)
		return err
	}
	return nil
}

// arm re-arms r's descriptor for one more event; readiness is checked
// again, so bytes that arrived since the last read are reported.
func (l *epollLoop) arm(r *pollReader) error { return l.ctl(r, syscall.EPOLL_CTL_MOD) }

// ctl runs epoll_ctl on r's descriptor under the connection's descriptor
// lock (RawConn.Control), so a concurrent Close cannot have it reused.
func (l *epollLoop) ctl(r *pollReader, op int) error {
	ev := syscall.EpollEvent{Events: pollEvents, Fd: int32(uint32(r.id)), Pad: int32(uint32(r.id >> 32))}
	var cerr error
	if err := r.c.sock.raw.Control(func(fd uintptr) {
		cerr = syscall.EpollCtl(l.fd, op, int(fd), &ev)
	}); err != nil {
		return err
	}
	if cerr != nil {
		return fmt.Errorf("ws: epoll_ctl: %w", cerr)
	}
	return nil
}

// remove forgets r (its descriptor leaves the instance when it is closed;
// being disarmed, it reports nothing meanwhile).
func (l *epollLoop) remove(r *pollReader) {
	if l == nil {
		return
	}
	l.mu.Lock()
	if l.readers[r.id] == r {
		delete(l.readers, r.id)
	}
	l.mu.Unlock()
}

// run waits for events and wakes their readers, for good. It takes
// events without waiting (epoll_wait with no timeout) and, once the ready
// list is empty, parks in the runtime's poller until the instance is
// readable again. All of it runs in one RawConn.Read, whose loop waits
// without clearing a readiness that arrived meanwhile: every reader made
// ready after the last epoll_wait wakes it again.
func (l *epollLoop) run() {
	events := make([]syscall.EpollEvent, 128)
	woken := make([]*pollReader, 0, len(events))
	take := func(fd uintptr) bool {
		for {
			n, err := syscall.EpollWait(int(fd), events, 0)
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				panic("ws: epoll_wait: " + err.Error()) // a bad instance: cannot happen
			}
			l.mu.Lock()
			for _, ev := range events[:n] {
				if r := l.readers[uint64(uint32(ev.Fd))|uint64(uint32(ev.Pad))<<32]; r != nil {
					woken = append(woken, r)
				}
			}
			l.mu.Unlock()
			for i, r := range woken {
				r.wake()
				woken[i] = nil
			}
			woken = woken[:0]
			if n < len(events) {
				return false // drained: wait until the instance is readable
			}
		}
	}
	err := l.rc.Read(take)
	panic("ws: epoll instance: " + fmt.Sprint(err)) // never closed: cannot happen
}

// rawReader reads a descriptor without ever waiting for it; its callback
// for RawConn.Read is built once.
type rawReader struct {
	buf []byte // the pooled read buffer
	b   []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

// read reads into b what the kernel holds; again: nothing now. The
// connection's descriptor lock (RawConn.Read) keeps it from being closed
// or reused meanwhile.
func (rd *rawReader) read(rc syscall.RawConn, b []byte) (n int, again bool, err error) {
	if rd.fn == nil {
		rd.fn = rd.do
	}
	rd.b, rd.n, rd.err = b, 0, nil
	err = rc.Read(rd.fn)
	rd.b = nil
	if err != nil {
		return 0, false, err
	}
	if rd.err == syscall.EAGAIN {
		return 0, true, nil
	}
	return rd.n, false, rd.err
}

// do is the RawConn.Read callback: it returns true always, so the reader
// never parks in the runtime's poller.
func (rd *rawReader) do(fd uintptr) bool {
	for {
		n, err := syscall.Read(int(fd), rd.b)
		if err == syscall.EINTR {
			continue
		}
		rd.n, rd.err = max(n, 0), err
		return true
	}
}
