package main

// The flows of the real-PBX suite (realpbx_test.go). Each one drives SIPp
// phones and REST, and checks the clients against the PBX at its
// checkpoints (checkTruth) and against the flow's own expectations: who
// rings, who is told about a hangup and why, what each profile may read.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ctiws/ctiws/internal/sipp"
)

// Timings of the scripted phones: long enough for a loaded 2-core machine
// to pass every checkpoint inside each phase.
const (
	ringFor = 2 * time.Second
	talkFor = 4 * time.Second
)

// ringEvent and hangupEvent are the call events' payloads.
type ringEvent struct{ NumCalled, CallerNum, CallerName string }
type hangupEvent struct{ Cause, CallerNum, ChannelExten, CalledNum string }

// eventsOf decodes the events named name that user got during the flow.
func eventsOf[T any](f *flowRun, user, name string) []T {
	var out []T
	for _, raw := range f.views[user].got(f.start, name) {
		var e T
		_ = json.Unmarshal(raw, &e)
		out = append(out, e)
	}
	return out
}

func (f *flowRun) ringings(user string) []ringEvent {
	return eventsOf[ringEvent](f, user, "extenRinging")
}

func (f *flowRun) hangups(user string) []hangupEvent {
	return eventsOf[hangupEvent](f, user, "extenHangup")
}

// expectRinging waits until user is told that numCalled rings for callerNum.
func (f *flowRun) expectRinging(t *testing.T, user, numCalled, callerNum string) {
	t.Helper()
	f.views[user].waitFor(t, fmt.Sprintf("extenRinging %s from %s", numCalled, callerNum), 8*time.Second, func(*liveView) bool {
		for _, e := range f.ringings(user) {
			if e.NumCalled == numCalled && e.CallerNum == callerNum {
				return true
			}
		}
		return false
	})
}

// expectHangup waits until user is told channelExten hung up, and returns it.
func (f *flowRun) expectHangup(t *testing.T, user, channelExten string) hangupEvent {
	t.Helper()
	var got hangupEvent
	f.views[user].waitFor(t, "extenHangup of "+channelExten, 8*time.Second, func(*liveView) bool {
		for _, e := range f.hangups(user) {
			if e.ChannelExten == channelExten {
				got = e
				return true
			}
		}
		return false
	})
	return got
}

// noEvent checks that user got no event named name (privacy, routing).
func (f *flowRun) noEvent(t *testing.T, user, name string) {
	t.Helper()
	if n := len(f.views[user].got(f.start, name)); n > 0 {
		t.Errorf("%s got %d %s events it must not get", user, n, name)
	}
}

// expectExten waits until user's view of ext satisfies cond.
func (f *flowRun) expectExten(t *testing.T, user, ext, what string, cond func(viewExten) bool) viewExten {
	t.Helper()
	var e viewExten
	f.views[user].waitFor(t, ext+" "+what, 8*time.Second, func(v *liveView) bool {
		var ok bool
		e, ok = v.exten(ext)
		return ok && cond(e)
	})
	return e
}

// talking is a view of ext with one connected conversation whose
// counterpart number is num.
func talking(num string) func(viewExten) bool {
	return func(e viewExten) bool {
		for _, c := range e.Conversations {
			if c.Connected && c.CounterpartNum == num {
				return len(e.Conversations) == 1
			}
		}
		return false
	}
}

// masked is the privacy variant of a number for privacy_numbers "xxx".
func masked(num string) string {
	if len(num) <= 3 {
		return "xxx"
	}
	return num[:len(num)-3] + "xxx"
}

// inCall waits until the PBX has a bridged call between devices a and b.
func (f *flowRun) inCall(t *testing.T, a, b string) {
	t.Helper()
	f.waitPBX(t, a+" and "+b+" bridged", 15*time.Second, func(s pbxState) bool {
		ca, cb := s.channelsOf(a), s.channelsOf(b)
		return len(ca) == 1 && len(cb) == 1 && ca[0].State == "Up" && cb[0].State == "Up" && s.joined(ca[0].BridgeID, cb[0].BridgeID)
	})
}

// joined reports whether two bridges carry one call: the same bridge, or
// bridges linked by the two halves of Local channels (a queue member
// Local/203@from-queue/n is one half in the caller's bridge, the other in
// the agent's).
func (s pbxState) joined(x, y string) bool {
	if x == "" || y == "" {
		return false
	}
	halves := map[string][]string{} // Local channel without ;1/;2 → its bridges
	for _, c := range s.Channels {
		if strings.HasPrefix(c.Name, "Local/") && c.BridgeID != "" {
			base := strings.TrimRight(strings.TrimRight(c.Name, "12"), ";")
			halves[base] = append(halves[base], c.BridgeID)
		}
	}
	seen := map[string]bool{x: true}
	for frontier := []string{x}; len(frontier) > 0; {
		var next []string
		for _, br := range frontier {
			if br == y {
				return true
			}
			for _, pair := range halves {
				if len(pair) == 2 && (pair[0] == br || pair[1] == br) {
					for _, o := range pair {
						if !seen[o] {
							seen[o] = true
							next = append(next, o)
						}
					}
				}
			}
		}
		frontier = next
	}
	return false
}

