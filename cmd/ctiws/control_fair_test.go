package main

// One user cannot block a tenant's call control (security issue, item 2):
// alice's phone rings and nobody answers, so each of her calls holds the
// owner for the Originate's 15 s; bob's call from his own phone is still
// answered at once, and alice's calls beyond the per-user bound are
// refused 429.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctiws/ctiws/ami/sim"
	"github.com/ctiws/ctiws/ws/auth"
)

func TestCallControlUsersDoNotWaitOnEachOther(t *testing.T) {
	scfg := sim.DefaultConfig()
	scfg.Username, scfg.Secret = "admin", "s3cret"
	scfg.CallsPerSecond = 0
	scfg.AvgRingTime = 400 * time.Millisecond
	scfg.AvgCallDuration = 10 * time.Minute
	scfg.Unanswered = []string{"201"} // alice's phone
	s := sim.New(scfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Serve(ctx, ln) }()
	defer s.Close()

	stack, _ := filepath.Abs(filepath.Join("testdata", "stack"))
	listen, metrics := freeAddr(t), freeAddr(t)
	cfg := fmt.Sprintf(`listen: %q
metrics_listen: %q
drain_timeout: 1s
max_pending_commands_per_user: 4
tenants:
  - id: t1
    ami: {address: %q, username: admin, secret: s3cret}
    auth: {jwt_secret: "stack-test-jwt-secret"}
    users_file: %s/users.json
    profiles_file: %s/profiles.json
`, listen, metrics, ln.Addr().String(), stack, stack)
	defer serveInProcess(t, ctx, cfg)()

	tokens := map[string]string{}
	for _, u := range []string{"alice", "bob"} {
		tokens[u], _ = auth.SignJWT(u, "t1", []byte("stack-test-jwt-secret"), time.Hour, time.Now())
	}
	type answer struct {
		user   string
		status int
		body   string
	}
	post := func(user, path, body string) answer {
		req, _ := http.NewRequestWithContext(ctx, "POST", "http://"+listen+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tokens[user])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return answer{user, 0, err.Error()}
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return answer{user, resp.StatusCode, string(b)}
	}
	// Generous: the node starts, logs in to the PBX and takes a snapshot on
	// a machine that may be busy (2 cores, -race, other test binaries).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+listen+"/webrest/astproxy/extension/201", nil)
		req.Header.Set("Authorization", "Bearer "+tokens["alice"])
		if resp, err := http.DefaultClient.Do(req); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && strings.Contains(string(b), `"exten":"201"`) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("timed out waiting for the PBX model")
		}
	}

	// Eight calls from alice at once: four are accepted and ring her
	// phone (15 s, unanswered), four are refused at once.
	answers := make(chan answer, 9)
	for range 8 {
		go func() { answers <- post("alice", "/webrest/astproxy/call", `{"number":"204"}`) }()
	}
	next := func(what string) answer {
		t.Helper()
		select {
		case a := <-answers:
			return a
		case <-time.After(30 * time.Second):
			t.Fatalf("no answer for %s", what)
			return answer{}
		}
	}
	for i := range 4 {
		a := next("alice's calls beyond the bound")
		if a.user != "alice" || a.status != http.StatusTooManyRequests {
			t.Fatalf("answer %d: %s got HTTP %d %s; want alice's calls beyond the bound refused 429 first", i, a.user, a.status, a.body)
		}
	}
	// Bob calls from his own phone: answered before any of alice's.
	go func() { answers <- post("bob", "/webrest/astproxy/call", `{"number":"204"}`) }()
	a := next("bob's call")
	if a.user != "bob" || a.status != http.StatusOK || !strings.Contains(a.body, `"uniqueid"`) {
		t.Fatalf("first answer after alice's refusals: %s HTTP %d %s; want bob's call answered 200 while alice's still ring", a.user, a.status, a.body)
	}
}
