package ws

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/internal/guard"
	"github.com/ctiws/ctiws/ws/client"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const abuseUsers = `{
 "alice": {"name":"Alice","profile_id":"1","endpoints":{"mainextension":{"201":{}},"extension":{"201":{"type":"physical"}}}},
 "bob":   {"name":"Bob","profile_id":"1","endpoints":{"mainextension":{"202":{}},"extension":{"202":{"type":"physical"}}}},
 "carol": {"name":"Carol","profile_id":"1","endpoints":{"mainextension":{"203":{}},"extension":{"203":{"type":"physical"}}}}
}`

const abuseProfiles = `{"1":{"id":"1","name":"Basic","macro_permissions":{"presence_panel":{"value":true}}}}`

// abuseEnv is a server with in-package options (limits, test hooks) and
// tenants "t1" (host t1.example) and "t2" (host t2.example), auth off.
type abuseEnv struct {
	t       *testing.T
	srv     *Server
	hs      *httptest.Server
	backend cluster.Backend
	panics  *guard.Panics
}

func newAbuseEnv(t *testing.T, opts Options) *abuseEnv {
	t.Helper()
	dir, err := directory.Parse([]byte(abuseUsers), []byte(abuseProfiles))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"t1", "t2"} {
		opts.Tenants = append(opts.Tenants, NewTenant(id, []string{id + ".example"}, &TenantConfig{Directory: dir, Privacy: "xxx"}))
	}
	reg := prometheus.NewRegistry()
	opts.Registry = reg
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	opts.Panics = guard.New(reg, opts.Logger)
	ts := StartTestServer(t, opts)
	return &abuseEnv{t: t, srv: ts.Srv, hs: ts.HTTP, backend: ts.Backend, panics: opts.Panics}
}

// recorder is a logged-in client that records event names.
type recorder struct {
	c      *client.Conn
	mu     sync.Mutex
	counts map[string]int
	last   map[string][]json.RawMessage // the arguments of the last event of a name
}

func (r *recorder) count(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[name]
}

func (e *abuseEnv) login(tenant, user string) *recorder {
	e.t.Helper()
	r := &recorder{counts: map[string]int{}, last: map[string][]json.RawMessage{}}
	hdr := map[string][]string{"Host": {tenant + ".example"}}
	c, err := client.Dial(context.Background(), client.Options{URL: e.hs.URL, User: user, Token: "any", UAType: "desktop", PingEvery: -1, Header: hdr,
		OnEvent: func(name string, args []json.RawMessage, _ time.Time) {
			r.mu.Lock()
			r.counts[name]++
			r.last[name] = args
			r.mu.Unlock()
		}})
	if err != nil {
		e.t.Fatalf("login %s/%s: %v", tenant, user, err)
	}
	e.t.Cleanup(func() { c.Close() })
	r.c = c
	return r
}

// lastArgs returns the arguments of the last event called name.
func (r *recorder) lastArgs(name string) []json.RawMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last[name]
}

