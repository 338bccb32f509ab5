package sim

import (
	"slices"
	"strconv"
	"strings"
	"time"
)

// Call control actions (what ctiws's owner sends for the astproxy REST
// routes), carried out on the simulated PBX with the events Asterisk
// raises. Answers are worded like Asterisk's (main/manager.c,
// res/parking/parking_manager.c, apps/app_mixmonitor.c).

// channelArg returns the live channel named by the action's Channel header
// or the error answer, worded as Asterisk 22 words it for that action.
func (p *pbx) channelArg(id string, a *Message, header string) (*channel, []*Message) {
	name := a.Get(header)
	if name == "" {
		return nil, []*Message{errorResponse(id, "No channel specified")}
	}
	c := p.chans[name]
	if c == nil || !c.alive {
		return nil, []*Message{errorResponse(id, noSuchChannel(a.Get("Action"), name))}
	}
	return c, nil
}

// noSuchChannel is Asterisk's error message for an action on a channel that
// does not exist: main/manager.c (Redirect, BlindTransfer, Atxfer, Hangup,
// Setvar), res/parking/parking_manager.c (Park), apps/app_mixmonitor.c.
func noSuchChannel(action, name string) string {
	switch strings.ToLower(action) {
	case "redirect", "park":
		return "Channel does not exist: " + name
	case "blindtransfer", "atxfer":
		return "Channel specified does not exist"
	}
	return "No such channel"
}

// bridgePeer is the other channel of c's two-party bridge.
func bridgePeer(c *channel) *channel {
	if c.bridge == nil || len(c.bridge.chans) != 2 {
		return nil
	}
	for _, x := range c.bridge.chans {
		if x != c {
			return x
		}
	}
	return nil
}

// actOriginate: an Async Originate to a PJSIP endpoint. The phone rings,
// answers after a moment (someone picks it up) and OriginateResponse
// follows; then the channel runs the dialplan (Exten@Context: an
// extension is dialled, any other number goes out through the trunk) or
// the application (ChanSpy).
func (p *pbx) actOriginate(id string, a *Message) []*Message {
	chName := a.Get("Channel")
	tech, data, ok := strings.Cut(chName, "/")
	switch {
	case chName == "":
		return []*Message{errorResponse(id, "Channel not specified")}
	case !ok:
		return []*Message{errorResponse(id, "Invalid channel")}
	case a.Get("Application") == "" && (a.Get("Context") == "" || a.Get("Priority") == ""):
		return []*Message{errorResponse(id, "Originate with 'Exten' requires 'Context' and 'Priority'")}
	case !truthy(a.Get("Async")):
		return []*Message{errorResponse(id, "Originate failed")} // only Async is simulated
	}
	o := originate{id: id, tech: tech, data: data, context: a.Get("Context"), exten: a.Get("Exten"),
		app: a.Get("Application"), appData: a.Get("Data")}
	o.cidName, o.cidNum = parseCallerID(a.Get("CallerID"))
	if o.app == "" && o.exten != "" && p.exts[o.exten] == nil && !dialable(o.exten) {
		return []*Message{errorResponse(id, "Extension does not exist.")}
	}
	timeout := 30 * time.Second
	if t, err := strconv.Atoi(a.Get("Timeout")); err == nil && t > 0 {
		timeout = time.Duration(t) * time.Millisecond
	}
	ep := p.exts[data]
	if !strings.EqualFold(tech, "PJSIP") || ep == nil || !ep.reachable {
		p.after(p.cfg.AvgRingTime/8, func() { p.originateResponse(o, nil, 0) })
		return []*Message{successResponse(id, "Originate successfully queued")}
	}
	p.after(0, func() { p.runOriginate(o, ep, timeout) })
	return []*Message{successResponse(id, "Originate successfully queued")}
}

// originate is a queued Originate.
type originate struct {
	id, tech, data  string
	context, exten  string
	app, appData    string
	cidNum, cidName string
}

