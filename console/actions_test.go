package console

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/cluster/memory"
)

// TestActions: each action asks first, then carries out, then is in the
// audit log, on whichever node must act; without the CSRF token nothing
// happens.
func TestActions(t *testing.T) {
	backend := memory.New().Cluster()
	ctx := context.Background()
	for _, n := range []string{"n1", "n2"} {
		if err := backend.Sessions.Heartbeat(ctx, n, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var did []string
	record := func(s string) { mu.Lock(); did = append(did, s); mu.Unlock() }
	consoles := map[string]*Console{}
	for _, n := range []string{"n1", "n2"} {
		c, _ := testConsole(t, func(o *Options) {
			o.Node, o.Backend = n, backend
			o.Actions = NodeActions{
				Drain: func() { record(n + " drain") },
				Disconnect: func(tenant, user string) int {
					record(n + " disconnect " + tenant + "/" + user)
					if n == "n2" {
						return 2
					}
					return 0
				},
			}
		})
		consoles[n] = c
	}
	srv := newServer(t, consoles["n1"])
	cl := client(t)
	tok := login(t, srv, cl, "admin")

	// No CSRF token: refused, nothing queued.
	if resp := post(t, cl, srv.URL+"/console/action/drain", url.Values{"node": {"n2"}, "confirm": {"yes"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("drain without CSRF: %d", resp.StatusCode)
	}
	// Without confirm: a confirmation page, nothing queued.
	resp, err := cl.PostForm(srv.URL+"/console/action/drain", url.Values{"node": {"n2"}, "csrf": {tok}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("unconfirmed drain: %d", resp.StatusCode)
	}
	if reqs, _ := backend.Console.TakeRequests(ctx, "n2"); len(reqs) != 0 {
		t.Fatalf("an unconfirmed or unprotected action queued %s", reqs)
	}
	if resp := post(t, cl, srv.URL+"/console/action/reboot", url.Values{"node": {"n2"}, "csrf": {tok}, "confirm": {"yes"}}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("unknown action: %d", resp.StatusCode)
	}

	issued := time.Now().Add(-time.Minute)
	for _, f := range []url.Values{
		{"node": {"n2"}},
		{"tenant": {"t1"}, "user": {"Alice"}, "action": {"disconnect"}},
		{"tenant": {"t1"}, "user": {"bob"}, "action": {"revoke"}},
	} {
		act := "drain"
		if a := f.Get("action"); a != "" {
			act = a
		}
		f.Set("csrf", tok)
		f.Set("confirm", "yes")
		if resp := post(t, cl, srv.URL+"/console/action/"+act, f); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: %d", act, resp.StatusCode)
		}
	}
	// The nodes act on their requests.
	for _, n := range []string{"n1", "n2"} {
		consoles[n].serveRequests(ctx)
	}
	time.Sleep(20 * time.Millisecond) // the drain runs on a goroutine of its own
	mu.Lock()
	got := strings.Join(did, "; ")
	mu.Unlock()
	for _, want := range []string{"n2 drain", "n1 disconnect t1/alice", "n2 disconnect t1/alice", "n1 disconnect t1/bob", "n2 disconnect t1/bob"} {
		if !strings.Contains(got, want) {
			t.Errorf("nodes did %q, lacks %q", got, want)
		}
	}
	if strings.Contains(got, "n1 drain") {
		t.Errorf("n1 drained: %q", got)
	}
	if ok, err := backend.Tokens.CheckJWT(ctx, "t1", "bob", "h", issued, ""); ok || err != nil {
		t.Errorf("bob's token still valid after revoke (%v)", err)
	}
	_, page := get(t, cl, srv.URL+"/console/audit")
	for _, want := range []string{
		`data-action="drain" data-target="n2"`, "requested",
		`data-action="disconnect" data-target="t1/alice"`, "2 sockets closed",
		`data-action="revoke" data-target="t1/bob"`, "draining", "127.0.0.1",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("audit page lacks %q", want)
		}
	}
}

// TestHandOverAction: a hand-over is refused, with its reason on the page
// and in the audit log, for an unknown, draining or unready node, a node
// that does not serve the tenant, a tenant nobody owns and the owner
// itself; otherwise it is confirmed, then the owner is asked to hand over
// and the target to take over, and both are audited.
func TestHandOverAction(t *testing.T) {
	backend := memory.New().Cluster()
	ctx := context.Background()
	status := map[string]NodeStatus{
		"n1": {Node: "n1", Tenants: []TenantOnNode{{ID: "t1", Owner: true}, {ID: "t2"}}},
		"n2": {Node: "n2", Tenants: []TenantOnNode{{ID: "t1"}, {ID: "t2"}}},
		"n3": {Node: "n3", Draining: true, Tenants: []TenantOnNode{{ID: "t1"}}},
		"n4": {Node: "n4", Tenants: []TenantOnNode{{ID: "t2"}}},
		"n5": {Node: "n5", StoreErr: "dial tcp: connection refused", Tenants: []TenantOnNode{{ID: "t1"}}},
	}
	for n, st := range status {
		if err := backend.Sessions.Heartbeat(ctx, n, time.Minute); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(st)
		if err := backend.Console.PutStatus(ctx, n, b, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if err := backend.Sessions.Heartbeat(ctx, "n6", time.Minute); err != nil { // live, no status record
		t.Fatal(err)
	}
	l1, ok, err := backend.Ownership.Acquire(ctx, "t1", "n1", time.Minute)
	if err != nil || !ok {
		t.Fatal("acquire", err)
	}
	var mu sync.Mutex
	var did []string
	record := func(s string) { mu.Lock(); did = append(did, s); mu.Unlock() }
	consoles := map[string]*Console{}
	for _, n := range []string{"n1", "n2"} {
		c, _ := testConsole(t, func(o *Options) {
			o.Node, o.Backend = n, backend
			o.Actions = NodeActions{
				HandOver: func(_ context.Context, tenant, to string) (cluster.Lease, error) {
					record(n + " handover " + tenant + " to " + to)
					return l1, nil
				},
				TakeOver: func(tenant string) error { record(n + " takeover " + tenant); return nil },
			}
		})
		consoles[n] = c
	}
	srv := newServer(t, consoles["n1"])
	cl := client(t)
	tok := login(t, srv, cl, "admin")

	for _, tc := range []struct{ tenant, node, why string }{
		{"t1", "ghost", `unknown node "ghost"`},
		{"t1", "n3", "node n3 is draining"},
		{"t1", "n5", "node n5 is not ready: it cannot reach the store"},
		{"t1", "n6", "node n6 is not ready: it writes no status record"},
		{"t1", "n4", "node n4 does not serve tenant t1"},
		{"t2", "n2", "tenant t2 is not owned by any node"},
		{"t1", "n1", "node n1 already owns tenant t1"},
	} {
		for _, confirm := range []string{"", "yes"} {
			resp, err := cl.PostForm(srv.URL+"/console/action/handover", url.Values{"tenant": {tc.tenant}, "node": {tc.node}, "csrf": {tok}, "confirm": {confirm}})
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusConflict || !strings.Contains(string(body), tc.why) {
				t.Errorf("hand-over of %s to %s (confirm %q): %d %q; want 409 saying %q", tc.tenant, tc.node, confirm, resp.StatusCode, body, tc.why)
			}
		}
	}
	if reqs, _ := backend.Console.TakeRequests(ctx, "n1"); len(reqs) != 0 {
		t.Fatalf("a refused hand-over queued %s", reqs)
	}
	form := url.Values{"tenant": {"t1"}, "node": {"n2"}, "csrf": {tok}}
	if _, page := postPage(t, cl, srv.URL+"/console/action/handover", form); !strings.Contains(page, "Hand tenant t1") {
		t.Fatalf("no confirmation page: %q", page)
	}
	if reqs, _ := backend.Console.TakeRequests(ctx, "n1"); len(reqs) != 0 {
		t.Fatalf("an unconfirmed hand-over queued %s", reqs)
	}
	form.Set("confirm", "yes")
	if resp := post(t, cl, srv.URL+"/console/action/handover", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirmed hand-over: %d", resp.StatusCode)
	}
	for _, n := range []string{"n1", "n2"} {
		consoles[n].serveRequests(ctx)
	}
	mu.Lock()
	got := strings.Join(did, "; ")
	mu.Unlock()
	if got != "n1 handover t1 to n2; n2 takeover t1" {
		t.Errorf("nodes did %q", got)
	}
	_, page := get(t, cl, srv.URL+"/console/audit")
	for _, want := range []string{
		`data-action="handover" data-target="t1 → n2"`, "requested of the owner n1 (epoch 1)",
		fmt.Sprintf("lease epoch %d released, kept for n2", l1.Epoch), "taking the lease",
		`data-target="t1 → n3"`, "refused: node n3 is draining",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("audit page lacks %q", want)
		}
	}
}

// postPage posts form and returns the status and the page.
func postPage(t *testing.T, cl *http.Client, u string, form url.Values) (int, string) {
	t.Helper()
	resp, err := cl.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