// serverConn returns the server side of a logged-in user's socket.
func (e *abuseEnv) serverConn(tenant, user string) *conn {
	e.t.Helper()
	for _, c := range e.srv.snapshotConns() {
		if l := c.currentLogin(); l != nil && c.tenant.ID == tenant && l.username == user {
			return c
		}
	}
	e.t.Fatalf("no socket of %s/%s", tenant, user)
	return nil
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// alive checks that a client still gets its ping acked.
func alive(t *testing.T, r *recorder, who string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := r.c.Ping(ctx); err != nil {
		t.Fatalf("%s: ping not acked: %v", who, err)
	}
}

// TestRelayLimits: a sender over the relay rate or size is dropped and
// counted, and disconnected after sustained abuse; the receiver keeps its
// connection.
func TestRelayLimits(t *testing.T) {
	e := newAbuseEnv(t, Options{Limits: Limits{RelayRate: 1, RelayBurst: 3, RelayBytes: 512, RelayDisconnectAfter: 50}})
	alice := e.login("t1", "alice")
	bob := e.login("t1", "bob")
	m := e.srv.metrics
	msg := func(extra string) map[string]string {
		return map[string]string{"message": "videoCallStart", "destUser": "bob", "pad": extra}
	}

	// Too large: dropped and counted, never relayed.
	if err := alice.c.Emit("message", msg(strings.Repeat("x", 600))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "relay_bytes reject", func() bool {
		return testutil.ToFloat64(m.LimitRejects.WithLabelValues("t1", limitRelayBytes)) == 1
	})
	alive(t, bob, "bob")
	if n := bob.count("message"); n != 0 {
		t.Fatalf("bob got %d oversize relays", n)
	}

	// A flood: the burst passes, the rest is dropped, and after 50
	// refusals the sender is disconnected. Never the receiver.
	start := time.Now()
	for i := 0; i < 200; i++ {
		if err := alice.c.Emit("message", msg("")); err != nil {
			break // the server closed alice
		}
	}
	select {
	case <-alice.c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the flooding sender was not disconnected")
	}
	if got := testutil.ToFloat64(m.Disconnects.WithLabelValues("t1", reasonRelayAbuse)); got != 1 {
		t.Errorf("disconnects{relay_abuse} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.LimitRejects.WithLabelValues("t1", limitRelayRate)); got < 49 {
		t.Errorf("limit_rejects{relay_rate} = %v, want >= 49", got)
	}
	// At most the burst plus what the rate refilled while flooding. The
	// relays reach bob through the bus: wait for the burst, then make
	// sure nothing more is on its way (a marker through the same bus).
	most := 3 + int(time.Since(start).Seconds()*1) + 1
	waitFor(t, "the burst relayed to bob", func() bool { return bob.count("message") >= 3 })
	marker := cluster.Event{Tenant: "t1", Name: "testMarker", Data: json.RawMessage(`["m"]`)}
	if err := e.backend.Bus.Publish(context.Background(), marker); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the marker after the relays", func() bool { return bob.count("testMarker") == 1 })
	alive(t, bob, "bob")
	if n := bob.count("message"); n < 3 || n > most {
		t.Errorf("bob got %d relays, want between the burst (3) and %d", n, most)
	}
	if got := testutil.ToFloat64(m.Disconnects.WithLabelValues("t1", reasonSlowConsumer)); got != 0 {
		t.Errorf("slow consumer disconnects = %v", got)
	}
}

// TestRelayNeverDisconnectsTheReceiver: relays to a receiver that does not
// read are dropped once its queue holds the sender's share (an eighth); the receiver is not
// disconnected as a slow consumer.
func TestRelayNeverDisconnectsTheReceiver(t *testing.T) {
	e := newAbuseEnv(t, Options{SendBuffer: 16, Limits: Limits{RelayRate: 1000, RelayBurst: 1000, RelayDisconnectAfter: 1000}})
	alice := e.login("t1", "alice")
	bob := e.login("t1", "bob")
	bc := e.serverConn("t1", "bob")
	// Bob stops reading: frames stay in his queue. Wait until what his
	// login queued has left, so the queue starts empty.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		bc.sock.mu.Lock()
		idle := !bc.sock.flushing && len(bc.sock.q) == 0
		if idle {
			bc.sock.flushing = true
		}
		bc.sock.mu.Unlock()
		if idle {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("bob's socket never went idle")
		}
	}
	for i := 0; i < 40; i++ {
		if err := alice.c.Emit("message", map[string]any{"message": "videoCallStart", "destUser": "bob", "n": i}); err != nil {
			t.Fatal(err)
		}
	}
	m := e.srv.metrics
	waitFor(t, "relays refused at the busy receiver", func() bool {
		return testutil.ToFloat64(m.LimitRejects.WithLabelValues("t1", limitRelayReceiver)) == 40-2 // alice's share: 16/8
	})
	if bc.closed.Load() {
		t.Fatal("the receiver was disconnected by a relay flood")
	}
	// Bob reads again and gets what was queued; his events still flow.
	bc.sock.mu.Lock()
	bc.sock.flushing = false
	bc.sock.mu.Unlock()
	go bc.sock.flush()
	waitFor(t, "queued relays", func() bool { return bob.count("message") == 2 })
	alive(t, bob, "bob")
	alive(t, alice, "alice")
}

// TestPanicsAreContained: a panic in one tenant's router or in one socket's
// reader is recovered, logged and counted; that tenant and the others keep
// working.
func TestPanicsAreContained(t *testing.T) {
	var boom atomic.Bool
	e := newAbuseEnv(t, Options{hooks: &hooks{
		route: func(tenant string, ev cluster.Event) {
			if tenant == "t1" && ev.Name == "boom" {
				panic("injected router panic")
			}
		},
		rest: func(tenant, route string) {
			if tenant == "t1" && route == "auth_logout" {
				panic("injected REST panic")
			}
		},
		clientEvent: func(tenant, name string) {
			if tenant == "t1" && name == "boom" && boom.CompareAndSwap(false, true) {
				panic("injected socket panic")
			}
		},
	}})
	a1 := e.login("t1", "alice")
	b1 := e.login("t1", "bob")
	a2 := e.login("t2", "alice")
	ctx := context.Background()
	publish := func(tenant, name string) {
		t.Helper()
		raw, _ := json.Marshal([]any{"x"})
		if err := e.backend.Bus.Publish(ctx, cluster.Event{Tenant: tenant, Name: name, Data: raw}); err != nil {
			t.Fatal(err)
		}
	}

	// Router: the panicking event is dropped; t1 and t2 keep routing.
	publish("t1", "boom")
	publish("t1", "after")
	publish("t2", "after")
	waitFor(t, "events after the router panic", func() bool {
		return a1.count("after") == 1 && b1.count("after") == 1 && a2.count("after") == 1
	})
	if got := testutil.ToFloat64(e.panics.Counter(guard.Router, "t1")); got != 1 {
		t.Errorf("panics{router,t1} = %v, want 1", got)
	}
	if a1.count("boom") != 0 {
		t.Error("the event that panicked was delivered")
	}

	// Socket: the panicking socket is closed; the others stay.
	if err := b1.c.Emit("boom"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-b1.c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the socket whose reader panicked was not closed")
	}
	if got := testutil.ToFloat64(e.panics.Counter(guard.Socket, "t1")); got != 1 {
		t.Errorf("panics{socket,t1} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(e.srv.metrics.Disconnects.WithLabelValues("t1", reasonPanic)); got != 1 {
		t.Errorf("disconnects{panic} = %v, want 1", got)
	}
	alive(t, a1, "t1 alice")
	alive(t, a2, "t2 alice")
	publish("t1", "later")
	waitFor(t, "t1 events after the socket panic", func() bool { return a1.count("later") == 1 })
	// REST: the panicking request gets 500; other requests are served.
	for _, tc := range []struct {
		tenant, path string
		want         int
	}{
		{"t1", "/webrest/authentication/logout", 500},
		{"t1", "/webrest/authentication/login", 400},
		{"t2", "/webrest/authentication/logout", 401},
	} {
		req, _ := http.NewRequest("POST", e.hs.URL+tc.path, strings.NewReader("nope"))
		req.Host = tc.tenant + ".example"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.tenant, tc.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s %s: HTTP %d, want %d", tc.tenant, tc.path, resp.StatusCode, tc.want)
		}
	}
	if got := testutil.ToFloat64(e.panics.Counter(guard.REST, "t1")); got != 1 {
		t.Errorf("panics{rest,t1} = %v, want 1", got)
	}
	// The panicked socket was logged out (no leftover login).
	waitFor(t, "logout of the panicked socket", func() bool { return len(e.srv.tenants.Load().byID["t1"].sockets.userConns("bob")) == 0 })
}