// ringingOn waits until the PBX rings device ext.
func (f *flowRun) ringingOn(t *testing.T, ext string) {
	t.Helper()
	f.waitPBX(t, ext+" ringing", 15*time.Second, func(s pbxState) bool {
		for _, c := range s.channelsOf(ext) {
			if c.State == "Ringing" {
				return true
			}
		}
		return false
	})
}

var realFlows = []realFlow{
	{name: "internal-call", title: "202 calls 203; 203 answers after ringing; 202 hangs up.", run: func(t *testing.T, f *flowRun) {
		callee := f.answer(t, "203", sipp.Script{Ring: ringFor})
		caller := f.dial(t, "202", "203", sipp.Script{Talk: talkFor})
		f.ringingOn(t, "203")
		f.checkTruth(t, "while 203 rings")
		f.expectRinging(t, "carol", "203", "202")
		f.noEvent(t, "dave", "extenRinging")
		f.inCall(t, "202", "203")
		f.checkTruth(t, "while 202 talks to 203")
		f.expectExten(t, "bob", "202", "talking to 203 in clear (own call)", talking("203"))
		f.expectExten(t, "dave", "202", "talking to a masked 203", talking(masked("203")))
		f.expectExten(t, "alice", "203", "talking to 202", talking("202"))
		f.wait(t, caller, callee)
		if h := f.expectHangup(t, "bob", "202"); h.Cause != "normal_clearing" {
			t.Errorf("202's hangup cause %q, want normal_clearing", h.Cause)
		}
		f.expectHangup(t, "carol", "203")
		f.noEvent(t, "dave", "extenHangup")
	}},
	{name: "busy-callee", title: "202 calls 203, which answers 486 Busy Here.", run: func(t *testing.T, f *flowRun) {
		callee := f.answer(t, "203", sipp.Script{Ring: time.Second, Reject: 486})
		caller := f.dial(t, "202", "203", sipp.Script{Expect: 486})
		f.wait(t, caller, callee)
		h := f.expectHangup(t, "bob", "202")
		if h.Cause != "user_busy" || h.CalledNum != "203" {
			t.Errorf("202's hangup: %+v, want cause user_busy to 203", h)
		}
	}},
	{name: "unregistered-callee", title: "202 calls 205, which has never registered.", run: func(t *testing.T, f *flowRun) {
		caller := f.dial(t, "202", "205", sipp.Script{Expect: 480})
		f.wait(t, caller)
		h := f.expectHangup(t, "bob", "202")
		if h.CalledNum != "205" {
			t.Errorf("202's hangup says calledNum %q, want 205 (Asterisk's Hangup carries the extension)", h.CalledNum)
		}
		f.expectExten(t, "alice", "205", "offline", func(e viewExten) bool { return e.Status == "offline" })
	}},
	{name: "three-devices-webrtc-answers", title: "202 calls alice's 201, which rings desk phone 201, WebRTC 91201 and mobile 92201;\n91201 answers, the others stop ringing.", run: func(t *testing.T, f *flowRun) {
		devices := f.aliceDevices(t, "91201")
		caller := f.dial(t, "202", "201", sipp.Script{Talk: talkFor})
		f.ringingOn(t, "201")
		f.ringingOn(t, "92201")
		f.checkTruth(t, "while the three devices ring")
		f.inCall(t, "202", "91201")
		f.checkTruth(t, "while 91201 talks")
		f.expectExten(t, "alice", "201", "idle (the desk phone did not answer)", idleExten)
		f.expectExten(t, "alice", "91201", "talking to 202", talking("202"))
		f.views["dave"].waitFor(t, "alice's main presence busy", 8*time.Second, func(v *liveView) bool {
			return lastMainPresence(v, f.start, "alice") == "busy"
		})
		f.wait(t, append(devices, caller)...)
		f.views["dave"].waitFor(t, "alice's main presence online again", 8*time.Second, func(v *liveView) bool {
			return lastMainPresence(v, f.start, "alice") == "online"
		})
	}},
	{name: "three-devices-mobile-calls-out", title: "alice's mobile 92201 calls 203; the desk phone 201 stays idle.", run: func(t *testing.T, f *flowRun) {
		callee := f.answer(t, "203", sipp.Script{Ring: time.Second})
		caller := f.dial(t, "92201", "203", sipp.Script{Talk: talkFor})
		f.inCall(t, "92201", "203")
		f.checkTruth(t, "while 92201 talks")
		f.expectExten(t, "alice", "92201", "talking to 203", talking("203"))
		f.expectExten(t, "bob", "201", "idle", idleExten)
		f.wait(t, caller, callee)
	}},
	{name: "three-devices-mobile-answers", title: "202 calls alice's 201; the mobile 92201 answers, the desk phone and the WebRTC stop ringing.", run: func(t *testing.T, f *flowRun) {
		devices := f.aliceDevices(t, "92201")
		caller := f.dial(t, "202", "201", sipp.Script{Talk: talkFor})
		f.inCall(t, "202", "92201")
		f.checkTruth(t, "while 92201 talks")
		f.expectExten(t, "alice", "92201", "talking to 202", talking("202"))
		f.expectExten(t, "alice", "201", "idle", idleExten)
		f.wait(t, append(devices, caller)...)
	}},
	{name: "three-devices-webrtc-calls-out", title: "alice's WebRTC 91201 calls 204; the desk phone 201 stays idle.", run: func(t *testing.T, f *flowRun) {
		callee := f.answer(t, "204", sipp.Script{Ring: time.Second})
		caller := f.dial(t, "91201", "204", sipp.Script{Talk: talkFor})
		f.inCall(t, "91201", "204")
		f.checkTruth(t, "while 91201 talks")
		f.expectExten(t, "dave", "204", "talking to alice in clear (own call)", talking("201"))
		f.wait(t, caller, callee)
	}},
	{name: "conference", title: "202 and 203 join ConfBridge 300; 203 is muted; 202 leaves, then 203: the conference ends.", run: func(t *testing.T, f *flowRun) {
		a := f.dial(t, "202", "300", sipp.Script{Talk: talkFor})
		time.Sleep(500 * time.Millisecond)
		b := f.dial(t, "203", "300", sipp.Script{Talk: talkFor + 2*time.Second})
		f.waitPBX(t, "two in the conference", 15*time.Second, func(s pbxState) bool {
			n := 0
			for _, c := range s.Channels {
				if c.App == "ConfBridge" {
					n++
				}
			}
			return n == 2
		})
		f.checkTruth(t, "during the conference")
		var member string
		for _, c := range f.state().channelsOf("203") {
			member = c.Name
		}
		f.cli(t, "confbridge mute 300 "+member)
		f.waitObject(t, "carol", "confBridgeUpdate 300", "203 muted", func(o map[string]any) bool {
			users, _ := o["users"].(map[string]any)
			u, _ := users["203"].(map[string]any)
			return u["muted"] == true
		})
		f.expectExten(t, "alice", "202", "in the conference", func(e viewExten) bool {
			for _, c := range e.Conversations {
				return c.InConference
			}
			return false
		})
		f.wait(t, a, b)
		for _, u := range []string{"bob", "carol"} {
			f.views[u].waitFor(t, "confBridgeEnd", 8*time.Second, func(v *liveView) bool {
				return len(v.got(f.start, "confBridgeEnd")) == 1
			})
		}
		f.noEvent(t, "dave", "confBridgeEnd")
	}},
	{name: "reregister", title: "204 unregisters, then registers again (qualify off: ContactStatus NonQualified, no Created).", run: func(t *testing.T, f *flowRun) {
		f.register("204", 0)
		f.expectExten(t, "alice", "204", "offline without address", func(e viewExten) bool { return e.Status == "offline" && e.IP == "" })
		f.checkTruth(t, "while 204 is unregistered")
		f.register("204", 3600)
		f.expectExten(t, "alice", "204", "online with its address", func(e viewExten) bool {
			return e.Status == "online" && e.IP == "127.0.0.1" && e.Port != "" && e.SipUserAgent != ""
		})
	}},
	{name: "dnd-feature-code", title: "204 turns DND on with *78, then off with *79.", run: func(t *testing.T, f *flowRun) {
		f.wait(t, f.dial(t, "204", "*78", sipp.Script{}))
		f.expectExten(t, "alice", "204", "dnd", func(e viewExten) bool { return e.Dnd })
		f.views["bob"].waitFor(t, "dave's main presence dnd", 8*time.Second, func(v *liveView) bool {
			return lastMainPresence(v, f.start, "dave") == "dnd"
		})
		f.wait(t, f.dial(t, "204", "*79", sipp.Script{}))
		f.expectExten(t, "alice", "204", "no dnd", func(e viewExten) bool { return !e.Dnd })
		f.views["bob"].waitFor(t, "dave's main presence online", 8*time.Second, func(v *liveView) bool {
			return lastMainPresence(v, f.start, "dave") == "online"
		})
	}},
	{name: "callforward-feature-code", title: "204 forwards its calls to 0612345678 with *72, then cancels with *73.", run: func(t *testing.T, f *flowRun) {
		f.wait(t, f.dial(t, "204", "*720612345678", sipp.Script{}))
		f.expectExten(t, "alice", "204", "cf 0612345678", func(e viewExten) bool { return e.Cf == "0612345678" })
		f.expectExten(t, "bob", "204", "cf masked", func(e viewExten) bool { return e.Cf == masked("0612345678") })
		f.wait(t, f.dial(t, "204", "*73", sipp.Script{}))
		f.expectExten(t, "alice", "204", "no cf", func(e viewExten) bool { return e.Cf == "" })
	}},
	{name: "hold-by-phone", title: "202 calls 203; 202 puts 203 on hold and takes it back.", run: func(t *testing.T, f *flowRun) {
		callee := f.answer(t, "203", sipp.Script{Ring: time.Second})
		caller := f.dial(t, "202", "203", sipp.Script{Hold: [2]time.Duration{2 * time.Second, 3 * time.Second}, Talk: 7 * time.Second})
		f.inCall(t, "202", "203")
		f.expectExten(t, "alice", "202", "on hold", func(e viewExten) bool { return e.Status == "onhold" })
		f.expectExten(t, "alice", "202", "busy again after unhold", func(e viewExten) bool { return e.Status == "busy" })
		f.wait(t, caller, callee)
	}},
	{name: "trunk-inbound", title: "A call from the trunk to DID 0721405516 rings alice's devices; the desk phone 201 answers.", run: func(t *testing.T, f *flowRun) {
		devices := f.aliceDevices(t, "201")
		caller := f.dial(t, "trunk", "0721405516", sipp.Script{Talk: talkFor})
		f.inCall(t, "201", "trunk1")
		f.checkTruth(t, "while 201 talks to the trunk")
		f.expectExten(t, "alice", "201", "a trunk call", func(e viewExten) bool {
			for _, c := range e.Conversations {
				return c.Connected && c.ThroughTrunk && c.Direction == "in"
			}
			return false
		})
		f.wait(t, append(devices, caller)...)
	}},
	{name: "trunk-outbound", title: "203 calls 0612345678 through the trunk; the far end answers.", run: func(t *testing.T, f *flowRun) {
		far := f.answer(t, "trunk", sipp.Script{Ring: time.Second})
		caller := f.dial(t, "203", "0612345678", sipp.Script{Talk: talkFor})
		f.inCall(t, "203", "trunk1")
		f.checkTruth(t, "while 203 talks out")
		f.expectExten(t, "alice", "203", "an outbound trunk call", func(e viewExten) bool {
			for _, c := range e.Conversations {
				return c.Connected && c.ThroughTrunk && c.Direction == "out" && c.CounterpartNum == "0612345678"
			}
			return false
		})
		f.expectExten(t, "dave", "203", "the number masked", talking(masked("0612345678")))
		f.wait(t, caller, far)
	}},
	{name: "queue-answered", title: "204 calls queue 401 (ringall: static Local/203@from-queue/n, bob's 202 logged in\nautomatically at login); 203 answers, 202 stops ringing.", run: func(t *testing.T, f *flowRun) {
		if q := f.cli(t, "queue show 401"); !strings.Contains(q, "Local/202@from-queue/n") {
			t.Errorf("bob (queue auto-login) is not a member of queue 401 on the PBX:\n%s", q)
		}
		agent := f.answer(t, "203", sipp.Script{Ring: ringFor})
		other := f.answer(t, "202", sipp.Script{NoAnswer: true})
		caller := f.dial(t, "204", "401", sipp.Script{Talk: talkFor})
		f.ringingOn(t, "203")
		f.waitObject(t, "bob", "queueUpdate 401", "with a waiting caller", func(o map[string]any) bool {
			w, _ := o["waitingCallers"].(map[string]any)
			return len(w) == 1
		})
		f.inCall(t, "204", "203")
		f.checkTruth(t, "while 203 talks to the queue's caller")
		f.expectExten(t, "alice", "203", "a queue call", func(e viewExten) bool {
			for _, c := range e.Conversations {
				return c.Connected && c.ThroughQueue && c.CounterpartNum == "204"
			}
			return false
		})
		f.waitObject(t, "bob", "queueUpdate 401", "without waiting callers", func(o map[string]any) bool {
			w, _ := o["waitingCallers"].(map[string]any)
			return len(w) == 0
		})
		f.noEvent(t, "dave", "queueUpdate")
		f.wait(t, caller, agent, other)
	}},
	{name: "queue-abandoned", title: "A trunk call to DID 0721405517 waits in queue 401; nobody answers and the caller hangs up.", run: func(t *testing.T, f *flowRun) {
		a := f.answer(t, "203", sipp.Script{NoAnswer: true})
		b := f.answer(t, "202", sipp.Script{NoAnswer: true})
		_, out := f.rest(0, "bob", "GET", "/webrest/astproxy/queues", "")
		var qs map[string]map[string]any
		_ = json.Unmarshal(out, &qs)
		before := qs["401"]
		// The queue answers its caller (music on hold): giving up is hanging up.
		caller := f.dial(t, "trunk", "0721405517", sipp.Script{Talk: 4 * time.Second})
		f.ringingOn(t, "203")
		f.wait(t, caller, a, b)
		f.waitObject(t, "bob", "queueUpdate 401", "one more abandoned call", func(o map[string]any) bool {
			return o["abandonedCallsCount"] != before["abandonedCallsCount"]
		})
	}},
	{name: "queue-pause", title: "bob (202) is paused in queue 401 with the reason lunch, then unpaused (on the PBX).", run: func(t *testing.T, f *flowRun) {
		f.cli(t, "queue pause member Local/202@from-queue/n queue 401 reason lunch")
		// Asterisk 22 names the reason PausedReason (astproxy reads Reason,
		// which Asterisk 18 and later no longer send).
		f.waitObject(t, "bob", "queueMemberUpdate 401/202", "paused for lunch", func(o map[string]any) bool {
			return o["paused"] == true && o["lastPausedInReason"] == "lunch"
		})
		f.cli(t, "queue unpause member Local/202@from-queue/n queue 401")
		f.waitObject(t, "bob", "queueMemberUpdate 401/202", "unpaused", func(o map[string]any) bool { return o["paused"] == false })
	}},
	{name: "ring-group", title: "A trunk call to DID 0721405518 rings group 600 (202, 203, 204); 204 answers.", run: func(t *testing.T, f *flowRun) {
		a := f.answer(t, "202", sipp.Script{NoAnswer: true})
		b := f.answer(t, "203", sipp.Script{NoAnswer: true})
		c := f.answer(t, "204", sipp.Script{Ring: ringFor})
		caller := f.dial(t, "trunk", "0721405518", sipp.Script{Talk: talkFor})
		f.ringingOn(t, "202")
		f.checkTruth(t, "while the group rings")
		f.inCall(t, "204", "trunk1")
		f.checkTruth(t, "while 204 talks")
		f.wait(t, caller, a, b, c)
	}},
	{name: "park-pickup", title: "202 calls 203 and parks it by blind transfer to 70 (space 71); 204 dials 71 and takes it.", run: func(t *testing.T, f *flowRun) {
		callee := f.answer(t, "203", sipp.Script{Ring: time.Second})
		caller := f.dial(t, "202", "203", sipp.Script{Refer: "70"})
		f.expectParking(t, "71", true)
		f.wait(t, caller)
		f.checkTruth(t, "while 203 is parked")
		f.expectExten(t, "alice", "203", "parked: its counterpart is the space", func(e viewExten) bool {
			for _, c := range e.Conversations {
				return c.CounterpartNum == "71"
			}
			return false
		})
		f.noEvent(t, "dave", "parkingUpdate")
		taker := f.dial(t, "204", "71", sipp.Script{Talk: talkFor})
		f.inCall(t, "204", "203")
		f.checkTruth(t, "after the pickup")
		f.expectParking(t, "71", false)
		f.wait(t, taker, callee)
	}},
	{name: "park-timeout", title: "202 parks 203 in 71; nobody takes it and it comes back to 202 after the timeout.", run: func(t *testing.T, f *flowRun) {
		callee := f.answer(t, "203", sipp.Script{Ring: time.Second})
		caller := f.dial(t, "202", "203", sipp.Script{Refer: "70"})
		f.expectParking(t, "71", true)
		f.wait(t, caller)
		back := f.answer(t, "202", sipp.Script{Ring: time.Second, Talk: 3 * time.Second})
		f.inCall(t, "202", "203")
		f.checkTruth(t, "after the comeback")
		f.expectParking(t, "71", false)
		f.wait(t, back, callee)
	}},
	{name: "dnd-rest", title: "dave sets DND through REST, then back online.", commands: true, run: func(t *testing.T, f *flowRun) {
		f.command(t, "dave", "user/presence", map[string]string{"status": "dnd"})
		f.waitAstDB(t, "DND", "204", "YES")
		f.expectExten(t, "alice", "204", "dnd", func(e viewExten) bool { return e.Dnd })
		f.wait(t, f.dial(t, "202", "204", sipp.Script{Expect: 486}))
		f.command(t, "dave", "user/presence", map[string]string{"status": "online"})
		f.waitAstDB(t, "DND", "204", "")
		f.expectExten(t, "alice", "204", "no dnd", func(e viewExten) bool { return !e.Dnd })
	}},
	{name: "callforward-rest", title: "dave forwards to 0612345678 through REST; a call to 204 goes out through the trunk.", commands: true, run: func(t *testing.T, f *flowRun) {
		f.command(t, "dave", "user/presence", map[string]string{"status": "callforward", "to": "0612345678"})
		f.waitAstDB(t, "CF", "204", "0612345678")
		f.expectExten(t, "alice", "204", "cf 0612345678", func(e viewExten) bool { return e.Cf == "0612345678" })
		far := f.answer(t, "trunk", sipp.Script{Ring: time.Second})
		caller := f.dial(t, "202", "204", sipp.Script{Talk: talkFor})
		f.inCall(t, "202", "trunk1")
		f.checkTruth(t, "while the forwarded call talks")
		f.wait(t, caller, far)
		f.command(t, "dave", "user/presence", map[string]string{"status": "online"})
		f.waitAstDB(t, "CF", "204", "")
		f.expectExten(t, "alice", "204", "no cf", func(e viewExten) bool { return e.Cf == "" })
	}},
	{name: "recording-rest", title: "202 calls 203; bob records the call, mutes and unmutes the recording, and stops it, through REST.", run: func(t *testing.T, f *flowRun) {
		callee := f.answer(t, "203", sipp.Script{Ring: time.Second})
		caller := f.dial(t, "202", "203", sipp.Script{Talk: 12 * time.Second})
		f.inCall(t, "202", "203")
		conv := f.convOf(t, "bob", "202")
		arg := map[string]string{"convid": conv, "endpointId": "202"}
		f.command(t, "bob", "astproxy/start_record", arg)
		f.expectExten(t, "alice", "202", "recording", recordingIs("true"))
		f.command(t, "bob", "astproxy/mute_record", arg)
		f.expectExten(t, "alice", "202", "recording muted", recordingIs("mute"))
		f.command(t, "bob", "astproxy/unmute_record", arg)
		f.expectExten(t, "alice", "202", "recording again", recordingIs("true"))
		f.command(t, "bob", "astproxy/stop_record", arg)
		f.expectExten(t, "alice", "202", "not recording", recordingIs("false"))
		f.wait(t, caller, callee)
	}},
	{name: "recording-phone", title: "202 calls 203 and starts recording with the one-touch feature code *3 (DTMF).", run: func(t *testing.T, f *flowRun) {
		callee := f.answer(t, "203", sipp.Script{Ring: time.Second})
		caller := f.dial(t, "202", "203", sipp.Script{DTMF: "*3", Talk: 6 * time.Second})
		f.inCall(t, "202", "203")
		f.expectExten(t, "alice", "202", "recording", recordingIs("true"))
		f.checkTruth(t, "while recording")
		f.wait(t, caller, callee)
	}},
	{name: "blind-transfer-phone", title: "202 calls 203 and transfers it blind by REFER to 204; 203 and 204 talk.", run: func(t *testing.T, f *flowRun) {
		callee := f.answer(t, "203", sipp.Script{Ring: time.Second, Talk: 8 * time.Second})
		target := f.answer(t, "204", sipp.Script{Ring: ringFor})
		caller := f.dial(t, "202", "203", sipp.Script{Refer: "204"})
		f.wait(t, caller)
		f.inCall(t, "203", "204")
		f.checkTruth(t, "after the transfer")
		f.expectExten(t, "alice", "204", "talking to 203", talking("203"))
		f.expectExten(t, "alice", "203", "talking to 204", talking("204"))
		f.wait(t, callee, target)
	}},
	{name: "blind-transfer-rest", title: "202 calls 203; bob transfers 203 to 204 through REST.", run: func(t *testing.T, f *flowRun) {
		callee := f.answer(t, "203", sipp.Script{Ring: time.Second, Talk: 10 * time.Second})
		target := f.answer(t, "204", sipp.Script{Ring: ringFor})
		caller := f.dial(t, "202", "203", sipp.Script{})
		f.inCall(t, "202", "203")
		conv := f.convOf(t, "bob", "202")
		f.command(t, "bob", "astproxy/blindtransfer", map[string]string{"convid": conv, "endpointId": "202", "to": "204"})
		f.inCall(t, "203", "204")
		f.checkTruth(t, "after the transfer")
		f.expectExten(t, "alice", "204", "talking to 203", talking("203"))
		f.wait(t, caller, callee, target)
	}},
	{name: "attended-transfer-rest", title: "202 calls 203; bob starts an attended transfer to 204 through REST, talks to 204, hangs up: 203 and 204 talk.", run: func(t *testing.T, f *flowRun) {
		callee := f.answer(t, "203", sipp.Script{Ring: time.Second, Talk: 14 * time.Second})
		target := f.answer(t, "204", sipp.Script{Ring: time.Second})
		caller := f.dial(t, "202", "203", sipp.Script{Talk: 7 * time.Second})
		f.inCall(t, "202", "203")
		conv := f.convOf(t, "bob", "202")
		f.command(t, "bob", "astproxy/atxfer", map[string]string{"convid": conv, "endpointId": "202", "to": "204"})
		f.ringingOn(t, "204")
		f.wait(t, caller)
		f.inCall(t, "203", "204")
		f.checkTruth(t, "after the transfer")
		f.expectExten(t, "alice", "203", "talking to 204", talking("204"))
		f.wait(t, callee, target)
	}},
	{name: "pickup-phone", title: "202 calls 203, which rings; 204 picks the call up with **203.", run: func(t *testing.T, f *flowRun) {
		ringer := f.answer(t, "203", sipp.Script{NoAnswer: true})
		caller := f.dial(t, "202", "203", sipp.Script{Talk: 8 * time.Second})
		f.ringingOn(t, "203")
		picker := f.dial(t, "204", "**203", sipp.Script{})
		f.inCall(t, "202", "204")
		f.checkTruth(t, "after the pickup")
		f.expectExten(t, "alice", "204", "talking to 202", talking("202"))
		f.wait(t, caller, picker, ringer)
	}},
	{name: "pickup-rest", title: "202 calls 203, which rings; dave picks it up on 204 through REST (pickup_conv).", run: func(t *testing.T, f *flowRun) {
		ringer := f.answer(t, "203", sipp.Script{NoAnswer: true})
		picker := f.answer(t, "204", sipp.Script{Ring: 500 * time.Millisecond})
		caller := f.dial(t, "202", "203", sipp.Script{Talk: 8 * time.Second})
		f.ringingOn(t, "203")
		f.command(t, "dave", "astproxy/pickup_conv", map[string]string{"endpointId": "203", "destId": "204"})
		f.inCall(t, "202", "204")
		f.checkTruth(t, "after the pickup")
		f.wait(t, caller, picker, ringer)
	}},
	{name: "call-waiting", title: "202 talks to 203; 204 calls 203 too (call waiting), gives up after a while.", run: func(t *testing.T, f *flowRun) {
		// Each call rings 5 s before 203 answers: the second one is given
		// up before that.
		callee := f.answer(t, "203", sipp.Script{Ring: 5 * time.Second, Calls: 2, Talk: 10 * time.Second})
		caller := f.dial(t, "202", "203", sipp.Script{})
		f.inCall(t, "202", "203")
		second := f.dial(t, "204", "203", sipp.Script{Cancel: 3 * time.Second})
		f.checkTruth(t, "while the second call waits")
		f.expectExten(t, "alice", "203", "busy_ringing", func(e viewExten) bool { return e.Status == "busy_ringing" })
		f.wait(t, second)
		f.expectExten(t, "alice", "203", "busy again", func(e viewExten) bool { return e.Status == "busy" })
		f.wait(t, caller, callee)
	}},
	{name: "supervisor-listen", title: "202 talks to 203; alice listens on her desk phone 201 (start_spy).", run: func(t *testing.T, f *flowRun) {
		callee := f.answer(t, "203", sipp.Script{Ring: time.Second, Talk: 10 * time.Second})
		caller := f.dial(t, "202", "203", sipp.Script{})
		f.inCall(t, "202", "203")
		spy := f.answer(t, "201", sipp.Script{Ring: 500 * time.Millisecond})
		conv := f.convOf(t, "alice", "203")
		f.command(t, "alice", "astproxy/start_spy", map[string]string{"convid": conv, "endpointId": "203", "destId": "201"})
		f.expectRinging(t, "alice", "201", "203")
		f.expectExten(t, "alice", "201", "listening to 203", talking("203"))
		f.checkTruth(t, "while alice listens")
		f.wait(t, caller, callee, spy)
	}},
	{name: "supervisor-intrude", title: "202 talks to 203; alice intrudes from 201, speaking to 203 only.", run: func(t *testing.T, f *flowRun) {
		callee := f.answer(t, "203", sipp.Script{Ring: time.Second, Talk: 10 * time.Second})
		caller := f.dial(t, "202", "203", sipp.Script{})
		f.inCall(t, "202", "203")
		spy := f.answer(t, "201", sipp.Script{Ring: 500 * time.Millisecond})
		conv := f.convOf(t, "alice", "203")
		f.command(t, "alice", "astproxy/intrude", map[string]string{"convid": conv, "endpointId": "203", "destId": "201"})
		f.expectExten(t, "alice", "201", "intruding on 203", talking("203"))
		f.checkTruth(t, "while alice intrudes")
		f.wait(t, caller, callee, spy)
	}},
	{name: "call-rest", title: "alice calls 203 from her desk phone through REST (Originate: 201 rings, answers, then 203 rings);\nthen hangs up through REST.", run: func(t *testing.T, f *flowRun) {
		own := f.answer(t, "201", sipp.Script{Ring: 500 * time.Millisecond})
		callee := f.answer(t, "203", sipp.Script{Ring: time.Second})
		f.command(t, "alice", "astproxy/call", map[string]string{"number": "203", "endpointId": "201"})
		f.inCall(t, "201", "203")
		f.checkTruth(t, "while 201 talks to 203")
		conv := f.convOf(t, "alice", "201")
		f.command(t, "alice", "astproxy/hangup", map[string]string{"convid": conv, "endpointId": "201"})
		f.wait(t, own, callee)
	}},
	{name: "park-rest", title: "202 calls 203; bob parks 203 through REST, then takes it back on 202 (pickup_parking).", run: func(t *testing.T, f *flowRun) {
		callee := f.answer(t, "203", sipp.Script{Ring: time.Second, Talk: 12 * time.Second})
		caller := f.dial(t, "202", "203", sipp.Script{})
		f.inCall(t, "202", "203")
		conv := f.convOf(t, "bob", "202")
		f.command(t, "bob", "astproxy/park", map[string]string{"convid": conv, "endpointId": "202", "applicantId": "202"})
		f.expectParking(t, "71", true)
		f.wait(t, caller)
		back := f.answer(t, "202", sipp.Script{Ring: 500 * time.Millisecond})
		f.command(t, "bob", "astproxy/pickup_parking", map[string]string{"parking": "71", "destId": "202"})
		f.inCall(t, "202", "203")
		f.checkTruth(t, "after the pickup")
		f.wait(t, back, callee)
	}},
	{name: "voicemail", title: "202 leaves a message in dave's box 204 (*204): dave's counters follow.", run: func(t *testing.T, f *flowRun) {
		f.wait(t, f.dial(t, "202", "*204", sipp.Script{Talk: 3 * time.Second}))
		f.views["dave"].waitFor(t, "a new voice message", 10*time.Second, func(v *liveView) bool {
			for _, raw := range v.got(f.start, "newVoiceMessageCounter") {
				var c struct{ Voicemail, Counter string }
				_ = json.Unmarshal(raw, &c)
				if c.Voicemail == "204" && c.Counter == "1" {
					return true
				}
			}
			return false
		})
		f.noEvent(t, "bob", "newVoiceMessageCounter")
	}},
}

