package ws

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// socketPeers serves websocket upgrades and hands each server side over as
// a socket, so tests read what a socket writes with gorilla's client.
type socketPeers struct {
	t         testing.TB
	srv       *httptest.Server
	out       *writers
	maxFrames int
	accepted  chan *websocket.Conn
}

func newSocketPeers(t testing.TB, maxFrames int) *socketPeers {
	t.Helper()
	p := &socketPeers{t: t, out: newWriters(nil), maxFrames: maxFrames, accepted: make(chan *websocket.Conn, 1)}
	up := websocket.Upgrader{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wc, err := up.Upgrade(w, r, nil)
		if err != nil {
			t.Errorf("upgrade: %v", err)
			return
		}
		p.accepted <- wc
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// pair returns a connected socket and the client reading from it.
func (p *socketPeers) pair() (*socket, *websocket.Conn) {
	p.t.Helper()
	cli, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(p.srv.URL, "http"), nil)
	if err != nil {
		p.t.Fatalf("dial: %v", err)
	}
	wc := <-p.accepted
	s := newSocket(wc, p.maxFrames, 5*time.Second, p.out)
	p.t.Cleanup(func() {
		s.kill()
		_ = cli.Close()
	})
	return s, cli
}

// readText reads one message and fails unless it is the text want.
func readText(t *testing.T, cli *websocket.Conn, want []byte) {
	t.Helper()
	_ = cli.SetReadDeadline(time.Now().Add(10 * time.Second))
	typ, got, err := cli.ReadMessage()
	if err != nil {
		t.Fatalf("read (want %d bytes): %v", len(want), err)
	}
	if typ != websocket.TextMessage || !bytes.Equal(got, want) {
		t.Fatalf("read type %d, %d bytes %.40q; want text, %d bytes %.40q", typ, len(got), got, len(want), want)
	}
}

// readEnd reads until the connection ends and returns the error it ended
// with, failing on any further message.
func readEnd(t *testing.T, cli *websocket.Conn) error {
	t.Helper()
	_ = cli.SetReadDeadline(time.Now().Add(10 * time.Second))
	typ, got, err := cli.ReadMessage()
	if err == nil {
		t.Fatalf("read type %d, %.40q after the end; want the connection to end", typ, got)
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection did not end: %v", err)
	}
	return err
}

func payload(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + (seed+byte(i))%26
	}
	return b
}

// The frame header has three length forms (RFC 6455 §5.2): every
// boundary must decode in a real client.
func TestSocketFrameLengths(t *testing.T) {
	peers := newSocketPeers(t, 16)
	s, cli := peers.pair()
	for _, tt := range []struct{ n, header int }{
		{0, 2}, {1, 2}, {125, 2}, {126, 4}, {127, 4}, {65535, 4}, {65536, 10}, {70000, 10}, {1 << 20, 10},
	} {
		n := tt.n
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			want := payload(n, byte(n))
			// The shortest length form (RFC 6455 §5.2 "the minimal number of bytes").
			if got := len(appendFrame(nil, opText, want)) - n; got != tt.header {
				t.Fatalf("header %d bytes, want %d", got, tt.header)
			}
			if err := s.writeText(want); err != nil {
				t.Fatalf("writeText: %v", err)
			}
			readText(t, cli, want)
		})
	}
}

// Frames written back to back (batched into shared writes) arrive whole
// and in order.
func TestSocketKeepsOrder(t *testing.T) {
	const frames = 2000
	peers := newSocketPeers(t, frames)
	s, cli := peers.pair()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range frames {
			if err := s.writeText(fmt.Appendf(nil, "%d:%s", i, payload(i%300, byte(i)))); err != nil {
				t.Errorf("writeText %d: %v", i, err)
				return
			}
		}
	}()
	for i := range frames {
		readText(t, cli, fmt.Appendf(nil, "%d:%s", i, payload(i%300, byte(i))))
	}
	<-done
}

