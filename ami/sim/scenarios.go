package sim

import (
	"fmt"
	"strconv"
	"time"
)

// startScenario starts one scenario chosen by the Mix weights.
func (p *pbx) startScenario() {
	m := p.cfg.Mix
	total := m.total()
	if total <= 0 || len(p.extList) < 2 {
		return
	}
	r := p.rng.IntN(total)
	for _, sc := range []struct {
		w  int
		fn func()
	}{
		{m.Internal, p.scInternal},
		{m.Queue, p.scQueue},
		{m.Inbound, p.scInbound},
		{m.Park, p.scPark},
		{m.Conference, p.scConference},
		{m.Features, p.scFeatures},
		{m.Flap, p.scFlap},
		{m.Transfer, p.scTransfer},
		{m.Pickup, p.scPickup},
		{m.Record, p.scRecord},
	} {
		if r < sc.w {
			sc.fn()
			return
		}
		r -= sc.w
	}
}

// pickExt returns a random extension satisfying ok, or nil.
func (p *pbx) pickExt(ok func(*endpoint) bool) *endpoint {
	n := len(p.extList)
	if n == 0 {
		return nil
	}
	start := p.rng.IntN(n)
	for i := range n {
		if e := p.extList[(start+i)%n]; ok(e) {
			return e
		}
	}
	return nil
}

// idle: registered, no channel, no DND.
func (p *pbx) idle(e *endpoint) bool {
	return e.reachable && len(e.chans) == 0 && p.db["DND/"+e.id] == ""
}

func (p *pbx) dnd(e *endpoint) bool {
	_, ok := p.db["DND/"+e.id]
	return ok
}

// extCaller creates the channel of extension a dialling exten.
func (p *pbx) extCaller(a *endpoint, exten string) *channel {
	return p.newChannel(a, chanOpts{cidNum: a.id, cidName: a.name, context: "from-internal", exten: exten, state: stRing})
}

// trunkCaller creates an inbound channel on the trunk for the DID.
func (p *pbx) trunkCaller() *channel {
	names := []string{"", "", "ACME Srl", "Rossi Mario", "Studio Bianchi"}
	num := fmt.Sprintf("3%09d", p.rng.IntN(1_000_000_000))
	return p.newChannel(p.trunk, chanOpts{cidNum: num, cidName: names[p.rng.IntN(len(names))],
		context: "from-pstn", exten: p.cfg.Trunk.Username, state: stRing})
}

func (p *pbx) ringTime() time.Duration { return p.uniDur(p.cfg.AvgRingTime, 0.3, 1.7) }

// scInternal: an extension calls another one.
func (p *pbx) scInternal() {
	a := p.pickExt(p.idle)
	if a == nil {
		return
	}
	var b *endpoint
	if p.rng.Float64() < 0.8 {
		b = p.pickExt(func(e *endpoint) bool { return e != a && p.idle(e) })
	}
	if b == nil {
		b = p.pickExt(func(e *endpoint) bool { return e != a })
	}
	ca := p.extCaller(a, b.id)
	p.dialExtension(ca, b, 0.85, p.talk)
}

// scInbound: a trunk call to an extension (direct DID).
func (p *pbx) scInbound() {
	b := p.pickExt(func(e *endpoint) bool { return p.idle(e) })
	if b == nil {
		b = p.extList[p.rng.IntN(len(p.extList))]
	}
	tc := p.trunkCaller()
	p.dialExtension(tc, b, 0.85, p.talk)
}

