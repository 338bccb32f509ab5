package ws_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/cluster"
	"github.com/ctiws/ctiws/ws"
	"github.com/ctiws/ctiws/ws/auth"
)

// TestRESTBadInput: every endpoint answers bad input with a JSON error and
// changes nothing (no command queued, no event published).
func TestRESTBadInput(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, u := range []string{"alice", "bob", "dave"} {
		if err := e.backend.Tokens.Put(ctx, "t1", u, auth.HashToken("tok-"+u), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	watcher := e.login("t1", "alice", "mobile")
	e.settle("t1", watcher)
	reset(watcher)

	tests := []struct {
		name, method, path, user, body string
		want                           int
	}{
		{"no credentials", "GET", "/webrest/user/me", "", "", 401},
		{"bad token", "GET", "/webrest/user/me", "alice:nope", "", 401},
		{"malformed authorization", "GET", "/webrest/astproxy/extensions", "alice", "", 401},
		{"bad JWT", "GET", "/webrest/user/me", "Bearer eyJ.x.y", "", 401},
		{"login: not JSON", "POST", "/webrest/authentication/login", "", "{nope", 400},
		{"login: array", "POST", "/webrest/authentication/login", "", "[]", 400},
		{"login: missing password", "POST", "/webrest/authentication/login", "", `{"username":"alice"}`, 401},
		{"login: unknown user", "POST", "/webrest/authentication/login", "", `{"username":"mallory","password":"x"}`, 401},
		{"login: wrong types", "POST", "/webrest/authentication/login", "", `{"username":1,"password":2}`, 401},
		{"presence: not JSON", "POST", "/webrest/user/presence", "alice:tok-alice", "dnd", 400},
		{"presence: unknown status", "POST", "/webrest/user/presence", "alice:tok-alice", `{"status":"away"}`, 400},
		{"presence: callforward without to", "POST", "/webrest/user/presence", "alice:tok-alice", `{"status":"callforward"}`, 400},
		{"presence: callforward to junk", "POST", "/webrest/user/presence", "alice:tok-alice", `{"status":"callforward","to":"12; DROP"}`, 400},
		{"trunks without permission", "GET", "/webrest/astproxy/trunks", "dave:tok-dave", "", 403},
		{"queues without permission", "GET", "/webrest/astproxy/queues", "dave:tok-dave", "", 403},
		{"parkings without permission", "GET", "/webrest/astproxy/parkings", "dave:tok-dave", "", 403},
		{"unknown extension", "GET", "/webrest/astproxy/extension/999", "alice:tok-alice", "", 404},
		{"avatar: not a data URL", "POST", "/webrest/user/profile/avatar", "alice:tok-alice", `{"avatar":"http://x/y.png"}`, 400},
		{"default device: missing id", "POST", "/webrest/user/default_device", "alice:tok-alice", `{}`, 400},
		{"default device: not the user's", "POST", "/webrest/user/default_device", "alice:tok-alice", `{"id":"202"}`, 403},
		{"postit: unknown recipient", "POST", "/webrest/postit/create", "alice:tok-alice", `{"recipient":"mallory","text":"hi"}`, 404},
		{"postit: missing text", "POST", "/webrest/postit/create", "alice:tok-alice", `{"recipient":"bob"}`, 400},
		{"streaming: unknown source", "POST", "/webrest/streaming/subscribe", "alice:tok-alice", `{"id":"nope"}`, 404},
		{"streaming: missing id", "POST", "/webrest/streaming/subscribe", "alice:tok-alice", `{}`, 400},
		{"call: no number", "POST", "/webrest/astproxy/call", "alice:tok-alice", `{"endpointId":"201"}`, 400},
		{"call: not the user's endpoint", "POST", "/webrest/astproxy/call", "alice:tok-alice", `{"endpointId":"202","number":"123"}`, 403},
		{"call: no digits", "POST", "/webrest/astproxy/call", "alice:tok-alice", `{"endpointId":"201","number":"abc"}`, 400},
		{"answer: not the user's", "POST", "/webrest/astproxy/answer_webrtc", "alice:tok-alice", `{"endpointId":"202"}`, 403},
		{"alarm: incomplete", "POST", "/webrest/alarm", "Alarm " + testAlarmSecret, `{"type":"collectd_notify","notification":{"status":"FAILURE"}}`, 400},
		// Issue 12: presence follows the profile, numbers follow a strict
		// grammar, nothing reaches AMI unchecked.
		{"presence: dnd without permission", "POST", "/webrest/user/presence", "dave:tok-dave", `{"status":"dnd"}`, 403},
		{"presence: callforward without permission", "POST", "/webrest/user/presence", "dave:tok-dave", `{"status":"callforward","to":"333"}`, 403},
		{"presence: voicemail without permission", "POST", "/webrest/user/presence", "dave:tok-dave", `{"status":"voicemail"}`, 403},
		{"presence: cellphone without permission", "POST", "/webrest/user/presence", "dave:tok-dave", `{"status":"cellphone","to":"333"}`, 403},
		{"presence: cellphone without a cellphone", "POST", "/webrest/user/presence", "bob:tok-bob", `{"status":"cellphone","to":"333"}`, 403},
		{"presence: cellphone injection", "POST", "/webrest/user/presence", "bob:tok-bob", `{"status":"cellphone","to":"333\r\n\r\nAction: DBPut\r\nFamily: DND\r\nKey: 205\r\nVal: YES"}`, 403},
		{"presence: callforward injection", "POST", "/webrest/user/presence", "alice:tok-alice", `{"status":"callforward","to":"333\r\n\r\nAction: DBPut\r\nFamily: DND\r\nKey: 205\r\nVal: YES"}`, 400},
		{"presence: callforward to a lone +", "POST", "/webrest/user/presence", "alice:tok-alice", `{"status":"callforward","to":"+"}`, 400},
		{"presence: callforward to spaces", "POST", "/webrest/user/presence", "alice:tok-alice", `{"status":"callforward","to":"333 1234"}`, 400},
		{"presence: callforward too long", "POST", "/webrest/user/presence", "alice:tok-alice", `{"status":"callforward","to":"` + strings.Repeat("1", 33) + `"}`, 400},
		{"presence: status with CRLF", "POST", "/webrest/user/presence", "alice:tok-alice", `{"status":"dnd\r\nAction: Hangup"}`, 400},
		{"call: number injection", "POST", "/webrest/astproxy/call", "alice:tok-alice", `{"endpointId":"201","number":"+"}`, 400},
		{"call: number too long", "POST", "/webrest/astproxy/call", "alice:tok-alice", `{"endpointId":"201","number":"` + strings.Repeat("1", 33) + `"}`, 400},
		{"streaming: source not allowed", "POST", "/webrest/streaming/subscribe", "alice:tok-alice", `{"id":"yard"}`, 403},
		{"streaming: no streaming permission", "POST", "/webrest/streaming/subscribe", "dave:tok-dave", `{"id":"gate"}`, 403},
		{"alarm: no credential", "POST", "/webrest/alarm", "", `{"type":"collectd_notify","notification":{"status":"FAILURE","type":"q","type_instance":"Queue401"}}`, 403},
		{"alarm: wrong secret", "POST", "/webrest/alarm", "Alarm not-the-secret-at-all", `{"type":"collectd_notify","notification":{"status":"FAILURE","type":"q","type_instance":"Queue401"}}`, 403},
		{"alarm: user without qmanager", "POST", "/webrest/alarm", "dave:tok-dave", `{"type":"collectd_notify","notification":{"status":"FAILURE","type":"q","type_instance":"Queue401"}}`, 403},
		{"unknown endpoint", "GET", "/webrest/nothing/here", "alice:tok-alice", "", 404},
		{"body too large", "POST", "/webrest/user/presence", "alice:tok-alice", `{"status":"` + strings.Repeat("x", 2<<20) + `"}`, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, e.hs.URL+tt.path, strings.NewReader(tt.body))
			switch {
			case strings.HasPrefix(tt.user, "Bearer "):
				req.Header.Set("Authorization", tt.user)
			case tt.user != "":
				req.Header.Set("Authorization", tt.user)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("HTTP %d, want %d", resp.StatusCode, tt.want)
			}
			var body struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Code != tt.want || body.Message == "" {
				t.Fatalf("error body %+v (%v)", body, err)
			}
		})
	}
	// Nothing changed: no command for the owner, no event for the clients.
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_ = e.backend.Commands.Consume(cctx, "t1", "test", func(_ context.Context, c cluster.Command) error {
		if c.Name != ws.CmdUserLoggedIn {
			t.Errorf("a refused request queued command %+v", c)
		}
		return nil
	})
	e.settle("t1", watcher)
	for _, r := range watcher.ev {
		if r.name != "testMarker" {
			t.Errorf("a refused request published %s", r.name)
		}
	}
}

