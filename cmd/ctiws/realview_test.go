package main

// What a client sees, as the real-PBX suite and its replay compare it: the
// one-off call events in order, and the last state of every object.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ctiws/ctiws/ws/client"
)

// viewEvent is one event a client received.
type viewEvent struct {
	at   time.Time
	name string
	args []json.RawMessage
}

// liveView is one logged-in client of the real-PBX suite.
type liveView struct {
	user   string
	mu     sync.Mutex
	events []viewEvent
	extens map[string]json.RawMessage // REST snapshot at login, then extenUpdate
}

// viewConv and viewExten are the fields the suite reads.
type viewConv struct {
	ID, Owner, CounterpartNum, CounterpartName, Direction, Recording string
	Connected, InConference, ThroughQueue, ThroughTrunk              bool
}

type viewExten struct {
	Exten, Status, IP, Port, SipUserAgent, Cf string
	Dnd                                       bool
	Conversations                             map[string]viewConv
}

// connectView logs user in on node n, reads the REST snapshot of the
// extensions as that user, and follows the events.
func (l *realLab) connectView(n *nodeProc, user string) *liveView {
	l.t.Helper()
	v := &liveView{user: user, extens: map[string]json.RawMessage{}}
	hdr := http.Header{}
	hdr.Set("Host", realTenant+".test")
	conn, err := client.Dial(context.Background(), client.Options{URL: "http://" + n.listen, User: user, Token: l.token(user), UAType: "desktop", Header: hdr,
		OnEvent: func(name string, args []json.RawMessage, at time.Time) {
			v.mu.Lock()
			defer v.mu.Unlock()
			v.events = append(v.events, viewEvent{at: at, name: name, args: args})
			if name == "extenUpdate" && len(args) == 1 {
				var e struct{ Exten string }
				_ = json.Unmarshal(args[0], &e)
				v.extens[e.Exten] = args[0]
			}
		}})
	if err != nil {
		l.t.Fatalf("connect %s to %s: %v", user, n.name, err)
	}
	l.t.Cleanup(func() { conn.Close() })
	i := 0
	if n == l.c.nodes[1] {
		i = 1
	}
	st, b := l.rest(i, user, "GET", "/webrest/astproxy/extensions", "")
	var snap map[string]json.RawMessage
	if err := json.Unmarshal(b, &snap); st != 200 || err != nil {
		l.t.Fatalf("%s: REST extensions: %d %v", user, st, err)
	}
	v.mu.Lock()
	for k, raw := range snap {
		if _, ok := v.extens[k]; !ok {
			v.extens[k] = raw
		}
	}
	v.mu.Unlock()
	return v
}

// exten returns the client's current view of an extension.
func (v *liveView) exten(ext string) (viewExten, bool) {
	v.mu.Lock()
	raw, ok := v.extens[ext]
	v.mu.Unlock()
	var e viewExten
	if ok {
		_ = json.Unmarshal(raw, &e)
	}
	return e, ok
}

