// Package faultproxy is a TCP proxy for tests that injects network faults
// at run time: added latency per direction, a blackhole (nothing forwarded
// either way, connections left open: no FIN, no RST, as when a link or a
// firewall drops every packet), resetting every connection, refusing new
// ones, and a bandwidth limit per direction. Tests and the chaos soak
// (`ctiws bench -scenario soak`) import it.
//
// A blackhole holds the bytes read meanwhile (at most a few chunks per
// direction; then the reader stops and the peer's kernel buffers fill) and
// delivers them, and a close that happened meanwhile, once it heals, as
// TCP's retransmissions would: a connection that outlives the fault carries
// on where it stopped.
package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Direction is one way through the proxy.
type Direction int

// The two directions.
const (
	// Up is client → target.
	Up Direction = iota
	// Down is target → client.
	Down
)

// chunkSize is the largest read forwarded as one piece; queued is how many
// read pieces may wait per direction before the reader stops reading.
const (
	chunkSize = 32 << 10
	queued    = 16
)

// Proxy forwards every connection accepted on Addr to its target, through
// the faults set on it. The zero value is not usable: call Start.
type Proxy struct {
	ln     net.Listener
	target string
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	links     map[*link]struct{}
	latency   [2]time.Duration
	rate      [2]int // bytes per second per connection, 0: unlimited
	refuse    bool
	blackhole bool
	healed    chan struct{} // closed when the blackhole ends
}

// Start listens on a free loopback port and forwards to target
// ("host:port") until Close.
func Start(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	healed := make(chan struct{})
	close(healed)
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{ln: ln, target: target, ctx: ctx, cancel: cancel, links: map[*link]struct{}{}, healed: healed}
	p.wg.Go(p.accept)
	return p, nil
}

// Addr is the proxy's listening address ("127.0.0.1:port").
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetLatency delays every byte forwarded in direction d by lat (0: none);
// a round trip through the proxy costs the sum of both directions.
func (p *Proxy) SetLatency(d Direction, lat time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.latency[d] = lat
}

// SetBandwidth limits each connection's direction d to bytesPerSecond
// (0: unlimited).
func (p *Proxy) SetBandwidth(d Direction, bytesPerSecond int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rate[d] = bytesPerSecond
}

// SetBlackhole stops (on) or resumes (off) forwarding in both directions,
// for the open connections and for new ones, which are accepted but get
// nothing through. Nothing is closed either way.
func (p *Proxy) SetBlackhole(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case on && !p.blackhole:
		p.healed = make(chan struct{})
	case !on && p.blackhole:
		close(p.healed)
	}
	p.blackhole = on
}

// SetRefuse makes the proxy reset every new connection at once (on) or
// forward them again (off); open connections are not touched.
func (p *Proxy) SetRefuse(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = on
}

// ResetAll closes every open connection with a TCP reset on both sides and
// returns how many there were.
func (p *Proxy) ResetAll() int {
	p.mu.Lock()
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		l.reset()
	}
	return len(links)
}

// Conns is the number of open proxied connections.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// Close stops listening, closes every connection and waits for the
// proxy's goroutines.
func (p *Proxy) Close() error {
	err := p.ln.Close()
	p.cancel()
	p.mu.Lock()
	for l := range p.links {
		l.close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// gate returns the channel that is closed while nothing is blackholed, and
// direction d's latency and rate.
func (p *Proxy) gate(d Direction) (<-chan struct{}, time.Duration, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.healed, p.latency[d], p.rate[d]
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.refuse
		p.mu.Unlock()
		if refuse {
			abort(c)
			continue
		}
		p.wg.Go(func() { p.serve(c) })
	}
}

// serve dials the target for client c and forwards both ways until both
// are done.
func (p *Proxy) serve(c net.Conn) {
	var d net.Dialer
	s, err := d.DialContext(p.ctx, "tcp", p.target)
	if err != nil {
		abort(c)
		return
	}
	l := &link{client: c, server: s, done: make(chan struct{})}
	p.mu.Lock()
	if p.ctx.Err() != nil {
		p.mu.Unlock()
		l.close()
		return
	}
	p.links[l] = struct{}{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() { p.pipe(l, Up, c, s) })
	wg.Go(func() { p.pipe(l, Down, s, c) })
	wg.Wait()
	l.close()
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}

// chunk is one read, stamped with when it was read; eof marks the end of
// the source.
type chunk struct {
	b   []byte
	at  time.Time
	eof bool
}

// pipe forwards src to dst in direction d: a reader goroutine stamps each
// read, this one writes it once its latency has passed and no blackhole
// holds it, at the direction's rate.
func (p *Proxy) pipe(l *link, d Direction, src, dst net.Conn) {
	q := make(chan chunk, queued)
	var reader sync.WaitGroup
	defer reader.Wait()
	reader.Go(func() {
		defer close(q)
		for {
			buf := make([]byte, chunkSize)
			n, err := src.Read(buf)
			if n > 0 {
				select {
				case q <- chunk{b: buf[:n], at: time.Now()}:
				case <-l.done:
					return
				}
			}
			if err != nil {
				select {
				case q <- chunk{at: time.Now(), eof: true}:
				case <-l.done:
				}
				return
			}
		}
	})
	for ch := range q {
		if !p.hold(l, d, ch.at) {
			return
		}
		if ch.eof {
			// A half close goes through as one; a reset or an error
			// ends the whole connection.
			if tc, ok := dst.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			return
		}
		// The rate spaces the pieces: each waits for its own transfer time.
		if _, _, rate := p.gate(d); rate > 0 {
			if !l.sleep(time.Duration(len(ch.b)) * time.Second / time.Duration(rate)) {
				return
			}
		}
		if _, err := dst.Write(ch.b); err != nil {
			l.close()
			return
		}
	}
}

// hold waits until a chunk read at `at` may go: its latency has passed and
// no blackhole is on. It returns false when the connection closed meanwhile.
func (p *Proxy) hold(l *link, d Direction, at time.Time) bool {
	for {
		healed, lat, _ := p.gate(d)
		select {
		case <-healed:
		case <-l.done:
			return false
		}
		if wait := time.Until(at.Add(lat)); wait > 0 {
			if !l.sleep(wait) {
				return false
			}
			continue // the blackhole or the latency may have changed meanwhile
		}
		return true
	}
}

// link is one proxied connection.
type link struct {
	client, server net.Conn
	once           sync.Once
	done           chan struct{}
}

// sleep waits d; false if the link closed meanwhile.
func (l *link) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-l.done:
		return false
	}
}

func (l *link) close() {
	l.once.Do(func() {
		close(l.done)
		_ = l.client.Close()
		_ = l.server.Close()
	})
}

// reset closes both sides with a TCP reset.
func (l *link) reset() {
	for _, c := range []net.Conn{l.client, l.server} {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
	}
	l.close()
}

// abort closes c with a TCP reset.
func abort(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}
