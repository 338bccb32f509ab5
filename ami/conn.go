package ami

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctiws/ctiws/internal/clip"
	"github.com/ctiws/ctiws/internal/lograte"
	"github.com/staskobzar/goami2"
)

const (
	bannerPrefix   = "Asterisk Call Manager/"
	maxMessageSize = 64 << 10
	maxBacklog     = 200_000
	bootWait       = time.Second
	writeTimeout   = 5 * time.Second
)

// Response is the answer to an action: the Response message and, for list
// actions, the list items (without the final …Complete event).
type Response struct {
	*goami2.Message
	Items []*goami2.Message
}

// Err returns the AMI "Response: Error" message as an error wrapping
// ErrActionFailed (and ErrChannelGone when the message says the channel is
// gone), or nil for a success.
func (r *Response) Err() error {
	if !strings.EqualFold(field(r.Message, "Response"), "error") {
		return nil
	}
	msg := field(r.Message, "Message")
	if channelGone(msg) {
		return fmt.Errorf("%w: %s (%w)", ErrActionFailed, msg, ErrChannelGone)
	}
	return fmt.Errorf("%w: %s", ErrActionFailed, msg)
}

type pending struct {
	resp    *goami2.Message
	items   []*goami2.Message
	list    bool // the response announced an event list
	oneItem bool // DBGet on old Asterisk: one item, no Complete
	// until, when set, names the event that completes the action after a
	// successful response (OriginateResponse of an Async Originate).
	until string
	done  chan struct{}
}

// Conn is one logged-in AMI connection. Actions may be sent from any
// goroutine; unsolicited events are queued (never dropped) for one consumer.
type Conn struct {
	nc     net.Conn
	fr     *framer
	log    *slog.Logger
	hooks  *Hooks
	rl     *lograte.Limiter
	seq    atomic.Uint64
	wmu    sync.Mutex
	mu     sync.Mutex
	pend   map[string]*pending
	queue  []*goami2.Message
	notify chan struct{}
	done   chan struct{}
	err    error
	once   sync.Once
}

// Dial connects, reads the banner, logs in with Events: on and waits up to
// one second for FullyBooted. Then it starts the reader and the keepalive.
func Dial(ctx context.Context, cfg DialConfig, log *slog.Logger, hooks *Hooks) (*Conn, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if hooks == nil {
		hooks = &Hooks{}
	}
	cfg.init()
	d := net.Dialer{Timeout: cfg.DialTimeout}
	nc, err := d.DialContext(ctx, "tcp", cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("ami: dial %s: %w", cfg.Address, err)
	}
	c := newConn(nc, log, hooks)
	// Closing the socket is the only way to interrupt a blocked read.
	stop := context.AfterFunc(ctx, func() { nc.Close() })
	err = c.login(cfg)
	stop()
	if err != nil {
		nc.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	go c.readLoop()
	if cfg.PingInterval > 0 {
		go c.keepalive(cfg.PingInterval)
	}
	return c, nil
}

// newConn wraps a connected socket; the caller logs in and starts the
// reader.
func newConn(nc net.Conn, log *slog.Logger, hooks *Hooks) *Conn {
	return &Conn{
		nc: nc, fr: newFramer(nc, maxMessageSize), log: log, hooks: hooks,
		rl:   lograte.New(log, time.Minute),
		pend: map[string]*pending{}, notify: make(chan struct{}, 1), done: make(chan struct{}),
	}
}

func (c *Conn) login(cfg DialConfig) error {
	_ = c.nc.SetDeadline(time.Now().Add(cfg.DialTimeout))
	banner, err := c.fr.line()
	if err != nil {
		return fmt.Errorf("ami: read banner: %w", err)
	}
	if !strings.HasPrefix(banner, bannerPrefix) {
		return fmt.Errorf("ami: unexpected banner %q", clip.String(banner, 64))
	}
	a, err := action("Login", "ActionID", "login", "Username", cfg.Username, "Secret", cfg.Secret, "Events", "on")
	if err != nil {
		return fmt.Errorf("ami: login: %w", err)
	}
	if _, err := c.nc.Write(a.Byte()); err != nil {
		return fmt.Errorf("ami: send login: %w", err)
	}
	for {
		m, err := c.readMessage()
		if err != nil {
			return fmt.Errorf("ami: read login response: %w", err)
		}
		if m == nil {
			continue
		}
		if field(m, "Response") == "" || field(m, "ActionID") != "login" {
			c.enqueue(m)
			continue
		}
		if !strings.EqualFold(field(m, "Response"), "success") {
			return fmt.Errorf("%w: %s", ErrAuth, field(m, "Message"))
		}
		break
	}
	// FullyBooted normally follows at once; proceed anyway after bootWait.
	_ = c.nc.SetDeadline(time.Now().Add(bootWait))
	for {
		m, err := c.readMessage()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.log.Debug("ami: no FullyBooted after login, proceeding")
				break
			}
			return fmt.Errorf("ami: wait FullyBooted: %w", err)
		}
		if m == nil {
			continue
		}
		if field(m, "Event") == "FullyBooted" {
			break
		}
		c.enqueue(m)
	}
	_ = c.nc.SetDeadline(time.Time{})
	return nil
}

