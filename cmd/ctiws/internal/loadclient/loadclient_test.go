package loadclient

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestParseFrame(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 300)
	huge := bytes.Repeat([]byte("y"), 70000)
	frame := func(op byte, p []byte) []byte { // an unmasked server frame
		b := []byte{0x80 | op}
		switch n := len(p); {
		case n < 126:
			b = append(b, byte(n))
		case n <= 0xFFFF:
			b = append(b, 126, byte(n>>8), byte(n))
		default:
			b = append(b, 127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
		}
		return append(b, p...)
	}
	tests := []struct {
		name    string
		in      []byte
		op      byte
		payload []byte
		n       int
		err     error
	}{
		{"empty", nil, 0, nil, 0, nil},
		{"one byte", []byte{0x81}, 0, nil, 0, nil},
		{"short text", frame(opText, []byte("42[]")), opText, []byte("42[]"), 6, nil},
		{"16-bit length", frame(opText, long), opText, long, 304, nil},
		{"16-bit length, header cut", frame(opText, long)[:3], 0, nil, 0, nil},
		{"64-bit length", frame(opText, huge), opText, huge, 70010, nil},
		{"payload cut", frame(opText, long)[:100], 0, nil, 0, nil},
		{"two frames: the first", append(frame(opPing, []byte("p")), frame(opText, []byte("2"))...), opPing, []byte("p"), 3, nil},
		{"fragment", []byte{0x01, 0x01, 'x'}, 0, nil, 0, errFragmented},
		{"compressed", []byte{0xC1, 0x01, 'x'}, 0, nil, 0, errFragmented},
		{"masked", []byte{0x81, 0x81, 1, 2, 3, 4, 'x'}, 0, nil, 0, errMasked},
		{"binary", []byte{0x82, 0x01, 'x'}, 0, nil, 0, errOpcode},
		{"too large", []byte{0x81, 127, 0, 0, 0, 0, 0x10, 0, 0, 1}, 0, nil, 0, errTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op, payload, n, err := parseFrame(tt.in)
			if !errors.Is(err, tt.err) || op != tt.op || n != tt.n || !bytes.Equal(payload, tt.payload) {
				t.Fatalf("parseFrame = op %#x, %d payload bytes, n %d, err %v; want op %#x, %d bytes, n %d, err %v",
					op, len(payload), n, err, tt.op, len(tt.payload), tt.n, tt.err)
			}
		})
	}
}

func TestAppendMaskedRoundTrip(t *testing.T) {
	for _, size := range []int{0, 1, 125, 126, 65535, 65536} {
		p := bytes.Repeat([]byte{'a'}, size)
		b := appendMasked(nil, opText, p, [4]byte{1, 2, 3, 4})
		b[1] &^= 0x80 // the parser takes server frames: unmask in place
		hdr := len(b) - size - 4
		key := b[hdr : hdr+4]
		body := b[hdr+4:]
		for i := range body {
			body[i] ^= key[i&3]
		}
		b = append(b[:hdr], body...)
		op, got, n, err := parseFrame(b)
		if err != nil || op != opText || n != len(b) || !bytes.Equal(got, p) {
			t.Fatalf("size %d: parseFrame = %#x, %d bytes, n %d, %v", size, op, len(got), n, err)
		}
	}
}

func FuzzParseFrame(f *testing.F) {
	f.Add([]byte{0x81, 0x02, '4', '2'})
	f.Add([]byte{0x81, 126, 0, 4, 'a', 'b', 'c', 'd'})
	f.Add([]byte{0x89, 127, 0, 0, 0, 0, 0, 0, 0, 1, 'p'})
	f.Fuzz(func(t *testing.T, b []byte) {
		op, payload, n, err := parseFrame(b)
		if err != nil || n == 0 {
			return
		}
		if n > len(b) || len(payload) > n || op == 0 {
			t.Fatalf("parseFrame(%x) = op %#x, %d payload bytes, n %d", b, op, len(payload), n)
		}
	})
}

