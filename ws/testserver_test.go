package ws

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/memory"
	"github.com/prometheus/client_golang/prometheus"
)

// TestServer is a running Server for a test (test builds only; exported
// for package ws_test).
type TestServer struct {
	Srv      *Server
	HTTP     *httptest.Server
	Backend  cluster.Backend
	Registry *prometheus.Registry
}

// StartTestServer runs a Server with opts, filling in what a test leaves
// out: node "n1", a fresh memory backend, a registry of its own and a
// logger that discards. It waits until the bus subscriptions are live (as
// /readyz does), serves the handler on a loopback test server, and shuts
// both down when the test ends.
func StartTestServer(t testing.TB, opts Options) *TestServer {
	t.Helper()
	if opts.NodeID == "" {
		opts.NodeID = "n1"
	}
	if opts.Backend.Bus == nil {
		mb := memory.New()
		t.Cleanup(func() { _ = mb.Close() })
		opts.Backend = mb.Cluster()
	}
	reg, ok := opts.Registry.(*prometheus.Registry)
	if !ok || reg == nil {
		reg = prometheus.NewRegistry()
		opts.Registry = reg
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv := New(opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Run(ctx); close(done) }()
	for deadline := time.Now().Add(5 * time.Second); !srv.Subscribed(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("bus subscriptions never became live")
		}
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		sctx, c := context.WithTimeout(context.Background(), time.Second)
		srv.Shutdown(sctx)
		c()
		cancel()
		<-done
		hs.Close()
	})
	return &TestServer{Srv: srv, HTTP: hs, Backend: opts.Backend, Registry: reg}
}
