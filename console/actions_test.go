package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

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
