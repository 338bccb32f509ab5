package ws

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// rawSocket is a client speaking websocket frames by hand.
type rawSocket struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

// dialRaw upgrades a connection to tenant t1's Socket.IO path.
func dialRaw(t *testing.T, e *abuseEnv) *rawSocket {
	t.Helper()
	nc, err := net.Dial("tcp", e.hs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(nc, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: t1.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: HTTP %d", resp.StatusCode)
	}
	s := &rawSocket{t: t, nc: nc, br: br}
	if op, p := s.next(); op != opText || !strings.HasPrefix(string(p), "0{") {
		t.Fatalf("first frame %#x %q, want the open packet", op, p)
	}
	return s
}

func (s *rawSocket) send(frames ...[]byte) {
	s.t.Helper()
	for _, f := range frames {
		if _, err := s.nc.Write(f); err != nil {
			s.t.Fatal(err)
		}
	}
}

// next reads one server frame; op 0xFF: the connection ended.
func (s *rawSocket) next() (byte, []byte) {
	var h [2]byte
	if _, err := io.ReadFull(s.br, h[:]); err != nil {
		return 0xFF, nil
	}
	n := int(h[1] & 0x7F)
	switch n {
	case 126:
		var l [2]byte
		_, _ = io.ReadFull(s.br, l[:])
		n = int(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		_, _ = io.ReadFull(s.br, l[:])
		n = int(binary.BigEndian.Uint64(l[:]))
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(s.br, p); err != nil {
		return 0xFF, nil
	}
	return h[0] & 0xF, p
}

// expect reads frames until one with op (skipping text frames), and
// returns its payload.
func (s *rawSocket) expect(op byte) []byte {
	s.t.Helper()
	for {
		got, p := s.next()
		switch {
		case got == op:
			return p
		case got == opText && op != opText:
		default:
			s.t.Fatalf("got frame %#x %q, want %#x", got, p, op)
		}
	}
}

// closeCode is the status code of a close frame's payload.
func closeCode(p []byte) int {
	if len(p) < 2 {
		return 1005
	}
	return int(binary.BigEndian.Uint16(p))
}

// TestReadModes runs the same client behaviours against both read modes:
// the same frames answered, the same disconnect reasons and bad-frame
// metrics, every socket finished and logged out once.
func TestReadModes(t *testing.T) {
	closeBody := func(code int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(code)) }
	cases := []struct {
		name   string
		run    func(t *testing.T, e *abuseEnv, s *rawSocket)
		reason string // disconnect reason counted
		bad    string // bad frame reason counted, if any
	}{
		{"client close", func(t *testing.T, e *abuseEnv, s *rawSocket) {
			s.send(clientFrame(0x80|opClose, closeBody(1000)))
			if code := closeCode(s.expect(opClose)); code != 1000 {
				t.Errorf("echoed close %d", code)
			}
		}, reasonClientClose, ""},
		{"engine.io close", func(t *testing.T, e *abuseEnv, s *rawSocket) {
			s.send(clientFrame(0x81, []byte("1")))
			if code := closeCode(s.expect(opClose)); code != 1001 {
				t.Errorf("close %d", code)
			}
			s.send(clientFrame(0x80|opClose, closeBody(1001)))
		}, reasonClientClose, ""},
		{"close not answered", func(t *testing.T, e *abuseEnv, s *rawSocket) {
			s.send(clientFrame(0x81, []byte("1")))
			s.expect(opClose)
			start := time.Now()
			if op, _ := s.next(); op != 0xFF {
				t.Errorf("frame %#x after the close", op)
			}
			if d := time.Since(start); d < time.Second || d > 5*time.Second {
				t.Errorf("connection cut after %v, want about 2 s", d)
			}
		}, reasonClientClose, ""},
		{"oversize", func(t *testing.T, e *abuseEnv, s *rawSocket) {
			f := clientFrame(0x81, make([]byte, 2000))
			s.send(f[:100])
			if code := closeCode(s.expect(opClose)); code != 1009 {
				t.Errorf("close %d", code)
			}
		}, reasonBadFrame, "oversize"},
		{"binary", func(t *testing.T, e *abuseEnv, s *rawSocket) {
			s.send(clientFrame(0x80|opBinary, []byte{1}))
			s.expect(opClose)
			s.send(clientFrame(0x80|opClose, closeBody(1000)))
		}, reasonBadFrame, "binary_frame"},
		{"unmasked", func(t *testing.T, e *abuseEnv, s *rawSocket) {
			s.send(clientFrameMask(0x81, []byte("2"), false))
			if code := closeCode(s.expect(opClose)); code != 1002 {
				t.Errorf("close %d", code)
			}
		}, reasonReadError, ""},
		{"connection cut", func(t *testing.T, e *abuseEnv, s *rawSocket) {
			s.nc.Close()
		}, reasonReadError, ""},
		{"killed by the server", func(t *testing.T, e *abuseEnv, s *rawSocket) {
			for _, c := range e.srv.snapshotConns() {
				c.sock.kill()
			}
			if op, _ := s.next(); op != 0xFF {
				t.Errorf("frame %#x after the kill", op)
			}
		}, reasonReadError, ""},
		{"fragments, pings and a frame in pieces", func(t *testing.T, e *abuseEnv, s *rawSocket) {
			s.send(clientFrame(0x01, []byte("2")), clientFrame(0x80|opPing, []byte("hi")), clientFrame(0x80, nil))
			if p := s.expect(opPong); string(p) != "hi" {
				t.Errorf("pong %q", p)
			}
			if p := s.expect(opText); string(p) != "3" {
				t.Errorf("answer %q, want the engine.io pong", p)
			}
			// An event frame larger than a read, in two writes: the
			// unknown event is counted, the socket stays.
			f := clientFrame(0x81, []byte(`40`))
			s.send(f)
			s.expect(opText) // the namespace connect
			f = clientFrame(0x81, []byte(`42["nosuch","`+strings.Repeat("x", 900)+`"]`))
			s.send(f[:300])
			time.Sleep(50 * time.Millisecond)
			s.send(f[300:])
			s.send(clientFrame(0x81, []byte("2")))
			if p := s.expect(opText); string(p) != "3" {
				t.Errorf("answer %q, want the engine.io pong", p)
			}
			if got := testutil.ToFloat64(e.srv.metrics.BadFrames.WithLabelValues("t1", "unknown_event")); got != 1 {
				t.Errorf("unknown events %v, want 1", got)
			}
			s.send(clientFrame(0x80|opClose, closeBody(1000)))
			s.expect(opClose)
		}, reasonClientClose, ""},
	}
	for _, mode := range []string{ReadModeEpoll, ReadModeGoroutine} {
		t.Run(mode, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					e := newAbuseEnv(t, Options{ReadMode: mode, MaxMessageBytes: 1024})
					s := dialRaw(t, e)
					conns := e.srv.snapshotConns()
					if len(conns) != 1 {
						t.Fatalf("%d sockets", len(conns))
					}
					if polled := conns[0].pr != nil && conns[0].sock.ws == nil; polled != (mode == ReadModeEpoll && runtime.GOOS == "linux") {
						t.Fatalf("read in poll mode: %v", polled)
					}
					tc.run(t, e, s)
					m := e.srv.metrics
					waitFor(t, "the socket finished", func() bool {
						return len(e.srv.snapshotConns()) == 0 && testutil.ToFloat64(m.SocketsConnected.WithLabelValues("t1")) == 0
					})
					if got := testutil.ToFloat64(m.Disconnects.WithLabelValues("t1", tc.reason)); got != 1 {
						t.Errorf("disconnects %q: %v, want 1", tc.reason, got)
					}
					if n := testutil.CollectAndCount(m.Disconnects); n != 1 {
						t.Errorf("%d disconnect reasons counted, want 1", n)
					}
					if tc.bad != "" {
						if got := testutil.ToFloat64(m.BadFrames.WithLabelValues("t1", tc.bad)); got != 1 {
							t.Errorf("bad frames %q: %v, want 1", tc.bad, got)
						}
					}
				})
			}
		})
	}
}

// TestPollModeIdleGoroutines: idle sockets read in poll mode have no
// goroutine.
func TestPollModeIdleGoroutines(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("poll mode needs Linux")
	}
	e := newAbuseEnv(t, Options{ReadMode: ReadModeEpoll})
	dialRaw(t, e) // the poller's loops start with the first socket
	before := runtime.NumGoroutine()
	const n = 200
	for range n {
		dialRaw(t, e)
	}
	time.Sleep(100 * time.Millisecond)
	if got := runtime.NumGoroutine() - before; got > 20 {
		t.Errorf("%d more goroutines for %d idle sockets", got, n)
	}
}