// dialable: digits, * and # (what the simulated dialplan routes).
func dialable(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c == '*' || c == '#') {
			return false
		}
	}
	return true
}

// parseCallerID splits `"Name" <num>` (or `<num>`, or a bare number).
func parseCallerID(s string) (name, num string) {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		if j := strings.IndexByte(s[i:], '>'); j > 0 {
			num = s[i+1 : i+j]
			name = strings.Trim(strings.TrimSpace(s[:i]), `"`)
			return name, num
		}
	}
	if dialable(s) {
		return "", s
	}
	return s, ""
}

func (p *pbx) runOriginate(o originate, ep *endpoint, timeout time.Duration) {
	// The originated channel calls the phone: the phone shows the caller
	// id given to Originate, the channel's own caller id is the phone.
	c := p.newChannel(ep, chanOpts{cidNum: ep.id, cidName: ep.name, conNum: o.cidNum, conName: o.cidName,
		context: o.context, exten: o.exten, state: stDown})
	p.setState(c, stRinging)
	ring := p.ringTime() / 2
	if slices.Contains(p.cfg.Unanswered, ep.id) {
		ring = timeout // nobody picks up
	}
	if ring >= timeout {
		p.after(timeout, func() {
			if c.alive {
				p.hangup(c, 19)
				p.originateResponse(o, nil, 3)
			}
		})
		return
	}
	p.after(ring, func() {
		if !c.alive {
			p.originateResponse(o, nil, 1)
			return
		}
		p.setState(c, stUp)
		p.originateResponse(o, c, 4)
		switch {
		case strings.EqualFold(o.app, "ChanSpy"):
			p.chanSpy(c, o.appData)
		case o.exten != "":
			p.dialplan(c, o.context, o.exten)
		}
	})
}

// originateResponse emits OriginateResponse (reason: the AST_CONTROL the
// originating channel ended with: 4 answer, 3 ringing timeout, 1 hangup,
// 0 failure).
func (p *pbx) originateResponse(o originate, c *channel, reason int) {
	m := NewEvent("OriginateResponse", privCall)
	if o.id != "" {
		m.Add("ActionID", o.id)
	}
	resp, chName, uid := "Failure", o.tech+"/"+o.data, "<unknown>"
	if c != nil {
		resp, chName, uid = "Success", c.name, c.uid
	}
	m.Add("Response", resp).Add("Channel", chName)
	if o.app != "" {
		m.Add("Application", o.app).Add("Data", o.appData)
	} else {
		m.Add("Context", o.context).Add("Exten", o.exten)
	}
	m.Add("Reason", strconv.Itoa(reason)).Add("Uniqueid", uid)
	m.Add("CallerIDNum", orUnknown(o.cidNum)).Add("CallerIDName", orUnknown(o.cidName))
	p.emit(m)
}

// dialplan runs exten@context for an answered channel c: a directed
// pickup code, a parking space, an extension, or an outside number
// through the trunk.
func (p *pbx) dialplan(c *channel, context, exten string) {
	if rest, ok := strings.CutPrefix(exten, "**"); ok && p.exts[rest] != nil {
		p.pickup(c, p.exts[rest])
		return
	}
	if b := p.exts[exten]; b != nil {
		c.cidNum, c.cidName = c.ep.id, c.ep.name
		p.dialExtension(c, b, 1, p.talk)
		return
	}
	p.dialOut(c, exten)
}

// dialOut: an outbound call through the trunk that the far end answers.
func (p *pbx) dialOut(c *channel, number string) {
	p.setApp(c, "macro-dialout-trunk", "s", "Dial", "PJSIP/"+number+"@"+p.trunk.id)
	tc := p.newChannel(p.trunk, chanOpts{cidNum: number, cidName: "", conNum: c.cidNum, conName: c.cidName,
		context: "from-trunk", exten: number, state: stDown, linked: c.linked})
	p.dialBegin(c, tc, number+"@"+p.trunk.id)
	p.setState(tc, stRinging)
	p.after(p.ringTime(), func() {
		if !tc.alive || !c.alive {
			return
		}
		p.setState(tc, stUp)
		p.dialEnd(c, tc, "ANSWER")
		p.setConnected(c, number, "")
		br := p.newBridge("basic", "simple_bridge", "", "")
		p.enterBridge(br, c)
		p.enterBridge(br, tc)
		p.talk(c, tc)
	})
}