// aliceDevices makes alice's three devices take the next call: answering
// answers after ringing, the other two ring until it is answered elsewhere.
func (f *flowRun) aliceDevices(t *testing.T, answering string) []*sipp.Call {
	t.Helper()
	var calls []*sipp.Call
	for _, d := range []string{"201", "91201", "92201"} {
		s := sipp.Script{NoAnswer: true}
		if d == answering {
			s = sipp.Script{Ring: ringFor}
		}
		calls = append(calls, f.answer(t, d, s))
	}
	return calls
}

// idleExten is a view of an extension that is online without calls.
func idleExten(e viewExten) bool { return e.Status == "online" && len(e.Conversations) == 0 }

// expectParking waits until bob (parkings permission) sees the space
// holding a parked call (parked) or empty again.
func (f *flowRun) expectParking(t *testing.T, space string, parked bool) {
	t.Helper()
	what := "empty"
	if parked {
		what = "with a parked call"
	}
	f.waitObject(t, "bob", "parkingUpdate "+space, what, func(o map[string]any) bool {
		pc, _ := o["parkedCaller"].(map[string]any)
		return (len(pc) > 0) == parked
	})
}

// convOf waits until user sees one connected conversation on ext and
// returns its id (the convid of the REST call-control routes).
func (f *flowRun) convOf(t *testing.T, user, ext string) string {
	t.Helper()
	var id string
	f.views[user].waitFor(t, ext+" in a connected conversation", 8*time.Second, func(v *liveView) bool {
		e, ok := v.exten(ext)
		if !ok {
			return false
		}
		for _, c := range e.Conversations {
			if c.Connected {
				id = c.ID
				return true
			}
		}
		return false
	})
	if id == "" {
		t.FailNow()
	}
	return id
}

