package main

// REST → command → owner → AMI, fuzzed (issue 12): whatever a logged-in user
// sends to an endpoint that reaches the PBX, the simulated Asterisk receives
// at most the actions that endpoint intends, for the user's own extension,
// and never a smuggled header or a second action.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ctiws/ctiws/ami/sim"
	"github.com/ctiws/ctiws/pbx"
	"github.com/ctiws/ctiws/ws/client"
)

// injectStack is one node driving a simulated PBX over TCP, with alice
// (extension 201, every permission) and bob (202) logged in over REST.
type injectStack struct {
	sim      *sim.Server
	url      string
	tokens   map[string]string
	cursor   uint64
	sentinel string
}

func startInjectStack(tb testing.TB) *injectStack {
	tb.Helper()
	simCfg := sim.DefaultConfig()
	simCfg.CallsPerSecond = 0
	s := sim.New(simCfg, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	addr, err := s.Listen(ctx, "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	demo, _ := filepath.Abs("demo")
	listen, metrics := freeAddr(tb), freeAddr(tb)
	cfg := fmt.Sprintf(`listen: %q
metrics_listen: %q
drain_timeout: 1s
# The fuzzer sends presence changes as fast as it can: the per-user rate
# would answer most of them 429 before they reach the checks under test.
user_presence_rate: 10000
user_presence_burst: 100000
tenants:
  - id: demo
    ami: {address: %q, username: %s, secret: %s}
    auth: {htpasswd_file: %s/users.htpasswd}
    users_file: %s/users.json
    profiles_file: %s/profiles.json
    objects_file: %s/objects.json
`, listen, metrics, addr.String(), simCfg.Username, simCfg.Secret, demo, demo, demo, demo)
	stop := serveInProcess(tb, ctx, cfg)
	tb.Cleanup(func() {
		stop()
		cancel()
		s.Close()
	})
	st := &injectStack{sim: s, url: "http://" + listen, tokens: map[string]string{},
		sentinel: "devstate change Custom:DND202 NOT_INUSE"}
	deadline := time.Now().Add(15 * time.Second)
	for _, u := range []string{"alice", "bob"} {
		for {
			tok, err := client.RESTLogin(ctx, http.DefaultClient, st.url, u, u+"-demo")
			if err == nil {
				st.tokens[u] = tok
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("login %s: %v", u, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// The owner has the PBX once extension 201 is in the state.
	for code := 0; code != http.StatusOK; {
		code, _ = st.post(tb, "GET", "alice", "/webrest/astproxy/extension/201", nil)
		if time.Now().After(deadline) {
			tb.Fatal("the owner never loaded the PBX")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Start the window after everything the snapshot sent.
	st.sync(tb)
	return st
}

func (st *injectStack) post(tb testing.TB, method, user, path string, body any) (int, string) {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, st.url+path, rd)
	req.Header.Set("Authorization", user+":"+st.tokens[user])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// sync has bob's presence set to online — DBDel DND/202, DBDel CF/202 and
// a devstate command for 202 — and returns everything the PBX received
// since the last sync, up to that sentinel. A presence change and a call
// are answered once the owner has carried them out (users' commands run
// side by side, so order across users alone would not do), so whatever an
// earlier request caused is in the window.
func (st *injectStack) sync(tb testing.TB) []sim.Message {
	tb.Helper()
	if code, body := st.post(tb, "POST", "bob", "/webrest/user/presence", map[string]string{"status": "online"}); code != http.StatusOK {
		tb.Fatalf("sentinel presence: HTTP %d %s", code, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		msgs, _, lost := st.sim.ReceivedActions(st.cursor)
		if lost > 0 {
			tb.Fatalf("%d received actions fell out of the simulator's log", lost)
		}
		for i, m := range msgs {
			if m.Get("Action") == "Command" && m.Get("Command") == st.sentinel {
				st.cursor += uint64(i + 1)
				window := msgs[:i+1]
				// Drop the sentinel's own three actions.
				var out []sim.Message
				for _, w := range window {
					if w.Get("Key") == "202" || w.Get("Command") == st.sentinel || strings.EqualFold(w.Get("Action"), "Ping") {
						continue
					}
					out = append(out, w)
				}
				return out
			}
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the sentinel never reached the PBX; received %v", msgs)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// allowedPresence checks one action caused by alice's presence request.
func allowedPresence(m sim.Message, to string) error {
	switch m.Get("Action") {
	case "DBPut", "DBDel":
		fam, key, val := m.Get("Family"), m.Get("Key"), m.Get("Val")
		if (fam != "DND" && fam != "CF") || key != "201" {
			return fmt.Errorf("AstDB write outside DND/CF of 201: %v", m)
		}
		if m.Get("Action") == "DBPut" && fam == "CF" && val != to && val != "vmu201" && val != "3331234567" {
			return fmt.Errorf("call forward to %q, not the requested or the user's number", val)
		}
		if m.Get("Action") == "DBPut" && fam == "DND" && val != "YES" {
			return fmt.Errorf("DND value %q", val)
		}
	case "Command":
		if c := m.Get("Command"); c != "devstate change Custom:DND201 BUSY" && c != "devstate change Custom:DND201 NOT_INUSE" {
			return fmt.Errorf("CLI command %q", c)
		}
	default:
		return fmt.Errorf("unexpected action %v", m)
	}
	for _, h := range m.Headers {
		switch strings.ToLower(h.Key) {
		case "action", "actionid", "family", "key", "val", "command":
		default:
			return fmt.Errorf("unexpected header %q in %v", h.Key, m)
		}
	}
	return nil
}

// allowedCall checks one action caused by alice's call request: at most an
// Originate from the extension she named, or her main extension when she
// named none. Alice's demo profile has ad_phone, so another user's extension
// is allowed too, but only one that is a plain identifier: nothing she sends
// may reach the Channel header beyond that.
func allowedCall(m sim.Message, endpoint string) error {
	if m.Get("Action") != "Originate" {
		return fmt.Errorf("unexpected action %v", m)
	}
	want := endpoint
	if want == "" {
		want = "201"
	}
	if !pbx.ValidID(want) {
		return fmt.Errorf("originate for endpoint %q, which is no extension", endpoint)
	}
	if ch := m.Get("Channel"); ch != "PJSIP/"+want {
		return fmt.Errorf("originate from %q, not the extension %q alice named", ch, want)
	}
	return nil
}

func checkWindow(tb testing.TB, route string, code int, window []sim.Message, allowed func(sim.Message) error, max int) {
	tb.Helper()
	if code >= 400 && len(window) > 0 {
		tb.Fatalf("%s refused with HTTP %d, yet the PBX received %v", route, code, window)
	}
	if len(window) > max {
		tb.Fatalf("%s: %d actions reached the PBX, at most %d intended: %v", route, len(window), max, window)
	}
	for _, m := range window {
		if err := allowed(m); err != nil {
			tb.Fatalf("%s: %v", route, err)
		}
	}
}

func FuzzRESTToAMI(f *testing.F) {
	inject := "333\r\n\r\nAction: DBPut\r\nFamily: DND\r\nKey: 205\r\nVal: YES"
	for _, seed := range []struct {
		route   uint8
		a, b    string
		comment string
	}{
		{0, "callforward", inject, "the reported attack"},
		{0, "cellphone", inject, "cellphone ignores to"},
		{0, "callforward", "+390612345678", "valid"},
		{0, "callforward", "+", "lone plus"},
		{0, "dnd", "", "valid"},
		{0, "voicemail", "\n", ""},
		{0, "dnd\r\nAction: Hangup", "", ""},
		{1, "201", inject, "call injection"},
		{1, "201", "+39 (06) 1234", "valid call"},
		{1, "201\r\nChannel: PJSIP/205", "205", ""},
		{1, "", "*72#", ""},
		{1, "211", "205", "ad_phone: another user's extension"},
		{1, "91201", "205", "her WebRTC extension: the client calls"},
	} {
		f.Add(seed.route, seed.a, seed.b)
	}
	st := startInjectStack(f)
	f.Fuzz(func(t *testing.T, route uint8, a, b string) {
		switch route % 2 {
		case 0:
			code, _ := st.post(t, "POST", "alice", "/webrest/user/presence", map[string]string{"status": a, "to": b})
			checkWindow(t, "presence", code, st.sync(t), func(m sim.Message) error { return allowedPresence(m, b) }, 3)
		case 1:
			code, _ := st.post(t, "POST", "alice", "/webrest/astproxy/call", map[string]string{"endpointId": a, "number": b})
			checkWindow(t, "call", code, st.sync(t), func(m sim.Message) error { return allowedCall(m, a) }, 1)
		}
	})
}