// hold makes s behave as if a flusher were busy: frames queue up until the
// test calls s.flush.
func hold(s *socket) {
	s.mu.Lock()
	s.flushing = true
	s.mu.Unlock()
}

func TestSocketQueue(t *testing.T) {
	const limit = 3
	peers := newSocketPeers(t, limit)
	tests := []struct {
		name string
		// run queues frames (held: nothing writes them yet) and returns the
		// texts the client must then read and the close code that follows
		// (0: the connection just ends, -1: it stays open).
		run     func(t *testing.T, s *socket) (texts [][]byte, closeCode int)
		wantErr error // the error of a further writeText
	}{
		{
			name: "full queue refuses text, takes close",
			run: func(t *testing.T, s *socket) ([][]byte, int) {
				var texts [][]byte
				for i := range limit {
					texts = append(texts, payload(10, byte(i)))
					if err := s.writeText(texts[i]); err != nil {
						t.Fatalf("writeText %d: %v", i, err)
					}
				}
				if err := s.writeText([]byte("x")); !errors.Is(err, errQueueFull) {
					t.Fatalf("writeText beyond the limit: %v, want errQueueFull", err)
				}
				if err := s.writeClose(websocket.CloseGoingAway, "bye"); err != nil {
					t.Fatalf("writeClose on a full queue: %v", err)
				}
				return texts, websocket.CloseGoingAway
			},
			wantErr: errSocketClosed,
		},
		{
			name: "finish writes the queue, then closes",
			run: func(t *testing.T, s *socket) ([][]byte, int) {
				texts := [][]byte{[]byte("one"), []byte("two")}
				for _, b := range texts {
					if err := s.writeText(b); err != nil {
						t.Fatalf("writeText: %v", err)
					}
				}
				s.finish()
				return texts, 0
			},
			wantErr: errSocketClosed,
		},
		{
			name: "kill drops the queue",
			run: func(t *testing.T, s *socket) ([][]byte, int) {
				if err := s.writeText([]byte("lost")); err != nil {
					t.Fatalf("writeText: %v", err)
				}
				s.kill()
				return nil, 0
			},
			wantErr: errSocketClosed,
		},
		{
			// A sender's droppable frames stop at its share; another
			// sender still gets in; the share is free again once written.
			name: "droppable frames: each sender's share",
			run: func(t *testing.T, s *socket) ([][]byte, int) {
				var texts [][]byte
				for i := range 2 {
					texts = append(texts, []byte("alice"+strconv.Itoa(i)))
					if err := s.writeTextBelow(texts[i], limit, "alice", 2); err != nil {
						t.Fatalf("alice's relay %d: %v", i, err)
					}
				}
				if err := s.writeTextBelow([]byte("alice2"), limit, "alice", 2); !errors.Is(err, errQueueBusy) {
					t.Fatalf("alice past her share: %v, want errQueueBusy", err)
				}
				texts = append(texts, []byte("carol0"))
				if err := s.writeTextBelow(texts[2], limit, "carol", 2); err != nil {
					t.Fatalf("carol's relay beside alice's flood: %v", err)
				}
				return texts, -1
			},
			wantErr: nil,
		},
		{
			// A deadline left behind by an earlier write is moved, not hit.
			name: "expired write deadline",
			run: func(t *testing.T, s *socket) ([][]byte, int) {
				_ = s.nc.SetWriteDeadline(time.Now().Add(-time.Second))
				s.deadline = time.Now().Add(-time.Second)
				if err := s.writeText([]byte("late")); err != nil {
					t.Fatalf("writeText: %v", err)
				}
				return [][]byte{[]byte("late")}, -1
			},
			wantErr: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, cli := peers.pair()
			hold(s)
			texts, closeCode := tt.run(t, s)
			s.flush()
			for _, b := range texts {
				readText(t, cli, b)
			}
			if closeCode >= 0 {
				err := readEnd(t, cli)
				if closeCode > 0 && !websocket.IsCloseError(err, closeCode) {
					t.Fatalf("end: %v, want close %d", err, closeCode)
				}
			}
			if err := s.writeText([]byte("after")); !errors.Is(err, tt.wantErr) {
				t.Fatalf("writeText afterwards: %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil {
				readText(t, cli, []byte("after"))
			}
		})
	}
}