// TestRESTAccepted covers the happy paths that publish or queue.
func TestRESTAccepted(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_ = e.backend.Tokens.Put(ctx, "t1", "alice", auth.HashToken("tok-alice"), time.Hour)
	alice := e.login("t1", "alice", "mobile")
	bob := e.login("t1", "bob", "mobile")
	e.settle("t1", alice, bob)
	reset(alice, bob)
	// The owner: records the commands and answers those awaited (a
	// presence change waits for its result).
	var (
		cmdMu sync.Mutex
		cmds  []string
	)
	octx, stopOwner := context.WithCancel(ctx)
	ownerDone := make(chan struct{})
	go func() {
		defer close(ownerDone)
		_ = e.backend.Commands.Consume(octx, "t1", "test", func(cctx context.Context, c cluster.Command) error {
			if c.Name != ws.CmdUserLoggedIn {
				cmdMu.Lock()
				cmds = append(cmds, string(c.Name)+" "+string(c.Args))
				cmdMu.Unlock()
			}
			if c.Reply {
				_ = e.backend.Commands.Reply(cctx, c.Tenant, c.ID, cluster.CommandResult{Status: 200})
			}
			return nil
		})
	}()
	post := func(path, body string) int {
		req, _ := http.NewRequest("POST", e.hs.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "alice:tok-alice")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	steps := []struct {
		path, body string
		want       int
	}{
		{"/webrest/astproxy/call", `{"endpointId":"91201","number":"+39 0721 405516"}`, 200},
		{"/webrest/astproxy/answer_webrtc", `{"endpointId":"91201"}`, 200},
		{"/webrest/user/default_device", `{"id":"91201"}`, 200},
		{"/webrest/postit/create", `{"recipient":"Bob","text":"call me"}`, 200},
		{"/webrest/user/profile/avatar", `{"avatar":"` + onePixelPNG + `"}`, 200},
		{"/webrest/user/presence", `{"status":"callforward","to":"+390721405516"}`, 200},
		{"/webrest/user/presence", `{"status":"cellphone","to":"999"}`, 200},
		{"/webrest/streaming/subscribe", `{"id":"GATE"}`, 200},
	}
	for _, s := range steps {
		if got := post(s.path, s.body); got != s.want {
			t.Errorf("%s: HTTP %d, want %d", s.path, got, s.want)
		}
	}
	e.settle("t1", alice, bob)
	one := func(s *sock, name, want string) {
		t.Helper()
		got := s.events(name)
		if len(got) != 1 {
			t.Errorf("%d %s, want 1", len(got), name)
			return
		}
		if want != "" && string(got[0].args[0]) != want {
			t.Errorf("%s = %s, want %s", name, got[0].args[0], want)
		}
	}
	one(alice, "callWebrtc", `"00390721405516"`)
	one(alice, "answerWebrtc", `"91201"`)
	one(alice, "updateDefaultDevice", `"91201"`)
	one(bob, "updateNewPostit", "")
	one(bob, "newPostitCounter", `{"counter":1,"user":"bob"}`)
	one(bob, "userProfileAvatarUpdate", `{"avatar":"`+onePixelPNG+`","username":"alice"}`)
	if n := len(bob.events("callWebrtc")); n != 0 {
		t.Errorf("bob got %d callWebrtc", n)
	}
	stopOwner()
	<-ownerDone
	want := []string{`presence {"exten":"201","status":"callforward","to":"+390721405516"}`,
		`presence {"exten":"201","status":"cellphone"}`}
	if strings.Join(cmds, "|") != strings.Join(want, "|") {
		t.Errorf("commands %q, want %q", cmds, want)
	}
}

// onePixelPNG is a valid 1×1 PNG avatar.
const onePixelPNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