// pickup: c (answered, dialling the pickup code) takes the call ringing
// on extension e: the caller is bridged with c, e's ringing leg hangs up
// (answered elsewhere).
func (p *pbx) pickup(c *channel, e *endpoint) {
	var ringing, caller *channel
	for x := range e.chans {
		if x.state == stRinging {
			ringing = x
		}
	}
	if ringing != nil {
		for _, x := range p.chans {
			if x != ringing && x.linked == ringing.linked && x.state != stRinging && x.bridge == nil && x.alive {
				caller = x
			}
		}
	}
	if caller == nil {
		p.after(p.cfg.AvgRingTime/8, func() { p.hangup(c, 16) })
		return
	}
	p.dialEnd(caller, ringing, "CANCEL")
	p.hangup(ringing, 26)
	p.setState(caller, stUp)
	p.setConnected(caller, c.ep.id, c.ep.name)
	p.setConnected(c, caller.cidNum, caller.cidName)
	br := p.newBridge("basic", "simple_bridge", "", "")
	p.enterBridge(br, caller)
	p.enterBridge(br, c)
	p.talk(caller, c)
}

// chanSpy: the answered spy channel c listens to the channel named first
// in data until the spied channel hangs up.
func (p *pbx) chanSpy(c *channel, data string) {
	target, _, _ := strings.Cut(data, ",")
	spied := p.chans[target]
	p.setApp(c, "", "", "ChanSpy", data)
	if spied == nil || !spied.alive {
		p.hangup(c, 16)
		return
	}
	ev := NewEvent("ChanSpyStart", privCall)
	addChan(ev, "Spyer", c)
	addChan(ev, "Spyee", spied)
	p.emit(ev)
	var watch func()
	watch = func() {
		switch {
		case !c.alive:
		case !spied.alive:
			stop := NewEvent("ChanSpyStop", privCall)
			addChan(stop, "Spyer", c)
			p.emit(stop)
			p.hangup(c, 16)
		default:
			p.after(time.Second, watch)
		}
	}
	p.after(time.Second, watch)
}

// actHangup hangs up a channel; the other party of its two-party bridge
// follows (the bridge dissolves).
func (p *pbx) actHangup(id string, a *Message) []*Message {
	c, bad := p.channelArg(id, a, "Channel")
	if bad != nil {
		return bad
	}
	cause := 16
	if n, err := strconv.Atoi(a.Get("Cause")); err == nil && n > 0 {
		cause = n
	}
	peer := bridgePeer(c)
	p.hangup(c, cause)
	if peer != nil {
		p.hangup(peer, 16)
	}
	return []*Message{successResponse(id, "Channel Hungup")}
}

// actRedirect sends a channel to Exten@Context: a parked channel gives its
// space up (ParkedCallGiveUp, as res_parking reports a channel pulled out
// of the parking bridge), a bridged one leaves its bridge (the other party
// hangs up), then the dialplan runs.
func (p *pbx) actRedirect(id string, a *Message) []*Message {
	c, bad := p.channelArg(id, a, "Channel")
	if bad != nil {
		return bad
	}
	switch {
	case a.Get("Context") == "":
		return []*Message{errorResponse(id, "Context not specified")}
	case a.Get("Exten") == "":
		return []*Message{errorResponse(id, "Exten not specified")}
	case a.Get("Priority") == "":
		return []*Message{errorResponse(id, "Priority not specified")}
	}
	if a.Get("ExtraChannel") != "" {
		return []*Message{errorResponse(id, "Secondary redirect failed")} // dual redirect is not simulated
	}
	if c.state != stUp {
		return []*Message{errorResponse(id, "Redirect failed, channel not up.")}
	}
	for space, pc := range p.parked {
		if pc.ch == c {
			p.emit(p.parkedFields(NewEvent("ParkedCallGiveUp", privCall), pc))
			delete(p.parked, space)
			p.leaveBridge(c)
			p.parkHint(space)
		}
	}
	if peer := bridgePeer(c); peer != nil {
		p.leaveBridge(c)
		p.hangup(peer, 16)
	} else if c.bridge != nil {
		p.leaveBridge(c)
	}
	p.after(0, func() {
		if c.alive {
			p.dialplan(c, a.Get("Context"), a.Get("Exten"))
		}
	})
	return []*Message{successResponse(id, "Redirect successful")}
}

