package ws_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/memory"
	"github.com/ctiws/ctiws/directory"
	"github.com/ctiws/ctiws/ws"
	"github.com/ctiws/ctiws/ws/auth"
	"github.com/ctiws/ctiws/ws/client"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Users of the test tenant:
//   - alice 201 (+ webrtc 91201): admin profile, no privacy, trunks, queues admin, parkings, qmanager
//   - bob 202: operator, privacy, queue agent (not admin)
//   - carol 203: supervisor, privacy + admin queues
//   - dave 204: basic, privacy, presence panel only
//   - erin 205: no profile at all (privacy on, no rooms)
const usersJSON = `{
 "alice": {"name":"Alice","profile_id":"1","endpoints":{"mainextension":{"201":{}},"extension":{"201":{"type":"physical"},"91201":{"type":"webrtc"}},"voicemail":{"201":{}},"cellphone":{"3331234567":{}}}},
 "bob":   {"name":"Bob","profile_id":"2","endpoints":{"mainextension":{"202":{}},"extension":{"202":{"type":"physical"}},"voicemail":{"202":{}}}},
 "carol": {"name":"Carol","profile_id":"3","endpoints":{"mainextension":{"203":{}},"extension":{"203":{"type":"physical"}}}},
 "dave":  {"name":"Dave","profile_id":"4","endpoints":{"mainextension":{"204":{}},"extension":{"204":{"type":"physical"}}}},
 "erin":  {"name":"Erin","profile_id":"99","endpoints":{"mainextension":{"205":{}},"extension":{"205":{"type":"physical"}}}}
}`

const profilesJSON = `{
 "1":{"id":"1","name":"Admin","macro_permissions":{
   "presence_panel":{"value":true,"permissions":{"trunks":{"name":"trunks","value":true}}},
   "queue_agent":{"value":true,"permissions":{"ad_queue_agent":{"name":"ad_queue_agent","value":true}}},
   "settings":{"value":true,"permissions":{"parkings":{"name":"parkings","value":true},"screen_sharing":{"name":"screen_sharing","value":true},"dnd":{"name":"dnd","value":true},"call_forward":{"name":"call_forward","value":true}}},
   "streaming":{"value":true,"permissions":{"gate":{"name":"gate","value":true}}},
   "qmanager":{"value":true}}},
 "2":{"id":"2","name":"Operator","macro_permissions":{
   "presence_panel":{"value":true},
   "queue_agent":{"value":true},
   "settings":{"value":true,"permissions":[{"id":1,"name":"privacy","value":true},{"id":2,"name":"parkings","value":true},{"id":3,"name":"call_forward","value":true}]}}},
 "3":{"id":"3","name":"Supervisor","macro_permissions":{
   "presence_panel":{"value":true,"permissions":{"trunks":{"name":"trunks","value":true}}},
   "queue_agent":{"value":true,"permissions":{"ad_queue_agent":{"name":"ad_queue_agent","value":true}}},
   "nethvoice_cti":{"value":true,"permissions":{"privacy":{"name":"privacy","value":true}}}}},
 "4":{"id":"4","name":"Basic","macro_permissions":{
   "presence_panel":{"value":true},
   "settings":{"value":true,"permissions":{"privacy":{"name":"privacy","value":true}}}}}
}`

// testAlarmSecret is the test tenants' alarm secret.
const testAlarmSecret = "alarm-secret-0123456789"

// env is a running server with a memory backend.
type env struct {
	t       *testing.T
	backend cluster.Backend
	srv     *ws.Server
	hs      *httptest.Server
	reg     *prometheus.Registry
	lease   map[string]cluster.Lease
}

func newEnv(t *testing.T, tenantIDs ...string) *env {
	t.Helper()
	return newEnvWith(t, tenantIDs, nil, nil)
}

