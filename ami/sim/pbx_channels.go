package sim

import (
	"slices"
	"strconv"
)

// chanOpts describes a channel to create.
type chanOpts struct {
	cidNum, cidName string
	conNum, conName string
	context, exten  string
	state           int
	linked          string // Linkedid; "" = the channel's own Uniqueid
	app, appData    string
}

const unknown = "<unknown>"

func orUnknown(s string) string {
	if s == "" {
		return unknown
	}
	return s
}

// addChan appends a channel snapshot with an optional key prefix.
func addChan(m *Message, prefix string, c *channel) *Message {
	m.Add(prefix+"Channel", c.name)
	m.Add(prefix+"ChannelState", strconv.Itoa(c.state))
	m.Add(prefix+"ChannelStateDesc", stateDesc(c.state))
	m.Add(prefix+"CallerIDNum", orUnknown(c.cidNum))
	m.Add(prefix+"CallerIDName", orUnknown(c.cidName))
	m.Add(prefix+"ConnectedLineNum", orUnknown(c.conNum))
	m.Add(prefix+"ConnectedLineName", orUnknown(c.conName))
	m.Add(prefix+"Language", "en")
	m.Add(prefix+"AccountCode", "")
	m.Add(prefix+"Context", c.context)
	m.Add(prefix+"Exten", c.exten)
	m.Add(prefix+"Priority", strconv.Itoa(c.priority))
	m.Add(prefix+"Uniqueid", c.uid)
	m.Add(prefix+"Linkedid", c.linked)
	return m
}

// addBridge appends a bridge snapshot.
func addBridge(m *Message, b *bridge) *Message {
	m.Add("BridgeUniqueid", b.id)
	m.Add("BridgeType", b.typ)
	m.Add("BridgeTechnology", b.tech)
	m.Add("BridgeCreator", b.creator)
	m.Add("BridgeName", b.name)
	m.Add("BridgeNumChannels", strconv.Itoa(len(b.chans)))
	m.Add("BridgeVideoSourceMode", "none")
	return m
}

// newChannel creates a channel of endpoint ep (PJSIP/<ep>-xxxxxxxx) and
// emits Newchannel and the device state change it causes.
func (p *pbx) newChannel(ep *endpoint, o chanOpts) *channel {
	c := p.makeChannel("PJSIP/"+ep.id+"-"+p.nextChanSuffix(), o)
	c.ep = ep
	ep.chans[c] = struct{}{}
	p.emit(addChan(NewEvent("Newchannel", privCall), "", c))
	p.refresh(ep)
	return c
}

// newLocalPair creates Local/<exten>@<context>-xxxxxxxx;1 and ;2 and emits
// their Newchannel events.
func (p *pbx) newLocalPair(exten, context string, o1, o2 chanOpts) (*channel, *channel) {
	base := "Local/" + exten + "@" + context + "-" + p.nextChanSuffix()
	c1 := p.makeChannel(base+";1", o1)
	if o2.linked == "" {
		o2.linked = c1.linked
	}
	c2 := p.makeChannel(base+";2", o2)
	p.emit(addChan(NewEvent("Newchannel", privCall), "", c1))
	p.emit(addChan(NewEvent("Newchannel", privCall), "", c2))
	return c1, c2
}

func (p *pbx) makeChannel(name string, o chanOpts) *channel {
	c := &channel{
		seq:      p.uidSeq + 1,
		name:     name,
		uid:      p.nextUID(),
		state:    o.state,
		cidNum:   o.cidNum,
		cidName:  o.cidName,
		conNum:   o.conNum,
		conName:  o.conName,
		context:  o.context,
		exten:    o.exten,
		priority: 1,
		app:      o.app,
		appData:  o.appData,
		created:  p.now,
		alive:    true,
	}
	c.linked = o.linked
	if c.linked == "" {
		c.linked = c.uid
	}
	p.chans[c.name] = c
	return c
}