// waitFor waits until cond holds for the client's events since start.
func (v *liveView) waitFor(t *testing.T, what string, d time.Duration, cond func(v *liveView) bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond(v) {
		if time.Now().After(deadline) {
			t.Errorf("%s never saw %s within %v", v.user, what, d)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// got returns the events named name since start, in order.
func (v *liveView) got(start time.Time, name string) []json.RawMessage {
	v.mu.Lock()
	defer v.mu.Unlock()
	var out []json.RawMessage
	for _, e := range v.events {
		if !e.at.Before(start) && e.name == name && len(e.args) > 0 {
			out = append(out, e.args[0])
		}
	}
	return out
}

// flowView is what one client saw during a flow: one-off events in order
// and the last state of each object that changed.
type flowView struct {
	Events []recorded                 `json:"events"`
	Final  map[string]json.RawMessage `json:"final"`
}

// recordedFlow is a flow's .view.json.
type recordedFlow struct {
	// Commands: see realFlow.commands.
	Commands bool                `json:"commands,omitempty"`
	Views    map[string]flowView `json:"views"`
}

// objectKey names the object an event carries, or "" for a one-off event.
func objectKey(name string, arg json.RawMessage) string {
	var o map[string]any
	_ = json.Unmarshal(arg, &o)
	str := func(k string) string { s, _ := o[k].(string); return s }
	switch name {
	case "extenUpdate", "trunkUpdate":
		return name + " " + str("exten")
	case "queueUpdate":
		return name + " " + str("queue")
	case "queueMemberUpdate":
		return name + " " + str("queue") + "/" + str("member")
	case "newVoiceMessageCounter":
		return name + " " + str("voicemail")
	case "parkingUpdate":
		return name + " " + str("parking")
	case "confBridgeUpdate", "meetmeConfUpdate":
		return name + " " + str("id")
	case "userMainPresenceUpdate":
		p, _ := o["mainPresence"].(map[string]any)
		u, _ := p["username"].(string)
		return name + " " + u
	case "userPresenceUpdate":
		p, _ := o["presence"].(map[string]any)
		u, _ := p["username"].(string)
		return name + " " + u
	case "updateNewVoiceMessages":
		keys := make([]string, 0, len(o))
		for k := range o {
			keys = append(keys, k)
		}
		return name + " " + strings.Join(keys, ",")
	}
	return ""
}

// ignoredInViews are events that say nothing about the PBX (node events).
var ignoredInViews = map[string]bool{"authe_ok": true, "serverReloaded": true}

// buildView folds a client's events into a flowView.
func buildView(evs []recorded) flowView {
	fv := flowView{Events: []recorded{}, Final: map[string]json.RawMessage{}}
	for _, e := range evs {
		if ignoredInViews[e.Event] || len(e.Args) == 0 {
			continue
		}
		arg := normalise(e.Args[0])
		if k := objectKey(e.Event, arg); k != "" {
			fv.Final[k] = arg
			continue
		}
		fv.Events = append(fv.Events, recorded{Event: e.Event, Args: []json.RawMessage{arg}})
	}
	return fv
}

// since is the client's view of the events from start on.
func (v *liveView) since(start time.Time) flowView {
	v.mu.Lock()
	var evs []recorded
	for _, e := range v.events {
		if !e.at.Before(start) {
			evs = append(evs, recorded{Event: e.name, Args: e.args})
		}
	}
	v.mu.Unlock()
	return buildView(evs)
}

// compareViews lists how got differs from want: the one-off events must be
// the same, in order; every object want ends with must end the same in got.
func compareViews(want, got flowView) []string {
	var diff []string
	we, _ := json.Marshal(want.Events)
	ge, _ := json.Marshal(got.Events)
	if string(we) != string(ge) {
		diff = append(diff, fmt.Sprintf("events:\n want %s\n got  %s", we, ge))
	}
	for _, k := range sortedKeys(want.Final) {
		g, ok := got.Final[k]
		if !ok {
			diff = append(diff, k+": never received")
			continue
		}
		if string(normalise(want.Final[k])) != string(normalise(g)) {
			diff = append(diff, fmt.Sprintf("%s:\n want %s\n got  %s", k, want.Final[k], g))
		}
	}
	return diff
}

// TestRealPBXReplay replays every flow captured from the real Asterisk
// (testdata/realpbx/flows/*.ami, written by TestRealPBX -record) through the
// whole stack and checks that each user sees what the user saw live: the
// same call events in the same order, and every object ending the same.
// Flows with REST commands whose effect comes from the owner's own answer
// (see realFlow.commands) are checked against the replay's own golden
// (testdata/realpbx/golden, -update rewrites it) instead.
func TestRealPBXReplay(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "realpbx", "flows", "*.ami"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skip("no captured flows yet (TestRealPBX -record writes them)")
	}
	setup := stackSetup{dir: filepath.Join("testdata", "realpbx"), objects: filepath.Join("testdata", "realpbx", "objects.json"), users: realUsers}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".ami")
		t.Run(name, func(t *testing.T) {
			t.Parallel() // each replay has its own node and ports; most of its time is the flow's pauses
			raw, err := os.ReadFile(strings.TrimSuffix(f, ".ami") + ".view.json")
			if err != nil {
				t.Fatalf("the flow's views: %v", err)
			}
			var live recordedFlow
			if err := json.Unmarshal(raw, &live); err != nil {
				t.Fatalf("%s.view.json: %v", name, err)
			}
			setup := setup
			if !live.Commands {
				setup.done = func(got map[string][]recorded) bool {
					for _, u := range realUsers {
						if len(compareViews(live.Views[u], buildView(got[u]))) > 0 {
							return false
						}
					}
					return true
				}
			}
			got := runStackWith(t, f, setup)
			if live.Commands {
				checkGolden(t, filepath.Join("testdata", "realpbx", "golden", name+".json"), got)
				return
			}
			for _, u := range realUsers {
				if diff := compareViews(live.Views[u], buildView(got[u])); len(diff) > 0 {
					t.Errorf("%s sees in the replay what it did not see live:\n%s", u, strings.Join(diff, "\n"))
				}
			}
		})
	}
}

// checkGolden compares v, as indented JSON, with the golden file at path
// (-update rewrites it).
func checkGolden(t *testing.T, path string, v any) {
	t.Helper()
	b, _ := json.MarshalIndent(v, "", " ")
	b = append(b, '\n')
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if string(want) != string(b) {
		t.Errorf("events differ from %s (rerun with -update and review the diff); got:\n%s", path, b)
	}
}
