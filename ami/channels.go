package ami

import (
	"strconv"
	"strings"

	"github.com/staskobzar/goami2"

	"github.com/ctiws/ctiws/pbx"
)

// maxGone bounds the set of hung-up Uniqueids kept to ignore late events.
const maxGone = 50_000

// channel is one Asterisk channel of the channel table.
type channel struct {
	name     string
	uid, lid string
	uidSeq   int64 // sequence after the dot of the Uniqueid
	startMs  int64 // integer part of the Uniqueid × 1000
	state    int
	cidNum   string
	cidName  string
	connNum  string
	connName string
	context  string
	exten    string
	// dialled is the dialplan extension the channel started in when that
	// is a number: what a phone's own channel called (Newchannel's Exten).
	dialled   string
	bridge    string // BridgeUniqueid the channel is in
	dialPeer  string // the other side of the last DialBegin
	dialer    string // the channel that dialled this one (DialBegin's Channel)
	ending    bool   // its dial attempt failed (DialEnd not ANSWER): it hangs up next
	talked    bool   // has been in a two-party bridge
	viaTrunk  bool   // a conversation of it went through a trunk (kept while it lives)
	ext       string // owning extension
	trunk     string // owning trunk
	local     bool
	fromQueue bool
	inConf    bool
	confRoom  string // room of the conference the channel is in
	parkedIn  string // the parking space the channel waits in (from ParkedCall until it leaves the holding bridge)
	// connPending: the channel entered a bridge alone, its extenConnected
	// waits for the other party (so throughTrunk can be told).
	connPending bool
	// spying is the channel c listens to with ChanSpy (ChanSpyStart until
	// ChanSpyStop): c is in no bridge, yet in a call with that party.
	spying    string
	recording bool // MixMonitor runs on the channel (MixMonitorStart)
	recMuted  bool // … muted (MixMonitorMute State 1)
	born      uint64
	touched   uint64
	convID    string // the id of its last conversation (see convID)
}

// bridge is a bridge and its member channels.
type bridge struct {
	id      string
	holding bool   // parking / holding bridge: not a conversation
	conf    bool   // ConfBridge (softmix) bridge: each member talks to the room
	room    string // the conference room (BridgeName) of a conf bridge
	members []string
}

// snap is the channel snapshot of an event (optionally with a prefix:
// Dest…, Parkee…).
type snap struct {
	channel, uid, lid          string
	state                      string
	cidNum, cidName            string
	connNum, connName          string
	context, exten             string
	hasCID, hasConn, hasCtxExt bool
}

// readSnap reads the channel snapshot headers named prefix+<field> in one
// pass over the message.
func readSnap(m *goami2.Message, prefix string) snap {
	var s snap
	for _, h := range m.Headers() {
		n := h.Name
		if prefix != "" {
			if len(n) <= len(prefix) || n[:len(prefix)] != prefix {
				continue
			}
			n = n[len(prefix):]
		}
		switch n {
		case "Channel":
			s.channel = h.Value
		case "ChannelState":
			s.state = h.Value
		case "CallerIDNum":
			s.cidNum, s.hasCID = h.Value, true
		case "CallerIDName":
			s.cidName = h.Value
		case "ConnectedLineNum":
			s.connNum, s.hasConn = h.Value, true
		case "ConnectedLineName":
			s.connName = h.Value
		case "Context":
			s.context, s.hasCtxExt = h.Value, true
		case "Exten":
			s.exten = h.Value
		case "Uniqueid", "UniqueID", "UniqueId":
			s.uid = h.Value
		case "Linkedid", "LinkedID", "LinkedId":
			s.lid = h.Value
		}
	}
	return s
}

// parseUniqueid splits "<epoch>.<seq>" into start ms and sequence.
func parseUniqueid(uid string) (startMs, seq int64) {
	i := strings.IndexByte(uid, '.')
	if i < 0 {
		n, _ := strconv.ParseInt(uid, 10, 64)
		return n * 1000, 0
	}
	sec, _ := strconv.ParseInt(uid[:i], 10, 64)
	seq, _ = strconv.ParseInt(uid[i+1:], 10, 64)
	return sec * 1000, seq
}

