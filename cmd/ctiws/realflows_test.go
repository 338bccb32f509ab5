package main

// The flows of the real-PBX suite (realpbx_test.go). Each one drives SIPp
// phones and REST, and checks the clients against the PBX at its
// checkpoints (checkTruth) and against the flow's own expectations: who
// rings, who is told about a hangup and why, what each profile may read.

import (
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

func (f *flowRun) ringings(user string) []ringEvent {
	var out []ringEvent
	for _, raw := range f.views[user].got(f.start, "extenRinging") {
		var e ringEvent
		_ = json.Unmarshal(raw, &e)
		out = append(out, e)
	}
	return out
}

func (f *flowRun) hangups(user string) []hangupEvent {
	var out []hangupEvent
	for _, raw := range f.views[user].got(f.start, "extenHangup") {
		var e hangupEvent
		_ = json.Unmarshal(raw, &e)
		out = append(out, e)
	}
	return out
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
		return len(ca) == 1 && len(cb) == 1 && ca[0].State == "Up" && cb[0].State == "Up" && ca[0].BridgeID != "" && ca[0].BridgeID == cb[0].BridgeID
	})
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
		desk := f.answer(t, "201", sipp.Script{NoAnswer: true})
		mobile := f.answer(t, "92201", sipp.Script{NoAnswer: true})
		webrtc := f.answer(t, "91201", sipp.Script{Ring: ringFor})
		caller := f.dial(t, "202", "201", sipp.Script{Talk: talkFor})
		f.ringingOn(t, "201")
		f.ringingOn(t, "92201")
		f.checkTruth(t, "while the three devices ring")
		f.inCall(t, "202", "91201")
		f.checkTruth(t, "while 91201 talks")
		f.expectExten(t, "alice", "201", "idle (the desk phone did not answer)", func(e viewExten) bool {
			return e.Status == "online" && len(e.Conversations) == 0
		})
		f.expectExten(t, "alice", "91201", "talking to 202", talking("202"))
		f.views["dave"].waitFor(t, "alice's main presence busy", 8*time.Second, func(v *liveView) bool {
			return lastMainPresence(v, f.start, "alice") == "busy"
		})
		f.wait(t, caller, webrtc, desk, mobile)
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
		f.expectExten(t, "bob", "201", "idle", func(e viewExten) bool { return e.Status == "online" && len(e.Conversations) == 0 })
		f.wait(t, caller, callee)
	}},
	{name: "conference", title: "202 and 203 join ConfBridge 300; 202 leaves, then 203: the conference ends.", run: func(t *testing.T, f *flowRun) {
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
		desk := f.answer(t, "201", sipp.Script{Ring: ringFor})
		webrtc := f.answer(t, "91201", sipp.Script{NoAnswer: true})
		mobile := f.answer(t, "92201", sipp.Script{NoAnswer: true})
		caller := f.dial(t, "trunk", "0721405516", sipp.Script{Talk: talkFor})
		f.inCall(t, "201", "trunk1")
		f.checkTruth(t, "while 201 talks to the trunk")
		f.expectExten(t, "alice", "201", "a trunk call", func(e viewExten) bool {
			for _, c := range e.Conversations {
				return c.Connected && c.ThroughTrunk && c.Direction == "in"
			}
			return false
		})
		f.wait(t, caller, desk, webrtc, mobile)
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