// setState emits Newstate.
func (p *pbx) setState(c *channel, st int) {
	if !c.alive || c.state == st {
		return
	}
	c.state = st
	p.emit(addChan(NewEvent("Newstate", privCall), "", c))
	if c.ep != nil {
		p.refresh(c.ep)
	}
}

// setConnected emits NewConnectedLine.
func (p *pbx) setConnected(c *channel, num, name string) {
	if !c.alive || (c.conNum == num && c.conName == name) {
		return
	}
	c.conNum, c.conName = num, name
	p.emit(addChan(NewEvent("NewConnectedLine", privCall), "", c))
}

// setApp changes the dialplan location of c (Newexten is dialplan-class
// noise; it is emitted only for the FreePBX AstDB writes, see newexten).
func (p *pbx) setApp(c *channel, context, exten, app, data string) {
	c.context, c.exten, c.app, c.appData = context, exten, app, data
	c.priority++
}

// newexten emits a Newexten (dialplan class) for c running app(data).
func (p *pbx) newexten(c *channel, context, exten, app, data string) {
	p.setApp(c, context, exten, app, data)
	m := addChan(NewEvent("Newexten", privDialplan), "", c)
	m.Add("Extension", exten)
	m.Add("Application", app)
	m.Add("AppData", data)
	p.emit(m)
}

// dialBegin emits DialBegin from src to dst.
func (p *pbx) dialBegin(src, dst *channel, dialString string) {
	m := NewEvent("DialBegin", privCall)
	addChan(m, "", src)
	addChan(m, "Dest", dst)
	m.Add("DialString", dialString)
	p.emit(m)
}

// dialEnd emits DialEnd with a DialStatus (ANSWER, BUSY, NOANSWER, CANCEL…).
func (p *pbx) dialEnd(src, dst *channel, status string) {
	m := NewEvent("DialEnd", privCall)
	addChan(m, "", src)
	addChan(m, "Dest", dst)
	m.Add("DialStatus", status)
	p.emit(m)
}

// newBridge creates a bridge and emits BridgeCreate.
func (p *pbx) newBridge(typ, tech, creator, name string) *bridge {
	b := &bridge{id: p.uuid(), typ: typ, tech: tech, creator: creator, name: name}
	p.bridges[b.id] = b
	p.emit(addBridge(NewEvent("BridgeCreate", privCall), b))
	return b
}

// enterBridge moves c into b (leaving its current bridge first).
func (p *pbx) enterBridge(b *bridge, c *channel) {
	if !c.alive {
		return
	}
	if c.bridge == b {
		return
	}
	if c.bridge != nil {
		p.leaveBridge(c)
	}
	c.bridge = b
	b.chans = append(b.chans, c)
	m := addBridge(NewEvent("BridgeEnter", privCall), b)
	addChan(m, "", c)
	p.emit(m)
}

// leaveBridge takes c out of its bridge and destroys the bridge when it is
// empty.
func (p *pbx) leaveBridge(c *channel) {
	b := c.bridge
	if b == nil {
		return
	}
	c.bridge = nil
	b.chans = slices.DeleteFunc(b.chans, func(x *channel) bool { return x == c })
	m := addBridge(NewEvent("BridgeLeave", privCall), b)
	addChan(m, "", c)
	p.emit(m)
	if len(b.chans) == 0 {
		p.destroyBridge(b)
	}
}

func (p *pbx) destroyBridge(b *bridge) {
	if _, ok := p.bridges[b.id]; !ok {
		return
	}
	delete(p.bridges, b.id)
	if p.parkBridge == b {
		p.parkBridge = nil
	}
	p.emit(addBridge(NewEvent("BridgeDestroy", privCall), b))
}

