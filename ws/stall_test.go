package ws

import (
	"context"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/internal/faultproxy"
	"github.com/ctiws/ctiws/ws/client"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestClientLinkStall (network faults, client ↔ node): a client whose link
// stalls without FIN or RST for longer than the Engine.IO ping timeout is
// let go by the node — counted as ping_timeout, its session gone from the
// store, its goroutines ended — while a client on a healthy link is not
// touched; once the link comes back the client sees its socket closed and
// logs in again, and gets events again. Three rounds: nothing grows.
func TestClientLinkStall(t *testing.T) {
	const interval, timeout = 200 * time.Millisecond, 300 * time.Millisecond
	e := newAbuseEnv(t, Options{PingInterval: interval, PingTimeout: timeout})
	p, err := faultproxy.Start(strings.TrimPrefix(e.hs.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	dial := func(user string) (*client.Conn, *recorder) {
		t.Helper()
		r := &recorder{counts: map[string]int{}, last: map[string][]json.RawMessage{}}
		c, err := client.Dial(context.Background(), client.Options{URL: "http://" + p.Addr(), User: user, Token: "any", UAType: "mobile",
			PingEvery: -1, Header: map[string][]string{"Host": {"t1.example"}},
			OnEvent: func(name string, _ []json.RawMessage, _ time.Time) {
				r.mu.Lock()
				r.counts[name]++
				r.mu.Unlock()
			}})
		if err != nil {
			t.Fatalf("login %s through the proxy: %v", user, err)
		}
		t.Cleanup(func() { c.Close() })
		r.c = c
		return c, r
	}
	healthy := e.login("t1", "bob")
	sessions := func(user string) int {
		s, err := e.backend.Sessions.UserSessions(context.Background(), "t1", user)
		if err != nil {
			t.Fatal(err)
		}
		return len(s)
	}
	m := e.srv.metrics
	publish := func(n int) {
		raw, _ := json.Marshal([]any{map[string]int{"n": n}})
		if err := e.backend.Bus.Publish(context.Background(), cluster.Event{Tenant: "t1", Name: "stallMarker", Data: raw}); err != nil {
			t.Fatal(err)
		}
	}
	var baseline int
	for round := range 3 {
		c, r := dial("alice")
		publish(round)
		waitFor(t, "a marker on the stalling client before the stall", func() bool { return r.count("stallMarker") == 1 })
		if round == 0 {
			runtime.GC()
			baseline = runtime.NumGoroutine()
		}

		p.SetBlackhole(true)
		waitFor(t, "the node letting the stalled socket go", func() bool {
			return testutil.ToFloat64(m.Disconnects.WithLabelValues("t1", reasonPingTimeout)) == float64(round+1)
		})
		waitFor(t, "the stalled socket's session removed", func() bool { return sessions("alice") == 0 })
		publish(100 + round) // while stalled: reaches the healthy client only
		// Delivered before alice logs in again: the bus is asynchronous, and
		// a marker still on its way when she logs in reaches her new socket.
		waitFor(t, "the healthy client's marker during the stall", func() bool { return healthy.count("stallMarker") == 2*round+2 })
		alive(t, healthy, "the client on a healthy link")
		p.SetBlackhole(false)

		// The link is back: the client learns its socket is gone (the
		// close held by the stall arrives, or its own timeout fires).
		select {
		case <-c.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: the client never saw its socket closed after the link came back", round)
		}
	}
	// A fresh login works and gets events.
	_, r := dial("alice")
	publish(1000)
	waitFor(t, "a marker after the last stall", func() bool { return r.count("stallMarker") == 1 })
	if got := healthy.count("stallMarker"); got != 7 {
		t.Errorf("the healthy client got %d markers, want 7 (none lost)", got)
	}
	if got := testutil.ToFloat64(m.Disconnects.WithLabelValues("t1", reasonPingTimeout)); got != 3 {
		t.Errorf("disconnects{ping_timeout} = %v, want 3 (one per stall, the healthy client never)", got)
	}
	// Nothing grows across the stalls: the server's goroutines of three
	// dead sockets are gone (the proxy's and clients' own settle too).
	waitFor(t, "goroutines back to the baseline", func() bool {
		runtime.GC()
		return runtime.NumGoroutine() <= baseline+2
	})
}
