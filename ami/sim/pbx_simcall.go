package sim

import (
	"slices"
	"strings"
)

// Test control actions. Real Asterisk answers them "Invalid/unknown
// command"; the simulator uses them so that a test can make a chosen
// extension ring from a known caller and decide when the call is answered
// and when it ends, without timers:
//
//	Action: SimRing     Exten: 201  CallerNum: 0612345678  CallerName: Mario Rossi
//	  → Success, Linkedid: <id>. An inbound trunk call rings Exten.
//	Action: SimAnswer   Linkedid: <id>  [Exten: 202]
//	  → the call is answered by Exten (default: the ringing extension). Another
//	    extension answers like in a ring group: the ringing leg ends with
//	    cause 26 (answered elsewhere).
//	Action: SimHangup   Linkedid: <id>
//	  → every channel of the call hangs up (cause 16, normal clearing).
//
// The events are the ones a real call produces (Newchannel, DialBegin,
// Newstate, DialEnd, BridgeEnter, Hangup, device and hint states).

// simRing starts an inbound trunk call to an extension.
func (p *pbx) simRing(id string, a *Message) []*Message {
	b, ok := p.exts[strings.TrimSpace(a.Get("Exten"))]
	switch {
	case !ok:
		return []*Message{errorResponse(id, "SimRing: Exten is not an extension of the simulated PBX")}
	case p.dnd(b):
		return []*Message{errorResponse(id, "SimRing: extension is in DND")}
	case !b.reachable:
		return []*Message{errorResponse(id, "SimRing: extension is unreachable")}
	}
	num := strings.TrimSpace(a.Get("CallerNum"))
	if num == "" || !validSimNumber(num) {
		return []*Message{errorResponse(id, "SimRing: CallerNum must be digits")}
	}
	caller := p.newChannel(p.trunk, chanOpts{cidNum: num, cidName: strings.TrimSpace(a.Get("CallerName")),
		context: "from-pstn", exten: p.cfg.Trunk.Username, state: stRing})
	p.setApp(caller, "macro-dial-one", "s", "Dial", "PJSIP/"+b.id+",,HhtrIb(func-apply-sipheaders^s^1)")
	p.ring(caller, b)
	r := successResponse(id, "Ringing")
	r.Add("Linkedid", caller.linked)
	return []*Message{r}
}

// ring creates the channel of extension b dialled by caller and leaves it
// ringing.
func (p *pbx) ring(caller *channel, b *endpoint) *channel {
	cb := p.newChannel(b, chanOpts{cidNum: b.id, cidName: b.name, conNum: caller.cidNum, conName: caller.cidName,
		context: "from-internal", exten: b.id, state: stDown, linked: caller.linked})
	p.setApp(cb, "from-internal", b.id, "AppDial", "(Outgoing Line)")
	p.dialBegin(caller, cb, b.id)
	p.setState(cb, stRinging)
	return cb
}

// simCall returns the live channels of a call: the caller (whose Uniqueid
// is the Linkedid) and the other legs.
func (p *pbx) simCall(linked string) (caller *channel, legs []*channel) {
	for _, c := range p.chans {
		if c.linked != linked {
			continue
		}
		if c.uid == linked {
			caller = c
		} else {
			legs = append(legs, c)
		}
	}
	slices.SortFunc(legs, func(x, y *channel) int { return strings.Compare(x.uid, y.uid) })
	return caller, legs
}

// simAnswer answers a ringing call, on the rung extension or elsewhere.
func (p *pbx) simAnswer(id string, a *Message) []*Message {
	caller, legs := p.simCall(strings.TrimSpace(a.Get("Linkedid")))
	if caller == nil || caller.bridge != nil || len(legs) != 1 || legs[0].state != stRinging {
		return []*Message{errorResponse(id, "SimAnswer: no ringing call with this Linkedid")}
	}
	rung := legs[0]
	by := rung.ep
	if x := strings.TrimSpace(a.Get("Exten")); x != "" && x != by.id {
		other, ok := p.exts[x]
		if !ok || !other.reachable {
			return []*Message{errorResponse(id, "SimAnswer: Exten is not a reachable extension")}
		}
		// Ring group: the other phone rang too and answers first.
		answering := p.ring(caller, other)
		p.dialEnd(caller, rung, "CANCEL")
		p.hangup(rung, 26)
		rung, by = answering, other
	}
	p.setState(rung, stUp)
	p.dialEnd(caller, rung, "ANSWER")
	p.setState(caller, stUp)
	p.setConnected(caller, by.id, by.name)
	br := p.newBridge("basic", "simple_bridge", "", "")
	p.enterBridge(br, caller)
	p.enterBridge(br, rung)
	return []*Message{successResponse(id, "Answered")}
}

// simHangup ends every channel of a call.
func (p *pbx) simHangup(id string, a *Message) []*Message {
	caller, legs := p.simCall(strings.TrimSpace(a.Get("Linkedid")))
	if caller == nil {
		return []*Message{errorResponse(id, "SimHangup: no call with this Linkedid")}
	}
	for _, c := range legs {
		if c.state != stUp {
			p.dialEnd(caller, c, "CANCEL")
		}
		p.hangup(c, 16)
	}
	p.hangup(caller, 16)
	return []*Message{successResponse(id, "Hungup")}
}

func validSimNumber(s string) bool {
	if len(s) > 32 {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && r != '+' {
			return false
		}
	}
	return true
}
