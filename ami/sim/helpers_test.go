package sim

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// rawClient is a minimal AMI client over a raw TCP connection, used to test
// the server without package ami.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	br   *bufio.Reader
}

func startServer(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	s := New(cfg, nil)
	addr, err := s.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, addr.String()
}

func dial(t testing.TB, addr string) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &rawClient{t: t, conn: conn, br: bufio.NewReader(conn)}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	banner, err := c.br.ReadString('\n')
	if err != nil {
		t.Fatalf("banner: %v", err)
	}
	if banner != "Asterisk Call Manager/7.0.3\r\n" {
		t.Fatalf("banner = %q", banner)
	}
	return c
}

// login logs in and consumes the response and FullyBooted.
func (c *rawClient) login(user, secret string) {
	c.t.Helper()
	c.send("Action", "Login", "ActionID", "login-1", "Username", user, "Secret", secret)
	r := c.read()
	if r.Get("Response") != "Success" || r.Get("ActionID") != "login-1" {
		c.t.Fatalf("login answer: %s", r)
	}
	fb := c.read()
	if fb.Get("Event") != "FullyBooted" {
		c.t.Fatalf("expected FullyBooted, got %s", fb)
	}
}

func (c *rawClient) send(kv ...string) {
	c.t.Helper()
	var b strings.Builder
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteString(kv[i] + ": " + kv[i+1] + "\r\n")
	}
	b.WriteString("\r\n")
	c.write(b.String())
}

func (c *rawClient) write(s string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(s)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// read reads one message (5 s deadline).
func (c *rawClient) read() *Message {
	c.t.Helper()
	m, err := c.tryRead()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

func (c *rawClient) tryRead() (*Message, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := readFrame(c.br)
	if err != nil {
		return nil, err
	}
	if f.malformed > 0 {
		return nil, errors.New("malformed message from server")
	}
	return f.msg, nil
}

// expectEOF reads until the server closes the connection.
func (c *rawClient) expectEOF() {
	c.t.Helper()
	for range 10000 {
		_, err := c.tryRead()
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
			return
		}
		if err != nil {
			c.t.Fatalf("expected EOF, got %v", err)
		}
	}
	c.t.Fatal("connection not closed")
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// answer is a collected action answer.
type answer struct {
	resp     *Message
	items    []*Message
	complete *Message
	before   []*Message // unsolicited events read before the answer completed
}

// do sends an action and collects its answer, handing events that arrive
// meanwhile to onEvent (in order). Lists are collected up to their
// …Complete event.
func (c *rawClient) do(id string, onEvent func(*Message), kv ...string) answer {
	c.t.Helper()
	c.send(append([]string{"ActionID", id}, kv...)...)
	var a answer
	for {
		m := c.read()
		if m.Get("ActionID") != id {
			if m.Kind() != "event" {
				c.t.Fatalf("unexpected non-event %s", m)
			}
			a.before = append(a.before, m)
			if onEvent != nil {
				onEvent(m)
			}
			continue
		}
		switch {
		case m.Kind() == "response":
			a.resp = m
			if m.Get("EventList") != "start" {
				return a
			}
		case m.Get("EventList") == "Complete":
			a.complete = m
			return a
		default:
			a.items = append(a.items, m)
		}
	}
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.CallsPerSecond = 0
	cfg.Epoch = 1700000000
	return cfg
}