// dialExtension makes caller dial extension b. answered runs once both
// are bridged.
func (p *pbx) dialExtension(caller *channel, b *endpoint, answerProb float64, answered func(caller, callee *channel)) {
	p.setApp(caller, "macro-dial-one", "s", "Dial", "PJSIP/"+b.id+",,HhtrIb(func-apply-sipheaders^s^1)")
	switch {
	case p.dnd(b):
		p.after(p.cfg.AvgRingTime/4, func() { p.hangup(caller, 17) })
		return
	case !b.reachable:
		p.after(p.cfg.AvgRingTime/8, func() { p.hangup(caller, 20) })
		return
	}
	cb := p.ring(caller, b)
	ring := p.ringTime()
	if p.rng.Float64() >= answerProb {
		p.after(2*ring, func() {
			if !cb.alive || !caller.alive {
				return
			}
			p.dialEnd(caller, cb, "NOANSWER")
			p.hangup(cb, 19)
			p.voicemail(caller, b)
		})
		return
	}
	p.after(ring, func() {
		if !cb.alive || !caller.alive {
			return
		}
		p.setState(cb, stUp)
		p.dialEnd(caller, cb, "ANSWER")
		p.setState(caller, stUp)
		p.setConnected(caller, b.id, b.name)
		br := p.newBridge("basic", "simple_bridge", "", "")
		p.enterBridge(br, caller)
		p.enterBridge(br, cb)
		answered(caller, cb)
	})
}

// voicemail: the caller leaves a message for b.
func (p *pbx) voicemail(caller *channel, b *endpoint) {
	p.setApp(caller, "macro-vm", "s", "VoiceMail", b.id+"@default,u")
	p.setState(caller, stUp)
	p.after(p.uniDur(p.cfg.AvgCallDuration, 0.1, 0.4), func() {
		if !caller.alive {
			return
		}
		p.hangup(caller, 16)
		if mb := p.mailboxes[b.id]; mb != nil {
			mb.newMsgs++
			p.messageWaiting(b.id)
		}
	})
}

// talk keeps a and b connected for a while (sometimes with a hold), then
// one side hangs up.
func (p *pbx) talk(a, b *channel) {
	d := p.expDur(p.cfg.AvgCallDuration)
	if p.rng.Float64() < 0.2 {
		holder := b
		if p.rng.IntN(2) == 0 && a.ep != nil && !a.ep.isTrunk {
			holder = a
		}
		p.after(d/3, func() { p.setHold(holder, true) })
		p.after(2*d/3, func() { p.setHold(holder, false) })
	}
	first, second := a, b
	if p.rng.IntN(2) == 0 {
		first, second = b, a
	}
	p.after(d, func() {
		p.hangup(first, 16)
		p.hangup(second, 16)
	})
}

// scQueue: a trunk (or extension) caller enters a queue.
func (p *pbx) scQueue() {
	if len(p.queueList) == 0 {
		return
	}
	q := p.queueList[p.rng.IntN(len(p.queueList))]
	var caller *channel
	if p.rng.Float64() < 0.7 {
		caller = p.trunkCaller()
	} else {
		a := p.pickExt(p.idle)
		if a == nil {
			return
		}
		caller = p.extCaller(a, q.num)
	}
	p.setApp(caller, "ext-queues", q.num, "Queue", q.num+",t,,,300,,,,,")
	p.setState(caller, stUp)
	qc := &queueCaller{ch: caller, joined: p.now, origPos: len(q.callers) + 1, waiting: true}
	q.callers = append(q.callers, qc)
	ev := addChan(NewEvent("QueueCallerJoin", privAgent), "", caller)
	ev.Add("Queue", q.num).Add("Position", strconv.Itoa(len(q.callers))).Add("Count", strconv.Itoa(len(q.callers)))
	p.emit(ev)
	p.after(p.uniDur(p.cfg.AvgRingTime, 2, 6), func() { p.queueAbandon(q, qc) })
	p.after(p.cfg.AvgRingTime/4, func() { p.queueTry(q, qc) })
}

func (p *pbx) queuePos(q *queue, qc *queueCaller) int {
	for i, x := range q.callers {
		if x == qc {
			return i + 1
		}
	}
	return 0
}