// Frames queued behind one larger than the kernel's socket buffers leave
// whole and in order once the client reads, and the socket stays usable.
func TestSocketLargeBurst(t *testing.T) {
	peers := newSocketPeers(t, 16)
	s, cli := peers.pair()
	big := payload(8<<20, 7)
	for _, b := range [][]byte{big, []byte("small")} {
		if err := s.writeText(b); err != nil {
			t.Fatalf("writeText: %v", err)
		}
	}
	readText(t, cli, big)
	readText(t, cli, []byte("small"))
	if err := s.writeText([]byte("again")); err != nil {
		t.Fatalf("writeText after the burst: %v", err)
	}
	readText(t, cli, []byte("again"))
}

// BenchmarkAppendFrame measures framing an 800-byte event into a reused
// buffer (the bench's extenUpdate size): it must not allocate.
func BenchmarkAppendFrame(b *testing.B) {
	p := payload(800, 1)
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		buf = appendFrame(buf[:0], opText, p)
	}
}

// BenchmarkSocketBurst measures queueing 800-byte frames back to back to a
// loopback TCP peer that discards what it reads: the socket layer's cost per
// frame when frames queue up and leave together in shared write(2)s.
func BenchmarkSocketBurst(b *testing.B) {
	peers := newSocketPeers(b, 1<<20)
	s, cli := peers.pair()
	go func() { _, _ = io.Copy(io.Discard, cli.UnderlyingConn()) }()
	p := payload(800, 1)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		if err := s.writeText(p); err != nil {
			b.Fatalf("writeText: %v", err)
		}
	}
}

// TestSocketConflation: a keyed frame replaces the unsent frame of the same
// key in place; a keyless frame is a barrier nothing after it reaches back
// over; transitional (keyless) frames are never merged; the bound on keyed
// frames is separate from the bound on keyless ones.
func TestSocketConflation(t *testing.T) {
	peers := newSocketPeers(t, 3)
	s, cli := peers.pair()
	hold(s)
	queue := func(p, key string) (replaced bool) {
		t.Helper()
		_, replaced, err := s.queue(opText, []byte(p), key)
		if err != nil {
			t.Fatalf("queue %s: %v", p, err)
		}
		return replaced
	}
	steps := []struct {
		payload, key string
		replaced     bool
	}{
		{"a1", "a", false},
		{"b1", "b", false},
		{"a2", "a", true},      // replaces a1 in place: a comes before b
		{"ring", "", false},    // a barrier
		{"a3", "a", false},     // after the barrier: a new frame
		{"b2", "b", false},     // likewise
		{"a4", "a", true},      // replaces a3, not a2
		{"hangup", "", false},  // keyless frames are never merged
		{"hangup2", "", false}, // …even when alike
	}
	for _, st := range steps {
		if got := queue(st.payload, st.key); got != st.replaced {
			t.Fatalf("queue %s: replaced = %v, want %v", st.payload, got, st.replaced)
		}
	}
	// Three keyless frames fill a bound of three (the five keyed frames do
	// not count): a fourth is refused.
	if _, _, err := s.queue(opText, []byte("x"), ""); !errors.Is(err, errQueueFull) {
		t.Fatalf("keyless frame past the bound: err = %v, want errQueueFull", err)
	}
	go s.flush()
	for _, want := range []string{"a2", "b1", "ring", "a4", "b2", "hangup", "hangup2"} {
		readText(t, cli, []byte(want))
	}
}