// fakeServer speaks the server side of the login with gorilla/websocket
// and then runs script on the connection.
func fakeServer(t *testing.T, refuse bool, script func(ws *websocket.Conn)) string {
	t.Helper()
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		send := func(s string) { _ = ws.WriteMessage(websocket.TextMessage, []byte(s)) }
		read := func() string { _, b, _ := ws.ReadMessage(); return string(b) }
		send(`0{"sid":"e","pingInterval":25000,"pingTimeout":20000}`)
		if read() != "40" {
			return
		}
		send("2") // an engine.io ping during the login
		if got := read(); got != "3" {
			t.Errorf("answer to the engine.io ping = %q, want 3", got)
		}
		send(`40{"sid":"sock-1"}`)
		if login := read(); !strings.HasPrefix(login, `42["login",{"accessKeyId":"alice"`) {
			t.Errorf("login frame = %q", login)
		}
		if refuse {
			send(`42["401"]`)
			return
		}
		// authe_ok and the first event leave in one write: the client must
		// keep what its handshake read past authe_ok.
		nc := ws.UnderlyingConn()
		_, _ = nc.Write(append([]byte{0x81, 14}, `42["authe_ok"`...))
		_, _ = nc.Write([]byte{']', 0x81, 8, '4', '2', '[', '"', 'e', '0', '"', ']'})
		script(ws)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestConnReadsEveryFrame(t *testing.T) {
	big := `42["big","` + strings.Repeat("z", 100_000) + `"]`
	acked := make(chan string, 1)
	url := fakeServer(t, false, func(ws *websocket.Conn) {
		for _, s := range []string{`42["e1"]`, "2", big, `42["e2"]`} {
			_ = ws.WriteMessage(websocket.TextMessage, []byte(s))
		}
		for range 2 { // the pong to "2", then the app-level ping
			_, b, err := ws.ReadMessage()
			if err != nil {
				return
			}
			if s := string(b); strings.HasSuffix(s, `["ping"]`) {
				_ = ws.WriteMessage(websocket.TextMessage, []byte("43"+strings.TrimSuffix(strings.TrimPrefix(s, "42"), `["ping"]`)+"[]"))
				acked <- s
			} else if s != "3" {
				t.Errorf("client sent %q, want 3 or a ping", s)
			}
		}
		_ = ws.WriteMessage(websocket.TextMessage, []byte(`42["e3"]`))
		_, _, _ = ws.ReadMessage() // until the client closes
	})
	p, err := NewPoller(2, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var mu sync.Mutex
	var got []string
	events := make(chan struct{}, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, p, Options{URL: url, User: "alice", Token: "tok", OnRaw: func(b []byte, _ time.Time) {
		mu.Lock()
		name, _, _ := strings.Cut(strings.TrimPrefix(string(b), `42["`), `"`)
		got = append(got, name)
		mu.Unlock()
		events <- struct{}{}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if c.SocketID != "sock-1" {
		t.Errorf("SocketID = %q, want sock-1", c.SocketID)
	}
	for range 5 {
		select {
		case <-events:
		case <-ctx.Done():
			t.Fatalf("events: got %v, want 5", got)
		}
	}
	mu.Lock()
	if want := "e0 e1 big e2 e3"; strings.Join(got, " ") != want {
		t.Errorf("events = %v, want %s", got, want)
	}
	mu.Unlock()
	select {
	case <-acked:
	case <-ctx.Done():
		t.Fatal("no app-level ping")
	}
	if err := c.Err(); err != nil {
		t.Fatalf("Err = %v while up", err)
	}
	c.Close()
	select {
	case <-c.Done():
	case <-ctx.Done():
		t.Fatal("Close did not end the connection")
	}
}

func TestConnEnds(t *testing.T) {
	tests := []struct {
		name   string
		script func(ws *websocket.Conn)
		want   string
	}{
		{"socket.io disconnect", func(ws *websocket.Conn) {
			_ = ws.WriteMessage(websocket.TextMessage, []byte("41"))
			time.Sleep(time.Second)
		}, "disconnect (41)"},
		{"close frame", func(ws *websocket.Conn) {
			_ = ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(1000, ""))
			time.Sleep(time.Second)
		}, "closed the websocket"},
		{"EOF", func(ws *websocket.Conn) {}, "closed the connection"},
		{"binary frame", func(ws *websocket.Conn) {
			_ = ws.WriteMessage(websocket.BinaryMessage, []byte{1})
			time.Sleep(time.Second)
		}, "unknown opcode"},
	}
	p, err := NewPoller(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := Dial(ctx, p, Options{URL: fakeServer(t, false, tt.script), User: "alice", Token: "tok"})
			if err != nil {
				t.Fatal(err)
			}
			select {
			case <-c.Done():
			case <-ctx.Done():
				t.Fatal("connection did not end")
			}
			if err := c.Err(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Err = %v, want it to say %q", err, tt.want)
			}
		})
	}
}

func TestDialRefused(t *testing.T) {
	p, err := NewPoller(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := Dial(ctx, p, Options{URL: fakeServer(t, true, nil), User: "alice", Token: "bad"}); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("Dial = %v, want ErrUnauthorized", err)
	}
	if _, err := Dial(ctx, p, Options{URL: "https://127.0.0.1:1"}); err == nil || !strings.Contains(err.Error(), "only http") {
		t.Fatalf("Dial https = %v, want a scheme error", err)
	}
}
