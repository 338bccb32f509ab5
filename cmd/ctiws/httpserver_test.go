package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster/memory"
	"github.com/ctiws/ctiws/ws"
	"github.com/ctiws/ctiws/ws/client"
	"github.com/prometheus/client_golang/prometheus"
)

// TestHTTPTimeouts: a REST request whose body trickles in and an idle
// keep-alive connection are closed by the server's timeouts, while a
// logged-in websocket stays open well past them.
func TestHTTPTimeouts(t *testing.T) {
	mb := memory.New()
	t.Cleanup(func() { _ = mb.Close() })
	srv := ws.New(ws.Options{NodeID: "n1", Backend: mb.Cluster(), Registry: prometheus.NewRegistry(),
		Tenants: []*ws.Tenant{ws.NewTenant("t1", nil, &ws.TenantConfig{})},
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = srv.Run(ctx) }()
	limits := httpLimits{read: 300 * time.Millisecond, write: 300 * time.Millisecond, idle: 300 * time.Millisecond, maxHeaderBytes: 4096}
	hs := newHTTPServer(srv.Handler(), limits, true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	addr := ln.Addr().String()

	// A websocket, logged in before the others, must outlive them.
	sock, err := client.Dial(ctx, client.Options{URL: "http://" + addr, User: "alice", Token: "x", PingEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()

	// closedBy reads until the server closes the connection; a connection
	// still open after 10 s fails the test.
	closedBy := func(name string, c net.Conn) {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err := io.Copy(io.Discard, c)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s: the server did not close the connection", name)
		}
	}
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	t.Run("slow body", func(t *testing.T) {
		c := dial()
		_, _ = io.WriteString(c, "POST /webrest/authentication/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user")
		closedBy("slow body", c)
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		c := dial()
		_, _ = io.WriteString(c, "GET /webrest/nothing HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 || resp.Close {
			t.Fatalf("HTTP %d close=%v, want a kept-alive 404", resp.StatusCode, resp.Close)
		}
		closedBy("idle keep-alive", c)
	})
	t.Run("headers too large", func(t *testing.T) {
		c := dial()
		_, _ = io.WriteString(c, "GET /webrest/nothing HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 16<<10)+"\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("HTTP %d, want 431", resp.StatusCode)
		}
	})

	// The websocket has now been idle for more than every timeout: it
	// still reads and writes.
	time.Sleep(limits.read + limits.write + limits.idle)
	pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
	defer pcancel()
	if _, err := sock.Ping(pctx); err != nil {
		t.Fatalf("websocket closed by the HTTP timeouts: %v", err)
	}
}