// queueLeave removes qc from q and emits QueueCallerLeave.
func (p *pbx) queueLeave(q *queue, qc *queueCaller) {
	pos := p.queuePos(q, qc)
	if pos == 0 {
		return
	}
	q.callers = append(q.callers[:pos-1], q.callers[pos:]...)
	qc.waiting = false
	ev := addChan(NewEvent("QueueCallerLeave", privAgent), "", qc.ch)
	ev.Add("Queue", q.num).Add("Count", strconv.Itoa(len(q.callers))).Add("Position", strconv.Itoa(pos))
	p.emit(ev)
}

func agentEvent(name string, q *queue, caller, dest *channel, m *member) *Message {
	ev := NewEvent(name, privAgent)
	addChan(ev, "", caller)
	addChan(ev, "Dest", dest)
	ev.Add("Queue", q.num).Add("Interface", m.iface).Add("MemberName", m.name)
	return ev
}

// queueTry rings the next free member for qc, or every free member of a
// ringall queue, each through its own Local channel pair.
func (p *pbx) queueTry(q *queue, qc *queueCaller) {
	if !qc.waiting || len(qc.rings) > 0 || !qc.ch.alive {
		return
	}
	var ms []*member
	for _, i := range p.rng.Perm(len(q.members)) {
		c := q.members[i]
		if e := p.exts[c.ext]; e != nil && !c.paused && !c.busy && p.idle(e) {
			ms = append(ms, c)
			if !q.ringall {
				break
			}
		}
	}
	if len(ms) == 0 {
		p.after(p.cfg.AvgRingTime/2, func() { p.queueTry(q, qc) })
		return
	}
	caller := qc.ch
	for _, m := range ms {
		e := p.exts[m.ext]
		l1, l2 := p.newLocalPair(m.ext, "from-queue",
			chanOpts{cidNum: caller.cidNum, cidName: caller.cidName, context: "from-queue", exten: q.num, state: stDown, linked: caller.linked},
			chanOpts{cidNum: caller.cidNum, cidName: caller.cidName, context: "from-queue", exten: m.ext, state: stRing, linked: caller.linked})
		p.dialBegin(caller, l1, m.iface)
		p.emit(agentEvent("AgentCalled", q, caller, l1, m))
		m.busy = true
		p.setApp(l2, "from-queue", m.ext, "Dial", "PJSIP/"+e.id+",,HhtrI")
		phone := p.newChannel(e, chanOpts{cidNum: e.id, cidName: e.name, conNum: caller.cidNum, conName: caller.cidName,
			context: "from-internal", exten: e.id, state: stDown, linked: caller.linked})
		p.setApp(phone, "from-internal", e.id, "AppDial", "(Outgoing Line)")
		p.dialBegin(l2, phone, e.id)
		p.setState(phone, stRinging)
		p.setState(l2, stRinging)
		p.setState(l1, stRinging)
		qc.rings = append(qc.rings, &queueRing{l1: l1, l2: l2, phone: phone, m: m, at: p.now})
	}
	rings := qc.rings
	ring := p.ringTime()
	if p.rng.Float64() >= 0.85 {
		p.after(ring+ring/2, func() {
			if len(qc.rings) == 0 || qc.rings[0] != rings[0] {
				return
			}
			for _, r := range rings {
				ev := agentEvent("AgentRingNoAnswer", q, caller, r.l1, r.m)
				ev.Add("RingTime", strconv.FormatInt(int64((p.now-r.at)/time.Second), 10))
				p.queueCancelRing(q, qc, r, "NOANSWER", 19)
				p.emit(ev)
			}
			p.after(p.cfg.AvgRingTime/4, func() { p.queueTry(q, qc) })
		})
		return
	}
	p.after(ring, func() {
		if len(qc.rings) == 0 || qc.rings[0] != rings[0] || !qc.waiting {
			return
		}
		r := rings[p.rng.IntN(len(rings))] // the member who answers
		for _, o := range rings {
			if o != r {
				p.queueCancelRing(q, qc, o, "CANCEL", 26) // answered elsewhere
			}
		}
		qc.rings = nil
		p.queueAnswer(q, qc, r)
	})
}