// TestSocketConflationIndex: past indexFrom distinct keys the look-up moves
// to a map; replacement stays exact and in place.
func TestSocketConflationIndex(t *testing.T) {
	peers := newSocketPeers(t, 4)
	s, cli := peers.pair()
	hold(s)
	n := 3 * indexFrom
	for round := 0; round < 3; round++ {
		for i := 0; i < n; i++ {
			_, replaced, err := s.queue(opText, []byte(fmt.Sprintf("k%d-r%d", i, round)), fmt.Sprintf("k%d", i))
			if err != nil || replaced != (round > 0) {
				t.Fatalf("round %d key %d: replaced %v err %v", round, i, replaced, err)
			}
		}
	}
	go s.flush()
	for i := 0; i < n; i++ {
		readText(t, cli, []byte(fmt.Sprintf("k%d-r2", i)))
	}
}

// TestSocketQueueThenWake: frames queued without waking stay queued until
// wake, then leave in one write.
func TestSocketQueueThenWake(t *testing.T) {
	peers := newSocketPeers(t, 8)
	s, cli := peers.pair()
	wake, _, err := s.queue(opText, []byte("one"), "x")
	if err != nil || !wake {
		t.Fatalf("first frame: wake %v err %v, want a wake owed", wake, err)
	}
	if again, _, _ := s.queue(opText, []byte("two"), ""); again {
		t.Fatal("a second wake owed for the same burst")
	}
	_ = cli.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, _, err := cli.ReadMessage(); err == nil {
		t.Fatal("a frame left before wake")
	}
	s.wake()
	// The failed read above poisoned cli; read the rest from a fresh
	// look at the queue instead: it must be empty once the flusher ran.
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		idle := !s.flushing && len(s.q) == 0
		s.mu.Unlock()
		if idle {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the flusher never emptied the queue after wake")
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkSocketFanout measures one burst to many sockets, the router's
// pattern (queue a change's two frames on every socket, then wake them
// all), until every peer has read its burst, with the pool writers and with
// a flusher goroutine per socket. cpu-ns/socket counts the whole process
// (the peers' reads included). The writers count into a node's metrics,
// as in a node, and the frames carry a bus event's stamp (one
// ctiws_event_to_write_seconds observation per socket and burst).
func BenchmarkSocketFanout(b *testing.B) {
	const sockets = 1000
	ext, pres := payload(800, 1), payload(200, 2)
	burst := len(appendFrame(appendFrame(nil, opText, ext), opText, pres))
	for _, mode := range []string{"pool", "flusher"} {
		b.Run(mode, func(b *testing.B) {
			peers := newSocketPeers(b, 64)
			peers.out = newWriters(NewMetrics(prometheus.NewRegistry()))
			socks := make([]*socket, sockets)
			var read sync.WaitGroup // one Done per peer and burst
			for i := range socks {
				s, cli := peers.pair()
				if mode == "flusher" {
					s.raw = nil
				}
				socks[i] = s
				go func() {
					buf := make([]byte, 4096)
					got := 0
					for {
						n, err := cli.UnderlyingConn().Read(buf)
						if err != nil {
							return
						}
						for got += n; got >= burst; got -= burst {
							read.Done()
						}
					}
				}()
			}
			b.ReportAllocs()
			cpu0 := processCPU(b)
			b.ResetTimer()
			for b.Loop() {
				read.Add(sockets)
				at := time.Now().UnixNano() // a bus event's stamp, as the router passes it
				for _, s := range socks {
					_, _, _ = s.queueAt(opText, ext, "x", at)
					_, _, _ = s.queueAt(opText, pres, "p", at)
				}
				for _, s := range socks {
					s.wake()
				}
				read.Wait()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*sockets), "ns/socket")
			b.ReportMetric(float64((processCPU(b)-cpu0).Nanoseconds())/float64(b.N*sockets), "cpu-ns/socket")
		})
	}
}

// processCPU is the CPU time (user and system) of the test process.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestSocketHandoff: a peer that does not read until the kernel's buffers
// are full makes the pool writer's non-blocking write partial; the rest
// and what is queued meanwhile go to the socket's own flusher. Once the
// peer reads, every frame arrives whole and in order, and later frames go
// through the pool writers again (the flusher's write deadline does not
// fail them).
func TestSocketHandoff(t *testing.T) {
	peers := newSocketPeers(t, 1024)
	m := NewMetrics(prometheus.NewRegistry())
	peers.out = newWriters(m)
	s, cli := peers.pair()
	if s.raw == nil {
		t.Fatal("a TCP socket without non-blocking writes")
	}
	frame := func(i int) []byte { return fmt.Appendf(nil, "%d:%s", i, payload(64<<10, byte(i))) }
	const burst, later = 256, 8 // 16 MiB: more than loopback buffers hold
	for i := range burst {
		if _, _, err := s.queue(opText, frame(i), ""); err != nil {
			t.Fatalf("queue %d: %v", i, err)
		}
	}
	s.wake()
	waitFor(t, "the pool writer hands the socket over", func() bool { return testutil.ToFloat64(m.WriteHandoffs) == 1 })
	for i := burst; i < burst+later; i++ {
		if err := s.writeText(frame(i)); err != nil {
			t.Fatalf("writeText %d: %v", i, err)
		}
	}
	for i := range burst + later {
		readText(t, cli, frame(i))
	}
	waitFor(t, "the flusher ends", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return !s.flushing
	})
	// Past the flusher's deadline a pool write must still succeed.
	s.deadline = time.Now().Add(-time.Second)
	_ = s.nc.SetWriteDeadline(s.deadline)
	writes := testutil.ToFloat64(m.SocketWrites)
	if err := s.writeText([]byte("after")); err != nil {
		t.Fatalf("writeText after the handoff: %v", err)
	}
	readText(t, cli, []byte("after"))
	waitFor(t, "a pool write", func() bool { return testutil.ToFloat64(m.SocketWrites) == writes+1 })
	if got := testutil.ToFloat64(m.WriteHandoffs); got != 1 {
		t.Fatalf("%v handoffs, want 1", got)
	}
}

