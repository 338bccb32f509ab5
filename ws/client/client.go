// Package client is a small Go Socket.IO client for ctiws (and NethCTI): it
// logs in the way phone-island does — REST login, token, websocket,
// `login` event, a 5 s `ping` with ack — and hands every event to a
// callback. `ctiws watch` and `ctiws bench` use it.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ctiws/ctiws/ws/auth"
	"github.com/ctiws/ctiws/ws/eio"
	"github.com/gorilla/websocket"
)

// ErrUnauthorized is returned when the server refuses a login.
var ErrUnauthorized = errors.New("client: unauthorized")

// RESTLogin performs POST /webrest/authentication/login and returns the
// token computed from the nonce (docs/protocol.md, section 2.2).
func RESTLogin(ctx context.Context, hc *http.Client, baseURL, user, password string) (string, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	body, _ := json.Marshal(map[string]string{"username": user, "password": password})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(baseURL, "/")+"/webrest/authentication/login", bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("build login request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("REST login: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	nonce, ok := strings.CutPrefix(resp.Header.Get("WWW-Authenticate"), "Digest ")
	if resp.StatusCode != http.StatusUnauthorized || !ok || nonce == "" {
		return "", fmt.Errorf("REST login: HTTP %d: %w", resp.StatusCode, ErrUnauthorized)
	}
	return auth.LegacyToken(user, password, nonce), nil
}

// Options configure a connection.
type Options struct {
	// URL is the server base URL, e.g. http://127.0.0.1:8181.
	URL string
	// Path is the Socket.IO path (default DefaultPath).
	Path string
	// User and Token are sent in the `login` event.
	User, Token string
	// UAType is "desktop", "mobile" or empty.
	UAType string
	// PingEvery is the app-level ping period (default DefaultPingEvery;
	// negative: off).
	PingEvery time.Duration
	// OnEvent receives every server event with the time the frame was read.
	// It runs on the read goroutine: keep it short.
	OnEvent func(name string, args []json.RawMessage, at time.Time)
	// OnRaw, if set, receives each event frame before it is decoded; when it
	// returns true the frame is not decoded and OnEvent is not called (the
	// benchmark parses only what it needs).
	OnRaw func(frame []byte, at time.Time) bool
	// Dialer overrides the websocket dialer.
	Dialer *websocket.Dialer
	// Header is sent with the upgrade request (e.g. Host for a tenant).
	Header http.Header
}

// Defaults of Options' zero fields.
const (
	DefaultPath      = "/socket.io/"
	DefaultPingEvery = 5 * time.Second
)

// init fills the zero fields with their defaults.
func (o *Options) init() {
	if o.Path == "" {
		o.Path = DefaultPath
	}
	if o.PingEvery == 0 {
		o.PingEvery = DefaultPingEvery
	}
}

// Conn is a logged-in Socket.IO connection.
type Conn struct {
	ws       *websocket.Conn
	opts     Options
	wmu      sync.Mutex
	ackID    atomic.Int64
	acks     sync.Map // id -> chan struct{}
	done     chan struct{}
	err      error
	closeMu  sync.Once
	SocketID string
	// PingRTT is the last app-level ping round trip.
	pingRTT atomic.Int64
	// Missed counts app-level pings without an ack.
	missed atomic.Int64
}

// Dial connects, logs in and starts reading. It returns ErrUnauthorized
// when the server answers `401`.
func Dial(ctx context.Context, opts Options) (*Conn, error) {
	opts.init()
	u, err := url.Parse(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("parse URL: %w", err)
	}
	switch u.Scheme {
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	}
	u.Path = opts.Path
	u.RawQuery = "EIO=4&transport=websocket"
	d := opts.Dialer
	if d == nil {
		d = &websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024}
	}
	ws, resp, err := d.DialContext(ctx, u.String(), opts.Header)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("websocket dial %s: HTTP %d: %w", u, resp.StatusCode, err)
		}
		return nil, fmt.Errorf("websocket dial %s: %w", u, err)
	}
	c := &Conn{ws: ws, opts: opts, done: make(chan struct{})}
	if err := c.handshake(ctx); err != nil {
		ws.Close()
		return nil, err
	}
	go c.readLoop()
	if opts.PingEvery > 0 {
		go c.pingLoop()
	}
	return c, nil
}

// readFrame reads one text frame honouring ctx's deadline.
func (c *Conn) readFrame(ctx context.Context) ([]byte, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = c.ws.SetReadDeadline(dl)
		defer c.ws.SetReadDeadline(time.Time{})
	}
	_, b, err := c.ws.ReadMessage()
	return b, err
}

func (c *Conn) handshake(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
	}
	sid, err := Login(func() ([]byte, error) { return c.readFrame(ctx) }, c.write, c.opts.User, c.opts.Token, c.opts.UAType)
	c.SocketID = sid
	return err
}