// queueAnswer: member r answers the call of qc.
func (p *pbx) queueAnswer(q *queue, qc *queueCaller, r *queueRing) {
	caller, l1, l2, phone, m := qc.ch, r.l1, r.l2, r.phone, r.m
	e := p.exts[m.ext]
	p.setState(phone, stUp)
	p.dialEnd(l2, phone, "ANSWER")
	p.setState(l2, stUp)
	agentBridge := p.newBridge("basic", "simple_bridge", "", "")
	p.enterBridge(agentBridge, l2)
	p.enterBridge(agentBridge, phone)
	p.setState(l1, stUp)
	p.dialEnd(caller, l1, "ANSWER")
	hold := p.now - qc.joined
	p.queueLeave(q, qc)
	ev := agentEvent("AgentConnect", q, caller, l1, m)
	ev.Add("HoldTime", strconv.FormatInt(int64(hold/time.Second), 10))
	ev.Add("RingTime", strconv.FormatInt(int64((p.now-r.at)/time.Second), 10))
	p.emit(ev)
	callerBridge := p.newBridge("basic", "simple_bridge", "", "")
	p.enterBridge(callerBridge, caller)
	p.enterBridge(callerBridge, l1)
	p.setConnected(caller, e.id, e.name)
	p.setConnected(phone, caller.cidNum, caller.cidName)
	m.inCall = true
	p.emit(p.memberEvent("QueueMemberStatus", q, m))
	talkStart := p.now
	p.after(p.expDur(p.cfg.AvgCallDuration), func() {
		reason := "caller"
		if p.rng.IntN(2) == 0 {
			reason = "agent"
		}
		ev := agentEvent("AgentComplete", q, caller, l1, m)
		ev.Add("HoldTime", strconv.FormatInt(int64(hold/time.Second), 10))
		ev.Add("TalkTime", strconv.FormatInt(int64((p.now-talkStart)/time.Second), 10))
		ev.Add("Reason", reason)
		p.emit(ev)
		if reason == "caller" {
			p.hangup(caller, 16)
			p.hangup(l1, 16)
			p.hangup(l2, 16)
			p.hangup(phone, 16)
		} else {
			p.hangup(phone, 16)
			p.hangup(l2, 16)
			p.hangup(l1, 16)
			p.hangup(caller, 16)
		}
		q.completed++
		q.holdSum += int64(hold / time.Second)
		q.talkSum += int64((p.now - talkStart) / time.Second)
		if hold <= 60*time.Second {
			q.slOK++
		}
		m.callsTaken++
		m.lastCall = p.unix()
		m.inCall = false
		m.busy = false
		m.status = p.memberStatus(m)
		p.emit(p.memberEvent("QueueMemberStatus", q, m))
	})
}

// queueCancelRing stops ringing member r for qc.
func (p *pbx) queueCancelRing(q *queue, qc *queueCaller, r *queueRing, status string, cause int) {
	for i, x := range qc.rings {
		if x == r {
			qc.rings = append(qc.rings[:i:i], qc.rings[i+1:]...)
			break
		}
	}
	p.dialEnd(qc.ch, r.l1, status)
	p.dialEnd(r.l2, r.phone, status)
	p.hangup(r.phone, cause)
	p.hangup(r.l2, cause)
	p.hangup(r.l1, cause)
	r.m.busy = false
}

// queueAbandon: the caller gives up waiting.
func (p *pbx) queueAbandon(q *queue, qc *queueCaller) {
	if !qc.waiting {
		return
	}
	for len(qc.rings) > 0 {
		p.queueCancelRing(q, qc, qc.rings[0], "CANCEL", 16)
	}
	pos := p.queuePos(q, qc)
	ev := addChan(NewEvent("QueueCallerAbandon", privAgent), "", qc.ch)
	ev.Add("Queue", q.num).Add("Position", strconv.Itoa(pos)).Add("OriginalPosition", strconv.Itoa(qc.origPos))
	ev.Add("HoldTime", strconv.FormatInt(int64((p.now-qc.joined)/time.Second), 10))
	p.emit(ev)
	p.queueLeave(q, qc)
	q.abandoned++
	p.hangup(qc.ch, 16)
}