// TestSocketFinishWhileWriting: frames written while the pool writers are
// busy with the socket all leave before finish closes the connection, and
// kill during writes ends the socket without a writer left owning it.
func TestSocketFinishWhileWriting(t *testing.T) {
	const frames = 500
	peers := newSocketPeers(t, frames)
	for _, end := range []string{"finish", "kill"} {
		t.Run(end, func(t *testing.T) {
			s, cli := peers.pair()
			for i := range frames {
				if err := s.writeText(fmt.Appendf(nil, "%d:%s", i, payload(1000, byte(i)))); err != nil {
					t.Fatalf("writeText %d: %v", i, err)
				}
			}
			if end == "kill" {
				s.kill()
				waitFor(t, "the writer lets go", func() bool {
					s.mu.Lock()
					defer s.mu.Unlock()
					return !s.flushing
				})
				// The client reads a prefix of the frames in order, then
				// the end of the connection.
				_ = cli.SetReadDeadline(time.Now().Add(10 * time.Second))
				for i := 0; ; i++ {
					_, got, err := cli.ReadMessage()
					if err != nil {
						var ne interface{ Timeout() bool }
						if errors.As(err, &ne) && ne.Timeout() {
							t.Fatalf("connection did not end after kill: %v", err)
						}
						break
					}
					if want := fmt.Appendf(nil, "%d:%s", i, payload(1000, byte(i))); !bytes.Equal(got, want) {
						t.Fatalf("frame %d after kill: %.20q, want %.20q", i, got, want)
					}
				}
				return
			}
			s.finish()
			for i := range frames {
				readText(t, cli, fmt.Appendf(nil, "%d:%s", i, payload(1000, byte(i))))
			}
			readEnd(t, cli)
			if err := s.writeText([]byte("late")); !errors.Is(err, errSocketClosed) {
				t.Fatalf("writeText after finish: %v, want errSocketClosed", err)
			}
		})
	}
}