// endpointOf returns the endpoint part of a channel name: the text between
// the first '/' and the last '-' (PJSIP/201-0000000a → 201).
func endpointOf(name string) string {
	i := strings.IndexByte(name, '/')
	if i < 0 {
		return ""
	}
	rest := name[i+1:]
	if j := strings.LastIndexByte(rest, '-'); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// newChannel creates a channel table entry and finds its owner.
func (m *Model) newChannel(name, context string) *channel {
	c := &channel{name: name, born: m.seq, touched: m.seq}
	c.local = strings.HasPrefix(name, "Local/")
	c.fromQueue = strings.Contains(name, "from-queue")
	if !c.local && !strings.Contains(name, "@from") {
		ep := endpointOf(name)
		if _, ok := m.exts[ep]; ok {
			c.ext = ep
		} else if _, ok := m.trunks[ep]; ok {
			c.trunk = ep
		} else if m.trunkByFacts(name, ep, context) {
			c.trunk = ep
		}
	}
	m.chans[name] = c
	if c.ext != "" {
		m.exts[c.ext].chans[name] = c
	} else if c.trunk != "" {
		m.trunks[c.trunk].chans[name] = c
	}
	return c
}

// channelFor returns the channel named by s, creating it unless create is
// false or it already hung up; then it applies the snapshot fields.
func (m *Model) channelFor(s snap, create bool) *channel {
	if s.channel == "" {
		return nil
	}
	c := m.chans[s.channel]
	if c == nil {
		if !create || s.uid == "" {
			return nil
		}
		if _, hung := m.gone[s.uid]; hung {
			return nil
		}
		c = m.newChannel(s.channel, s.context)
		if pbx.ValidNumber(s.exten) {
			c.dialled = keep(s.exten)
		}
	}
	m.applySnap(c, s)
	return c
}

// applySnap updates c from s and marks its owner when something changed.
func (m *Model) applySnap(c *channel, s snap) {
	changed := false
	if s.uid != "" && s.uid != c.uid {
		c.uid = s.uid
		c.startMs, c.uidSeq = parseUniqueid(s.uid)
		changed = true
	}
	if s.lid != "" && s.lid != c.lid {
		c.lid = s.lid
		changed = true
	}
	if s.state != "" {
		if st, err := strconv.Atoi(s.state); err == nil && st != c.state {
			c.state = st
			changed = true
		}
	}
	if s.hasCID && (s.cidNum != c.cidNum || s.cidName != c.cidName) {
		c.cidNum, c.cidName = s.cidNum, s.cidName
		changed = true
	}
	if s.hasConn && (s.connNum != c.connNum || s.connName != c.connName) {
		c.connNum, c.connName = s.connNum, s.connName
		changed = true
	}
	if s.hasCtxExt {
		c.context, c.exten = s.context, s.exten
	}
	if changed {
		c.touched = m.seq
		m.markPair(c)
	}
}

// markPair marks the owners of c and of its partner.
func (m *Model) markPair(c *channel) {
	m.markOwner(c)
	m.markOwner(m.partner(c))
}

// removeChannel deletes c from the table and from its bridge.
func (m *Model) removeChannel(c *channel) {
	m.markPair(c)
	m.leaveBridge(c)
	delete(m.chans, c.name)
	if c.ext != "" {
		if e := m.exts[c.ext]; e != nil {
			delete(e.chans, c.name)
		}
	} else if c.trunk != "" {
		if t := m.trunks[c.trunk]; t != nil {
			delete(t.chans, c.name)
		}
	}
	if c.uid != "" {
		if len(m.gone) >= maxGone { // reconciliation prunes it; this bounds it without
			clear(m.gone)
		}
		m.gone[c.uid] = m.seq
		if _, ok := m.linkedQueue[c.lid]; ok && !m.lidAlive(c.lid) {
			delete(m.linkedQueue, c.lid)
		}
	}
}

func (m *Model) leaveBridge(c *channel) {
	if c.bridge == "" {
		return
	}
	if b := m.bridges[c.bridge]; b != nil {
		for i, n := range b.members {
			if n == c.name {
				b.members = append(b.members[:i], b.members[i+1:]...)
				break
			}
		}
		for _, n := range b.members {
			m.markOwner(m.chans[n])
		}
		if len(b.members) == 0 {
			delete(m.bridges, b.id)
		}
		if b.holding {
			c.parkedIn = "" // out of the parking (picked up, gave up, timed out)
		}
	}
	c.bridge = ""
}

func (m *Model) joinBridge(c *channel, id string, holding bool) {
	if c.bridge == id {
		return
	}
	m.leaveBridge(c)
	b := m.bridges[id]
	if b == nil {
		b = &bridge{id: id}
		m.bridges[id] = b
	}
	b.holding = b.holding || holding
	if !b.holding {
		c.parkedIn = "" // out of the parking, talking again
	}
	b.members = append(b.members, c.name)
	c.bridge = id
	for _, n := range b.members {
		o := m.chans[n]
		if o != nil && len(b.members) == 2 && !b.holding && !b.conf {
			o.talked = true
		}
		m.markOwner(o)
	}
}

// partner is the other channel of c's conversation: the other member of a
// two-party bridge, else the other side of its dial.
func (m *Model) partner(c *channel) *channel {
	if m.parked(c) {
		return nil // a parked party waits for anybody: the parker is gone
	}
	if c.bridge != "" {
		if b := m.bridges[c.bridge]; b != nil && b.conf {
			return nil // a conference member's conversation is with the room
		}
		if b := m.bridges[c.bridge]; b != nil && !b.holding {
			if len(b.members) == 2 {
				other := b.members[0]
				if other == c.name {
					other = b.members[1]
				}
				return m.chans[other]
			}
			if len(b.members) > 2 {
				return nil
			}
		}
	}
	if c.dialPeer != "" {
		p := m.chans[c.dialPeer]
		if p != nil && m.parked(p) {
			return nil // we parked our other party: our call with it is over
		}
		if p != nil && p.bridge != "" && p.bridge != c.bridge {
			// The other side of our dial now talks to someone else (a
			// transfer swapped it into another bridge): no longer ours.
			if b := m.bridges[p.bridge]; b != nil && !b.holding && len(b.members) >= 2 {
				return nil
			}
		}
		return p
	}
	return nil
}

// extOfChannel returns the extension owning channel name ("" if none).
func (m *Model) extOfChannel(name string) string {
	if c := m.chans[name]; c != nil {
		return c.ext
	}
	if strings.HasPrefix(name, "Local/") || strings.Contains(name, "@from") {
		return ""
	}
	ep := endpointOf(name)
	if _, ok := m.exts[ep]; ok {
		return ep
	}
	return ""
}

func (m *Model) onNewchannel(msg *goami2.Message) {
	m.channelFor(readSnap(msg, ""), true)
}

func (m *Model) onChannelUpdate(msg *goami2.Message) {
	m.channelFor(readSnap(msg, ""), true)
}

func (m *Model) onRename(msg *goami2.Message) {
	old, nw := field(msg, "Channel"), field(msg, "Newname")
	c := m.chans[old]
	if c == nil || nw == "" || m.chans[nw] != nil {
		return
	}
	m.markPair(c)
	br := c.bridge
	m.leaveBridge(c)
	m.removeFromOwner(c)
	delete(m.chans, old)
	nc := m.newChannel(nw, c.context)
	keep := *nc
	*nc = *c
	nc.name, nc.ext, nc.trunk, nc.local, nc.fromQueue, nc.bridge = keep.name, keep.ext, keep.trunk, keep.local, keep.fromQueue, ""
	if p := m.chans[nc.dialPeer]; p != nil && p.dialPeer == old {
		p.dialPeer = nw
	}
	if br != "" {
		m.joinBridge(nc, br, false)
	}
	m.markPair(nc)
}

func (m *Model) removeFromOwner(c *channel) {
	if c.ext != "" {
		if e := m.exts[c.ext]; e != nil {
			delete(e.chans, c.name)
		}
	} else if c.trunk != "" {
		if t := m.trunks[c.trunk]; t != nil {
			delete(t.chans, c.name)
		}
	}
}

func (m *Model) onDialBegin(msg *goami2.Message) {
	src := m.channelFor(readSnap(msg, ""), true)
	ds := readSnap(msg, "Dest")
	dst := m.channelFor(ds, true)
	if src != nil && dst != nil {
		src.dialPeer, dst.dialPeer = dst.name, src.name
		dst.dialer, dst.ending = src.name, false
		m.markOwner(src)
		m.markOwner(dst)
	}
	destExt := ""
	if dst != nil {
		destExt = dst.ext
	} else {
		destExt = m.extOfChannel(ds.channel)
	}
	if destExt == "" {
		return
	}
	s := readSnap(msg, "")
	if s.channel == "" {
		// No calling channel: an Originate rings the phone. Asterisk
		// gives the new channel the Originate's CallerID as its connected
		// line, which is who the phone sees calling.
		s.cidNum, s.cidName = ds.connNum, ds.connName
	}
	name := s.cidName
	if name == "<unknown>" {
		name = ""
	}
	_, hasConf := m.confs[s.cidNum]
	m.notify(pbx.EvExtenDialing, pbx.ExtenDialing{
		DialingExten:   destExt,
		CallerIdentity: pbx.CallerIdentity{NumCalled: destExt, CallerNum: s.cidNum, CallerName: name},
		CallerHasConf:  hasConf,
		Channel:        ds.channel,
		DestUniqueID:   ds.uid,
	})
}

func (m *Model) onDialEnd(msg *goami2.Message) {
	src := m.channelFor(readSnap(msg, ""), false)
	dst := m.channelFor(readSnap(msg, "Dest"), false)
	status := field(msg, "DialStatus")
	if strings.EqualFold(status, "ANSWER") || src == nil || dst == nil {
		return
	}
	// A failed attempt ends the pairing (the destination hangs up next).
	dst.ending = true
	m.markOwner(dst)
	if src.dialPeer == dst.name {
		src.dialPeer = ""
		m.markOwner(src)
	}
	if dst.dialPeer == src.name {
		dst.dialPeer = ""
		m.markOwner(dst)
	}
}

func (m *Model) onBridgeEnter(msg *goami2.Message) {
	s := readSnap(msg, "")
	c := m.channelFor(s, true)
	if c == nil {
		return
	}
	id := field(msg, "BridgeUniqueid")
	if id == "" {
		return
	}
	holding := strings.EqualFold(field(msg, "BridgeType"), "parking") ||
		strings.Contains(field(msg, "BridgeTechnology"), "holding")
	// app_confbridge creates its bridges with creator "ConfBridge" and the
	// conference name; they mix audio (softmix).
	conf := strings.EqualFold(field(msg, "BridgeCreator"), "ConfBridge") ||
		strings.EqualFold(field(msg, "BridgeTechnology"), "softmix")
	m.joinBridge(c, id, holding)
	if conf {
		if b := m.bridges[id]; b != nil {
			b.conf, b.room = true, field(msg, "BridgeName")
		}
		if !c.inConf {
			c.inConf = true
			if c.confRoom == "" {
				c.confRoom = field(msg, "BridgeName")
			}
			m.markOwner(c)
		}
	}
	if !holding && !conf {
		if b := m.bridges[id]; b != nil {
			for _, n := range b.members {
				if o := m.chans[n]; o != nil && o != c && o.connPending {
					o.connPending = false
					m.notifyConnected(o)
				}
			}
		}
	}
	if holding || c.ext == "" {
		return
	}
	if conf {
		// Joining a conference is no call with a person: the other side
		// is the room.
		m.notify(pbx.EvExtenConnected, pbx.ExtenConnected{
			Num1: c.ext, Num2: c.confRoom, Direction: "out", UniqueID: c.uid, LinkedID: c.lid,
		})
		return
	}
	if m.partner(c) == nil {
		c.connPending = true // first in the bridge: told when the other party enters
		return
	}
	m.notifyConnected(c)
}

// notifyConnected emits extenConnected for extension channel c, whose
// partner is known.
func (m *Model) notifyConnected(c *channel) {
	dir := "in"
	if c.uid == c.lid {
		dir = "out"
	}
	m.notify(pbx.EvExtenConnected, pbx.ExtenConnected{
		Num1: c.ext, Num2: c.connNum, Direction: dir, UniqueID: c.uid, LinkedID: c.lid,
		ThroughTrunk: m.throughTrunk(c, m.partner(c)),
	})
}

func (m *Model) onBridgeLeave(msg *goami2.Message) {
	c := m.channelFor(readSnap(msg, ""), false)
	if c == nil {
		return
	}
	if id := field(msg, "BridgeUniqueid"); id == "" || id == c.bridge {
		m.markPair(c)
		m.leaveBridge(c)
	}
}

func (m *Model) onHangup(msg *goami2.Message) {
	s := readSnap(msg, "")
	c := m.chans[s.channel]
	if c == nil {
		if s.uid != "" {
			m.gone[s.uid] = m.seq
		}
		return
	}
	m.applySnap(c, s)
	m.removeChannel(c)
	if c.ext != "" {
		m.notify(pbx.EvExtenHangup, pbx.ExtenHangup{
			Cause: causeName(field(msg, "Cause")), CallerNum: c.cidNum, ChannelExten: c.ext, CalledNum: calledNum(c, s.exten),
		})
	}
}

// calledNum is extenHangup's calledNum (docs/ami-model.md, section 4.3):
// the connected line's number; when Asterisk knows none ("<unknown>": the
// call never reached anybody, e.g. an unregistered extension), the number
// the channel dialled: its first dialplan extension, else the Hangup's
// Exten when that is a number.
func calledNum(c *channel, hangupExten string) string {
	if pbx.ValidNumber(c.connNum) || c.dialer != "" {
		return c.connNum
	}
	switch {
	case c.dialled != "":
		return c.dialled
	case pbx.ValidNumber(hangupExten):
		return hangupExten
	}
	return c.connNum
}

// onChanSpy applies ChanSpyStart and ChanSpyStop: the spying channel
// (Spyer…) talks to the spied one (Spyee…) although no bridge joins them.
func (m *Model) onChanSpy(msg *goami2.Message, start bool) {
	c := m.channelFor(readSnap(msg, "Spyer"), false)
	if c == nil {
		return
	}
	spied := ""
	if start {
		spied = field(msg, "SpyeeChannel")
	}
	if c.spying != spied {
		c.spying = keep(spied)
		c.touched = m.seq
		m.markOwner(c)
	}
}

// onMixMonitor applies MixMonitorStart (on), MixMonitorStop (off) and
// MixMonitorMute (on, muted = State 1): the recording state of the channel,
// whoever started it (the CTI, a feature code, an automatic policy).
// Asterisk announces these since 16.17 / 18.3.
func (m *Model) onMixMonitor(msg *goami2.Message, on, muted bool) {
	c := m.channelFor(readSnap(msg, ""), false)
	if c == nil {
		return
	}
	if c.recording == on && c.recMuted == (on && muted) {
		return
	}
	c.recording, c.recMuted = on, on && muted
	c.touched = m.seq
	m.markPair(c)
}

// trunkContexts are the dialplan contexts FreePBX/NethVoice runs calls
// from outside lines in (inbound routes).
var trunkContexts = []string{"from-pstn", "from-trunk", "from-did"}

// trunkByFacts creates, from what the PBX tells, the trunk of a channel
// whose endpoint is neither a user's extension nor a known trunk: a SIP or
// IAX endpoint whose call starts in an inbound-route context. The objects
// file still names trunks and sets their limits; this only keeps a call
// from an undeclared line from showing as an internal one.
func (m *Model) trunkByFacts(name, ep, context string) bool {
	tech, _, _ := strings.Cut(name, "/")
	switch strings.ToUpper(tech) {
	case "PJSIP", "SIP", "IAX2":
	default:
		return false
	}
	if ep == "" || !pbx.ValidID(ep) {
		return false
	}
	for _, p := range trunkContexts {
		if strings.HasPrefix(context, p) {
			t := m.newTrunk(ep, TrunkConfig{Name: ep, Tech: strings.ToLower(tech)})
			t.obj.Status = "busy"
			m.markTrunk(ep)
			return true
		}
	}
	return false
}

// farEnd follows Local channel pairs (…;1 ⇄ …;2, e.g. a queue member's
// leg) from c to the channel at the other end of the call.
func (m *Model) farEnd(c *channel) *channel {
	for i := 0; c != nil && c.local && i < 4; i++ {
		half := c.name
		switch {
		case strings.HasSuffix(half, ";1"):
			half = strings.TrimSuffix(half, ";1") + ";2"
		case strings.HasSuffix(half, ";2"):
			half = strings.TrimSuffix(half, ";2") + ";1"
		default:
			return c
		}
		oc := m.chans[half]
		if oc == nil {
			return c
		}
		next := m.partner(oc)
		if next == nil {
			return c
		}
		c = next
	}
	return c
}

// throughTrunk tells whether a conversation of own with peer goes through
// a trunk: own is a trunk channel, or the far end of peer (across Local
// pairs) is. extenConnected and the conversation's field use this one
// rule, so they always agree.
func (m *Model) throughTrunk(own, peer *channel) bool {
	if own.trunk != "" || own.viaTrunk {
		return true
	}
	if f := m.farEnd(peer); f != nil && f.trunk != "" {
		own.viaTrunk = true // the far end may hang up first: the call stays an outside one
		return true
	}
	return false
}

// lidAlive reports whether a channel of call lid is still up.
func (m *Model) lidAlive(lid string) bool {
	for _, c := range m.chans {
		if c.lid == lid {
			return true
		}
	}
	return false
}