// command runs a REST route as user and requires a 200 (a call-control
// route the owner carried out) or a 202 (a presence change it accepted).
func (f *flowRun) command(t *testing.T, user, route string, body any) {
	t.Helper()
	b, _ := json.Marshal(body)
	if st, out := f.rest(0, user, "POST", "/webrest/"+route, string(b)); st != 200 && st != 202 {
		t.Fatalf("%s %s %s: HTTP %d %s", user, route, b, st, out)
	}
}

// cli runs an Asterisk CLI command.
func (f *flowRun) cli(t *testing.T, command string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := f.pbx.CLI(ctx, command)
	if err != nil {
		t.Fatalf("CLI %q: %v", command, err)
	}
	return out
}

// astdb reads an AstDB key ("" when it is not there).
func (f *flowRun) astdb(t *testing.T, family, key string) string {
	out := f.cli(t, "database get "+family+" "+key)
	v, ok := strings.CutPrefix(strings.TrimSpace(out), "Value: ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(v)
}

// waitAstDB waits until the AstDB key holds want ("": deleted).
func (f *flowRun) waitAstDB(t *testing.T, family, key, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := f.astdb(t, family, key)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("AstDB %s/%s is %q, want %q", family, key, got, want)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// objectOf returns the last state of an object user was told (the
// objectKey of its event), decoded into v; false when none came yet.
func (f *flowRun) objectOf(user, key string, v any) bool {
	var last json.RawMessage
	lv := f.views[user]
	lv.mu.Lock()
	for _, e := range lv.events {
		if !e.at.Before(f.start) && len(e.args) > 0 && objectKey(e.name, e.args[0]) == key {
			last = e.args[0]
		}
	}
	lv.mu.Unlock()
	if last == nil {
		return false
	}
	return json.Unmarshal(last, v) == nil
}

// waitObject waits until user's last state of the object key satisfies cond.
func (f *flowRun) waitObject(t *testing.T, user, key, what string, cond func(map[string]any) bool) map[string]any {
	t.Helper()
	var o map[string]any
	f.views[user].waitFor(t, key+" "+what, 10*time.Second, func(*liveView) bool {
		o = nil
		return f.objectOf(user, key, &o) && cond(o)
	})
	if t.Failed() {
		b, _ := json.Marshal(o)
		t.Logf("%s's last %s: %s", user, key, b)
	}
	return o
}

// recordingOf is the recording state of ext's one conversation in alice's view.
func recordingIs(state string) func(viewExten) bool {
	return func(e viewExten) bool {
		for _, c := range e.Conversations {
			return c.Recording == state
		}
		return false
	}
}

// lastMainPresence is the last main presence of user that v was told.
func lastMainPresence(v *liveView, start time.Time, user string) string {
	status := ""
	for _, raw := range v.got(start, "userMainPresenceUpdate") {
		var p struct {
			MainPresence struct{ Username, Status string } `json:"mainPresence"`
		}
		_ = json.Unmarshal(raw, &p)
		if strings.EqualFold(p.MainPresence.Username, user) {
			status = p.MainPresence.Status
		}
	}
	return status
}
