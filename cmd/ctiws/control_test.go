package main

// Call control end to end (issue 14): a REST call from a physical phone
// goes node → command queue → owner → AMI → simulated PBX, which rings the
// callee; the callee's user sees it on its socket; the REST answer carries
// the originating channel's Uniqueid. Then the conversation is hung up over
// REST the same way.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/ami/sim"
	"github.com/ctiws/ctiws/ws/client"
)

func TestCallControlEndToEnd(t *testing.T) {
	scfg := sim.DefaultConfig()
	scfg.CallsPerSecond = 0
	scfg.AvgRingTime = 800 * time.Millisecond
	scfg.AvgCallDuration = 10 * time.Minute
	lab := startSimStack(t, scfg, simStackOptions{})
	ctx, listen, s := lab.ctx, lab.listen, lab.sim
	tokens := map[string]string{"alice": lab.token("alice"), "bob": lab.token("bob")}
	rest := func(user, method, path, body string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, "http://"+listen+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tokens[user])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	// Generous: the node starts, logs in to the PBX and takes a snapshot on
	// a machine that may be busy (2 cores, -race, other test binaries).
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	// The owner has the PBX model once extension 201 is listed.
	waitFor("the PBX model", func() bool {
		st, b := rest("alice", "GET", "/webrest/astproxy/extension/201", "")
		return st == 200 && strings.Contains(string(b), `"exten":"201"`)
	})

	var mu sync.Mutex
	var bobEvents []string
	var bc *client.Conn
	var err error
	waitFor("bob's socket", func() bool {
		dctx, dcancel := context.WithTimeout(ctx, 5*time.Second) // a hung attempt must not outlive waitFor
		defer dcancel()
		bc, err = client.Dial(dctx, client.Options{URL: "http://" + listen, User: "bob", Token: tokens["bob"], PingEvery: -1,
			OnEvent: func(name string, args []json.RawMessage, _ time.Time) {
				if name == "extenRinging" && len(args) > 0 {
					mu.Lock()
					bobEvents = append(bobEvents, string(args[0]))
					mu.Unlock()
				}
			}})
		return err == nil
	})
	defer bc.Close()

	_, since, _ := s.ReceivedActions(0)
	st, body := rest("alice", "POST", "/webrest/astproxy/call", `{"number":"202"}`)
	if st != 200 {
		t.Fatalf("call: HTTP %d %s", st, body)
	}
	var res struct {
		UniqueID string `json:"uniqueid"`
	}
	if err := json.Unmarshal(body, &res); err != nil || res.UniqueID == "" {
		t.Fatalf("call answer %s: want {\"uniqueid\":…}", body)
	}
	// The PBX got exactly the Originate of issue 14's rules.
	msgs, _, _ := s.ReceivedActions(since)
	var orig *sim.Message
	for i := range msgs {
		if strings.EqualFold(msgs[i].Get("Action"), "Originate") {
			orig = &msgs[i]
		}
	}
	if orig == nil {
		t.Fatalf("no Originate reached the PBX: %+v", msgs)
	}
	for k, v := range map[string]string{"Channel": "PJSIP/201", "Context": "from-internal", "Exten": "202",
		"Priority": "1", "Async": "true", "CallerID": `"Alice Smith" <201>`} {
		if got := orig.Get(k); got != v {
			t.Errorf("Originate %s = %q, want %q", k, got, v)
		}
	}
	// The simulator rings the callee: bob, who owns 202, is told.
	waitFor("extenRinging on bob's socket", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range bobEvents {
			if strings.Contains(e, `"numCalled":"202"`) && strings.Contains(e, `"callerNum":"201"`) {
				return true
			}
		}
		return false
	})

	// Hang the call up over REST: find alice's conversation first.
	var convID string
	waitFor("alice's conversation", func() bool {
		_, b := rest("alice", "GET", "/webrest/astproxy/extension/201", "")
		var e struct {
			Conversations map[string]json.RawMessage `json:"conversations"`
		}
		_ = json.Unmarshal(b, &e)
		for id := range e.Conversations {
			if strings.Contains(id, "PJSIP/202-") {
				convID = id
				return true
			}
		}
		return false
	})
	if st, b := rest("bob", "POST", "/webrest/astproxy/hangup", fmt.Sprintf(`{"convid":%q,"endpointId":"201"}`, convID)); st != 403 {
		t.Fatalf("bob hung up alice's call: HTTP %d %s", st, b)
	}
	if st, b := rest("alice", "POST", "/webrest/astproxy/hangup", fmt.Sprintf(`{"convid":%q,"endpointId":"201"}`, convID)); st != 200 {
		t.Fatalf("hangup: HTTP %d %s", st, b)
	}
	// Only a 200 without the conversation says it ended (a failed request
	// has no body either).
	waitFor("the conversation to end", func() bool {
		st, b := rest("alice", "GET", "/webrest/astproxy/extension/201", "")
		return st == 200 && strings.Contains(string(b), `"exten":"201"`) && !strings.Contains(string(b), convID)
	})
	// A conversation that is gone is a 404, not a 500, whether the owner's
	// model has already dropped it or still has it and the PBX answers "No
	// such channel" (ami/control_test.go, TestControlOnGoneChannel).
	if st, b := rest("alice", "POST", "/webrest/astproxy/hangup", fmt.Sprintf(`{"convid":%q,"endpointId":"201"}`, convID)); st != 404 {
		t.Fatalf("hangup of a gone conversation: HTTP %d %s", st, b)
	}
}