// testDirectory parses the test tenant's users and profiles.
func testDirectory(t *testing.T) *directory.Directory {
	t.Helper()
	dir, err := directory.Parse([]byte(usersJSON), []byte(profilesJSON))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// newEnvWith is newEnv with a tenant configuration (nil: the default one)
// and options to adjust.
func newEnvWith(t *testing.T, tenantIDs []string, tenantCfg func(id string) *ws.TenantConfig, opts func(*ws.Options)) *env {
	t.Helper()
	if len(tenantIDs) == 0 {
		tenantIDs = []string{"t1"}
	}
	dir := testDirectory(t)
	mb := memory.New()
	t.Cleanup(func() { _ = mb.Close() })
	b := mb.Cluster()
	var tenants []*ws.Tenant
	for _, id := range tenantIDs {
		var hosts []string
		if len(tenantIDs) > 1 {
			hosts = []string{id + ".example"}
		}
		tc := &ws.TenantConfig{Directory: dir, Privacy: "xxx", AuthEnabled: true,
			Streams: []string{"gate", "yard"}, AlarmSecret: []byte(testAlarmSecret)}
		if tenantCfg != nil {
			tc = tenantCfg(id)
		}
		tenants = append(tenants, ws.NewTenant(id, hosts, tc))
	}
	o := ws.Options{Backend: b, Tenants: tenants, SendBuffer: 64}
	if opts != nil {
		opts(&o)
	}
	ts := ws.StartTestServer(t, o)
	srv, hs, reg := ts.Srv, ts.HTTP, ts.Registry
	ctx := context.Background()
	e := &env{t: t, backend: b, srv: srv, hs: hs, reg: reg, lease: map[string]cluster.Lease{}}
	for _, id := range tenantIDs {
		l, ok, err := b.Ownership.Acquire(ctx, id, "owner", time.Minute)
		if err != nil || !ok {
			t.Fatalf("acquire: %v %v", ok, err)
		}
		e.lease[id] = l
	}
	return e
}

// sock is a logged-in test client that records events.
type sock struct {
	c  *client.Conn
	mu sync.Mutex
	ev []recv
}

type recv struct {
	name string
	args []json.RawMessage
}

func (e *env) login(tenant, user, ua string) *sock {
	e.t.Helper()
	token := "tok-" + user + "-" + ua
	if err := e.backend.Tokens.Put(context.Background(), tenant, strings.ToLower(user), auth.HashToken(token), time.Hour); err != nil {
		e.t.Fatal(err)
	}
	s := &sock{}
	hdr := http.Header{}
	if tenant != "t1" {
		hdr.Set("Host", tenant+".example")
	}
	c, err := client.Dial(context.Background(), client.Options{URL: e.hs.URL, User: user, Token: token, UAType: ua, PingEvery: -1, Header: hdr,
		OnEvent: func(name string, args []json.RawMessage, _ time.Time) {
			s.mu.Lock()
			s.ev = append(s.ev, recv{name, args})
			s.mu.Unlock()
		}})
	if err != nil {
		e.t.Fatalf("login %s: %v", user, err)
	}
	e.t.Cleanup(func() { c.Close() })
	s.c = c
	return s
}

func (s *sock) events(name string) []recv {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []recv
	for _, r := range s.ev {
		if r.name == name {
			out = append(out, r)
		}
	}
	return out
}

// publish publishes owner events for a tenant.
func (e *env) publish(tenant string, evs ...cluster.Event) {
	e.t.Helper()
	for i := range evs {
		evs[i].Tenant = tenant
	}
	if err := e.backend.Bus.PublishFenced(context.Background(), e.lease[tenant], evs); err != nil {
		e.t.Fatal(err)
	}
}

// settle waits until every socket has seen a marker event, so that all
// earlier events were delivered too (the bus keeps order).
func (e *env) settle(tenant string, socks ...*sock) {
	e.t.Helper()
	raw, _ := json.Marshal([]any{"marker"})
	before := make([]int, len(socks))
	for i, s := range socks {
		before[i] = len(s.events("testMarker"))
	}
	if err := e.backend.Bus.Publish(context.Background(), cluster.Event{Tenant: tenant, Name: "testMarker", Data: raw}); err != nil {
		e.t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for i, s := range socks {
		for len(s.events("testMarker")) == before[i] {
			if time.Now().After(deadline) {
				select {
				case <-s.c.Done():
					e.t.Fatalf("marker not delivered: connection closed: %v", s.c.Err())
				default:
				}
				e.t.Fatalf("marker not delivered (%d events seen)", len(s.ev))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// reset forgets the events recorded so far.
func reset(socks ...*sock) {
	for _, s := range socks {
		s.mu.Lock()
		s.ev = s.ev[:0]
		s.mu.Unlock()
	}
}

func TestAuthDisabledAcceptsAnyToken(t *testing.T) {
	ts := ws.StartTestServer(t, ws.Options{Tenants: []*ws.Tenant{ws.NewTenant("t1", nil, &ws.TenantConfig{Directory: testDirectory(t), AuthEnabled: false})}})
	ctx := context.Background()
	for _, user := range []string{"alice", "stranger"} {
		c, err := client.Dial(ctx, client.Options{URL: ts.HTTP.URL, User: user, Token: "anything", PingEvery: -1})
		if err != nil {
			t.Fatalf("%s refused with auth disabled: %v", user, err)
		}
		c.Close()
	}
	if !ts.Srv.Subscribed() {
		t.Error("not subscribed after Run")
	}
}

func TestMaxConnectionLifetime(t *testing.T) {
	ts := ws.StartTestServer(t, ws.Options{MaxConnLifetime: time.Second,
		Tenants: []*ws.Tenant{ws.NewTenant("t1", nil, &ws.TenantConfig{Directory: testDirectory(t)})}})
	srv, hs, ctx := ts.Srv, ts.HTTP, context.Background()
	c, err := client.Dial(ctx, client.Options{URL: hs.URL, User: "alice", Token: "x", PingEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("socket outlived max_connection_lifetime")
	}
	if got := testutil.ToFloat64(srv.Metrics().Disconnects.WithLabelValues("t1", "max_lifetime")); got != 1 {
		t.Errorf("disconnects{max_lifetime} = %v", got)
	}
	if strings.Contains(fmt.Sprint(c.Err()), "41") {
		t.Errorf("closed with a Socket.IO disconnect: %v", c.Err())
	}
}
