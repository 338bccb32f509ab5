package ws

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// clientFrame returns one masked client frame; first is its first header
// byte (FIN, RSV bits, opcode).
func clientFrame(first byte, payload []byte) []byte {
	return clientFrameMask(first, payload, true)
}

// clientFrameMask is clientFrame, unmasked when mask is false.
func clientFrameMask(first byte, payload []byte, mask bool) []byte {
	b := []byte{first}
	m := byte(0)
	if mask {
		m = 0x80
	}
	switch n := len(payload); {
	case n <= 125:
		b = append(b, m|byte(n))
	case n <= 0xffff:
		b = append(b, m|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, m|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	if !mask {
		return append(b, payload...)
	}
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	b = append(b, key[:]...)
	for i, c := range payload {
		b = append(b, c^key[i&3])
	}
	return b
}

// record is a frameSink that writes down what it gets.
type record struct{ got []string }

func (r *record) message(op byte, msg []byte) { r.add("msg %d %q", op, msg) }
func (r *record) ping(p []byte)               { r.add("ping %q", p) }
func (r *record) pong(p []byte)               { r.add("pong %q", p) }
func (r *record) closeFrame(code int)         { r.add("close %d", code) }
func (r *record) protocolError(code int, text string) {
	r.add("answer %d %q", code, text)
}
func (r *record) add(format string, args ...any) { r.got = append(r.got, fmt.Sprintf(format, args...)) }

// outcome classes the error that ends reading, alike for gorilla's and
// readFrames' errors.
func outcome(err error) string {
	var ce *websocket.CloseError
	switch {
	case err == nil:
		return "more" // readFrames: waiting for the rest
	case errors.Is(err, websocket.ErrReadLimit):
		return "limit"
	case errors.As(err, &ce) && ce.Code == websocket.CloseAbnormalClosure:
		return "more" // gorilla: the input ended inside a frame
	case errors.As(err, &ce):
		return fmt.Sprintf("close %d %q", ce.Code, ce.Text)
	}
	return err.Error()
}

// readAllFrames feeds b to readFrames in chunks of at most chunk bytes, as
// reads would return it, keeping the unparsed rest like readAll.
func readAllFrames(b []byte, chunk int, limit int64) (*record, string) {
	st := &frameState{limit: limit}
	rec := &record{}
	var pending []byte
	for len(b) > 0 {
		n := min(chunk, len(b))
		pending = append(pending, b[:n]...)
		b = b[n:]
		used, err := readFrames(pending, st, rec)
		if err != nil {
			return rec, outcome(err)
		}
		pending = append([]byte(nil), pending[used:]...)
	}
	return rec, "more"
}

func TestReadFrames(t *testing.T) {
	text := func(fin bool, s string) []byte {
		first := byte(opText)
		if fin {
			first |= 0x80
		}
		return clientFrame(first, []byte(s))
	}
	cont := func(fin bool, s string) []byte {
		first := byte(opContinuation)
		if fin {
			first |= 0x80
		}
		return clientFrame(first, []byte(s))
	}
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	closeBody := func(code int, text string) []byte {
		return append(binary.BigEndian.AppendUint16(nil, uint16(code)), text...)
	}
	tests := []struct {
		name string
		in   []byte
		want []string
		end  string
	}{
		{"text", text(true, "2probe"), []string{`msg 1 "2probe"`}, "more"},
		{"two frames", cat(text(true, "2"), text(true, "3")), []string{`msg 1 "2"`, `msg 1 "3"`}, "more"},
		{"fragments with a ping between", cat(text(false, "42[\"lo"), clientFrame(0x80|opPing, []byte("hi")), cont(false, "gin\""), cont(true, "]")),
			[]string{`ping "hi"`, `msg 1 "42[\"login\"]"`}, "more"},
		{"binary", clientFrame(0x80|opBinary, []byte{1, 2}), []string{`msg 2 "\x01\x02"`}, "more"},
		{"pong", clientFrame(0x80|opPong, nil), []string{`pong ""`}, "more"},
		{"126 length", text(true, strings.Repeat("x", 150)), []string{fmt.Sprintf("msg 1 %q", strings.Repeat("x", 150))}, "more"},
		{"at the limit", text(true, strings.Repeat("x", 200)), []string{fmt.Sprintf("msg 1 %q", strings.Repeat("x", 200))}, "more"},
		{"over the limit", text(true, strings.Repeat("x", 201)), []string{`answer 1009 ""`}, "limit"},
		{"fragments over the limit", cat(text(false, strings.Repeat("x", 120)), cont(true, strings.Repeat("x", 81))), []string{`answer 1009 ""`}, "limit"},
		{"oversize header alone", []byte{0x81, 0x80 | 127, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4}, []string{`answer 1009 ""`}, "limit"},
		{"negative length", []byte{0x81, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, nil, "limit"},
		{"close", clientFrame(0x80|opClose, closeBody(1000, "bye")), []string{"close 1000"}, `close 1000 "bye"`},
		{"close without code", clientFrame(0x80|opClose, nil), []string{"close 1005"}, `close 1005 ""`},
		{"close with a bad code", clientFrame(0x80|opClose, closeBody(1005, "")), []string{`answer 1002 "bad close code 1005"`}, "websocket: bad close code 1005"},
		{"close with bad utf-8", clientFrame(0x80|opClose, closeBody(1000, "\xff")), []string{`answer 1002 "invalid utf8 payload in close frame"`}, "websocket: invalid utf8 payload in close frame"},
		{"unmasked", clientFrameMask(0x81, []byte("2"), false), []string{`answer 1002 "bad MASK"`}, "websocket: bad MASK"},
		{"reserved bits", clientFrame(0x80|0x40|0x10|opText, []byte("2")), []string{`answer 1002 "RSV1 set, RSV3 set"`}, "websocket: RSV1 set, RSV3 set"},
		{"bad opcode", clientFrame(0x83, nil), []string{`answer 1002 "bad opcode 3"`}, "websocket: bad opcode 3"},
		{"fragmented ping", clientFrame(opPing, nil), []string{`answer 1002 "FIN not set on control"`}, "websocket: FIN not set on control"},
		{"long ping", clientFrame(0x80|opPing, make([]byte, 126)), []string{`answer 1002 "len > 125 for control"`}, "websocket: len > 125 for control"},
		{"continuation first", cont(true, "x"), []string{`answer 1002 "continuation after FIN"`}, "websocket: continuation after FIN"},
		{"text inside a message", cat(text(false, "a"), text(true, "b")), []string{`answer 1002 "data before FIN"`}, "websocket: data before FIN"},
		{"incomplete", text(true, "2probe")[:5], nil, "more"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, chunk := range []int{len(tt.in), 1, 3} {
				rec, end := readAllFrames(append([]byte(nil), tt.in...), max(chunk, 1), 200)
				if fmt.Sprint(rec.got) != fmt.Sprint(tt.want) || end != tt.end {
					t.Fatalf("chunk %d: got %q, %s; want %q, %s", chunk, rec.got, end, tt.want, tt.end)
				}
			}
			// gorilla, the goroutine mode's reader, agrees.
			got, end := gorillaRead(t, tt.in, 200)
			if want := withoutAnswers(tt.want); fmt.Sprint(got) != fmt.Sprint(want) || end != tt.end {
				t.Fatalf("gorilla: got %q, %s; want %q, %s", got, end, want, tt.end)
			}
		})
	}
}

// withoutAnswers drops the close frames answering errors (gorilla writes
// them itself).
func withoutAnswers(got []string) []string {
	var out []string
	for _, g := range got {
		if !strings.HasPrefix(g, "answer ") {
			out = append(out, g)
		}
	}
	return out
}

// FuzzReadFrames checks readFrames against gorilla's server-side reader on
// arbitrary client bytes, whole and in small reads.
func FuzzReadFrames(f *testing.F) {
	f.Add(clientFrame(0x81, []byte("2probe")), uint8(1))
	f.Add(bytes.Join([][]byte{clientFrame(0x01, []byte("4")), clientFrame(0x89, []byte("p")), clientFrame(0x80, []byte("2"))}, nil), uint8(2))
	f.Add(clientFrame(0x88, []byte{3, 232, 'x'}), uint8(3))
	f.Add(clientFrame(0x82, make([]byte, 200)), uint8(7))
	f.Add([]byte{0x81, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, uint8(4))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		const limit = 100
		whole, wend := readAllFrames(append([]byte(nil), in...), max(len(in), 1), limit)
		parts, pend := readAllFrames(append([]byte(nil), in...), int(max(chunk, 1)), limit)
		if fmt.Sprint(whole.got) != fmt.Sprint(parts.got) || wend != pend {
			t.Fatalf("whole: %q, %s; in reads of %d: %q, %s", whole.got, wend, chunk, parts.got, pend)
		}
		got, gend := gorillaRead(t, in, limit)
		if want := withoutAnswers(whole.got); fmt.Sprint(got) != fmt.Sprint(want) || gend != wend {
			t.Fatalf("readFrames: %q, %s; gorilla: %q, %s", want, wend, got, gend)
		}
	})
}

// gorillaRead reads in as the goroutine mode does: gorilla's server Conn
// with the read limit, reading messages until an error.
func gorillaRead(t testing.TB, in []byte, limit int64) ([]string, string) {
	t.Helper()
	nc := &fakeConn{r: bytes.NewReader(in)}
	w := &hijackWriter{nc: nc}
	req, _ := http.NewRequest(http.MethodGet, "http://x/socket.io/", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	u := websocket.Upgrader{ReadBufferSize: 512, CheckOrigin: func(*http.Request) bool { return true }}
	wc, err := u.Upgrade(w, req, nil)
	if err != nil {
		t.Fatal(err)
	}
	wc.SetReadLimit(limit)
	rec := &record{}
	wc.SetPingHandler(func(s string) error { rec.ping([]byte(s)); return nil })
	wc.SetPongHandler(func(s string) error { rec.pong([]byte(s)); return nil })
	wc.SetCloseHandler(func(code int, _ string) error { rec.closeFrame(code); return nil })
	for {
		typ, msg, err := wc.ReadMessage()
		if err != nil {
			return rec.got, outcome(err)
		}
		if len(msg) == 0 {
			msg = nil
		}
		rec.message(byte(typ), msg)
	}
}

// fakeConn reads from r and discards writes.
type fakeConn struct{ r io.Reader }

func (c *fakeConn) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c *fakeConn) Write(b []byte) (int, error)      { return len(b), nil }
func (c *fakeConn) Close() error                     { return nil }
func (c *fakeConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *fakeConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *fakeConn) SetDeadline(time.Time) error      { return nil }
func (c *fakeConn) SetReadDeadline(time.Time) error  { return nil }
func (c *fakeConn) SetWriteDeadline(time.Time) error { return nil }

// hijackWriter hands nc to gorilla's Upgrade.
type hijackWriter struct {
	nc  net.Conn
	hdr http.Header
}

func (w *hijackWriter) Header() http.Header {
	if w.hdr == nil {
		w.hdr = http.Header{}
	}
	return w.hdr
}
func (w *hijackWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *hijackWriter) WriteHeader(int)             {}
func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.nc, bufio.NewReadWriter(bufio.NewReader(w.nc), bufio.NewWriter(w.nc)), nil
}