// actBlindTransfer: Channel is the transferer; its bridge peer goes to
// Exten@Context and the transferer hangs up.
func (p *pbx) actBlindTransfer(id string, a *Message) []*Message {
	c, bad := p.channelArg(id, a, "Channel")
	if bad != nil {
		return bad
	}
	exten := a.Get("Exten")
	if exten == "" {
		return []*Message{errorResponse(id, "No extension specified")}
	}
	peer := bridgePeer(c)
	if peer == nil {
		return []*Message{errorResponse(id, "Transfer failed")}
	}
	ctx := a.Get("Context")
	if ctx == "" {
		ctx = c.context
	}
	p.blindTransfer(c, peer, ctx, exten)
	return []*Message{successResponse(id, "Transfer succeeded")}
}

// blindTransferEvent is the BlindTransfer event of transferer t sending
// its bridge peer (transferee) to exten@ctx; external is "Yes" for a
// transfer asked over AMI, "No" for one the phone did (e.g. parking).
func blindTransferEvent(t, transferee *channel, external, ctx, exten string) *Message {
	bt := NewEvent("BlindTransfer", privCall)
	bt.Add("Result", "Success")
	addChan(bt, "Transferer", t)
	addChan(bt, "Transferee", transferee)
	b := t.bridge
	bt.Add("BridgeUniqueid", b.id).Add("BridgeType", b.typ).Add("BridgeTechnology", b.tech).
		Add("BridgeCreator", b.creator).Add("BridgeName", b.name).Add("BridgeNumChannels", strconv.Itoa(len(b.chans))).
		Add("BridgeVideoSourceMode", "none")
	return bt.Add("IsExternal", external).Add("Context", ctx).Add("Extension", exten)
}

// blindTransfer: transferer c sends its bridge peer to exten@ctx and hangs
// up (BlindTransfer event, then the peer runs the dialplan).
func (p *pbx) blindTransfer(c, peer *channel, ctx, exten string) {
	p.emit(blindTransferEvent(c, peer, "Yes", ctx, exten))
	p.hangup(c, 16)
	p.leaveBridge(peer)
	p.after(0, func() {
		if peer.alive {
			p.dialplan(peer, ctx, exten)
		}
	})
}

// actAtxfer: Channel (the transferer) calls Exten in a bridge of its own
// while its peer waits; when the target answers, the transferer completes
// the transfer a moment later: the target replaces it in the first bridge
// (AttendedTransfer, DestType Bridge) and the transferer hangs up.
func (p *pbx) actAtxfer(id string, a *Message) []*Message {
	c, bad := p.channelArg(id, a, "Channel")
	if bad != nil {
		return bad
	}
	exten := strings.TrimSuffix(a.Get("Exten"), "#")
	if exten == "" {
		return []*Message{errorResponse(id, "No extension specified")}
	}
	peer := bridgePeer(c)
	target := p.exts[exten]
	if peer == nil || c.ep == nil || target == nil || target == c.ep {
		return []*Message{errorResponse(id, "No attended transfer feature code found")}
	}
	p.after(0, func() { p.atxfer(c, peer, target) })
	return []*Message{successResponse(id, "Atxfer successfully queued")}
}

