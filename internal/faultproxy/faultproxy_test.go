package faultproxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// echo starts a TCP echo server and returns its address.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func start(t *testing.T) *Proxy {
	t.Helper()
	p, err := Start(echo(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// roundTrip writes msg and reads it back within wait; it returns how long
// that took and the read error, if any.
func roundTrip(c net.Conn, msg []byte, wait time.Duration) (time.Duration, error) {
	start := time.Now()
	_ = c.SetDeadline(start.Add(wait))
	defer func() { _ = c.SetDeadline(time.Time{}) }()
	if _, err := c.Write(msg); err != nil {
		return 0, err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return time.Since(start), err
	}
	if !bytes.Equal(got, msg) {
		return time.Since(start), errors.New("echo differs")
	}
	return time.Since(start), nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// The bounds are loose on purpose: the machine running the tests may be
// loaded, so only a lower bound of a delay is exact.
func TestFaults(t *testing.T) {
	cases := []struct {
		name string
		// fault is applied after a first round trip on an open
		// connection c; check then runs with a connection dialled
		// before (c) and a fresh one (dial).
		fault func(p *Proxy)
		check func(t *testing.T, p *Proxy, c net.Conn)
	}{
		{"forwards", func(*Proxy) {}, func(t *testing.T, p *Proxy, c net.Conn) {
			if _, err := roundTrip(c, []byte("hello"), 5*time.Second); err != nil {
				t.Fatal(err)
			}
			if _, err := roundTrip(dial(t, p), bytes.Repeat([]byte("x"), 200<<10), 10*time.Second); err != nil {
				t.Fatal(err)
			}
		}},
		{"latency per direction", func(p *Proxy) {
			p.SetLatency(Up, 150*time.Millisecond)
			p.SetLatency(Down, 100*time.Millisecond)
		}, func(t *testing.T, p *Proxy, c net.Conn) {
			took, err := roundTrip(c, []byte("slow"), 5*time.Second)
			if err != nil || took < 250*time.Millisecond {
				t.Fatalf("round trip %v (%v), want ≥ 250 ms", took, err)
			}
			p.SetLatency(Up, 0)
			p.SetLatency(Down, 0)
			took, err = roundTrip(c, []byte("fast"), 5*time.Second)
			if err != nil || took >= 250*time.Millisecond {
				t.Fatalf("round trip %v (%v) after the latency was removed", took, err)
			}
		}},
		{"blackhole holds, heal delivers", func(p *Proxy) { p.SetBlackhole(true) }, func(t *testing.T, p *Proxy, c net.Conn) {
			fresh := dial(t, p) // accepted, but nothing goes through
			for _, conn := range []net.Conn{c, fresh} {
				if _, err := roundTrip(conn, []byte("lost?"), 300*time.Millisecond); !isTimeout(err) {
					t.Fatalf("through a blackhole: %v, want a timeout (no FIN, no RST)", err)
				}
			}
			if p.Conns() != 2 {
				t.Errorf("%d connections open during the blackhole, want 2", p.Conns())
			}
			p.SetBlackhole(false)
			for _, conn := range []net.Conn{c, fresh} {
				got := make([]byte, 5)
				_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.ReadFull(conn, got); err != nil || string(got) != "lost?" {
					t.Fatalf("after the heal: %q %v, want the held bytes", got, err)
				}
			}
		}},
		{"reset all", func(p *Proxy) {
			if n := p.ResetAll(); n != 1 {
				t.Errorf("ResetAll reset %d connections, want 1", n)
			}
		}, func(t *testing.T, p *Proxy, c net.Conn) {
			_, err := roundTrip(c, []byte("x"), 5*time.Second)
			if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
				t.Fatalf("after a reset: %v, want ECONNRESET", err)
			}
			if _, err := roundTrip(dial(t, p), []byte("again"), 5*time.Second); err != nil {
				t.Fatalf("a new connection after the reset: %v", err)
			}
		}},
		{"refuse new connections", func(p *Proxy) { p.SetRefuse(true) }, func(t *testing.T, p *Proxy, c net.Conn) {
			// The reset may come before or after connect returns.
			fresh, err := net.Dial("tcp", p.Addr())
			if err == nil {
				_, err = roundTrip(fresh, []byte("x"), 5*time.Second)
				_ = fresh.Close()
			}
			if err == nil || isTimeout(err) {
				t.Fatalf("a new connection while refusing: %v, want reset or closed", err)
			}
			if _, err := roundTrip(c, []byte("old"), 5*time.Second); err != nil {
				t.Fatalf("an open connection while refusing: %v", err)
			}
			p.SetRefuse(false)
			if _, err := roundTrip(dial(t, p), []byte("x"), 5*time.Second); err != nil {
				t.Fatalf("after refusing: %v", err)
			}
		}},
		{"bandwidth", func(p *Proxy) { p.SetBandwidth(Down, 64<<10) }, func(t *testing.T, p *Proxy, c net.Conn) {
			took, err := roundTrip(c, bytes.Repeat([]byte("b"), 32<<10), 10*time.Second)
			if err != nil || took < 400*time.Millisecond {
				t.Fatalf("32 KiB at 64 KiB/s took %v (%v), want ≥ 400 ms", took, err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := start(t)
			c := dial(t, p)
			if _, err := roundTrip(c, []byte("warm"), 5*time.Second); err != nil {
				t.Fatal(err)
			}
			tc.fault(p)
			tc.check(t, p, c)
		})
	}
}

// A close during a blackhole reaches the other side only once it heals,
// and Close returns with connections still held.
func TestBlackholeHoldsClose(t *testing.T) {
	p := start(t)
	c := dial(t, p)
	if _, err := roundTrip(c, []byte("warm"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.SetBlackhole(true)
	_ = c.(*net.TCPConn).CloseWrite()
	time.Sleep(100 * time.Millisecond)
	if p.Conns() != 1 {
		t.Fatalf("%d connections during the blackhole, want 1 held", p.Conns())
	}
	p.SetBlackhole(false)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("after the heal: %v, want EOF (the echo server closed)", err)
	}
	p.SetBlackhole(true)
	dial(t, p)
	done := make(chan struct{})
	go func() { _ = p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close hangs on a blackholed connection")
	}
}