// scPark: a call is answered, then parked by the callee with a blind
// transfer to 70; later it is picked up from the slot, or gives up.
func (p *pbx) scPark() {
	if p.freeSpace() == 0 {
		return
	}
	b := p.pickExt(p.idle)
	if b == nil {
		return
	}
	var caller *channel
	if p.rng.IntN(2) == 0 {
		caller = p.trunkCaller()
	} else {
		a := p.pickExt(func(e *endpoint) bool { return e != b && p.idle(e) })
		if a == nil {
			return
		}
		caller = p.extCaller(a, b.id)
	}
	p.dialExtension(caller, b, 1, func(caller, callee *channel) {
		p.after(p.expDur(p.cfg.AvgCallDuration)/3, func() { p.park(caller, callee, b) })
	})
}

func (p *pbx) freeSpace() int {
	for s := p.cfg.Parking.Start; s <= p.cfg.Parking.Stop; s++ {
		if p.parked[s] == nil {
			return s
		}
	}
	return 0
}

func (p *pbx) parkHint(space int) {
	dev, st := p.parkDevice(space), p.parkState(space)
	if p.lastDev[dev] != st {
		p.lastDev[dev] = st
		p.emit(NewEvent("DeviceStateChange", privCall).Add("Device", dev).Add("State", st))
	}
	p.emit(extensionStatus(NewEvent("ExtensionStatus", privCall), strconv.Itoa(space), "park-hints", dev, extenState(st)))
}

func (p *pbx) park(parkee, parker *channel, parkerExt *endpoint) {
	if !parkee.alive || !parker.alive {
		return
	}
	space := p.freeSpace()
	if space == 0 || parker.bridge == nil {
		p.hangup(parker, 16)
		p.hangup(parkee, 16)
		return
	}
	p.emit(blindTransferEvent(parker, parkee, "No", "from-internal", "70"))
	p.hangup(parker, 16)
	p.leaveBridge(parkee)
	p.setApp(parkee, "park-dial", "70", "Park", p.cfg.Parking.Name)
	if p.parkBridge == nil {
		p.parkBridge = p.newBridge("parking", "holding_bridge", "Park", "Parkinglot_"+p.cfg.Parking.Name)
	}
	p.enterBridge(p.parkBridge, parkee)
	pc := &parkedCall{space: space, ch: parkee, parker: "PJSIP/" + parkerExt.id, parkedAt: p.now}
	p.parked[space] = pc
	p.emit(p.parkedFields(NewEvent("ParkedCall", privCall), pc))
	p.parkHint(space)
	wait := p.uniDur(p.cfg.AvgCallDuration, 0.2, 1.2)
	if wait >= p.cfg.Parking.Timeout {
		p.after(p.cfg.Parking.Timeout, func() { p.unpark(pc, "ParkedCallTimeOut") })
		return
	}
	p.after(wait, func() {
		if p.parked[pc.space] != pc {
			return
		}
		r := p.pickExt(p.idle)
		if r == nil || p.rng.Float64() < 0.25 {
			p.unpark(pc, "ParkedCallGiveUp")
			return
		}
		p.retrieve(pc, r)
	})
}

// unpark ends a parked call without retrieval (timeout or give-up).
func (p *pbx) unpark(pc *parkedCall, event string) {
	if p.parked[pc.space] != pc {
		return
	}
	p.emit(p.parkedFields(NewEvent(event, privCall), pc))
	delete(p.parked, pc.space)
	p.hangup(pc.ch, 16)
	p.parkHint(pc.space)
}