// hangup ends c with a Q.850 cause: BridgeLeave if bridged, Hangup, device
// state. Channels still waiting in a queue, parked or in the conference are
// cleaned up silently (scenarios emit the queue/park/conference events
// first).
func (p *pbx) hangup(c *channel, cause int) {
	if !c.alive {
		return
	}
	if c.bridge != nil {
		p.leaveBridge(c)
	}
	c.alive = false
	delete(p.chans, c.name)
	for _, q := range p.queueList {
		q.callers = slices.DeleteFunc(q.callers, func(x *queueCaller) bool { return x.ch == c })
	}
	for space, pc := range p.parked {
		if pc.ch == c {
			delete(p.parked, space)
		}
	}
	m := NewEvent("Hangup", privCall)
	addChan(m, "", c)
	m.Add("Cause", strconv.Itoa(cause))
	m.Add("Cause-txt", causeText(cause))
	p.emit(m)
	if c.ep != nil {
		delete(c.ep.chans, c)
		p.refresh(c.ep)
	}
}

// setHold emits Hold (with MusicClass) or Unhold for c.
func (p *pbx) setHold(c *channel, on bool) {
	if !c.alive || c.hold == on {
		return
	}
	c.hold = on
	if on {
		m := addChan(NewEvent("Hold", privCall), "", c)
		m.Add("MusicClass", "default")
		p.emit(m)
	} else {
		p.emit(addChan(NewEvent("Unhold", privCall), "", c))
	}
	if c.ep != nil {
		p.refresh(c.ep)
	}
}

func causeText(cause int) string {
	switch cause {
	case 0:
		return "Unknown"
	case 1:
		return "Unallocated (unassigned) number"
	case 16:
		return "Normal Clearing"
	case 17:
		return "User busy"
	case 18:
		return "No user responding"
	case 19:
		return "User alerting, no answer"
	case 20:
		return "Subscriber absent"
	case 21:
		return "Call Rejected"
	case 26:
		return "Answered elsewhere"
	case 34:
		return "Circuit/channel congestion"
	}
	return "Unknown"
}

// devState computes the device state of PJSIP/<e> from its channels and
// contact, like chan_pjsip's devicestate callback.
func (p *pbx) devState(e *endpoint) string {
	if len(e.chans) == 0 {
		if e.benchBusy && e.reachable {
			return "INUSE"
		}
		if e.reachable {
			return "NOT_INUSE"
		}
		return "UNAVAILABLE"
	}
	var ringing, inuse, hold bool
	for c := range e.chans {
		switch {
		case c.hold:
			hold = true
		case c.state == stRinging:
			ringing = true
		case c.state == stDown:
		default:
			inuse = true
		}
	}
	switch {
	case ringing && (inuse || hold):
		return "RINGINUSE"
	case ringing:
		return "RINGING"
	case inuse:
		return "INUSE"
	case hold:
		return "ONHOLD"
	case !e.reachable:
		return "UNAVAILABLE"
	}
	return "NOT_INUSE"
}

// devOrder is ast_devstate_aggregate's priority of device states.
func devOrder(s string) int {
	switch s {
	case "INVALID":
		return 0
	case "UNKNOWN":
		return 1
	case "UNAVAILABLE":
		return 2
	case "NOT_INUSE":
		return 3
	case "ONHOLD":
		return 4
	case "RINGING":
		return 5
	case "INUSE":
		return 6
	case "BUSY":
		return 7
	case "RINGINUSE":
		return 8
	}
	return 0
}

// aggregate combines device states like ast_devstate_aggregate.
func aggregate(states ...string) string {
	agg := "INVALID"
	var ringing, inuse bool
	for _, s := range states {
		switch s {
		case "RINGING":
			ringing = true
		case "INUSE", "ONHOLD", "BUSY":
			inuse = true
		}
		if ringing && inuse {
			agg = "RINGINUSE"
		} else if devOrder(s) > devOrder(agg) {
			agg = s
		}
	}
	return agg
}