func (p *pbx) atxfer(c, transferee *channel, target *endpoint) {
	if !c.alive || !transferee.alive {
		return
	}
	orig := c.bridge
	// The transferer leaves the call (the transferee stays alone in the
	// first bridge, hearing music) and calls the target.
	p.leaveBridge(c)
	p.dialExtension(c, target, 1, func(tr, callee *channel) {
		p.after(p.uniDur(p.cfg.AvgRingTime, 0.5, 1), func() {
			if !transferee.alive || !callee.alive || !tr.alive || orig == nil || p.bridges[orig.id] != orig {
				return
			}
			ev := NewEvent("AttendedTransfer", privCall)
			ev.Add("Result", "Success")
			addChan(ev, "OrigTransferer", tr)
			addBridgePrefix(ev, "Orig", orig)
			addChan(ev, "SecondTransferer", tr)
			if tr.bridge != nil {
				addBridgePrefix(ev, "Second", tr.bridge)
			}
			addChan(ev, "Transferee", transferee)
			addChan(ev, "TransferTarget", callee)
			ev.Add("IsExternal", "Yes")
			ev.Add("DestType", "Bridge").Add("DestBridgeUniqueid", orig.id)
			p.emit(ev)
			// The target takes the transferer's place in the first bridge.
			p.enterBridge(orig, callee)
			p.hangup(tr, 16)
			p.setConnected(transferee, target.id, target.name)
			p.setConnected(callee, transferee.cidNum, transferee.cidName)
			p.talk(transferee, callee)
		})
	})
}

// addBridgePrefix appends a bridge snapshot with a key prefix.
func addBridgePrefix(m *Message, prefix string, b *bridge) {
	m.Add(prefix+"BridgeUniqueid", b.id)
	m.Add(prefix+"BridgeType", b.typ)
	m.Add(prefix+"BridgeTechnology", b.tech)
	m.Add(prefix+"BridgeCreator", b.creator)
	m.Add(prefix+"BridgeName", b.name)
	m.Add(prefix+"BridgeNumChannels", strconv.Itoa(len(b.chans)))
	m.Add(prefix+"BridgeVideoSourceMode", "none")
}

// actPark parks Channel; TimeoutChannel (the parker, whose dial string is
// remembered) leaves the call.
func (p *pbx) actPark(id string, a *Message) []*Message {
	c, bad := p.channelArg(id, a, "Channel")
	if bad != nil {
		return bad
	}
	space := p.freeSpace()
	if space == 0 {
		return []*Message{errorResponse(id, "Park action failed\n")}
	}
	parker := ""
	tcName := a.Get("TimeoutChannel")
	if tcName == "" {
		tcName = a.Get("Channel2")
	}
	tc := p.chans[tcName]
	if tc != nil && tc.ep != nil {
		parker = "PJSIP/" + tc.ep.id
	}
	pc := p.parkInto(c, space, parker)
	if tc != nil && tc != c {
		p.hangup(tc, 16)
	}
	p.after(p.cfg.Parking.Timeout, func() { p.unpark(pc, "ParkedCallTimeOut") })
	return []*Message{successResponse(id, "Park successful\n")}
}

// parkInto moves c into the parking bridge at space and emits ParkedCall.
func (p *pbx) parkInto(c *channel, space int, parker string) *parkedCall {
	p.leaveBridge(c)
	p.setApp(c, "park-dial", strconv.Itoa(space), "Park", p.cfg.Parking.Name)
	if p.parkBridge == nil {
		p.parkBridge = p.newBridge("parking", "holding_bridge", "Park", "Parkinglot_"+p.cfg.Parking.Name)
	}
	p.enterBridge(p.parkBridge, c)
	pc := &parkedCall{space: space, ch: c, parker: parker, parkedAt: p.now}
	p.parked[space] = pc
	p.emit(p.parkedFields(NewEvent("ParkedCall", privCall), pc))
	p.parkHint(space)
	return pc
}