// retrieve: extension r dials the parking space and talks to the parkee.
func (p *pbx) retrieve(pc *parkedCall, r *endpoint) {
	space := strconv.Itoa(pc.space)
	cr := p.extCaller(r, space)
	p.setApp(cr, "parkedcalls", space, "ParkedCall", p.cfg.Parking.Name+","+space)
	p.setState(cr, stUp)
	ev := p.parkedFields(NewEvent("UnParkedCall", privCall), pc)
	addChan(ev, "Retriever", cr)
	delete(p.parked, pc.space)
	p.emit(ev)
	parkee := pc.ch
	p.leaveBridge(parkee)
	p.setApp(parkee, "parkedcalls", space, "ParkedCall", p.cfg.Parking.Name+","+space)
	br := p.newBridge("basic", "simple_bridge", "", "")
	p.enterBridge(br, cr)
	p.enterBridge(br, parkee)
	p.setConnected(cr, parkee.cidNum, parkee.cidName)
	p.setConnected(parkee, r.id, r.name)
	p.parkHint(pc.space)
	p.talk(parkee, cr)
}

// scConference: one to three extensions join the room, stay a while,
// sometimes mute, and leave.
func (p *pbx) scConference() {
	n := 1 + p.rng.IntN(3)
	for i := range n {
		p.after(time.Duration(i)*p.uniDur(p.cfg.AvgRingTime, 0, 1), p.confJoin)
	}
}

func confEvent(name, room string, b *bridge, c *channel) *Message {
	ev := NewEvent(name, privCall)
	ev.Add("Conference", room)
	addBridge(ev, b)
	addChan(ev, "", c)
	return ev
}

func (p *pbx) confJoin() {
	room := p.cfg.Conference.Room
	e := p.pickExt(p.idle)
	if e == nil {
		return
	}
	c := p.extCaller(e, room)
	p.setApp(c, "ext-meetme", room, "ConfBridge", room+",default_bridge,default_user")
	p.setState(c, stUp)
	if p.conf == nil {
		b := p.newBridge("base", "softmix", "ConfBridge", room)
		p.conf = &conference{room: room, bridge: b, started: p.now}
		ev := NewEvent("ConfbridgeStart", privCall).Add("Conference", room)
		p.emit(addBridge(ev, b))
	}
	conf := p.conf
	p.enterBridge(conf.bridge, c)
	u := &confUser{ch: c, admin: len(room) >= len(e.id) && room[len(room)-len(e.id):] == e.id, joined: p.now}
	conf.users = append(conf.users, u)
	ev := confEvent("ConfbridgeJoin", room, conf.bridge, c)
	ev.Add("Admin", yesNo(u.admin)).Add("Muted", "No")
	p.emit(ev)
	stay := p.expDur(p.cfg.AvgCallDuration)
	if p.rng.Float64() < 0.3 {
		p.after(stay/3, func() { p.confMute(conf, u, true) })
		p.after(2*stay/3, func() { p.confMute(conf, u, false) })
	}
	p.after(stay, func() { p.confLeave(conf, u) })
}

func (p *pbx) confMute(conf *conference, u *confUser, on bool) {
	if p.conf != conf || !u.ch.alive || u.muted == on {
		return
	}
	u.muted = on
	name := "ConfbridgeUnmute"
	if on {
		name = "ConfbridgeMute"
	}
	ev := confEvent(name, conf.room, conf.bridge, u.ch)
	ev.Add("Admin", yesNo(u.admin))
	p.emit(ev)
}

func (p *pbx) confLeave(conf *conference, u *confUser) {
	if p.conf != conf || !u.ch.alive {
		return
	}
	for i, x := range conf.users {
		if x == u {
			conf.users = append(conf.users[:i], conf.users[i+1:]...)
			break
		}
	}
	ev := confEvent("ConfbridgeLeave", conf.room, conf.bridge, u.ch)
	ev.Add("Admin", yesNo(u.admin))
	p.emit(ev)
	if len(conf.users) == 0 {
		p.emit(addBridge(NewEvent("ConfbridgeEnd", privCall).Add("Conference", conf.room), conf.bridge))
		p.conf = nil
	}
	p.hangup(u.ch, 16)
}