// Login runs the Socket.IO side of a login over any websocket transport:
// next returns the payload of the next text frame, send writes one. It
// waits for the Engine.IO open, connects the default namespace, answers
// Engine.IO pings, sends `login` and returns the socket id once the
// server says `authe_ok`; ErrUnauthorized when it answers `401` or
// disconnects.
func Login(next func() ([]byte, error), send func([]byte) error, user, token, uaType string) (socketID string, err error) {
	open, err := next()
	if err != nil || len(open) == 0 || open[0] != eio.EngineOpen {
		return "", fmt.Errorf("engine.io open: %q: %v", open, err)
	}
	if err := send([]byte("40")); err != nil {
		return "", err
	}
	login, _ := json.Marshal(map[string]any{"accessKeyId": user, "token": token, "uaType": nilIfEmpty(uaType)})
	for {
		b, err := next()
		if err != nil {
			return socketID, fmt.Errorf("socket.io handshake: %w", err)
		}
		f, err := eio.Decode(b)
		if err != nil {
			return socketID, fmt.Errorf("socket.io handshake: %w", err)
		}
		switch {
		case f.Engine == eio.EnginePing:
			if err := send([]byte("3")); err != nil {
				return socketID, err
			}
		case f.Engine == eio.EngineMessage && f.SIO == eio.SIOConnect:
			var sid struct {
				SID string `json:"sid"`
			}
			_ = json.Unmarshal(f.Data, &sid)
			socketID = sid.SID
			if err := send(eio.Event("login", login)); err != nil {
				return socketID, err
			}
		case f.Engine == eio.EngineMessage && f.SIO == eio.SIOEvent:
			switch name, _, _ := f.Event(); name {
			case "authe_ok":
				return socketID, nil
			case "401":
				return socketID, ErrUnauthorized
			}
		case f.Engine == eio.EngineMessage && f.SIO == eio.SIODisconnect:
			return socketID, ErrUnauthorized
		}
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (c *Conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if err := c.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		return fmt.Errorf("websocket write: %w", err)
	}
	return nil
}

// Emit sends an event with JSON arguments.
func (c *Conn) Emit(name string, args ...any) error {
	raw := make([][]byte, len(args))
	for i, a := range args {
		b, err := json.Marshal(a)
		if err != nil {
			return fmt.Errorf("encode %s argument: %w", name, err)
		}
		raw[i] = b
	}
	return c.write(eio.Event(name, raw...))
}

// Ping sends the app-level `ping` with an ack and waits for the ack.
func (c *Conn) Ping(ctx context.Context) (time.Duration, error) {
	id := c.ackID.Add(1)
	ch := make(chan struct{})
	c.acks.Store(id, ch)
	defer c.acks.Delete(id)
	start := time.Now()
	frame := append([]byte("42"), []byte(fmt.Sprint(id))...)
	frame = append(frame, `["ping"]`...)
	if err := c.write(frame); err != nil {
		return 0, err
	}
	if err := waitAck(ctx, ch, c.done); err != nil {
		if errors.Is(err, errEnded) {
			return 0, c.Err()
		}
		return 0, err
	}
	d := time.Since(start)
	c.pingRTT.Store(int64(d))
	return d, nil
}

// errEnded: the connection ended before the ack.
var errEnded = errors.New("client: connection ended")

// waitAck waits for ack to be closed. When the ack and the end of the
// connection are both there, the ack wins: it came first, and select
// alone picks either.
func waitAck(ctx context.Context, ack, done <-chan struct{}) error {
	select {
	case <-ack:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-done:
		select {
		case <-ack:
			return nil
		default:
			return errEnded
		}
	}
}

func (c *Conn) pingLoop() {
	t := time.NewTicker(c.opts.PingEvery)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), c.opts.PingEvery)
			if _, err := c.Ping(ctx); err != nil {
				c.missed.Add(1)
			}
			cancel()
		}
	}
}

// MissedPings counts app-level pings that got no ack in time.
func (c *Conn) MissedPings() int64 { return c.missed.Load() }

func (c *Conn) readLoop() {
	defer c.finish(nil)
	for {
		_, b, err := c.ws.ReadMessage()
		if err != nil {
			c.finish(err)
			return
		}
		at := time.Now()
		if len(b) == 0 {
			continue
		}
		switch b[0] {
		case eio.EnginePing:
			_ = c.write([]byte("3"))
			continue
		case eio.EngineMessage:
		default:
			continue
		}
		if len(b) > 1 && b[1] == eio.SIOEvent && c.opts.OnRaw != nil && c.opts.OnRaw(b, at) {
			continue
		}
		f, err := eio.Decode(b)
		if err != nil {
			continue
		}
		switch f.SIO {
		case eio.SIOAck:
			if ch, ok := c.acks.LoadAndDelete(f.AckID); ok {
				close(ch.(chan struct{}))
			}
		case eio.SIODisconnect:
			c.finish(errors.New("server disconnect (41)"))
			return
		case eio.SIOEvent:
			if c.opts.OnEvent != nil {
				if name, args, err := f.Event(); err == nil {
					c.opts.OnEvent(name, args, at)
				}
			}
		}
	}
}

func (c *Conn) finish(err error) {
	c.closeMu.Do(func() {
		c.err = err
		close(c.done)
		c.ws.Close()
	})
}

// Done is closed when the connection ends.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err tells why the connection ended (nil after Close).
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Close closes the connection.
func (c *Conn) Close() error {
	c.finish(nil)
	return nil
}