// extenState maps a device state to an extension (hint) state number.
func extenState(dev string) int {
	switch dev {
	case "NOT_INUSE", "UNKNOWN":
		return 0
	case "INUSE":
		return 1
	case "BUSY":
		return 2
	case "UNAVAILABLE", "INVALID":
		return 4
	case "RINGING":
		return 8
	case "RINGINUSE":
		return 9
	case "ONHOLD":
		return 16
	}
	return 4
}

func extenStateText(st int) string {
	switch st {
	case 0:
		return "Idle"
	case 1:
		return "InUse"
	case 2:
		return "Busy"
	case 4:
		return "Unavailable"
	case 8:
		return "Ringing"
	case 9:
		return "InUse&Ringing"
	case 16:
		return "Hold"
	case 17:
		return "InUse&Hold"
	case -1:
		return "Removed"
	}
	return "Unknown"
}

// devNumber maps a device state to its AST_DEVICE_* number (QueueMember
// Status).
func devNumber(dev string) int {
	switch dev {
	case "UNKNOWN":
		return 0
	case "NOT_INUSE":
		return 1
	case "INUSE":
		return 2
	case "BUSY":
		return 3
	case "INVALID":
		return 4
	case "UNAVAILABLE":
		return 5
	case "RINGING":
		return 6
	case "RINGINUSE":
		return 7
	case "ONHOLD":
		return 8
	}
	return 0
}

func (p *pbx) hintDevice(e *endpoint) string {
	return aggregate(p.devState(e), p.custom["Custom:DND"+e.id])
}

func (p *pbx) hintStatus(e *endpoint) int { return extenState(p.hintDevice(e)) }

func hintOf(id string) string { return "PJSIP/" + id + "&Custom:DND" + id + ",CustomPresence:" + id }

func (p *pbx) memberStatus(m *member) int {
	e := p.exts[m.ext]
	if e == nil {
		return devNumber("INVALID")
	}
	return devNumber(p.hintDevice(e))
}

// refresh emits the DeviceStateChange, ExtensionStatus and
// QueueMemberStatus events caused by a change of endpoint e.
func (p *pbx) refresh(e *endpoint) {
	dev := "PJSIP/" + e.id
	if st := p.devState(e); p.lastDev[dev] != st {
		p.lastDev[dev] = st
		p.emit(NewEvent("DeviceStateChange", privCall).Add("Device", dev).Add("State", st))
	}
	if !e.isTrunk {
		p.refreshHint(e)
	}
}

func (p *pbx) refreshHint(e *endpoint) {
	if hs := p.hintStatus(e); p.lastHint[e.id] != hs {
		p.lastHint[e.id] = hs
		p.emit(extensionStatus(NewEvent("ExtensionStatus", privCall), e.id, "ext-local", hintOf(e.id), hs))
	}
	for _, q := range p.queueList {
		for _, m := range q.members {
			if m.ext != e.id {
				continue
			}
			if st := p.memberStatus(m); st != m.status {
				m.status = st
				p.emit(p.memberEvent("QueueMemberStatus", q, m))
			}
		}
	}
}

func extensionStatus(m *Message, exten, context, hint string, status int) *Message {
	return m.Add("Exten", exten).Add("Context", context).Add("Hint", hint).
		Add("Status", strconv.Itoa(status)).Add("StatusText", extenStateText(status))
}

// setCustom sets a custom device state (Custom:DND201) and emits
// DeviceStateChange plus the hint changes it causes.
func (p *pbx) setCustom(dev, state string) {
	p.custom[dev] = state
	if p.lastDev[dev] == state {
		return
	}
	p.lastDev[dev] = state
	p.emit(NewEvent("DeviceStateChange", privCall).Add("Device", dev).Add("State", state))
	if len(dev) > len("Custom:DND") && dev[:len("Custom:DND")] == "Custom:DND" {
		id := dev[len("Custom:DND"):]
		if e := p.exts[id]; e != nil {
			p.emit(extensionStatus(NewEvent("ExtensionStatus", privCall), "*76"+id, "ext-dnd-hints", dev, extenState(state)))
			p.refreshHint(e)
		}
	}
}
