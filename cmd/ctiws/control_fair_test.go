package main

// One user cannot block a tenant's call control (security issue, item 2):
// alice's phone rings and nobody answers, so each of her calls holds the
// owner for the Originate's 15 s; bob's call from his own phone is still
// answered at once, and alice's calls beyond the per-user bound are
// refused 429.

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ctiws/ctiws/ami/sim"
)

func TestCallControlUsersDoNotWaitOnEachOther(t *testing.T) {
	scfg := sim.DefaultConfig()
	scfg.CallsPerSecond = 0
	scfg.AvgRingTime = 400 * time.Millisecond
	scfg.AvgCallDuration = 10 * time.Minute
	scfg.Unanswered = []string{"201"} // alice's phone
	lab := startSimStack(t, scfg, simStackOptions{Extra: "max_pending_commands_per_user: 4"})
	ctx, listen := lab.ctx, lab.listen
	tokens := map[string]string{"alice": lab.token("alice"), "bob": lab.token("bob")}
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