// scFeatures: DND or call-forward toggles through feature codes, or a
// voicemail check.
func (p *pbx) scFeatures() {
	e := p.pickExt(func(e *endpoint) bool { return e.reachable && len(e.chans) == 0 })
	if e == nil {
		return
	}
	r := p.rng.Float64()
	switch {
	case r < 0.2 && p.mailboxes[e.id] != nil && p.mailboxes[e.id].newMsgs > 0:
		p.vmCheck(e)
	case r < 0.75:
		p.dndToggle(e)
	default:
		p.cfToggle(e)
	}
}

// featureCall runs a short feature-code call: the AstDB write happens in
// the dialplan (Newexten), then the phone hangs up.
func (p *pbx) featureCall(e *endpoint, code string, body func(c *channel)) {
	c := p.extCaller(e, code)
	p.setState(c, stUp)
	body(c)
	p.after(p.uniDur(p.cfg.AvgRingTime, 0.2, 0.6), func() { p.hangup(c, 16) })
}

func (p *pbx) dndToggle(e *endpoint) {
	if !p.dnd(e) {
		p.featureCall(e, "*78", func(c *channel) {
			p.newexten(c, "app-dnd-on", "*78", "Set", "DB(DND/"+e.id+")=YES")
			p.dbPut("DND", e.id, "YES")
		})
		return
	}
	p.featureCall(e, "*79", func(c *channel) {
		p.newexten(c, "app-dnd-off", "*79", "NoOp", "Deleting: DND/"+e.id+" "+p.db["DND/"+e.id])
		p.dbDel("DND", e.id)
	})
}

func (p *pbx) cfToggle(e *endpoint) {
	key := "CF/" + e.id
	if old, on := p.db[key]; on {
		p.featureCall(e, "*73", func(c *channel) {
			p.newexten(c, "app-cf-off", "*73", "NoOp", "Deleting: "+key+" "+old)
			p.dbDel("CF", e.id)
		})
		return
	}
	to := "vmu" + e.id
	if p.rng.Float64() < 0.7 {
		if t := p.pickExt(func(x *endpoint) bool { return x != e }); t != nil {
			to = t.id
		}
	}
	p.featureCall(e, "*72", func(c *channel) {
		p.newexten(c, "app-cf-on", "*72", "Set", "DB("+key+")="+to)
		p.dbPut("CF", e.id, to)
	})
}

func (p *pbx) vmCheck(e *endpoint) {
	c := p.extCaller(e, "*97")
	p.setApp(c, "app-vmmain", "*97", "VoiceMailMain", e.id+"@default")
	p.setState(c, stUp)
	p.after(p.uniDur(p.cfg.AvgCallDuration, 0.2, 0.5), func() {
		if !c.alive {
			return
		}
		if mb := p.mailboxes[e.id]; mb != nil && mb.newMsgs > 0 {
			mb.oldMsgs += mb.newMsgs
			mb.newMsgs = 0
			p.messageWaiting(e.id)
		}
		p.hangup(c, 16)
	})
}

// scFlap: a phone stops answering qualify and comes back, or the trunk
// registration drops and recovers.
func (p *pbx) scFlap() {
	if p.rng.Float64() < 0.25 {
		if !p.trunkRegistered() {
			return
		}
		p.setRegistered(false)
		p.after(p.uniDur(p.cfg.AvgRingTime, 1, 3), func() { p.setRegistered(true) })
		return
	}
	e := p.pickExt(p.idle)
	if e == nil {
		return
	}
	p.setReachable(e, false)
	p.after(p.uniDur(p.cfg.AvgCallDuration, 0.3, 1), func() { p.setReachable(e, true) })
}

