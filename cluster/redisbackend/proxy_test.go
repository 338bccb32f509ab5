package redisbackend_test

import (
	"bytes"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// proxy forwards TCP to Redis and can silence the server→client direction
// of connections that sent SSUBSCRIBE, leaving them open.
type proxy struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []*proxied
}

type proxied struct {
	subscriber atomic.Bool
	silenced   atomic.Bool
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	var wg sync.WaitGroup
	var open []net.Conn
	var openMu sync.Mutex
	track := func(c net.Conn) {
		openMu.Lock()
		open = append(open, c)
		openMu.Unlock()
	}
	t.Cleanup(func() {
		ln.Close()
		openMu.Lock()
		for _, c := range open {
			c.Close()
		}
		openMu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			track(client)
			track(server)
			pc := &proxied{}
			p.mu.Lock()
			p.conns = append(p.conns, pc)
			p.mu.Unlock()
			wg.Go(func() { // client → server, watching for SUBSCRIBE
				buf := make([]byte, 32<<10)
				for {
					n, err := client.Read(buf)
					if n > 0 {
						if bytes.Contains(bytes.ToLower(buf[:n]), []byte("subscribe")) {
							pc.subscriber.Store(true)
						}
						if _, werr := server.Write(buf[:n]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				server.Close()
			})
			wg.Go(func() { // server → client, unless silenced
				buf := make([]byte, 32<<10)
				for {
					n, err := server.Read(buf)
					if n > 0 && !pc.silenced.Load() {
						if _, werr := client.Write(buf[:n]); werr != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				_, _ = io.Copy(io.Discard, server)
				client.Close()
			})
		}
	})
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

// blackholeSubscribers silences every current pub/sub connection.
func (p *proxy) blackholeSubscribers() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		if c.subscriber.Load() {
			c.silenced.Store(true)
		}
	}
}