// actMixMonitor starts recording a channel (MixMonitorStart).
func (p *pbx) actMixMonitor(id string, a *Message) []*Message {
	c, bad := p.channelArg(id, a, "Channel")
	if bad != nil {
		return bad
	}
	if a.Get("File") == "" {
		return []*Message{errorResponse(id, "No file specified")}
	}
	if !c.recording {
		c.recording = true
		p.emit(addChan(NewEvent("MixMonitorStart", privCall), "", c))
	}
	r := successResponse(id, "")
	r.Add("MixMonitorID", "0x"+strconv.FormatUint(c.seq, 16))
	return []*Message{r}
}

// actStopMixMonitor stops recording a channel (MixMonitorStop).
func (p *pbx) actStopMixMonitor(id string, a *Message) []*Message {
	c, bad := p.channelArg(id, a, "Channel")
	if bad != nil {
		return bad
	}
	if !c.recording {
		return []*Message{errorResponse(id, "Could not stop monitoring channel")}
	}
	c.recording = false
	p.emit(addChan(NewEvent("MixMonitorStop", privCall), "", c))
	return []*Message{successResponse(id, "")}
}

// actMixMonitorMute mutes or unmutes a recording (MixMonitorMute).
func (p *pbx) actMixMonitorMute(id string, a *Message) []*Message {
	dir := a.Get("Direction")
	switch {
	case dir == "":
		return []*Message{errorResponse(id, "No direction specified. Must be read, write or both")}
	case dir != "read" && dir != "write" && dir != "both":
		return []*Message{errorResponse(id, "Invalid direction specified. Must be read, write or both")}
	}
	c, bad := p.channelArg(id, a, "Channel")
	if bad != nil {
		return bad
	}
	if a.Get("State") == "" {
		return []*Message{errorResponse(id, "No state specified")}
	}
	if !c.recording {
		return []*Message{errorResponse(id, "Cannot set mute flag")}
	}
	ev := addChan(NewEvent("MixMonitorMute", privCall), "", c)
	ev.Add("Direction", dir).Add("State", boolNum(truthy(a.Get("State"))))
	p.emit(ev)
	return []*Message{successResponse(id, "")}
}

// actSetvar accepts a channel variable (nothing reads it back).
func (p *pbx) actSetvar(id string, a *Message) []*Message {
	if a.Get("Variable") == "" {
		return []*Message{errorResponse(id, "No variable specified")}
	}
	if a.Get("Channel") != "" {
		if _, bad := p.channelArg(id, a, "Channel"); bad != nil {
			return bad
		}
	}
	return []*Message{successResponse(id, "Variable Set")}
}

// actBridge bridges Channel1 and Channel2 in a new basic bridge (each
// leaves its current bridge; a peer left alone there hangs up).
func (p *pbx) actBridge(id string, a *Message) []*Message {
	n1, n2 := a.Get("Channel1"), a.Get("Channel2")
	if n1 == "" || n2 == "" {
		return []*Message{errorResponse(id, "Missing channel parameter in request")}
	}
	c1, c2 := p.chans[n1], p.chans[n2]
	if c1 == nil || !c1.alive {
		return []*Message{errorResponse(id, "Channel1 does not exist: "+n1)}
	}
	if c2 == nil || !c2.alive || c2 == c1 {
		return []*Message{errorResponse(id, "Channel2 does not exist: "+n2)}
	}
	for _, c := range []*channel{c1, c2} {
		if peer := bridgePeer(c); peer != nil && peer != c1 && peer != c2 {
			p.leaveBridge(c)
			p.hangup(peer, 16)
		}
	}
	for _, c := range []*channel{c1, c2} {
		p.setState(c, stUp)
	}
	br := p.newBridge("basic", "simple_bridge", "", "")
	p.enterBridge(br, c1)
	p.enterBridge(br, c2)
	p.setConnected(c1, c2.cidNum, c2.cidName)
	p.setConnected(c2, c1.cidNum, c1.cidName)
	return []*Message{successResponse(id, "Channels have been bridged")}
}