// answeredCall sets up a call between two idle extensions (or from the
// trunk) and runs then once both are bridged; nil when nobody is free.
func (p *pbx) answeredCall(then func(caller, callee *channel, b *endpoint)) bool {
	b := p.pickExt(p.idle)
	if b == nil {
		return false
	}
	var caller *channel
	if p.rng.IntN(2) == 0 {
		caller = p.trunkCaller()
	} else {
		a := p.pickExt(func(e *endpoint) bool { return e != b && p.idle(e) })
		if a == nil {
			return false
		}
		caller = p.extCaller(a, b.id)
	}
	p.dialExtension(caller, b, 1, func(caller, callee *channel) { then(caller, callee, b) })
	return true
}

// scTransfer: the callee of an answered call transfers it to a free
// extension, blind (BlindTransfer) or attended (a consultation call, then
// AttendedTransfer).
func (p *pbx) scTransfer() {
	p.answeredCall(func(caller, callee *channel, b *endpoint) {
		p.after(p.expDur(p.cfg.AvgCallDuration)/3, func() {
			if !caller.alive || !callee.alive || bridgePeer(callee) != caller {
				return
			}
			t := p.pickExt(func(e *endpoint) bool { return e != b && p.idle(e) })
			if t == nil {
				p.talk(caller, callee)
				return
			}
			if p.rng.IntN(2) == 0 {
				p.blindTransfer(callee, caller, "from-internal", t.id)
				return
			}
			p.atxfer(callee, caller, t)
		})
	})
}

// scPickup: a call rings an extension and another free extension picks it
// up with the directed pickup code (**<ext>).
func (p *pbx) scPickup() {
	b := p.pickExt(p.idle)
	if b == nil {
		return
	}
	a := p.pickExt(func(e *endpoint) bool { return e != b && p.idle(e) })
	c := p.pickExt(func(e *endpoint) bool { return e != b && e != a && p.idle(e) })
	if a == nil || c == nil {
		return
	}
	ca := p.extCaller(a, b.id)
	p.dialExtension(ca, b, 0, p.talk) // b never answers: c picks the call up
	p.after(p.cfg.AvgRingTime/2, func() {
		if !ca.alive || ca.bridge != nil {
			return
		}
		cc := p.extCaller(c, "**"+b.id)
		p.setApp(cc, "app-pickup", "**"+b.id, "Pickup", b.id+"@PICKUPMARK")
		p.setState(cc, stUp)
		p.pickup(cc, b)
	})
}

// scRecord: an answered call is recorded (MixMonitor on the caller's
// channel), sometimes muted for a while, and the recording stops before
// the end or with the hangup.
func (p *pbx) scRecord() {
	p.answeredCall(func(caller, callee *channel, _ *endpoint) {
		d := p.expDur(p.cfg.AvgCallDuration)
		rec := callee // the agent's phone records (a feature code or a CTI click)
		p.after(d/5, func() {
			if !rec.alive || rec.recording {
				return
			}
			rec.recording = true
			p.emit(addChan(NewEvent("MixMonitorStart", privCall), "", rec))
		})
		if p.rng.IntN(3) == 0 {
			mute := func(on bool) func() {
				return func() {
					if rec.alive && rec.recording {
						ev := addChan(NewEvent("MixMonitorMute", privCall), "", rec)
						ev.Add("Direction", "both").Add("State", boolNum(on))
						p.emit(ev)
					}
				}
			}
			p.after(2*d/5, mute(true))
			p.after(3*d/5, mute(false))
		}
		if p.rng.IntN(2) == 0 {
			p.after(4*d/5, func() {
				if rec.alive && rec.recording {
					rec.recording = false
					p.emit(addChan(NewEvent("MixMonitorStop", privCall), "", rec))
				}
			})
		}
		p.after(d, func() {
			p.hangup(caller, 16)
			p.hangup(callee, 16)
		})
	})
}