// readMessage frames and parses one message. A nil message with a nil error
// means a skipped (oversize or malformed) frame.
func (c *Conn) readMessage() (*goami2.Message, error) {
	frame, err := c.fr.next()
	if errors.Is(err, errOversize) {
		c.hooks.parseError("oversize")
		c.rl.Warn("oversize", "ami: skipped a message over the size cap", "cap", maxMessageSize)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	m, fallback, err := parseFrame(frame)
	if err != nil {
		c.hooks.parseError("malformed")
		c.rl.Warn("malformed", "ami: skipped a malformed message", "bytes", len(frame))
		return nil, nil
	}
	if fallback {
		c.hooks.parseError("fallback")
	}
	c.hooks.message(kind(m))
	return m, nil
}

func (c *Conn) readLoop() {
	for {
		m, err := c.readMessage()
		if err != nil {
			c.closeWith(fmt.Errorf("ami: read: %w", err))
			return
		}
		if m != nil {
			c.dispatch(m)
		}
	}
}

// dispatch routes a message to the pending action with its ActionID, or to
// the event queue.
func (c *Conn) dispatch(m *goami2.Message) {
	id := field(m, "ActionID")
	isEvent := field(m, "Event") != ""
	if id != "" {
		c.mu.Lock()
		p := c.pend[id]
		if p != nil {
			if c.collect(p, m, isEvent) {
				delete(c.pend, id)
				close(p.done)
			}
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
	if !isEvent {
		if field(m, "Response") == "" {
			c.hooks.parseError("no_kind")
			c.rl.Warn("no_kind", "ami: skipped a message without Event or Response")
		} else {
			c.rl.Warn("orphan_response", "ami: response to no pending action", "actionid", clip.String(id, 40))
		}
		return
	}
	c.enqueue(m)
}

// collect adds m to p and reports whether p is complete.
func (c *Conn) collect(p *pending, m *goami2.Message, isEvent bool) bool {
	if p.until != "" {
		if !isEvent {
			p.resp = m
			return strings.EqualFold(field(m, "Response"), "error")
		}
		if strings.EqualFold(field(m, "Event"), p.until) {
			p.items = append(p.items, m)
			return true
		}
		return false
	}
	if !isEvent {
		p.resp = m
		if strings.EqualFold(field(m, "Response"), "error") {
			return true
		}
		if strings.EqualFold(field(m, "EventList"), "start") {
			p.list = true
			return false
		}
		return !p.oneItem || len(p.items) > 0
	}
	if strings.EqualFold(field(m, "EventList"), "complete") {
		return true
	}
	p.items = append(p.items, m)
	return p.oneItem && !p.list && p.resp != nil
}

func (c *Conn) enqueue(m *goami2.Message) {
	c.mu.Lock()
	if len(c.queue) >= maxBacklog {
		c.mu.Unlock()
		c.hooks.parseError("backlog")
		c.closeWith(ErrBacklog)
		return
	}
	c.queue = append(c.queue, m)
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// Ready is signalled when events may be waiting in the queue.
func (c *Conn) Ready() <-chan struct{} { return c.notify }

// Drain appends the queued events to dst, in arrival order, and empties the
// queue.
func (c *Conn) Drain(dst []*goami2.Message) []*goami2.Message {
	c.mu.Lock()
	dst = append(dst, c.queue...)
	clear(c.queue)
	c.queue = c.queue[:0]
	c.mu.Unlock()
	return dst
}

// Done is closed when the connection is closed.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection closed (nil while open).
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Close closes the connection.
func (c *Conn) Close() { c.closeWith(ErrClosed) }

func (c *Conn) closeWith(err error) {
	c.once.Do(func() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		c.nc.Close()
		close(c.done)
	})
}

// Action sends a and waits for its complete answer. It sets a fresh
// ActionID. A Response: Error is returned as a Response, not an error: use
// Response.Err.
func (c *Conn) Action(ctx context.Context, a *goami2.Message) (*Response, error) {
	return c.action(ctx, a, "")
}

// ActionUntil sends a and waits for its response and then for the event
// named until carrying the same ActionID (e.g. OriginateResponse after an
// Async Originate), which is returned as the only item. An error response
// ends the wait at once.
func (c *Conn) ActionUntil(ctx context.Context, a *goami2.Message, until string) (*Response, error) {
	return c.action(ctx, a, until)
}

func (c *Conn) action(ctx context.Context, a *goami2.Message, until string) (*Response, error) {
	if err := checkAction(a); err != nil {
		return nil, err
	}
	name := field(a, "Action")
	id := name + "-" + strconv.FormatUint(c.seq.Add(1), 10)
	a.SetField("ActionID", id)
	p := &pending{done: make(chan struct{}), oneItem: strings.EqualFold(name, "DBGet"), until: until}
	c.mu.Lock()
	c.pend[id] = p
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pend, id)
		c.mu.Unlock()
	}()
	if err := c.write(a.Byte()); err != nil {
		return nil, fmt.Errorf("ami: send %s: %w", name, err)
	}
	select {
	case <-p.done:
	case <-c.done:
		// The reader completes an answer before it can see the connection
		// end, so an answer followed at once by EOF is still an answer:
		// select picks at random when both are ready.
		select {
		case <-p.done:
		default:
			return nil, fmt.Errorf("ami: %s: %w", name, c.err)
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("ami: %s: %w", name, ctx.Err())
	}
	return &Response{Message: p.resp, Items: p.items}, nil
}

func (c *Conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	select {
	case <-c.done:
		return c.err
	default:
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.nc.Write(b)
	if err != nil {
		c.closeWith(fmt.Errorf("ami: write: %w", err))
	}
	return err
}

// keepalive pings every interval; an unanswered Ping closes the connection.
func (c *Conn) keepalive(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), interval)
		_, err := c.Action(ctx, goami2.NewAction("Ping"))
		cancel()
		if err != nil {
			c.closeWith(fmt.Errorf("ami: keepalive: %w", err))
			return
		}
	}
}
